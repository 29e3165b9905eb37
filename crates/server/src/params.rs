//! Query parameters shared by the API and the pages: which responses
//! (`from`, `to`, `<dimension>=<value>`), which metric, how to group.

use northstar_core::calendar;
use northstar_core::rollup::GroupBy;
use northstar_core::{Dimension, Metric};

use crate::error::ApiError;
use crate::report::Selection;

/// Parameters of a metrics request.
#[derive(Debug, Clone, Default)]
pub struct MetricParams {
    pub metric: Option<Metric>,
    pub group_by: Option<GroupBy>,
    pub selection: Selection,
}

const DIMENSIONS: &str = "survey, touchpoint, department, segment, channel";

/// Parses query pairs; `accepted` lists the non-selection parameters the
/// caller understands (others are an error that names them).
pub fn parse(pairs: &[(String, String)], accepted: &[&str]) -> Result<MetricParams, ApiError> {
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
                            format!("cannot group by {value:?}; use one of {DIMENSIONS}, month"),
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
                    if !value.is_empty() {
                        p.selection.filter.push((d, value.to_string()));
                    }
                }
                None if accepted.contains(&other) => {}
                None => {
                    return Err(ApiError::parameter(
                        other,
                        format!(
                            "unknown parameter; use {}from, to (YYYY-MM-DD) or a dimension filter ({DIMENSIONS})",
                            accepted
                                .iter()
                                .map(|a| format!("{a}, "))
                                .collect::<String>()
                        ),
                    ));
                }
            },
        }
    }
    if let (Some(f), Some(t)) = (p.selection.from, p.selection.to)
        && f > t
    {
        return Err(ApiError::parameter("from", "is after to; swap the dates"));
    }
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
        let all = ["metric", "group_by"];
        let cases = [
            (vec![("metric", "xyz")], "metric"),
            (vec![("group_by", "colour")], "group_by"),
            (vec![("from", "2026-02-30")], "from"),
            (vec![("region", "north")], "region"),
            (vec![("from", "2026-03-02"), ("to", "2026-03-01")], "from"),
        ];
        for (q, param) in cases {
            match parse(&pairs(&q), &all) {
                Err(ApiError::BadParameter { parameter, .. }) => assert_eq!(parameter, param),
                other => panic!("{q:?}: {other:?}"),
            }
        }
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
