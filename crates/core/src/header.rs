//! Header rows of import files (and the field names of API items): names are
//! matched case-insensitively and trimmed, bounded in number and length, and a
//! name that looks like a known column but is not one (`NPS Score`) is
//! reported as a warning instead of being silently kept as an attribute.

use std::collections::HashMap;

use crate::field::{self, FieldError, MAX_COLUMNS, NAME_LIMIT};

/// Strips whitespace and a UTF-8 byte-order mark from a header cell.
pub fn clean(name: &str) -> &str {
    name.trim_start_matches('\u{feff}').trim()
}

/// The name a header cell is matched by: cleaned and lower-case.
pub fn normalized(name: &str) -> String {
    clean(name).to_lowercase()
}

/// Checks a header: at most [`MAX_COLUMNS`] columns, each name within
/// [`NAME_LIMIT`], no name twice (compared normalized), every required
/// column present. Returns the normalized names.
pub fn check(header: &[&str], required: &[&str]) -> Result<Vec<String>, Vec<FieldError>> {
    if header.len() > MAX_COLUMNS {
        return Err(vec![FieldError::new(
            "header",
            format!("has {} columns; the limit is {MAX_COLUMNS}", header.len()),
            "import only the columns Northstar uses and a few attributes",
        )]);
    }
    let mut errors = Vec::new();
    let names: Vec<String> = header.iter().map(|h| normalized(h)).collect();
    let mut first_position: HashMap<&str, usize> = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let shown = clean(header[i]);
        if let Err(e) = field::within(shown, shown, NAME_LIMIT) {
            errors.push(FieldError::new(
                format!("column {}", i + 1),
                e.problem,
                e.fix,
            ));
            continue;
        }
        if let Some(first) = first_position.get(name.as_str()) {
            errors.push(FieldError::new(
                shown,
                format!(
                    "column appears more than once (columns {} and {}; names are compared ignoring case)",
                    first + 1,
                    i + 1
                ),
                "keep one column of each name",
            ));
        } else {
            first_position.insert(name, i);
        }
    }
    for req in required {
        if !first_position.contains_key(req) {
            errors.push(FieldError::new(
                *req,
                "required column is missing from the header",
                format!(
                    "add a {req} column; the header was: {}",
                    header
                        .iter()
                        .map(|h| clean(h))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            ));
        }
    }
    if errors.is_empty() {
        Ok(names)
    } else {
        Err(errors)
    }
}

fn squashed(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A warning when a column about to be kept as an attribute looks like one
/// of the `known` columns: the same letters in another spelling
/// (`Submitted At`), or a known name as one of its words (`NPS Score`).
pub fn lookalike(name: &str, known: &[&str]) -> Option<FieldError> {
    let shown = clean(name);
    let lower = shown.to_lowercase();
    let squashed_name = squashed(&lower);
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let similar = known
        .iter()
        .find(|k| squashed(k) == squashed_name || (!k.contains('_') && words.contains(k)))?;
    Some(FieldError::new(
        shown,
        format!(
            "is not a column Northstar knows, so it is kept as an attribute; it looks like {similar}"
        ),
        format!("rename the column to {similar} if it holds that, or ignore this warning"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_ignoring_case_and_space() {
        assert_eq!(
            check(
                &["\u{feff}External_ID", " Submitted_At "],
                &["external_id", "submitted_at"]
            )
            .unwrap(),
            ["external_id", "submitted_at"]
        );
        let dup = check(&["nps", "NPS"], &[]).unwrap_err();
        assert!(dup[0].problem.contains("more than once"), "{dup:?}");
    }

    #[test]
    fn headers_are_bounded() {
        let many: Vec<String> = (0..=MAX_COLUMNS).map(|i| format!("c{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let e = check(&refs, &[]).unwrap_err();
        assert!(e[0].problem.contains("limit is 256"), "{e:?}");
        let long = "x".repeat(65);
        let e = check(&[long.as_str()], &[]).unwrap_err();
        assert!(
            e[0].problem.contains("limit for column names is 64"),
            "{e:?}"
        );
    }

    #[test]
    fn lookalikes_are_warned_about() {
        let known = ["nps", "ces", "submitted_at", "segment"];
        assert!(lookalike("NPS Score", &known).is_some());
        assert!(lookalike("Submitted At", &known).is_some());
        assert!(lookalike("customer segment", &known).is_some());
        // "ces" inside another word is not a look-alike.
        assert!(lookalike("services", &known).is_none());
        assert!(lookalike("store", &known).is_none());
    }
}
