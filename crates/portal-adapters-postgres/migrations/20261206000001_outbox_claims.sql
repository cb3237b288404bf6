-- The outbox's claims, links and kinds (SPEC §9: a queued email is dropped
-- only when it has lost its use).

-- Every claim of a row increments `claims`; a mark names the claim it
-- belongs to (`WHERE claims = $n`), so a worker whose lease ran out changes
-- nothing once another worker has claimed the row again.
ALTER TABLE email_outbox ADD COLUMN claims bigint NOT NULL DEFAULT 0 CHECK (claims >= 0);

-- When the link the email carries expires; NULL when it carries none.
ALTER TABLE email_outbox ADD COLUMN link_expires_at timestamptz;

-- Emails already queued take the expiry of the token issued with them (same
-- account, purpose and instant); one without a match keeps NULL and is never
-- dropped for its link.
UPDATE email_outbox o SET link_expires_at = (
    SELECT max(t.expires_at) FROM link_tokens t JOIN accounts a ON a.id = t.account_id
    WHERE lower(a.username) = lower(o.username) AND t.purpose = o.kind AND t.issued_at = o.created_at)
WHERE o.status = 'queued' AND o.kind IN ('activation', 'password_reset');

-- The kinds are the application's: during a rolling deploy a newer build
-- queues kinds an older one does not know, and the older one leaves those
-- rows queued (it claims only the kinds it knows).
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_kind_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_kind_named CHECK (kind <> '');
