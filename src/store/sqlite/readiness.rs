//! Whether the database file the store opened is still the one its path
//! names, and readable. SQLite's open connections keep their file
//! descriptors: they go on working when the file is moved away, replaced or
//! made unreadable, until the next start (or a new connection) fails. So
//! readiness looks at the file itself, not at a query's answer alone.
//!
//! It does not open a new SQLite connection to find out: when the path
//! leads to another file, SQLite's locks (kept per file) would tell that
//! connection it is alone, and on closing it would fold the gateway's
//! write-ahead log into that other file and delete it.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// What every SQLite database file starts with.
const HEADER: &[u8; 16] = b"SQLite format 3\0";

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

    /// Fails unless the path still leads to the file opened, the gateway can
    /// read it, and it starts as a SQLite database does.
    pub(super) fn check(&self) -> Result<(), StoreError> {
        let unreadable = |e| StoreError::Unreadable(self.path.clone(), e);
        if identity(&self.path).map_err(unreadable)? != self.identity {
            return Err(StoreError::NotTheDatabase(
                self.path.clone(),
                "another file has taken its place",
            ));
        }
        let mut header = [0; HEADER.len()];
        std::fs::File::open(&self.path)
            .and_then(|mut file| file.read_exact(&mut header))
            .map_err(unreadable)?;
        if &header != HEADER {
            return Err(StoreError::NotTheDatabase(
                self.path.clone(),
                "its header is not a SQLite database's",
            ));
        }
        Ok(())
    }
}

#[cfg(unix)]
fn identity(path: &Path) -> std::io::Result<Identity> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path)?;
    Ok(Identity(metadata.dev(), metadata.ino()))
}

/// Elsewhere only the file's presence is checked.
#[cfg(not(unix))]
fn identity(path: &Path) -> std::io::Result<Identity> {
    std::fs::metadata(path).map(|_| Identity(0, 0))
}
