-- Second factors (SPEC §4a). A TOTP secret is stored sealed (AES-256-GCM
-- with PORTAL_DATA_KEY: nonce + ciphertext), recovery codes and login
-- challenge ids only as SHA-256 hashes. `last_step` is the newest TOTP
-- time step a code was accepted for: a guarded update moves it forward,
-- so a code is accepted once across instances.
CREATE TABLE totp_factors (
    account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    sealed     bytea NOT NULL CHECK (length(sealed) BETWEEN 16 AND 256),
    confirmed  boolean NOT NULL,
    last_step  bigint,
    created_at timestamptz NOT NULL
);

CREATE TABLE recovery_codes (
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL CHECK (length(code_hash) = 32),
    used_at    timestamptz,
    PRIMARY KEY (account_id, code_hash)
);

CREATE TABLE mfa_challenges (
    id_hash        bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    account_id     bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    password_check bytea NOT NULL CHECK (length(password_check) = 32),
    expires_at     timestamptz NOT NULL
);

CREATE INDEX mfa_challenges_by_account ON mfa_challenges (account_id);
