//! Personal data in free text: e-mail addresses, phone numbers, payment
//! card numbers and IBANs found in comments, so that they can be masked for
//! roles that may not see them, or redacted before storage.
//!
//! Each kind is found by a pattern and then checked, so that order numbers,
//! dates and prices stay readable:
//! - payment cards: 13–19 digits (single spaces or hyphens between groups),
//!   a known issuer prefix (ISO/IEC 7812 ranges of Visa, Mastercard, Amex,
//!   Discover, JCB, Diners, UnionPay, Maestro) and the Luhn check digit;
//! - IBANs: country letters, two check digits and 11–30 letters or digits
//!   (spaces every four allowed), valid under ISO 13616's mod-97 check;
//! - phone numbers: E.164's at most 15 digits, at least 8, written with a
//!   leading `+` or `00`, or with a leading `0` or `(` and separators; not a
//!   date, and not glued to letters (`SO-12345678` is an order number);
//! - e-mail addresses: `local@domain.tld`, Unicode letters allowed.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// What a span of text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonalData {
    Email,
    Phone,
    PaymentCard,
    Iban,
}

impl PersonalData {
    /// What a masked span reads as.
    pub fn placeholder(self) -> &'static str {
        match self {
            PersonalData::Email => "[email]",
            PersonalData::Phone => "[phone]",
            PersonalData::PaymentCard => "[card number]",
            PersonalData::Iban => "[IBAN]",
        }
    }
}

/// A span of personal data: byte offsets into the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub kind: PersonalData,
}

// The patterns are literals, checked by the tests below.
#[allow(clippy::expect_used)]
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}\-]+(?:\.[\p{L}\p{N}\-]+)*\.\p{L}{2,}")
        .expect("e-mail pattern")
});
#[allow(clippy::expect_used)]
static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d(?:[ \-.]?\d){11,30}").expect("card pattern"));
#[allow(clippy::expect_used)]
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z]{2}\d{2}(?:[ \-]?[a-z0-9]){11,30}").expect("IBAN pattern")
});
#[allow(clippy::expect_used)]
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+|\b00|\(|\b0)[\d(][\d \-().]{5,20}\d").expect("phone pattern")
});
/// North American numbers: 555-123-4567, 1-800-555-0199, 212 555 0123.
#[allow(clippy::expect_used)]
static NANP: LazyLock<Regex> = LazyLock::new(|| {
    // Area codes start with 2-9: "100 200 3000" is not a phone number.
    Regex::new(r"\b(?:1[-. ])?[2-9]\d{2}[-. ]\d{3}[-. ]\d{4}\b").expect("NANP pattern")
});
#[allow(clippy::expect_used)]
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")
        .expect("date pattern")
});

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// The Luhn (mod 10) check of ISO/IEC 7812.
fn luhn(d: &[u32]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Issuer prefixes of card networks (leading digits) and their lengths.
fn known_issuer(d: &[u32]) -> bool {
    let prefix = |n: usize| d.iter().take(n).fold(0u32, |acc, x| acc * 10 + x);
    let len = d.len();
    let p2 = prefix(2);
    let p3 = prefix(3);
    let p4 = prefix(4);
    let p6 = prefix(6);
    (d.first() == Some(&4) && matches!(len, 13 | 16 | 19)) // Visa
        || ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16 // Mastercard
        || matches!(p2, 34 | 37) && len == 15 // Amex
        || (p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) || (622_126..=622_925).contains(&p6))
            && (16..=19).contains(&len) // Discover
        || (3528..=3589).contains(&p4) && (16..=19).contains(&len) // JCB
        || ((300..=305).contains(&p3) || p2 == 36 || p2 == 38) && (14..=19).contains(&len) // Diners
        || p2 == 62 && (16..=19).contains(&len) // UnionPay
        || matches!(p4, 5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763)
            && (12..=19).contains(&len) // Maestro
}

/// ISO 13616 (ISO 7064 mod 97-10): the rearranged IBAN, letters as numbers,
/// leaves 1 modulo 97.
fn iban_valid(raw: &str) -> bool {
    let s: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase();
    if !(15..=34).contains(&s.len()) || !s.is_ascii() {
        return false;
    }
    let (head, tail) = s.split_at(4);
    let mut remainder: u64 = 0;
    for c in tail.chars().chain(head.chars()) {
        let value = match c {
            '0'..='9' => u64::from(c as u8 - b'0'),
            'A'..='Z' => u64::from(c as u8 - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// Whether the text just before `start` glues a match to a word (an order
/// or ticket number such as `SO-12345678` or `INV12345678`).
fn glued_to_word(text: &str, start: usize) -> bool {
    let before = &text[..start];
    let mut chars = before.chars().rev();
    match chars.next() {
        Some(c) if c.is_alphanumeric() || c == '_' || c == '#' => true,
        Some('-' | '/' | '.') => chars.next().is_some_and(char::is_alphanumeric),
        _ => false,
    }
}

/// Words after which a number is a reference (an order, a ticket), not a
/// phone number, whatever its shape.
const REFERENCE_WORDS: [&str; 21] = [
    "order",
    "invoice",
    "ticket",
    "ref",
    "reference",
    "po",
    "sku",
    "tracking",
    "contract",
    "booking",
    "reservation",
    "confirmation",
    "parcel",
    "shipment",
    "serial",
    "isbn",
    "ean",
    "bestellung",
    "rechnung",
    "commande",
    "facture",
];

/// The word that ends `text` (letters only, lower-case) and what precedes it.
fn last_word(text: &str) -> (String, &str) {
    let word: Vec<char> = text
        .chars()
        .rev()
        .take_while(|c| c.is_alphabetic())
        .collect();
    let len: usize = word.iter().map(|c| c.len_utf8()).sum();
    let word: String = word.into_iter().rev().collect::<String>().to_lowercase();
    (word, &text[..text.len() - len])
}

/// Whether the number at `start` follows a reference word in the same
/// phrase: "order 1234", "ticket #1234", "invoice no. 1234" — never across
/// a sentence's end ("my order. 0612…").
fn after_reference_word(text: &str, start: usize) -> bool {
    let before = text[..start].trim_end_matches([' ', '#', ':', '(']);
    // "no." and "nr." are the only words a dot may end here.
    let (word, rest) = match before.strip_suffix('.') {
        Some(stripped) => {
            let (word, rest) = last_word(stripped);
            if !matches!(word.as_str(), "no" | "nr") {
                return false;
            }
            (word, rest)
        }
        None => last_word(before),
    };
    // "order no. 1234", "invoice number 1234": one filler word between.
    if matches!(
        word.as_str(),
        "no" | "nr" | "number" | "num" | "nummer" | "numéro"
    ) {
        let (previous, _) = last_word(rest.trim_end_matches([' ', '#', ':']));
        return REFERENCE_WORDS.contains(&previous.as_str());
    }
    REFERENCE_WORDS.contains(&word.as_str())
}

/// Whether a digit run's separators are those of a printed card number:
/// none, or one kind throughout in groups of four (the last may be
/// shorter: 4-4-4-4-3), or Amex / Diners groups (4-6-5, 4-6-4). A list of
/// prices or dates is not a card however its digits add up.
fn card_grouping(s: &str) -> bool {
    let separators: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    let Some(&first) = separators.first() else {
        return true;
    };
    if separators.iter().any(|&c| c != first) {
        return false;
    }
    let groups: Vec<usize> = s.split(first).map(str::len).collect();
    let fours = groups
        .split_last()
        .is_some_and(|(last, rest)| rest.iter().all(|&g| g == 4) && (1..=4).contains(last));
    fours || groups == [4, 6, 5] || groups == [4, 6, 4]
}

/// The longest span of a digit run that is a card number: starts and ends
/// on group boundaries (a card followed by an expiry or a CVV, or preceded
/// by another number), earliest start first.
fn card_span(s: &str) -> Option<(usize, usize)> {
    let separators: Vec<usize> = s
        .char_indices()
        .filter(|(_, c)| matches!(c, ' ' | '-' | '.'))
        .map(|(i, _)| i)
        .collect();
    let starts = std::iter::once(0).chain(separators.iter().map(|i| i + 1));
    for start in starts {
        let ends = separators
            .iter()
            .copied()
            .filter(|&e| e > start)
            .chain(std::iter::once(s.len()))
            .rev();
        for end in ends {
            let d = digits(&s[start..end]);
            if (12..=19).contains(&d.len())
                && card_grouping(&s[start..end])
                && luhn(&d)
                && known_issuer(&d)
            {
                return Some((start, end));
            }
        }
    }
    None
}

fn glued_after(text: &str, end: usize) -> bool {
    text[end..]
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Every span of personal data in `text`, sorted, not overlapping (where
/// two kinds overlap, the earlier, then longer, wins).
pub fn find(text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    for m in EMAIL.find_iter(text) {
        found.push(Found {
            start: m.start(),
            end: m.end(),
            kind: PersonalData::Email,
        });
    }
    for m in IBAN.find_iter(text) {
        // The whole match, or (when the pattern ran on into the next words)
        // the longest part of it that ends before a space: never an
        // arbitrary prefix, which would pass mod 97 one time in 97.
        let s = m.as_str();
        let mut ends: Vec<usize> = s.match_indices([' ', '-']).map(|(i, _)| i).collect();
        ends.push(s.len());
        ends.reverse();
        if let Some(end) = ends
            .into_iter()
            .find(|&e| iban_valid(&s[..e]) && !glued_after(text, m.start() + e))
            && !glued_to_word(text, m.start())
        {
            found.push(Found {
                start: m.start(),
                end: m.start() + end,
                kind: PersonalData::Iban,
            });
        }
    }
    for m in CARD.find_iter(text) {
        if let Some((start, end)) = card_span(m.as_str()) {
            let (start, end) = (m.start() + start, m.start() + end);
            if !glued_to_word(text, start) && !glued_after(text, end) {
                found.push(Found {
                    start,
                    end,
                    kind: PersonalData::PaymentCard,
                });
            }
        }
    }
    for m in PHONE.find_iter(text) {
        let s = m.as_str().trim_end_matches([' ', '-', '.', '(']);
        let n = digits(s).len();
        // Country codes never start with 0: "00012345678" is a reference.
        let international = s.starts_with('+')
            || (s.starts_with("00")
                && s[2..].starts_with(|c: char| c.is_ascii_digit() && c != '0')
                && n >= 10);
        // A "(" alone does not make a phone number: "ticket (12345678)".
        let separated =
            s.chars().any(|c| matches!(c, ' ' | '-' | '.')) || (s.contains('(') && s.contains(')'));
        // 0612345678, 07700900123: national numbers written in one piece.
        let national = s.starts_with('0')
            && s[1..].starts_with(|c: char| c.is_ascii_digit() && c != '0')
            && s.chars().all(|c| c.is_ascii_digit())
            && (10..=11).contains(&n);
        let plausible = (8..=15).contains(&n) && (international || separated || national);
        if plausible
            && !DATE.is_match(s.trim_start_matches('('))
            && !glued_to_word(text, m.start())
            && !glued_after(text, m.start() + s.len())
            && (international || !after_reference_word(text, m.start()))
        {
            found.push(Found {
                start: m.start(),
                end: m.start() + s.len(),
                kind: PersonalData::Phone,
            });
        }
    }
    for m in NANP.find_iter(text) {
        if !glued_to_word(text, m.start())
            && !glued_after(text, m.end())
            && !after_reference_word(text, m.start())
        {
            found.push(Found {
                start: m.start(),
                end: m.end(),
                kind: PersonalData::Phone,
            });
        }
    }
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut kept: Vec<Found> = Vec::with_capacity(found.len());
    for f in found {
        if kept.last().is_none_or(|k| f.start >= k.end) {
            kept.push(f);
        }
    }
    kept
}

/// The text with every span of personal data replaced by its placeholder.
pub fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in find(text) {
        out.push_str(&text[at..f.start]);
        out.push_str(f.kind.placeholder());
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(PersonalData, &str)> {
        find(text)
            .into_iter()
            .map(|f| (f.kind, &text[f.start..f.end]))
            .collect()
    }

    #[test]
    fn checks_follow_their_standards() {
        // Published test numbers of the card networks.
        for card in [
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "6011111111111117",
        ] {
            let d = digits(card);
            assert!(luhn(&d) && known_issuer(&d), "{card}");
        }
        assert!(!luhn(&digits("4111111111111112")));
        // ISO 13616's examples.
        assert!(iban_valid("GB82 WEST 1234 5698 7654 32"));
        assert!(iban_valid("DE89370400440532013000"));
        assert!(!iban_valid("GB82 WEST 1234 5698 7654 33"));
    }

    #[test]
    fn personal_data_is_found_where_people_write_it() {
        let cases: &[(&str, &[(PersonalData, &str)])] = &[
            (
                "Mail me at jane.doe+cx@example.co.uk.",
                &[(PersonalData::Email, "jane.doe+cx@example.co.uk")],
            ),
            (
                "(contact: josé@correo.es)",
                &[(PersonalData::Email, "josé@correo.es")],
            ),
            (
                "Call +44 20 7946 0958 please",
                &[(PersonalData::Phone, "+44 20 7946 0958")],
            ),
            (
                "ring 0044 20 7946 0958",
                &[(PersonalData::Phone, "0044 20 7946 0958")],
            ),
            (
                "my number is (030) 1234-5678.",
                &[(PersonalData::Phone, "(030) 1234-5678")],
            ),
            (
                "Tel: 06 12 34 56 78",
                &[(PersonalData::Phone, "06 12 34 56 78")],
            ),
            (
                "card 4111 1111 1111 1111 was charged twice",
                &[(PersonalData::PaymentCard, "4111 1111 1111 1111")],
            ),
            (
                "amex 3782-822463-10005",
                &[(PersonalData::PaymentCard, "3782-822463-10005")],
            ),
            (
                "refund to GB82 WEST 1234 5698 7654 32 thanks",
                &[(PersonalData::Iban, "GB82 WEST 1234 5698 7654 32")],
            ),
            (
                "IBAN: de89370400440532013000.",
                &[(PersonalData::Iban, "de89370400440532013000")],
            ),
            (
                "call me 555-123-4567 or 1-800-555-0199, office 212 555 0123",
                &[
                    (PersonalData::Phone, "555-123-4567"),
                    (PersonalData::Phone, "1-800-555-0199"),
                    (PersonalData::Phone, "212 555 0123"),
                ],
            ),
            (
                "my order. +44 7700 900123 is my mobile",
                &[(PersonalData::Phone, "+44 7700 900123")],
            ),
            (
                "the phone on my account: 07700 900123, in case 0612345678",
                &[
                    (PersonalData::Phone, "07700 900123"),
                    (PersonalData::Phone, "0612345678"),
                ],
            ),
            (
                "mobile 07700900123, portable 0612345678",
                &[
                    (PersonalData::Phone, "07700900123"),
                    (PersonalData::Phone, "0612345678"),
                ],
            ),
            (
                "card 4111111111111111 12/27 cvv",
                &[(PersonalData::PaymentCard, "4111111111111111")],
            ),
            (
                "card 4111 1111 1111 1111 123",
                &[(PersonalData::PaymentCard, "4111 1111 1111 1111")],
            ),
            (
                "dotted 4111.1111.1111.1111 too",
                &[(PersonalData::PaymentCard, "4111.1111.1111.1111")],
            ),
            (
                "IBAN DE89-3704-0044-0532-0130-00 please",
                &[(PersonalData::Iban, "DE89-3704-0044-0532-0130-00")],
            ),
            (
                "Lieferung an müller@beispiel.de, Tel. +49 170 1234567",
                &[
                    (PersonalData::Email, "müller@beispiel.de"),
                    (PersonalData::Phone, "+49 170 1234567"),
                ],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(kinds(text), expected.to_vec(), "{text}");
        }
    }

    #[test]
    fn order_numbers_dates_and_prices_stay() {
        for text in [
            "Order SO-0000001 arrived late",
            "order SO-12345678 and INV12345678",
            "ticket #4111111111111111",
            "delivered 2026-03-04, promised 04.03.2026 and 3/4/2026",
            "it cost 1,299.00 EUR, or $1 299.00",
            "4111111111111112 fails Luhn",
            "1234567812345678 passes no issuer check",
            "tracking 1Z999AA10123456784",
            "between 10:30 and 12:45 on 2026-11-25",
            "GB82 WEST 1234 5698 7654 33 has a wrong check",
            "version 2.10.3, build 20261125",
            "code AB12CDEFGHIJKLMNOPQR and AB12 CDEF GHIJ KLMN OPQR",
            "très bien 👍 — 5 étoiles, merci !",
            "order 00012345678 and order no. 00123456",
            "delivered (2026-03-04) or (2026.03.04)",
            "ticket (12345678) and invoice 0123-4567-89",
            "tracking number 555-123-4567",
            "reference: 0612345678",
            "paid 44.29 9.75 37.15 32.05 and 25.08.2026 10.11.2026",
            "totals 100 200 3000 units, ISBN 0321751043",
        ] {
            assert_eq!(kinds(text), vec![], "{text}");
        }
    }

    proptest::proptest! {
        /// Any text: no panic, spans on character boundaries, and masking
        /// leaves nothing to mask.
        #[test]
        fn any_text_masks_cleanly(text in "\\PC{0,80}|[0-9 +()@.a-zA-Z\\-]{0,60}") {
            for f in find(&text) {
                proptest::prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            }
            let once = mask(&text);
            proptest::prop_assert_eq!(mask(&once), once.clone());
        }
    }

    #[test]
    fn masking_keeps_the_rest_of_the_comment() {
        assert_eq!(
            mask("Write to ann@example.com or call +1 (555) 010-9999 — ok?"),
            "Write to [email] or call [phone] — ok?"
        );
        assert_eq!(mask("nothing here"), "nothing here");
        assert_eq!(mask(""), "");
    }
}
