//! The statements of `OutboxStore` (`shared/outbox.rs`). Each claim
//! increments the row's `claims`, and every mark is conditional on it, so a
//! mark for a claim that is no longer current changes nothing.

use crate::PerDatabase;

/// Claims up to `$3` emails due at `$1` of the kinds `$4` this build
/// knows, leasing them until `$2` (the lease moves `due_at`, so that later
/// claims skip them). PostgreSQL skips rows another claimer has locked
/// (`FOR UPDATE SKIP LOCKED`) and takes the kinds as an array; SQLite's one
/// `UPDATE … RETURNING` runs under its one write lock, so two claimers never
/// share an email, and takes the kinds as a JSON array.
pub const CLAIM_DUE: PerDatabase = PerDatabase {
    postgres: "UPDATE email_outbox o SET due_at = $2, claims = o.claims + 1 WHERE o.id IN ( \
             SELECT id FROM email_outbox WHERE status = 'queued' AND due_at <= $1 \
             AND kind = ANY($4) ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
         RETURNING o.id, o.claims, o.recipient, o.username, o.kind, o.token, o.attempts, o.link_expires_at, \
             EXISTS (SELECT 1 FROM accounts a WHERE lower(a.username) = lower(o.username)) \
             AS account_exists",
    sqlite: "UPDATE email_outbox SET due_at = $2, claims = claims + 1 WHERE id IN ( \
             SELECT id FROM email_outbox WHERE status = 'queued' AND due_at <= $1 \
             AND kind IN (SELECT value FROM json_each($4)) \
             ORDER BY id LIMIT $3) \
         RETURNING id, claims, recipient, username, kind, token, attempts, link_expires_at, \
             EXISTS (SELECT 1 FROM accounts a WHERE lower(a.username) = lower(email_outbox.username)) \
             AS account_exists",
};

/// Marks claim `$2` of email `$1` sent at `$3`, forgetting its link.
pub const MARK_SENT: &str = "UPDATE email_outbox SET status = 'sent', last_error = NULL, finished_at = $3, attempts = attempts + 1, token = NULL \
     WHERE id = $1 AND claims = $2 AND status = 'queued'";

/// Reschedules claim `$2` of email `$1` to `$3` after the error `$4`.
pub const MARK_RETRY: &str = "UPDATE email_outbox SET due_at = $3, attempts = attempts + 1, last_error = $4 \
     WHERE id = $1 AND claims = $2 AND status = 'queued'";

/// Gives up claim `$2` of email `$1` at `$3` after the error `$4`,
/// forgetting its link.
pub const MARK_FAILED: &str = "UPDATE email_outbox SET status = 'failed', finished_at = $3, attempts = attempts + 1, last_error = $4, \
     token = NULL WHERE id = $1 AND claims = $2 AND status = 'queued'";

/// How many emails to a username key are queued, and the newest error among
/// them (the one an operator asking about a missing email wants to read).
pub const PENDING_FOR: &str = "SELECT count(*) AS pending, \
     (SELECT last_error FROM email_outbox WHERE status = 'queued' AND lower(username) = $1 \
      AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1) AS last_error \
     FROM email_outbox WHERE status = 'queued' AND lower(username) = $1";
