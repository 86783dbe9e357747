//! `contracts check` and `contracts apply` through the command line, and
//! the checks the admin API shares with them.

use std::path::Path;

use serde_json::{json, Value};

use crate::support::{breachgate, repo_path, test_config, Gateway};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} contains {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn line_of(path: &Path, needle: &str) -> usize {
    1 + std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .unwrap()
}

#[test]
fn the_example_contracts_pass() {
    let schemas = repo_path("schemas");
    let (ok, out) = breachgate(
        &[
            "contracts",
            "check",
            "contracts",
            "--schemas",
            schemas.to_str().unwrap(),
        ],
        &repo_path(""),
    );
    assert!(ok, "{out}");
    assert!(out.contains("6 clients"), "{out}");
}

#[test]
fn every_problem_is_reported_with_file_line_and_field() {
    let dir = crate::support::test_dir();
    let contracts = dir.path().join("contracts");
    copy_dir(&repo_path("contracts"), &contracts);
    let schemas = dir.path().join("schemas");
    copy_dir(&repo_path("schemas"), &schemas);

    let dutch = contracts.join("clients/kinderopvang-de-vlinder.toml");
    edit(&dutch, "\"polderstack\"", "\"cloudnine\"");
    edit(
        &dutch,
        "notify_within_hours = 24",
        "notify_within_hours = 0",
    );
    edit(&dutch, "language = \"nl\"", "language = \"tlh\"");
    edit(&dutch, "id = \"hr-portal\"", "id = \"warehouse\"");
    let french = contracts.join("clients/formavenir.toml");
    edit(&french, "https://", "http://");
    let italian = contracts.join("clients/consorzio-formazione-emilia.toml");
    std::fs::remove_file(schemas.join("profiles/it-strict.v1.schema.json")).unwrap();
    let systems = contracts.join("systems.toml");
    let first_id = std::fs::read_to_string(&systems)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("id = "))
        .unwrap()
        .to_owned();
    std::fs::write(
        &systems,
        format!(
            "{}\n[[system]]\n{first_id}\nname = \"Again\"\ndescription = \"A duplicate\"\n",
            std::fs::read_to_string(&systems).unwrap()
        ),
    )
    .unwrap();

    // The Dutch file's schema problems and its references are reported in
    // the same run, although the file cannot be read as an agreement.
    let (ok, out) = breachgate(
        &["contracts", "check", "contracts", "--schemas", "schemas"],
        dir.path(),
    );
    assert!(!ok);
    let expect = |file: &str, line: usize, field: &str, words: &str| {
        let wanted = format!("contracts/{file}:{line}: {field}: ");
        let found = out
            .lines()
            .find(|l| l.starts_with(&wanted))
            .unwrap_or_else(|| panic!("no line starting {wanted:?} in\n{out}"));
        assert!(found.contains(words), "{found:?} should mention {words:?}");
    };
    expect(
        "clients/kinderopvang-de-vlinder.toml",
        line_of(&dutch, "notify_within_hours"),
        "/agreement/notify_within_hours",
        "0",
    );
    expect(
        "clients/kinderopvang-de-vlinder.toml",
        line_of(&dutch, "language"),
        "/language",
        "tlh",
    );
    expect(
        "clients/formavenir.toml",
        line_of(&french, "url = \"http://"),
        "/delivery/webhooks/0/url",
        "https",
    );
    expect(
        "clients/consorzio-formazione-emilia.toml",
        line_of(&italian, "notice_schema"),
        "/agreement/notice_schema",
        "cannot read",
    );
    expect(
        "systems.toml",
        line_of(&systems, "name = \"Again\"") - 1,
        "/system/3/id",
        "duplicate",
    );
    expect(
        "clients/kinderopvang-de-vlinder.toml",
        line_of(&dutch, "cloudnine"),
        "/systems/0/subprocessors/0",
        "unknown sub-processor \"cloudnine\"",
    );
    expect(
        "clients/kinderopvang-de-vlinder.toml",
        line_of(&dutch, "warehouse"),
        "/systems/1/id",
        "unknown system \"warehouse\"",
    );
}

#[test]
fn header_bound_values_with_control_characters_are_refused_with_their_field() {
    let dir = crate::support::test_dir();
    example_copy(dir.path());
    let french = dir.path().join("contracts/clients/formavenir.toml");
    edit(
        &french,
        "name = \"Formavenir SAS\"",
        "name = \"Formavenir SAS\\r\\nBcc: spy@evil.example\"",
    );
    edit(
        &french,
        "name = \"Claire Morel\"",
        "name = \"Claire\\u0007Morel\"",
    );
    let (ok, out) = check(dir.path());
    assert!(!ok, "{out}");
    for (field, needle) in [
        ("/name", "name = \"Formavenir SAS"),
        ("/contacts/0/name", "name = \"Claire"),
    ] {
        let wanted = format!(
            "contracts/clients/formavenir.toml:{}: {field}: ",
            line_of(&french, needle)
        );
        let found = out
            .lines()
            .find(|l| l.starts_with(&wanted))
            .unwrap_or_else(|| panic!("no line starting {wanted:?} in\n{out}"));
        assert!(found.contains("control character"), "{found}");
    }
}

#[test]
fn apply_is_idempotent_and_prints_what_changed() {
    let dir = crate::support::test_dir();
    let contracts = dir.path().join("contracts");
    copy_dir(&repo_path("contracts"), &contracts);
    std::os::unix::fs::symlink(repo_path("schemas"), dir.path().join("schemas")).unwrap();

    let (ok, out) = breachgate(&["contracts", "apply", "contracts"], dir.path());
    assert!(ok, "{out}");
    assert!(out.contains("added client formavenir"), "{out}");
    assert!(
        out.contains("added profile profiles/it-strict.v1.schema.json"),
        "{out}"
    );

    let (ok, out) = breachgate(&["contracts", "apply", "contracts"], dir.path());
    assert!(ok);
    assert_eq!(out.trim(), "no changes");

    edit(
        &contracts.join("clients/formavenir.toml"),
        "notify_within_hours = 48",
        "notify_within_hours = 36",
    );
    std::fs::remove_file(contracts.join("clients/harbourview-housing.toml")).unwrap();
    let (ok, out) = breachgate(&["contracts", "apply", "contracts"], dir.path());
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "changed client formavenir\nremoved client harbourview-housing"
    );

    // Each apply that changed something is audited; the unchanged one is not.
    let (ok, out) = breachgate(&["audit", "verify"], dir.path());
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "ok: 2 entries, chain intact");
}

/// `contracts check contracts --schemas schemas` in `dir`.
fn check(dir: &Path) -> (bool, String) {
    breachgate(
        &["contracts", "check", "contracts", "--schemas", "schemas"],
        dir,
    )
}

/// Copies the example contracts and schemas into `dir`.
fn example_copy(dir: &Path) {
    copy_dir(&repo_path("contracts"), &dir.join("contracts"));
    copy_dir(&repo_path("schemas"), &dir.join("schemas"));
}

#[test]
fn a_profile_reached_through_a_symbolic_link_is_refused_with_file_and_line() {
    use std::os::unix::fs::symlink;

    let dir = crate::support::test_dir();
    example_copy(dir.path());
    let schemas = dir.path().join("schemas");
    let profiles = schemas.join("profiles");
    let strict = "it-strict.v1.schema.json";
    // A schema outside the schemas directory, a file that is no schema, the
    // real profile under another name, and a linked directory.
    std::fs::copy(profiles.join(strict), dir.path().join("outside.json")).unwrap();
    symlink(
        "../../outside.json",
        profiles.join("outside.v1.schema.json"),
    )
    .unwrap();
    let agreement = dir.path().join("contracts/clients/formavenir.toml");
    symlink(&agreement, profiles.join("agreement.v1.schema.json")).unwrap();
    symlink(strict, profiles.join("alias.v1.schema.json")).unwrap();
    copy_dir(&profiles, &dir.path().join("elsewhere"));
    symlink(dir.path().join("elsewhere"), schemas.join("linked")).unwrap();

    let italian = dir
        .path()
        .join("contracts/clients/consorzio-formazione-emilia.toml");
    let mut named = format!("profiles/{strict}");
    for (name, link) in [
        (
            "profiles/outside.v1.schema.json",
            "profiles/outside.v1.schema.json",
        ),
        (
            "profiles/agreement.v1.schema.json",
            "profiles/agreement.v1.schema.json",
        ),
        (
            "profiles/alias.v1.schema.json",
            "profiles/alias.v1.schema.json",
        ),
        ("linked/it-strict.v1.schema.json", "linked"),
    ] {
        edit(&italian, &format!("\"{named}\""), &format!("\"{name}\""));
        named = name.to_owned();
        let (ok, out) = check(dir.path());
        assert!(!ok, "{name}: {out}");
        let wanted = format!(
            "contracts/clients/consorzio-formazione-emilia.toml:{}: /agreement/notice_schema: \
             notice schema {name:?}: {link} is a symbolic link",
            line_of(&italian, "notice_schema")
        );
        assert!(
            out.lines().any(|l| l.starts_with(&wanted)),
            "{wanted:?} in\n{out}"
        );
        assert_eq!(
            out.lines().filter(|l| l.starts_with("contracts/")).count(),
            1,
            "{out}"
        );
    }

    // The profile itself passes, and the schemas directory may be a link.
    edit(
        &italian,
        &format!("\"{named}\""),
        &format!("\"profiles/{strict}\""),
    );
    let (ok, out) = check(dir.path());
    assert!(ok, "{out}");
    std::fs::rename(&schemas, dir.path().join("schemas-real")).unwrap();
    symlink("schemas-real", &schemas).unwrap();
    let (ok, out) = check(dir.path());
    assert!(ok, "{out}");
}

#[test]
fn metadata_and_link_local_webhook_urls_are_refused_even_for_local_testing() {
    let dir = crate::support::test_dir();
    example_copy(dir.path());
    let client = |id: &str| dir.path().join(format!("contracts/clients/{id}.toml"));
    let local = |url: &str| format!("url = \"{url}\"\nlocal_testing = true");
    let refused = [
        (
            "formavenir",
            "https://siem.formavenir.example/ingest/breachgate",
            local("http://169.254.169.254/latest/meta-data/"),
            "169.254.169.254 is a cloud metadata address",
        ),
        (
            "formavenir",
            "https://support.formavenir.example/api/webhooks/incidents",
            local("https://[::ffff:169.254.169.254]/"),
            "::ffff:169.254.169.254 is a cloud metadata address",
        ),
        (
            "harbourview-housing",
            "https://grc.harbourview.example/hooks/breachgate",
            local("https://[fe80::1]/hooks"),
            "fe80::1 is a link-local address",
        ),
        (
            "hanse-spedition-nord",
            "https://isms.hanse-spedition.example/api/v2/incidents/breachgate",
            "url = \"https://169.254.10.20/\"".to_owned(),
            "169.254.10.20 is a link-local address",
        ),
        (
            "kinderopvang-de-vlinder",
            "https://hooks.kinderopvang-devlinder.example/breachgate/notices",
            // 169.254.169.254 as one decimal number, which URLs allow.
            "url = \"https://2852039166/\"".to_owned(),
            "169.254.169.254 is a cloud metadata address",
        ),
    ];
    for (id, from, to, _) in &refused {
        edit(&client(id), &format!("url = \"{from}\""), to);
    }
    // Loopback is what `local_testing` is for.
    edit(
        &client("idrottsforeningen-norrsken"),
        "url = \"https://kansli.norrsken-if.example/webhooks/breachgate\"",
        &local("http://127.0.0.1:8099/hook"),
    );

    let (ok, out) = check(dir.path());
    assert!(!ok, "{out}");
    let problems: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("contracts/"))
        .collect();
    assert_eq!(problems.len(), refused.len(), "{out}");
    for (id, _, to, words) in &refused {
        let url_line = to.lines().next().unwrap();
        let text = std::fs::read_to_string(client(id)).unwrap();
        let line = 1 + text.lines().position(|l| l == url_line).unwrap();
        let index = text
            .lines()
            .take(line)
            .filter(|l| *l == "[[delivery.webhooks]]")
            .count()
            - 1;
        let wanted =
            format!("contracts/clients/{id}.toml:{line}: /delivery/webhooks/{index}/url: {words}");
        assert!(
            problems.iter().any(|l| l.starts_with(&wanted)),
            "{wanted:?} in\n{out}"
        );
    }
}

/// An admin API call; the answer's status and JSON body (`null` when empty).
async fn admin(gateway: &Gateway, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = gateway
        .http
        .request(method.parse().unwrap(), gateway.url(path))
        .bearer_auth(&gateway.admin)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn refused_at(answer: &Value, pointer: &str, words: &str) {
    assert_eq!(answer["error"]["code"], "invalid_agreement", "{answer}");
    let details = answer["error"]["details"].as_array().unwrap();
    assert!(
        details
            .iter()
            .any(|d| d["path"] == pointer && d["message"].as_str().unwrap().contains(words)),
        "{pointer}: {words:?} in {answer}"
    );
}

#[tokio::test]
async fn the_admin_api_refuses_linked_profiles_and_metadata_webhooks_as_the_check_does() {
    let dir = crate::support::test_dir();
    example_copy(dir.path());
    let profiles = dir.path().join("schemas/profiles");
    std::os::unix::fs::symlink(
        "it-strict.v1.schema.json",
        profiles.join("alias.v1.schema.json"),
    )
    .unwrap();
    let mut config = test_config(&dir.path().join("data"), &dir.path().join("contracts"));
    config.paths.schemas = dir.path().join("schemas");
    let gateway = Gateway::start_with(config).await;

    let (status, formavenir) = admin(
        &gateway,
        "GET",
        "/v1/admin/clients/formavenir",
        &Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{formavenir}");
    let mut linked = formavenir.clone();
    linked["id"] = "acme-academy".into();
    linked["agreement"]["notice_schema"] = "profiles/alias.v1.schema.json".into();
    let (status, answer) = admin(&gateway, "POST", "/v1/admin/clients", &linked).await;
    assert_eq!(status, 422, "{answer}");
    refused_at(&answer, "/agreement/notice_schema", "is a symbolic link");

    let mut metadata = formavenir.clone();
    metadata["delivery"]["webhooks"][0]["url"] = "http://169.254.169.254/latest/".into();
    metadata["delivery"]["webhooks"][0]["local_testing"] = true.into();
    metadata["delivery"]["webhooks"][1]["url"] = "https://[::ffff:169.254.169.254]/".into();
    let (status, answer) = admin(&gateway, "PUT", "/v1/admin/clients/formavenir", &metadata).await;
    assert_eq!(status, 422, "{answer}");
    refused_at(&answer, "/delivery/webhooks/0/url", "cloud metadata");
    refused_at(&answer, "/delivery/webhooks/1/url", "cloud metadata");

    let (status, answer) = admin(
        &gateway,
        "POST",
        "/v1/admin/clients/formavenir/webhooks",
        &json!({
            "id": "metadata",
            "url": "http://169.254.169.254/",
            "local_testing": true,
            "signatures": ["v1"]
        }),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    refused_at(&answer, "/url", "cloud metadata");
    let (status, answer) = admin(
        &gateway,
        "PATCH",
        "/v1/admin/clients/formavenir/webhooks/siem",
        &json!({"url": "https://[fe80::a9fe:a9fe]/", "local_testing": true}),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    refused_at(&answer, "/url", "link-local");

    // A name that would break the email's headers, and a schema error
    // beside an unknown system: every problem in one answer.
    let mut injected = formavenir.clone();
    injected["name"] = "Formavenir SAS\r\nBcc: spy@evil.example".into();
    // (A NUL is refused before this, as the body is read: see `input.rs`.)
    injected["contacts"][1]["email"] = "ssi@formavenir.example\u{7}".into();
    let (status, answer) = admin(&gateway, "PUT", "/v1/admin/clients/formavenir", &injected).await;
    assert_eq!(status, 422, "{answer}");
    refused_at(&answer, "/name", "control character");
    refused_at(&answer, "/contacts/1/email", "control character");
    let mut unknown = formavenir.clone();
    unknown["id"] = "acme-academy".into();
    unknown["language"] = "tlh".into();
    unknown["systems"][0]["id"] = "warehouse".into();
    let (status, answer) = admin(&gateway, "POST", "/v1/admin/clients", &unknown).await;
    assert_eq!(status, 422, "{answer}");
    refused_at(&answer, "/language", "tlh");
    refused_at(&answer, "/systems/0/id", "unknown system \"warehouse\"");

    // Nothing was stored.
    let (status, _) = admin(
        &gateway,
        "GET",
        "/v1/admin/clients/acme-academy",
        &Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    let (_, now) = admin(
        &gateway,
        "GET",
        "/v1/admin/clients/formavenir",
        &Value::Null,
    )
    .await;
    assert_eq!(now, formavenir);
    gateway.stop().await;
}
