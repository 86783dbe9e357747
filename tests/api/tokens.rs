//! API tokens through the admin API and the command line: listed without
//! their secrets, revoked (the next request gets 401), expired on the
//! gateway's clock, a client named only by a client token and only if the
//! agreements have it, and revoked with their client.

use std::path::Path;

use breachgate::clock::Clock;
use chrono::Duration;
use serde_json::{json, Value};

use crate::admin::call;
use crate::support::{breachgate, fixture, fixture_clock, repo_path, test_config, Gateway};

const FORMAVENIR: &str = "formavenir";

fn listed<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {list}"))
}

#[tokio::test]
async fn a_token_is_created_listed_without_its_secret_and_revoked() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let (status, created) = call(
        &gateway,
        reqwest::Method::POST,
        "/v1/admin/tokens",
        Some(&json!({"role": "staff", "name": "night desk"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["token"]["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("bg_staff_"), "{created}");
    assert_eq!(created["token"]["status"], "active");
    assert_eq!(gateway.get_json(&secret, "/v1/incidents").await.0, 200);

    let (status, list) = call(&gateway, reqwest::Method::GET, "/v1/admin/tokens", None).await;
    assert_eq!(status, 200);
    let token = listed(&list, &id);
    assert_eq!(
        (&token["name"], &token["role"], &token["client_id"]),
        (&json!("night desk"), &json!("staff"), &Value::Null)
    );
    // The initial tokens, the harness's and this one; no secret among them.
    assert_eq!(list["tokens"].as_array().unwrap().len(), 5, "{list}");
    let (_, secret_part) = secret.split_once('.').unwrap();
    assert!(!list.to_string().contains(secret_part));
    assert!(!list.to_string().contains("secret"), "{list}");

    let path = format!("/v1/admin/tokens/{id}");
    let (status, _) = call(&gateway, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(gateway.get_json(&secret, "/v1/incidents").await.0, 401);
    let (_, list) = call(&gateway, reqwest::Method::GET, "/v1/admin/tokens", None).await;
    assert_eq!(listed(&list, &id)["status"], "revoked");
    assert!(listed(&list, &id)["revoked_at"].is_string());
    // Revoking it again changes nothing; an unknown token is not found.
    let (status, _) = call(&gateway, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, answer) = call(
        &gateway,
        reqwest::Method::DELETE,
        "/v1/admin/tokens/tok_nope",
        None,
    )
    .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (404, &json!("not_found"))
    );

    let log = gateway.app.services.store.audit_log().await.unwrap();
    let tokens: Vec<_> = log
        .iter()
        .filter(|e| e.action.starts_with("token."))
        .map(|e| (e.action.as_str(), e.subject.as_str()))
        .collect();
    assert_eq!(
        tokens,
        [
            ("token.created", id.as_str()),
            ("token.revoked", id.as_str())
        ]
    );
    for entry in log.iter().filter(|e| e.action.starts_with("token.")) {
        assert!(entry.actor.starts_with("test admin (tok_"), "{entry:?}");
        assert!(!entry.details.contains(secret_part));
    }
    gateway.stop().await;
}

#[tokio::test]
async fn a_token_past_its_expiry_gets_401() {
    let dir = crate::support::test_dir();
    let clock = fixture_clock();
    let config = test_config(dir.path(), &repo_path("contracts"));
    let gateway = Gateway::start_with_clock(config, clock.clone()).await;
    let start = clock.now();
    let (status, answer) = call(
        &gateway,
        reqwest::Method::POST,
        "/v1/admin/tokens",
        Some(&json!({"role": "staff", "name": "contractor", "expires_at": start - Duration::minutes(1)})),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["details"][0]["path"], "/expires_at");

    let (status, created) = call(
        &gateway,
        reqwest::Method::POST,
        "/v1/admin/tokens",
        Some(&json!({"role": "staff", "name": "contractor", "expires_at": start + Duration::hours(1)})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap();
    let id = created["token"]["id"].as_str().unwrap();
    assert_eq!(gateway.get_json(secret, "/v1/incidents").await.0, 200);
    clock.advance(Duration::minutes(59));
    assert_eq!(gateway.get_json(secret, "/v1/incidents").await.0, 200);
    clock.advance(Duration::minutes(1));
    assert_eq!(gateway.get_json(secret, "/v1/incidents").await.0, 401);
    let (_, list) = call(&gateway, reqwest::Method::GET, "/v1/admin/tokens", None).await;
    assert_eq!(listed(&list, id)["status"], "expired");
    gateway.stop().await;
}

#[tokio::test]
async fn only_a_client_token_names_a_client_and_only_a_stored_one() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    for (body, code, path) in [
        (
            json!({"role": "client", "name": "desk"}),
            "invalid_body",
            "/client_id",
        ),
        (
            json!({"role": "staff", "name": "desk", "client_id": FORMAVENIR}),
            "invalid_body",
            "/client_id",
        ),
        (
            json!({"role": "client", "name": "desk", "client_id": "no-such-client"}),
            "unknown_reference",
            "/client_id",
        ),
        (
            json!({"role": "client", "name": "desk", "client_id": null}),
            "invalid_body",
            "/client_id",
        ),
        (
            json!({"role": "root", "name": "desk"}),
            "invalid_body",
            "/role",
        ),
        (
            json!({"role": "staff", "name": "  "}),
            "invalid_body",
            "/name",
        ),
        (
            json!({"role": "staff", "name": "desk", "scope": "all"}),
            "invalid_body",
            "/scope",
        ),
    ] {
        let (status, answer) = call(
            &gateway,
            reqwest::Method::POST,
            "/v1/admin/tokens",
            Some(&body),
        )
        .await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        assert_eq!(
            answer["error"]["details"][0]["path"], path,
            "{body}: {answer}"
        );
    }
    let (_, list) = call(&gateway, reqwest::Method::GET, "/v1/admin/tokens", None).await;
    assert_eq!(
        list["tokens"].as_array().unwrap().len(),
        4,
        "nothing stored"
    );

    let (status, created) = call(
        &gateway,
        reqwest::Method::POST,
        "/v1/admin/tokens",
        Some(&json!({"role": "client", "name": "desk", "client_id": FORMAVENIR})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["token"]["client_id"], FORMAVENIR);
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(gateway.get_json(secret, "/v1/client/notices").await.0, 200);
    gateway.stop().await;
}

#[tokio::test]
async fn removing_a_client_revokes_its_tokens_and_keeps_its_notices() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let (status, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{answer}");
    let token = gateway.client_token(FORMAVENIR).await;
    let other = gateway.client_token("harbourview-housing").await;
    assert_eq!(gateway.get_json(&token, "/v1/client/notices").await.0, 200);

    let path = format!("/v1/admin/clients/{FORMAVENIR}");
    let (status, _) = call(&gateway, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(gateway.get_json(&token, "/v1/client/notices").await.0, 401);
    assert_eq!(gateway.get_json(&other, "/v1/client/notices").await.0, 200);
    let (_, list) = call(&gateway, reqwest::Method::GET, "/v1/admin/tokens", None).await;
    let mut statuses: Vec<(&str, &str)> = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"] == "client")
        .map(|t| {
            (
                t["client_id"].as_str().unwrap(),
                t["status"].as_str().unwrap(),
            )
        })
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [(FORMAVENIR, "revoked"), ("harbourview-housing", "active")]
    );

    let (status, register) = gateway.get_json(&gateway.staff, "/v1/register").await;
    assert_eq!(status, 200);
    assert!(register.to_string().contains(FORMAVENIR), "{register}");
    gateway.stop().await;
}

fn write_config(dir: &Path, data: &Path) -> String {
    let config = dir.join("breachgate.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\ndata_dir = {data:?}\ncontracts = {contracts:?}\nschemas = {schemas:?}\n[log]\nfilter = \"warn\"\n",
            contracts = repo_path("contracts"),
            schemas = repo_path("schemas"),
        ),
    )
    .unwrap();
    config.display().to_string()
}

#[tokio::test]
async fn the_command_line_creates_lists_and_revokes_tokens() {
    let dir = crate::support::test_dir();
    let data = dir.path().join("data");
    let gateway = Gateway::start(&data).await;
    let config = write_config(dir.path(), &data);
    let cli = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--config", config.as_str()]);
        breachgate(&args, dir.path())
    };

    for (args, expected) in [
        (
            &["--role", "client", "--client", "no-such-client"][..],
            "no client no-such-client in the stored agreements",
        ),
        (
            &["--role", "staff", "--client", FORMAVENIR][..],
            "only a client token names a client",
        ),
        (
            &["--role", "staff", "--expires-at", "2020-01-01T00:00:00Z"][..],
            "is not in the future",
        ),
    ] {
        let mut command = vec!["tokens", "create", "--name", "desk"];
        command.extend(args);
        let (ok, out) = cli(&command);
        assert!(!ok, "{args:?}: {out}");
        assert!(out.contains(expected), "{args:?}: {out}");
    }

    let (ok, out) = cli(&[
        "tokens",
        "create",
        "--role",
        "client",
        "--client",
        FORMAVENIR,
        "--name",
        "formavenir desk",
        "--expires-in-days",
        "30",
    ]);
    assert!(ok, "{out}");
    let secret = out.trim().to_owned();
    assert!(secret.starts_with("bg_client_"), "{out}");
    assert_eq!(gateway.get_json(&secret, "/v1/client/notices").await.0, 200);

    let (ok, out) = cli(&["tokens", "list"]);
    assert!(ok, "{out}");
    assert!(!out.contains(secret.split_once('.').unwrap().1), "{out}");
    let row = out
        .lines()
        .find(|l| l.ends_with("\tformavenir desk"))
        .unwrap_or_else(|| panic!("{out}"));
    let columns: Vec<&str> = row.split('\t').collect();
    assert_eq!(columns[1..4], ["client", "active", FORMAVENIR], "{row}");
    let expires: chrono::DateTime<chrono::Utc> = columns[4].parse().unwrap();
    let days = (expires - chrono::Utc::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "{row}");
    let id = columns[0];

    let (ok, out) = cli(&["tokens", "revoke", id]);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), format!("revoked {id}"));
    assert_eq!(gateway.get_json(&secret, "/v1/client/notices").await.0, 401);
    let (ok, out) = cli(&["tokens", "revoke", id]);
    assert!(ok && out.contains("was already revoked at"), "{out}");
    let (ok, out) = cli(&["tokens", "revoke", "tok_nope"]);
    assert!(!ok && out.contains("no such token"), "{out}");

    let log = gateway.app.services.store.audit_log().await.unwrap();
    let by_cli: Vec<&str> = log
        .iter()
        .filter(|e| e.actor == "cli")
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(by_cli, ["token.created", "token.revoked"]);
    gateway.stop().await;
}
