-- The outbox's claims, links and kinds (SPEC §9: a queued email is dropped
-- only when it has lost its use). SQLite cannot drop a CHECK constraint, so
-- the table is rebuilt; nothing references it.

-- `claims`: every claim of a row increments it; a mark names the claim it
-- belongs to (`WHERE claims = ?n`), so a worker whose lease ran out changes
-- nothing once another worker has claimed the row again.
-- `link_expires_at`: when the link the email carries expires; NULL when it
-- carries none.
-- `kind` is checked only for being named: during a rolling deploy a newer
-- build queues kinds an older one does not know, and the older one leaves
-- those rows queued (it claims only the kinds it knows).
CREATE TABLE email_outbox_new (
    id              INTEGER PRIMARY KEY,
    recipient       TEXT NOT NULL,
    username        TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind <> ''),
    token           TEXT,
    status          TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    due_at          INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    last_error      TEXT,
    claims          INTEGER NOT NULL DEFAULT 0 CHECK (claims >= 0),
    link_expires_at INTEGER,
    CONSTRAINT email_outbox_finished CHECK ((status = 'queued') = (finished_at IS NULL)),
    CONSTRAINT email_outbox_token_cleared CHECK (status = 'queued' OR token IS NULL)
) STRICT;

-- Emails already queued take the expiry of the token issued with them (same
-- account, purpose and instant); one without a match keeps NULL and is never
-- dropped for its link.
INSERT INTO email_outbox_new
    (id, recipient, username, kind, token, status, attempts, due_at, created_at, finished_at, last_error,
     link_expires_at)
SELECT o.id, o.recipient, o.username, o.kind, o.token, o.status, o.attempts, o.due_at, o.created_at,
       o.finished_at, o.last_error,
       CASE WHEN o.status = 'queued' AND o.kind IN ('activation', 'password_reset') THEN (
           SELECT max(t.expires_at) FROM link_tokens t JOIN accounts a ON a.id = t.account_id
           WHERE lower(a.username) = lower(o.username) AND t.purpose = o.kind AND t.issued_at = o.created_at)
       END
FROM email_outbox o;

DROP TABLE email_outbox;
ALTER TABLE email_outbox_new RENAME TO email_outbox;

CREATE INDEX email_outbox_due ON email_outbox (due_at, id) WHERE status = 'queued';
CREATE INDEX email_outbox_by_username ON email_outbox (lower(username)) WHERE status = 'queued';
