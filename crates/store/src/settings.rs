//! Settings an admin changes while Northstar runs: what personal data is
//! kept. Stored in the database (both backends), so every process — the
//! server, an import, a copy — reads the same value; each change is audited
//! (`setting.change`, `old -> new`) in the transaction that makes it.

/// Setting: `on` masks e-mail addresses, phone numbers, card numbers and
/// IBANs in comments and attribute values before they are stored, for every
/// write path (imports, the API, later surveys). Default `off`.
pub const REDACT_PERSONAL_DATA: &str = "redact_personal_data";

/// Setting: answers older than this many months are anonymised daily by
/// `northstar serve` (`1`..=[`MAX_RETENTION_MONTHS`], or `off`, the default).
pub const RETENTION_MONTHS: &str = "retention_months";

/// Setting: the organisation's time zone, an IANA name (default `UTC`).
/// Every response's day (rollups, trends by day, week and month, period
/// filters) is its calendar day in this zone
/// ([`northstar_core::calendar::day_in`]). Changing it re-derives every
/// stored day and rebuilds the rollups in one transaction
/// ([`crate::Backend::put_time_zone`]).
pub const TIME_ZONE: &str = "time_zone";

/// Setting: the yearly discount rate business cases use unless a case
/// gives its own (a share, default `0.08`); finance reviews it as part of
/// each case.
pub const DISCOUNT_RATE: &str = "discount_rate";

/// Not a setting an admin changes: the secret under which the audit log
/// names erased customers ([`crate::customer_reference`]); generated at
/// the first erasure, never shown, copied with the database.
pub const AUDIT_KEY: &str = "audit_key";

/// The settings Northstar knows, what each accepts and its default.
pub const KNOWN_SETTINGS: [(&str, &str, &str); 4] = [
    (REDACT_PERSONAL_DATA, "on or off", "off"),
    (
        RETENTION_MONTHS,
        "a whole number of months from 1 to 1200, or off",
        "off",
    ),
    (
        TIME_ZONE,
        "an IANA time zone name such as Europe/Paris or America/New_York",
        "UTC",
    ),
    (
        DISCOUNT_RATE,
        "a yearly rate as a share from 0 to 0.5, such as 0.08 for 8%",
        "0.08",
    ),
];

/// Most months of retention (100 years): a larger figure is a typo.
pub const MAX_RETENTION_MONTHS: u32 = 1_200;

/// Longest value accepted for any setting, before it is checked.
const MAX_VALUE_CHARS: usize = 64;

/// One stored setting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub updated_unix: i64,
    /// Who changed it last: an account's e-mail, `cli` or `system`.
    pub updated_by: String,
}

/// Checks a setting's value; returns it normalised (trimmed, lower-case),
/// or a message naming the key and what it accepts.
pub fn check_setting(key: &str, value: &str) -> Result<String, String> {
    let Some((_, accepts, _)) = KNOWN_SETTINGS.iter().find(|(k, _, _)| *k == key) else {
        let known: Vec<&str> = KNOWN_SETTINGS.iter().map(|(k, _, _)| *k).collect();
        let shown: String = key.chars().take(MAX_VALUE_CHARS).collect();
        return Err(format!(
            "{shown:?} is not a setting; use one of {}",
            known.join(", ")
        ));
    };
    if value.chars().count() > MAX_VALUE_CHARS {
        return Err(format!(
            "{key}: the value is longer than {MAX_VALUE_CHARS} characters; it must be {accepts}"
        ));
    }
    if key == TIME_ZONE {
        // Names are spelled as the time zone database spells them.
        return northstar_core::calendar::time_zone(value).map(|(name, _)| name);
    }
    let value = value.trim().to_ascii_lowercase();
    let valid = match key {
        REDACT_PERSONAL_DATA => value == "on" || value == "off",
        RETENTION_MONTHS => value == "off" || retention_months(&value).is_ok(),
        DISCOUNT_RATE => discount_rate(&value).is_some(),
        _ => false,
    };
    if valid {
        // "024" and "24" are one setting.
        Ok(match retention_months(&value) {
            Ok(months) if key == RETENTION_MONTHS => months.to_string(),
            _ => value,
        })
    } else {
        Err(format!(
            "{key}: {value:?} is not valid; it must be {accepts}"
        ))
    }
}

/// A discount rate setting's value: a share from 0 to 0.5.
pub fn discount_rate(text: &str) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|r| (0.0..=0.5).contains(r))
}

/// The organisation's discount rate (the default when never set).
pub async fn organisation_discount_rate(backend: &dyn crate::Backend) -> crate::StoreResult<f64> {
    Ok(backend
        .setting(DISCOUNT_RATE)
        .await?
        .as_deref()
        .and_then(discount_rate)
        .unwrap_or(0.08))
}

/// The default of a known setting.
pub fn default_value(key: &str) -> Option<&'static str> {
    KNOWN_SETTINGS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, _, default)| *default)
}

/// Reads a number of months of retention: 1 to [`MAX_RETENTION_MONTHS`].
pub fn retention_months(text: &str) -> Result<u32, String> {
    let bound = || {
        format!(
            "retention must be a whole number of months from 1 to {MAX_RETENTION_MONTHS} (100 years); got {text:?}"
        )
    };
    let months: u32 = text.trim().parse().map_err(|_| bound())?;
    if (1..=MAX_RETENTION_MONTHS).contains(&months) {
        Ok(months)
    } else {
        Err(bound())
    }
}

/// The time zone a stored `time_zone` value names (UTC when never set).
pub(crate) fn stored_time_zone(value: Option<&str>) -> crate::StoreResult<jiff::tz::TimeZone> {
    match value {
        None => Ok(jiff::tz::TimeZone::UTC),
        Some(name) => northstar_core::calendar::time_zone(name)
            .map(|(_, zone)| zone)
            .map_err(|e| {
                crate::StoreError::Corrupt(format!(
                    "the stored setting {e}; set it again with `northstar settings set time_zone <name>`"
                ))
            }),
    }
}

/// The organisation's time zone as stored (name and zone; UTC when never
/// set): one small read, for callers that name the zone or need "today".
pub async fn time_zone(
    backend: &dyn crate::Backend,
) -> crate::StoreResult<(String, jiff::tz::TimeZone)> {
    let stored = backend.setting(TIME_ZONE).await?;
    let zone = stored_time_zone(stored.as_deref())?;
    Ok((stored.unwrap_or_else(|| "UTC".to_string()), zone))
}

/// Masks personal data in responses' comments and attribute values.
pub(crate) fn redact_responses(rows: &mut [northstar_core::response::NewResponse]) {
    use northstar_core::personal_data::mask;
    for r in rows {
        if let Some(comment) = &r.comment {
            r.comment = Some(mask(comment));
        }
        for value in r.attributes.values_mut() {
            *value = mask(value);
        }
    }
}

/// The audit detail of a setting's change: `old -> new`.
pub(crate) fn change_detail(old: Option<&str>, new: &str) -> String {
    format!("{} -> {new}", old.unwrap_or("(unset)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_normalised() {
        assert_eq!(check_setting(REDACT_PERSONAL_DATA, " ON "), Ok("on".into()));
        assert!(
            check_setting(REDACT_PERSONAL_DATA, "yes")
                .unwrap_err()
                .contains("must be on or off")
        );
        assert_eq!(check_setting(RETENTION_MONTHS, "24"), Ok("24".into()));
        assert_eq!(check_setting(RETENTION_MONTHS, "024"), Ok("24".into()));
        assert_eq!(check_setting(RETENTION_MONTHS, "Off"), Ok("off".into()));
        for bad in ["0", "1201", "-3", "two", "", "1.5"] {
            let e = check_setting(RETENTION_MONTHS, bad).unwrap_err();
            assert!(e.contains("from 1 to 1200"), "{e}");
        }
        assert!(
            check_setting(RETENTION_MONTHS, &"1".repeat(100))
                .unwrap_err()
                .contains("longer than 64 characters")
        );
        assert!(
            check_setting("colour", "blue")
                .unwrap_err()
                .contains("use one of redact_personal_data, retention_months, time_zone")
        );
        assert_eq!(
            check_setting(TIME_ZONE, " Europe/Paris "),
            Ok("Europe/Paris".into())
        );
        assert_eq!(
            check_setting(TIME_ZONE, "Europe/Pariss"),
            Err(
                "time_zone: unknown IANA time zone 'Europe/Pariss'; use a name such as Europe/Paris"
                    .into()
            )
        );
        assert_eq!(default_value(TIME_ZONE), Some("UTC"));
        assert_eq!(default_value(RETENTION_MONTHS), Some("off"));
        assert_eq!(default_value("colour"), None);
    }
}

#[cfg(test)]
mod discount_rate_tests {
    use super::*;

    #[test]
    fn the_discount_rate_is_a_share_up_to_half() {
        assert_eq!(check_setting(DISCOUNT_RATE, " 0.1 "), Ok("0.1".into()));
        assert_eq!(discount_rate("0.08"), Some(0.08));
        for bad in ["8", "-0.01", "0.51", "eight", "NaN"] {
            let e = check_setting(DISCOUNT_RATE, bad).unwrap_err();
            assert!(e.contains("discount_rate"), "{e}");
        }
        assert_eq!(default_value(DISCOUNT_RATE), Some("0.08"));
    }
}
