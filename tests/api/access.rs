//! Access control over every route the router has: 401 for a missing or
//! unknown token, 403 for a token of the wrong role, and through for the
//! right one. A route missing from the table below fails the test.

use breachgate::domain::Role;
use breachgate::store::NewToken;

use crate::support::{repo_path, test_config, Gateway};

/// Who may call each route; `None` is public.
pub const ACCESS: &[(&str, &str, Option<Role>)] = &[
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/openapi.json", None),
    ("GET", "/.well-known/jwks.json", None),
    ("GET", "/metrics", None),
    ("POST", "/v1/reports", Some(Role::Staff)),
    ("GET", "/v1/incidents", Some(Role::Staff)),
    ("GET", "/v1/incidents/{id}", Some(Role::Staff)),
    ("GET", "/v1/incidents/{id}/clients", Some(Role::Staff)),
    ("POST", "/v1/incidents/{id}/updates", Some(Role::Staff)),
    ("POST", "/v1/incidents/{id}/close", Some(Role::Staff)),
    ("POST", "/v1/incidents/{id}/per-client", Some(Role::Staff)),
    ("POST", "/v1/incidents/{id}/retract", Some(Role::Staff)),
    (
        "GET",
        "/v1/incidents/{id}/notices/{notice_id}",
        Some(Role::Staff),
    ),
    ("GET", "/v1/register", Some(Role::Staff)),
    ("GET", "/v1/client/notices", Some(Role::Client)),
    ("GET", "/v1/client/notices/{id}", Some(Role::Client)),
    ("POST", "/v1/client/notices/{id}/ack", Some(Role::Client)),
    ("GET", "/v1/deliveries/{id}", Some(Role::Staff)),
    ("POST", "/v1/deliveries/{id}/replay", Some(Role::Staff)),
    ("GET", "/v1/alerts", Some(Role::Staff)),
    ("GET", "/v1/admin/clients", Some(Role::Admin)),
    ("POST", "/v1/admin/clients", Some(Role::Admin)),
    ("GET", "/v1/admin/clients/{id}", Some(Role::Admin)),
    ("PUT", "/v1/admin/clients/{id}", Some(Role::Admin)),
    ("DELETE", "/v1/admin/clients/{id}", Some(Role::Admin)),
    (
        "GET",
        "/v1/admin/clients/{id}/agreement.toml",
        Some(Role::Admin),
    ),
    ("GET", "/v1/admin/clients/{id}/webhooks", Some(Role::Admin)),
    ("POST", "/v1/admin/clients/{id}/webhooks", Some(Role::Admin)),
    (
        "PATCH",
        "/v1/admin/clients/{id}/webhooks/{webhook_id}",
        Some(Role::Admin),
    ),
    (
        "DELETE",
        "/v1/admin/clients/{id}/webhooks/{webhook_id}",
        Some(Role::Admin),
    ),
    (
        "POST",
        "/v1/admin/clients/{id}/webhooks/{webhook_id}/rotate-secret",
        Some(Role::Admin),
    ),
    (
        "POST",
        "/v1/admin/clients/{id}/webhooks/{webhook_id}/test",
        Some(Role::Admin),
    ),
    (
        "GET",
        "/v1/admin/clients/{id}/webhooks/{webhook_id}/tests/{test_id}",
        Some(Role::Admin),
    ),
    ("PUT", "/v1/admin/clients/{id}/email", Some(Role::Admin)),
    ("DELETE", "/v1/admin/clients/{id}/email", Some(Role::Admin)),
    ("GET", "/v1/admin/tokens", Some(Role::Admin)),
    ("POST", "/v1/admin/tokens", Some(Role::Admin)),
    ("DELETE", "/v1/admin/tokens/{id}", Some(Role::Admin)),
];

async fn status(gateway: &Gateway, method: &str, path: &str, token: Option<&str>) -> u16 {
    // Path parameters get a value no record has: access is decided first.
    let path = path
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "x"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let mut request = gateway
        .http
        .request(method.parse().unwrap(), gateway.url(&path))
        .header("content-type", "application/json")
        .body("{}");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_route_answers_401_without_a_valid_token_and_403_for_the_wrong_role() {
    let dir = crate::support::test_dir();
    let mut config = test_config(dir.path(), &repo_path("contracts"));
    // Every unauthenticated request here comes from one address; the rate
    // limit has its own test.
    config.server.rate_limit_burst = 10_000;
    let gateway = Gateway::start_with(config).await;
    let client = gateway.client_token("formavenir").await;
    let tokens = [
        (Role::Staff, gateway.staff.clone()),
        (Role::Admin, gateway.admin.clone()),
        (Role::Client, client.clone()),
    ];
    // Well-formed but unknown: a real token's id with another secret, a
    // made-up id, and the id-less form.
    let (prefix, _) = gateway.staff.split_once('.').unwrap();
    let unknown = [
        format!("{prefix}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        format!("bg_staff_{}.secret", ulid::Ulid::new()),
        "bg_staff_nope".to_owned(),
    ];

    let routes = breachgate::http::routes();
    for route in &routes {
        let method = route.method.as_str();
        let (_, _, needs) = ACCESS
            .iter()
            .find(|(m, p, _)| *m == method && *p == route.path)
            .unwrap_or_else(|| panic!("{method} {} is not in ACCESS", route.path));
        let Some(needs) = needs else {
            assert_eq!(status(&gateway, method, route.path, None).await, 200);
            continue;
        };
        let at = format!("{method} {}", route.path);
        assert_eq!(
            status(&gateway, method, route.path, None).await,
            401,
            "{at}"
        );
        for token in &unknown {
            assert_eq!(
                status(&gateway, method, route.path, Some(token)).await,
                401,
                "{at} with {token}"
            );
        }
        for (role, token) in &tokens {
            let answer = status(&gateway, method, route.path, Some(token)).await;
            if role == needs {
                assert!(![401, 403].contains(&answer), "{at} as {role:?}: {answer}");
            } else {
                assert_eq!(answer, 403, "{at} as {role:?}");
            }
        }
    }
    assert_eq!(
        routes.len(),
        ACCESS.len(),
        "ACCESS names routes that do not exist"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_token_issued_before_ids_were_embedded_still_works() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let legacy = "bg_staff_dGhpcyBpcyBhbiBvbGQgc3R5bGUgdG9rZW4gc2VjcmV0IQ";
    gateway
        .app
        .services
        .store
        .create_token(
            &NewToken {
                id: "tok_legacy".into(),
                name: "old staff token".into(),
                role: Role::Staff,
                client_id: None,
                hash: breachgate::service::tokens::hash(legacy),
                created_at: chrono::Utc::now(),
                expires_at: None,
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        status(&gateway, "GET", "/v1/incidents", Some(legacy)).await,
        200
    );
    let altered = legacy.replace("dGhp", "dGhq");
    assert_eq!(
        status(&gateway, "GET", "/v1/incidents", Some(&altered)).await,
        401
    );
    gateway.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_the_error_shape() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let response = gateway
        .http
        .get(gateway.url("/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    let response = gateway
        .http
        .delete(gateway.url("/v1/incidents"))
        .bearer_auth(&gateway.staff)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert!(
        response.headers()["allow"]
            .to_str()
            .unwrap()
            .contains("GET"),
        "{:?}",
        response.headers()
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    gateway.stop().await;
}
