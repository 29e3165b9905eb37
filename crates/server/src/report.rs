//! A metric with its provenance, computed from merged rollup summaries: the
//! shape every figure leaves Northstar in (API and pages alike).

use std::collections::BTreeMap;

use northstar_core::calendar::{self, Day};
use northstar_core::comparison;
use northstar_core::estimate::CONFIDENCE;
use northstar_core::rollup::{CubeAnswer, CubeQuery, GroupBy};
use northstar_core::{Dimension, Estimate, Mergeable, Metric};
use northstar_store::{RespondentCounts, RespondentQuery, Store};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// Which responses a figure covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub filter: Vec<(Dimension, String)>,
    pub from: Option<Day>,
    pub to: Option<Day>,
    /// The department the caller's role restricts every query to (already
    /// intersected into `filter`, see [`Selection::within`]).
    pub restricted_to: Option<String>,
    /// The request asked only for data outside the caller's scope: every
    /// query selects nothing.
    pub outside_scope: bool,
}

/// A filter value no stored value can equal (text with NUL is refused at
/// validation), so a query outside the caller's scope selects nothing.
const MATCHES_NOTHING: &str = "\0outside scope";

impl Selection {
    /// This selection restricted to a role's scope: a mandatory condition
    /// intersected with the request's own filter, never one more "any of"
    /// value (`northstar_core::access::Scope::restrict`).
    pub fn within(mut self, scope: &northstar_core::access::Scope) -> Selection {
        match scope.restrict(&self.filter) {
            Some(filter) => self.filter = filter,
            None => self.outside_scope = true,
        }
        self.restricted_to = scope.department().map(str::to_string);
        self
    }

    /// The filter every query of this selection applies.
    pub fn effective_filter(&self) -> Vec<(Dimension, String)> {
        if self.outside_scope {
            vec![(Dimension::Department, MATCHES_NOTHING.to_string())]
        } else {
            self.filter.clone()
        }
    }

    /// The whole organisation over the same period: the summary a
    /// department-scoped role may see beside its own department's figures.
    pub fn organisation(&self) -> Selection {
        Selection {
            from: self.from,
            to: self.to,
            ..Selection::default()
        }
    }

    /// The filter as shown to people: dimension → values.
    pub fn filter_map(&self) -> BTreeMap<String, Vec<String>> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (d, v) in &self.filter {
            map.entry(d.as_str().to_string())
                .or_default()
                .push(v.clone());
        }
        map
    }

    /// One line describing the filter, for pages.
    pub fn describe(&self) -> String {
        let filter = describe_filter(&self.filter_map());
        match (&self.restricted_to, self.outside_scope) {
            (Some(d), true) => {
                format!("{filter}: nothing, because your role sees only the department {d}")
            }
            (Some(d), false) => format!("{filter} (your role sees only the department {d})"),
            (None, _) => filter,
        }
    }
}

/// One line describing a filter map, e.g. `segment = smb or enterprise`.
pub fn describe_filter(map: &BTreeMap<String, Vec<String>>) -> String {
    if map.is_empty() {
        return "all responses".to_string();
    }
    map.iter()
        .map(|(d, vs)| format!("{d} = {}", vs.join(" or ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An estimate as reported.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Figure {
    /// Number of answers the figure is computed from.
    pub n: i64,
    /// Point estimate on the metric's scale; null when n = 0.
    pub value: Option<f64>,
    /// Lower bound of the 95% interval; null when undefined.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

impl From<Estimate> for Figure {
    fn from(e: Estimate) -> Self {
        Self {
            n: e.n,
            value: e.value,
            ci_low: e.ci_low,
            ci_high: e.ci_high,
        }
    }
}

pub use northstar_core::comparison::MIN_ANSWERS_FOR_SIGNIFICANCE;

// `core::comparison` decides; this is its documented shape.
/// A group's difference from all other responses in the selection.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersusRest {
    /// This group minus the rest, on the metric's scale.
    pub difference: f64,
    pub z: f64,
    pub p_value: f64,
    /// The p-value after Holm's adjustment across all groups tested.
    pub p_adjusted: f64,
    /// Holm-adjusted p < 0.05, both sides have at least
    /// [`MIN_ANSWERS_FOR_SIGNIFICANCE`] answers, and the group's own 95%
    /// interval excludes the rest's value, so the verdict never contradicts
    /// the interval shown beside it.
    pub significant: bool,
    pub method: &'static str,
}

impl From<comparison::VersusRest> for VersusRest {
    fn from(v: comparison::VersusRest) -> Self {
        Self {
            difference: v.difference,
            z: v.z,
            p_value: v.p_value,
            p_adjusted: v.p_adjusted,
            significant: v.significant,
            method: v.method,
        }
    }
}

/// One group of a breakdown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupFigure {
    pub key: String,
    #[serde(flatten)]
    pub figure: Figure,
    /// Null for metrics or groups where no test applies.
    pub versus_rest: Option<VersusRest>,
}

/// The period a figure covers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Period {
    /// First day with data in the selection (YYYY-MM-DD, in the organisation's time zone); null without data.
    pub from: Option<String>,
    /// Last day with data in the selection (in the organisation's time zone).
    pub to: Option<String>,
    /// The range asked for, if any.
    pub requested_from: Option<String>,
    pub requested_to: Option<String>,
}

impl Period {
    /// The span of a metric's own answers, and the range the selection asked for.
    pub fn of(span: Option<(Day, Day)>, selection: &Selection) -> Self {
        Self {
            from: span.map(|s| calendar::day_label(s.0)),
            to: span.map(|s| calendar::day_label(s.1)),
            requested_from: selection.from.map(calendar::day_label),
            requested_to: selection.to.map(calendar::day_label),
        }
    }
}

/// A metric with n, interval, method, filter and period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MetricReport {
    #[schema(value_type = String, example = "nps")]
    pub metric: Metric,
    pub title: &'static str,
    pub scale: &'static str,
    pub method: &'static str,
    pub confidence: f64,
    /// Dimension → accepted values (any of); empty for all responses.
    pub filter: BTreeMap<String, Vec<String>>,
    pub period: Period,
    pub group_by: Option<String>,
    pub overall: Figure,
    pub groups: Vec<GroupFigure>,
    /// Where the figure was computed from.
    pub source: &'static str,
    /// The department the caller's role restricts figures to (null: the
    /// whole organisation).
    pub restricted_to: Option<String>,
    /// For a department-scoped caller: the same metric for the whole
    /// organisation over the same period — no filter at all (every
    /// department, segment and channel), no breakdown: the summary their
    /// role may see, not the request's filter applied to other departments.
    pub organisation: Option<Figure>,
    /// How the answers were collected, when they come from surveys that
    /// sent invitations: each survey's response rate (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub collection: Option<Collection>,
}

/// The invitations behind a figure: per survey, invited, sent, answered
/// and the response rate, with the methodology card's link.
#[derive(Debug, Clone, Serialize)]
pub struct Collection {
    pub surveys: Vec<SurveyCollection>,
    pub method: &'static str,
    /// What the rate does and does not describe.
    pub note: &'static str,
    /// The methodology card of this figure.
    pub methodology: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SurveyCollection {
    pub survey: String,
    /// The version new answers get (answers keep theirs: attribute
    /// `survey_version`).
    pub current_version: i64,
    pub invited: u64,
    pub sent: u64,
    pub opened: u64,
    pub answered: u64,
    /// answered ÷ invited (AAPOR RR1).
    pub response_rate: Option<f64>,
}

/// What a collection's rate describes.
pub const COLLECTION_NOTE: &str = "the rate is of each survey's invitations; the figure's n counts every answer in the selection, which may also include answers from anonymous links, the widget and imports under the same survey name";

/// The response-rate method every provenance names.
pub const RESPONSE_RATE_METHOD: &str = "response rate = answered ÷ invited (AAPOR RR1: every invited customer counts as eligible, so invitations not sent yet lower it); invitations created in the period's days (UTC)";

/// The collection behind a selection: the surveys its filter names (or
/// every survey, without a survey filter) with invitations created in the
/// selection's period.
pub async fn collection(
    store: &dyn Store,
    selection: &Selection,
    metric: Metric,
) -> Result<Option<Collection>, ApiError> {
    let named: Vec<&str> = selection
        .filter
        .iter()
        .filter(|(d, _)| *d == Dimension::Survey)
        .map(|(_, v)| v.as_str())
        .collect();
    let backend = store.backend();
    // Only surveys with answers in this selection (which is already
    // restricted to the caller's department).
    let by_survey = store
        .query_rollups(&selection.query(Some(GroupBy::Dimension(Dimension::Survey))))
        .await?;
    let present: Vec<&str> = by_survey
        .groups
        .iter()
        .filter(|g| metric.estimate(&g.summary).n > 0)
        .map(|g| g.key.as_str())
        .collect();
    // Invitations are dated in UTC; the period's days bound them.
    let from_unix = selection.from.map_or(0, |d| i64::from(d) * 86_400);
    let to_unix = selection
        .to
        .map_or(i64::MAX, |d| (i64::from(d) + 1) * 86_400);
    let mut surveys = Vec::new();
    for s in backend.surveys().await? {
        if (!named.is_empty() && !named.contains(&s.name.as_str()))
            || !present.contains(&s.name.as_str())
        {
            continue;
        }
        let cells = backend.response_rates(s.id, from_unix, to_unix).await?;
        let (mut invited, mut sent, mut opened, mut answered) = (0, 0, 0, 0);
        for c in &cells {
            invited += c.invited;
            sent += c.sent;
            opened += c.opened;
            answered += c.answered;
        }
        if invited == 0 {
            continue;
        }
        surveys.push(SurveyCollection {
            survey: s.name,
            current_version: s.current_version,
            invited,
            sent,
            opened,
            answered,
            response_rate: Some(answered as f64 / invited as f64),
        });
    }
    if surveys.is_empty() {
        return Ok(None);
    }
    let mut pairs: Vec<(String, String)> = vec![("metric".into(), metric.as_str().into())];
    for (d, v) in &selection.filter {
        if selection.restricted_to.is_none() || *d != Dimension::Department {
            pairs.push((d.as_str().into(), v.clone()));
        }
    }
    if let Some(f) = selection.from {
        pairs.push(("from".into(), calendar::day_label(f)));
    }
    if let Some(t) = selection.to {
        pairs.push(("to".into(), calendar::day_label(t)));
    }
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    Ok(Some(Collection {
        surveys,
        method: RESPONSE_RATE_METHOD,
        note: COLLECTION_NOTE,
        methodology: format!("/methodology?{query}"),
    }))
}

impl Selection {
    /// The cube query for this selection.
    pub fn query(&self, group_by: Option<GroupBy>) -> CubeQuery {
        CubeQuery {
            filter: self.effective_filter(),
            from: self.from,
            to: self.to,
            group_by,
        }
    }
}

/// The values of a dimension the caller may pick from: every stored value
/// for the whole organisation; for a department-scoped caller only the
/// values present in its department's rollups (the list of departments is
/// then its own).
pub async fn dimension_values(
    store: &dyn Store,
    dimension: Dimension,
    selection: &Selection,
) -> Result<Vec<String>, ApiError> {
    let Some(own) = &selection.restricted_to else {
        return Ok(store.dimension_values(dimension).await?);
    };
    let scoped = Selection {
        filter: vec![(Dimension::Department, own.clone())],
        restricted_to: Some(own.clone()),
        ..Selection::default()
    };
    let answer = store
        .query_rollups(&scoped.query(Some(GroupBy::Dimension(dimension))))
        .await?;
    Ok(answer
        .groups
        .into_iter()
        .filter(|g| !g.summary.is_empty())
        .map(|g| g.key)
        .collect())
}

/// Computes a metric for a selection from the store's rollups.
pub async fn metric_report(
    store: &dyn Store,
    metric: Metric,
    selection: &Selection,
    group_by: Option<GroupBy>,
) -> Result<MetricReport, ApiError> {
    if selection.restricted_to.is_none() {
        let answer = store.query_rollups(&selection.query(group_by)).await?;
        let mut report = report_from(&answer, metric, selection, group_by);
        report.collection = collection(store, selection, metric).await?;
        return Ok(report);
    }
    let answers = store
        .query_rollups_many(&[
            selection.query(group_by),
            selection.organisation().query(None),
        ])
        .await?;
    let [answer, organisation] = answers.as_slice() else {
        return Err(ApiError::BadRequest(
            "the store answered a different number of queries".into(),
        ));
    };
    let mut report = report_from(answer, metric, selection, group_by);
    report.organisation = Some(metric.estimate(&organisation.overall).into());
    report.collection = collection(store, selection, metric).await?;
    Ok(report)
}

/// The report for a metric from an answer already merged (several reports
/// from one snapshot agree with each other).
pub fn report_from(
    answer: &CubeAnswer,
    metric: Metric,
    selection: &Selection,
    group_by: Option<GroupBy>,
) -> MetricReport {
    let mut tested: Vec<(&str, Estimate, Option<comparison::VersusRest>)> = answer
        .groups
        .iter()
        .map(|g| {
            let mut rest = answer.overall;
            rest.merge(&g.summary.negated());
            let versus = match group_by {
                Some(GroupBy::Dimension(_)) => comparison::versus_rest(metric, &g.summary, &rest),
                _ => None,
            };
            (g.key.as_str(), metric.estimate(&g.summary), versus)
        })
        .filter(|(_, estimate, _)| estimate.n > 0)
        .collect();
    comparison::adjust_for_multiple_groups(tested.iter_mut().filter_map(|(_, _, v)| v.as_mut()));
    let groups = tested
        .into_iter()
        .map(|(key, estimate, versus)| GroupFigure {
            key: key.to_string(),
            figure: estimate.into(),
            versus_rest: versus.map(Into::into),
        })
        .collect();
    MetricReport {
        metric,
        title: metric.title(),
        scale: metric.scale(),
        method: metric.method(),
        confidence: CONFIDENCE,
        filter: selection.filter_map(),
        period: Period::of(answer.span(metric), selection),
        group_by: group_by.map(|g| g.as_str().to_string()),
        overall: metric.estimate(&answer.overall).into(),
        groups,
        source: "daily rollups of raw responses (calendar days in the organisation's time zone), merged in memory",
        restricted_to: selection.restricted_to.clone(),
        organisation: None,
        collection: None,
    }
}

/// Respondents against the customer base, by segment: distinct respondents
/// with an NPS answer in the selection per segment, against the customers per
/// segment who had not churned before the period began.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Representativeness {
    pub dimension: &'static str,
    /// What is counted on the respondents' side.
    pub answers_counted: &'static str,
    /// What is counted on the customers' side.
    pub base_counted: String,
    pub filter: BTreeMap<String, Vec<String>>,
    pub period: Period,
    #[schema(value_type = Option<Object>)]
    pub comparison: Option<northstar_core::representativeness::MixComparison>,
    /// Respondents whose customer_id is not among the customers, counted
    /// under their response's own segment.
    pub segment_from_response: u64,
    /// Answers without a customer_id, each counted as one respondent.
    pub anonymous_answers: u64,
    pub method: &'static str,
    /// A sentence for people, e.g. which segment is over-represented.
    pub summary: String,
    /// The customer attributes weighted on (`by`): post-stratification on
    /// one, raking on several.
    pub weighted_on: Vec<String>,
    /// Per attribute weighted on: respondents (known customers) against
    /// customers, with the chi-square goodness-of-fit test.
    #[schema(value_type = Vec<Object>)]
    pub mixes: Vec<AttributeMix>,
    /// Weights and the metrics weighted beside the raw ones (null when no
    /// weights could be computed; `weighting_note` says why).
    #[schema(value_type = Option<Object>)]
    pub weighted: Option<northstar_core::weighting::WeightedReport>,
    pub weighting_note: Option<String>,
    /// Plain-language warnings where weighted and raw figures differ
    /// significantly, or where a part of the base has no respondents.
    pub warnings: Vec<String>,
}

/// Respondents against customers on one attribute.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeMix {
    pub attribute: String,
    pub comparison: Option<northstar_core::representativeness::MixComparison>,
}

/// The customer base for a selection: customers active at its start.
pub fn base_from(selection: &Selection, answer: &CubeAnswer) -> Option<Day> {
    selection
        .from
        .or_else(|| answer.span(Metric::Nps).map(|s| s.0))
}

/// Compares who answered (distinct NPS respondents by segment) with the
/// customer base.
pub fn representativeness_from(
    customers: &[(String, u64)],
    respondents: &RespondentCounts,
    answer: &CubeAnswer,
    selection: &Selection,
) -> Representativeness {
    let segment_filtered = selection
        .filter
        .iter()
        .any(|(d, _)| *d == Dimension::Segment);
    let comparison = if segment_filtered {
        None
    } else {
        northstar_core::representativeness::compare_mix(customers, &respondents.by_segment)
    };
    let p_text = |p: f64| {
        if p < 0.001 {
            "< 0.001".to_string()
        } else {
            format!("= {p:.3}")
        }
    };
    let summary = match &comparison {
        None if segment_filtered => "The selection is filtered by segment; remove that filter to compare respondents with the customer base.".to_string(),
        None if customers.is_empty() => "No customers with a segment are imported, so respondents cannot be compared with the customer base.".to_string(),
        None => "No respondents of a known segment in this selection.".to_string(),
        Some(c) => {
            let most = c.rows.iter().max_by(|a, b| a.ratio.total_cmp(&b.ratio));
            let least = c.rows.iter().min_by(|a, b| a.ratio.total_cmp(&b.ratio));
            let mut notes = String::new();
            if c.answers_unmatched > 0 {
                notes += &format!(
                    " {} respondents carry a segment that no imported customer has and are left out of the comparison.",
                    c.answers_unmatched
                );
            }
            if respondents.segment_from_response > 0 {
                notes += &format!(
                    " {} respondents are not among the imported customers; their segment is taken from their responses.",
                    respondents.segment_from_response
                );
            }
            if respondents.anonymous > 0 {
                notes += &format!(
                    " {} answers carry no customer_id; each is counted as one respondent.",
                    respondents.anonymous
                );
            }
            let verdict = match (&c.test, most, least) {
                (None, _, _) => format!(
                    "No test: {}.",
                    c.no_test_reason.as_deref().unwrap_or("too few respondents")
                ),
                (Some(t), Some(m), Some(l)) if t.p_value < 1.0 - CONFIDENCE => format!(
                    "Respondents differ from the customer base (χ² = {:.1}, df = {}, p {}): {} is {:.0}% of customers but {:.0}% of respondents; {} is {:.0}% of customers but {:.0}% of respondents. Overall figures lean towards over-represented segments.",
                    t.chi_square, t.degrees_of_freedom, p_text(t.p_value),
                    m.key, 100.0 * m.customer_share, 100.0 * m.answer_share,
                    l.key, 100.0 * l.customer_share, 100.0 * l.answer_share,
                ),
                (Some(t), _, _) => format!(
                    "No significant difference between respondents and the customer base by segment (χ² = {:.1}, df = {}, p {}).",
                    t.chi_square, t.degrees_of_freedom, p_text(t.p_value)
                ),
            };
            let pooled = match &c.test {
                Some(t) if !t.pooled.is_empty() => format!(
                    " Segments expecting fewer than 5 respondents were pooled for the test: {}.",
                    t.pooled.join(", ")
                ),
                _ => String::new(),
            };
            // Customers carry no department or touchpoint: a filtered
            // selection is compared with the whole base, and its own mix
            // may differ for reasons other than who answered.
            let base_caveat = if selection.filter.is_empty() {
                String::new()
            } else {
                format!(
                    " The base is every customer, not only those reached by {}: a difference may come from who this part of the business serves, not only from who answered.",
                    describe_filter(&selection.filter_map())
                )
            };
            verdict + &pooled + &notes + &base_caveat
        }
    };
    Representativeness {
        dimension: "segment",
        answers_counted: "distinct respondents with an NPS answer (segment from the customers table through customer_id)",
        base_counted: match base_from(selection, answer) {
            Some(day) => format!(
                "customers with a segment who had not churned before {} (customers without a churn date always count)",
                calendar::day_label(day)
            ),
            None => "customers with a segment".to_string(),
        },
        filter: selection.filter_map(),
        period: Period::of(answer.span(Metric::Nps), selection),
        comparison,
        segment_from_response: respondents.segment_from_response,
        anonymous_answers: respondents.anonymous,
        method: "Pearson's chi-square goodness-of-fit test of respondents against customer shares (Pearson 1900); segments expecting fewer than 5 respondents pooled, no test when fewer than two categories remain (Cochran 1954)",
        summary,
        weighted_on: Vec::new(),
        mixes: Vec::new(),
        weighted: None,
        weighting_note: None,
        warnings: Vec::new(),
    }
}

impl Selection {
    /// The respondent query for this selection.
    pub fn respondents(&self) -> RespondentQuery {
        RespondentQuery {
            filter: self.effective_filter(),
            from: self.from,
            to: self.to,
        }
    }
}
