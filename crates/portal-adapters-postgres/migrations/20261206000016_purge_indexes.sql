-- Indexes for the purge (SPEC §3, run every 30 s), found by
-- `cargo xtask bench scale`: without them the statements that delete
-- expired sessions and sent emails read the whole table at every run,
-- which at 1,000,000 accounts is 100,000 sessions and 100,000 emails.
-- Each is a range over the rows due, so a run reads what it deletes.
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);
CREATE INDEX sessions_by_created ON sessions (created_at);
CREATE INDEX email_outbox_sent ON email_outbox (finished_at) WHERE status = 'sent';
