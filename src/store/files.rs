//! The database and the data directory it lives in are the owner's only:
//! they hold the breach reports, notices, audit log and token hashes. Modes
//! are set when a file or directory is created rather than left to the
//! umask, and tightened, with a warning naming the path, when found looser.

use std::io;
use std::path::Path;

/// Creates `dir` (and any missing parent) with mode 0700, or tightens it to
/// that if it exists and others may read it.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        restrict(dir, 0o700)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Creates an empty file at `path` with mode 0600 unless one exists, and
/// tightens an existing one to that.
pub(super) fn create_private_file(path: &Path) -> io::Result<()> {
    private_file().create(true).open(path)?;
    restrict(path, 0o600)
}

/// Creates an empty file at `path` with mode 0600; fails if one exists.
pub(super) fn create_new_private_file(path: &Path) -> io::Result<std::fs::File> {
    private_file().create_new(true).open(path)
}

/// Options that write a file created with mode 0600, whatever the umask
/// (which can only take permissions away).
fn private_file() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Takes away from `path`, if it exists, every permission `mode` does not
/// grant, and warns when there was one to take.
pub(super) fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = match std::fs::metadata(path) {
            Ok(metadata) => metadata.permissions().mode() & 0o777,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if current & !mode != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
            tracing::warn!(
                path = %path.display(),
                was = format!("{current:04o}"),
                now = format!("{:04o}", current & mode),
                "tightened the permissions of a file others could read"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_paths_are_private_and_looser_ones_are_tightened_keeping_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        create_private_dir(&data).unwrap();
        assert_eq!((mode(&dir.path().join("a")), mode(&data)), (0o700, 0o700));
        let file = data.join("db");
        create_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);

        std::fs::write(&file, b"kept").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&data).unwrap();
        create_private_file(&file).unwrap();
        assert_eq!((mode(&data), mode(&file)), (0o700, 0o600));
        assert_eq!(std::fs::read(&file).unwrap(), b"kept", "never truncated");

        // Stricter than asked is left alone.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o400)).unwrap();
        restrict(&file, 0o600).unwrap();
        assert_eq!(mode(&file), 0o400);
        restrict(&data.join("absent"), 0o600).unwrap();
    }
}
