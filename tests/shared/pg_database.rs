//! Fresh PostgreSQL databases for the test binaries, on the server that
//! `BREACHGATE_TEST_PG_URL` names (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`): each is created with a
//! unique name and dropped when its guard is, also when the test panics.

use sqlx::{Connection, Executor, PgConnection};

/// The server URL the PostgreSQL pass runs against, when one is set.
pub fn server_url() -> Option<String> {
    std::env::var("BREACHGATE_TEST_PG_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// A database of its own, dropped with this guard.
pub struct FreshDatabase {
    server: String,
    name: String,
    /// The database's own URL, for `store::open` or `store.url`.
    pub url: String,
}

impl FreshDatabase {
    /// Creates an empty database on `server`. Its collation is `C`, as the
    /// README asks of a production database, so text sorts bytewise as in
    /// SQLite.
    pub fn create(server: &str) -> Self {
        let name = format!("breachgate_test_{}", ulid::Ulid::new()).to_lowercase();
        on_server(
            server,
            format!("CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'"),
        )
        .expect("a test database is created on BREACHGATE_TEST_PG_URL");
        let mut url = url::Url::parse(server).expect("BREACHGATE_TEST_PG_URL is a URL");
        url.set_path(&name);
        Self {
            server: server.to_owned(),
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for FreshDatabase {
    /// Closes whatever connections a test left open, then drops it.
    fn drop(&mut self) {
        let dropped = on_server(
            &self.server,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        if let Err(e) = dropped {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

/// Runs `statement` on the server from a thread and runtime of its own, so
/// it can be called from a drop and from sync or async tests alike.
fn on_server(server: &str, statement: String) -> Result<(), sqlx::Error> {
    let server = server.to_owned();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(async {
                let mut admin = PgConnection::connect(&server).await?;
                admin.execute(&*statement).await?;
                admin.close().await
            })
    })
    .join()
    .expect("the database statement's thread finishes")
}
