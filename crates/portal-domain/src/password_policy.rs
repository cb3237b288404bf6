//! The password policy (SPEC §5).
//!
//! [`PasswordPolicy::check`] reports every unmet rule at once, as
//! [`PasswordViolation`] values carrying what is needed to explain them, so
//! the API, the HTML pages and the tests all read the same thing.
//!
//! # Unicode
//!
//! Passwords are NFKC-normalised by [`Password::parse`] before they are
//! checked and hashed, never truncated, and lengths count Unicode scalar
//! values (`char`s), not bytes. For the character classes:
//!
//! - `lowercase` / `uppercase`: any letter Unicode calls lower- or upper-case,
//!   in any script (`é`, `Ж` count). Letters without case (Han, Arabic, …)
//!   count for neither, but are letters, so not symbols.
//! - `digit`: any Unicode numeric character (`7`, `٣`, `½`).
//! - `symbol`: any character that is neither a letter nor a number
//!   (punctuation, spaces, emoji).
//!
//! # Cost
//!
//! zxcvbn's cost grows steeply with length (~150 ms at 100 characters), so it
//! only sees the first [`PasswordPolicy::STRENGTH_WINDOW`] characters, and an
//! over-long password is refused before it runs. A 64-character prefix that
//! is guessable makes the whole password guessable, and a long password whose
//! prefix is strong is strong.

use std::fmt;

use crate::values::{EmailAddress, Password, Username};

/// One unmet rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordViolation {
    MinLength {
        min: usize,
        actual: usize,
    },
    Lowercase,
    Uppercase,
    Digit,
    Symbol,
    MaxLength {
        max: usize,
        actual: usize,
    },
    /// The password contains the username or the email's local part.
    ContainsUsername,
    /// zxcvbn scored it below [`PasswordPolicy::MIN_SCORE`].
    TooWeak {
        score: u8,
        warning: Option<String>,
        suggestions: Vec<String>,
    },
    /// Equal to the account's current password (reset and change only).
    Reused,
}

impl PasswordViolation {
    /// The rule's code in the API (`violations[].code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MinLength { .. } => "min_length",
            Self::MaxLength { .. } => "max_length",
            Self::Lowercase => "lowercase",
            Self::Uppercase => "uppercase",
            Self::Digit => "digit",
            Self::Symbol => "symbol",
            Self::ContainsUsername => "contains_username",
            Self::TooWeak { .. } => "too_weak",
            Self::Reused => "reused",
        }
    }
}

/// The seed's first rule, with the configured minimum.
fn min_length_rule(min: usize) -> String {
    format!("Must be at least {min} characters long.")
}

/// The seed's second rule.
pub const CLASSES_RULE: &str =
    "Must contain an uppercase letter, a lowercase letter, a number and a special character.";
/// The portal's extra rules, each with its reason ([`RuleLine`]).
pub const MAX_LENGTH_RULE: &str = "Must be at most 128 characters long.";
pub const CONTAINS_USERNAME_RULE: &str = "Must not contain your username or email.";
pub const TOO_WEAK_RULE: &str = "Must not be a common or easily guessed password.";
pub const REUSED_RULE: &str = "Must not be a password you used before.";

impl fmt::Display for PasswordViolation {
    /// The rule that failed, in the words the pages list it with
    /// ([`PasswordPolicy::rule_lines`]), then what this password lacks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MinLength { min, actual } => {
                write!(f, "{} This one has {actual}.", min_length_rule(*min))
            }
            Self::MaxLength { actual, .. } => {
                write!(f, "{MAX_LENGTH_RULE} This one has {actual}.")
            }
            Self::Lowercase => write!(f, "{CLASSES_RULE} A lowercase letter is missing."),
            Self::Uppercase => write!(f, "{CLASSES_RULE} An uppercase letter is missing."),
            Self::Digit => write!(f, "{CLASSES_RULE} A number is missing."),
            Self::Symbol => write!(
                f,
                "{CLASSES_RULE} A special character (not a letter or number) is missing."
            ),
            Self::ContainsUsername => f.write_str(CONTAINS_USERNAME_RULE),
            Self::TooWeak {
                warning,
                suggestions,
                ..
            } => {
                f.write_str(TOO_WEAK_RULE)?;
                if let Some(warning) = warning {
                    write!(f, " {warning}")?;
                }
                for suggestion in suggestions {
                    write!(f, " {suggestion}")?;
                }
                Ok(())
            }
            Self::Reused => write!(f, "{REUSED_RULE} This is your current password."),
        }
    }
}

/// Where a password is chosen: the `reused` rule applies only where there
/// is a password to reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordUse {
    /// Registration: the account has no password yet.
    NewAccount,
    /// A reset or a change: the new password replaces the current one.
    Replacement,
}

/// One rule as the pages list it: the seed's rules without a reason, the
/// portal's extra ones with the reason in one short line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleLine {
    /// The rule's words, repeated by a refusal ([`PasswordViolation`]'s
    /// `Display`).
    pub rule: String,
    pub reason: Option<&'static str>,
}

/// Every unmet rule of one password, in the order of SPEC §5; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the password does not meet the policy")]
pub struct PolicyViolations(Vec<PasswordViolation>);

impl PolicyViolations {
    /// `None` when there is nothing to report.
    pub fn from_vec(violations: Vec<PasswordViolation>) -> Option<Self> {
        (!violations.is_empty()).then_some(Self(violations))
    }

    pub fn as_slice(&self) -> &[PasswordViolation] {
        &self.0
    }

    pub fn codes(&self) -> Vec<&'static str> {
        self.0.iter().map(PasswordViolation::code).collect()
    }

    pub(crate) fn push(&mut self, violation: PasswordViolation) {
        self.0.push(violation);
    }
}

/// Who the password belongs to: zxcvbn's user inputs and the
/// `contains_username` rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyContext {
    pub username: Option<Username>,
    pub email: Option<EmailAddress>,
    /// Name pieces (first, last, group name).
    pub names: Vec<String>,
}

/// An invalid policy configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the minimum password length must be between 1 and {max}", max = PasswordPolicy::MAX_LENGTH)]
pub struct PolicyConfigError;

/// The configured rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    min_length: usize,
    require_classes: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 12,
            require_classes: true,
        }
    }
}

impl PasswordPolicy {
    /// Bounds hashing work; not configurable.
    pub const MAX_LENGTH: usize = 128;
    /// The lowest acceptable zxcvbn score (0–4).
    pub const MIN_SCORE: u8 = 3;
    /// How many leading characters zxcvbn sees (see the module docs).
    pub const STRENGTH_WINDOW: usize = 64;
    /// Shorter username or email pieces are not checked by `contains_username`.
    const MIN_PIECE: usize = 3;

    pub fn new(min_length: usize, require_classes: bool) -> Result<Self, PolicyConfigError> {
        if (1..=Self::MAX_LENGTH).contains(&min_length) {
            Ok(Self {
                min_length,
                require_classes,
            })
        } else {
            Err(PolicyConfigError)
        }
    }

    pub fn min_length(&self) -> usize {
        self.min_length
    }

    pub fn requires_classes(&self) -> bool {
        self.require_classes
    }

    /// The rules in the order the pages list them: the seed's two first
    /// (the second only while the classes are required), then each extra
    /// rule with its reason; `reused` only for a [`PasswordUse::Replacement`].
    pub fn rule_lines(&self, used_for: PasswordUse) -> Vec<RuleLine> {
        let mut lines = vec![RuleLine {
            rule: min_length_rule(self.min_length),
            reason: None,
        }];
        if self.require_classes {
            lines.push(RuleLine {
                rule: CLASSES_RULE.to_owned(),
                reason: None,
            });
        }
        lines.extend([
            RuleLine {
                rule: CONTAINS_USERNAME_RULE.to_owned(),
                reason: Some("Others know them, so they are the first things tried."),
            },
            RuleLine {
                rule: TOO_WEAK_RULE.to_owned(),
                reason: Some(
                    "Passwords like Password1234! meet the rules above but are guessed in seconds.",
                ),
            },
            RuleLine {
                rule: MAX_LENGTH_RULE.to_owned(),
                reason: Some("Checking longer passwords would slow the portal for everyone."),
            },
        ]);
        if used_for == PasswordUse::Replacement {
            lines.push(RuleLine {
                rule: REUSED_RULE.to_owned(),
                reason: Some("A new password must replace the one that may be known."),
            });
        }
        lines
    }

    /// Checks every rule but `reused`, which needs the current hash.
    pub fn check(
        &self,
        password: &Password,
        context: &PolicyContext,
    ) -> Result<(), PolicyViolations> {
        let text = password.expose();
        let length = text.chars().count();
        let mut violations = Vec::new();
        if length < self.min_length {
            violations.push(PasswordViolation::MinLength {
                min: self.min_length,
                actual: length,
            });
        }
        if self.require_classes {
            let classes = CharClasses::of(text);
            if !classes.lowercase {
                violations.push(PasswordViolation::Lowercase);
            }
            if !classes.uppercase {
                violations.push(PasswordViolation::Uppercase);
            }
            if !classes.digit {
                violations.push(PasswordViolation::Digit);
            }
            if !classes.symbol {
                violations.push(PasswordViolation::Symbol);
            }
        }
        let too_long = length > Self::MAX_LENGTH;
        if too_long {
            violations.push(PasswordViolation::MaxLength {
                max: Self::MAX_LENGTH,
                actual: length,
            });
        }
        if contains_identity(text, context) {
            violations.push(PasswordViolation::ContainsUsername);
        }
        if !too_long && let Some(weak) = strength_violation(text, context) {
            violations.push(weak);
        }
        PolicyViolations::from_vec(violations).map_or(Ok(()), Err)
    }
}

/// Which character classes a text has (see the module docs).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CharClasses {
    pub lowercase: bool,
    pub uppercase: bool,
    pub digit: bool,
    pub symbol: bool,
}

impl CharClasses {
    pub fn of(text: &str) -> Self {
        text.chars().fold(Self::default(), |mut classes, c| {
            classes.lowercase |= c.is_lowercase();
            classes.uppercase |= c.is_uppercase();
            classes.digit |= c.is_numeric();
            classes.symbol |= !c.is_alphanumeric();
            classes
        })
    }
}

fn contains_identity(password: &str, context: &PolicyContext) -> bool {
    let haystack = password.to_lowercase();
    let pieces = [
        context.username.as_ref().map(Username::key),
        context.email.as_ref().map(EmailAddress::local_part),
    ];
    pieces
        .into_iter()
        .flatten()
        .map(str::to_lowercase)
        .filter(|piece| piece.chars().count() >= PasswordPolicy::MIN_PIECE)
        .any(|piece| haystack.contains(&piece))
}

fn strength_violation(password: &str, context: &PolicyContext) -> Option<PasswordViolation> {
    let window: String = password
        .chars()
        .take(PasswordPolicy::STRENGTH_WINDOW)
        .collect();
    let mut inputs: Vec<&str> = Vec::with_capacity(3 + context.names.len());
    if let Some(username) = &context.username {
        inputs.push(username.as_str());
    }
    if let Some(email) = &context.email {
        inputs.push(email.local_part());
        inputs.push(email.as_str());
    }
    inputs.extend(context.names.iter().map(String::as_str));
    let entropy = zxcvbn::zxcvbn(&window, &inputs);
    let score = u8::from(entropy.score());
    (score < PasswordPolicy::MIN_SCORE).then(|| {
        let feedback = entropy.feedback();
        PasswordViolation::TooWeak {
            score,
            warning: feedback.and_then(|f| f.warning()).map(|w| w.to_string()),
            suggestions: feedback
                .map(|f| f.suggestions().iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str) -> Vec<&'static str> {
        let policy = PasswordPolicy::default();
        match policy.check(
            &Password::parse(password).unwrap(),
            &PolicyContext::default(),
        ) {
            Ok(()) => vec![],
            Err(v) => v.codes(),
        }
    }

    #[test]
    fn a_strong_password_passes() {
        assert_eq!(check("Quartz-Harbor-71-Lantern"), Vec::<&str>::new());
    }

    #[test]
    fn every_unmet_rule_is_reported_at_once() {
        assert_eq!(
            check("abc"),
            vec!["min_length", "uppercase", "digit", "symbol", "too_weak"]
        );
    }

    #[test]
    fn common_passwords_that_satisfy_composition_are_too_weak() {
        assert_eq!(check("Password1234!"), vec!["too_weak"]);
    }

    #[test]
    fn over_long_is_refused_without_running_zxcvbn() {
        let long = format!("Aa1!{}", "x".repeat(200));
        assert_eq!(check(&long), vec!["max_length"]);
    }

    #[test]
    fn contains_username_or_email_local_part() {
        let username = Username::parse("DrSmith").unwrap();
        let email = EmailAddress::parse("frontdesk@clinic.org").unwrap();
        let context = PolicyContext {
            username: Some(username),
            email: Some(email),
            names: vec![],
        };
        let policy = PasswordPolicy::default();
        let codes = |p: &str| {
            policy
                .check(&Password::parse(p).unwrap(), &context)
                .err()
                .map(|v| v.codes())
                .unwrap_or_default()
        };
        assert!(codes("Zebra-drsmith-Violet-93").contains(&"contains_username"));
        assert!(codes("Zebra-FRONTDESK-Violet-93").contains(&"contains_username"));
        assert!(!codes("Zebra-Quill-Violet-93").contains(&"contains_username"));
        // Pieces shorter than 3 characters are not checked.
        let short = Username::parse("abc").unwrap();
        let email = EmailAddress::parse("ab@clinic.org").unwrap();
        let context = PolicyContext {
            username: Some(short),
            email: Some(email),
            names: vec![],
        };
        let err = policy.check(&Password::parse("Zebra-ab-Violet-93").unwrap(), &context);
        assert!(err.is_ok(), "{err:?}");
    }

    #[test]
    fn unicode_classes() {
        let classes = CharClasses::of("é");
        assert!(classes.lowercase && !classes.uppercase && !classes.digit && !classes.symbol);
        assert!(CharClasses::of("Ж").uppercase);
        assert!(CharClasses::of("٣").digit);
        let han = CharClasses::of("漢");
        assert!(!han.lowercase && !han.uppercase && !han.symbol);
        assert!(CharClasses::of(" ").symbol);
    }

    #[test]
    fn length_counts_scalar_values_after_nfkc() {
        // 11 scalar values, 22 bytes: too short.
        let codes = check("Éé1!Éé1!Éé1");
        assert!(codes.contains(&"min_length"), "{codes:?}");
    }

    #[test]
    fn composition_rules_are_configurable() {
        let relaxed = PasswordPolicy::new(8, false).unwrap();
        let result = relaxed.check(
            &Password::parse("correct horse battery").unwrap(),
            &PolicyContext::default(),
        );
        assert!(result.is_ok(), "{result:?}");
        assert!(PasswordPolicy::new(0, true).is_err());
        assert!(PasswordPolicy::new(129, true).is_err());
    }

    #[test]
    fn too_weak_carries_feedback() {
        let err = PasswordPolicy::default()
            .check(
                &Password::parse("Password1234!").unwrap(),
                &PolicyContext::default(),
            )
            .unwrap_err();
        let PasswordViolation::TooWeak {
            score,
            warning,
            suggestions,
        } = &err.as_slice()[0]
        else {
            panic!("expected too_weak, got {err:?}");
        };
        assert!(*score < 3);
        assert!(warning.is_some() || !suggestions.is_empty());
        assert!(err.as_slice()[0].to_string().starts_with(TOO_WEAK_RULE));
    }

    /// Each refusal opens with the words of the rule the pages list, and
    /// `reused` is listed only where a password is replaced.
    #[test]
    fn refusals_name_the_listed_rule_in_the_same_words() {
        let policy = PasswordPolicy::default();
        let listed = |used: PasswordUse| -> Vec<String> {
            policy
                .rule_lines(used)
                .into_iter()
                .map(|l| l.rule)
                .collect()
        };
        let new_account = listed(PasswordUse::NewAccount);
        let replacement = listed(PasswordUse::Replacement);
        assert_eq!(
            new_account[..2],
            [
                "Must be at least 12 characters long.".to_owned(),
                CLASSES_RULE.to_owned()
            ],
            "the seed's two rules first"
        );
        assert!(!new_account.contains(&REUSED_RULE.to_owned()));
        assert_eq!(replacement.last().map(String::as_str), Some(REUSED_RULE));
        assert!(
            policy
                .rule_lines(PasswordUse::Replacement)
                .iter()
                .skip(2)
                .all(|l| l.reason.is_some()),
            "every extra rule says why"
        );
        assert!(MAX_LENGTH_RULE.contains(&PasswordPolicy::MAX_LENGTH.to_string()));
        let violations = [
            PasswordViolation::MinLength { min: 12, actual: 3 },
            PasswordViolation::Lowercase,
            PasswordViolation::Uppercase,
            PasswordViolation::Digit,
            PasswordViolation::Symbol,
            PasswordViolation::MaxLength {
                max: PasswordPolicy::MAX_LENGTH,
                actual: 200,
            },
            PasswordViolation::ContainsUsername,
            PasswordViolation::TooWeak {
                score: 0,
                warning: None,
                suggestions: Vec::new(),
            },
            PasswordViolation::Reused,
        ];
        for violation in violations {
            let text = violation.to_string();
            assert!(
                replacement
                    .iter()
                    .any(|rule| text.starts_with(rule.as_str())),
                "{text:?} names none of {replacement:?}"
            );
        }
        let short = PasswordPolicy::new(8, false).unwrap();
        assert_eq!(
            short.rule_lines(PasswordUse::NewAccount)[0].rule,
            "Must be at least 8 characters long."
        );
        assert_ne!(
            short.rule_lines(PasswordUse::NewAccount)[1].rule,
            CLASSES_RULE,
            "no classes rule when they are not required"
        );
    }
}
