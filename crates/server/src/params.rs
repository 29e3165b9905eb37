//! Query parameters shared by the API and the pages: which responses
//! (`from`, `to`, `<dimension>=<value>`), which metric, how to group.

use northstar_core::access::Scope;
use northstar_core::calendar;
use northstar_core::rollup::GroupBy;
use northstar_core::{Dimension, Metric};

use northstar_core::field::DIMENSION_LIMIT;

use crate::error::ApiError;
use crate::report::Selection;

/// The query string as name/value pairs; a query that cannot be decoded is
/// answered in the same JSON error shape as every other error.
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        decode_query(parts.uri.query().unwrap_or("")).map(QueryPairs)
    }
}

/// Most name/value pairs one query string may carry.
pub const MAX_QUERY_PAIRS: usize = 200;

/// Decodes `application/x-www-form-urlencoded` pairs strictly: a malformed
/// `%` escape or bytes that are not UTF-8 are an error naming the
/// parameter, not silently replaced (a filter on `�` matches nothing and
/// says nothing).
pub fn decode_query(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    fn decode(part: &str, parameter: &str) -> Result<String, ApiError> {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = bytes
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    let Some(b) = hex else {
                        return Err(ApiError::parameter(
                            parameter,
                            "has a malformed %-escape; write % as %25",
                        ));
                    };
                    out.push(b);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).map_err(|_| {
            ApiError::parameter(
                parameter,
                "is not valid UTF-8 once decoded; percent-encode text as UTF-8",
            )
        })
    }
    let mut pairs = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if pairs.len() == MAX_QUERY_PAIRS {
            return Err(ApiError::parameter(
                "query",
                format!("has more than {MAX_QUERY_PAIRS} parameters; narrow the filter"),
            ));
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name, "query")?;
        let value = decode(value, &name)?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// The `interval` of a trend (`day`, `week`, `month`), if given.
pub fn interval(
    pairs: &[(String, String)],
) -> Result<Option<northstar_core::trends::Interval>, ApiError> {
    let mut found = None;
    for (name, value) in pairs.iter().filter(|(n, _)| n == "interval") {
        if found.is_some() {
            return Err(ApiError::parameter(name, "is given twice; give it once"));
        }
        let value = value.trim();
        found = Some(
            northstar_core::trends::Interval::parse(value).ok_or_else(|| {
                ApiError::parameter(
                    "interval",
                    format!("unknown interval {value:?}; use one of day, week, month"),
                )
            })?,
        );
    }
    Ok(found)
}

/// The API's parameters must not be given empty (the pages' forms may send
/// them empty; the API document says they are an enum or a date).
pub fn reject_empty(pairs: &[(String, String)], names: &[&str]) -> Result<(), ApiError> {
    match pairs
        .iter()
        .find(|(n, v)| names.contains(&n.as_str()) && v.trim().is_empty())
    {
        Some((name, _)) => Err(ApiError::parameter(
            name,
            "is empty; leave the parameter out or give a value",
        )),
        None => Ok(()),
    }
}

/// Parameters of a metrics request.
#[derive(Debug, Clone, Default)]
pub struct MetricParams {
    pub metric: Option<Metric>,
    pub group_by: Option<GroupBy>,
    pub selection: Selection,
}

/// Parses query pairs; `accepted` lists the non-selection parameters the
/// caller understands (others are an error that names them). The selection
/// comes back restricted to the caller's `scope`: no handler can get an
/// unscoped one from a request.
pub fn parse(
    pairs: &[(String, String)],
    accepted: &[&str],
    scope: &Scope,
) -> Result<MetricParams, ApiError> {
    let mut p = MetricParams::default();
    for (name, value) in pairs {
        let value = value.trim();
        match name.as_str() {
            "metric" if accepted.contains(&"metric") => {
                p.metric = Some(Metric::parse(value).ok_or_else(|| {
                    ApiError::parameter(
                        "metric",
                        format!("unknown metric {value:?}; use one of nps, csat, ces, fcr"),
                    )
                })?);
            }
            "group_by" if accepted.contains(&"group_by") => {
                if !value.is_empty() {
                    p.group_by = Some(GroupBy::parse(value).ok_or_else(|| {
                        ApiError::parameter(
                            "group_by",
                            format!(
                                "cannot group by {value:?}; use one of {}, month",
                                Dimension::column_list()
                            ),
                        )
                    })?);
                }
            }
            "from" | "to" => {
                if value.is_empty() {
                    continue;
                }
                let day = calendar::parse_day(value).ok_or_else(|| {
                    ApiError::parameter(
                        name,
                        format!("{value:?} is not a date; write it as YYYY-MM-DD, like 2026-03-01"),
                    )
                })?;
                if name == "from" {
                    p.selection.from = Some(day);
                } else {
                    p.selection.to = Some(day);
                }
            }
            other => match Dimension::parse(other) {
                Some(d) => {
                    northstar_core::field::within_length(d.as_str(), value, DIMENSION_LIMIT)
                        .map_err(|e| {
                            ApiError::parameter(d.as_str(), format!("{} ({})", e.problem, e.fix))
                        })?;
                    if !value.is_empty() {
                        p.selection.filter.push((d, value.to_string()));
                    }
                }
                None if accepted.contains(&other) => {}
                None => {
                    return Err(ApiError::parameter(
                        other,
                        format!(
                            "unknown parameter; use {}from, to (YYYY-MM-DD) or a dimension filter ({})",
                            accepted
                                .iter()
                                .map(|a| format!("{a}, "))
                                .collect::<String>(),
                            Dimension::column_list()
                        ),
                    ));
                }
            },
        }
    }
    // `from` after `to` selects nothing: the figures say n = 0 and the
    // period shows the range asked for (the API document cannot forbid it,
    // so the server does not either).
    p.selection = p.selection.within(scope);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn errors_name_the_parameter() {
        let long = "s".repeat(101);
        let all = ["metric", "group_by"];
        let cases = [
            (vec![("metric", "xyz")], "metric"),
            (vec![("group_by", "colour")], "group_by"),
            (vec![("from", "2026-02-30")], "from"),
            (vec![("region", "north")], "region"),
            (vec![("segment", long.as_str())], "segment"),
        ];
        for (q, param) in cases {
            match parse(&pairs(&q), &all, &Scope::Organisation) {
                Err(ApiError::BadParameter { parameter, .. }) => assert_eq!(parameter, param),
                other => panic!("{q:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn queries_decode_strictly_and_are_bounded() {
        assert_eq!(
            decode_query("segment=mid+market&department=R%26D&x").unwrap(),
            [
                ("segment".to_string(), "mid market".to_string()),
                ("department".to_string(), "R&D".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
        for (bad, parameter) in [
            ("segment=%FF", "segment"),
            ("segment=%zz", "segment"),
            ("%FF=1", "query"),
        ] {
            match decode_query(bad) {
                Err(ApiError::BadParameter { parameter: p, .. }) => {
                    assert_eq!(p, parameter, "{bad}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let many = vec!["segment=a"; MAX_QUERY_PAIRS + 1].join("&");
        assert!(decode_query(&many).is_err());
        assert!(decode_query(&vec!["segment=a"; MAX_QUERY_PAIRS].join("&")).is_ok());
    }

    #[test]
    fn filters_repeat_and_combine() {
        let p = parse(
            &pairs(&[
                ("metric", "nps"),
                ("segment", "smb"),
                ("segment", "enterprise"),
                ("department", "billing"),
            ]),
            &["metric"],
            &Scope::Organisation,
        )
        .unwrap();
        assert_eq!(p.metric, Some(Metric::Nps));
        assert_eq!(p.selection.filter.len(), 3);
        assert_eq!(
            p.selection.describe(),
            "department = billing, segment = smb or enterprise"
        );
    }
}
