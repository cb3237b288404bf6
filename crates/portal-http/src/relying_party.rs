//! The WebAuthn relying party ([`WebAuthn`]) on `webauthn-rs` 0.5: the
//! library builds the options, checks attestations and assertions (origin,
//! challenge, signature, user verification, sign counter), and serializes
//! its ceremony states and passkeys, which the store keeps as opaque bytes.
//! Nothing here reads CBOR or COSE.
//!
//! The relying party id is `PORTAL_PUBLIC_URL`'s host and the origin its
//! origin. WebAuthn forbids an IP address as the id: with one, there is no
//! relying party and passkeys are unavailable (`409 passkeys_unavailable`).

use portal_domain::passkey::{
    CeremonyState, NewPasskey, Passkey, PasskeyName, PasskeyUser, StartedCeremony,
    StoredCredential, VerifiedAssertion,
};
use portal_domain::ports::{WebAuthn, WebAuthnError};
use sha2::{Digest, Sha256};
use url::Url;
use webauthn_rs::prelude::{
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// The relying party of one public URL.
pub struct RelyingParty {
    webauthn: Webauthn,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RelyingParty")
    }
}

impl RelyingParty {
    /// The relying party of `public_url` named `name`; `None` when its host
    /// is no domain name (an IP address).
    pub fn for_public_url(public_url: &Url, name: &str) -> Option<Self> {
        let rp_id = public_url.domain()?;
        let origin = Url::parse(&public_url.origin().ascii_serialization()).ok()?;
        let webauthn = WebauthnBuilder::new(rp_id, &origin)
            .ok()?
            .rp_name(name)
            .build()
            .ok()?;
        Some(Self { webauthn })
    }
}

/// The user handle an authenticator keeps: derived from the account id, so
/// it is stable and names nobody.
fn user_handle(user: &PasskeyUser) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"provider-portal passkey user ")
        .chain_update(user.account_id.get().to_be_bytes())
        .finalize();
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

fn fault(what: &str, e: impl std::fmt::Display) -> WebAuthnError {
    WebAuthnError::Fault(format!("{what}: {e}"))
}

fn refused(e: impl std::fmt::Debug) -> WebAuthnError {
    WebAuthnError::Refused(format!("{e:?}"))
}

fn stored_passkey(passkey: &Passkey) -> Result<webauthn_rs::prelude::Passkey, WebAuthnError> {
    serde_json::from_slice(passkey.credential.as_bytes()).map_err(|e| fault("a stored passkey", e))
}

fn stored_passkeys(
    passkeys: &[Passkey],
) -> Result<Vec<webauthn_rs::prelude::Passkey>, WebAuthnError> {
    passkeys.iter().map(stored_passkey).collect()
}

impl WebAuthn for RelyingParty {
    fn start_registration(
        &self,
        user: &PasskeyUser,
        existing: &[Passkey],
    ) -> Result<StartedCeremony, WebAuthnError> {
        let exclude = stored_passkeys(existing)?
            .iter()
            .map(|p| p.cred_id().clone())
            .collect();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(
                user_handle(user),
                &user.username,
                &user.username,
                Some(exclude),
            )
            .map_err(|e| fault("start a registration", e))?;
        Ok(StartedCeremony {
            options: serde_json::to_string(&options).map_err(|e| fault("options", e))?,
            state: CeremonyState::from_stored(
                serde_json::to_vec(&state).map_err(|e| fault("state", e))?,
            ),
        })
    }

    fn finish_registration(
        &self,
        state: &CeremonyState,
        name: PasskeyName,
        credential: &str,
    ) -> Result<NewPasskey, WebAuthnError> {
        let state: PasskeyRegistration =
            serde_json::from_slice(state.as_bytes()).map_err(|e| fault("a stored state", e))?;
        let credential: RegisterPublicKeyCredential =
            serde_json::from_str(credential).map_err(|e| refused(e.classify()))?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(refused)?;
        Ok(NewPasskey {
            name,
            credential_id: passkey.cred_id().as_ref().to_vec(),
            credential: StoredCredential::from_stored(
                serde_json::to_vec(&passkey).map_err(|e| fault("a passkey", e))?,
            ),
        })
    }

    fn start_authentication(&self, passkeys: &[Passkey]) -> Result<StartedCeremony, WebAuthnError> {
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&stored_passkeys(passkeys)?)
            .map_err(|e| fault("start an authentication", e))?;
        Ok(StartedCeremony {
            options: serde_json::to_string(&options).map_err(|e| fault("options", e))?,
            state: CeremonyState::from_stored(
                serde_json::to_vec(&state).map_err(|e| fault("state", e))?,
            ),
        })
    }

    fn finish_authentication(
        &self,
        state: &CeremonyState,
        assertion: &str,
        passkeys: &[Passkey],
    ) -> Result<VerifiedAssertion, WebAuthnError> {
        let state: PasskeyAuthentication =
            serde_json::from_slice(state.as_bytes()).map_err(|e| fault("a stored state", e))?;
        let assertion: PublicKeyCredential =
            serde_json::from_str(assertion).map_err(|e| refused(e.classify()))?;
        // Checks the challenge, origin, signature, user verification and
        // that the sign counter moved forward (a cloned authenticator's
        // does not), against the credentials the ceremony allowed.
        let result = self
            .webauthn
            .finish_passkey_authentication(&assertion, &state)
            .map_err(refused)?;
        for passkey in passkeys {
            let mut stored = stored_passkey(passkey)?;
            match stored.update_credential(&result) {
                None => continue,
                Some(changed) => {
                    let updated = if changed {
                        Some(StoredCredential::from_stored(
                            serde_json::to_vec(&stored).map_err(|e| fault("a passkey", e))?,
                        ))
                    } else {
                        None
                    };
                    return Ok(VerifiedAssertion {
                        passkey: passkey.id,
                        updated,
                    });
                }
            }
        }
        // Allowed by the ceremony, but removed since.
        Err(WebAuthnError::Refused("the passkey is gone".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_domain::account::AccountId;

    #[test]
    fn only_a_domain_name_is_a_relying_party_id() {
        for url in ["http://127.0.0.1:8080", "https://[::1]:8443"] {
            assert!(
                RelyingParty::for_public_url(&Url::parse(url).unwrap(), "P").is_none(),
                "{url}"
            );
        }
        for url in ["http://localhost:8080", "https://portal.example.org/"] {
            assert!(
                RelyingParty::for_public_url(&Url::parse(url).unwrap(), "P").is_some(),
                "{url}"
            );
        }
    }

    #[test]
    fn options_name_the_relying_party_and_answers_that_do_not_parse_are_refused() {
        let rp =
            RelyingParty::for_public_url(&Url::parse("https://portal.example.org").unwrap(), "P")
                .unwrap();
        let user = PasskeyUser {
            account_id: AccountId::new(7),
            username: "dr.doe".to_owned(),
        };
        let started = rp.start_registration(&user, &[]).unwrap();
        assert!(
            started.options.contains("\"portal.example.org\""),
            "{}",
            started.options
        );
        assert_eq!(user_handle(&user), user_handle(&user.clone()));
        let name = PasskeyName::parse("Laptop").unwrap();
        for garbage in [
            "",
            "{}",
            "null",
            "[1,2]",
            r#"{"id":"x","rawId":"x","type":"public-key","response":{}}"#,
        ] {
            assert!(
                matches!(
                    rp.finish_registration(&started.state, name.clone(), garbage),
                    Err(WebAuthnError::Refused(_))
                ),
                "{garbage}"
            );
        }
        assert!(matches!(
            rp.finish_registration(&CeremonyState::from_stored(b"junk".to_vec()), name, "{}"),
            Err(WebAuthnError::Fault(_))
        ));
    }
}
