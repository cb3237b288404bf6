//! Normalisation is idempotent, and harmless retyping (case, spacing,
//! separators, ZIP+4) never changes an answer.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use portal_domain::roster::{RosterMatch, match_roster};
use portal_domain::values::normalize::{comparison_key, normalize_display};

use super::*;

/// Letters whose upper and lower case map one to one, a caseless
/// letter, and the punctuation of names.
fn name_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::char::range('a', 'z'),
        2 => prop::char::range('A', 'Z'),
        2 => select(vec!['é', 'É', 'ж', 'Ж', 'ø', 'Ø', 'ñ', 'Ñ', '漢', '\'', '-', '.']),
    ]
}

fn name() -> impl Strategy<Value = String> {
    vec(vec(name_char(), 1..8).prop_map(String::from_iter), 1..4).prop_map(|w| w.join(" "))
}

/// Text that stresses normalisation: compatibility forms, combining
/// marks, special casing, composing jamo and kana, odd spaces.
fn tricky_text() -> impl Strategy<Value = String> {
    let tricky = select(vec![
        '\u{301}', '\u{308}', '\u{345}', 'ﬁ', 'ß', 'ẞ', 'İ', 'ı', 'Σ', 'ς', 'ǅ', 'Ⅻ', '①', 'Ｊ',
        '¨', 'ᴬ', 'ΐ', 'ᾼ', 'ﾊ', 'ﾟ', '\u{1100}', '\u{1161}', '\u{11a8}', 'Å', 'K', ' ', '\u{a0}',
        '\u{3000}', '\t', '\n',
    ]);
    prop_oneof![
        1 => any::<String>(),
        3 => vec(prop_oneof![name_char(), tricky], 0..24).prop_map(String::from_iter),
    ]
}

const GAPS: [&str; 7] = [" ", "  ", "\t", " \u{a0} ", "\u{3000}", "\n ", "\u{2003}"];

/// The same name typed again: other case, other spacing around and
/// between the words.
fn retype(name: &str, flips: &[bool], gaps: &[Index]) -> String {
    let mut gaps = gaps.iter().cycle().map(|g| *g.get(&GAPS));
    let flipped = flip_case(name, flips);
    let mut out = String::from(gaps.next().unwrap_or(""));
    for (i, word) in flipped.split(' ').enumerate() {
        if i > 0 {
            out.push_str(gaps.next().unwrap_or(" "));
        }
        out.push_str(word);
    }
    out.push_str(gaps.next().unwrap_or(""));
    out
}

fn retyping() -> impl Strategy<Value = (Vec<bool>, Vec<Index>)> {
    (vec(any::<bool>(), 1..12), vec(any::<Index>(), 1..6))
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

#[derive(Debug, Clone)]
struct RosterCase {
    kind: u8,
    provider_id: String,
    tax_id: String,
    names: [String; 3],
    typed_names: Option<[String; 3]>,
    zips: Vec<String>,
    zip: Index,
    typed_zip: Option<String>,
    flips: Vec<bool>,
    gaps: Vec<Index>,
}

fn roster_case() -> impl Strategy<Value = RosterCase> {
    (
        (0u8..3, "[A-Z0-9]{1,20}", "[0-9]{9}"),
        (
            prop::array::uniform3(name()),
            prop::option::of(prop::array::uniform3(name())),
        ),
        (
            vec("[0-9]{5}", 1..4),
            any::<Index>(),
            prop::option::of("[0-9]{5}"),
        ),
        retyping(),
    )
        .prop_map(
            |(
                (kind, provider_id, tax_id),
                (names, typed_names),
                (zips, zip, typed_zip),
                (flips, gaps),
            )| {
                RosterCase {
                    kind,
                    provider_id,
                    tax_id,
                    names,
                    typed_names,
                    zips,
                    zip,
                    typed_zip,
                    flips,
                    gaps,
                }
            },
        )
}

fn request(
    kind: u8,
    provider_id: &str,
    tax_id: &str,
    names: &[String; 3],
    zip: &str,
) -> ProofingRequest {
    let provider_id = ProviderId::parse(provider_id).unwrap();
    let tax_id = TaxId::parse(tax_id).unwrap();
    let zip = Zip::parse(zip).unwrap();
    if kind == 2 {
        ProofingRequest::Group {
            group_name: GroupName::parse(&names[2]).unwrap(),
            tax_id,
            provider_id,
            zip,
        }
    } else {
        ProofingRequest::Practitioner {
            provider_id,
            tax_id,
            first_name: PersonName::parse(&names[0]).unwrap(),
            last_name: PersonName::parse(&names[1]).unwrap(),
            zip,
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn normalize_display_is_idempotent_and_collapses_whitespace(text in tricky_text()) {
        let once = normalize_display(&text);
        prop_assert_eq!(normalize_display(&once), once.clone());
        prop_assert_eq!(once.trim(), once.as_str());
        prop_assert!(!once.contains("  "), "{:?}", once);
        prop_assert!(!once.chars().any(|c| c.is_whitespace() && c != ' '), "{:?}", once);
    }

    #[test]
    fn comparison_key_is_idempotent(text in tricky_text()) {
        let key = comparison_key(&text);
        prop_assert_eq!(comparison_key(&key), key.clone());
        let display_key = comparison_key(&normalize_display(&text));
        prop_assert_eq!(comparison_key(&display_key), display_key);
    }

    #[test]
    fn name_equality_is_symmetric_and_is_key_equality(
        (a, b) in tricky_text().prop_flat_map(|a| {
            let retyped = retyping().prop_map({
                let a = a.clone();
                move |(flips, gaps)| retype(&a, &flips, &gaps)
            });
            (Just(a), prop_oneof![retyped, tricky_text()])
        })
    ) {
        let keys_equal =
            comparison_key(&normalize_display(&a)) == comparison_key(&normalize_display(&b));
        if let (Ok(x), Ok(y)) = (PersonName::parse(&a), PersonName::parse(&b)) {
            prop_assert_eq!(x == y, y == x);
            prop_assert_eq!(x == y, x.key() == y.key());
            prop_assert_eq!(x == y, keys_equal);
            if x == y {
                prop_assert_eq!(hash_of(&x), hash_of(&y));
            }
        }
        if let (Ok(x), Ok(y)) = (GroupName::parse(&a), GroupName::parse(&b)) {
            prop_assert_eq!(x == y, y == x);
            prop_assert_eq!(x == y, x.key() == y.key());
            prop_assert_eq!(x == y, keys_equal);
            if x == y {
                prop_assert_eq!(hash_of(&x), hash_of(&y));
            }
        }
    }

    #[test]
    fn a_retyped_name_is_the_same_name(name in name(), (flips, gaps) in retyping()) {
        let retyped = retype(&name, &flips, &gaps);
        prop_assert_eq!(PersonName::parse(&retyped).unwrap(), PersonName::parse(&name).unwrap());
        prop_assert_eq!(GroupName::parse(&retyped).unwrap(), GroupName::parse(&name).unwrap());
        let parsed = PersonName::parse(&retyped).unwrap();
        prop_assert_eq!(parsed.as_str(), normalize_display(&retyped));
    }

    #[test]
    fn a_tax_id_with_a_dash_is_the_same_tax_id(digits in "[0-9]{9}") {
        let dashed = format!("{}-{}", &digits[..2], &digits[2..]);
        let plain = TaxId::parse(&digits).unwrap();
        prop_assert_eq!(TaxId::parse(&dashed), Ok(plain.clone()));
        prop_assert_eq!(plain.as_str(), digits.as_str());
    }

    #[test]
    fn a_zip_plus_four_is_its_five_digit_zip(zip in "[0-9]{5}", plus in "[0-9]{4}", other in "[0-9]{5}") {
        let five = Zip::parse(&zip).unwrap();
        prop_assert_eq!(Zip::parse(&format!("{zip}-{plus}")), Ok(five.clone()));
        prop_assert_eq!(Zip::parse(&format!("{zip}{plus}")), Ok(five.clone()));
        prop_assert_eq!(five.as_str(), zip.as_str());
        prop_assert_eq!(Zip::parse(&other).unwrap() == five, other == zip);
    }

    #[test]
    fn usernames_are_equal_case_insensitively(
        name in "[a-zA-Z0-9._@-]{3,64}",
        other in "[a-zA-Z0-9._@-]{3,64}",
        flips in vec(any::<bool>(), 1..12),
    ) {
        let username = Username::parse(&name).unwrap();
        let flipped = Username::parse(&flip_case(&name, &flips)).unwrap();
        prop_assert_eq!(&flipped, &username);
        prop_assert_eq!(hash_of(&flipped), hash_of(&username));
        prop_assert_eq!(username.key(), name.to_ascii_lowercase());
        prop_assert_eq!(flipped.as_str(), flip_case(&name, &flips));
        let other_username = Username::parse(&other).unwrap();
        prop_assert_eq!(other_username == username, other.eq_ignore_ascii_case(&name));
    }

    #[test]
    fn roster_matching_ignores_case_and_spacing(case in roster_case()) {
        let names: Vec<_> = case.names.iter().map(|n| PersonName::parse(n).unwrap()).collect();
        let identity = match case.kind {
            0 | 1 => RosterIdentity::Practitioner {
                first_name: names[0].clone(),
                last_name: names[1].clone(),
                payee: if case.kind == 0 { Payee::Individual } else { Payee::Group },
            },
            _ => RosterIdentity::Group { group_name: GroupName::parse(&case.names[2]).unwrap() },
        };
        let entry = RosterEntry {
            provider_id: ProviderId::parse(&case.provider_id).unwrap(),
            tax_id: TaxId::parse(&case.tax_id).unwrap(),
            identity,
            zips: case.zips.iter().map(|z| Zip::parse(z).unwrap()).collect(),
            lines_of_business: vec![LineOfBusiness::Medicaid],
            inactive_since: None,
        };
        let typed_names = case.typed_names.clone().unwrap_or_else(|| case.names.clone());
        let zip = case.typed_zip.clone().unwrap_or_else(|| case.zip.get(&case.zips).clone());
        let typed = request(case.kind, &case.provider_id, &case.tax_id, &typed_names, &zip);
        let retyped_names = typed_names.clone().map(|n| retype(&n, &case.flips, &case.gaps));
        let dashed_tax_id = format!("{}-{}", &case.tax_id[..2], &case.tax_id[2..]);
        let retyped = request(
            case.kind,
            &case.provider_id.to_lowercase(),
            &dashed_tax_id,
            &retyped_names,
            &format!("{zip}-1234"),
        );
        let answer = match_roster(&typed, Some(&entry));
        prop_assert_eq!(&match_roster(&retyped, Some(&entry)), &answer);
        if case.typed_names.is_none() && case.typed_zip.is_none() {
            let expected = if case.kind == 1 {
                RosterMatch::WrongProviderType
            } else {
                RosterMatch::Verified(Box::new(entry.clone()))
            };
            prop_assert_eq!(answer, expected);
        }
    }
}
