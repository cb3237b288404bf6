-- Email change links (SPEC §4a): a purpose of link_tokens, so that they are
-- single use, superseded by a newer one, counted toward the per-account
-- email cap and purged like every other link. The address a link sets
-- waits with it, and only an email change link holds one. SQLite cannot
-- change a CHECK constraint, so the table is rebuilt with its indexes (those
-- of every migration before this one); nothing references it.
CREATE TABLE link_tokens_new (
    token_hash        BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    account_id        INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose           TEXT NOT NULL CHECK (purpose IN ('activation', 'password_reset', 'email_change')),
    issued_at         INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL CHECK (expires_at > issued_at),
    used_at           INTEGER,
    superseded_at     INTEGER,
    -- Issued on request (resend, reset, email change): counts toward the
    -- hourly email cap.
    counts_toward_cap INTEGER NOT NULL CHECK (counts_toward_cap IN (0, 1)),
    refusals          INTEGER NOT NULL DEFAULT 0 CHECK (refusals >= 0),
    new_email         TEXT,
    CHECK ((purpose = 'email_change') = (new_email IS NOT NULL))
) STRICT, WITHOUT ROWID;

INSERT INTO link_tokens_new
    (token_hash, account_id, purpose, issued_at, expires_at, used_at, superseded_at, counts_toward_cap, refusals)
SELECT token_hash, account_id, purpose, issued_at, expires_at, used_at, superseded_at, counts_toward_cap, refusals
FROM link_tokens;

DROP TABLE link_tokens;
ALTER TABLE link_tokens_new RENAME TO link_tokens;

CREATE INDEX link_tokens_by_account ON link_tokens (account_id, purpose, issued_at);
CREATE INDEX link_tokens_by_issued ON link_tokens (issued_at);
