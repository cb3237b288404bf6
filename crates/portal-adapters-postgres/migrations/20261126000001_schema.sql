-- The Provider Portal schema on PostgreSQL.
--
-- Invariants live here, not only in Rust: unique usernames regardless of
-- case, one account per registrant, states that cannot contradict their
-- columns, and tokens stored only as SHA-256 hashes.

-- The plan's roster. Entries are never deleted: a `--replace` import marks
-- the missing ones inactive, so accounts keep a valid foreign key.
CREATE TABLE roster_entries (
    tax_id            text NOT NULL CHECK (tax_id ~ '^[0-9]{9}$'),
    provider_id       text NOT NULL CHECK (provider_id ~ '^[A-Z0-9]{1,20}$'),
    kind              text NOT NULL CHECK (kind IN ('practitioner', 'group')),
    first_name        text,
    last_name         text,
    group_name        text,
    payee             text CHECK (payee IN ('individual', 'group')),
    -- 5-digit ZIPs and lines of business, each list joined by ';'.
    zips              text NOT NULL CHECK (zips ~ '^[0-9]{5}(;[0-9]{5})*$'),
    lines_of_business text NOT NULL,
    inactive_since    timestamptz,
    PRIMARY KEY (tax_id, provider_id),
    -- A practitioner has first and last names and a payee; a group a name.
    CONSTRAINT roster_entries_identity CHECK (
        (kind = 'practitioner' AND first_name IS NOT NULL AND last_name IS NOT NULL
            AND payee IS NOT NULL AND group_name IS NULL)
        OR (kind = 'group' AND group_name IS NOT NULL AND first_name IS NULL
            AND last_name IS NULL AND payee IS NULL)
    )
);

-- A group's scope lists the active providers under its Tax ID.
CREATE INDEX roster_entries_active_by_tax_id ON roster_entries (tax_id, provider_id)
    WHERE inactive_since IS NULL;

CREATE TABLE accounts (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username              text NOT NULL CHECK (username ~ '^[A-Za-z0-9._@-]{3,64}$'),
    email                 text NOT NULL CHECK (length(email) <= 254),
    password_hash         text NOT NULL,
    provider_kind         text NOT NULL CHECK (provider_kind IN ('practitioner', 'group')),
    tax_id                text NOT NULL,
    provider_id           text NOT NULL,
    -- `p:PROVIDER_ID` or `g:TAX_ID:PROVIDER_ID`: one account per registrant.
    registrant_key        text NOT NULL,
    -- NULL while pending activation.
    activated_at          timestamptz,
    disabled              boolean NOT NULL DEFAULT false,
    failed_logins         integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until          timestamptz,
    agreement_version     text NOT NULL,
    agreement_hash        text NOT NULL,
    agreement_accepted_at timestamptz NOT NULL,
    agreement_client_addr text,
    security_question     smallint NOT NULL CHECK (security_question BETWEEN 1 AND 6),
    security_answer_hash  text NOT NULL,
    created_at            timestamptz NOT NULL,
    last_login_at         timestamptz,
    FOREIGN KEY (tax_id, provider_id) REFERENCES roster_entries (tax_id, provider_id),
    CONSTRAINT accounts_registrant_matches CHECK (
        registrant_key = CASE provider_kind
            WHEN 'practitioner' THEN 'p:' || provider_id
            ELSE 'g:' || tax_id || ':' || provider_id
        END
    )
);

-- Login, resend and reset find usernames case-insensitively; uniqueness
-- follows the same rule. The adapter maps these names to domain errors.
CREATE UNIQUE INDEX accounts_username_unique ON accounts (lower(username));
CREATE UNIQUE INDEX accounts_registrant_unique ON accounts (registrant_key);
CREATE INDEX accounts_pending ON accounts (id) WHERE activated_at IS NULL;

CREATE TABLE registration_flows (
    id                    text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    version               integer NOT NULL CHECK (version >= 0),
    state                 text NOT NULL
        CHECK (state IN ('provider_verified', 'agreement_accepted', 'finished')),
    -- The verified provider, as the roster had it at step 1.
    tax_id                text,
    provider_id           text,
    kind                  text,
    first_name            text,
    last_name             text,
    group_name            text,
    payee                 text,
    zips                  text,
    lines_of_business     text,
    agreement_version     text,
    agreement_hash        text,
    agreement_accepted_at timestamptz,
    agreement_client_addr text,
    expires_at            timestamptz,
    finished_at           timestamptz,
    -- Each state has exactly the columns it needs.
    CONSTRAINT registration_flows_state_columns CHECK (
        (state = 'provider_verified' AND tax_id IS NOT NULL AND expires_at IS NOT NULL
            AND agreement_version IS NULL AND finished_at IS NULL)
        OR (state = 'agreement_accepted' AND tax_id IS NOT NULL AND expires_at IS NOT NULL
            AND agreement_version IS NOT NULL AND finished_at IS NULL)
        OR (state = 'finished' AND finished_at IS NOT NULL AND expires_at IS NULL)
    )
);

CREATE INDEX registration_flows_expiry ON registration_flows (coalesce(expires_at, finished_at));

-- Activation and reset links: the SHA-256 of the token, never the token.
CREATE TABLE link_tokens (
    token_hash        bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    account_id        bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose           text NOT NULL CHECK (purpose IN ('activation', 'password_reset')),
    issued_at         timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL CHECK (expires_at > issued_at),
    used_at           timestamptz,
    superseded_at     timestamptz,
    -- Issued on request (resend, reset): counts toward the hourly email cap.
    counts_toward_cap boolean NOT NULL
);

CREATE INDEX link_tokens_by_account ON link_tokens (account_id, purpose, issued_at);

-- Sessions: the SHA-256 of the session token, never the token.
CREATE TABLE sessions (
    token_hash   bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL CHECK (last_seen_at >= created_at)
);

CREATE INDEX sessions_by_account ON sessions (account_id);

-- `provider_mismatch` answers, for the per-provider proofing limit.
CREATE TABLE proofing_failures (
    tax_id      text NOT NULL,
    provider_id text NOT NULL,
    failed_at   timestamptz NOT NULL
);

CREATE INDEX proofing_failures_by_provider ON proofing_failures (tax_id, provider_id, failed_at);

CREATE TABLE support_checks (
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    checked_at timestamptz NOT NULL,
    matched    boolean NOT NULL
);

CREATE INDEX support_checks_by_account ON support_checks (account_id, checked_at);

-- Audit events outlive the accounts they name: no foreign key, kept until
-- an operator deletes them.
CREATE TABLE audit_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    event       text NOT NULL,
    username    text,
    client_addr text,
    outcome     text NOT NULL
);

CREATE INDEX audit_events_by_time ON audit_events (at, id);
CREATE INDEX audit_events_by_username ON audit_events (lower(username), at);

-- The transactional outbox. `token` holds the link's token until the email
-- is delivered or given up; then it is cleared.
CREATE TABLE email_outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient   text NOT NULL,
    username    text NOT NULL,
    kind        text NOT NULL
        CHECK (kind IN ('activation', 'email_verification', 'password_reset', 'password_changed')),
    token       text,
    status      text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    due_at      timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    finished_at timestamptz,
    last_error  text,
    CONSTRAINT email_outbox_finished CHECK ((status = 'queued') = (finished_at IS NULL)),
    CONSTRAINT email_outbox_token_cleared CHECK (status = 'queued' OR token IS NULL)
);

CREATE INDEX email_outbox_due ON email_outbox (due_at, id) WHERE status = 'queued';
CREATE INDEX email_outbox_by_username ON email_outbox (lower(username)) WHERE status = 'queued';
