-- Passkeys (SPEC §4a). A passkey's credential is the WebAuthn library's
-- serialized form (public key, credential id, sign counter): not secret,
-- but only the library writes it. A credential id is registered once.
-- A ceremony's state waits server-side, by the SHA-256 of its id (a
-- registration's own id, or the login challenge's), 5 minutes, single use:
-- taken by one conditional DELETE … RETURNING.
CREATE TABLE passkeys (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    credential_id BLOB NOT NULL UNIQUE CHECK (length(credential_id) BETWEEN 1 AND 1023),
    credential    BLOB NOT NULL CHECK (length(credential) BETWEEN 1 AND 65536),
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
) STRICT;

CREATE INDEX passkeys_by_account ON passkeys (account_id);

CREATE TABLE passkey_ceremonies (
    id_hash    BLOB PRIMARY KEY CHECK (length(id_hash) = 32),
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('registration', 'authentication')),
    state      BLOB NOT NULL CHECK (length(state) BETWEEN 1 AND 65536),
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX passkey_ceremonies_by_account ON passkey_ceremonies (account_id);
