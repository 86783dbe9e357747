//! The rows of people's accounts (users and their sessions), as every
//! backend stores them, and how each becomes a record.

use super::{decode, from_millis, parse_client};
use crate::domain::Role;
use crate::store::{StoreError, StoredSession, StoredUser, User};

#[derive(sqlx::FromRow)]
pub(in crate::store) struct UserRow {
    id: String,
    email: String,
    role: String,
    client_id: Option<String>,
}

impl UserRow {
    pub(in crate::store) fn into_record(self) -> Result<User, StoreError> {
        Ok(User {
            id: self.id,
            email: self.email,
            role: decode("role", &self.role, Role::parse)?,
            client_id: self.client_id.map(parse_client).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct StoredUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct SessionRow {
    session_id: String,
    #[sqlx(flatten)]
    user: UserRow,
    csrf_token: String,
    created_at: i64,
    last_seen_at: i64,
}

impl StoredUserRow {
    pub(in crate::store) fn into_record(self) -> Result<StoredUser, StoreError> {
        Ok(StoredUser {
            user: self.user.into_record()?,
            password_hash: self.password_hash,
        })
    }
}

impl SessionRow {
    pub(in crate::store) fn into_record(self) -> Result<StoredSession, StoreError> {
        Ok(StoredSession {
            id: self.session_id,
            user: self.user.into_record()?,
            csrf_token: self.csrf_token,
            created_at: from_millis(self.created_at)?,
            last_seen_at: from_millis(self.last_seen_at)?,
        })
    }
}
