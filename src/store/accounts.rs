//! People's accounts for the pages: users, their one-time password-setup
//! links, their sessions and failed sign-ins. Secrets (link and session
//! tokens) are stored as SHA-256 hashes only; passwords as argon2id hashes
//! made by the service.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::audit::NewAuditEntry;
use crate::domain::{ClientId, Role};

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Stores `user`, its first password-setup link and `audit` in one
    /// transaction. Refused with [`StoreError::AccountExists`] when the email
    /// is taken and [`StoreError::UnknownClient`] when a client user's client
    /// is not in the stored agreements; then nothing is stored.
    async fn create_user(
        &self,
        user: &NewUser,
        setup: &NewPasswordSetup,
        audit: &NewAuditEntry,
    ) -> Result<(), StoreError>;
    async fn user_by_email(&self, email: &str) -> Result<Option<StoredUser>, StoreError>;
    /// The user whose setup link hashes to `token_hash`, if the link is
    /// unused and not expired at `now`.
    async fn password_setup(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;
    /// Spends the setup link `token_hash` if it is still unused and not
    /// expired at `at`: sets its user's password hash, revokes the user's
    /// sessions and appends `audit`, in one transaction. Answers whether the
    /// link was spent by this call.
    async fn set_password(
        &self,
        token_hash: &[u8; 32],
        password_hash: &str,
        at: DateTime<Utc>,
        audit: &NewAuditEntry,
    ) -> Result<bool, StoreError>;
    async fn create_session(
        &self,
        session: &NewSession,
        audit: &NewAuditEntry,
    ) -> Result<(), StoreError>;
    /// The unrevoked session whose secret hashes to `token_hash`; its
    /// timeouts are for the caller to judge.
    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<StoredSession>, StoreError>;
    /// Records that session `id` was used at `at` (its idle timeout restarts).
    async fn touch_session(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Revokes session `id` with `audit` in one transaction.
    async fn revoke_session(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &NewAuditEntry,
    ) -> Result<(), StoreError>;
    /// Records a failed sign-in at `at`, and forgets those before
    /// `forget_before`, which no window counts any more: the table holds one
    /// window's failures, however long the gateway runs.
    async fn record_failed_sign_in(
        &self,
        email: &str,
        address: &str,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Failed sign-ins since `since`: for `email`, and from `address`.
    async fn failed_sign_ins(
        &self,
        email: &str,
        address: &str,
        since: DateTime<Utc>,
    ) -> Result<FailedSignIns, StoreError>;
}

/// A person who signs in: staff, a contract admin, or a client's DPO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// The client a client user speaks for; none for staff and admins.
    pub client_id: Option<ClientId>,
}

pub struct NewUser {
    pub user: User,
    pub created_at: DateTime<Utc>,
}

pub struct StoredUser {
    pub user: User,
    /// None until the user sets a password through a setup link.
    pub password_hash: Option<String>,
}

pub struct NewPasswordSetup {
    pub token_hash: [u8; 32],
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub struct NewSession {
    pub id: String,
    pub token_hash: [u8; 32],
    pub user_id: String,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
}

pub struct StoredSession {
    pub id: String,
    pub user: User,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedSignIns {
    pub for_email: u64,
    pub from_address: u64,
}
