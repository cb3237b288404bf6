-- Second factors (SPEC §4a). A TOTP secret is stored sealed (AES-256-GCM
-- with PORTAL_DATA_KEY: nonce + ciphertext), recovery codes and login
-- challenge ids only as SHA-256 hashes. `last_step` is the newest TOTP
-- time step a code was accepted for: a guarded update moves it forward,
-- so a code is accepted once across instances.
CREATE TABLE totp_factors (
    account_id INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    sealed     BLOB NOT NULL CHECK (length(sealed) BETWEEN 16 AND 256),
    confirmed  INTEGER NOT NULL CHECK (confirmed IN (0, 1)),
    last_step  INTEGER,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE recovery_codes (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL CHECK (length(code_hash) = 32),
    used_at    INTEGER,
    PRIMARY KEY (account_id, code_hash)
) STRICT, WITHOUT ROWID;

CREATE TABLE mfa_challenges (
    id_hash        BLOB PRIMARY KEY CHECK (length(id_hash) = 32),
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    password_check BLOB NOT NULL CHECK (length(password_check) = 32),
    expires_at     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX mfa_challenges_by_account ON mfa_challenges (account_id);
