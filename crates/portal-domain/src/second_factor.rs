//! Second factors (SPEC §4a) as pure values and rules: TOTP secrets and
//! codes (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of drift
//! either side, each step accepted at most once), recovery codes, the data
//! key that encrypts TOTP secrets at rest, and login challenges.
//!
//! No type here prints a secret through `Debug`: a secret leaves only by an
//! explicit `expose_*` call, on its way to the account holder.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::account::AccountId;
use crate::ports::RandomnessError;
use crate::values::{PasswordHash, RawToken, TokenHash};

/// How long a login challenge lives (SPEC §4a).
pub const CHALLENGE_TTL: Duration = Duration::minutes(5);

/// How many recovery codes an enrolment hands out.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// The second-step methods an account offers at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MfaMethod {
    Totp,
    RecoveryCode,
    /// A WebAuthn assertion from one of the account's passkeys.
    Passkey,
}

impl MfaMethod {
    /// The wire name in `methods`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Passkey => "passkey",
        }
    }
}

/// The second factors an account has: never a secret, only what exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FactorSummary {
    /// A confirmed TOTP authenticator.
    pub totp: bool,
    /// Recovery codes not yet used.
    pub recovery_codes_left: u32,
    /// Registered passkeys.
    pub passkeys: u32,
}

impl FactorSummary {
    /// Whether a login must pass a second step.
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }

    /// The methods the second step accepts, in the order a client offers them.
    pub fn methods(&self) -> Vec<MfaMethod> {
        let mut methods = Vec::new();
        if self.totp {
            methods.push(MfaMethod::Totp);
        }
        if self.recovery_codes_left > 0 {
            methods.push(MfaMethod::RecoveryCode);
        }
        if self.passkeys > 0 {
            methods.push(MfaMethod::Passkey);
        }
        methods
    }
}

/// A TOTP time step: seconds since the Unix epoch divided by 30.
pub type TimeStep = i64;

const STEP_SECONDS: i64 = 30;

/// The time step `now` falls in.
pub fn time_step(now: OffsetDateTime) -> TimeStep {
    now.unix_timestamp().div_euclid(STEP_SECONDS)
}

/// A TOTP shared secret: 160 random bits (RFC 4226's recommendation).
pub struct TotpSecret(SecretBox<[u8; TotpSecret::BYTES]>);

impl TotpSecret {
    pub const BYTES: usize = 20;

    /// A fresh secret from the OS's randomness.
    pub fn generate() -> Result<Self, RandomnessError> {
        let mut bytes = [0_u8; Self::BYTES];
        getrandom::fill(&mut bytes).map_err(|e| RandomnessError(e.to_string()))?;
        Ok(Self::from_bytes(bytes))
    }

    pub fn from_bytes(bytes: [u8; Self::BYTES]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// Reads a secret as an authenticator app takes it typed (base32), as
    /// a test playing the app does.
    pub fn from_base32(text: &str) -> Option<Self> {
        let bytes = totp_rs::Secret::try_from_base32(text).ok()?;
        let bytes: [u8; Self::BYTES] = bytes.as_ref().try_into().ok()?;
        Some(Self::from_bytes(bytes))
    }

    fn totp(&self) -> Option<totp_rs::Totp> {
        totp_rs::Builder::new()
            .with_secret(self.0.expose_secret().to_vec())
            .with_skew(0)
            .build()
            .ok()
    }

    /// The secret in base32 (RFC 4648, no padding), as authenticator apps
    /// take it typed; only for the enrolling account holder.
    pub fn expose_base32(&self) -> String {
        totp_rs::Secret::from(self.0.expose_secret().to_vec()).to_base32()
    }

    /// The `otpauth://` URI an authenticator app reads from the QR code.
    pub fn expose_otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let issuer = uri_component(issuer);
        let account = uri_component(account);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits=6&period=30",
            self.expose_base32()
        )
    }

    /// The code of `step` (for tests that play the authenticator app).
    pub fn code_at(&self, step: TimeStep) -> String {
        let seconds = u64::try_from(step.saturating_mul(STEP_SECONDS)).unwrap_or_default();
        self.totp()
            .map(|totp| totp.generate(seconds).to_string())
            .unwrap_or_default()
    }

    /// The step `code` was made for: the current one or one either side,
    /// the newest first, and only a step after `last_accepted` (a code is
    /// accepted once: RFC 6238 §5.2). `None` when it matches none.
    pub fn matching_step(
        &self,
        code: &TotpCode,
        now: OffsetDateTime,
        last_accepted: Option<TimeStep>,
    ) -> Option<TimeStep> {
        let totp = self.totp()?;
        let current = time_step(now);
        [current + 1, current, current - 1]
            .into_iter()
            .filter(|step| last_accepted.is_none_or(|last| *step > last))
            .find(|step| {
                u64::try_from(step.saturating_mul(STEP_SECONDS))
                    .ok()
                    .and_then(|seconds| totp.check(code.0.expose_secret(), seconds))
                    .is_some()
            })
    }

    fn expose_bytes(&self) -> &[u8; Self::BYTES] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

/// Percent-encodes every byte but unreserved ones (RFC 3986).
fn uri_component(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Six digits as typed (spaces around and between them are ignored).
#[derive(Clone)]
pub struct TotpCode(SecretString);

/// A text that is not six digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 6 digits")]
pub struct MalformedCode;

impl TotpCode {
    pub fn parse(raw: &str) -> Result<Self, MalformedCode> {
        if raw.len() > 32 {
            return Err(MalformedCode);
        }
        let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(SecretString::from(digits)))
        } else {
            Err(MalformedCode)
        }
    }
}

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode([REDACTED])")
    }
}

/// A single-use recovery code: 24 characters of base32 (120 random bits,
/// above the 112 bits NIST SP 800-63B asks of a look-up secret kept under a
/// fast hash), shown in six groups of four.
#[derive(Clone)]
pub struct RecoveryCode(SecretString);

impl RecoveryCode {
    const LEN: usize = 24;
    const ALPHABET: &'static [u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

    /// A fresh code from the OS's randomness.
    pub fn generate() -> Result<Self, RandomnessError> {
        let mut bytes = [0_u8; Self::LEN];
        getrandom::fill(&mut bytes).map_err(|e| RandomnessError(e.to_string()))?;
        // 256 is a multiple of 32: taking the low five bits is unbiased.
        let text: String = bytes
            .iter()
            .map(|b| char::from(Self::ALPHABET[usize::from(b & 31)]))
            .collect();
        Ok(Self(SecretString::from(text)))
    }

    /// Ten fresh codes.
    pub fn generate_set() -> Result<Vec<Self>, RandomnessError> {
        (0..RECOVERY_CODE_COUNT).map(|_| Self::generate()).collect()
    }

    /// Parses a code as typed: case, spaces and dashes do not matter.
    pub fn parse(raw: &str) -> Result<Self, MalformedCode> {
        if raw.len() > 64 {
            return Err(MalformedCode);
        }
        let text: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if text.len() == Self::LEN && text.bytes().all(|b| Self::ALPHABET.contains(&b)) {
            Ok(Self(SecretString::from(text)))
        } else {
            Err(MalformedCode)
        }
    }

    /// The code in groups of four (`abcd-efgh-…`), for the account holder.
    pub fn expose_grouped(&self) -> String {
        let text = self.0.expose_secret();
        text.as_bytes()
            .chunks(4)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// The form the store keeps: SHA-256 of the normalised code.
    pub fn hash(&self) -> TokenHash {
        TokenHash::from_bytes(Sha256::digest(self.0.expose_secret().as_bytes()).into())
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([REDACTED])")
    }
}

/// What a second step sent as its code: a TOTP code, a recovery code, or
/// neither (a wrong code, counted like one).
#[derive(Debug, Clone)]
pub enum SubmittedCode {
    Totp(TotpCode),
    Recovery(RecoveryCode),
    Malformed,
}

impl SubmittedCode {
    pub fn parse(raw: &str) -> Self {
        if let Ok(code) = TotpCode::parse(raw) {
            Self::Totp(code)
        } else if let Ok(code) = RecoveryCode::parse(raw) {
            Self::Recovery(code)
        } else {
            Self::Malformed
        }
    }
}

/// `PORTAL_DATA_KEY`: the AES-256-GCM key that encrypts TOTP secrets at
/// rest, 32 bytes written in base64.
#[derive(Clone)]
pub struct DataKey(std::sync::Arc<SecretBox<[u8; 32]>>);

/// Why a text is not a data key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 32 bytes written in base64 (e.g. the output of `openssl rand -base64 32`)")]
pub struct MalformedDataKey;

/// A sealed secret did not open: another key sealed it, or it was altered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("PORTAL_DATA_KEY is not set: second-factor secrets cannot be read or written")]
    NoKey,
    #[error(
        "a stored second-factor secret does not open with PORTAL_DATA_KEY (another key sealed it, or it was altered)"
    )]
    DoesNotOpen,
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
}

impl DataKey {
    const NONCE_BYTES: usize = 12;

    pub fn parse(raw: &str) -> Result<Self, MalformedDataKey> {
        let bytes = STANDARD.decode(raw.trim()).map_err(|_| MalformedDataKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| MalformedDataKey)?;
        Ok(Self(std::sync::Arc::new(SecretBox::new(Box::new(key)))))
    }

    fn cipher(&self) -> Option<Aes256Gcm> {
        Aes256Gcm::new_from_slice(self.0.expose_secret()).ok()
    }

    /// Encrypts `secret` for `account`: a fresh nonce, and the account id
    /// as associated data, so a sealed secret copied to another account's
    /// row does not open there.
    pub fn seal(&self, secret: &TotpSecret, account: AccountId) -> Result<SealedSecret, SealError> {
        let mut nonce = [0_u8; Self::NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| RandomnessError(e.to_string()))?;
        let aad = account.get().to_be_bytes();
        let cipher = self.cipher().ok_or(SealError::DoesNotOpen)?;
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret.expose_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::DoesNotOpen)?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(SealedSecret(bytes))
    }

    pub fn open(&self, sealed: &SealedSecret, account: AccountId) -> Result<TotpSecret, SealError> {
        let (nonce, body) = sealed
            .0
            .split_at_checked(Self::NONCE_BYTES)
            .ok_or(SealError::DoesNotOpen)?;
        let nonce: [u8; Self::NONCE_BYTES] =
            nonce.try_into().map_err(|_| SealError::DoesNotOpen)?;
        let aad = account.get().to_be_bytes();
        let cipher = self.cipher().ok_or(SealError::DoesNotOpen)?;
        let plain = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::DoesNotOpen)?;
        let bytes: [u8; TotpSecret::BYTES] =
            plain.try_into().map_err(|_| SealError::DoesNotOpen)?;
        Ok(TotpSecret::from_bytes(bytes))
    }
}

impl PartialEq for DataKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl Eq for DataKey {}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}

/// A TOTP secret as stored: nonce and AES-GCM ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(Vec<u8>);

impl SealedSecret {
    /// Wraps the bytes a store read back.
    pub fn from_stored(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.0.len())
    }
}

/// An account's TOTP authenticator as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub sealed: SealedSecret,
    /// Confirmed by a first code: until then it is no factor.
    pub confirmed: bool,
    /// The newest step a code was accepted for: no code of it or an older
    /// step is accepted again.
    pub last_step: Option<TimeStep>,
}

/// A login waiting for its second step, stored by the hash of its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    pub hash: TokenHash,
    pub account_id: AccountId,
    /// A digest of the password hash the first step verified: a reset or a
    /// change since then voids the challenge.
    pub password_check: TokenHash,
    pub expires_at: OffsetDateTime,
}

impl MfaChallenge {
    /// A challenge for the login of `account` whose password `verified` was
    /// right at `now`.
    pub fn new(
        id: &RawToken,
        account: AccountId,
        verified: &PasswordHash,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            hash: id.hash(),
            account_id: account,
            password_check: password_check(verified),
            expires_at: now + CHALLENGE_TTL,
        }
    }

    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }

    /// Whether `current` is still the password the first step verified.
    pub fn password_unchanged(&self, current: &PasswordHash) -> bool {
        self.password_check == password_check(current)
    }
}

fn password_check(hash: &PasswordHash) -> TokenHash {
    TokenHash::from_bytes(Sha256::digest(hash.as_phc().as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn secret() -> TotpSecret {
        // RFC 6238 Appendix B's SHA-1 seed.
        TotpSecret::from_bytes(*b"12345678901234567890")
    }

    #[test]
    fn codes_match_rfc_6238_test_vectors() {
        // T = 59 s → step 1; T = 1111111109 → step 37037036 (8-digit
        // vectors 94287082 and 07081804, whose last six digits these are).
        assert_eq!(secret().code_at(1), "287082");
        assert_eq!(secret().code_at(37_037_036), "081804");
    }

    #[test]
    fn one_step_of_drift_either_side_and_never_twice() {
        let now = datetime!(2026-12-01 12:00:15 UTC);
        let step = time_step(now);
        let s = secret();
        for drift in [-1, 0, 1] {
            let code = TotpCode::parse(&s.code_at(step + drift)).unwrap();
            assert_eq!(s.matching_step(&code, now, None), Some(step + drift));
            // Accepted once: a step not after the last accepted one is refused.
            assert_eq!(s.matching_step(&code, now, Some(step + drift)), None);
        }
        for far in [-2, 2] {
            let code = TotpCode::parse(&s.code_at(step + far)).unwrap();
            assert_eq!(s.matching_step(&code, now, None), None, "{far}");
        }
    }

    #[test]
    fn a_passkey_alone_is_a_factor_and_a_method() {
        let only_passkey = FactorSummary {
            passkeys: 1,
            ..FactorSummary::default()
        };
        assert!(only_passkey.any());
        assert_eq!(only_passkey.methods(), [MfaMethod::Passkey]);
        assert!(!FactorSummary::default().any());
        let all = FactorSummary {
            totp: true,
            recovery_codes_left: 3,
            passkeys: 2,
        };
        assert_eq!(
            all.methods(),
            [MfaMethod::Totp, MfaMethod::RecoveryCode, MfaMethod::Passkey]
        );
        assert_eq!(MfaMethod::Passkey.as_str(), "passkey");
    }

    #[test]
    fn codes_parse_strictly() {
        assert!(TotpCode::parse("123 456").is_ok());
        for bad in ["", "12345", "1234567", "12345a", &"1".repeat(100)] {
            assert!(TotpCode::parse(bad).is_err(), "{bad}");
        }
        let code = RecoveryCode::generate().unwrap();
        let grouped = code.expose_grouped();
        assert_eq!(grouped.len(), 29);
        let typed = RecoveryCode::parse(&grouped.to_uppercase()).unwrap();
        assert_eq!(typed.hash(), code.hash());
        assert!(RecoveryCode::parse("abcd-efgh").is_err());
        assert!(matches!(
            SubmittedCode::parse("nonsense"),
            SubmittedCode::Malformed
        ));
    }

    #[test]
    fn secrets_seal_per_account_and_never_print() {
        let key = DataKey::parse(&STANDARD.encode([9_u8; 32])).unwrap();
        let sealed = key.seal(&secret(), AccountId::new(7)).unwrap();
        let opened = key.open(&sealed, AccountId::new(7)).unwrap();
        assert_eq!(opened.expose_base32(), secret().expose_base32());
        let typed = TotpSecret::from_base32(&secret().expose_base32()).unwrap();
        assert_eq!(typed.code_at(1), "287082");
        assert_eq!(
            key.open(&sealed, AccountId::new(8)).err(),
            Some(SealError::DoesNotOpen)
        );
        let other = DataKey::parse(&STANDARD.encode([1_u8; 32])).unwrap();
        assert_eq!(
            other.open(&sealed, AccountId::new(7)).err(),
            Some(SealError::DoesNotOpen)
        );
        assert!(DataKey::parse("c2hvcnQ=").is_err());
        for printed in [
            format!("{key:?}"),
            format!("{:?}", secret()),
            format!("{:?}", TotpCode::parse("123456").unwrap()),
            format!("{:?}", RecoveryCode::generate().unwrap()),
        ] {
            assert!(printed.contains("REDACTED"), "{printed}");
        }
        assert!(!format!("{:?}", secret()).contains(&secret().expose_base32()));
    }

    #[test]
    fn the_uri_names_issuer_and_account() {
        let uri = secret().expose_otpauth_uri("Care Source", "dr.doe@x");
        assert!(
            uri.starts_with("otpauth://totp/Care%20Source:dr.doe%40x?secret="),
            "{uri}"
        );
        assert!(uri.contains("&issuer=Care%20Source&algorithm=SHA1&digits=6&period=30"));
    }
}
