//! The scheduled jobs' statements on SQLite: every backend's but for the
//! escalations' JSON and the staff mail's claim, in `rowid` order.

crate::store::shared::schedule_store! {
    store: super::SqliteStore,
    escalated: "(SELECT json_group_array(e.threshold) FROM deadline_escalations e
                 WHERE e.notice_id = n.id)",
    claim_staff_mail: "UPDATE staff_mail SET lease_until = $1
         WHERE id IN (SELECT id FROM staff_mail
                      WHERE sent_at IS NULL AND (lease_until IS NULL OR lease_until <= $2)
                      ORDER BY rowid LIMIT $3)
         RETURNING rowid, id, recipient, subject, body",
}
