//! `PasswordPolicy::check` against a plain reading of SPEC §5 and the
//! policy's module docs.

use portal_domain::password_policy::PolicyContext;

use super::*;

/// Every code of SPEC §5, in the SPEC's order.
const SPEC_ORDER: [&str; 9] = [
    "min_length",
    "lowercase",
    "uppercase",
    "digit",
    "symbol",
    "max_length",
    "contains_username",
    "too_weak",
    "reused",
];
/// The rules the reference decides: all but zxcvbn's and `reused`.
const COMPARED: [&str; 7] = [
    "min_length",
    "lowercase",
    "uppercase",
    "digit",
    "symbol",
    "max_length",
    "contains_username",
];
const MIN_LENGTH: usize = 12;
const MAX_LENGTH: usize = 128;
const MIN_PIECE: usize = 3;

const SYMBOLS: &str = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
/// Cased letters of other scripts, caseless letters, other numerals,
/// emoji, compatibility forms NFKC rewrites, a combining mark, and
/// other spaces.
const OTHER: [char; 24] = [
    'é', 'É', 'ß', 'Ж', 'ж', 'ı', 'İ', 'Σ', 'ǅ', 'ª', 'ʰ', '漢', '字', '٣', '½', 'Ⅻ', '①', 'Ω',
    'ﬁ', '😀', '🔒', '\u{301}', '\u{a0}', '\u{3000}',
];

/// Characters of one alphabet: mixed, or missing whole classes so that
/// every rule is met and unmet often, at every length.
fn char_of(alphabet: u8) -> BoxedStrategy<char> {
    let lower = || prop::char::range('a', 'z');
    let upper = || prop::char::range('A', 'Z');
    let digit = || prop::char::range('0', '9');
    let symbol = || select(SYMBOLS.chars().collect::<Vec<_>>());
    let other = || select(OTHER.to_vec());
    let printable = || any::<char>().prop_filter("never in a password", |c| !c.is_control());
    match alphabet {
        0 => prop_oneof![
            4 => lower(), 3 => upper(), 2 => digit(), 2 => symbol(), 2 => other(), 1 => printable()
        ]
        .boxed(),
        1 => lower().boxed(),
        2 => prop_oneof![lower(), upper()].boxed(),
        3 => prop_oneof![lower(), digit(), symbol()].boxed(),
        4 => prop_oneof![upper(), digit(), other()].boxed(),
        _ => prop_oneof![other(), printable()].boxed(),
    }
}

fn text() -> impl Strategy<Value = String> {
    (0u8..6)
        .prop_flat_map(|alphabet| {
            prop_oneof![
                4 => vec(char_of(alphabet), 1..24),
                1 => vec(char_of(alphabet), 100..150),
            ]
        })
        .prop_map(String::from_iter)
}

#[derive(Debug, Clone)]
enum Embed {
    Nothing,
    Username,
    LocalPart,
}

/// A password, maybe with the username or the email's local part
/// spliced in (in any case), and who it belongs to.
#[derive(Debug, Clone)]
struct Case {
    text: String,
    username: String,
    local_part: Option<String>,
    embed: Embed,
    at: Index,
    flips: Vec<bool>,
}

impl Case {
    fn build(&self) -> (String, PolicyContext) {
        let piece = match self.embed {
            Embed::Nothing => String::new(),
            Embed::Username => flip_case(&self.username, &self.flips),
            Embed::LocalPart => flip_case(self.local_part.as_deref().unwrap_or(""), &self.flips),
        };
        let chars: Vec<char> = self.text.chars().collect();
        let split = self.at.index(chars.len() + 1);
        let text: String = chars[..split]
            .iter()
            .copied()
            .chain(piece.chars())
            .chain(chars[split..].iter().copied())
            .collect();
        let context = PolicyContext {
            username: Some(Username::parse(&self.username).unwrap()),
            email: self
                .local_part
                .as_ref()
                .map(|local| EmailAddress::parse(&format!("{local}@clinic.example.org")).unwrap()),
            names: vec![],
        };
        (text, context)
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        text(),
        "[a-zA-Z0-9._@-]{3,10}",
        prop::option::of("[a-zA-Z0-9]{1,6}"),
        prop_oneof![
            Just(Embed::Nothing),
            Just(Embed::Username),
            Just(Embed::LocalPart)
        ],
        any::<Index>(),
        vec(any::<bool>(), 1..8),
    )
        .prop_map(|(text, username, local_part, embed, at, flips)| Case {
            text,
            username,
            local_part,
            embed,
            at,
            flips,
        })
}

fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    let haystack: Vec<char> = haystack.chars().flat_map(char::to_lowercase).collect();
    let needle: Vec<char> = needle.chars().flat_map(char::to_lowercase).collect();
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_slice())
}

/// SPEC §5 read plainly: lengths in scalar values of the NFKC form;
/// classes by Unicode's lower/upper case, numeric, and "neither a
/// letter nor a number" for symbols; the username and the email's
/// local part, 3 characters or longer, case-insensitively.
fn reference(text: &str, context: &PolicyContext) -> Vec<&'static str> {
    let length = text.chars().count();
    let pieces = [
        context.username.as_ref().map(|u| u.as_str().to_owned()),
        context
            .email
            .as_ref()
            .and_then(|e| e.as_str().split('@').next().map(str::to_owned)),
    ];
    let checks = [
        ("min_length", length < MIN_LENGTH),
        ("lowercase", !text.chars().any(char::is_lowercase)),
        ("uppercase", !text.chars().any(char::is_uppercase)),
        ("digit", !text.chars().any(char::is_numeric)),
        (
            "symbol",
            !text.chars().any(|c| !c.is_alphabetic() && !c.is_numeric()),
        ),
        ("max_length", length > MAX_LENGTH),
        (
            "contains_username",
            pieces.iter().flatten().any(|piece| {
                piece.chars().count() >= MIN_PIECE && contains_ignoring_case(text, piece)
            }),
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, unmet)| *unmet)
        .map(|(code, _)| code)
        .collect()
}

/// The password (NFKC) and the codes the policy reports for it.
fn check(case: &Case) -> Result<(String, Vec<&'static str>, PolicyContext), TestCaseError> {
    let (text, context) = case.build();
    let password = Password::parse(&text)
        .map_err(|e| TestCaseError::reject(format!("never a password: {e}")))?;
    let codes = match PasswordPolicy::default().check(&password, &context) {
        Ok(()) => vec![],
        Err(violations) => violations.codes(),
    };
    Ok((password.expose().to_owned(), codes, context))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_policy_agrees_with_a_plain_reference(case in case()) {
        let (text, codes, context) = check(&case)?;
        let expected = reference(&text, &context);
        for code in COMPARED {
            prop_assert_eq!(
                codes.contains(&code),
                expected.contains(&code),
                "{} for {:?}: the policy says {:?}, the reference {:?}",
                code, text, codes, expected
            );
        }
    }

    #[test]
    fn violations_come_in_the_specs_order_each_once(case in case()) {
        let (text, codes, _) = check(&case)?;
        let positions: Vec<usize> = codes
            .iter()
            .map(|code| SPEC_ORDER.iter().position(|known| known == code))
            .collect::<Option<_>>()
            .ok_or_else(|| TestCaseError::fail(format!("unknown code in {codes:?}")))?;
        prop_assert!(
            positions.windows(2).all(|pair| pair[0] < pair[1]),
            "{:?} is not in the order of SPEC §5 ({:?}), or repeats a code, for {:?}",
            codes, SPEC_ORDER, text
        );
    }
}
