//! An online copy of the database: `VACUUM INTO` reads one consistent
//! snapshot in a read transaction, so the gateway goes on writing meanwhile,
//! and the copy holds every transaction committed before it started.

use std::path::Path;

use sqlx::{Connection, SqliteConnection};

use super::{connect_options, on_disk};
use crate::store::files::create_new_private_file;
use crate::store::StoreError;

/// Copies the database at `url` into a new file at `to`, mode 0600.
pub async fn backup(url: &str, to: &Path) -> Result<(), StoreError> {
    let options = connect_options(url)?.create_if_missing(false);
    if on_disk(&options).is_none() {
        return Err(StoreError::BackupUnsupported(url.to_owned()));
    }
    let target = to.to_str().ok_or_else(|| {
        StoreError::Backup(to.to_owned(), std::io::ErrorKind::InvalidInput.into())
    })?;
    // Created first, empty (which VACUUM INTO accepts), so that it has its
    // mode from the start and an existing file is never overwritten.
    create_new_private_file(to).map_err(|e| StoreError::Backup(to.to_owned(), e))?;
    let copied = copy_into(&options, target).await;
    if copied.is_err() {
        let _ = std::fs::remove_file(to);
        return copied;
    }
    // SQLite does not sync the copy: do it before calling it done.
    sync(to).map_err(|e| StoreError::Backup(to.to_owned(), e))
}

async fn copy_into(
    options: &sqlx::sqlite::SqliteConnectOptions,
    target: &str,
) -> Result<(), StoreError> {
    let mut connection = SqliteConnection::connect_with(options).await?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut connection)
        .await;
    connection.close().await?;
    copied?;
    Ok(())
}

/// Flushes the file at `path` and the directory entry naming it.
fn sync(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
