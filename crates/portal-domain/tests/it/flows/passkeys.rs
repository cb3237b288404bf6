//! Passkeys (SPEC §4a) through the use cases, on the manual clock and a
//! scripted relying party (the real WebAuthn library is the HTTP crate's,
//! tested there with Chromium's virtual authenticator): registration with
//! the current password, single-use ceremonies of 5 minutes, the login's
//! second step with an assertion, failed assertions counted toward the
//! lockout, removal, the operator's reset and `PORTAL_MFA_REQUIRED`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use portal_domain::email::{EmailKind, SecondFactor, SecurityNotice};
use portal_domain::passkey::{
    CeremonyState, NewPasskey, Passkey, PasskeyName, PasskeyUser, StartedCeremony,
    StoredCredential, VerifiedAssertion,
};
use portal_domain::ports::{AuditLog, WebAuthn, WebAuthnError, WebAuthnHandle};
use portal_domain::second_factor::MfaMethod;
use portal_domain::service::{
    Authenticated, IssuedChallenge, MfaLoginError, MfaSettings, PasskeyError, PortalSettings,
    SecondStep,
};

const WRONG: &str = "Not-The-Password-42";

/// A relying party that plays the protocol with texts: a registration
/// answer `attest:<challenge>:<credential id>`, an assertion
/// `assert:<challenge>:<credential id>:<counter>`. It checks what the
/// library checks that matters here: the challenge of this ceremony, a
/// credential the ceremony allowed, a counter that moves forward.
#[derive(Debug, Default)]
struct ScriptedRelyingParty {
    next: AtomicU64,
}

impl ScriptedRelyingParty {
    fn challenge(&self, kind: &str) -> String {
        format!("{kind}{}", self.next.fetch_add(1, Ordering::SeqCst))
    }
}

fn refused(why: &str) -> WebAuthnError {
    WebAuthnError::Refused(why.to_owned())
}

fn counter_of(credential: &StoredCredential) -> u64 {
    String::from_utf8_lossy(credential.as_bytes())
        .rsplit(':')
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

impl WebAuthn for ScriptedRelyingParty {
    fn start_registration(
        &self,
        user: &PasskeyUser,
        existing: &[Passkey],
    ) -> Result<StartedCeremony, WebAuthnError> {
        let challenge = self.challenge("reg");
        Ok(StartedCeremony {
            options: format!(
                r#"{{"challenge":"{challenge}","user":"{}","exclude":{}}}"#,
                user.username,
                existing.len()
            ),
            state: CeremonyState::from_stored(challenge.into_bytes()),
        })
    }

    fn finish_registration(
        &self,
        state: &CeremonyState,
        name: PasskeyName,
        credential: &str,
    ) -> Result<NewPasskey, WebAuthnError> {
        let mut parts = credential.split(':');
        let (Some("attest"), Some(challenge), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(refused("malformed"));
        };
        if challenge.as_bytes() != state.as_bytes() {
            return Err(refused("another challenge"));
        }
        Ok(NewPasskey {
            name,
            credential_id: id.as_bytes().to_vec(),
            credential: StoredCredential::from_stored(format!("cred:{id}:0").into_bytes()),
        })
    }

    fn start_authentication(&self, passkeys: &[Passkey]) -> Result<StartedCeremony, WebAuthnError> {
        let challenge = self.challenge("auth");
        let allowed: Vec<String> = passkeys
            .iter()
            .map(|p| String::from_utf8_lossy(&p.credential_id).into_owned())
            .collect();
        Ok(StartedCeremony {
            options: format!(r#"{{"challenge":"{challenge}"}}"#),
            state: CeremonyState::from_stored(
                format!("{challenge}|{}", allowed.join(",")).into_bytes(),
            ),
        })
    }

    fn finish_authentication(
        &self,
        state: &CeremonyState,
        assertion: &str,
        passkeys: &[Passkey],
    ) -> Result<VerifiedAssertion, WebAuthnError> {
        let state = String::from_utf8_lossy(state.as_bytes()).into_owned();
        let (challenge, allowed) = state
            .split_once('|')
            .ok_or(WebAuthnError::Fault("state".into()))?;
        let mut parts = assertion.split(':');
        let (Some("assert"), Some(sent), Some(id), Some(counter), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(refused("malformed"));
        };
        if sent != challenge {
            return Err(refused("another challenge"));
        }
        if !allowed.split(',').any(|a| a == id) {
            return Err(refused("credential not allowed"));
        }
        let passkey = passkeys
            .iter()
            .find(|p| p.credential_id == id.as_bytes())
            .ok_or_else(|| refused("unknown credential"))?;
        let counter: u64 = counter.parse().map_err(|_| refused("counter"))?;
        if counter <= counter_of(&passkey.credential) {
            return Err(refused("counter went backwards: a cloned authenticator?"));
        }
        Ok(VerifiedAssertion {
            passkey: passkey.id,
            updated: Some(StoredCredential::from_stored(
                format!("cred:{id}:{counter}").into_bytes(),
            )),
        })
    }
}

fn settings(required: bool, passkeys: bool) -> PortalSettings {
    PortalSettings {
        mfa: MfaSettings {
            required,
            passkeys: passkeys.then(|| WebAuthnHandle(Arc::new(ScriptedRelyingParty::default()))),
            ..MfaSettings::default()
        },
        ..PortalSettings::default()
    }
}

fn passkey_portal() -> TestPortal {
    TestPortal::with_settings(sample::roster(), settings(false, true))
}

fn challenge_in(options: &str) -> String {
    options
        .split('"')
        .nth(3)
        .map(str::to_owned)
        .unwrap_or_default()
}

fn name(text: &str) -> PasskeyName {
    PasskeyName::parse(text).unwrap()
}

/// Registers the passkey `credential` as "Laptop" on a logged-in account.
async fn register_passkey(p: &TestPortal, auth: &Authenticated, credential: &str) {
    let started = p
        .start_passkey_registration(auth, &password(sample::PASSWORD), CTX)
        .await
        .unwrap();
    let answer = format!("attest:{}:{credential}", challenge_in(&started.options));
    p.finish_passkey_registration(
        auth,
        started.ceremony_id.unwrap().expose(),
        &name("Laptop"),
        &answer,
        CTX,
    )
    .await
    .unwrap();
}

/// An assertion by `credential` with sign counter `counter` for a fresh
/// passkey ceremony of `challenge`.
async fn assertion(
    p: &TestPortal,
    challenge: &IssuedChallenge,
    credential: &str,
    counter: u32,
) -> String {
    let started = p.start_passkey_login(challenge.id.expose()).await.unwrap();
    format!(
        "assert:{}:{credential}:{counter}",
        challenge_in(&started.options)
    )
}

async fn with_passkey(
    p: &TestPortal,
    challenge: &IssuedChallenge,
    assertion: &str,
) -> Result<LoggedIn, MfaLoginError> {
    p.finish_second_step(challenge.id.expose(), SecondStep::Passkey(assertion), CTX)
        .await
}

#[tokio::test]
async fn an_account_whose_only_factor_is_a_passkey_needs_an_assertion_once() {
    let p = passkey_portal();
    active_account(&p).await;
    let auth = session(&p).await;
    register_passkey(&p, &auth, "cred-1").await;
    assert!(matches!(
        p.store.emails().last().unwrap().kind,
        EmailKind::Notice(SecurityNotice::FactorAdded(SecondFactor::Passkey))
    ));
    let events = p.store.audit_events(&AuditFilter::default()).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == AuditAction::SecondFactorAdded && e.outcome.as_str() == "success"),
        "the same event as a TOTP enrolment"
    );
    let challenge = challenged(&p).await;
    assert_eq!(challenge.methods, [MfaMethod::Passkey]);
    // A code is no way in for an account without TOTP.
    assert_eq!(
        p.finish_mfa_login(challenge.id.expose(), "123456", CTX)
            .await
            .err(),
        Some(MfaLoginError::InvalidCode)
    );
    let answer = assertion(&p, &challenge, "cred-1", 1).await;
    p.clock.advance(Duration::seconds(10));
    let logged = with_passkey(&p, &challenge, &answer).await.unwrap();
    assert!(p.authenticate(logged.token.expose()).await.is_ok());
    let used = p.passkeys(&auth).await.unwrap().remove(0);
    assert_eq!(used.last_used_at, Some(p.clock.now()));
    assert_eq!(counter_of(&used.credential), 1, "the new counter is stored");
    // Single use: the challenge and the ceremony are spent.
    assert_eq!(
        with_passkey(&p, &challenge, &answer).await.err(),
        Some(MfaLoginError::InvalidCode)
    );
    assert_eq!(
        p.start_passkey_login(challenge.id.expose()).await.err(),
        Some(MfaLoginError::InvalidCode)
    );
    // A replayed (cloned) counter is refused on the next login.
    let next = challenged(&p).await;
    let replay = assertion(&p, &next, "cred-1", 1).await;
    assert_eq!(
        with_passkey(&p, &next, &replay).await.err(),
        Some(MfaLoginError::InvalidCode)
    );
    let fresh = assertion(&p, &next, "cred-1", 2).await;
    assert!(with_passkey(&p, &next, &fresh).await.is_ok());
}

#[tokio::test]
async fn failed_assertions_count_toward_the_lockout_like_wrong_codes() {
    let p = passkey_portal();
    active_account(&p).await;
    let auth = session(&p).await;
    register_passkey(&p, &auth, "cred-1").await;
    let challenge = challenged(&p).await;
    for attempt in 0..4 {
        // Garbage, another challenge's answer, an unknown credential, and
        // an assertion with no ceremony started: each is one failure.
        let answer = match attempt {
            0 => "garbage".to_owned(),
            1 => "assert:auth999:cred-1:5".to_owned(),
            2 => assertion(&p, &challenge, "cred-other", 5).await,
            _ => "assert:auth1:cred-1:5".to_owned(),
        };
        assert_eq!(
            with_passkey(&p, &challenge, &answer).await.err(),
            Some(MfaLoginError::InvalidCode),
            "{attempt}"
        );
    }
    // The fifth failure locks, and then a right assertion does not log in.
    let locked = with_passkey(&p, &challenge, "nope").await.err();
    assert!(
        matches!(locked, Some(MfaLoginError::AccountLocked { .. })),
        "{locked:?}"
    );
    let right = assertion(&p, &challenge, "cred-1", 9).await;
    assert!(matches!(
        with_passkey(&p, &challenge, &right).await.err(),
        Some(MfaLoginError::AccountLocked { .. })
    ));
}

#[tokio::test]
async fn another_accounts_passkey_is_not_allowed() {
    let p = passkey_portal();
    active_account(&p).await;
    let auth = session(&p).await;
    register_passkey(&p, &auth, "cred-doe").await;
    // The options name only the challenge's account's passkeys: another
    // credential (another account's, say) is refused and counted.
    let challenge = challenged(&p).await;
    let foreign = assertion(&p, &challenge, "cred-roe", 1).await;
    assert_eq!(
        with_passkey(&p, &challenge, &foreign).await.err(),
        Some(MfaLoginError::InvalidCode)
    );
    let account = p
        .store
        .account_by_username(&Username::parse("dr.doe").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.lock.failed_count, 1);
}

#[tokio::test]
async fn registration_ceremonies_are_single_use_five_minutes_and_the_accounts_own() {
    let p = passkey_portal();
    active_account(&p).await;
    let auth = session(&p).await;
    assert_eq!(
        p.start_passkey_registration(&auth, &password(WRONG), CTX)
            .await
            .err(),
        Some(PasskeyError::InvalidCredentials)
    );
    let start = || async {
        p.start_passkey_registration(&auth, &password(sample::PASSWORD), CTX)
            .await
            .unwrap()
    };
    // Expired at five minutes.
    let old = start().await;
    p.clock.advance(Duration::minutes(5));
    let old_answer = format!("attest:{}:cred-1", challenge_in(&old.options));
    let old_id = old.ceremony_id.unwrap();
    assert_eq!(
        p.finish_passkey_registration(&auth, old_id.expose(), &name("A"), &old_answer, CTX)
            .await
            .err(),
        Some(PasskeyError::InvalidPasskey)
    );
    // A refused answer spends the ceremony; so does a success.
    let started = start().await;
    let id = started.ceremony_id.unwrap();
    let right = format!("attest:{}:cred-1", challenge_in(&started.options));
    assert_eq!(
        p.finish_passkey_registration(&auth, id.expose(), &name("A"), "attest:reg999:cred-1", CTX)
            .await
            .err(),
        Some(PasskeyError::InvalidPasskey)
    );
    assert_eq!(
        p.finish_passkey_registration(&auth, id.expose(), &name("A"), &right, CTX)
            .await
            .err(),
        Some(PasskeyError::InvalidPasskey),
        "spent by the refused answer"
    );
    for made_up in ["", "nonsense", &"A".repeat(43)] {
        assert_eq!(
            p.finish_passkey_registration(&auth, made_up, &name("A"), &right, CTX)
                .await
                .err(),
            Some(PasskeyError::InvalidPasskey)
        );
    }
    // Another account cannot finish this account's ceremony.
    register(&p, sample::group_request(), "acme.admin").await;
    p.activate(&p.last_link_token().unwrap(), CTX)
        .await
        .unwrap();
    let other = p.login("acme.admin", sample::PASSWORD, CTX).await.unwrap();
    let other = p.authenticate(other.token.expose()).await.unwrap();
    let mine = start().await;
    let mine_id = mine.ceremony_id.unwrap();
    let answer = format!("attest:{}:cred-2", challenge_in(&mine.options));
    assert_eq!(
        p.finish_passkey_registration(&other, mine_id.expose(), &name("A"), &answer, CTX)
            .await
            .err(),
        Some(PasskeyError::InvalidPasskey)
    );
    assert!(p.passkeys(&auth).await.unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_ceremonies_are_capped() {
    let p = passkey_portal();
    active_account(&p).await;
    let auth = session(&p).await;
    for _ in 0..5 {
        p.start_passkey_registration(&auth, &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
    }
    assert_eq!(
        p.start_passkey_registration(&auth, &password(sample::PASSWORD), CTX)
            .await
            .err(),
        Some(PasskeyError::Limit)
    );
    p.clock.advance(Duration::minutes(5));
    assert!(
        p.start_passkey_registration(&auth, &password(sample::PASSWORD), CTX)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn renaming_removal_and_the_operators_reset() {
    let p = passkey_portal();
    active_account(&p).await;
    let auth = session(&p).await;
    register_passkey(&p, &auth, "cred-1").await;
    let id = p.passkeys(&auth).await.unwrap()[0].id;
    p.rename_passkey(&auth, id, &name("Desk key"))
        .await
        .unwrap();
    assert_eq!(
        p.passkeys(&auth).await.unwrap()[0].name.as_str(),
        "Desk key"
    );
    assert_eq!(
        p.rename_passkey(
            &auth,
            portal_domain::passkey::PasskeyId::new(999),
            &name("X")
        )
        .await
        .err(),
        Some(PasskeyError::NotFound)
    );
    let shown = p.show_account("dr.doe", CTX).await.unwrap();
    assert_eq!(shown.passkeys, ["Desk key"]);
    assert_eq!(shown.second_factors.passkeys, 1);
    assert_eq!(
        p.remove_passkey(&auth, id, &password(WRONG), CTX)
            .await
            .err(),
        Some(PasskeyError::InvalidCredentials)
    );
    p.remove_passkey(&auth, id, &password(sample::PASSWORD), CTX)
        .await
        .unwrap();
    assert!(matches!(
        p.store.emails().last().unwrap().kind,
        EmailKind::Notice(SecurityNotice::FactorRemoved(SecondFactor::Passkey))
    ));
    assert!(logs_in(&p, sample::PASSWORD).await, "no factor left");
    // The operator's reset removes passkeys too.
    let auth = session(&p).await;
    register_passkey(&p, &auth, "cred-2").await;
    assert!(!logs_in(&p, sample::PASSWORD).await);
    assert!(p.reset_second_factors("dr.doe", CTX).await.unwrap());
    assert!(matches!(
        p.store.emails().last().unwrap().kind,
        EmailKind::Notice(SecurityNotice::FactorRemoved(SecondFactor::Passkey))
    ));
    assert!(logs_in(&p, sample::PASSWORD).await);
    let events = p.store.audit_events(&AuditFilter::default()).await.unwrap();
    assert!(
        events.iter().any(
            |e| e.action == AuditAction::SecondFactorRemoved && e.outcome.as_str() == "success"
        )
    );
}

#[tokio::test]
async fn without_a_relying_party_passkeys_are_unavailable() {
    let p = TestPortal::with_settings(sample::roster(), settings(false, false));
    active_account(&p).await;
    let auth = session(&p).await;
    assert!(!p.passkeys_available());
    assert_eq!(
        p.start_passkey_registration(&auth, &password(sample::PASSWORD), CTX)
            .await
            .err(),
        Some(PasskeyError::Unavailable)
    );
    assert_eq!(
        p.finish_passkey_registration(&auth, &"A".repeat(43), &name("A"), "x", CTX)
            .await
            .err(),
        Some(PasskeyError::Unavailable)
    );
    assert_eq!(
        p.start_passkey_login(&"A".repeat(43)).await.err(),
        Some(MfaLoginError::PasskeysUnavailable)
    );
}

#[tokio::test]
async fn a_passkey_satisfies_mfa_required() {
    let p = TestPortal::with_settings(sample::roster(), settings(true, true));
    active_account(&p).await;
    let auth = session(&p).await;
    assert!(auth.mfa_enrolment_required);
    register_passkey(&p, &auth, "cred-1").await;
    let challenge = challenged(&p).await;
    let answer = assertion(&p, &challenge, "cred-1", 1).await;
    let logged = with_passkey(&p, &challenge, &answer).await.unwrap();
    let auth = p.authenticate(logged.token.expose()).await.unwrap();
    assert!(!auth.mfa_enrolment_required);
}
