//! Argon2id password hashing: the [`PasswordHasher`] the product uses.
//!
//! It runs inline on the calling thread; `portal-http` wraps it in a bounded
//! pool so that it never runs on the async worker threads.

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as Phc, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::password_policy::{PasswordPolicy, PolicyContext, PolicyViolations};
use crate::ports::{HashError, PasswordHasher, Verification};
use crate::values::{Password, PasswordHash, SecurityAnswer};

/// Argon2id parameters (SPEC §5: OWASP's m = 19456 KiB, t = 2, p = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Settings {
    /// The cheapest parameters Argon2 accepts: for tests that hash a lot and
    /// are not about hashing cost.
    pub const fn minimal() -> Self {
        Self {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// Invalid Argon2 parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Argon2 parameters: {0}")]
pub struct Argon2SettingsError(String);

/// Argon2id with a random salt per hash and an optional pepper (Argon2's
/// secret input).
pub struct Argon2Hasher {
    params: Params,
    pepper: Option<SecretString>,
    dummy: PasswordHash,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("params", &self.params)
            .field("pepper", &self.pepper.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

impl Argon2Hasher {
    /// Builds the hasher and the dummy hash that unknown users are verified
    /// against (made with the same parameters, so it costs the same).
    pub fn new(
        settings: Argon2Settings,
        pepper: Option<SecretString>,
    ) -> Result<Self, Argon2SettingsError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| Argon2SettingsError(e.to_string()))?;
        if pepper
            .as_ref()
            .is_some_and(|p| p.expose_secret().is_empty())
        {
            return Err(Argon2SettingsError(
                "the pepper may not be empty".to_owned(),
            ));
        }
        let mut hasher = Self {
            params,
            pepper,
            dummy: PasswordHash::from_phc(String::new()),
        };
        // The building thread (usually `main`) does not hash again: it does
        // not keep Argon2's memory for this one hash.
        let building_thread_hashes = BLOCKS.with_borrow(|blocks| !blocks.is_empty());
        let dummy = hasher.hash_sync(b"dummy password for unknown users");
        if !building_thread_hashes {
            BLOCKS.take();
        }
        hasher.dummy = dummy.map_err(|e| Argon2SettingsError(e.to_string()))?;
        Ok(hasher)
    }

    fn argon2(&self) -> Result<Argon2<'_>, HashError> {
        self.argon2_with(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn argon2_with(
        &self,
        algorithm: Algorithm,
        version: Version,
        params: Params,
    ) -> Result<Argon2<'_>, HashError> {
        match &self.pepper {
            None => Ok(Argon2::new(algorithm, version, params)),
            Some(pepper) => Argon2::new_with_secret(
                pepper.expose_secret().as_bytes(),
                algorithm,
                version,
                params,
            )
            .map_err(failed),
        }
    }

    fn hash_sync(&self, secret: &[u8]) -> Result<PasswordHash, HashError> {
        let salt = argon2::password_hash::try_generate_salt()
            .map_err(|e| HashError::Failed(format!("no randomness for a salt: {e}")))?;
        let salt = Salt::new(&salt).map_err(failed)?;
        let output = compute(&self.argon2()?, &self.params, secret, &salt)?;
        let phc = Phc {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(failed)?,
            salt: Some(salt),
            hash: Some(output),
        };
        Ok(PasswordHash::from_phc(phc.to_string()))
    }

    /// Verifies as `argon2`'s `PasswordVerifier` does (the stored hash's own
    /// algorithm, version and parameters; a constant-time comparison of the
    /// outputs), on the thread's reused memory.
    fn verify_sync(&self, secret: &[u8], hash: &PasswordHash) -> Result<Verification, HashError> {
        let Ok(parsed) = Phc::new(hash.as_phc()) else {
            return Ok(Verification::Mismatch);
        };
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return Ok(Verification::Mismatch);
        };
        let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
            return Ok(Verification::Mismatch);
        };
        let Ok(version) = parsed
            .version
            .map_or(Ok(Version::default()), Version::try_from)
        else {
            return Ok(Verification::Mismatch);
        };
        let Ok(stored) = Params::try_from(&parsed) else {
            return Ok(Verification::Mismatch);
        };
        let argon2 = self.argon2_with(algorithm, version, stored.clone())?;
        if compute(&argon2, &stored, secret, salt)? != *expected {
            return Ok(Verification::Mismatch);
        }
        let needs_rehash = algorithm != Algorithm::Argon2id
            || stored.m_cost() != self.params.m_cost()
            || stored.t_cost() != self.params.t_cost()
            || stored.p_cost() != self.params.p_cost();
        Ok(Verification::Match { needs_rehash })
    }
}

thread_local! {
    /// Argon2's working memory (19 MiB with the default parameters), kept
    /// by each thread that hashes. Allocating it per hash cost the zeroing
    /// of every page, and the allocator kept the freed blocks in per-thread
    /// arenas anyway: the hash pool's RSS grew to several times its workers'
    /// needs. Argon2 writes every block before reading it, so reuse is safe.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2 of `secret` with `salt` into an output of the parameters' length.
fn compute(
    argon2: &Argon2<'_>,
    params: &Params,
    secret: &[u8],
    salt: &[u8],
) -> Result<Output, HashError> {
    let length = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = buffer
        .get_mut(..length)
        .ok_or_else(|| HashError::Failed("Argon2 output too long".to_owned()))?;
    let count = params.block_count();
    BLOCKS
        .with_borrow_mut(|blocks| {
            if blocks.len() < count {
                blocks.resize(count, Block::default());
            }
            argon2.hash_password_into_with_memory(secret, salt, out, &mut blocks[..count])
        })
        .map_err(failed)?;
    Output::new(out).map_err(failed)
}

fn failed(error: impl std::fmt::Display) -> HashError {
    HashError::Failed(error.to_string())
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash_password(&self, password: &Password) -> Result<PasswordHash, HashError> {
        self.hash_sync(password.expose().as_bytes())
    }

    async fn verify_password(
        &self,
        password: &Password,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError> {
        self.verify_sync(password.expose().as_bytes(), hash)
    }

    async fn verify_dummy(&self, password: &Password) -> Result<(), HashError> {
        self.verify_sync(password.expose().as_bytes(), &self.dummy)
            .map(|_| ())
    }

    async fn hash_answer(&self, answer: &SecurityAnswer) -> Result<PasswordHash, HashError> {
        self.hash_sync(answer.expose_normalized().as_bytes())
    }

    async fn verify_answer(
        &self,
        answer: &SecurityAnswer,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError> {
        self.verify_sync(answer.expose_normalized().as_bytes(), hash)
    }

    async fn check_policy(
        &self,
        policy: &PasswordPolicy,
        password: &Password,
        context: &PolicyContext,
    ) -> Result<Result<(), PolicyViolations>, HashError> {
        Ok(policy.check(password, context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<F: std::future::Future>(future: F) -> F::Output {
        futures::executor::block_on(future)
    }

    #[test]
    fn hashes_verify_and_salts_differ() {
        let hasher = Argon2Hasher::new(Argon2Settings::minimal(), None).unwrap();
        let password = Password::parse("Quartz-Harbor-71").unwrap();
        let first = block(hasher.hash_password(&password)).unwrap();
        let second = block(hasher.hash_password(&password)).unwrap();
        assert_ne!(first, second, "each hash has its own salt");
        assert!(first.as_phc().starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
        assert_eq!(
            block(hasher.verify_password(&password, &first)).unwrap(),
            Verification::Match {
                needs_rehash: false
            }
        );
        let wrong = Password::parse("Quartz-Harbor-72").unwrap();
        assert_eq!(
            block(hasher.verify_password(&wrong, &first)).unwrap(),
            Verification::Mismatch
        );
    }

    #[test]
    fn hashes_interoperate_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let settings = Argon2Settings {
            memory_kib: 64,
            iterations: 2,
            parallelism: 2,
        };
        let hasher = Argon2Hasher::new(settings, None).unwrap();
        let password = Password::parse("Quartz-Harbor-71").unwrap();
        let crate_argon2 = Argon2::from(Params::new(64, 2, 2, None).unwrap());

        let ours = block(hasher.hash_password(&password)).unwrap();
        let parsed = Phc::new(ours.as_phc()).unwrap();
        assert!(
            crate_argon2
                .verify_password(b"Quartz-Harbor-71", &parsed)
                .is_ok()
        );
        assert!(
            crate_argon2
                .verify_password(b"Quartz-Harbor-72", &parsed)
                .is_err()
        );

        let theirs = crate_argon2.hash_password(b"Quartz-Harbor-71").unwrap();
        let theirs = PasswordHash::from_phc(theirs.to_string());
        assert_eq!(
            block(hasher.verify_password(&password, &theirs)).unwrap(),
            Verification::Match {
                needs_rehash: false
            }
        );
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(64, 2, 2, None).unwrap(),
        );
        let legacy = PasswordHash::from_phc(
            argon2i
                .hash_password(b"Quartz-Harbor-71")
                .unwrap()
                .to_string(),
        );
        assert_eq!(
            block(hasher.verify_password(&password, &legacy)).unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    #[test]
    fn older_parameters_need_a_rehash() {
        let old = Argon2Hasher::new(Argon2Settings::minimal(), None).unwrap();
        let new = Argon2Hasher::new(
            Argon2Settings {
                memory_kib: 16,
                ..Argon2Settings::minimal()
            },
            None,
        )
        .unwrap();
        let password = Password::parse("Quartz-Harbor-71").unwrap();
        let hash = block(old.hash_password(&password)).unwrap();
        assert_eq!(
            block(new.verify_password(&password, &hash)).unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    #[test]
    fn pepper_is_part_of_the_hash() {
        let peppered = Argon2Hasher::new(
            Argon2Settings::minimal(),
            Some(SecretString::from("pepper")),
        )
        .unwrap();
        let plain = Argon2Hasher::new(Argon2Settings::minimal(), None).unwrap();
        let password = Password::parse("Quartz-Harbor-71").unwrap();
        let hash = block(peppered.hash_password(&password)).unwrap();
        assert!(
            block(peppered.verify_password(&password, &hash))
                .unwrap()
                .is_match()
        );
        assert_eq!(
            block(plain.verify_password(&password, &hash)).unwrap(),
            Verification::Mismatch
        );
        assert!(!format!("{peppered:?}").contains("pepper\""));
    }

    #[test]
    fn corrupt_hash_is_a_mismatch() {
        let hasher = Argon2Hasher::new(Argon2Settings::minimal(), None).unwrap();
        let password = Password::parse("Quartz-Harbor-71").unwrap();
        assert_eq!(
            block(hasher.verify_password(&password, &PasswordHash::from_phc("garbage"))).unwrap(),
            Verification::Mismatch
        );
    }

    #[test]
    fn answers_hash_in_normalised_form() {
        let hasher = Argon2Hasher::new(Argon2Settings::minimal(), None).unwrap();
        let hash =
            block(hasher.hash_answer(&SecurityAnswer::parse("Fluffy  The Cat").unwrap())).unwrap();
        let typed_differently = SecurityAnswer::parse(" fluffy the CAT ").unwrap();
        assert!(
            block(hasher.verify_answer(&typed_differently, &hash))
                .unwrap()
                .is_match()
        );
    }

    #[test]
    fn invalid_settings_are_refused() {
        assert!(
            Argon2Hasher::new(
                Argon2Settings {
                    memory_kib: 1,
                    ..Argon2Settings::minimal()
                },
                None
            )
            .is_err()
        );
        assert!(
            Argon2Hasher::new(Argon2Settings::minimal(), Some(SecretString::from(""))).is_err()
        );
    }
}
