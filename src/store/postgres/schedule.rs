//! The scheduled jobs' statements on PostgreSQL: every backend's but for the
//! escalations' JSON and the staff mail's claim, which skips the mails
//! another instance is claiming and orders by `seq`.

crate::store::shared::schedule_store! {
    store: super::PostgresStore,
    escalated: "COALESCE((SELECT json_agg(e.threshold) FROM deadline_escalations e
                          WHERE e.notice_id = n.id), '[]')::text",
    claim_staff_mail: "UPDATE staff_mail SET lease_until = $1
         WHERE id IN (SELECT id FROM staff_mail
                      WHERE sent_at IS NULL AND (lease_until IS NULL OR lease_until <= $2)
                      ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING seq AS rowid, id, recipient, subject, body",
}
