use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::audit::append_audit_in;
use super::{serialise, PostgresStore, Serialised};
use crate::agreements::model::STORED_SECRET;
use crate::agreements::{AgreementDoc, AppliedChanges};
use crate::domain::audit::NewAuditEntry;
use crate::domain::{ClientId, WebhookId};
use crate::store::shared::rows::{AgreementDigestRow, AgreementDocRow, SecretRow};
use crate::store::shared::{diff_agreements, disabled_by, millis, DocKey};
use crate::store::{
    AgreementChange, AgreementStore, AgreementsVersion, ClientListing, NewWebhookSecret,
    SecretRotation, StoreError, StoredSecret,
};

#[async_trait]
impl AgreementStore for PostgresStore {
    async fn apply_agreements(&self, docs: &[AgreementDoc]) -> Result<AppliedChanges, StoreError> {
        let mut tx = self.pool.begin().await?;
        let changes = apply_docs_in(&mut tx, None, docs).await?;
        tx.commit().await?;
        Ok(changes)
    }

    async fn agreements(&self) -> Result<Vec<AgreementDoc>, StoreError> {
        let rows: Vec<AgreementDocRow> =
            sqlx::query_as("SELECT kind, id, body FROM agreement_docs ORDER BY kind, id")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(AgreementDocRow::into_record).collect()
    }

    async fn has_agreements(&self) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM agreement_docs)")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn change_agreements(
        &self,
        change: &AgreementChange,
    ) -> Result<AppliedChanges, StoreError> {
        let mut tx = self.pool.begin().await?;
        let changes = apply_docs_in(&mut tx, Some(&change.made_from), &change.docs).await?;
        for secret in &change.new_secrets {
            insert_secret_in(&mut tx, secret).await?;
        }
        append_audit_in(&mut tx, &change.audit).await?;
        tx.commit().await?;
        Ok(changes)
    }

    async fn webhook_secrets(
        &self,
        client_id: &ClientId,
        webhook_id: &WebhookId,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredSecret>, StoreError> {
        let rows: Vec<SecretRow> = sqlx::query_as(
            "SELECT version, sealed, key_id, created_at, expires_at FROM webhook_secrets
             WHERE client_id = $1 AND webhook_id = $2 AND (expires_at IS NULL OR expires_at > $3)
             ORDER BY version",
        )
        .bind(client_id.as_str())
        .bind(webhook_id.as_str())
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(SecretRow::into_record).collect()
    }

    async fn rotate_webhook_secret(&self, rotation: &SecretRotation) -> Result<u32, StoreError> {
        let secret = &rotation.secret;
        let mut tx = self.pool.begin().await?;
        serialise(&mut tx, Serialised::Agreements).await?;
        sqlx::query(
            "UPDATE webhook_secrets SET expires_at = $1
             WHERE client_id = $2 AND webhook_id = $3 AND (expires_at IS NULL OR expires_at > $1)",
        )
        .bind(millis(rotation.overlap_until))
        .bind(secret.client_id.as_str())
        .bind(secret.webhook_id.as_str())
        .execute(&mut *tx)
        .await?;
        let version = insert_secret_in(&mut tx, secret).await?;
        append_audit_in(&mut tx, &rotation.audit).await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn set_target_enabled(
        &self,
        client_id: &ClientId,
        target: &str,
        enabled: bool,
        now: DateTime<Utc>,
        audit: &NewAuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        serialise(&mut tx, Serialised::Agreements).await?;
        if enabled {
            sqlx::query("DELETE FROM disabled_endpoints WHERE client_id = $1 AND target = $2")
                .bind(client_id.as_str())
                .bind(target)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE deliveries SET status = 'pending', failures = 0, next_attempt_at = $3, lease_until = NULL
                 WHERE client_id = $1 AND target = $2 AND status = 'disabled'",
            )
            .bind(client_id.as_str())
            .bind(target)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO disabled_endpoints (client_id, target, disabled_at, reason)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(client_id.as_str())
            .bind(target)
            .bind(millis(now))
            .bind(disabled_by(&audit.actor))
            .execute(&mut *tx)
            .await?;
        }
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn disabled_targets(&self, client_id: &ClientId) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT target FROM disabled_endpoints WHERE client_id = $1 ORDER BY target",
        )
        .bind(client_id.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    async fn clients_page(
        &self,
        search: &str,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Vec<ClientListing>, StoreError> {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT id, body::jsonb ->> 'name', body::jsonb ->> 'country',
                    body::jsonb ->> 'language'
             FROM agreement_docs
             WHERE kind = 'client' AND id > $1
               AND ($2 = '' OR strpos(lower(id), $2) > 0
                    OR strpos(lower(body::jsonb ->> 'name'), $2) > 0)
             ORDER BY id LIMIT $3",
        )
        .bind(after.map_or("", ClientId::as_str))
        .bind(search.to_ascii_lowercase())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, country, language)| ClientListing {
                id,
                name,
                country,
                language,
            })
            .collect())
    }
}

/// Stores `secret` as its endpoint's next version, which it answers. The
/// caller holds the agreements' lock, so no other instance numbers one
/// meanwhile.
async fn insert_secret_in(
    conn: &mut PgConnection,
    secret: &NewWebhookSecret,
) -> Result<u32, StoreError> {
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_secrets (client_id, webhook_id, version, sealed, key_id, created_at)
         SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4, $5 FROM webhook_secrets
         WHERE client_id = $1 AND webhook_id = $2
         RETURNING version",
    )
    .bind(secret.client_id.as_str())
    .bind(secret.webhook_id.as_str())
    .bind(&secret.sealed)
    .bind(&secret.key_id)
    .bind(millis(secret.created_at))
    .fetch_one(&mut *conn)
    .await?;
    Ok(version as u32)
}

/// Replaces the stored agreements with `docs` within `conn`'s transaction,
/// reporting what changed; refuses `docs` made from another version than
/// the stored one. Takes the agreements' lock first, so changes made on
/// several instances at once apply one after the other, each compared with
/// the one before.
async fn apply_docs_in(
    conn: &mut PgConnection,
    made_from: Option<&AgreementsVersion>,
    docs: &[AgreementDoc],
) -> Result<AppliedChanges, StoreError> {
    serialise(conn, Serialised::Agreements).await?;
    let stored: Vec<AgreementDigestRow> =
        sqlx::query_as("SELECT kind, id, digest FROM agreement_docs")
            .fetch_all(&mut *conn)
            .await?;
    let stored: HashMap<DocKey, String> = stored
        .into_iter()
        .map(|row| ((row.kind, row.id), row.digest))
        .collect();
    let now = millis(Utc::now());
    let diff = diff_agreements(&stored, made_from, docs)?;
    for (doc, digest) in &diff.upserts {
        sqlx::query(
            "INSERT INTO agreement_docs (kind, id, body, digest, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, digest = excluded.digest,
             updated_at = excluded.updated_at",
        )
        .bind(doc.kind.as_str())
        .bind(&doc.id)
        .bind(doc.body.get())
        .bind(digest)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let (kinds, ids): (Vec<&str>, Vec<&str>) = diff
        .removals
        .iter()
        .map(|(kind, id)| (kind.as_str(), id.as_str()))
        .unzip();
    sqlx::query(
        "DELETE FROM agreement_docs a USING UNNEST($1::text[], $2::text[]) AS r (kind, id)
         WHERE a.kind = r.kind AND a.id = r.id",
    )
    .bind(&kinds)
    .bind(&ids)
    .execute(&mut *conn)
    .await?;
    // Secrets of endpoints that no longer keep a stored secret go with them.
    sqlx::query(
        "DELETE FROM webhook_secrets s WHERE NOT EXISTS (
             SELECT 1 FROM agreement_docs a,
                  jsonb_array_elements(COALESCE(a.body::jsonb #> '{delivery,webhooks}', '[]')) w
             WHERE a.kind = 'client' AND a.id = s.client_id
               AND w ->> 'id' = s.webhook_id AND w ->> 'secret' = $1)",
    )
    .bind(STORED_SECRET)
    .execute(&mut *conn)
    .await?;
    // So do the tokens of clients no longer in the agreements; their notices
    // stay in the register.
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE role = 'client' AND revoked_at IS NULL
           AND client_id NOT IN (SELECT id FROM agreement_docs WHERE kind = 'client')",
    )
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(diff.changes)
}
