-- Indexes for the purge (SPEC §3, run every 30 s), found by
-- `cargo xtask bench scale`: without them the statements that delete
-- stale pending accounts, expired flows and sent emails read the whole
-- table at every run, which at 1,000,000 accounts is the million accounts
-- (under the write lock) and 100,000 emails. Each is a range over the rows
-- due, so a run reads what it deletes. The first two are those PostgreSQL
-- has had from its first migration. (SQLite's planner does not use
-- indexes on sessions for the purge's `last_seen_at <= ?1 OR created_at
-- <= ?2`: it reads the sessions table, which holds live sessions only.)
CREATE INDEX accounts_pending ON accounts (id) WHERE activated_at IS NULL;
CREATE INDEX registration_flows_expiry ON registration_flows (coalesce(expires_at, finished_at));
CREATE INDEX email_outbox_sent ON email_outbox (finished_at) WHERE status = 'sent';
