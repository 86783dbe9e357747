//! The `breachgate` command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use breachgate::config::{Config, LogFormat};
use breachgate::domain::{audit, Role};
use breachgate::secrets::{SecretsKey, CONFIG_CONTEXT};

#[derive(Parser)]
#[command(
    name = "breachgate",
    version,
    about = "Turns one breach finding into signed, per-client GDPR breach notices and delivers them.",
    long_about = "breachgate notifies a processor's clients (the controllers) of personal data breaches, \
as GDPR Art. 28(3)(f) and 33(2) require. Staff file one report; breachgate finds the affected \
clients from their agreements, builds and validates each client's notice, signs it, and queues it \
for delivery.\n\nConfiguration: built-in defaults, then --config FILE (TOML), then environment \
variables named BREACHGATE_SECTION__KEY (for example BREACHGATE_SERVER__LISTEN=0.0.0.0:8080)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway. With no config it serves on 127.0.0.1:8080, keeping its
    /// SQLite database and keys under ./data; ./contracts is applied on the
    /// first start (see paths.apply_contracts).
    Serve {
        /// TOML config file; see README.md for every key.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check or load agreement files (contracts/systems.toml,
    /// contracts/subprocessors.toml, contracts/clients/*.toml).
    Contracts {
        #[command(subcommand)]
        action: ContractsAction,
    },
    /// Generate the processor's Ed25519 signing key (refuses to overwrite one).
    Keygen {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Where to write the key; defaults to signing.key_file from the config.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a notice against its detached JWS and a JWKS (file or http(s) URL).
    /// Exits 0 when the signature is valid, 1 otherwise.
    Verify {
        /// JWKS file, or URL such as https://gateway.example/.well-known/jwks.json
        #[arg(long)]
        jwks: String,
        /// The notice exactly as delivered (notice.json).
        notice_json: PathBuf,
        /// The detached compact JWS (notice.jws or the breachgate-notice-jws header).
        notice_jws: PathBuf,
    },
    /// Manage API tokens.
    Tokens {
        #[command(subcommand)]
        action: TokensAction,
    },
    /// Manage the accounts people sign in to the pages with.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Check the hash-chained audit log of who did what.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Copy the SQLite database, consistently, while the gateway runs.
    ///
    /// SQLite's VACUUM INTO on a connection of its own: one read transaction,
    /// so the gateway goes on filing and delivering, and the copy holds every
    /// transaction committed before it started. Keep the copy together with
    /// the signing key and the secrets key. To restore: stop the gateway, put
    /// the copy in place as breachgate.db (deleting any breachgate.db-wal and
    /// -shm beside it) with the two keys, and start it (README.md, Backups).
    Backup {
        /// Where to write the copy: a new file, created with mode 0600 (an
        /// existing file is refused, never overwritten).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// TOML config file; the database is store.url, or breachgate.db in data_dir.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Move the gateway's data between stores.
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
    /// Seal configuration values with the gateway's secrets key.
    Secrets {
        #[command(subcommand)]
        action: SecretsAction,
    },
}

#[derive(Subcommand)]
enum UsersAction {
    /// Create an account and print a one-time link (server.public_url, or
    /// http://LISTEN without it, plus its path) where its holder sets a password; the link expires after
    /// accounts.setup_link_hours. Give it to the person over a trusted channel.
    Create {
        #[arg(long, value_parser = ["staff", "admin", "client"])]
        role: String,
        /// The person's email address, which they sign in with.
        #[arg(long)]
        email: String,
        /// The client a client account (its DPO) speaks for; it must be in
        /// the stored agreements.
        #[arg(long, required_if_eq("role", "client"))]
        client: Option<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SecretsAction {
    /// Read a value (the SMTP password) from standard input and print it
    /// sealed, as enc:v1:..., to put in the config instead of the value.
    /// Reading stdin keeps the value out of the shell history.
    Encrypt {
        /// TOML config file; the key is secrets.key, or secrets.key in data_dir.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum StoreAction {
    /// Copy everything a SQLite store holds (agreements, stored secrets,
    /// tokens, incidents and their versions, notices with their exact bytes
    /// and JWS, deliveries and attempts, acknowledgements, the audit chain,
    /// staff mail, schedule records) into an empty PostgreSQL database, in
    /// one transaction, then verify the copy: row counts per table, the
    /// audit chain on the target, and a sample of notices byte for byte.
    /// Refuses a target that holds any row. Stop the gateway first: what it
    /// writes after the copy began is not copied.
    Copy {
        /// The SQLite store to copy, e.g. sqlite://data/breachgate.db (it
        /// must exist; it is migrated to this version's schema first).
        #[arg(long)]
        from: String,
        /// The PostgreSQL database to fill, e.g.
        /// postgres://breachgate@db.internal/breachgate (it must exist; its
        /// tables are created).
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Walk the audit log's hash chain. Exits 0 when it is intact; otherwise
    /// names the first altered, inserted or missing entry and exits 1.
    Verify {
        /// TOML config file; the log is read from its store (data_dir).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ContractsAction {
    /// Report every problem, with file, line and field. Exits 1 if there are any.
    Check {
        /// The agreements directory.
        dir: PathBuf,
        /// Where agreed notice profiles are looked up.
        #[arg(long, default_value = "schemas")]
        schemas: PathBuf,
    },
    /// Check, then store the agreements, replacing what is stored; prints what
    /// was added, changed and removed. Running it twice changes nothing.
    Apply {
        dir: PathBuf,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokensAction {
    /// Create a token and print it once; only its hash is stored.
    Create {
        #[arg(long, value_parser = ["staff", "admin", "client"])]
        role: String,
        /// Who or what the token is for, recorded with every action it takes.
        #[arg(long)]
        name: String,
        /// The client a client token belongs to (client tokens only); it
        /// must be in the stored agreements.
        #[arg(long, required_if_eq("role", "client"))]
        client: Option<String>,
        /// Refuse the token after this many days.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
        expires_in_days: Option<u32>,
        /// Refuse the token from this time on (RFC 3339, e.g. 2027-01-31T00:00:00Z).
        #[arg(long, conflicts_with = "expires_in_days")]
        expires_at: Option<chrono::DateTime<chrono::FixedOffset>>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// List every token: id, role, status (active, expired, revoked),
    /// client, expiry and name. Never a secret.
    List {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Revoke a token by its id (tok_...): the next request with it gets 401.
    Revoke {
        id: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    match runtime.block_on(execute(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let config = Config::load(path).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let filter =
        tracing_subscriber::EnvFilter::try_new(&config.log.filter).context("invalid log.filter")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(config)
}

/// Ctrl-C, or SIGTERM from a service manager: both stop the gateway gracefully.
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn execute(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { config } => {
            let config = load_config(config.as_deref())?;
            let listener = tokio::net::TcpListener::bind(config.server.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.server.listen))?;
            let shutdown = CancellationToken::new();
            let trigger = shutdown.clone();
            tokio::spawn(async move {
                stop_requested().await;
                trigger.cancel();
            });
            breachgate::run(config, listener, shutdown).await?;
        }
        Command::Contracts {
            action: ContractsAction::Check { dir, schemas },
        } => match breachgate::agreements::check_dir(&dir, &schemas) {
            Ok(snapshot) => println!(
                "{}: ok ({} systems, {} sub-processors, {} clients)",
                dir.display(),
                snapshot.systems.len(),
                snapshot.subprocessors.len(),
                snapshot.clients.len()
            ),
            Err(problems) => {
                for problem in &problems {
                    println!("{}/{problem}", dir.display());
                }
                println!("{} problem(s)", problems.len());
                return Ok(ExitCode::FAILURE);
            }
        },
        Command::Contracts {
            action: ContractsAction::Apply { dir, config },
        } => {
            let config = load_config(config.as_deref())?;
            breachgate::app::create_data_dir(&config)?;
            let store =
                breachgate::store::open(&config.store_url(), &config.store_options()).await?;
            let changes = breachgate::service::agreements::apply_contracts(
                store.as_ref(),
                &dir,
                &config.paths.schemas,
                breachgate::domain::audit::CLI,
                chrono::Utc::now(),
            )
            .await?;
            for (label, items) in [
                ("added", &changes.added),
                ("changed", &changes.changed),
                ("removed", &changes.removed),
            ] {
                for item in items {
                    println!("{label} {item}");
                }
            }
            if changes.is_empty() {
                println!("no changes");
            }
        }
        Command::Keygen { config, out } => {
            let config = load_config(config.as_deref())?;
            let path = out.unwrap_or_else(|| config.key_file());
            let signer = breachgate::signing::Signer::generate();
            signer.write_new(&path)?;
            println!("wrote {} (kid {})", path.display(), signer.kid());
        }
        Command::Verify {
            jwks,
            notice_json,
            notice_jws,
        } => {
            let jwks = read_jwks(&jwks).await?;
            let notice = std::fs::read(&notice_json)
                .with_context(|| format!("cannot read {}", notice_json.display()))?;
            let jws = std::fs::read_to_string(&notice_jws)
                .with_context(|| format!("cannot read {}", notice_jws.display()))?;
            match breachgate::signing::verify_detached(&jwks, &notice, &jws) {
                Ok(kid) => println!("valid: signed by key {kid}"),
                Err(e) => {
                    println!("INVALID: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Tokens { action } => return tokens(action).await,
        Command::Users { action } => return users(action).await,
        Command::Audit {
            action: AuditAction::Verify { config },
        } => {
            let config = load_config(config.as_deref())?;
            let database = config.paths.data_dir.join("breachgate.db");
            if config.store.url.is_empty() && !database.exists() {
                anyhow::bail!("no database at {}", database.display());
            }
            let store =
                breachgate::store::open(&config.store_url(), &config.store_options()).await?;
            let entries = store.audit_log().await?;
            store.close().await;
            match breachgate::domain::audit::verify(&entries) {
                Ok(count) => println!("ok: {count} entries, chain intact"),
                Err(broken) => {
                    println!("{broken}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Backup { to, config } => {
            let config = load_config(config.as_deref())?;
            breachgate::store::backup(&config.store_url(), &to)
                .await
                .context("backup failed")?;
            let secrets_key = if config.secrets.key.is_empty() {
                config.secrets_key_file().display().to_string()
            } else {
                "secrets.key of the configuration".to_owned()
            };
            println!(
                "wrote {}; keep it with the signing key ({}) and the secrets key ({secrets_key})",
                to.display(),
                config.key_file().display(),
            );
        }
        Command::Store {
            action: StoreAction::Copy { from, to },
        } => {
            let options = breachgate::store::StoreOptions::default();
            let report = breachgate::store::copy(&from, &to, &options).await?;
            for (table, rows) in &report.tables {
                println!("{table}: {rows} rows");
            }
            println!(
                "verified: row counts match, audit chain intact ({} entries), \
                 {} notices identical byte for byte",
                report.audit_entries, report.notices_compared
            );
        }
        Command::Secrets {
            action: SecretsAction::Encrypt { config },
        } => {
            let config = load_config(config.as_deref())?;
            breachgate::app::create_data_dir(&config)?;
            let (key, _) =
                SecretsKey::load_or_generate(&config.secrets.key, &config.secrets_key_file())?;
            let mut value = String::new();
            std::io::stdin().read_line(&mut value)?;
            let value = value.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!value.is_empty(), "no value on standard input");
            println!("{}", key.seal(value.as_bytes(), CONFIG_CONTEXT));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn tokens(action: TokensAction) -> anyhow::Result<ExitCode> {
    use breachgate::service::tokens::{self, TokenRequest, TokenStatus};
    let config = match &action {
        TokensAction::Create { config, .. }
        | TokensAction::List { config }
        | TokensAction::Revoke { config, .. } => load_config(config.as_deref())?,
    };
    breachgate::app::create_data_dir(&config)?;
    let store = breachgate::store::open(&config.store_url(), &config.store_options()).await?;
    let now = chrono::Utc::now();
    match action {
        TokensAction::Create {
            role,
            name,
            client,
            expires_in_days,
            expires_at,
            config: _,
        } => {
            let role = Role::parse(&role).context("unknown role")?;
            let client = client
                .map(|c| breachgate::domain::ClientId::parse(&c))
                .transpose()
                .context("--client")?;
            let expires_at = match (expires_in_days, expires_at) {
                (Some(days), _) => Some(now + chrono::Duration::days(days.into())),
                (None, at) => at.map(|at| at.with_timezone(&chrono::Utc)),
            };
            let request = TokenRequest::new(role, &name, client, expires_at, now)?;
            let issued = tokens::create(store.as_ref(), audit::CLI, request, now).await?;
            println!("{}", issued.secret);
        }
        TokensAction::List { config: _ } => {
            println!("ID\tROLE\tSTATUS\tCLIENT\tEXPIRES\tNAME");
            for token in tokens::list(store.as_ref()).await? {
                let status = TokenStatus::of(&token, now);
                let t = &token.token;
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.role.as_str(),
                    status.as_str(),
                    t.client_id.as_ref().map_or("-", |c| c.as_str()),
                    token
                        .expires_at
                        .map_or("-".to_owned(), |at| at.to_rfc3339()),
                    t.name
                );
            }
        }
        TokensAction::Revoke { id, config: _ } => {
            let revocation = tokens::revoke(store.as_ref(), audit::CLI, &id, now)
                .await
                .with_context(|| format!("cannot revoke {id}"))?;
            match revocation.token.revoked_at {
                Some(at) if revocation.earlier => {
                    println!("{id} was already revoked at {}", at.to_rfc3339())
                }
                _ => println!("revoked {id}"),
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn users(action: UsersAction) -> anyhow::Result<ExitCode> {
    use breachgate::service::accounts;
    let UsersAction::Create {
        role,
        email,
        client,
        config,
    } = action;
    let config = load_config(config.as_deref())?;
    breachgate::app::create_data_dir(&config)?;
    let store = breachgate::store::open(&config.store_url(), &config.store_options()).await?;
    let role = Role::parse(&role).context("unknown role")?;
    let client = client
        .map(|c| breachgate::domain::ClientId::parse(&c))
        .transpose()
        .context("--client")?;
    let created = accounts::create_user(
        store.as_ref(),
        audit::CLI,
        role,
        client,
        &email,
        &config.accounts,
        chrono::Utc::now(),
    )
    .await;
    store.close().await;
    let created = created.with_context(|| format!("cannot create an account for {email}"))?;
    println!(
        "{}{}",
        config.server.link_base(),
        accounts::setup_path(&created.setup_secret)
    );
    Ok(ExitCode::SUCCESS)
}

async fn read_jwks(source: &str) -> anyhow::Result<serde_json::Value> {
    let text = if source.starts_with("https://") || source.starts_with("http://") {
        reqwest::get(source)
            .await?
            .error_for_status()?
            .text()
            .await?
    } else {
        std::fs::read_to_string(source).with_context(|| format!("cannot read {source}"))?
    };
    serde_json::from_str(&text).context("the JWKS is not JSON")
}
