//! Types that exist only to describe the API exactly in its OpenAPI
//! document: parameter enums and formats, the batch body, the error shape.
//! The handlers parse with `params` and `batch`; tests (schemathesis with
//! every check, from `./scripts/test`) keep the two in agreement.

#![allow(dead_code)]

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::batch::MAX_BATCH;
use northstar_core::field::{DIMENSION_LIMIT, MAX_COLUMNS};

/// A headline metric.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum MetricName {
    Nps,
    Csat,
    Ces,
    Fcr,
}

/// How to split the figure.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum GroupByName {
    Survey,
    Touchpoint,
    Department,
    Segment,
    Channel,
    Month,
}

/// Which responses a figure covers. Each dimension filter may be repeated
/// (any of the values); an empty value is ignored.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, style = Form)]
pub struct SelectionDoc {
    /// First day, inclusive (a calendar day in the organisation's time zone, setting time_zone).
    #[param(format = Date)]
    from: Option<String>,
    /// Last day, inclusive; not before `from` (in the organisation's time zone).
    #[param(format = Date)]
    to: Option<String>,
    #[param(explode, max_length = 100)]
    survey: Option<Vec<String>>,
    #[param(explode, max_length = 100)]
    touchpoint: Option<Vec<String>>,
    #[param(explode, max_length = 100)]
    department: Option<Vec<String>>,
    #[param(explode, max_length = 100)]
    segment: Option<Vec<String>>,
    #[param(explode, max_length = 100)]
    channel: Option<Vec<String>>,
}

/// The metric and its grouping.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricDoc {
    #[param(inline)]
    metric: MetricName,
    #[param(inline)]
    group_by: Option<GroupByName>,
}

/// The bucket of a trend.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum IntervalName {
    Day,
    Week,
    Month,
}

/// The metric of a trend and its bucket (default `month`). Without `from`
/// the trend shows the last 90 days, 26 weeks or 24 months up to the last
/// day with data; at most 400 periods.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendDoc {
    #[param(inline)]
    metric: MetricName,
    #[param(inline)]
    interval: Option<IntervalName>,
}

/// The metric of a breakdown and what to split it by: a dimension
/// (survey, touchpoint, department, segment, channel), `region` or
/// `customer.<name>` (the answering customer's record), or
/// `attribute.<name>` / any other name (a column of the responses file kept
/// as an attribute, e.g. `journey_stage`).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreakdownDoc {
    #[param(inline)]
    metric: MetricName,
    #[param(min_length = 1, max_length = 64, pattern = "\\S")]
    by: String,
}

/// Whether lower or higher values of a measure are better.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DirectionName {
    LowerIsBetter,
    HigherIsBetter,
}

/// The department's measure, the level the threshold is read at, and
/// optionally a target other than the records' own. The other filters
/// select the responses (the department names the records).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GapDoc {
    #[param(min_length = 1, max_length = 64, pattern = "\\S")]
    measure: String,
    #[param(min_length = 1, max_length = 100, pattern = "\\S")]
    department: String,
    /// A share strictly between 0 and 1 (default 0.8).
    #[param(exclusive_minimum = 0, exclusive_maximum = 1)]
    level: Option<f64>,
    target: Option<f64>,
    #[param(inline)]
    direction: Option<DirectionName>,
}

/// How to split revenue at risk, and churn rates to assume where too few
/// churn flags are known (shares 0–1).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevenueDoc {
    #[param(inline)]
    by: Option<LoyaltySplit>,
    #[param(minimum = 0, maximum = 1)]
    churn_promoters: Option<f64>,
    #[param(minimum = 0, maximum = 1)]
    churn_passives: Option<f64>,
    #[param(minimum = 0, maximum = 1)]
    churn_detractors: Option<f64>,
}

/// A split of revenue at risk.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum LoyaltySplit {
    Department,
    Segment,
}

/// The customer attributes to weight on (comma-separated, at most 4):
/// `segment` (default), `region`, `customer.<name>` (a bare other name is
/// read as `customer.<name>`).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RepresentativenessDoc {
    #[param(max_length = 300, pattern = "^[^,]*(,[^,]*){0,3}$")]
    by: Option<String>,
}

/// The outcome the drivers explain.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DriverOutcome {
    Nps,
    Csat,
}

/// The outcome of a key-driver analysis (default nps).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DriversDoc {
    #[param(inline)]
    metric: Option<DriverOutcome>,
}

/// Paging and narrowing of a response list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResponseListDoc {
    /// Only responses with a comment (default true).
    with_comment: Option<bool>,
    /// The `next` cursor of the previous page.
    #[param(max_length = 250, pattern = "^[0-9]{1,18}[.].+$")]
    before: Option<String>,
    /// Responses per page.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// The error every non-2xx answer carries.
#[derive(ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
pub struct ErrorDetail {
    /// What was wrong, where, and how to fix it.
    message: String,
    /// The parameter or field at fault, when there is one.
    parameter: Option<String>,
    /// For internal errors: the id to quote (the server log has the details).
    request_id: Option<String>,
}

fn scalar(description: &str) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([
                Type::String,
                Type::Number,
                Type::Boolean,
                Type::Null,
            ]))
            .description(Some(description))
            .build(),
    )
}

/// One response: a flat object of scalar fields. Values are validated item
/// by item (errors by index in the 200 answer): scores as whole numbers on
/// their scales, timestamps as RFC 3339 in 1970–2099, text within its limits.
pub struct ResponseItem;

impl PartialSchema for ResponseItem {
    fn schema() -> RefOr<Schema> {
        let fields = [
            (
                "external_id",
                "The survey tool's response id; required, at most 200 characters.",
            ),
            (
                "submitted_at",
                "RFC 3339 timestamp with offset, years 1970–2099; required.",
            ),
            ("customer_id", "At most 200 characters."),
            ("nps", "0–10."),
            ("csat", "1–5."),
            ("ces", "1–7."),
            ("fcr", "yes/no (also true/false, 1/0)."),
            ("comment", "At most 10,000 characters."),
            ("order_id", "At most 200 characters."),
        ];
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .max_properties(Some(MAX_COLUMNS))
            .description(Some(format!(
                "One response. Fields named driver_<name> are ratings 1–5; other fields are kept as attributes (names up to 64 characters, values up to 1,000; dimension values up to {}).",
                DIMENSION_LIMIT.max_chars
            )))
            .additional_properties(Some(RefOr::T(scalar("An attribute or driver_<name> rating."))));
        let dimension = format!(
            "Dimension value, at most {} characters.",
            DIMENSION_LIMIT.max_chars
        );
        let dimensions = northstar_core::Dimension::ALL.map(|d| (d.as_str(), dimension.as_str()));
        // Dimensions after the three identity fields, as files spell them.
        for (name, description) in fields[..3].iter().chain(&dimensions).chain(&fields[3..]) {
            object = object.property(*name, scalar(description));
        }
        RefOr::T(Schema::Object(object.build()))
    }
}

impl ToSchema for ResponseItem {}

/// The body of `POST /api/v1/responses`.
pub struct ResponseBatch;

impl PartialSchema for ResponseBatch {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Array(
            ArrayBuilder::new()
                .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ResponseItem",
                )))
                .max_items(Some(MAX_BATCH))
                .build(),
        ))
    }
}

impl ToSchema for ResponseBatch {}
