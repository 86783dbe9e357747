//! The admin API: a client created through it is reached by the next
//! report, its webhook secret is rotated with an overlap, its agreement is
//! exported and applied from the file unchanged, it is checked exactly as
//! `contracts check` checks a file, and no secret ever reaches a log line
//! or any answer but the one that created it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use breachgate::clock::ManualClock;
use breachgate::worker::Worker;
use chrono::{Duration, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::receiver::{Received, Receiver};
use crate::support::{
    breachgate, client_outcome, contracts_for, fixture, repo_path, test_config, Gateway,
};

pub(crate) const CLIENT: &str = "acme-academy";
const HOOK_PATH: &str = "acme-academy/hook";

/// A client agreement as the API takes it: the shape of its TOML file.
pub(crate) fn acme(receiver_base: &str) -> Value {
    json!({
        "id": CLIENT,
        "name": "Acme Academy",
        "country": "NL",
        "language": "en",
        "time_zone": "Europe/Amsterdam",
        "agreement": {"id": "DPA-2026-001", "notify_within_hours": 24},
        "contacts": [{"role": "dpo", "name": "Ada Lovelace", "email": "dpo@acme.example"}],
        "systems": [{
            "id": "lms",
            "data_subjects": ["students"],
            "data_categories": ["identification", "contact"],
            "subjects": 120,
            "records": 2400,
            "children": false,
            "vulnerable": false,
            "subprocessors": ["polderstack"]
        }],
        "delivery": {"webhooks": [{
            "id": "hook",
            "url": format!("{receiver_base}/{HOOK_PATH}"),
            "secret": "stored",
            "signatures": ["v1"],
            "local_testing": true
        }]}
    })
}

/// A client agreement like [`acme`]'s for client `id`, its endpoint at
/// `receiver_base`'s path `id`.
pub(crate) fn school(id: &str, receiver_base: &str) -> Value {
    let mut client = acme(receiver_base);
    client["id"] = id.into();
    client["name"] = format!("School {id}").into();
    client["agreement"]["id"] = format!("DPA-{id}").into();
    client["delivery"]["webhooks"][0]["url"] = format!("{receiver_base}/{id}").into();
    client
}

/// Creates a client for each of `ids` through the admin API, all at once,
/// spread over `gateways` in turn; each is answered 201.
pub(crate) async fn create_at_once(gateways: &[&Gateway], ids: &[String], receiver_base: &str) {
    let mut creating = tokio::task::JoinSet::new();
    for (id, gateway) in ids.iter().zip(gateways.iter().cycle()) {
        let request = gateway
            .http
            .post(gateway.url("/v1/admin/clients"))
            .bearer_auth(&gateway.admin)
            .json(&school(id, receiver_base));
        creating.spawn(async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        });
    }
    while let Some(created) = creating.join_next().await {
        let (status, answer) = created.unwrap();
        assert_eq!(status, 201, "{answer}");
    }
}

/// The ids of the clients `gateway`'s admin API lists.
pub(crate) async fn listed_clients(gateway: &Gateway) -> Vec<String> {
    let (status, listing) = call(gateway, reqwest::Method::GET, "/v1/admin/clients", None).await;
    assert_eq!(status, 200, "{listing}");
    listing["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `method path` as admin, with `body` as JSON; the status and the JSON answer
/// (null when there is none).
pub(crate) async fn call(
    gateway: &Gateway,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = gateway
        .http
        .request(method, gateway.url(path))
        .bearer_auth(&gateway.admin);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body)
}

/// The `v1` signatures of a webhook request.
pub(crate) fn v1_signatures(request: &Received) -> Vec<String> {
    request
        .header("webhook-signature")
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .map(str::to_owned)
        .collect()
}

/// The Standard Webhooks `v1` signature of `request` under `secret`,
/// computed here from the spec, not by the gateway's code.
pub(crate) fn expected_v1(secret: &str, request: &Received) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(
        format!(
            "{}.{}.",
            request.header("webhook-id"),
            request.header("webhook-timestamp")
        )
        .as_bytes(),
    );
    mac.update(&request.body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Files the LMS report and answers the outcome for the API-made client.
async fn report(gateway: &Gateway) -> Value {
    let (status, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{answer}");
    client_outcome(&answer, CLIENT).clone()
}

/// Runs the worker until the receiver holds `count` requests for the client.
async fn deliver(worker: &Arc<Worker>, receiver: &Receiver, count: usize) -> Received {
    worker.run_once().await.unwrap();
    let requests = receiver.requests(HOOK_PATH);
    assert_eq!(requests.len(), count);
    requests.last().unwrap().clone()
}

#[tokio::test]
async fn a_client_created_through_the_api_is_notified_and_its_secret_rotates_with_an_overlap() {
    let dir = crate::support::test_dir();
    let receiver = Receiver::start().await;
    let mut config = test_config(
        &dir.path().join("data"),
        &contracts_for(dir.path(), &receiver.base),
    );
    config.delivery.allow_private = vec!["127.0.0.1/32".parse().unwrap()];
    let gateway = Gateway::start_with(config).await;

    let (status, created) = call(
        &gateway,
        reqwest::Method::POST,
        "/v1/admin/clients",
        Some(&acme(&receiver.base)),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let first = created["secrets"]["hook"].as_str().unwrap().to_owned();
    assert!(first.starts_with("whsec_"));
    assert_eq!(
        created["client"]["delivery"]["webhooks"][0]["secret"],
        "stored"
    );

    // The next report reaches the new client, signed with its secret.
    let outcome = report(&gateway).await;
    assert_eq!(outcome["status"], "queued", "{outcome}");
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let worker = gateway.app.worker(clock.clone()).unwrap();
    let delivered = deliver(&worker, &receiver, 1).await;
    assert_eq!(v1_signatures(&delivered), [expected_v1(&first, &delivered)]);
    let notice: Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(notice["data"]["controller"]["client_id"], CLIENT);

    let (status, rotated) = call(
        &gateway,
        reqwest::Method::POST,
        "/v1/admin/clients/acme-academy/webhooks/hook/rotate-secret",
        Some(&json!({"overlap_hours": 24})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(rotated["version"], 2);

    // Within the overlap both secrets sign, the old one first.
    report(&gateway).await;
    clock.set(Utc::now());
    let during = deliver(&worker, &receiver, 2).await;
    assert_eq!(
        v1_signatures(&during),
        [expected_v1(&first, &during), expected_v1(&second, &during)]
    );

    // After it only the new one does.
    report(&gateway).await;
    clock.set(Utc::now() + Duration::hours(25));
    let after = deliver(&worker, &receiver, 3).await;
    assert_eq!(v1_signatures(&after), [expected_v1(&second, &after)]);
    assert_ne!(v1_signatures(&after)[0], expected_v1(&first, &after));

    // A disabled endpoint's notices wait, and go once it is enabled again.
    let (status, patched) = call(
        &gateway,
        reqwest::Method::PATCH,
        "/v1/admin/clients/acme-academy/webhooks/hook",
        Some(&json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["webhook"]["enabled"], false);
    report(&gateway).await;
    worker.run_once().await.unwrap();
    assert_eq!(receiver.requests(HOOK_PATH).len(), 3);
    let (status, patched) = call(
        &gateway,
        reqwest::Method::PATCH,
        "/v1/admin/clients/acme-academy/webhooks/hook",
        Some(&json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["webhook"]["enabled"], true);
    deliver(&worker, &receiver, 4).await;

    // A test delivery is queued, sent by the worker, and its result kept.
    let (status, queued) = call(
        &gateway,
        reqwest::Method::POST,
        "/v1/admin/clients/acme-academy/webhooks/hook/test",
        None,
    )
    .await;
    assert_eq!(status, 202, "{queued}");
    let result_path = format!(
        "/v1/admin/clients/acme-academy/webhooks/hook/tests/{}",
        queued["test_id"].as_str().unwrap()
    );
    let (status, pending) = call(&gateway, reqwest::Method::GET, &result_path, None).await;
    assert_eq!((status, &pending["status"]), (200, &json!("pending")));
    let test_message = deliver(&worker, &receiver, 5).await;
    assert_eq!(test_message.header("webhook-id"), queued["test_id"]);
    let body: Value = serde_json::from_slice(&test_message.body).unwrap();
    assert_eq!(body["type"], "breach.test");
    assert_eq!(
        v1_signatures(&test_message),
        [expected_v1(&second, &test_message)]
    );
    let (status, done) = call(&gateway, reqwest::Method::GET, &result_path, None).await;
    assert_eq!(status, 200);
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["outcome"], "delivered");
    assert_eq!(done["status_code"], 200);

    // The endpoint lists its versions, never a secret.
    let (status, listed) = call(
        &gateway,
        reqwest::Method::GET,
        "/v1/admin/clients/acme-academy/webhooks",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let versions = listed["webhooks"][0]["secret_versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{listed}");
    assert!(versions[0]["expires_at"].is_string());
    assert!(versions[1]["expires_at"].is_null());
    let text = listed.to_string();
    assert!(!text.contains(&first) && !text.contains(&second));

    // Every change is on record with who made it, and no secret is.
    let log = gateway.app.services.store.audit_log().await.unwrap();
    let admin_actions: Vec<(&str, &str)> = log
        .iter()
        .filter(|e| e.actor.starts_with("test admin"))
        .map(|e| (e.action.as_str(), e.subject.as_str()))
        .collect();
    assert_eq!(
        admin_actions,
        [
            ("client.created", CLIENT),
            ("webhook.secret_rotated", "acme-academy/hook"),
            ("webhook.disabled", "acme-academy/hook"),
            ("webhook.enabled", "acme-academy/hook"),
            ("webhook.test_queued", "acme-academy/hook"),
        ]
    );
    for entry in &log {
        assert!(!entry.details.contains(&first[6..]) && !entry.details.contains(&second[6..]));
    }
    gateway.stop().await;
}

/// Admin changes read the stored agreements and write them back whole, so
/// two at once must not drop each other's client (across instances this is
/// `instances.rs`'s to show).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_created_at_once_are_all_kept_and_reached() {
    let dir = crate::support::test_dir();
    let contracts = contracts_for(dir.path(), "http://127.0.0.1:9");
    let mut config = test_config(&dir.path().join("data"), &contracts);
    config.server.rate_limit_burst = 100;
    let gateway = Gateway::start_with(config).await;
    let ids: Vec<String> = (0..16).map(|i| format!("school-{i:02}")).collect();
    create_at_once(&[&gateway], &ids, "http://127.0.0.1:9").await;

    let listed = listed_clients(&gateway).await;
    let (status, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{answer}");
    let reached = crate::support::client_ids(&answer);
    for id in &ids {
        assert!(listed.contains(id), "{id} is listed: {listed:?}");
        assert!(reached.contains(id), "{id} is reached: {answer}");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn an_exported_agreement_applies_from_its_file_with_no_change() {
    let dir = crate::support::test_dir();
    let contracts = contracts_for(dir.path(), "http://127.0.0.1:9");
    let gateway = Gateway::start_with(test_config(&dir.path().join("data"), &contracts)).await;
    let mut client = acme("http://127.0.0.1:9");
    client["agreement"]["notice_schema"] = "profiles/it-strict.v1.schema.json".into();
    client["delivery"]["email"] = json!({"to": ["dpo@acme.example"], "cc": ["board@acme.example"]});
    let (status, created) = call(
        &gateway,
        reqwest::Method::POST,
        "/v1/admin/clients",
        Some(&client),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = call(
        &gateway,
        reqwest::Method::PATCH,
        "/v1/admin/clients/acme-academy/webhooks/hook",
        Some(&json!({"signatures": ["v1", "v1a"]})),
    )
    .await;
    assert_eq!(status, 200);

    // A restart keeps what the API changed: the files are applied only to an empty store.
    gateway.stop().await;
    let gateway = Gateway::start_with(test_config(&dir.path().join("data"), &contracts)).await;
    let (status, kept) = call(
        &gateway,
        reqwest::Method::GET,
        "/v1/admin/clients/acme-academy",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        kept["delivery"]["webhooks"][0]["signatures"],
        json!(["v1", "v1a"])
    );

    let response = gateway
        .http
        .get(gateway.url("/v1/admin/clients/acme-academy/agreement.toml"))
        .bearer_auth(&gateway.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/toml");
    let exported = response.text().await.unwrap();
    assert!(
        exported.contains("signatures = [\"v1\", \"v1a\"]"),
        "{exported}"
    );
    std::fs::write(contracts.join("clients/acme-academy.toml"), &exported).unwrap();

    let config = dir.path().join("breachgate.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\ndata_dir = {:?}\nschemas = {:?}\n",
            dir.path().join("data").display().to_string(),
            repo_path("schemas").display().to_string()
        ),
    )
    .unwrap();
    let args = [
        "contracts",
        "apply",
        contracts.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    let (ok, out) = breachgate(&args, dir.path());
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "no changes", "{exported}");

    // The file is the agreement: a change to it shows as a change of the client.
    std::fs::write(
        contracts.join("clients/acme-academy.toml"),
        exported.replace("notify_within_hours = 24", "notify_within_hours = 12"),
    )
    .unwrap();
    let (ok, out) = breachgate(&args, dir.path());
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "changed client acme-academy");
    gateway.stop().await;
}

#[tokio::test]
async fn bad_agreements_are_refused_as_contracts_check_refuses_their_files() {
    let dir = crate::support::test_dir();
    let contracts = contracts_for(dir.path(), "http://127.0.0.1:9");
    let gateway = Gateway::start_with(test_config(&dir.path().join("data"), &contracts)).await;

    let mut schema_errors = acme("http://127.0.0.1:9");
    schema_errors["agreement"]["notify_within_hours"] = 0.into();
    schema_errors["language"] = "tlh".into();
    let mut reference_errors = acme("http://127.0.0.1:9");
    reference_errors["systems"][0]["id"] = "crm".into();
    reference_errors["systems"][0]["subprocessors"] = json!(["cloudnine"]);
    let hook = reference_errors["delivery"]["webhooks"][0].clone();
    reference_errors["delivery"]["webhooks"]
        .as_array_mut()
        .unwrap()
        .push(hook);

    for (name, bad, expected) in [
        (
            "schema",
            &schema_errors,
            vec!["/agreement/notify_within_hours", "/language"],
        ),
        (
            "references",
            &reference_errors,
            vec![
                "/delivery/webhooks/1/id",
                "/systems/0/id",
                "/systems/0/subprocessors/0",
            ],
        ),
    ] {
        let (status, answer) = call(
            &gateway,
            reqwest::Method::POST,
            "/v1/admin/clients",
            Some(bad),
        )
        .await;
        assert_eq!(status, 422, "{name}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_agreement");
        let details = answer["error"]["details"].as_array().unwrap();
        let mut paths: Vec<&str> = details
            .iter()
            .map(|d| d["path"].as_str().unwrap())
            .collect();
        paths.sort();
        assert_eq!(paths, expected, "{name}: {answer}");

        // The same agreement as a file: `contracts check` reports the same fields and messages.
        let checked = dir.path().join(format!("check-{name}"));
        std::fs::create_dir_all(checked.join("clients")).unwrap();
        for file in ["systems.toml", "subprocessors.toml"] {
            std::fs::copy(contracts.join(file), checked.join(file)).unwrap();
        }
        std::fs::write(
            checked.join("clients/acme-academy.toml"),
            toml::to_string(bad).unwrap(),
        )
        .unwrap();
        let (ok, out) = breachgate(
            &[
                "contracts",
                "check",
                checked.to_str().unwrap(),
                "--schemas",
                repo_path("schemas").to_str().unwrap(),
            ],
            dir.path(),
        );
        assert!(!ok);
        for detail in details {
            let line = format!(
                ": {}: {}",
                detail["path"].as_str().unwrap(),
                detail["message"].as_str().unwrap()
            );
            assert!(out.contains(&line), "{line:?} in\n{out}");
        }
        assert_eq!(out.lines().count(), details.len() + 1, "{out}");
    }

    let (status, answer) = gateway
        .http
        .post(gateway.url("/v1/admin/clients"))
        .bearer_auth(&gateway.admin)
        .body("{not json")
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 400);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "malformed_json");

    // Nothing was stored; staff tokens may not administer; a duplicate is refused.
    let (status, _) = call(
        &gateway,
        reqwest::Method::GET,
        "/v1/admin/clients/acme-academy",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let staff = gateway
        .http
        .get(gateway.url("/v1/admin/clients"))
        .bearer_auth(&gateway.staff)
        .send()
        .await
        .unwrap();
    assert_eq!(staff.status(), 403);
    let good = acme("http://127.0.0.1:9");
    let (status, _) = call(
        &gateway,
        reqwest::Method::POST,
        "/v1/admin/clients",
        Some(&good),
    )
    .await;
    assert_eq!(status, 201);
    let (status, answer) = call(
        &gateway,
        reqwest::Method::POST,
        "/v1/admin/clients",
        Some(&good),
    )
    .await;
    assert_eq!(status, 409, "{answer}");

    // Sub-resources are checked the same way, their errors named in their own body.
    let (status, answer) = call(
        &gateway,
        reqwest::Method::POST,
        "/v1/admin/clients/acme-academy/webhooks",
        Some(&json!({"id": "second", "url": "http://hooks.example/x", "signatures": ["v1"]})),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["details"][0]["path"], "/url");
    let (status, answer) = call(
        &gateway,
        reqwest::Method::DELETE,
        "/v1/admin/clients/acme-academy/webhooks/hook",
        None,
    )
    .await;
    assert_eq!(status, 422, "the only channel cannot go: {answer}");
    assert_eq!(answer["error"]["details"][0]["path"], "/delivery");
    let (status, answer) = call(
        &gateway,
        reqwest::Method::PUT,
        "/v1/admin/clients/acme-academy/email",
        Some(&json!({"to": ["dpo@acme.example", "not an address"]})),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["details"][0]["path"], "/to/1");
    let (status, answer) = call(
        &gateway,
        reqwest::Method::PUT,
        "/v1/admin/clients/acme-academy/email",
        Some(&json!({"to": ["dpo@acme.example"]})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = call(
        &gateway,
        reqwest::Method::DELETE,
        "/v1/admin/clients/acme-academy/webhooks/hook",
        None,
    )
    .await;
    assert_eq!(status, 204, "with email, the webhook may go");
    let (status, client) = call(
        &gateway,
        reqwest::Method::GET,
        "/v1/admin/clients/acme-academy",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        client["delivery"],
        json!({"email": {"to": ["dpo@acme.example"]}})
    );
    let (status, _) = call(
        &gateway,
        reqwest::Method::DELETE,
        "/v1/admin/clients/acme-academy",
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        call(
            &gateway,
            reqwest::Method::GET,
            "/v1/admin/clients/acme-academy",
            None
        )
        .await
        .0,
        404
    );
    gateway.stop().await;
}

/// A gateway on the example contracts with Acme Academy added through the API.
async fn with_acme(dir: &Path) -> Gateway {
    let contracts = contracts_for(dir, "http://127.0.0.1:9");
    let gateway = Gateway::start_with(test_config(&dir.join("data"), &contracts)).await;
    let (status, answer) = call(
        &gateway,
        reqwest::Method::POST,
        "/v1/admin/clients",
        Some(&acme("http://127.0.0.1:9")),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    gateway
}

#[tokio::test]
async fn a_secret_sent_in_place_of_its_reference_is_refused_without_being_quoted() {
    let dir = crate::support::test_dir();
    let gateway = with_acme(dir.path()).await;

    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let mut client = acme("http://127.0.0.1:9");
    client["id"] = "acme-two".into();
    client["delivery"]["webhooks"][0]["secret"] = secret.into();
    let hook = json!({"id": "second", "url": "https://hooks.example/x", "signatures": ["v1"],
                      "secret": secret});
    for (method, path, body, pointer) in [
        (
            reqwest::Method::POST,
            "/v1/admin/clients",
            &client,
            "/delivery/webhooks/0/secret",
        ),
        (
            reqwest::Method::POST,
            "/v1/admin/clients/acme-academy/webhooks",
            &hook,
            "/secret",
        ),
        (
            reqwest::Method::PATCH,
            "/v1/admin/clients/acme-academy/webhooks/hook",
            &json!({"secret": secret}),
            "/secret",
        ),
    ] {
        let response = gateway
            .http
            .request(method.clone(), gateway.url(path))
            .bearer_auth(&gateway.admin)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{method} {path}");
        let text = response.text().await.unwrap();
        assert!(!text.contains(&secret[6..]), "{method} {path}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["error"]["details"][0]["path"], pointer, "{text}");
    }
    gateway.stop().await;
}

/// The agreement files require `signatures` (the contract schema lists it
/// as required), and an endpoint sent to the API has their shape: leaving
/// it out is refused naming the field.
#[tokio::test]
async fn a_webhook_without_signatures_is_refused_naming_the_field() {
    let dir = crate::support::test_dir();
    let gateway = with_acme(dir.path()).await;
    let (status, answer) = call(
        &gateway,
        reqwest::Method::POST,
        "/v1/admin/clients/acme-academy/webhooks",
        Some(&json!({"id": "second", "url": "https://hooks.example/x"})),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_agreement");
    let details = answer["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "{answer}");
    assert_eq!(details[0]["path"], "/signatures");

    // The OpenAPI document says so too.
    let document = breachgate::http::openapi_document();
    let required = &document["components"]["schemas"]["NewWebhook"]["required"];
    assert!(
        required.as_array().unwrap().contains(&json!("signatures")),
        "{required}"
    );
    gateway.stop().await;
}

/// Starts `breachgate serve` logging everything at debug level as JSON to
/// `log`; answers the child, its address and the thread draining its log.
fn serve_logging(
    dir: &Path,
    log: &Path,
) -> (std::process::Child, String, std::thread::JoinHandle<()>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_breachgate"))
        .args(["serve", "--config"])
        .arg(dir.join("breachgate.toml"))
        .envs(crate::support::store_env(dir))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut out = std::fs::File::create(log).unwrap();
    let address = loop {
        use std::io::Write;
        let line = lines
            .next()
            .expect("the gateway logs until it serves")
            .unwrap();
        writeln!(out, "{line}").unwrap();
        let entry: Value = serde_json::from_str(&line).unwrap();
        if entry["fields"]["message"] == "serving" {
            break entry["fields"]["address"].as_str().unwrap().to_owned();
        }
    };
    let drain = std::thread::spawn(move || {
        use std::io::Write;
        for line in lines {
            writeln!(out, "{}", line.unwrap()).unwrap();
        }
    });
    (child, format!("http://{address}"), drain)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_or_any_answer_but_the_one_that_created_it() {
    let dir = crate::support::test_dir();
    let receiver = Receiver::start().await;
    let contracts = contracts_for(dir.path(), &receiver.base);
    std::fs::write(
        dir.path().join("breachgate.toml"),
        format!(
            r#"[server]
listen = "127.0.0.1:0"
[paths]
data_dir = {data:?}
contracts = {contracts:?}
schemas = {schemas:?}
[log]
format = "json"
filter = "debug"
[delivery]
poll_interval_ms = 50
allow_private = ["127.0.0.1/32"]
"#,
            data = dir.path().join("data").display().to_string(),
            contracts = contracts.display().to_string(),
            schemas = repo_path("schemas").display().to_string(),
        ),
    )
    .unwrap();
    let log = dir.path().join("gateway.log");
    let (mut child, base, drain) = serve_logging(dir.path(), &log);
    let tokens = std::fs::read_to_string(dir.path().join("data/initial-tokens.txt")).unwrap();
    let token = |role: &str| {
        tokens
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{role} ")))
            .unwrap()
            .to_owned()
    };
    let (staff, admin) = (token("staff"), token("admin"));
    let http = reqwest::Client::new();
    let mut other_answers = Vec::new();
    let send = |method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };

    let (status, created) = send(
        reqwest::Method::POST,
        "/v1/admin/clients",
        &admin,
        Some(acme(&receiver.base)),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let created: Value = serde_json::from_str(&created).unwrap();
    let first = created["secrets"]["hook"].as_str().unwrap().to_owned();

    let (status, tested) = send(
        reqwest::Method::POST,
        "/v1/admin/clients/acme-academy/webhooks/hook/test",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 202, "{tested}");
    receiver
        .wait_until(|requests| requests.iter().any(|r| r.path == HOOK_PATH))
        .await;
    let test_message = receiver.requests(HOOK_PATH).pop().unwrap();
    assert_eq!(
        v1_signatures(&test_message),
        [expected_v1(&first, &test_message)]
    );
    other_answers.push(tested);

    let (status, rotated) = send(
        reqwest::Method::POST,
        "/v1/admin/clients/acme-academy/webhooks/hook/rotate-secret",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let rotated: Value = serde_json::from_str(&rotated).unwrap();
    let second = rotated["secret"].as_str().unwrap().to_owned();

    let (status, filed) = send(
        reqwest::Method::POST,
        "/v1/reports",
        &staff,
        Some(fixture("report-lms.json")),
    )
    .await;
    assert_eq!(status, 201, "{filed}");
    other_answers.push(filed);
    receiver
        .wait_until(|requests| requests.iter().filter(|r| r.path == HOOK_PATH).count() == 2)
        .await;
    let notice = receiver.requests(HOOK_PATH).pop().unwrap();
    assert_eq!(
        v1_signatures(&notice),
        [expected_v1(&first, &notice), expected_v1(&second, &notice)]
    );

    for path in [
        "/v1/admin/clients",
        "/v1/admin/clients/acme-academy",
        "/v1/admin/clients/acme-academy/webhooks",
        "/v1/admin/clients/acme-academy/agreement.toml",
    ] {
        let (status, answer) = send(reqwest::Method::GET, path, &admin, None).await;
        assert_eq!(status, 200, "{path}: {answer}");
        other_answers.push(answer);
    }
    let (status, answer) = send(
        reqwest::Method::POST,
        "/v1/admin/clients/acme-academy/webhooks/hook/rotate-secret",
        &admin,
        Some(json!({"overlap_hours": 1000})),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    other_answers.push(answer);

    child.kill().unwrap();
    child.wait().unwrap();
    drain.join().unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("agreements changed through the admin API"),
        "debug logging was on"
    );
    let secrets_key = std::fs::read_to_string(dir.path().join("data/secrets.key")).unwrap();
    for secret in [&first, &second] {
        // The key material alone, with or without its prefix.
        let material = &secret["whsec_".len()..];
        for (n, line) in logged.lines().enumerate() {
            assert!(
                !line.contains(material),
                "log line {n} holds a secret: {line}"
            );
        }
        for answer in &other_answers {
            assert!(
                !answer.contains(material),
                "an answer holds a secret: {answer}"
            );
        }
    }
    assert!(
        !logged.contains(secrets_key.trim()),
        "the secrets key is logged"
    );
}

#[tokio::test]
async fn an_smtp_password_can_be_configured_sealed() {
    let dir = crate::support::test_dir();
    let data = dir.path().join("data");
    let config = dir.path().join("breachgate.toml");
    std::fs::write(
        &config,
        format!("[paths]\ndata_dir = {:?}\n", data.display().to_string()),
    )
    .unwrap();
    let mut encrypt = Command::new(env!("CARGO_BIN_EXE_breachgate"))
        .args(["secrets", "encrypt", "--config"])
        .arg(&config)
        .env("BREACHGATE_LOG__FILTER", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = encrypt.stdin.take().unwrap();
        writeln!(stdin, "smtp-pass-0123").unwrap();
    }
    let output = encrypt.wait_with_output().unwrap();
    assert!(output.status.success());
    let sealed = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(sealed.starts_with("enc:v1:"), "{sealed}");
    assert!(!sealed.contains("smtp-pass-0123"));

    let mut config = test_config(&data, &repo_path("contracts"));
    config.email.username = "breachgate".into();
    config.email.password = Some(breachgate::delivery::email::Secret::new(sealed.clone()));
    let app = breachgate::App::start(config.clone()).await.unwrap();
    let password = app.config.email.password.as_ref().unwrap();
    assert_eq!(password.expose(), "smtp-pass-0123");
    assert!(!format!("{:?}", app.config.email).contains("smtp-pass-0123"));

    // Under another key the value is refused, and the error names the setting only.
    config.secrets.key = STANDARD.encode([9u8; 32]);
    let refused = breachgate::App::start(config).await.err().unwrap();
    let message = format!("{refused:#}");
    assert!(message.contains("email.password"), "{message}");
    assert!(!message.contains("smtp-pass-0123"));
}
