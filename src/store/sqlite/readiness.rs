//! Whether the database file the store opened is still the one its path
//! names, and one the gateway could open again. SQLite's open connections
//! keep their file descriptors: they go on working when the file is moved
//! away, replaced or made unreadable, until the next start (or a new
//! connection) fails. So readiness looks at the path, not at a query's
//! answer alone.
//!
//! It never opens the file itself: closing any descriptor of a file drops
//! every POSIX lock the process holds on it, SQLite's included, and another
//! process could then take the database for unused and fold its write-ahead
//! log away under the gateway's connections. Nor does it open a new SQLite
//! connection: when the path leads to another file, SQLite's locks (kept per
//! file) would tell that connection it is alone, and on closing it would
//! fold the gateway's write-ahead log into that other file. It asks the
//! file system only: `stat` and `access`.

use std::path::{Path, PathBuf};

use crate::store::StoreError;

pub(super) struct DatabaseFile {
    path: PathBuf,
    identity: Identity,
}

/// Which file a path led to: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity(u64, u64);

impl DatabaseFile {
    /// The file at `path`, as the store has just opened it.
    pub(super) fn opened(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            path: path.to_owned(),
            identity: identity(path).map_err(|e| StoreError::Unreadable(path.to_owned(), e))?,
        })
    }

    /// Fails unless the path still leads to the file opened and the gateway
    /// may read and write it.
    pub(super) fn check(&self) -> Result<(), StoreError> {
        let unreadable = |e| StoreError::Unreadable(self.path.clone(), e);
        if identity(&self.path).map_err(unreadable)? != self.identity {
            return Err(StoreError::NotTheDatabase(
                self.path.clone(),
                "another file has taken its place",
            ));
        }
        may_read_and_write(&self.path).map_err(unreadable)
    }
}

#[cfg(unix)]
fn identity(path: &Path) -> std::io::Result<Identity> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path)?;
    Ok(Identity(metadata.dev(), metadata.ino()))
}

#[cfg(unix)]
fn may_read_and_write(path: &Path) -> std::io::Result<()> {
    use rustix::fs::Access;
    rustix::fs::access(path, Access::READ_OK | Access::WRITE_OK).map_err(std::io::Error::from)
}

/// Elsewhere only the file's presence is checked.
#[cfg(not(unix))]
fn identity(path: &Path) -> std::io::Result<Identity> {
    std::fs::metadata(path).map(|_| Identity(0, 0))
}

#[cfg(not(unix))]
fn may_read_and_write(_: &Path) -> std::io::Result<()> {
    Ok(())
}
