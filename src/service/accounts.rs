//! People's accounts: creating a user with a one-time password-setup link,
//! setting the password (argon2id), signing in and out, and resolving a
//! session to the same [`Caller`] an API token resolves to, so pages obey
//! the same role and tenant rules as the API.
//!
//! Link and session secrets are 256 random bits, stored as SHA-256 hashes
//! (like API tokens). Sessions end when signed out, after `idle_minutes`
//! without a request, or `absolute_hours` after sign-in, on the injected
//! clock. Failed sign-ins are counted in the store, per account and per
//! address over `sign_in_window_minutes`, so the limit holds across
//! instances and restarts; recording one forgets those older than the window.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;

use super::tokens::hash;
use super::Services;
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::{Caller, ClientId, Role};
use crate::store::{AccountStore, NewPasswordSetup, NewSession, NewUser, StoreError, User};

/// Shortest password accepted (NIST SP 800-63B asks at least 8; a breach
/// gateway deserves more). Longer ones are capped so hashing stays bounded.
pub const MIN_PASSWORD: usize = 12;
pub const MAX_PASSWORD: usize = 256;

/// The `[accounts]` configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsConfig {
    /// A session unused for this long ends.
    pub session_idle_minutes: u32,
    /// A session ends this long after sign-in, however busy.
    pub session_absolute_hours: u32,
    /// How long a password-setup link stays valid.
    pub setup_link_hours: u32,
    /// Failed sign-ins are counted over this window.
    pub sign_in_window_minutes: u32,
    /// Beyond this many failures in the window, sign-in to that account is refused.
    pub max_failed_per_account: u32,
    /// Beyond this many failures in the window, sign-in from that address is refused.
    pub max_failed_per_address: u32,
}

impl AccountsConfig {
    pub fn check(&self) -> Result<(), String> {
        let values = [
            self.session_idle_minutes,
            self.session_absolute_hours,
            self.setup_link_hours,
            self.sign_in_window_minutes,
            self.max_failed_per_account,
            self.max_failed_per_address,
        ];
        if values.contains(&0) {
            return Err("every accounts.* value must be at least 1".to_owned());
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0:?} is not an email address")]
    BadEmail(String),
    #[error("a client user must name its client")]
    ClientMissing,
    #[error("only a client user names a client")]
    ClientNotAllowed,
    #[error("the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")]
    BadPassword,
    #[error("this link is unknown, used or expired; ask for a new one")]
    LinkSpent,
    #[error("wrong email or password")]
    WrongCredentials,
    #[error("too many failed sign-ins; try again later")]
    TooManyAttempts,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed")]
    Hashing,
    #[error("password hashing stopped")]
    Join(#[from] tokio::task::JoinError),
}

/// A user just created, and the secret of their one-time setup link.
pub struct CreatedUser {
    pub user: User,
    pub setup_secret: String,
}

/// The path of the page where the holder of `setup_secret` sets a password.
pub fn setup_path(setup_secret: &str) -> String {
    format!("/account/setup/{setup_secret}")
}

/// Creates a user (who cannot sign in yet) and their setup link.
pub async fn create_user(
    store: &dyn AccountStore,
    actor: &str,
    role: Role,
    client_id: Option<ClientId>,
    email: &str,
    settings: &AccountsConfig,
    now: DateTime<Utc>,
) -> Result<CreatedUser, AccountError> {
    let email = normalise_email(email)?;
    match (role, &client_id) {
        (Role::Client, None) => return Err(AccountError::ClientMissing),
        (Role::Staff | Role::Admin, Some(_)) => return Err(AccountError::ClientNotAllowed),
        _ => {}
    }
    let user = User {
        id: format!("usr_{}", ulid::Ulid::new()),
        email,
        role,
        client_id,
    };
    let setup_secret = random_secret();
    let setup = NewPasswordSetup {
        token_hash: hash(&setup_secret),
        created_at: now,
        expires_at: now + Duration::hours(settings.setup_link_hours.into()),
    };
    let audit = NewAuditEntry::new(
        now,
        actor,
        "user.created",
        &user.id,
        json!({
            "email": user.email,
            "role": user.role.as_str(),
            "client_id": user.client_id,
        }),
    );
    let new = NewUser {
        user: user.clone(),
        created_at: now,
    };
    store.create_user(&new, &setup, &audit).await?;
    Ok(CreatedUser { user, setup_secret })
}

/// The user a setup link is for, if it can still be used.
pub async fn setup_link_user(
    services: &Services,
    setup_secret: &str,
) -> Result<Option<User>, StoreError> {
    services
        .store
        .password_setup(&hash(setup_secret), services.clock.now())
        .await
}

/// Sets the password of the setup link's user and spends the link; the
/// user's other sessions end.
pub async fn set_password(
    services: &Services,
    setup_secret: &str,
    password: &str,
) -> Result<User, AccountError> {
    let length = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&length) {
        return Err(AccountError::BadPassword);
    }
    let user = setup_link_user(services, setup_secret)
        .await?
        .ok_or(AccountError::LinkSpent)?;
    let password = password.to_owned();
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password)).await??;
    let now = services.clock.now();
    let audit = NewAuditEntry::new(
        now,
        &audit::token_actor(&caller(&user)),
        "user.password_set",
        &user.id,
        json!({}),
    );
    let spent = services
        .store
        .set_password(&hash(setup_secret), &password_hash, now, &audit)
        .await?;
    if spent {
        Ok(user)
    } else {
        Err(AccountError::LinkSpent)
    }
}

/// A signed-in session: who it is, and the token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub caller: Caller,
    pub csrf_token: String,
}

/// A session just opened, and the secret its cookie carries.
pub struct SignedIn {
    pub session: Session,
    pub secret: String,
}

/// Signs `email` in from `address` if the password matches and neither the
/// account nor the address is past its failed sign-in limit.
pub async fn sign_in(
    services: &Services,
    settings: &AccountsConfig,
    email: &str,
    password: &str,
    address: &str,
) -> Result<SignedIn, AccountError> {
    let email = email.trim().to_lowercase();
    let store = services.store.as_ref();
    let now = services.clock.now();
    let since = now - Duration::minutes(settings.sign_in_window_minutes.into());
    let failed = store.failed_sign_ins(&email, address, since).await?;
    if failed.for_email >= u64::from(settings.max_failed_per_account)
        || failed.from_address >= u64::from(settings.max_failed_per_address)
    {
        return Err(AccountError::TooManyAttempts);
    }
    let stored = store.user_by_email(&email).await?;
    // An unknown account is checked against a dummy hash, so the answer
    // takes as long as for a known one and tells nothing of who has one.
    let password_hash = stored
        .as_ref()
        .and_then(|s| s.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let presented = password.to_owned();
    let matches =
        tokio::task::spawn_blocking(move || verify_password(&presented, &password_hash)).await?;
    let user = match stored {
        Some(stored) if matches && stored.password_hash.is_some() => stored.user,
        _ => {
            store
                .record_failed_sign_in(&email, address, now, since)
                .await?;
            return Err(AccountError::WrongCredentials);
        }
    };
    let session = Session {
        id: format!("ses_{}", ulid::Ulid::new()),
        caller: caller(&user),
        csrf_token: random_secret(),
    };
    let secret = random_secret();
    let audit = NewAuditEntry::new(
        now,
        &audit::token_actor(&session.caller),
        "user.signed_in",
        &session.id,
        json!({ "address": address }),
    );
    store
        .create_session(
            &NewSession {
                id: session.id.clone(),
                token_hash: hash(&secret),
                user_id: user.id,
                csrf_token: session.csrf_token.clone(),
                created_at: now,
            },
            &audit,
        )
        .await?;
    Ok(SignedIn { session, secret })
}

/// The session a cookie's `secret` opens, if it is neither signed out nor
/// past a timeout; using it restarts its idle timeout.
pub async fn session(
    services: &Services,
    settings: &AccountsConfig,
    secret: &str,
) -> Result<Option<Session>, StoreError> {
    let Some(stored) = services.store.session(&hash(secret)).await? else {
        return Ok(None);
    };
    let now = services.clock.now();
    let idle = now - stored.last_seen_at >= Duration::minutes(settings.session_idle_minutes.into());
    let old = now - stored.created_at >= Duration::hours(settings.session_absolute_hours.into());
    if idle || old {
        return Ok(None);
    }
    services.store.touch_session(&stored.id, now).await?;
    Ok(Some(Session {
        id: stored.id,
        caller: caller(&stored.user),
        csrf_token: stored.csrf_token,
    }))
}

/// Ends `session`.
pub async fn sign_out(services: &Services, session: &Session) -> Result<(), StoreError> {
    let now = services.clock.now();
    let audit = NewAuditEntry::new(
        now,
        &audit::token_actor(&session.caller),
        "user.signed_out",
        &session.id,
        json!({}),
    );
    services
        .store
        .revoke_session(&session.id, now, &audit)
        .await
}

/// The caller a user acts as: the same shape an API token resolves to.
fn caller(user: &User) -> Caller {
    Caller {
        id: user.id.clone(),
        name: user.email.clone(),
        role: user.role,
        client_id: user.client_id.clone(),
    }
}

fn normalise_email(email: &str) -> Result<String, AccountError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(AccountError::BadEmail(email))
    }
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's
/// minimum recommendation).
fn hash_password(password: &str) -> Result<String, AccountError> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| AccountError::Hashing)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| AccountError::Hashing)
}

fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not anyone's password").expect("hashing works"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let stored = hash_password("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &stored));
        assert!(!verify_password("correct horse batterY", &stored));
    }

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(
            normalise_email(" Ana@Example.ORG ").unwrap(),
            "ana@example.org"
        );
        assert!(normalise_email("ana").is_err());
        assert!(normalise_email("@example.org").is_err());
        assert!(normalise_email("ana@localhost").is_err());
    }
}
