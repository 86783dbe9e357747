//! The client API: each client sees, fetches and acknowledges only the
//! notices sent to it, and cannot tell another client's notice from none.

use breachgate::domain::ClientId;
use breachgate::domain::Role;
use serde_json::{json, Value};

use crate::support::{client_outcome, fixture, Gateway};

const FORMAVENIR: &str = "formavenir";
const VLINDER: &str = "kinderopvang-de-vlinder";
/// Its agreement's schema holds this report's notice.
const HELD: &str = "consorzio-formazione-emilia";

/// A gateway with the LMS report filed, and a client token per client.
struct Filed {
    gateway: Gateway,
    answer: Value,
    _dir: crate::support::TestDir,
}

impl Filed {
    async fn new() -> Self {
        let dir = crate::support::test_dir();
        let gateway = Gateway::start(dir.path()).await;
        let (status, answer) = gateway
            .post_report(&gateway.staff, &fixture("report-lms.json"))
            .await;
        assert_eq!(status, 201, "{answer}");
        Self {
            gateway,
            answer,
            _dir: dir,
        }
    }

    async fn token(&self, client_id: &str) -> String {
        breachgate::service::tokens::issue(
            self.gateway.app.services.store.as_ref(),
            Role::Client,
            &format!("{client_id} incident desk"),
            Some(ClientId::parse(client_id).unwrap()),
        )
        .await
        .unwrap()
    }

    fn notice_id(&self, client_id: &str) -> String {
        client_outcome(&self.answer, client_id)["notice_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn get(&self, token: Option<&str>, path: &str) -> reqwest::Response {
        let request = self.gateway.http.get(self.gateway.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
        .send()
        .await
        .unwrap()
    }

    async fn ack(
        &self,
        token: Option<&str>,
        notice_id: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.gateway.http.post(
            self.gateway
                .url(&format!("/v1/client/notices/{notice_id}/ack")),
        );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn list(&self, token: &str) -> Vec<Value> {
        let (status, body) = self.gateway.get_json(token, "/v1/client/notices").await;
        assert_eq!(status, 200, "{body}");
        body["notices"].as_array().unwrap().clone()
    }
}

/// A well-formed notice id that names no notice.
fn unknown_notice_id() -> String {
    breachgate::domain::NoticeId::generate().as_str().to_owned()
}

#[tokio::test]
async fn each_client_lists_and_fetches_only_its_own_signed_notice() {
    let filed = Filed::new().await;
    for client_id in [FORMAVENIR, VLINDER] {
        let token = filed.token(client_id).await;
        let notice_id = filed.notice_id(client_id);

        let notices = filed.list(&token).await;
        assert_eq!(notices.len(), 1, "{client_id}: {notices:?}");
        let listed = &notices[0];
        assert_eq!(listed["notice_id"], notice_id.as_str());
        assert_eq!(listed["incident_id"], filed.answer["incident_id"]);
        assert_eq!(listed["reference"], filed.answer["reference"]);
        assert_eq!(listed["type"], "breach.notice.initial");
        assert_eq!(listed["sequence"], 1);
        assert_eq!(listed["status"], "queued");
        assert!(listed["created_at"].is_string());
        assert!(listed["notify_by"].is_string());
        assert_eq!(listed["acknowledged_at"], Value::Null);

        let response = filed
            .get(Some(&token), &format!("/v1/client/notices/{notice_id}"))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/json"
        );
        let jws = response.headers()["breachgate-notice-jws"]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = response.bytes().await.unwrap().to_vec();
        breachgate::signing::verify_detached(
            &filed.gateway.app.services.signer.jwks(),
            &bytes,
            &jws,
        )
        .expect("the notice's JWS verifies");
        // The very bytes staff see and the client was sent.
        let (staff_bytes, staff_jws) = filed
            .gateway
            .notice_bytes(filed.answer["incident_id"].as_str().unwrap(), &notice_id)
            .await;
        assert_eq!(bytes, staff_bytes);
        assert_eq!(Some(jws), staff_jws);
        let notice: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(notice["data"]["controller"]["client_id"], client_id);
        assert_eq!(notice["type"], listed["type"]);
        assert_eq!(notice["data"]["reference"], listed["reference"]);
    }
    filed.gateway.stop().await;
}

#[tokio::test]
async fn another_clients_held_and_unknown_notices_all_answer_the_same_404() {
    let filed = Filed::new().await;
    let formavenir = filed.token(FORMAVENIR).await;
    let held_client = filed.token(HELD).await;
    let held_notice = filed.notice_id(HELD);
    assert_eq!(client_outcome(&filed.answer, HELD)["status"], "held");

    let unknown = unknown_notice_id();
    let not_found = filed
        .get(Some(&formavenir), &format!("/v1/client/notices/{unknown}"))
        .await;
    assert_eq!(not_found.status(), 404);
    let not_found = not_found.bytes().await.unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&not_found).unwrap()["error"]["code"],
        "not_found"
    );

    let cases = [
        (&formavenir, filed.notice_id(VLINDER)),
        (&formavenir, held_notice.clone()),
        (&formavenir, "ntc_not-a-notice".to_owned()),
        (&held_client, held_notice.clone()),
        (&held_client, filed.notice_id(FORMAVENIR)),
    ];
    for (token, notice_id) in cases {
        let response = filed
            .get(Some(token), &format!("/v1/client/notices/{notice_id}"))
            .await;
        assert_eq!(response.status(), 404, "{notice_id}");
        assert!(response.headers().get("breachgate-notice-jws").is_none());
        assert_eq!(response.bytes().await.unwrap(), not_found, "{notice_id}");

        let (status, body) = filed.ack(Some(token), &notice_id, None).await;
        assert_eq!(status, 404, "{notice_id}");
        assert_eq!(body, serde_json::from_slice::<Value>(&not_found).unwrap());
    }
    let (status, body) = filed.ack(Some(&formavenir), &unknown, None).await;
    assert_eq!(
        (status, body),
        (404, serde_json::from_slice(&not_found).unwrap())
    );

    // The held notice was never sent: its client has nothing to see.
    assert_eq!(filed.list(&held_client).await, Vec::<Value>::new());
    // Nor did the refused acknowledgements leave a trace for the owner.
    let vlinder = filed.token(VLINDER).await;
    assert_eq!(
        filed.list(&vlinder).await[0]["acknowledged_at"],
        Value::Null
    );
    filed.gateway.stop().await;
}

#[tokio::test]
async fn an_acknowledgement_is_recorded_once_and_repeating_it_answers_the_first() {
    let filed = Filed::new().await;
    let token = filed.token(FORMAVENIR).await;
    let notice_id = filed.notice_id(FORMAVENIR);

    let (status, first) = filed
        .ack(
            Some(&token),
            &notice_id,
            Some(&json!({"note": "Forwarded to our DPO"})),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["notice_id"], notice_id.as_str());
    assert_eq!(first["acknowledged_by"], "formavenir incident desk");
    let acknowledged_at = first["acknowledged_at"].as_str().unwrap().to_owned();

    let (status, again) = filed.ack(Some(&token), &notice_id, None).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first);
    // Even from another token of the same client, the first stays on record.
    let other_token = filed.token(FORMAVENIR).await;
    let (status, again) = filed
        .ack(Some(&other_token), &notice_id, Some(&json!({})))
        .await;
    assert_eq!((status, &again), (200, &first));

    assert_eq!(
        filed.list(&token).await[0]["acknowledged_at"],
        acknowledged_at.as_str()
    );
    let vlinder = filed.token(VLINDER).await;
    assert_eq!(
        filed.list(&vlinder).await[0]["acknowledged_at"],
        Value::Null
    );
    filed.gateway.stop().await;
}

#[tokio::test]
async fn an_acknowledgement_body_must_be_a_short_note() {
    let filed = Filed::new().await;
    let token = filed.token(VLINDER).await;
    let notice_id = filed.notice_id(VLINDER);

    let too_long = "x".repeat(1_001);
    let (status, body) = filed
        .ack(Some(&token), &notice_id, Some(&json!({ "note": too_long })))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["path"], "/note");

    let response = filed
        .gateway
        .http
        .post(
            filed
                .gateway
                .url(&format!("/v1/client/notices/{notice_id}/ack")),
        )
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"note\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_json");

    // Neither was recorded; a note of exactly the limit is.
    assert_eq!(filed.list(&token).await[0]["acknowledged_at"], Value::Null);
    let (status, body) = filed
        .ack(
            Some(&token),
            &notice_id,
            Some(&json!({ "note": "x".repeat(1_000) })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    filed.gateway.stop().await;
}

#[tokio::test]
async fn staff_and_admin_tokens_are_forbidden_and_no_token_is_unauthorized() {
    let filed = Filed::new().await;
    let notice_id = filed.notice_id(FORMAVENIR);
    let paths = [
        "/v1/client/notices".to_owned(),
        format!("/v1/client/notices/{notice_id}"),
    ];
    for path in &paths {
        for token in [&filed.gateway.staff, &filed.gateway.admin] {
            assert_eq!(filed.get(Some(token), path).await.status(), 403, "{path}");
        }
        assert_eq!(filed.get(None, path).await.status(), 401, "{path}");
    }
    for token in [&filed.gateway.staff, &filed.gateway.admin] {
        let (status, body) = filed.ack(Some(token), &notice_id, None).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let (status, body) = filed.ack(None, &notice_id, None).await;
    assert_eq!(status, 401, "{body}");

    // None of them acknowledged anything on the client's behalf.
    let token = filed.token(FORMAVENIR).await;
    assert_eq!(filed.list(&token).await[0]["acknowledged_at"], Value::Null);
    filed.gateway.stop().await;
}
