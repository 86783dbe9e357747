//! The core pipeline through the public API: which clients a report affects,
//! what their notices say, holding, signing, rejection and durability.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::support::{client_ids, client_outcome, fixture, repo_path, Gateway};

/// A client agreement file, read independently of the gateway's own parser.
fn agreement(client_id: &str) -> toml::Value {
    let text =
        std::fs::read_to_string(repo_path(&format!("contracts/clients/{client_id}.toml"))).unwrap();
    toml::from_str(&text).unwrap()
}

fn agreement_system<'a>(agreement: &'a toml::Value, system: &str) -> &'a toml::Value {
    agreement["systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some(system))
        .unwrap()
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn toml_strings(value: &toml::Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Every client file that lists `system`, by scanning the files directly.
fn clients_with_system(system: &str) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(repo_path("contracts/clients"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|path| {
            let value: toml::Value =
                toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let has = value["systems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["id"].as_str() == Some(system));
            has.then(|| value["id"].as_str().unwrap().to_owned())
        })
        .collect();
    ids.sort();
    ids
}

async fn notice_json(gateway: &Gateway, answer: &Value, client_id: &str) -> Value {
    let notice_id = client_outcome(answer, client_id)["notice_id"]
        .as_str()
        .unwrap();
    let (bytes, _) = gateway
        .notice_bytes(answer["incident_id"].as_str().unwrap(), notice_id)
        .await;
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_report_naming_a_system_affects_exactly_its_clients_with_their_own_data() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let report = fixture("report-lms.json");
    let (status, answer) = gateway.post_report(&gateway.staff, &report).await;
    assert_eq!(status, 201, "{answer}");

    let expected = clients_with_system("lms");
    assert!(
        expected.len() >= 2 && expected.len() < 6,
        "the fixture contracts make lms a strict subset"
    );
    assert_eq!(client_ids(&answer), expected);

    let reported: BTreeSet<String> = strings(&report["personal_data"]["categories"]);
    for client_id in &expected {
        let notice = notice_json(&gateway, &answer, client_id).await;
        let lms = agreement_system(&agreement(client_id), "lms").clone();
        let data = &notice["data"];
        let agreed = toml_strings(&lms["data_categories"]);
        let expected_categories: BTreeSet<String> =
            agreed.intersection(&reported).cloned().collect();
        assert_eq!(
            strings(&data["personal_data"]["categories"]),
            expected_categories,
            "{client_id}"
        );
        // Subject categories were "not yet known": all of the client's, and pending.
        assert_eq!(
            strings(&data["data_subjects"]["categories"]),
            toml_strings(&lms["data_subjects"]),
            "{client_id}"
        );
        assert!(strings(&data["pending"]).contains("data_subjects.categories"));
        assert_eq!(
            data["data_subjects"]["count"]["max"].as_i64(),
            lms["subjects"].as_integer(),
            "{client_id}"
        );
        assert_eq!(
            data["data_subjects"]["children"].as_bool(),
            lms.get("children")
                .and_then(|c| c.as_bool())
                .or(Some(false))
        );
        assert_eq!(data["controller"]["client_id"], client_id.as_str());
        assert_eq!(data["systems"][0]["id"], "lms");
        assert_eq!(data["reference"], answer["reference"]);
    }
    gateway.stop().await;
}

#[tokio::test]
async fn a_report_naming_a_subprocessor_affects_only_clients_that_authorised_it_for_those_systems()
{
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let report = fixture("report-subprocessor.json");
    let sub = report["affected"]["subprocessor"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, answer) = gateway.post_report(&gateway.staff, &report).await;
    assert_eq!(status, 201, "{answer}");

    let authorised: Vec<String> = clients_with_system("lms")
        .into_iter()
        .filter(|id| {
            let a = agreement(id);
            toml_strings(&agreement_system(&a, "lms")["subprocessors"]).contains(&sub)
        })
        .collect();
    assert!(!authorised.is_empty() && authorised.len() < clients_with_system("lms").len());
    assert_eq!(client_ids(&answer), authorised);

    let notice = notice_json(&gateway, &answer, &authorised[0]).await;
    let register: toml::Value = toml::from_str(
        &std::fs::read_to_string(repo_path("contracts/subprocessors.toml")).unwrap(),
    )
    .unwrap();
    let entry = register["subprocessor"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some(&sub))
        .unwrap();
    let details = &notice["data"]["subprocessor"];
    assert_eq!(
        details["legal_entity"].as_str(),
        entry["legal_entity"].as_str()
    );
    assert_eq!(details["country"].as_str(), entry["country"].as_str());
    assert_eq!(
        details["transfer_safeguard"].as_str(),
        entry["transfer_safeguard"].as_str()
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_stricter_client_is_held_naming_the_missing_field_while_others_are_queued() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let (status, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201);

    let strict = "consorzio-formazione-emilia";
    let held = client_outcome(&answer, strict);
    assert_eq!(held["status"], "held");
    // measures.in_place is always present, so the profile finds it empty.
    assert_eq!(held["errors"][0]["path"], "/data/measures/in_place");
    assert_eq!(held["deliveries"], json!([]));
    assert_eq!(answer["held"], 1);

    for outcome in answer["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["client_id"] != strict)
    {
        assert_eq!(outcome["status"], "queued", "{outcome}");
        assert!(!outcome["deliveries"].as_array().unwrap().is_empty());
    }

    // The incident view shows the same, per client.
    let (status, incident) = gateway
        .get_json(
            &gateway.staff,
            &format!("/v1/incidents/{}", answer["incident_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 200);
    let view = incident["notices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["client_id"] == strict)
        .unwrap();
    assert_eq!(view["status"], "held");
    assert_eq!(view["errors"], held["errors"]);
    assert_eq!(incident["held"], 1);

    // With the protection measures supplied, the same client's notice is queued.
    let mut complete = fixture("report-lms.json");
    complete["measures"]["in_place"] = json!(["Access to exports requires a signed URL"]);
    let (_, answer) = gateway.post_report(&gateway.staff, &complete).await;
    assert_eq!(client_outcome(&answer, strict)["status"], "queued");
    gateway.stop().await;
}

#[tokio::test]
async fn notices_are_signed_and_a_changed_byte_breaks_the_signature() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let (_, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    let outcome = client_outcome(&answer, "formavenir");
    let (bytes, jws) = gateway
        .notice_bytes(
            answer["incident_id"].as_str().unwrap(),
            outcome["notice_id"].as_str().unwrap(),
        )
        .await;
    let jws = jws.expect("queued notices carry a JWS");

    let jwks_file = dir.path().join("jwks.json");
    let jwks = gateway
        .http
        .get(gateway.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(&jwks_file, jwks).unwrap();
    let notice_file = dir.path().join("notice.json");
    let jws_file = dir.path().join("notice.jws");
    std::fs::write(&jws_file, &jws).unwrap();

    let verify = |notice: &[u8]| {
        std::fs::write(&notice_file, notice).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_breachgate"))
            .args(["verify", "--jwks"])
            .arg(&jwks_file)
            .arg(&notice_file)
            .arg(&jws_file)
            .output()
            .unwrap()
    };
    let valid = verify(&bytes);
    assert!(
        valid.status.success(),
        "{}",
        String::from_utf8_lossy(&valid.stdout)
    );
    let mut tampered = bytes.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    let invalid = verify(&tampered);
    assert!(!invalid.status.success());
    assert!(String::from_utf8_lossy(&invalid.stdout).contains("INVALID"));

    // The held notice is not signed.
    let held = client_outcome(&answer, "consorzio-formazione-emilia");
    let (_, held_jws) = gateway
        .notice_bytes(
            answer["incident_id"].as_str().unwrap(),
            held["notice_id"].as_str().unwrap(),
        )
        .await;
    assert_eq!(held_jws, None);
    gateway.stop().await;
}

#[tokio::test]
async fn bad_requests_get_the_right_4xx_naming_the_field_and_store_nothing() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let report = fixture("report-lms.json");
    let post_raw = |token: Option<String>, body: Vec<u8>| {
        let mut request = gateway
            .http
            .post(gateway.url("/v1/reports"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let staff = Some(gateway.staff.clone());
    let with = |path: &[&str], value: Value| {
        let mut r = report.clone();
        let mut target = &mut r;
        for key in &path[..path.len() - 1] {
            target = &mut target[*key];
        }
        target[path[path.len() - 1]] = value;
        serde_json::to_vec(&r).unwrap()
    };

    /// name, token, body, expected status, error code, a path that must be named
    type Case<'a> = (&'a str, Option<String>, Vec<u8>, u16, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            staff.clone(),
            b"{\"summary\": ".to_vec(),
            400,
            "malformed_json",
            "",
        ),
        (
            "wrong type",
            staff.clone(),
            with(&["nature", "integrity"], json!("yes")),
            422,
            "invalid_report",
            "/nature/integrity",
        ),
        (
            "unknown enum",
            staff.clone(),
            with(&["category"], json!("alien_abduction")),
            422,
            "invalid_report",
            "/category",
        ),
        (
            "missing field",
            staff.clone(),
            {
                let mut r = report.clone();
                r.as_object_mut().unwrap().remove("summary");
                serde_json::to_vec(&r).unwrap()
            },
            422,
            "invalid_report",
            "",
        ),
        (
            "unknown system",
            staff.clone(),
            with(&["affected", "systems"], json!(["mainframe"])),
            422,
            "unknown_reference",
            "/affected/systems/0",
        ),
        (
            "unknown client",
            staff.clone(),
            with(&["affected"], json!({"clients": ["nobody"]})),
            422,
            "unknown_reference",
            "/affected/clients/0",
        ),
        (
            "oversize",
            staff.clone(),
            with(&["summary"], json!("x".repeat(2 * 1024 * 1024))),
            413,
            "body_too_large",
            "",
        ),
        (
            "missing token",
            None,
            serde_json::to_vec(&report).unwrap(),
            401,
            "unauthorized",
            "",
        ),
        (
            "unknown token",
            Some("bg_staff_nope".into()),
            serde_json::to_vec(&report).unwrap(),
            401,
            "unauthorized",
            "",
        ),
        (
            "wrong role",
            Some(gateway.admin.clone()),
            serde_json::to_vec(&report).unwrap(),
            403,
            "forbidden",
            "",
        ),
    ];
    for (name, token, body, status, code, path) in cases {
        let (got, answer) = post_raw(token, body).await;
        assert_eq!(got, status, "{name}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{name}: {answer}");
        if !path.is_empty() {
            let paths: Vec<&str> = answer["error"]["details"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["path"].as_str().unwrap())
                .collect();
            assert!(paths.contains(&path), "{name}: {paths:?}");
        }
        if name == "missing field" {
            assert!(
                answer["error"]["details"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("summary"),
                "{answer}"
            );
        }
    }
    assert_eq!(
        gateway.incident_count().await,
        0,
        "no rejected request stored anything"
    );
    let (status, _) = gateway.get_json(&gateway.staff, "/v1/incidents").await;
    assert_eq!(status, 200);
    gateway.stop().await;
}

#[tokio::test]
async fn idempotency_key_and_dry_run() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let report = fixture("report-lms.json");

    let dry = gateway
        .http
        .post(gateway.url("/v1/reports?dry_run=true"))
        .bearer_auth(&gateway.staff)
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(dry.status(), 200);
    let preview: Value = dry.json().await.unwrap();
    assert_eq!(preview["dry_run"], true);
    let formavenir = client_outcome(&preview, "formavenir");
    assert_eq!(
        formavenir["notice"]["data"]["controller"]["client_id"],
        "formavenir"
    );
    assert_eq!(
        client_outcome(&preview, "consorzio-formazione-emilia")["status"],
        "held"
    );
    assert_eq!(
        gateway.incident_count().await,
        0,
        "a dry run stores nothing"
    );

    let send = |body: &Value| {
        gateway
            .http
            .post(gateway.url("/v1/reports"))
            .bearer_auth(&gateway.staff)
            .header("idempotency-key", "finding-42")
            .json(body)
            .send()
    };
    let first: Value = send(&report).await.unwrap().json().await.unwrap();
    let again = send(&report).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(gateway.incident_count().await, 1);

    let mut different = report.clone();
    different["summary"] = json!("another finding");
    let reused = send(&different).await.unwrap();
    assert_eq!(reused.status(), 422);
    let body: Value = reused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "idempotency_key_reused");
    assert_eq!(gateway.incident_count().await, 1);
    gateway.stop().await;
}

#[tokio::test]
async fn incidents_notices_and_outbox_rows_survive_a_restart() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let (_, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    let incident_path = format!("/v1/incidents/{}", answer["incident_id"].as_str().unwrap());
    let (_, before) = gateway.get_json(&gateway.staff, &incident_path).await;
    let formavenir = client_outcome(&answer, "formavenir").clone();
    let (bytes_before, jws_before) = gateway
        .notice_bytes(
            answer["incident_id"].as_str().unwrap(),
            formavenir["notice_id"].as_str().unwrap(),
        )
        .await;
    gateway.stop().await;

    let gateway = Gateway::start(dir.path()).await;
    let (status, after) = gateway.get_json(&gateway.staff, &incident_path).await;
    assert_eq!(status, 200);
    assert_eq!(after, before);
    let deliveries: usize = after["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["deliveries"].as_array().unwrap().len())
        .sum();
    let answered: usize = answer["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["deliveries"].as_array().unwrap().len())
        .sum();
    assert_eq!(deliveries, answered);
    assert!(deliveries > 0);
    let (bytes_after, jws_after) = gateway
        .notice_bytes(
            answer["incident_id"].as_str().unwrap(),
            formavenir["notice_id"].as_str().unwrap(),
        )
        .await;
    assert_eq!((bytes_after, jws_after), (bytes_before, jws_before));
    gateway.stop().await;
}

#[tokio::test]
async fn the_jwks_publishes_the_signing_key() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let jwks: Value = gateway
        .http
        .get(gateway.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert_eq!(key["kid"].as_str(), Some(gateway.app.services.signer.kid()));
    assert!(key.get("d").is_none(), "never the private part");
    // The same key for Standard Webhooks v1a verifiers.
    use base64::Engine;
    let whpk = jwks["webhook_public_key"]
        .as_str()
        .unwrap()
        .strip_prefix("whpk_")
        .unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(whpk)
        .unwrap();
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw),
        key["x"].as_str().unwrap()
    );
    gateway.stop().await;
}
