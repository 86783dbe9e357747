//! `contracts check` and `contracts apply` through the command line.

use std::path::Path;

use crate::support::{breachgate, repo_path};

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
    let dir = tempfile::tempdir().unwrap();
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

    // Schema problems stop a file from being read further, so check the
    // Dutch file's reference problem on its own.
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

    edit(
        &dutch,
        "notify_within_hours = 0",
        "notify_within_hours = 24",
    );
    edit(&dutch, "language = \"tlh\"", "language = \"nl\"");
    let (_, out) = breachgate(
        &["contracts", "check", "contracts", "--schemas", "schemas"],
        dir.path(),
    );
    let wanted = format!("contracts/clients/kinderopvang-de-vlinder.toml:{}: /systems/0/subprocessors/0: unknown sub-processor \"cloudnine\"", line_of(&dutch, "cloudnine"));
    assert!(out.lines().any(|l| l == wanted), "{wanted:?} in\n{out}");
}

#[test]
fn apply_is_idempotent_and_prints_what_changed() {
    let dir = tempfile::tempdir().unwrap();
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
