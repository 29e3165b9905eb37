//! Field-level validation errors and the small parsers shared by every import
//! format (CSV, JSON), so the CLI and the API apply the same rules.

use serde::Serialize;

/// What was wrong with one field, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {problem} ({fix})")]
pub struct FieldError {
    pub field: String,
    pub problem: String,
    pub fix: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// Joins a row's field errors into the one line a report shows.
pub fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A cell's text with surrounding whitespace removed, or `None` when empty
/// (an empty cell means "not answered").
pub fn non_empty(raw: &str) -> Option<&str> {
    let t = raw.trim();
    (!t.is_empty()).then_some(t)
}

/// A whole number in `low..=high`, or `None` for an empty cell.
pub fn score(field: &str, raw: &str, low: u8, high: u8) -> Result<Option<u8>, FieldError> {
    let Some(t) = non_empty(raw) else {
        return Ok(None);
    };
    match t.parse::<u8>() {
        Ok(v) if (low..=high).contains(&v) => Ok(Some(v)),
        _ => Err(FieldError::new(
            field,
            format!("{t:?} is not a whole number from {low} to {high}"),
            format!("use {low}–{high}, or leave the cell empty if not answered"),
        )),
    }
}

/// yes/no (also true/false, y/n, 1/0), or `None` for an empty cell.
pub fn yes_no(field: &str, raw: &str) -> Result<Option<bool>, FieldError> {
    let Some(t) = non_empty(raw) else {
        return Ok(None);
    };
    match t.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Ok(Some(true)),
        "no" | "n" | "false" | "0" => Ok(Some(false)),
        _ => Err(FieldError::new(
            field,
            format!("{t:?} is not yes or no"),
            "use yes or no, or leave the cell empty if unknown",
        )),
    }
}

/// Timestamps must fall in these years: anything else is a typo, and would
/// stretch the rollups' month arrays across centuries.
pub const YEARS: std::ops::RangeInclusive<i16> = 1970..=2099;

/// An RFC 3339 timestamp with an offset, or `None` for an empty cell.
pub fn timestamp(field: &str, raw: &str) -> Result<Option<jiff::Timestamp>, FieldError> {
    let Some(t) = non_empty(raw) else {
        return Ok(None);
    };
    let ts = t.parse::<jiff::Timestamp>().map_err(|_| {
        FieldError::new(
            field,
            format!("{t:?} is not an RFC 3339 timestamp"),
            "write it with a date, time and offset, like 2026-03-04T10:15:00Z",
        )
    })?;
    let year = crate::calendar::year_of_day(crate::calendar::day_of_timestamp(ts));
    if !(i64::from(*YEARS.start())..=i64::from(*YEARS.end())).contains(&year) {
        return Err(FieldError::new(
            field,
            format!("{t:?} is in the year {year}"),
            format!(
                "check the year; timestamps from {} to {} are accepted",
                YEARS.start(),
                YEARS.end()
            ),
        ));
    }
    Ok(Some(ts))
}

/// A finite decimal number, optionally at least `min`, or `None` when empty.
pub fn number(field: &str, raw: &str, min: Option<f64>) -> Result<Option<f64>, FieldError> {
    let Some(t) = non_empty(raw) else {
        return Ok(None);
    };
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && min.is_none_or(|m| v >= m) => Ok(Some(v)),
        _ => Err(FieldError::new(
            field,
            format!("{t:?} is not a valid number"),
            match min {
                Some(m) => format!("use a plain decimal number of at least {m}, like 12.5"),
                None => "use a plain decimal number, like 12.5".to_string(),
            },
        )),
    }
}

/// The longest text a kind of field may hold, in characters (Unicode scalar
/// values). Every string a client sends is bounded, so that memory and the
/// database grow with real data, never with what one request claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimit {
    /// What the limit applies to, for the error message ("ids").
    pub applies_to: &'static str,
    pub max_chars: usize,
}

/// Ids: external_id, customer_id, order_id.
pub const ID_LIMIT: TextLimit = TextLimit {
    applies_to: "ids",
    max_chars: 200,
};
/// Dimension values (survey, touchpoint, department, segment, channel) and
/// customer segment and region.
pub const DIMENSION_LIMIT: TextLimit = TextLimit {
    applies_to: "dimension values",
    max_chars: 100,
};
/// Column names, hence attribute, driver and measure names.
pub const NAME_LIMIT: TextLimit = TextLimit {
    applies_to: "column names",
    max_chars: 64,
};
/// Values of columns kept as attributes.
pub const ATTRIBUTE_LIMIT: TextLimit = TextLimit {
    applies_to: "attribute values",
    max_chars: 1_000,
};
/// Free-text comments.
pub const COMMENT_LIMIT: TextLimit = TextLimit {
    applies_to: "comments",
    max_chars: 10_000,
};
/// Most columns a file (or fields a JSON item) may have.
pub const MAX_COLUMNS: usize = 256;

/// Checks a text to be stored against its limit, and that it holds no NUL
/// character (U+0000), which PostgreSQL cannot store in text.
pub fn within(field: &str, text: &str, limit: TextLimit) -> Result<(), FieldError> {
    if text.contains('\0') {
        return Err(FieldError::new(
            field,
            "contains a NUL character (U+0000), which cannot be stored as text",
            "remove the NUL characters (often left by a binary export or a wrong encoding)",
        ));
    }
    within_length(field, text, limit)
}

/// Checks only the length of a text (a value searched for, not stored: one
/// with a NUL character simply matches nothing).
pub fn within_length(field: &str, text: &str, limit: TextLimit) -> Result<(), FieldError> {
    // Bytes bound chars from above: only count when the bytes could exceed.
    if text.len() > limit.max_chars {
        let chars = text.chars().count();
        if chars > limit.max_chars {
            return Err(FieldError::new(
                field,
                format!(
                    "is {chars} characters long; the limit for {} is {}",
                    limit.applies_to, limit.max_chars
                ),
                format!("shorten it to at most {} characters", limit.max_chars),
            ));
        }
    }
    Ok(())
}

/// An optional text field within its limit; `None` when empty.
pub fn text(field: &str, raw: &str, limit: TextLimit) -> Result<Option<String>, FieldError> {
    match non_empty(raw) {
        None => Ok(None),
        Some(t) => within(field, t, limit).map(|()| Some(t.to_string())),
    }
}

/// A required text field within its limit.
pub fn required<'a>(
    field: &str,
    raw: &'a str,
    example: &str,
    limit: TextLimit,
) -> Result<&'a str, FieldError> {
    let t = non_empty(raw).ok_or_else(|| {
        FieldError::new(
            field,
            "is empty",
            format!("every row needs a {field}, e.g. {example}"),
        )
    })?;
    within(field, t, limit).map(|()| t)
}

/// Checks a name used inside a column name (`driver_<name>`, `measure_<name>`).
pub fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_checked_against_the_scale() {
        assert_eq!(score("nps", " 10 ", 0, 10), Ok(Some(10)));
        assert_eq!(score("nps", "", 0, 10), Ok(None));
        let e = score("nps", "11", 0, 10).unwrap_err();
        assert_eq!(
            e.to_string(),
            "nps: \"11\" is not a whole number from 0 to 10 (use 0–10, or leave the cell empty if not answered)"
        );
        assert!(score("csat", "4.5", 1, 5).is_err());
        assert!(score("csat", "-1", 1, 5).is_err());
    }

    #[test]
    fn yes_no_accepts_common_spellings() {
        assert_eq!(yes_no("fcr", "Yes"), Ok(Some(true)));
        assert_eq!(yes_no("fcr", "0"), Ok(Some(false)));
        assert!(yes_no("fcr", "maybe").is_err());
    }

    #[test]
    fn timestamps_need_an_offset() {
        assert!(
            timestamp("submitted_at", "2026-03-04T10:15:00Z")
                .unwrap()
                .is_some()
        );
        assert!(
            timestamp("submitted_at", "2026-03-04T10:15:00+02:00")
                .unwrap()
                .is_some()
        );
        assert!(timestamp("submitted_at", "2026-03-04 10:15").is_err());
        assert!(timestamp("submitted_at", "2026-13-04T10:15:00Z").is_err());
        let e = timestamp("submitted_at", "0026-03-04T10:15:00Z").unwrap_err();
        assert!(e.problem.contains("year 26"), "{e}");
    }

    #[test]
    fn nul_characters_are_refused_with_the_field_named() {
        let e = text("comment", "a\0b", COMMENT_LIMIT).unwrap_err();
        assert_eq!(e.field, "comment");
        assert!(e.to_string().contains("NUL"), "{e}");
        assert!(required("external_id", "\0", "R1", ID_LIMIT).is_err());
    }

    #[test]
    fn text_is_bounded_and_the_error_names_the_limit() {
        assert_eq!(
            text("comment", "  hi ", COMMENT_LIMIT),
            Ok(Some("hi".into()))
        );
        assert_eq!(text("comment", "  ", COMMENT_LIMIT), Ok(None));
        let long = "é".repeat(101);
        let e = text("segment", &long, DIMENSION_LIMIT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "segment: is 101 characters long; the limit for dimension values is 100 (shorten it to at most 100 characters)"
        );
        // 100 two-byte characters are 200 bytes but within the limit.
        assert!(text("segment", &"é".repeat(100), DIMENSION_LIMIT).is_ok());
        assert!(required("external_id", &"x".repeat(201), "r1", ID_LIMIT).is_err());
        assert!(required("external_id", "", "r1", ID_LIMIT).is_err());
    }

    #[test]
    fn numbers_reject_nan_and_negatives_when_asked() {
        assert_eq!(number("x", "1.5", Some(0.0)), Ok(Some(1.5)));
        assert!(number("x", "NaN", None).is_err());
        assert!(number("x", "-2", Some(0.0)).is_err());
    }
}
