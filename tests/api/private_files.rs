//! The data directory and the database files are the owner's only from the
//! first `serve` on, and a later start tightens any found looser, saying so.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use crate::support::{repo_path, spawn_serve};

/// The permission bits of `path`, in octal.
fn mode(path: &Path) -> String {
    let metadata = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:04o}", metadata.permissions().mode() & 0o777)
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Starts `breachgate serve` on `dir`'s config, checks it answers, and
/// SIGKILLs it, so the -wal and -shm files stay behind as after a crash.
async fn serve_once(dir: &Path, log: &Path) {
    let (mut gateway, base) = spawn_serve(&dir.join("breachgate.toml"), &[], log);
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    gateway.kill().unwrap();
    gateway.wait().unwrap();
}

#[tokio::test]
async fn the_data_directory_and_database_are_private_from_the_first_serve_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(
        dir.path().join("breachgate.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[paths]\ndata_dir = {data:?}\ncontracts = {contracts:?}\nschemas = {schemas:?}\n",
            contracts = repo_path("contracts"),
            schemas = repo_path("schemas"),
        ),
    )
    .unwrap();
    serve_once(dir.path(), &dir.path().join("first.log")).await;
    let database = ["breachgate.db", "breachgate.db-wal", "breachgate.db-shm"];
    assert_eq!(mode(&data), "0700");
    for file in database
        .iter()
        .chain(&["signing-key.pem", "secrets.key", "initial-tokens.txt"])
    {
        assert_eq!(mode(&data.join(file)), "0600", "{file}");
    }
    let first_log = std::fs::read_to_string(dir.path().join("first.log")).unwrap();
    assert!(!first_log.contains("tightened"), "{first_log}");

    // As an older version left them.
    set_mode(&data, 0o755);
    for file in database {
        set_mode(&data.join(file), 0o644);
    }
    let log = dir.path().join("second.log");
    serve_once(dir.path(), &log).await;
    assert_eq!(mode(&data), "0700");
    for file in database {
        assert_eq!(mode(&data.join(file)), "0600", "{file}");
    }
    let mut warned: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["level"] == "WARN")
        .map(|line| {
            line["fields"]["path"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    warned.sort();
    let mut expected: Vec<String> = [data.clone()]
        .into_iter()
        .chain(database.iter().map(|file| data.join(file)))
        .map(|path| path.display().to_string())
        .collect();
    expected.sort();
    assert_eq!(warned, expected);
}
