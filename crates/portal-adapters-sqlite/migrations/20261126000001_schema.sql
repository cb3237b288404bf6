-- The Provider Portal schema on SQLite (the embedded default).
--
-- The same tables and invariants as on PostgreSQL. Times are INTEGER
-- microseconds since the Unix epoch (UTC), so that comparisons are exact;
-- token hashes are 32-byte BLOBs. STRICT tables refuse values of the wrong
-- type.

CREATE TABLE roster_entries (
    tax_id            TEXT NOT NULL CHECK (length(tax_id) = 9 AND tax_id NOT GLOB '*[^0-9]*'),
    provider_id       TEXT NOT NULL
        CHECK (length(provider_id) BETWEEN 1 AND 20 AND provider_id NOT GLOB '*[^A-Z0-9]*'),
    kind              TEXT NOT NULL CHECK (kind IN ('practitioner', 'group')),
    first_name        TEXT,
    last_name         TEXT,
    group_name        TEXT,
    payee             TEXT CHECK (payee IN ('individual', 'group')),
    -- 5-digit ZIPs and lines of business, each list joined by ';'.
    zips              TEXT NOT NULL CHECK (zips <> '' AND zips NOT GLOB '*[^0-9;]*'),
    lines_of_business TEXT NOT NULL,
    inactive_since    INTEGER,
    PRIMARY KEY (tax_id, provider_id),
    -- A practitioner has first and last names and a payee; a group a name.
    CONSTRAINT roster_entries_identity CHECK (
        (kind = 'practitioner' AND first_name IS NOT NULL AND last_name IS NOT NULL
            AND payee IS NOT NULL AND group_name IS NULL)
        OR (kind = 'group' AND group_name IS NOT NULL AND first_name IS NULL
            AND last_name IS NULL AND payee IS NULL)
    )
) STRICT, WITHOUT ROWID;

CREATE TABLE accounts (
    id                    INTEGER PRIMARY KEY,
    username              TEXT NOT NULL
        CHECK (length(username) BETWEEN 3 AND 64 AND username NOT GLOB '*[^A-Za-z0-9._@-]*'),
    email                 TEXT NOT NULL CHECK (length(email) <= 254),
    password_hash         TEXT NOT NULL,
    provider_kind         TEXT NOT NULL CHECK (provider_kind IN ('practitioner', 'group')),
    tax_id                TEXT NOT NULL,
    provider_id           TEXT NOT NULL,
    -- `p:PROVIDER_ID` or `g:TAX_ID:PROVIDER_ID`: one account per registrant.
    registrant_key        TEXT NOT NULL,
    -- NULL while pending activation.
    activated_at          INTEGER,
    disabled              INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    failed_logins         INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until          INTEGER,
    agreement_version     TEXT NOT NULL,
    agreement_hash        TEXT NOT NULL,
    agreement_accepted_at INTEGER NOT NULL,
    agreement_client_addr TEXT,
    security_question     INTEGER NOT NULL CHECK (security_question BETWEEN 1 AND 6),
    security_answer_hash  TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    last_login_at         INTEGER,
    FOREIGN KEY (tax_id, provider_id) REFERENCES roster_entries (tax_id, provider_id),
    CONSTRAINT accounts_registrant_matches CHECK (
        registrant_key = CASE provider_kind
            WHEN 'practitioner' THEN 'p:' || provider_id
            ELSE 'g:' || tax_id || ':' || provider_id
        END
    )
) STRICT;

-- Usernames are unique and found case-insensitively (they are ASCII, so
-- lower() is exact). The adapter maps these names to domain errors.
CREATE UNIQUE INDEX accounts_username_unique ON accounts (lower(username));
CREATE UNIQUE INDEX accounts_registrant_unique ON accounts (registrant_key);

CREATE TABLE registration_flows (
    id                    TEXT PRIMARY KEY CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),
    version               INTEGER NOT NULL CHECK (version >= 0),
    state                 TEXT NOT NULL
        CHECK (state IN ('provider_verified', 'agreement_accepted', 'finished')),
    -- The verified provider, as the roster had it at step 1.
    tax_id                TEXT,
    provider_id           TEXT,
    kind                  TEXT,
    first_name            TEXT,
    last_name             TEXT,
    group_name            TEXT,
    payee                 TEXT,
    zips                  TEXT,
    lines_of_business     TEXT,
    agreement_version     TEXT,
    agreement_hash        TEXT,
    agreement_accepted_at INTEGER,
    agreement_client_addr TEXT,
    expires_at            INTEGER,
    finished_at           INTEGER,
    -- Each state has exactly the columns it needs.
    CONSTRAINT registration_flows_state_columns CHECK (
        (state = 'provider_verified' AND tax_id IS NOT NULL AND expires_at IS NOT NULL
            AND agreement_version IS NULL AND finished_at IS NULL)
        OR (state = 'agreement_accepted' AND tax_id IS NOT NULL AND expires_at IS NOT NULL
            AND agreement_version IS NOT NULL AND finished_at IS NULL)
        OR (state = 'finished' AND finished_at IS NOT NULL AND expires_at IS NULL)
    )
) STRICT, WITHOUT ROWID;

-- Activation and reset links: the SHA-256 of the token, never the token.
CREATE TABLE link_tokens (
    token_hash        BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    account_id        INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose           TEXT NOT NULL CHECK (purpose IN ('activation', 'password_reset')),
    issued_at         INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL CHECK (expires_at > issued_at),
    used_at           INTEGER,
    superseded_at     INTEGER,
    -- Issued on request (resend, reset): counts toward the hourly email cap.
    counts_toward_cap INTEGER NOT NULL CHECK (counts_toward_cap IN (0, 1))
) STRICT, WITHOUT ROWID;

CREATE INDEX link_tokens_by_account ON link_tokens (account_id, purpose, issued_at);

-- Sessions: the SHA-256 of the session token, never the token.
CREATE TABLE sessions (
    token_hash   BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL CHECK (last_seen_at >= created_at)
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_by_account ON sessions (account_id);

-- `provider_mismatch` answers, for the per-provider proofing limit.
CREATE TABLE proofing_failures (
    tax_id      TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    failed_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX proofing_failures_by_provider ON proofing_failures (tax_id, provider_id, failed_at);

CREATE TABLE support_checks (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    checked_at INTEGER NOT NULL,
    matched    INTEGER NOT NULL CHECK (matched IN (0, 1))
) STRICT;

CREATE INDEX support_checks_by_account ON support_checks (account_id, checked_at);

-- Audit events outlive the accounts they name: no foreign key, kept until
-- an operator deletes them.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    event       TEXT NOT NULL,
    username    TEXT,
    client_addr TEXT,
    outcome     TEXT NOT NULL
) STRICT;

CREATE INDEX audit_events_by_time ON audit_events (at, id);
CREATE INDEX audit_events_by_username ON audit_events (lower(username), at);

-- The transactional outbox. `token` holds the link's token until the email
-- is delivered or given up; then it is cleared.
CREATE TABLE email_outbox (
    id          INTEGER PRIMARY KEY,
    recipient   TEXT NOT NULL,
    username    TEXT NOT NULL,
    kind        TEXT NOT NULL
        CHECK (kind IN ('activation', 'email_verification', 'password_reset', 'password_changed')),
    token       TEXT,
    status      TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    due_at      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER,
    last_error  TEXT,
    CONSTRAINT email_outbox_finished CHECK ((status = 'queued') = (finished_at IS NULL)),
    CONSTRAINT email_outbox_token_cleared CHECK (status = 'queued' OR token IS NULL)
) STRICT;

CREATE INDEX email_outbox_due ON email_outbox (due_at, id) WHERE status = 'queued';
CREATE INDEX email_outbox_by_username ON email_outbox (lower(username)) WHERE status = 'queued';
