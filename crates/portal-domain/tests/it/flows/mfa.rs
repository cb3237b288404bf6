//! Second factors (SPEC §4a) through the use cases, on the manual clock:
//! enrolment, the login's second step, drift and replay, recovery codes,
//! the lockout, challenges, removal, the operator's reset and
//! `PORTAL_MFA_REQUIRED`.

use super::*;
use base64::Engine as _;
use portal_domain::email::{EmailKind, SecondFactor, SecurityNotice};
use portal_domain::ports::{AuditLog, SecondFactors};
use portal_domain::second_factor::{DataKey, MfaMethod, TotpSecret, time_step};
use portal_domain::service::{
    IssuedChallenge, LoginError, MfaLoginError, MfaSettings, PortalSettings, SecondFactorError,
};

const WRONG: &str = "Not-The-Password-42";

fn data_key() -> DataKey {
    DataKey::parse(&base64::engine::general_purpose::STANDARD.encode([42_u8; 32])).unwrap()
}

fn settings(required: bool) -> PortalSettings {
    PortalSettings {
        mfa: MfaSettings {
            required,
            data_key: Some(data_key()),
            issuer: "CareSource".to_owned(),
            passkeys: None,
        },
        ..PortalSettings::default()
    }
}

fn mfa_portal() -> TestPortal {
    TestPortal::with_settings(sample::roster(), settings(false))
}

/// The code an authenticator app shows now, `drift` steps off.
fn code(p: &TestPortal, secret: &TotpSecret, drift: i64) -> String {
    secret.code_at(time_step(p.clock.now()) + drift)
}

/// `dr.doe`, active, with a confirmed TOTP factor; returns its secret and
/// its recovery codes. The clock is then one step past the confirmation.
async fn enrolled(p: &TestPortal) -> (TotpSecret, Vec<String>) {
    active_account(p).await;
    let auth = session(p).await;
    let enrolment = p
        .start_totp_enrolment(&auth, &password(sample::PASSWORD), CTX)
        .await
        .unwrap();
    let first = code(p, &enrolment.secret, 0);
    let codes = p.confirm_totp(&auth, &first, CTX).await.unwrap();
    p.clock.advance(Duration::seconds(30));
    (
        enrolment.secret,
        codes.iter().map(|c| c.expose_grouped()).collect(),
    )
}

async fn second_step(
    p: &TestPortal,
    challenge: &IssuedChallenge,
    code: &str,
) -> Result<LoggedIn, MfaLoginError> {
    p.finish_mfa_login(challenge.id.expose(), code, CTX).await
}

#[tokio::test]
async fn enrolment_gives_secret_uri_and_ten_codes_once_and_notifies() {
    let p = mfa_portal();
    active_account(&p).await;
    let auth = session(&p).await;
    assert_eq!(
        p.start_totp_enrolment(&auth, &password(WRONG), CTX)
            .await
            .err(),
        Some(SecondFactorError::InvalidCredentials)
    );
    let enrolment = p
        .start_totp_enrolment(&auth, &password(sample::PASSWORD), CTX)
        .await
        .unwrap();
    assert!(
        enrolment
            .otpauth_uri
            .starts_with("otpauth://totp/CareSource:dr.doe?secret="),
        "{:?}",
        enrolment
    );
    assert!(
        enrolment
            .otpauth_uri
            .contains(&enrolment.secret.expose_base32())
    );
    // Not a factor until confirmed: the password alone still logs in.
    assert!(logs_in(&p, sample::PASSWORD).await);
    assert_eq!(
        p.confirm_totp(&auth, "000000", CTX).await.err(),
        Some(SecondFactorError::InvalidCode)
    );
    let codes = p
        .confirm_totp(&auth, &code(&p, &enrolment.secret, 0), CTX)
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    let distinct: std::collections::HashSet<_> = codes.iter().map(|c| c.expose_grouped()).collect();
    assert_eq!(distinct.len(), 10);
    assert!(matches!(
        p.store.emails().last().unwrap().kind,
        EmailKind::Notice(SecurityNotice::FactorAdded(SecondFactor::Totp))
    ));
    // Enrolled once: neither a new start nor a second confirmation.
    assert_eq!(
        p.start_totp_enrolment(&auth, &password(sample::PASSWORD), CTX)
            .await
            .err(),
        Some(SecondFactorError::AlreadyEnrolled)
    );
    assert_eq!(
        p.confirm_totp(&auth, &code(&p, &enrolment.secret, 0), CTX)
            .await
            .err(),
        Some(SecondFactorError::AlreadyEnrolled)
    );
    let events = p.store.audit_events(&AuditFilter::default()).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == AuditAction::SecondFactorAdded && e.outcome.as_str() == "success")
    );
}

#[tokio::test]
async fn a_login_with_a_factor_needs_a_code_accepted_once_with_one_step_of_drift() {
    let p = mfa_portal();
    let (secret, _) = enrolled(&p).await;
    let challenge = challenged(&p).await;
    assert_eq!(
        challenge.methods,
        vec![MfaMethod::Totp, MfaMethod::RecoveryCode]
    );
    assert_eq!(challenge.expires_at, p.clock.now() + Duration::minutes(5));
    // The confirming code's step is spent: replaying it is refused.
    assert_eq!(
        second_step(&p, &challenge, &code(&p, &secret, -1))
            .await
            .err(),
        Some(MfaLoginError::InvalidCode)
    );
    // Two steps off is too far.
    assert_eq!(
        second_step(&p, &challenge, &code(&p, &secret, 2))
            .await
            .err(),
        Some(MfaLoginError::InvalidCode)
    );
    let now_code = code(&p, &secret, 0);
    let logged = second_step(&p, &challenge, &now_code).await.unwrap();
    assert!(p.authenticate(logged.token.expose()).await.is_ok());
    // The challenge is spent, and the code too (on a new challenge).
    assert_eq!(
        second_step(&p, &challenge, &code(&p, &secret, 1))
            .await
            .err(),
        Some(MfaLoginError::InvalidCode)
    );
    let again = challenged(&p).await;
    assert_eq!(
        second_step(&p, &again, &now_code).await.err(),
        Some(MfaLoginError::InvalidCode),
        "replayed"
    );
    // One step ahead (the app's clock is fast) is accepted once.
    assert!(second_step(&p, &again, &code(&p, &secret, 1)).await.is_ok());
    // One step behind is accepted when no newer step was used.
    let p2 = mfa_portal();
    let (secret2, _) = enrolled(&p2).await;
    p2.clock.advance(Duration::seconds(60));
    let c = challenged(&p2).await;
    assert!(second_step(&p2, &c, &code(&p2, &secret2, -1)).await.is_ok());
}

#[tokio::test]
async fn recovery_codes_log_in_once_each() {
    let p = mfa_portal();
    let (_, codes) = enrolled(&p).await;
    let challenge = challenged(&p).await;
    // Typed in capitals with spaces: the same code.
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert!(second_step(&p, &challenge, &typed).await.is_ok());
    let again = challenged(&p).await;
    assert_eq!(
        second_step(&p, &again, &codes[3]).await.err(),
        Some(MfaLoginError::InvalidCode),
        "used"
    );
    assert!(second_step(&p, &again, &codes[4]).await.is_ok());
    let account = p
        .store
        .account_by_username(&Username::parse("dr.doe").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.store
            .second_factors_of(account.id)
            .await
            .unwrap()
            .recovery_codes_left,
        8
    );
}

#[tokio::test]
async fn wrong_codes_count_toward_the_lockout_and_a_right_password_clears_nothing() {
    let p = mfa_portal();
    let (secret, _) = enrolled(&p).await;
    for _ in 0..2 {
        let challenge = challenged(&p).await;
        for _ in 0..2 {
            assert_eq!(
                second_step(&p, &challenge, "000000").await.err(),
                Some(MfaLoginError::InvalidCode)
            );
        }
    }
    // Four wrong codes; the right passwords between them did not clear them.
    let challenge = challenged(&p).await;
    let locked = second_step(&p, &challenge, "not a code").await.err();
    assert!(
        matches!(locked, Some(MfaLoginError::AccountLocked { .. })),
        "{locked:?}"
    );
    // Locked: a right code does not log in, nor does the password.
    assert!(matches!(
        second_step(&p, &challenge, &code(&p, &secret, 0))
            .await
            .err(),
        Some(MfaLoginError::AccountLocked { .. })
    ));
    assert!(matches!(
        p.login("dr.doe", sample::PASSWORD, CTX).await.err(),
        Some(LoginError::AccountLocked { .. })
    ));
}

#[tokio::test]
async fn a_finished_login_clears_the_count() {
    let p = mfa_portal();
    let (secret, _) = enrolled(&p).await;
    let challenge = challenged(&p).await;
    for _ in 0..4 {
        second_step(&p, &challenge, "000000").await.unwrap_err();
    }
    second_step(&p, &challenge, &code(&p, &secret, 0))
        .await
        .unwrap();
    let account = p
        .store
        .account_by_username(&Username::parse("dr.doe").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.lock.failed_count, 0);
}

#[tokio::test]
async fn made_up_expired_and_voided_challenges_are_invalid_codes() {
    let p = mfa_portal();
    let (secret, _) = enrolled(&p).await;
    for made_up in ["", "nonsense", &"A".repeat(43), &"x".repeat(5000)] {
        assert_eq!(
            p.finish_mfa_login(made_up, &code(&p, &secret, 0), CTX)
                .await
                .err(),
            Some(MfaLoginError::InvalidCode)
        );
    }
    let challenge = challenged(&p).await;
    p.clock.advance(Duration::minutes(5));
    assert_eq!(
        second_step(&p, &challenge, &code(&p, &secret, 0))
            .await
            .err(),
        Some(MfaLoginError::InvalidCode),
        "expired at five minutes"
    );
    // A password reset neither removes the factor nor lets a challenge
    // issued before it finish.
    let challenge = challenged(&p).await;
    p.request_password_reset("dr.doe", CTX).await.unwrap();
    let token = p.last_link_token().unwrap();
    p.confirm_password_reset(&token, &password(NEW_PASSWORD), CTX)
        .await
        .unwrap();
    assert_eq!(
        second_step(&p, &challenge, &code(&p, &secret, 0))
            .await
            .err(),
        Some(MfaLoginError::InvalidCode)
    );
    assert!(matches!(
        p.login("dr.doe", NEW_PASSWORD, CTX).await,
        Err(LoginError::SecondStepRequired(_))
    ));
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_answer_as_before() {
    let p = mfa_portal();
    enrolled(&p).await;
    assert_eq!(
        p.login("dr.doe", WRONG, CTX).await.err(),
        Some(LoginError::InvalidCredentials)
    );
    assert_eq!(
        p.login("nobody.here", WRONG, CTX).await.err(),
        Some(LoginError::InvalidCredentials)
    );
}

#[tokio::test]
async fn racing_wrong_codes_never_verify_more_than_the_limit() {
    let p = mfa_portal();
    let (secret, _) = enrolled(&p).await;
    let challenge = challenged(&p).await;
    let attempts = (0..40).map(|i| {
        let p = &p;
        let challenge = &challenge;
        async move { second_step(p, challenge, &format!("{:06}", i)).await }
    });
    let results = futures::future::join_all(attempts).await;
    let invalid = results
        .iter()
        .filter(|r| matches!(r, Err(MfaLoginError::InvalidCode)))
        .count();
    let locked = results
        .iter()
        .filter(|r| matches!(r, Err(MfaLoginError::AccountLocked { .. })))
        .count();
    // The fifth judged wrong code locks; every other attempt is refused.
    assert!(invalid <= 4, "{invalid} wrong codes verified");
    assert_eq!(
        invalid + locked,
        40 - results.iter().filter(|r| r.is_ok()).count()
    );
    assert!(matches!(
        second_step(&p, &challenge, &code(&p, &secret, 0))
            .await
            .err(),
        Some(MfaLoginError::AccountLocked { .. })
    ));
}

#[tokio::test]
async fn one_code_racing_on_two_challenges_logs_in_once() {
    let p = mfa_portal();
    let (secret, _) = enrolled(&p).await;
    let first = challenged(&p).await;
    let second = challenged(&p).await;
    let now_code = code(&p, &secret, 0);
    let (a, b) = tokio::join!(
        second_step(&p, &first, &now_code),
        second_step(&p, &second, &now_code)
    );
    assert_eq!(usize::from(a.is_ok()) + usize::from(b.is_ok()), 1);
}

#[tokio::test]
async fn removal_needs_the_password_and_a_code_and_notifies() {
    let p = mfa_portal();
    let (secret, codes) = enrolled(&p).await;
    let challenge = challenged(&p).await;
    let auth = p
        .authenticate(
            second_step(&p, &challenge, &code(&p, &secret, 0))
                .await
                .unwrap()
                .token
                .expose(),
        )
        .await
        .unwrap();
    assert_eq!(
        p.remove_totp(&auth, &password(WRONG), &codes[0], CTX)
            .await
            .err(),
        Some(SecondFactorError::InvalidCredentials)
    );
    assert_eq!(
        p.remove_totp(&auth, &password(sample::PASSWORD), "123456", CTX)
            .await
            .err(),
        Some(SecondFactorError::InvalidCode)
    );
    p.remove_totp(&auth, &password(sample::PASSWORD), &codes[0], CTX)
        .await
        .unwrap();
    assert!(matches!(
        p.store.emails().last().unwrap().kind,
        EmailKind::Notice(SecurityNotice::FactorRemoved(SecondFactor::Totp))
    ));
    assert_eq!(
        p.remove_totp(&auth, &password(sample::PASSWORD), &codes[1], CTX)
            .await
            .err(),
        Some(SecondFactorError::NotEnrolled)
    );
    assert!(
        logs_in(&p, sample::PASSWORD).await,
        "the password alone again"
    );
}

#[tokio::test]
async fn the_operator_reset_removes_the_factors_and_show_names_them() {
    let p = mfa_portal();
    enrolled(&p).await;
    let shown = p.show_account("dr.doe", CTX).await.unwrap();
    assert!(shown.second_factors.totp);
    assert_eq!(shown.second_factors.recovery_codes_left, 10);
    assert!(p.reset_second_factors("dr.doe", CTX).await.unwrap());
    assert!(!p.reset_second_factors("dr.doe", CTX).await.unwrap());
    assert!(matches!(
        p.store.emails().last().unwrap().kind,
        EmailKind::Notice(SecurityNotice::FactorRemoved(SecondFactor::Totp))
    ));
    assert!(
        !p.show_account("dr.doe", CTX)
            .await
            .unwrap()
            .second_factors
            .totp
    );
    assert!(logs_in(&p, sample::PASSWORD).await);
    let events = p.store.audit_events(&AuditFilter::default()).await.unwrap();
    assert!(events.iter().any(|e| e.action == AuditAction::SecondFactorsReset
        && e.outcome.as_str() == "success"));
}

#[tokio::test]
async fn mfa_required_restricts_a_session_until_the_account_enrols() {
    let p = TestPortal::with_settings(sample::roster(), settings(true));
    active_account(&p).await;
    let token = logged_in(&p).await.token;
    let auth = p.authenticate(token.expose()).await.unwrap();
    assert!(auth.mfa_enrolment_required);
    let enrolment = p
        .start_totp_enrolment(&auth, &password(sample::PASSWORD), CTX)
        .await
        .unwrap();
    p.confirm_totp(&auth, &code(&p, &enrolment.secret, 0), CTX)
        .await
        .unwrap();
    let again = p.authenticate(token.expose()).await.unwrap();
    assert!(!again.mfa_enrolment_required);
}

#[tokio::test]
async fn enrolment_without_a_data_key_is_refused_before_anything_is_counted() {
    let p = portal();
    active_account(&p).await;
    let auth = session(&p).await;
    let refused = p
        .start_totp_enrolment(&auth, &password(WRONG), CTX)
        .await
        .err();
    assert!(
        matches!(refused, Some(SecondFactorError::Fault(_))),
        "{refused:?}"
    );
    let account = p
        .store
        .account_by_username(&Username::parse("dr.doe").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.lock.failed_count, 0);
}
