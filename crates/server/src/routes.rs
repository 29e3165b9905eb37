//! Every route with what it requires: the router is folded from this one
//! table, so a route cannot exist without saying who may call it, and the
//! role × route test walks the same table. Permissions come from
//! `northstar_core::access` (one table of role → capabilities).

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use northstar_core::access::Capability;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::{AppState, api, health, views};

/// What a route requires of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health checks, the API document, the sign-in page, styles.
    Public,
    /// Any signed-in account or token (signing out).
    SignedIn,
    /// A role with this capability.
    Needs(Capability),
    /// A role with every one of these (an export of single responses
    /// needs both Export and ViewResponses).
    NeedsAll(&'static [Capability]),
}

impl Access {
    /// Whether a principal passes.
    pub fn admits(self, principal: Option<&Principal>) -> bool {
        match (self, principal) {
            (Access::Public, _) => true,
            (_, None) => false,
            (Access::SignedIn, Some(_)) => true,
            (Access::Needs(c), Some(p)) => p.may(c),
            (Access::NeedsAll(cs), Some(p)) => cs.iter().all(|c| p.may(*c)),
        }
    }
}

/// One route of the table.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    /// A concrete URL for tests (path parameters filled in).
    pub example: &'static str,
}

type Handler = MethodRouter<AppState>;

fn spec(
    method: Method,
    path: &'static str,
    access: Access,
    handler: Handler,
) -> (RouteSpec, Handler) {
    (
        RouteSpec {
            method,
            path,
            access,
            example: path,
        },
        handler,
    )
}

/// A route whose path has parameters, with a concrete URL for tests.
fn with_example(
    method: Method,
    path: &'static str,
    example: &'static str,
    access: Access,
    handler: Handler,
) -> (RouteSpec, Handler) {
    (
        RouteSpec {
            method,
            path,
            access,
            example,
        },
        handler,
    )
}

/// The table. Add a route here and nowhere else.
fn table() -> Vec<(RouteSpec, Handler)> {
    use Access::{Needs, NeedsAll, Public, SignedIn};
    use Capability::*;
    let routes = vec![
        spec(Method::GET, "/healthz", Public, health::healthz()),
        spec(Method::GET, "/readyz", Public, health::readyz()),
        spec(Method::GET, "/api/v1/openapi.json", Public, api::openapi()),
        spec(
            Method::GET,
            "/static/northstar.css",
            Public,
            views::stylesheet(),
        ),
        spec(Method::GET, "/sign-in", Public, get(views::sign_in::page)),
        spec(
            Method::POST,
            "/sign-in",
            Public,
            post(views::sign_in::submit).layer(axum::extract::DefaultBodyLimit::max(
                crate::auth::MAX_FORM_BYTES,
            )),
        ),
        // The weekly digest's unsubscribe link (the token is the secret).
        (
            RouteSpec {
                method: Method::GET,
                path: "/unsubscribe/{token}",
                access: Public,
                example: "/unsubscribe/0000000000000000000000000000000000000000000000000000000000000000",
            },
            get(views::unsubscribe::confirm),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/unsubscribe/{token}",
                access: Public,
                example: "/unsubscribe/0000000000000000000000000000000000000000000000000000000000000000",
            },
            post(views::unsubscribe::unsubscribe).layer(axum::extract::DefaultBodyLimit::max(
                crate::auth::MAX_FORM_BYTES,
            )),
        ),
        spec(
            Method::POST,
            "/sign-out",
            SignedIn,
            post(views::sign_in::sign_out),
        ),
        spec(
            Method::GET,
            "/",
            Needs(ViewSummaries),
            get(views::overview::page),
        ),
        spec(
            Method::GET,
            "/api/v1/metrics",
            Needs(ViewSummaries),
            get(api::metrics::get_metrics),
        ),
        spec(
            Method::GET,
            "/api/v1/metrics.csv",
            Needs(Export),
            get(api::metrics::get_metrics_csv),
        ),
        spec(
            Method::GET,
            "/api/v1/representativeness",
            Needs(ViewSummaries),
            get(api::metrics::get_representativeness),
        ),
        spec(
            Method::GET,
            "/api/v1/breakdown",
            Needs(ViewSummaries),
            get(api::breakdown::get_breakdown),
        ),
        spec(
            Method::GET,
            "/api/v1/expectation-gap",
            Needs(ViewSummaries),
            get(api::expectation_gap::get_expectation_gap),
        ),
        spec(
            Method::GET,
            "/api/v1/revenue-at-risk",
            Needs(ViewSummaries),
            get(api::revenue::get_revenue_at_risk),
        ),
        spec(
            Method::GET,
            "/api/v1/drivers",
            Needs(ViewSummaries),
            get(api::drivers::get_drivers),
        ),
        spec(
            Method::GET,
            "/api/v1/trends",
            Needs(ViewSummaries),
            get(api::trends::get_trends),
        ),
        (
            RouteSpec {
                method: Method::GET,
                path: "/api/v1/trends.csv",
                access: Needs(Export),
                example: "/api/v1/trends.csv?metric=nps&interval=month",
            },
            get(api::trends::get_trends_csv),
        ),
        (
            RouteSpec {
                method: Method::GET,
                path: "/api/v1/breakdown.csv",
                access: Needs(Export),
                example: "/api/v1/breakdown.csv?metric=nps&by=department",
            },
            get(api::breakdown::get_breakdown_csv),
        ),
        (
            RouteSpec {
                method: Method::GET,
                path: "/api/v1/drivers.csv",
                access: Needs(Export),
                example: "/api/v1/drivers.csv?metric=nps",
            },
            get(api::drivers::get_drivers_csv),
        ),
        (
            RouteSpec {
                method: Method::GET,
                path: "/api/v1/expectation-gap.csv",
                access: Needs(Export),
                example: "/api/v1/expectation-gap.csv?measure=delivery_days&department=logistics",
            },
            get(api::expectation_gap::get_expectation_gap_csv),
        ),
        spec(
            Method::GET,
            "/trends",
            Needs(ViewSummaries),
            get(views::trends::page),
        ),
        spec(
            Method::GET,
            "/breakdown",
            Needs(ViewSummaries),
            get(views::breakdown::page),
        ),
        spec(
            Method::GET,
            "/drivers",
            Needs(ViewSummaries),
            get(views::drivers::page),
        ),
        spec(
            Method::GET,
            "/expectation-gap",
            Needs(ViewSummaries),
            get(views::expectation_gap::page),
        ),
        spec(
            Method::POST,
            "/api/v1/responses",
            Needs(WriteData),
            api::responses::post_route(),
        ),
        (
            RouteSpec {
                method: Method::GET,
                path: "/departments/{name}",
                access: Needs(ViewSummaries),
                example: "/departments/support",
            },
            get(views::department::page),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/departments/{name}/wins",
                access: Needs(RecordWins),
                example: "/departments/support/wins",
            },
            post(views::department::record_win),
        ),
        spec(
            Method::GET,
            "/executive",
            Needs(ViewSummaries),
            get(views::executive::page),
        ),
        spec(
            Method::GET,
            "/api/v1/executive",
            Needs(ViewSummaries),
            get(api::executive::get_executive),
        ),
        spec(
            Method::GET,
            "/business-cases",
            Needs(ViewSummaries),
            get(views::business_case::list),
        ),
        (
            RouteSpec {
                method: Method::GET,
                path: "/business-cases/{id}",
                access: Needs(ViewSummaries),
                example: "/business-cases/1",
            },
            get(views::business_case::page),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/business-cases/{id}/review",
                access: Needs(ReviewCases),
                example: "/business-cases/1/review",
            },
            post(views::business_case::review),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/business-cases/{id}/decision",
                access: Needs(ReviewCases),
                example: "/business-cases/1/decision",
            },
            post(views::business_case::decision),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/business-cases/{id}/revise",
                access: Needs(ManageCasesAndPilots),
                example: "/business-cases/1/revise",
            },
            post(views::business_case::revise),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/business-cases/{id}/refresh",
                access: Needs(ManageCasesAndPilots),
                example: "/business-cases/1/refresh",
            },
            post(views::business_case::refresh),
        ),
        spec(
            Method::GET,
            "/pilots",
            Needs(ViewSummaries),
            get(views::pilot::list),
        ),
        spec(
            Method::POST,
            "/pilots",
            Needs(ManageCasesAndPilots),
            post(views::pilot::create),
        ),
        (
            RouteSpec {
                method: Method::GET,
                path: "/pilots/{id}",
                access: Needs(ViewSummaries),
                example: "/pilots/1",
            },
            get(views::pilot::page),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/pilots/{id}/assign",
                access: Needs(ManageCasesAndPilots),
                example: "/pilots/1/assign",
            },
            post(views::pilot::assign),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/pilots/{id}/start",
                access: Needs(ManageCasesAndPilots),
                example: "/pilots/1/start",
            },
            post(views::pilot::start),
        ),
        // Survey programs (issue 12): pages.
        spec(
            Method::GET,
            "/surveys",
            Needs(ViewSummaries),
            get(views::surveys::list),
        ),
        spec(
            Method::POST,
            "/surveys",
            Needs(ManageSurveys),
            post(views::surveys::create).layer(axum::extract::DefaultBodyLimit::max(
                api::surveys::MAX_SURVEY_BODY_BYTES * 2,
            )),
        ),
        with_example(
            Method::GET,
            "/surveys/{id}",
            "/surveys/1",
            Needs(ViewSummaries),
            get(views::surveys::page),
        ),
        with_example(
            Method::GET,
            "/surveys/{id}/methodology",
            "/surveys/1/methodology",
            Needs(ViewSummaries),
            get(views::methodology::survey_card),
        ),
        spec(
            Method::GET,
            "/methodology",
            Needs(ViewSummaries),
            get(views::methodology::page),
        ),
        with_example(
            Method::POST,
            "/surveys/{id}",
            "/surveys/1",
            Needs(ManageSurveys),
            post(views::surveys::edit).layer(axum::extract::DefaultBodyLimit::max(
                api::surveys::MAX_SURVEY_BODY_BYTES * 2,
            )),
        ),
        with_example(
            Method::POST,
            "/surveys/{id}/status",
            "/surveys/1/status",
            Needs(ManageSurveys),
            post(views::surveys::status),
        ),
        with_example(
            Method::POST,
            "/surveys/{id}/invitations",
            "/surveys/1/invitations",
            Needs(ManageSurveys),
            post(views::surveys::invite).layer(axum::extract::DefaultBodyLimit::max(
                api::surveys::MAX_CONTACTS_BODY_BYTES,
            )),
        ),
        with_example(
            Method::POST,
            "/surveys/{id}/send",
            "/surveys/1/send",
            Needs(ManageSurveys),
            post(views::surveys::send),
        ),
        with_example(
            Method::POST,
            "/surveys/{id}/remind",
            "/surveys/1/remind",
            Needs(ManageSurveys),
            post(views::surveys::remind),
        ),
        // Hosted survey pages: public, the token or slug is the key.
        with_example(
            Method::GET,
            "/s/{token}",
            "/s/00000000000000000000000000000000",
            Public,
            get(views::survey_form::invitation_form),
        ),
        with_example(
            Method::POST,
            "/s/{token}",
            "/s/00000000000000000000000000000000",
            Public,
            post(views::survey_form::submit_invitation).layer(
                axum::extract::DefaultBodyLimit::max(views::survey_form::MAX_FORM_BYTES),
            ),
        ),
        with_example(
            Method::GET,
            "/s/{token}/thanks",
            "/s/00000000000000000000000000000000/thanks",
            Public,
            get(views::survey_form::invitation_thanks),
        ),
        with_example(
            Method::GET,
            "/s/a/{slug}",
            "/s/a/00000000000000000000",
            Public,
            get(views::survey_form::anonymous_form),
        ),
        with_example(
            Method::POST,
            "/s/a/{slug}",
            "/s/a/00000000000000000000",
            Public,
            post(views::survey_form::submit_anonymous).layer(axum::extract::DefaultBodyLimit::max(
                views::survey_form::MAX_FORM_BYTES,
            )),
        ),
        with_example(
            Method::GET,
            "/s/a/{slug}/thanks",
            "/s/a/00000000000000000000/thanks",
            Public,
            get(views::survey_form::anonymous_thanks),
        ),
        with_example(
            Method::GET,
            "/opt-out/{token}",
            "/opt-out/00000000000000000000000000000000",
            Public,
            get(views::survey_form::opt_out_confirm),
        ),
        with_example(
            Method::POST,
            "/opt-out/{token}",
            "/opt-out/00000000000000000000000000000000",
            Public,
            post(views::survey_form::opt_out).layer(axum::extract::DefaultBodyLimit::max(
                crate::auth::MAX_FORM_BYTES,
            )),
        ),
        spec(Method::GET, "/widget.js", Public, get(api::widget::script)),
        with_example(
            Method::GET,
            "/api/v1/public/widget/{slug}",
            "/api/v1/public/widget/00000000000000000000",
            Public,
            get(api::widget::config),
        ),
        with_example(
            Method::OPTIONS,
            "/api/v1/public/widget/{slug}",
            "/api/v1/public/widget/00000000000000000000",
            Public,
            axum::routing::options(api::widget::preflight),
        ),
        with_example(
            Method::POST,
            "/api/v1/public/widget/{slug}",
            "/api/v1/public/widget/00000000000000000000",
            Public,
            post(api::widget::answer).layer(axum::extract::DefaultBodyLimit::max(
                api::widget::MAX_WIDGET_BYTES,
            )),
        ),
        spec(
            Method::GET,
            "/static/survey.css",
            Public,
            views::survey_stylesheet(),
        ),
        spec(
            Method::GET,
            "/wins",
            Needs(ViewSummaries),
            get(views::department::wins_page),
        ),
        spec(
            Method::GET,
            "/api/v1/departments",
            Needs(ViewSummaries),
            get(api::departments::get_departments),
        ),
        spec(
            Method::POST,
            "/api/v1/departments",
            Needs(ManageDepartments),
            api::departments::with_record_limit(post(api::departments::post_department)),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/api/v1/departments/{name}/goals",
                access: Needs(ManageDepartments),
                example: "/api/v1/departments/support/goals",
            },
            api::departments::with_record_limit(post(api::departments::post_goal)),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/api/v1/departments/{name}/kpi-values",
                access: Needs(RecordWins),
                example: "/api/v1/departments/support/kpi-values",
            },
            api::departments::with_record_limit(post(api::departments::post_kpi_values)),
        ),
        (
            RouteSpec {
                method: Method::GET,
                path: "/api/v1/departments/{name}/scorecard",
                access: Needs(ViewSummaries),
                example: "/api/v1/departments/support/scorecard",
            },
            get(api::departments::get_scorecard),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/api/v1/departments/{name}/wins",
                access: Needs(RecordWins),
                example: "/api/v1/departments/support/wins",
            },
            api::departments::with_record_limit(post(api::departments::post_win)),
        ),
        spec(
            Method::GET,
            "/api/v1/power",
            Needs(ViewSummaries),
            get(api::power::get_power),
        ),
        spec(
            Method::GET,
            "/api/v1/business-cases",
            Needs(ViewSummaries),
            get(api::business_cases::get_business_cases),
        ),
        spec(
            Method::POST,
            "/api/v1/business-cases",
            Needs(ManageCasesAndPilots),
            api::departments::with_record_limit(post(api::business_cases::post_business_case)),
        ),
        (
            RouteSpec {
                method: Method::GET,
                path: "/api/v1/business-cases/{id}",
                access: Needs(ViewSummaries),
                example: "/api/v1/business-cases/1",
            },
            get(api::business_cases::get_business_case),
        ),
        (
            RouteSpec {
                method: Method::PUT,
                path: "/api/v1/business-cases/{id}",
                access: Needs(ManageCasesAndPilots),
                example: "/api/v1/business-cases/1",
            },
            api::departments::with_record_limit(axum::routing::put(
                api::business_cases::put_business_case,
            )),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/api/v1/business-cases/{id}/refresh",
                access: Needs(ManageCasesAndPilots),
                example: "/api/v1/business-cases/1/refresh",
            },
            post(api::business_cases::post_refresh),
        ),
        (
            RouteSpec {
                method: Method::GET,
                path: "/api/v1/business-cases/{id}/versions/{version}",
                access: Needs(ViewSummaries),
                example: "/api/v1/business-cases/1/versions/1",
            },
            get(api::business_cases::get_business_case_version),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/api/v1/business-cases/{id}/versions/{version}/reviews",
                access: Needs(ReviewCases),
                example: "/api/v1/business-cases/1/versions/1/reviews",
            },
            api::departments::with_record_limit(post(api::business_cases::post_review)),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/api/v1/business-cases/{id}/versions/{version}/decision",
                access: Needs(ReviewCases),
                example: "/api/v1/business-cases/1/versions/1/decision",
            },
            api::departments::with_record_limit(post(api::business_cases::post_decision)),
        ),
        // Survey programs (issue 12): the API.
        spec(
            Method::GET,
            "/api/v1/surveys",
            Needs(ViewSummaries),
            get(api::surveys::get_surveys),
        ),
        spec(
            Method::POST,
            "/api/v1/surveys",
            Needs(ManageSurveys),
            post(api::surveys::post_survey).layer(axum::extract::DefaultBodyLimit::max(
                api::surveys::MAX_SURVEY_BODY_BYTES,
            )),
        ),
        spec(
            Method::POST,
            "/api/v1/surveys/import",
            Needs(ManageSurveys),
            post(api::surveys::post_import).layer(axum::extract::DefaultBodyLimit::max(
                api::surveys::MAX_SURVEY_BODY_BYTES,
            )),
        ),
        with_example(
            Method::GET,
            "/api/v1/surveys/{id}",
            "/api/v1/surveys/1",
            Needs(ViewSummaries),
            get(api::surveys::get_survey),
        ),
        with_example(
            Method::PUT,
            "/api/v1/surveys/{id}",
            "/api/v1/surveys/1",
            Needs(ManageSurveys),
            axum::routing::put(api::surveys::put_survey).layer(
                axum::extract::DefaultBodyLimit::max(api::surveys::MAX_SURVEY_BODY_BYTES),
            ),
        ),
        with_example(
            Method::POST,
            "/api/v1/surveys/{id}/status",
            "/api/v1/surveys/1/status",
            Needs(ManageSurveys),
            post(api::surveys::post_status).layer(axum::extract::DefaultBodyLimit::max(
                api::surveys::MAX_SURVEY_BODY_BYTES,
            )),
        ),
        with_example(
            Method::GET,
            "/api/v1/surveys/{id}/export",
            "/api/v1/surveys/1/export",
            Needs(ViewSummaries),
            get(api::surveys::get_export),
        ),
        with_example(
            Method::POST,
            "/api/v1/surveys/{id}/invitations",
            "/api/v1/surveys/1/invitations",
            Needs(ManageSurveys),
            post(api::surveys::post_invitations).layer(axum::extract::DefaultBodyLimit::max(
                api::surveys::MAX_CONTACTS_BODY_BYTES,
            )),
        ),
        with_example(
            Method::GET,
            "/api/v1/surveys/{id}/invitations.csv",
            "/api/v1/surveys/1/invitations.csv",
            NeedsAll(&[ManageSurveys, Export, ViewPersonalData]),
            get(api::surveys::get_invitations_csv),
        ),
        with_example(
            Method::POST,
            "/api/v1/surveys/{id}/send",
            "/api/v1/surveys/1/send",
            Needs(ManageSurveys),
            post(api::surveys::post_send),
        ),
        with_example(
            Method::POST,
            "/api/v1/surveys/{id}/reminders",
            "/api/v1/surveys/1/reminders",
            Needs(ManageSurveys),
            post(api::surveys::post_reminders).layer(axum::extract::DefaultBodyLimit::max(
                api::surveys::MAX_SURVEY_BODY_BYTES,
            )),
        ),
        with_example(
            Method::GET,
            "/api/v1/surveys/{id}/response-rates",
            "/api/v1/surveys/1/response-rates",
            Needs(ViewSummaries),
            get(api::surveys::get_rates),
        ),
        spec(
            Method::GET,
            "/api/v1/pilots",
            Needs(ViewSummaries),
            get(api::pilots::get_pilots),
        ),
        spec(
            Method::POST,
            "/api/v1/pilots",
            Needs(ManageCasesAndPilots),
            api::departments::with_record_limit(post(api::pilots::post_pilot)),
        ),
        (
            RouteSpec {
                method: Method::GET,
                path: "/api/v1/pilots/{id}",
                access: Needs(ViewSummaries),
                example: "/api/v1/pilots/1",
            },
            get(api::pilots::get_pilot),
        ),
        (
            RouteSpec {
                method: Method::PUT,
                path: "/api/v1/pilots/{id}",
                access: Needs(ManageCasesAndPilots),
                example: "/api/v1/pilots/1",
            },
            api::departments::with_record_limit(axum::routing::put(api::pilots::put_pilot)),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/api/v1/pilots/{id}/assign",
                access: Needs(ManageCasesAndPilots),
                example: "/api/v1/pilots/1/assign",
            },
            api::departments::with_record_limit(post(api::pilots::post_assign)),
        ),
        (
            RouteSpec {
                method: Method::PUT,
                path: "/api/v1/pilots/{id}/assignments",
                access: Needs(ManageCasesAndPilots),
                example: "/api/v1/pilots/1/assignments",
            },
            api::pilots::with_assignment_limit(axum::routing::put(api::pilots::put_assignments)),
        ),
        (
            RouteSpec {
                method: Method::POST,
                path: "/api/v1/pilots/{id}/start",
                access: Needs(ManageCasesAndPilots),
                example: "/api/v1/pilots/1/start",
            },
            post(api::pilots::post_start),
        ),
        (
            RouteSpec {
                method: Method::GET,
                path: "/api/v1/pilots/{id}/evaluation",
                access: Needs(ViewSummaries),
                example: "/api/v1/pilots/1/evaluation?metric=nps",
            },
            get(api::pilots::get_evaluation),
        ),
        spec(
            Method::GET,
            "/api/v1/wins",
            Needs(ViewSummaries),
            get(api::departments::get_wins),
        ),
        spec(
            Method::PUT,
            "/api/v1/north-star",
            Needs(ManageDepartments),
            api::departments::with_record_limit(axum::routing::put(
                api::north_star::put_north_star,
            )),
        ),
        spec(
            Method::GET,
            "/api/v1/north-star",
            Needs(ViewSummaries),
            get(api::north_star::get_north_star),
        ),
        (
            RouteSpec {
                method: Method::GET,
                path: "/api/v1/responses/{external_id}",
                access: Needs(ViewResponses),
                example: "/api/v1/responses/support-1-1",
            },
            get(api::verbatims::get_response),
        ),
        spec(
            Method::GET,
            "/api/v1/responses",
            Needs(ViewResponses),
            get(api::verbatims::list_responses),
        ),
        spec(
            Method::GET,
            "/api/v1/responses.csv",
            NeedsAll(&[Export, ViewResponses]),
            get(api::verbatims::responses_csv),
        ),
        spec(
            Method::GET,
            "/responses",
            Needs(ViewResponses),
            get(views::responses::page),
        ),
        spec(
            Method::GET,
            "/admin",
            Needs(ManageAccess),
            get(views::admin::page),
        ),
        spec(
            Method::POST,
            "/admin/users",
            Needs(ManageAccess),
            post(views::admin::add_user),
        ),
        spec(
            Method::POST,
            "/admin/users/role",
            Needs(ManageAccess),
            post(views::admin::set_role),
        ),
        spec(
            Method::POST,
            "/admin/users/disable",
            Needs(ManageAccess),
            post(views::admin::disable_user),
        ),
        spec(
            Method::POST,
            "/admin/users/password",
            Needs(ManageAccess),
            post(views::admin::set_password),
        ),
        spec(
            Method::POST,
            "/admin/tokens",
            Needs(ManageAccess),
            post(views::admin::create_token),
        ),
        spec(
            Method::POST,
            "/admin/tokens/revoke",
            Needs(ManageAccess),
            post(views::admin::revoke_token),
        ),
        spec(
            Method::GET,
            "/admin/erase",
            Needs(Erase),
            get(views::admin::erase_form),
        ),
        spec(
            Method::POST,
            "/admin/erase",
            Needs(Erase),
            post(views::admin::erase),
        ),
        spec(
            Method::POST,
            "/admin/settings",
            Needs(Erase),
            post(views::admin::change_setting),
        ),
        spec(
            Method::GET,
            "/admin/audit",
            Needs(ViewAudit),
            get(views::admin::audit_page),
        ),
        spec(
            Method::GET,
            "/admin/audit.csv",
            Needs(ViewAudit),
            get(views::admin::audit_csv),
        ),
    ];
    routes
}

/// The routes and what each requires (for the role × route test and docs).
pub fn specs() -> Vec<RouteSpec> {
    table().into_iter().map(|(s, _)| s).collect()
}

/// The router, folded from [`table`]: each route behind its guard.
pub fn router() -> Router<AppState> {
    table()
        .into_iter()
        .fold(Router::new(), |router, (spec, handler)| {
            let guarded = match spec.access {
                Access::Public => handler,
                access => handler.route_layer(from_fn_with_state(access, guard)),
            };
            router.route(spec.path, guarded)
        })
}

/// Lets a request through when its principal has what the route requires;
/// otherwise 401 (API: with `WWW-Authenticate`; pages: a redirect to sign
/// in) or 403.
async fn guard(State(access): State<Access>, request: Request, next: Next) -> Response {
    let principal = request.extensions().get::<Principal>();
    let api = request.uri().path().starts_with("/api/");
    let allowed = match (access, principal) {
        (Access::Public, _) => true,
        (_, None) => {
            let refused = request
                .extensions()
                .get::<crate::auth::RefusedCredentials>()
                .map(|r| r.0);
            if api || refused.is_some() {
                return ApiError::Unauthenticated(
                    refused
                        .unwrap_or("sign in or send `Authorization: Bearer <token>` (an admin creates tokens with `northstar token create`)")
                        .into(),
                )
                .into_response();
            }
            let next_url = request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string();
            if request.method() == Method::GET {
                let target = format!("/sign-in?next={}", views::encode(&next_url));
                return Redirect::to(&target).into_response();
            }
            return views::error_page(
                StatusCode::UNAUTHORIZED,
                "You are not signed in, or your session ended. Sign in and try again.",
            );
        }
        (_, Some(p)) => access.admits(Some(p)),
    };
    if allowed {
        return next.run(request).await;
    }
    let message = "your role may not do this; ask an admin if you need it";
    if api {
        ApiError::Forbidden(message.into()).into_response()
    } else {
        let mut response = views::error_page(
            StatusCode::FORBIDDEN,
            "Your role may not open this page; ask an admin if you need it.",
        );
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        response
    }
}
