//! The Python interpreter of the end-to-end checks, with the packages of
//! `tests/e2e/requirements.txt` installed in it, so that a plain `cargo test`
//! works on a fresh machine.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::repo_path;

/// Succeeds when every distribution named on its command line is installed.
const INSTALLED: &str = "import importlib.metadata, sys
for name in sys.argv[1:]:
    importlib.metadata.distribution(name)";

/// The interpreter to run the checks with, once the requirements are
/// installed in it. The first test to ask checks and, where a package is
/// missing, installs; every other test of this process waits for that and
/// shares its outcome, so pip runs at most once per test process.
pub fn interpreter() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(prepare) {
        Ok(python) => python,
        Err(problem) => panic!("{problem}"),
    }
}

fn prepare() -> Result<PathBuf, String> {
    // `python3` may be a shim (pyenv) that picks an interpreter by the
    // directory it runs in, and the checks run in temporary directories: pin
    // the one interpreter the packages go into and the checks run with.
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .current_dir(repo_path(""))
        .output()
        .map_err(|error| format!("python3 does not run: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "python3 does not run: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let python = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let requirements = repo_path("tests/e2e/requirements.txt");
    let names = requirement_names(&requirements)?;
    let installed = || {
        Command::new(&python)
            .args(["-c", INSTALLED])
            .args(&names)
            .output()
            .is_ok_and(|output| output.status.success())
    };
    if installed() {
        return Ok(python);
    }

    // Another test process (another checkout's `cargo test`) may be installing
    // into the same interpreter: one pip at a time, and whoever comes second
    // finds the packages installed.
    let lock_path = std::env::temp_dir().join("breachgate-e2e-requirements.lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|error| format!("cannot open {}: {error}", lock_path.display()))?;
    lock.lock()
        .map_err(|error| format!("cannot lock {}: {error}", lock_path.display()))?;
    if !installed() {
        let output = Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-r"])
            .arg(&requirements)
            .output()
            .map_err(|error| format!("{} -m pip does not run: {error}", python.display()))?;
        if !output.status.success() || !installed() {
            return Err(format!(
                "installing tests/e2e/requirements.txt into {} failed:\n{}{}",
                python.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Ok(python)
}

/// The distribution names in a requirements file, without their versions.
fn requirement_names(requirements: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(requirements)
        .map_err(|error| format!("cannot read {}: {error}", requirements.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with(['#', '-']))
        .map(|line| {
            line.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect()
        })
        .collect())
}
