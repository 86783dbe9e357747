-- The worker claims webhooks and emails separately; with the channel in the
-- index a claim for one channel no longer walks every pending delivery of
-- the other (all of them, when a report has no email recipients).
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (status, channel, next_attempt_at);
-- The claim counts each endpoint's leased deliveries (its in-flight ones).
CREATE INDEX deliveries_leased ON deliveries (client_id, target, lease_until)
    WHERE status = 'pending' AND lease_until IS NOT NULL;
