//! Request limits, each answered in the API's error shape: body size (413),
//! JSON nesting depth and syntax (400), and the per-caller rate limit (429
//! with Retry-After).

use breachgate::Config;
use serde_json::Value;

use crate::support;
use crate::support::{fixture, repo_path, test_config, Gateway};

async fn post(
    gateway: &Gateway,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = gateway
        .http
        .post(gateway.url(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.expect("a JSON error body"),
    )
}

fn config(dir: &std::path::Path, change: impl FnOnce(&mut Config)) -> Config {
    let mut config = test_config(dir, &repo_path("contracts"));
    change(&mut config);
    config
}

/// The report route and the acknowledgement route, each with a token that may call it.
async fn body_routes(gateway: &Gateway) -> Vec<(String, String)> {
    let (status, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{answer}");
    let notice_id = support::client_outcome(&answer, "formavenir")["notice_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = gateway.client_token("formavenir").await;
    vec![
        ("/v1/reports".to_owned(), gateway.staff.clone()),
        (format!("/v1/client/notices/{notice_id}/ack"), client),
    ]
}

#[tokio::test]
async fn every_body_is_limited_in_size_depth_and_syntax_with_the_error_shape() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start_with(config(dir.path(), |c| {
        c.server.max_body_bytes = 4096;
        c.server.max_json_depth = 8;
    }))
    .await;
    let incidents_before = gateway.incident_count().await;
    for (path, token) in body_routes(&gateway).await {
        let token = Some(token.as_str());
        let (status, _, body) = post(&gateway, &path, token, vec![b' '; 5000]).await;
        assert_eq!(status, 413, "{path}: {body}");
        assert_eq!(body["error"]["code"], "body_too_large", "{path}");

        // Nesting beyond the limit, and far beyond serde_json's own: judged
        // without recursion, so no stack overflow and the same answer.
        for depth in [9, 2000] {
            let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
            let (status, _, body) = post(&gateway, &path, token, deep).await;
            assert_eq!(status, 400, "{path} at {depth}: {body}");
            assert_eq!(body["error"]["code"], "too_deep", "{path}");
            assert_eq!(body["error"]["details"][0]["path"], "", "{path}");
        }
        // Brackets inside strings do not count.
        let quoted = format!("{{\"note\": \"{}\"}}", "[".repeat(100)).into_bytes();
        let (status, _, body) = post(&gateway, &path, token, quoted).await;
        assert_ne!(body["error"]["code"], "too_deep", "{path}: {status} {body}");

        let (status, _, body) =
            post(&gateway, &path, token, b"{\"a\": [1,\n 2,, 3]}".to_vec()).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "malformed_json", "{path}");
        let position = body["error"]["details"][0]["message"].as_str().unwrap();
        assert!(position.contains("line 2 column 4"), "{path}: {position}");
    }
    // None of it was stored.
    assert_eq!(gateway.incident_count().await, incidents_before + 1);
    gateway.stop().await;
}

#[tokio::test]
async fn each_token_and_each_address_without_one_has_its_own_rate_limit() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start_with(config(dir.path(), |c| {
        c.server.rate_limit_per_minute = 6;
        c.server.rate_limit_burst = 3;
    }))
    .await;
    let get = |token: Option<String>| {
        let mut request = gateway.http.get(gateway.url("/v1/incidents"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for _ in 0..3 {
        assert_eq!(
            get(Some(gateway.staff.clone())).await.unwrap().status(),
            200
        );
    }
    let limited = get(Some(gateway.staff.clone())).await.unwrap();
    assert_eq!(limited.status(), 429);
    // One request every 10 s: the next is due within 10 s.
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");

    // Another token is not affected.
    let (status, _) = gateway.get_json(&gateway.admin, "/v1/incidents").await;
    assert_eq!(status, 403);

    // Without a valid token, the address is limited: 401 until the bucket is
    // empty, then 429, whatever token is made up.
    for _ in 0..3 {
        assert_eq!(get(None).await.unwrap().status(), 401);
    }
    let limited = get(Some("bg_staff_made-up".into())).await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    // Public routes are not limited: probes must keep working.
    for _ in 0..5 {
        let health = gateway
            .http
            .get(gateway.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    }
    gateway.stop().await;
}
