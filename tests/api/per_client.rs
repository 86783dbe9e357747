//! Per-client facts: counts and categories established for one client reach
//! exactly that client's notice, with where each number comes from; without
//! them a client learns only its unknown share of the incident's total; and
//! the CSV upload makes the same update as the JSON patch.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::independent_verifiers::python;
use crate::support;
use crate::support::{client_ids, client_outcome, fixture, test_config, Gateway};

const CONSORZIO: &str = "consorzio-formazione-emilia";
const FORMAVENIR: &str = "formavenir";
const HARBOURVIEW: &str = "harbourview-housing";

/// Each client's notice of `answer`, by client id.
async fn notices_of(gateway: &Gateway, answer: &Value) -> Vec<(String, Value)> {
    let incident = answer["incident_id"].as_str().unwrap();
    let mut notices = Vec::new();
    for client in client_ids(answer) {
        let id = client_outcome(answer, &client)["notice_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (bytes, _) = gateway.notice_bytes(incident, &id).await;
        notices.push((client, serde_json::from_slice(&bytes).unwrap()));
    }
    notices
}

/// Writes `notices` to `dir` and checks them against the canonical schema
/// with Python's jsonschema.
async fn validate(dir: &Path, name: &str, notices: &[(String, Value)]) {
    let files: Vec<String> = notices
        .iter()
        .map(|(client, notice)| {
            let file: PathBuf = dir.join(format!("{name}-{client}.json"));
            std::fs::write(&file, serde_json::to_vec(notice).unwrap()).unwrap();
            file.display().to_string()
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = files.iter().map(String::as_str).collect();
        python("validate_notices.py", &args)
    })
    .await
    .unwrap();
}

fn range(min: u64, max: u64, precision: &str) -> Value {
    json!({"min": min, "max": max, "precision": precision})
}

#[tokio::test]
async fn three_clients_get_their_own_counts_or_an_unknown_share_of_the_total() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;

    // The sub-processor's breach reaches three clients; the processor counted
    // each one's tickets in its logs.
    let mut report = fixture("report-subprocessor.json");
    let own = [
        (CONSORZIO, 40, 41),
        (FORMAVENIR, 100, 120),
        (HARBOURVIEW, 51, 51),
    ];
    for (client, subjects, records) in own {
        report["affected"]["per_client"][client] = json!({
            "data_subjects": {"count": range(subjects, subjects, "exact")},
            "personal_data": {"records": range(records, records, "exact")},
            "countries": [if client == CONSORZIO { "IT" } else { "NL" }],
        });
    }
    let (status, filed) = gateway.post_report(&gateway.staff, &report).await;
    assert_eq!(status, 201, "{filed}");
    let notices = notices_of(&gateway, &filed).await;
    assert_eq!(notices.len(), 3);
    for ((client, notice), (expected_client, subjects, records)) in notices.iter().zip(own) {
        assert_eq!(client, expected_client);
        let data = &notice["data"];
        let mut count = range(subjects, subjects, "exact");
        count["basis"] = json!("client_specific");
        assert_eq!(data["data_subjects"]["count"], count, "{client}");
        let mut expected_records = range(records, records, "exact");
        expected_records["basis"] = json!("client_specific");
        assert_eq!(
            data["personal_data"]["records"], expected_records,
            "{client}"
        );
        assert_eq!(data["data_subjects"]["countries_basis"], "client_specific");
        assert_eq!(
            data["data_subjects"]["countries"].as_array().unwrap().len(),
            1
        );
        assert!(!data["pending"]
            .as_array()
            .unwrap()
            .contains(&json!("data_subjects.count")));
    }
    // Every reported category is kept; the Italian agreement does not list
    // online identifiers for the LMS, so they are unexpected there.
    let (_, consorzio) = &notices[0];
    let personal = &consorzio["data"]["personal_data"];
    assert_eq!(
        personal["categories"],
        json!([
            "identification",
            "contact",
            "education",
            "online_identifiers"
        ])
    );
    assert_eq!(personal["categories_basis"], "reported");
    assert_eq!(
        personal["unexpected_categories"],
        json!(["online_identifiers"])
    );
    assert_eq!(
        consorzio["data"]["data_subjects"]["categories_basis"],
        "reported"
    );
    validate(dir.path(), "own", &notices).await;

    // Without per-client figures the incident's 212 is each client's upper
    // bound, not capped by any agreement, and nobody's minimum is invented.
    // (The fixture's own `per_client` figures are taken out for this.)
    let mut report = fixture("report-subprocessor.json");
    report["affected"]
        .as_object_mut()
        .unwrap()
        .remove("per_client");
    let (status, filed) = gateway.post_report(&gateway.staff, &report).await;
    assert_eq!(status, 201, "{filed}");
    let notices = notices_of(&gateway, &filed).await;
    for (client, notice) in &notices {
        let data = &notice["data"];
        let mut share = range(0, 212, "upper_bound");
        share["basis"] = json!("share_of_incident_total");
        assert_eq!(data["data_subjects"]["count"], share, "{client}");
        assert_eq!(data["personal_data"]["records"], share, "{client}");
    }
    validate(dir.path(), "shared", &notices).await;

    // Categories known for one client while the incident's are not: that
    // client's are reported, the others' assumed from their agreements.
    let mut report = fixture("report-subprocessor.json");
    report["personal_data"]["categories"] = json!("not_yet_known");
    report["affected"]["per_client"][FORMAVENIR] =
        json!({"personal_data": {"categories": ["contact"]}});
    let (status, filed) = gateway.post_report(&gateway.staff, &report).await;
    assert_eq!(status, 201, "{filed}");
    let notices = notices_of(&gateway, &filed).await;
    for (client, notice) in &notices {
        let data = &notice["data"];
        let own = client == FORMAVENIR;
        let pending = data["pending"].as_array().unwrap();
        let assumed = data["severity"]["assumed"].as_array().cloned();
        let categories_assumed = json!("personal_data.categories");
        assert_eq!(pending.contains(&categories_assumed), !own, "{client}");
        assert_eq!(
            assumed.unwrap_or_default().contains(&categories_assumed),
            !own,
            "{client}"
        );
        assert_eq!(
            data["personal_data"]["categories_basis"],
            if own {
                "reported"
            } else {
                "assumed_from_agreement"
            },
            "{client}"
        );
    }
    assert_eq!(
        notices[1].1["data"]["personal_data"]["categories"],
        json!(["contact"])
    );
    validate(dir.path(), "assumed", &notices).await;

    // Figures for a client that is not in the agreements, or not affected by
    // this incident, are refused with their pointer.
    for (client, problem) in [
        ("nope", "unknown client"),
        ("hanse-spedition-nord", "not affected"),
    ] {
        let mut report = fixture("report-subprocessor.json");
        report["affected"]["per_client"][client] =
            json!({"data_subjects": {"count": range(1, 1, "exact")}});
        let (status, answer) = gateway.post_report(&gateway.staff, &report).await;
        assert_eq!(status, 422, "{answer}");
        let detail = &answer["error"]["details"][0];
        assert_eq!(detail["path"], format!("/affected/per_client/{client}"));
        assert!(
            detail["message"].as_str().unwrap().contains(problem),
            "{answer}"
        );
    }
    gateway.stop().await;
}

#[tokio::test]
async fn a_csv_of_figures_for_1000_clients_makes_one_update_with_each_clients_row() {
    const CLIENTS: usize = 1_000;
    let dir = crate::support::test_dir();
    let contracts = dir.path().join("contracts");
    support::synthetic::write_contracts(&contracts, CLIENTS, None, 0);
    let mut config = test_config(&dir.path().join("data"), &contracts);
    // One caller reads every client's notice.
    config.server.rate_limit_burst = 10_000;
    let gateway = Gateway::start_with(config).await;
    let (status, filed) = gateway
        .post_report(&gateway.staff, &support::synthetic::report())
        .await;
    assert_eq!(status, 201, "{filed}");
    let incident = filed["incident_id"].as_str().unwrap();

    let row = |i: usize| (i as u64 % 7 + 1, i as u64 % 50 + 10);
    let mut csv = String::from("client_id,data_subjects_min,data_subjects_max,records_min,records_max,records_precision,data_categories\n");
    for i in 0..CLIENTS {
        let (subjects, records) = row(i);
        csv.push_str(&format!(
            "client-{i:06},{subjects},{subjects},{records},{},approximate,identification;official_documents\n",
            records + 5
        ));
    }
    let response = gateway
        .http
        .post(gateway.url(&format!("/v1/incidents/{incident}/per-client")))
        .bearer_auth(&gateway.staff)
        .header("content-type", "text/csv")
        .body(csv.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let update: Value = response.json().await.unwrap();
    assert_eq!(update["version"], 2);
    assert_eq!(update["notices"], CLIENTS);

    let notices = notices_of(&gateway, &update).await;
    assert_eq!(notices.len(), CLIENTS);
    for (i, (client, notice)) in notices.iter().enumerate() {
        assert_eq!(client, &format!("client-{i:06}"));
        let data = &notice["data"];
        assert_eq!(notice["type"], "breach.notice.update");
        let (subjects, records) = row(i);
        let mut count = range(subjects, subjects, "exact");
        count["basis"] = json!("client_specific");
        assert_eq!(data["data_subjects"]["count"], count, "{client}");
        let mut expected = range(records, records + 5, "approximate");
        expected["basis"] = json!("client_specific");
        assert_eq!(data["personal_data"]["records"], expected, "{client}");
        assert_eq!(
            data["personal_data"]["unexpected_categories"],
            json!(["official_documents"]),
            "{client}"
        );
    }
    validate(dir.path(), "csv", &notices[..10]).await;

    // The same CSV again changes nothing; a CSV that is not one is refused
    // with its line and column.
    let send = |body: String, content_type: &'static str| {
        gateway
            .http
            .post(gateway.url(&format!("/v1/incidents/{incident}/per-client")))
            .bearer_auth(&gateway.staff)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let response = send(csv, "text/csv").await.unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "nothing_changed");
    let response = send(
        "client_id,records_min\nclient-000001,many\n".into(),
        "text/csv",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["path"], "/2/records_min");
    let response = send("client_id\nclient-000001\n".into(), "application/json")
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    gateway.stop().await;
}

/// The example report as shipped shows the new inputs: one client's own
/// figures, the data subjects in words, and a category the Italian agreement
/// does not list.
#[tokio::test]
async fn the_example_subprocessor_report_shows_per_client_figures_and_the_new_category_fields() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let report = fixture("report-subprocessor.json");
    let (status, filed) = gateway.post_report(&gateway.staff, &report).await;
    assert_eq!(status, 201, "{filed}");
    let notices = notices_of(&gateway, &filed).await;
    let own = &report["affected"]["per_client"][HARBOURVIEW];
    for (client, notice) in &notices {
        let data = &notice["data"];
        assert_eq!(
            data["data_subjects"]["description"],
            report["data_subjects"]["description"]
        );
        let basis = &data["data_subjects"]["count"]["basis"];
        if client == HARBOURVIEW {
            assert_eq!(basis, "client_specific");
            assert_eq!(
                data["data_subjects"]["count"]["max"],
                own["data_subjects"]["count"]["max"]
            );
            assert_eq!(
                data["personal_data"]["records"]["max"],
                own["personal_data"]["records"]["max"]
            );
            assert_eq!(data["data_subjects"]["countries"], own["countries"]);
        } else {
            assert_eq!(basis, "share_of_incident_total", "{client}");
        }
    }
    let (_, consorzio) = notices.iter().find(|(c, _)| c == CONSORZIO).unwrap();
    assert_eq!(
        consorzio["data"]["personal_data"]["unexpected_categories"],
        json!(["online_identifiers"])
    );
    validate(dir.path(), "example", &notices).await;
    gateway.stop().await;
}
