//! The statements of `SecondFactors` (`shared/store/second_factors.rs`): TOTP
//! secrets (sealed), recovery codes and login challenges (hashed). Each
//! single-use guard is one conditional statement, so two racing uses write
//! once. (`true`, `false` and `NOT confirmed` read the same on SQLite's
//! integer column as on PostgreSQL's boolean.)

/// An account's TOTP factor.
pub const TOTP_FACTOR: &str =
    "SELECT sealed, confirmed, last_step FROM totp_factors WHERE account_id = $1";

/// Starts an enrolment: replaces an unconfirmed secret; a confirmed one
/// stays.
pub const START_TOTP_ENROLMENT: &str = "INSERT INTO totp_factors (account_id, sealed, confirmed, last_step, created_at) \
     VALUES ($1, $2, false, NULL, $3) \
     ON CONFLICT (account_id) DO UPDATE SET sealed = excluded.sealed, \
         created_at = excluded.created_at, last_step = NULL \
     WHERE NOT totp_factors.confirmed";

/// Confirms the secret `$2` enrolled, at time step `$3`, once.
pub const CONFIRM_TOTP: &str = "UPDATE totp_factors SET confirmed = true, last_step = $3 \
     WHERE account_id = $1 AND sealed = $2 AND NOT confirmed";

/// An account's recovery codes, all dropped.
pub const DROP_RECOVERY_CODES: &str = "DELETE FROM recovery_codes WHERE account_id = $1";

/// One recovery code (its hash).
pub const INSERT_RECOVERY_CODE: &str =
    "INSERT INTO recovery_codes (account_id, code_hash) VALUES ($1, $2)";

/// Accepts time step `$2` only after the last one accepted (no replay).
pub const ACCEPT_TOTP_STEP: &str = "UPDATE totp_factors SET last_step = $2 \
     WHERE account_id = $1 AND confirmed AND (last_step IS NULL OR last_step < $2)";

/// Spends recovery code `$2` at `$3`, once.
pub const USE_RECOVERY_CODE: &str = "UPDATE recovery_codes SET used_at = $3 \
     WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL";

/// Whether an account has a confirmed TOTP factor, its unused recovery
/// codes and its passkeys.
pub const SUMMARY: &str = "SELECT EXISTS (SELECT 1 FROM totp_factors WHERE account_id = $1 AND confirmed) AS totp, \
        (SELECT count(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL) AS codes_left, \
        (SELECT count(*) FROM passkeys WHERE account_id = $1) AS passkeys";

/// Whether any TOTP secret is stored (sealed with the data key).
pub const ANY_TOTP_SECRET: &str = "SELECT EXISTS (SELECT 1 FROM totp_factors) AS any_secret";

/// Removes an account's TOTP factor.
pub const REMOVE_TOTP: &str = "DELETE FROM totp_factors WHERE account_id = $1";

/// An account's login challenges, all dropped.
pub const DROP_CHALLENGES: &str = "DELETE FROM mfa_challenges WHERE account_id = $1";

/// An account's login challenges expired at `$2`.
pub const DROP_EXPIRED_CHALLENGES: &str =
    "DELETE FROM mfa_challenges WHERE account_id = $1 AND expires_at <= $2";

/// A login challenge.
pub const INSERT_CHALLENGE: &str = "INSERT INTO mfa_challenges (id_hash, account_id, password_check, expires_at) \
     VALUES ($1, $2, $3, $4)";

/// A login challenge by the hash of its id.
pub const FIND_CHALLENGE: &str =
    "SELECT account_id, password_check, expires_at FROM mfa_challenges WHERE id_hash = $1";

/// Spends a live challenge at `$2`, once.
pub const SPEND_CHALLENGE: &str =
    "DELETE FROM mfa_challenges WHERE id_hash = $1 AND expires_at > $2";
