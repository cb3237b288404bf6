//! The statements of `Passkeys` (`shared/store/passkeys.rs`): passkeys and
//! their ceremonies. A ceremony is taken by one conditional
//! `DELETE … RETURNING`, so of two racing finishes one gets it; the writes
//! that check a count (the ceremony cap, the passkey limit) run under the
//! account's lock.

/// An account's passkeys, oldest first.
pub const PASSKEYS_OF: &str = "SELECT id, name, credential_id, credential, created_at, last_used_at \
     FROM passkeys WHERE account_id = $1 ORDER BY id";

/// How many passkeys an account has.
pub const COUNT_PASSKEYS: &str = "SELECT count(*) AS n FROM passkeys WHERE account_id = $1";

/// Whether a credential id is registered (on any account).
pub const CREDENTIAL_REGISTERED: &str =
    "SELECT EXISTS (SELECT 1 FROM passkeys WHERE credential_id = $1) AS registered";

/// A new passkey; its id back.
pub const INSERT_PASSKEY: &str = "INSERT INTO passkeys (account_id, name, credential_id, credential, created_at) \
     VALUES ($1, $2, $3, $4, $5) RETURNING id";

/// Renames the account's passkey.
pub const RENAME_PASSKEY: &str = "UPDATE passkeys SET name = $3 WHERE account_id = $1 AND id = $2";

/// Removes the account's passkey.
pub const REMOVE_PASSKEY: &str = "DELETE FROM passkeys WHERE account_id = $1 AND id = $2";

/// Records a use of the account's passkey (`$4`: its updated credential,
/// or NULL to keep it).
pub const RECORD_PASSKEY_USE: &str = "UPDATE passkeys SET last_used_at = $3, credential = COALESCE($4, credential) \
     WHERE account_id = $1 AND id = $2";

/// An account's passkeys, all removed (an operator's reset).
pub const REMOVE_PASSKEYS: &str = "DELETE FROM passkeys WHERE account_id = $1";

/// An account's ceremonies, all dropped.
pub const DROP_CEREMONIES: &str = "DELETE FROM passkey_ceremonies WHERE account_id = $1";

/// An account's ceremonies expired at `$2`, and the one with id hash `$3`
/// (a newer start of it replaces it).
pub const DROP_EXPIRED_CEREMONIES: &str =
    "DELETE FROM passkey_ceremonies WHERE (account_id = $1 AND expires_at <= $2) OR id_hash = $3";

/// How many ceremonies an account has (live: the expired ones were dropped).
pub const COUNT_CEREMONIES: &str =
    "SELECT count(*) AS n FROM passkey_ceremonies WHERE account_id = $1";

/// A ceremony.
pub const INSERT_CEREMONY: &str = "INSERT INTO passkey_ceremonies (id_hash, account_id, kind, state, expires_at) \
     VALUES ($1, $2, $3, $4, $5)";

/// Takes a live ceremony of kind `$2` at `$3`, once.
pub const TAKE_CEREMONY: &str = "DELETE FROM passkey_ceremonies \
     WHERE id_hash = $1 AND kind = $2 AND expires_at > $3 \
     RETURNING account_id, state, expires_at";
