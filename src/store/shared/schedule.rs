//! The statements of the scheduled jobs (deadline escalations, update
//! reminders) and of the staff mail they write, for every backend (see
//! [`super::dialect`]).

/// Implements `ScheduleStore` for `$store`, and defines `insert_staff_mail`
/// beside it. A backend gives the two statements that are its own:
/// `escalated`, the JSON array of the thresholds a notice `n` was escalated
/// at, and `claim_staff_mail`, which leases up to `$3` unsent mails whose
/// lease ended by `$2` until `$1`, returning them with their `rowid`.
macro_rules! schedule_store {
    (
        store: $store:ty,
        escalated: $escalated:literal,
        claim_staff_mail: $claim_staff_mail:literal $(,)?
    ) => {
        const _: () = {
            use chrono::{DateTime, Duration, Utc};

            use $crate::domain::NoticeType;
            use $crate::store::shared::dialect::Dialect;
            use $crate::store::shared::millis;
            use $crate::store::shared::queue_rows::{
                LatestNoticeRow, StaffMailRow, UndeliveredRow,
            };
            use $crate::store::{
                LatestNotice, NewEscalation, NewUpdateReminder, ScheduleStore, StaffMail,
                StoreError, UndeliveredNotice, DEADLINE_PASSED,
            };

            // Escalations and reminders are recorded once by their primary
            // keys: when instances run the same job at once, the second
            // insert waits for the first to commit and then inserts nothing,
            // so it writes no mail either.
            #[async_trait::async_trait]
            impl ScheduleStore for $store {
                async fn undelivered_initial_notices(
                    &self,
                ) -> Result<Vec<UndeliveredNotice>, StoreError> {
                    let rows: Vec<UndeliveredRow> = sqlx::query_as(concat!(
                        "SELECT n.id, n.incident_id, i.reference, n.client_id, n.status, i.became_aware_at,
                                n.notify_by, ",
                        $escalated,
                        " AS escalated
                         FROM notices n JOIN incidents i ON i.id = n.incident_id
                         WHERE i.status = 'open' AND n.kind = $1
                           -- The client's first initial notice stands for the client: a
                           -- held one may be followed by a new initial after an update.
                           AND n.position = (SELECT MIN(f.position) FROM notices f
                                             WHERE f.incident_id = n.incident_id AND f.client_id = n.client_id)
                           -- Nothing about this incident has reached the client yet.
                           AND NOT EXISTS (SELECT 1 FROM notices m JOIN deliveries d ON d.notice_id = m.id
                                           WHERE m.incident_id = n.incident_id AND m.client_id = n.client_id
                                             AND d.status = 'delivered')
                           AND NOT EXISTS (SELECT 1 FROM deadline_escalations e
                                           WHERE e.notice_id = n.id AND e.threshold = $2)
                         ORDER BY n.notify_by, n.id",
                    ))
                    .bind(NoticeType::Initial.as_str())
                    .bind(DEADLINE_PASSED)
                    .fetch_all(self.pool())
                    .await?;
                    rows.into_iter().map(UndeliveredRow::into_record).collect()
                }

                async fn record_escalations(
                    &self,
                    escalations: &[NewEscalation],
                ) -> Result<Vec<bool>, StoreError> {
                    let mut tx = self.pool().begin().await?;
                    let mut recorded = Vec::with_capacity(escalations.len());
                    for escalation in escalations {
                        let inserted = sqlx::query(
                            "INSERT INTO deadline_escalations (notice_id, threshold, escalated_at, mail_id)
                             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        )
                        .bind(&escalation.notice_id)
                        .bind(&escalation.threshold)
                        .bind(millis(escalation.at))
                        .bind(escalation.mail.as_ref().map(|m| &m.id))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                            == 1;
                        if let (true, Some(mail)) = (inserted, &escalation.mail) {
                            insert_staff_mail(&mut tx, mail, escalation.at).await?;
                        }
                        recorded.push(inserted);
                    }
                    tx.commit().await?;
                    Ok(recorded)
                }

                async fn latest_notices_unreminded(
                    &self,
                ) -> Result<Vec<LatestNotice>, StoreError> {
                    let rows: Vec<LatestNoticeRow> = sqlx::query_as(
                        "SELECT n.id, n.incident_id, i.reference, n.client_id, n.sequence, n.created_at
                         FROM notices n JOIN incidents i ON i.id = n.incident_id
                         WHERE i.status = 'open' AND n.status <> 'held'
                           -- A client whose notice was withdrawn is owed nothing more.
                           AND n.kind <> $1
                           AND n.position = (SELECT MAX(m.position) FROM notices m
                                             WHERE m.incident_id = n.incident_id AND m.client_id = n.client_id
                                               AND m.status <> 'held')
                           AND NOT EXISTS (SELECT 1 FROM update_reminders r
                                           WHERE r.incident_id = n.incident_id AND r.client_id = n.client_id
                                             AND r.notice_id = n.id)
                         ORDER BY n.created_at, n.id",
                    )
                    .bind(NoticeType::Retraction.as_str())
                    .fetch_all(self.pool())
                    .await?;
                    rows.into_iter().map(LatestNoticeRow::into_record).collect()
                }

                async fn record_update_reminders(
                    &self,
                    reminders: &[NewUpdateReminder],
                ) -> Result<Vec<bool>, StoreError> {
                    let mut tx = self.pool().begin().await?;
                    let mut recorded = Vec::with_capacity(reminders.len());
                    for reminder in reminders {
                        let inserted = sqlx::query(
                            "INSERT INTO update_reminders (incident_id, client_id, notice_id, reminded_at, mail_id)
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                        )
                        .bind(&reminder.incident_id)
                        .bind(reminder.client_id.as_str())
                        .bind(&reminder.notice_id)
                        .bind(millis(reminder.at))
                        .bind(&reminder.mail.id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                            == 1;
                        if inserted {
                            insert_staff_mail(&mut tx, &reminder.mail, reminder.at).await?;
                        }
                        recorded.push(inserted);
                    }
                    tx.commit().await?;
                    Ok(recorded)
                }

                async fn claim_staff_mail(
                    &self,
                    now: DateTime<Utc>,
                    lease: Duration,
                    limit: usize,
                ) -> Result<Vec<StaffMail>, StoreError> {
                    let mut claimed: Vec<StaffMailRow> = sqlx::query_as($claim_staff_mail)
                        .bind(millis(now + lease))
                        .bind(millis(now))
                        .bind(limit as i64)
                        .fetch_all(self.pool())
                        .await?;
                    // RETURNING gives no order; send in the order written.
                    claimed.sort_by_key(|row| row.rowid);
                    Ok(claimed.into_iter().map(StaffMail::from).collect())
                }

                async fn staff_mail_sent(
                    &self,
                    id: &str,
                    at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE staff_mail SET sent_at = $1, lease_until = NULL, attempts = attempts + 1,
                         last_error = NULL WHERE id = $2",
                    )
                    .bind(millis(at))
                    .bind(id)
                    .execute(self.pool())
                    .await?;
                    Ok(())
                }

                async fn staff_mail_failed(
                    &self,
                    id: &str,
                    error: &str,
                    retry_at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE staff_mail SET lease_until = $1, attempts = attempts + 1, last_error = $2
                         WHERE id = $3",
                    )
                    .bind(millis(retry_at))
                    .bind(error)
                    .bind(id)
                    .execute(self.pool())
                    .await?;
                    Ok(())
                }

                async fn staff_mail_backlog(&self) -> Result<u64, StoreError> {
                    // The partial index `staff_mail_unsent` holds exactly these
                    // rows.
                    let unsent: i64 =
                        sqlx::query_scalar("SELECT count(*) FROM staff_mail WHERE sent_at IS NULL")
                            .fetch_one(self.pool())
                            .await?;
                    Ok(unsent.try_into().unwrap_or_default())
                }
            }
        };

        /// Writes one staff email to the outbox within the caller's transaction.
        pub(super) async fn insert_staff_mail(
            conn: &mut $crate::store::shared::dialect::Connection<$store>,
            mail: &$crate::store::NewStaffMail,
            at: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query(
                "INSERT INTO staff_mail (id, recipient, subject, body, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&mail.id)
            .bind(&mail.recipient)
            .bind(&mail.subject)
            .bind(&mail.body)
            .bind($crate::store::shared::millis(at))
            .execute(&mut *conn)
            .await?;
            Ok(())
        }
    };
}
pub(in crate::store) use schedule_store;
