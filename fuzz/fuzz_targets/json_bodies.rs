//! Fuzzes the JSON request bodies of the API on their way into domain values:
//! `serde_json` into portal-http's request types (`deny_unknown_fields`, every
//! member optional), then their `try_into_domain()`, the very code the
//! handlers and the HTML pages run. The first byte picks the body:
//! registration, agreement or account.
//!
//! Invariants: a refusal names every invalid or missing member, each once,
//! and nothing else; an accepted body holds exactly what each member parses
//! to on its own, and each value re-parses to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portal_domain::roster::ProofingRequest;
use portal_domain::service::InvalidInput;
use portal_domain::values::{
    AgreementVersion, EmailAddress, GroupName, Password, PersonName, ProviderId, ProviderKind,
    SecurityAnswer, SecurityQuestionId, TaxId, Username, Zip,
};
use portal_http::api::{AccountRequest, AgreementRequest, RegistrationRequest};

/// Whether an optional text member is present, non-blank and parses.
fn valid<T, E>(value: &Option<String>, parse: impl Fn(&str) -> Result<T, E>) -> bool {
    value
        .as_deref()
        .is_some_and(|text| !text.trim().is_empty() && parse(text).is_ok())
}

/// The members a refusal names, checked to be unique, sorted.
fn named(errors: &InvalidInput) -> Vec<&str> {
    assert!(!errors.0.is_empty(), "a refusal names a member");
    let mut fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
    for error in &errors.0 {
        assert!(!error.message.is_empty());
    }
    fields.sort_unstable();
    let count = fields.len();
    fields.dedup();
    assert_eq!(fields.len(), count, "a member named twice: {errors:?}");
    fields
}

/// The members expected in a refusal, sorted.
fn expected(invalid: &[(&'static str, bool)]) -> Vec<&'static str> {
    let mut fields: Vec<&str> = invalid
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| *name)
        .collect();
    fields.sort_unstable();
    fields
}

fn registration(body: &RegistrationRequest) {
    let kind = body
        .provider_type
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .and_then(|t| ProviderKind::parse(t).ok());
    let mut members = vec![
        ("provider_type", kind.is_some()),
        ("provider_id", valid(&body.provider_id, ProviderId::parse)),
        ("tax_id", valid(&body.tax_id, TaxId::parse)),
        ("zip", valid(&body.zip, Zip::parse)),
    ];
    match kind {
        Some(ProviderKind::Practitioner) => {
            members.push(("first_name", valid(&body.first_name, PersonName::parse)));
            members.push(("last_name", valid(&body.last_name, PersonName::parse)));
        }
        Some(ProviderKind::Group) => {
            members.push(("group_name", valid(&body.group_name, GroupName::parse)));
        }
        None => {}
    }
    let invalid = expected(&members);
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    match body.try_into_domain() {
        Ok(request) => {
            assert!(invalid.is_empty(), "accepted despite {invalid:?}");
            assert_eq!(
                request.tax_id(),
                &TaxId::parse(&text(&body.tax_id)).unwrap()
            );
            match request {
                ProofingRequest::Practitioner {
                    provider_id,
                    tax_id,
                    first_name,
                    last_name,
                    zip,
                } => {
                    assert_eq!(kind, Some(ProviderKind::Practitioner));
                    assert_eq!(Ok(provider_id), ProviderId::parse(&text(&body.provider_id)));
                    assert_eq!(Ok(&tax_id), TaxId::parse(tax_id.as_str()).as_ref());
                    assert_eq!(Ok(zip), Zip::parse(&text(&body.zip)));
                    for (name, raw) in
                        [(first_name, &body.first_name), (last_name, &body.last_name)]
                    {
                        let from_raw = PersonName::parse(&text(raw)).unwrap();
                        assert_eq!(name.as_str(), from_raw.as_str());
                        let again = PersonName::parse(name.as_str()).unwrap();
                        assert_eq!((again.as_str(), again.key()), (name.as_str(), name.key()));
                    }
                }
                ProofingRequest::Group {
                    group_name,
                    provider_id,
                    zip,
                    ..
                } => {
                    assert_eq!(kind, Some(ProviderKind::Group));
                    assert_eq!(Ok(provider_id), ProviderId::parse(&text(&body.provider_id)));
                    assert_eq!(Ok(zip), Zip::parse(&text(&body.zip)));
                    let again = GroupName::parse(group_name.as_str()).unwrap();
                    assert_eq!(
                        (again.as_str(), again.key()),
                        (group_name.as_str(), group_name.key())
                    );
                }
            }
        }
        Err(errors) => assert_eq!(named(&errors), invalid, "{body:?}"),
    }
}

fn agreement(body: &AgreementRequest) {
    let invalid = expected(&[
        ("accepted", body.accepted.is_some()),
        (
            "agreement_version",
            valid(&body.agreement_version, AgreementVersion::parse),
        ),
    ]);
    match body.try_into_domain() {
        Ok(input) => {
            assert!(invalid.is_empty(), "accepted despite {invalid:?}");
            assert_eq!(Some(input.accepted), body.accepted);
            assert_eq!(
                AgreementVersion::parse(input.version.as_str()),
                Ok(input.version)
            );
        }
        Err(errors) => assert_eq!(named(&errors), invalid, "{body:?}"),
    }
}

fn account(body: &AccountRequest) {
    let password_ok = body
        .password
        .as_deref()
        .is_some_and(|p| !p.is_empty() && Password::parse(p).is_ok());
    let invalid = expected(&[
        ("username", valid(&body.username, Username::parse)),
        ("password", password_ok),
        ("email", valid(&body.email, EmailAddress::parse)),
        (
            "security_question_id",
            body.security_question_id
                .is_some_and(|id| SecurityQuestionId::parse(id).is_ok()),
        ),
        (
            "security_answer",
            valid(&body.security_answer, SecurityAnswer::parse),
        ),
    ]);
    match body.try_into_domain() {
        Ok(input) => {
            assert!(invalid.is_empty(), "accepted despite {invalid:?}");
            let again = Username::parse(input.username.as_str()).unwrap();
            assert_eq!(again.as_str(), input.username.as_str());
            assert_eq!(EmailAddress::parse(input.email.as_str()), Ok(input.email));
            assert_eq!(
                Some(i64::from(input.security_question.get())),
                body.security_question_id
            );
            let answer = input.security_answer.expose_normalized();
            let again = SecurityAnswer::parse(answer).unwrap();
            assert_eq!(again.expose_normalized(), answer, "answer not normalised");
            let raw = body.password.as_deref().unwrap_or_default();
            let password = Password::parse(raw).unwrap();
            assert_eq!(input.password.expose(), password.expose());
        }
        Err(errors) => assert_eq!(named(&errors), invalid, "{body:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, json)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            if let Ok(body) = serde_json::from_slice::<RegistrationRequest>(json) {
                registration(&body);
            }
        }
        1 => {
            if let Ok(body) = serde_json::from_slice::<AgreementRequest>(json) {
                agreement(&body);
            }
        }
        _ => {
            if let Ok(body) = serde_json::from_slice::<AccountRequest>(json) {
                account(&body);
            }
        }
    }
});
