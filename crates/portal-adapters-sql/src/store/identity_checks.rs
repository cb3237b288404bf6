//! The statements of `IdentityChecks` (`shared/store/identity_checks.rs`).

/// PostgreSQL only: one provider's mismatches queue on this lock, so the
/// count read after it is the one the insert adds to. SQLite's
/// `BEGIN IMMEDIATE` already holds the one write lock.
pub const LOCK_PROVIDER_PROOFING: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('proofing:' || $1 || ':' || $2, 0))";

/// A provider's mismatches after `$3`: how many, and the oldest.
pub const PROOFING_WINDOW: &str = "SELECT count(*) AS count, min(failed_at) AS oldest FROM proofing_failures \
     WHERE tax_id = $1 AND provider_id = $2 AND failed_at > $3";

/// A proofing mismatch.
pub const INSERT_PROOFING_FAILURE: &str =
    "INSERT INTO proofing_failures (tax_id, provider_id, failed_at) VALUES ($1, $2, $3)";

/// An account's failed support checks after `$2`.
pub const COUNT_SUPPORT_FAILURES: &str =
    "SELECT count(*) FROM support_checks WHERE account_id = $1 AND NOT matched AND checked_at > $2";

/// An account's failed support checks after `$2`: how many, and the oldest.
pub const SUPPORT_WINDOW: &str = "SELECT count(*) AS count, min(checked_at) AS oldest FROM support_checks \
     WHERE account_id = $1 AND NOT matched AND checked_at > $2";

/// A support check.
pub const INSERT_SUPPORT_CHECK: &str =
    "INSERT INTO support_checks (account_id, checked_at, matched) VALUES ($1, $2, $3)";
