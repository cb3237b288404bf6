//! The statements of `AccountSettings` (`shared/store/account_settings.rs`); the
//! session check of a write asked from a session is
//! [`super::credentials::SESSION_KEPT`], the email cap's count
//! [`super::credentials::COUNT_RECENT_TOKENS`].

/// Supersedes the account's open email change links at `$2`.
pub const SUPERSEDE_EMAIL_CHANGES: &str = "UPDATE link_tokens SET superseded_at = $2 \
     WHERE account_id = $1 AND purpose = 'email_change' AND superseded_at IS NULL AND used_at IS NULL";

/// A new email change link, holding the address `$5` it sets (it counts
/// toward the email cap).
pub const INSERT_EMAIL_CHANGE: &str = "INSERT INTO link_tokens \
     (token_hash, account_id, purpose, issued_at, expires_at, counts_toward_cap, new_email) \
     VALUES ($1, $2, 'email_change', $3, $4, true, $5)";

/// Sets account `$1`'s email to the address stored with the link `$2`, in
/// one statement.
pub const CHANGE_EMAIL: &str = "UPDATE accounts SET email = t.new_email FROM link_tokens t \
     WHERE accounts.id = $1 AND t.token_hash = $2";

/// Sets an account's security question and the hash of its answer.
pub const CHANGE_SECURITY_QUESTION: &str =
    "UPDATE accounts SET security_question = $2, security_answer_hash = $3 WHERE id = $1";
