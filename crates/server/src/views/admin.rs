//! The admin page: accounts, API tokens and the audit log. Every change is
//! audited under the admin's e-mail; no change may leave the organisation
//! without an active admin.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use northstar_core::account::{self, Role};
use northstar_store::StoreError;
use northstar_store::accounts::{self, AuditQuery, NewUser, UserChange};
use northstar_store::settings;
use serde::Deserialize;

use super::Nav;
use crate::AppState;
use crate::auth::{Principal, audit, now_unix};
use crate::error::ApiError;
use crate::params::QueryPairs;

struct UserRow {
    email: String,
    role: String,
    department: String,
    status: &'static str,
    disabled: bool,
}

struct TokenRow {
    name: String,
    role: String,
    department: String,
    created: String,
    last_used: String,
    revoked: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    nav: Option<Nav>,
    csrf: String,
    message: String,
    failed: bool,
    secret: String,
    users: Vec<UserRow>,
    tokens: Vec<TokenRow>,
    roles: Vec<&'static str>,
}

/// A time as shown on pages: UTC, to the minute.
pub fn time_label(unix: Option<i64>) -> String {
    unix.and_then(|u| jiff::Timestamp::from_second(u).ok())
        .map_or_else(
            || "–".to_string(),
            |t| t.strftime("%Y-%m-%d %H:%M").to_string(),
        )
}

/// The outcome shown at the top of the page.
struct Outcome {
    status: StatusCode,
    message: String,
    secret: String,
}

impl Outcome {
    fn ok(message: impl Into<String>) -> Self {
        Outcome {
            status: StatusCode::OK,
            message: message.into(),
            secret: String::new(),
        }
    }

    fn failed(status: StatusCode, message: impl Into<String>) -> Self {
        Outcome {
            status,
            message: message.into(),
            secret: String::new(),
        }
    }
}

async fn admin_page(state: &AppState, principal: &Principal, outcome: Outcome) -> Response {
    let backend = state.store.backend();
    let built = async {
        let users = backend.users().await?;
        let tokens = backend.api_tokens().await?;
        let page = AdminPage {
            nav: Some(Nav::of(principal)),
            csrf: principal.csrf_token().to_string(),
            failed: !outcome.status.is_success(),
            message: outcome.message,
            secret: outcome.secret,
            users: users
                .into_iter()
                .map(|u| UserRow {
                    role: u.role.to_string(),
                    department: u.department.unwrap_or_default(),
                    status: if u.disabled { "disabled" } else { "active" },
                    disabled: u.disabled,
                    email: u.email,
                })
                .collect(),
            tokens: tokens
                .into_iter()
                .map(|t| TokenRow {
                    role: t.role.to_string(),
                    department: t.department.unwrap_or_default(),
                    created: time_label(Some(t.created_unix)),
                    last_used: time_label(t.last_used_unix),
                    revoked: t
                        .revoked_unix
                        .map(|r| time_label(Some(r)))
                        .unwrap_or_default(),
                    name: t.name,
                })
                .collect(),
            roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        };
        Ok::<_, ApiError>(page.render()?)
    }
    .await;
    match built {
        Ok(html) => (
            outcome.status,
            [(header::CACHE_CONTROL, "no-store")],
            Html(html),
        )
            .into_response(),
        Err(e) => super::render(Err(e)),
    }
}

pub async fn page(State(state): State<AppState>, principal: Principal) -> Response {
    admin_page(&state, &principal, Outcome::ok("")).await
}

fn unreadable(form: FormRejection) -> Outcome {
    Outcome::failed(
        StatusCode::BAD_REQUEST,
        format!("the form could not be read ({form}); reload the page and try again"),
    )
}

fn role_with_department(role: &str, department: &str) -> Result<(Role, Option<String>), String> {
    let role = Role::parse(role.trim())
        .ok_or_else(|| format!("role: unknown role {role:?}; use one of {}", Role::names()))?;
    let department = account::scoped_role(role, Some(department))
        .map_err(|e| format!("{}: {} ({})", e.field, e.problem, e.fix))?;
    Ok((role, department))
}

/// The e-mail, role and department of an account form, checked.
fn account_fields(
    email: &str,
    role: &str,
    department: &str,
) -> Result<(String, Role, Option<String>), String> {
    let email = account::normalize_email(email)
        .map_err(|e| format!("{}: {} ({})", e.field, e.problem, e.fix))?;
    let (role, department) = role_with_department(role, department)?;
    Ok((email, role, department))
}

fn with_department(role: Role, department: Option<&str>) -> String {
    format!(
        "role {role}{}",
        department.map(|d| format!(" of {d}")).unwrap_or_default()
    )
}

#[derive(Deserialize)]
pub struct AddUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    password: String,
}

pub async fn add_user(
    State(state): State<AppState>,
    principal: Principal,
    form: Result<Form<AddUserForm>, FormRejection>,
) -> Response {
    let outcome = match form {
        Err(e) => unreadable(e),
        Ok(Form(form)) => add_user_outcome(&state, &principal, form).await,
    };
    admin_page(&state, &principal, outcome).await
}

/// Checks a new password and hashes it off the async runtime.
async fn new_password_hash(password: String) -> Result<String, Outcome> {
    if let Err(e) = account::check_password(&password) {
        return Err(Outcome::failed(
            StatusCode::BAD_REQUEST,
            format!("{}: {} ({})", e.field, e.problem, e.fix),
        ));
    }
    let hashed = tokio::task::spawn_blocking(move || accounts::hash_password(&password)).await;
    match hashed {
        Ok(Ok(h)) => Ok(h),
        _ => Err(Outcome::failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the password could not be hashed; the server log has the details",
        )),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// Sets a new password for an account (e.g. a temporary one to pass on):
/// signs it out and lifts a sign-in lockout; audited.
pub async fn set_password(
    State(state): State<AppState>,
    principal: Principal,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let outcome = match form {
        Err(e) => unreadable(e),
        Ok(Form(form)) => set_password_outcome(&state, &principal, form).await,
    };
    admin_page(&state, &principal, outcome).await
}

async fn set_password_outcome(
    state: &AppState,
    principal: &Principal,
    form: PasswordForm,
) -> Outcome {
    let email = match account::normalize_email(&form.email) {
        Ok(e) => e,
        Err(e) => {
            return Outcome::failed(
                StatusCode::BAD_REQUEST,
                format!("{}: {} ({})", e.field, e.problem, e.fix),
            );
        }
    };
    let password_hash = match new_password_hash(form.password).await {
        Ok(h) => h,
        Err(outcome) => return outcome,
    };
    let change = UserChange {
        password_hash: Some(password_hash),
        ..Default::default()
    };
    let backend = state.store.backend();
    match backend.update_user(&email, &change, now_unix()).await {
        Ok(Some(user)) => {
            if let Err(e) = backend
                .clear_sign_in_failures(&accounts::sign_in_account_key(&user.email))
                .await
            {
                return store_failure(e);
            }
            audit(
                &*state.store,
                &principal.who,
                "user.set_password",
                &user.email,
                "",
            )
            .await;
            Outcome::ok(format!(
                "{} has a new password and is signed out; pass it on safely",
                user.email
            ))
        }
        Ok(None) => Outcome::failed(
            StatusCode::NOT_FOUND,
            format!("email: no account for {email}"),
        ),
        Err(e) => store_failure(e),
    }
}

async fn add_user_outcome(state: &AppState, principal: &Principal, form: AddUserForm) -> Outcome {
    let bad = |m: String| Outcome::failed(StatusCode::BAD_REQUEST, m);
    let (email, role, department) = match account_fields(&form.email, &form.role, &form.department)
    {
        Ok(fields) => fields,
        Err(m) => return bad(m),
    };
    let password_hash = match new_password_hash(form.password).await {
        Ok(h) => h,
        Err(outcome) => return outcome,
    };
    let new = NewUser {
        email,
        role,
        department,
        password_hash,
    };
    match state.store.backend().insert_user(&new, now_unix()).await {
        Ok(user) => {
            let detail = with_department(user.role, user.department.as_deref());
            audit(
                &*state.store,
                &principal.who,
                "user.add",
                &user.email,
                &detail,
            )
            .await;
            Outcome::ok(format!("added {} ({detail})", user.email))
        }
        Err(StoreError::Exists(_)) => Outcome::failed(
            StatusCode::CONFLICT,
            format!(
                "email: an account for {} exists already; change its role below",
                new.email
            ),
        ),
        Err(e) => store_failure(e),
    }
}

fn store_failure(e: StoreError) -> Outcome {
    if let StoreError::Refused(message) = e {
        return Outcome::failed(StatusCode::CONFLICT, message);
    }
    tracing::error!(error = %e, "admin change failed");
    Outcome::failed(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the change was not saved: the database failed; the server log has the details",
    )
}

#[derive(Deserialize)]
pub struct SetRoleForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    department: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    principal: Principal,
    form: Result<Form<SetRoleForm>, FormRejection>,
) -> Response {
    let outcome = match form {
        Err(e) => unreadable(e),
        Ok(Form(form)) => set_role_outcome(&state, &principal, form).await,
    };
    admin_page(&state, &principal, outcome).await
}

async fn set_role_outcome(state: &AppState, principal: &Principal, form: SetRoleForm) -> Outcome {
    let bad = |m: String| Outcome::failed(StatusCode::BAD_REQUEST, m);
    let (email, role, department) = match account_fields(&form.email, &form.role, &form.department)
    {
        Ok(fields) => fields,
        Err(m) => return bad(m),
    };
    let change = UserChange {
        role: Some((role, department)),
        ..Default::default()
    };
    match state
        .store
        .backend()
        .update_user(&email, &change, now_unix())
        .await
    {
        Ok(Some(user)) => {
            let detail = with_department(user.role, user.department.as_deref());
            audit(
                &*state.store,
                &principal.who,
                "user.set_role",
                &user.email,
                &detail,
            )
            .await;
            Outcome::ok(format!("{} is now {detail} and was signed out", user.email))
        }
        Ok(None) => Outcome::failed(
            StatusCode::NOT_FOUND,
            format!("email: no account for {email}"),
        ),
        Err(e) => store_failure(e),
    }
}

#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    email: String,
    /// `yes` disables, `no` enables.
    #[serde(default)]
    disabled: String,
}

pub async fn disable_user(
    State(state): State<AppState>,
    principal: Principal,
    form: Result<Form<DisableForm>, FormRejection>,
) -> Response {
    let outcome = match form {
        Err(e) => unreadable(e),
        Ok(Form(form)) => disable_outcome(&state, &principal, form).await,
    };
    admin_page(&state, &principal, outcome).await
}

async fn disable_outcome(state: &AppState, principal: &Principal, form: DisableForm) -> Outcome {
    let disable = match form.disabled.as_str() {
        "yes" => true,
        "no" => false,
        other => {
            return Outcome::failed(
                StatusCode::BAD_REQUEST,
                format!("disabled: {other:?} is neither yes nor no"),
            );
        }
    };
    let email = match account::normalize_email(&form.email) {
        Ok(e) => e,
        Err(e) => {
            return Outcome::failed(
                StatusCode::BAD_REQUEST,
                format!("{}: {} ({})", e.field, e.problem, e.fix),
            );
        }
    };
    let change = UserChange {
        disabled: Some(disable),
        ..Default::default()
    };
    match state
        .store
        .backend()
        .update_user(&email, &change, now_unix())
        .await
    {
        Ok(Some(user)) => {
            let action = if disable {
                "user.disable"
            } else {
                "user.enable"
            };
            audit(&*state.store, &principal.who, action, &user.email, "").await;
            Outcome::ok(if disable {
                format!("{} is disabled and signed out", user.email)
            } else {
                format!("{} is enabled", user.email)
            })
        }
        Ok(None) => Outcome::failed(
            StatusCode::NOT_FOUND,
            format!("email: no account for {email}"),
        ),
        Err(e) => store_failure(e),
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    department: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let outcome = match form {
        Err(e) => unreadable(e),
        Ok(Form(form)) => create_token_outcome(&state, &principal, form).await,
    };
    admin_page(&state, &principal, outcome).await
}

async fn create_token_outcome(state: &AppState, principal: &Principal, form: TokenForm) -> Outcome {
    let bad = |m: String| Outcome::failed(StatusCode::BAD_REQUEST, m);
    let name = form.name.trim().to_string();
    if let Err(e) = northstar_core::field::required(
        "name",
        &name,
        "etl-nightly",
        northstar_core::field::NAME_LIMIT,
    ) {
        return bad(format!("{}: {} ({})", e.field, e.problem, e.fix));
    }
    let (role, department) = match role_with_department(&form.role, &form.department) {
        Ok(r) => r,
        Err(m) => return bad(m),
    };
    let secret = accounts::new_api_token();
    match state
        .store
        .backend()
        .insert_api_token(
            &name,
            &accounts::token_hash(&secret),
            role,
            department.as_deref(),
            now_unix(),
        )
        .await
    {
        Ok(token) => {
            let detail = with_department(token.role, token.department.as_deref());
            audit(
                &*state.store,
                &principal.who,
                "token.create",
                &token.name,
                &detail,
            )
            .await;
            Outcome {
                status: StatusCode::OK,
                message: format!("created the token {} ({detail})", token.name),
                secret,
            }
        }
        Err(StoreError::Exists(_)) => Outcome::failed(
            StatusCode::CONFLICT,
            format!(
                "name: a token named {name:?} exists already (revoked tokens keep their names); choose another"
            ),
        ),
        Err(e) => store_failure(e),
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    name: String,
}

pub async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    form: Result<Form<RevokeForm>, FormRejection>,
) -> Response {
    let outcome = match form {
        Err(e) => unreadable(e),
        Ok(Form(form)) => match state
            .store
            .backend()
            .revoke_api_token(&form.name, now_unix())
            .await
        {
            Ok(Some(token)) => {
                audit(
                    &*state.store,
                    &principal.who,
                    "token.revoke",
                    &token.name,
                    "",
                )
                .await;
                Outcome::ok(format!("revoked the token {}", token.name))
            }
            Ok(None) => Outcome::failed(
                StatusCode::NOT_FOUND,
                format!("name: no active token named {:?}", form.name),
            ),
            Err(e) => store_failure(e),
        },
    };
    admin_page(&state, &principal, outcome).await
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    actor: String,
    action: String,
    from: String,
    to: String,
    query: String,
    shown: usize,
    capped: bool,
    entries: Vec<(String, String, String, String, String)>,
}

/// Longest audit filter value (an e-mail is at most 254 characters).
const AUDIT_FILTER_LIMIT: northstar_core::field::TextLimit = northstar_core::field::TextLimit {
    applies_to: "audit filters",
    max_chars: 254,
};

/// Most entries the page shows (the CSV carries up to the store's page).
const AUDIT_ON_PAGE: u32 = 500;

/// The audit filter from the query string: actor, action (or a family
/// ending in `.`), from and to (UTC days, inclusive).
fn audit_query(
    pairs: &[(String, String)],
    limit: u32,
) -> Result<(AuditQuery, [String; 4]), ApiError> {
    let mut q = AuditQuery {
        limit,
        ..Default::default()
    };
    let mut shown: [String; 4] = Default::default();
    for (name, value) in pairs {
        let value = value.trim();
        northstar_core::field::within_length(name, value, AUDIT_FILTER_LIMIT)
            .map_err(|e| ApiError::parameter(name, format!("{} ({})", e.problem, e.fix)))?;
        if value.is_empty() {
            continue;
        }
        let day = |v: &str| {
            northstar_core::calendar::parse_day(v).ok_or_else(|| {
                ApiError::parameter(name, format!("{v:?} is not a date; write it as YYYY-MM-DD"))
            })
        };
        match name.as_str() {
            "actor" => {
                q.actor = Some(value.to_string());
                shown[0] = value.to_string();
            }
            "action" => {
                q.action = Some(value.to_string());
                shown[1] = value.to_string();
            }
            "from" => {
                q.from_unix = Some(i64::from(day(value)?) * 86_400);
                shown[2] = value.to_string();
            }
            "to" => {
                q.to_unix = Some((i64::from(day(value)?) + 1) * 86_400 - 1);
                shown[3] = value.to_string();
            }
            other => {
                return Err(ApiError::parameter(
                    other,
                    "unknown parameter; use actor, action, from or to",
                ));
            }
        }
    }
    Ok((q, shown))
}

pub async fn audit_page(
    State(state): State<AppState>,
    principal: Principal,
    QueryPairs(pairs): QueryPairs,
) -> Response {
    let built = async {
        let (query, [actor, action, from, to]) = audit_query(&pairs, AUDIT_ON_PAGE)?;
        let entries = state.store.backend().audit_entries(&query).await?;
        let query_string = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", super::encode(k), super::encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        Ok::<_, ApiError>(
            AuditPage {
                nav: Some(Nav::of(&principal)),
                actor,
                action,
                from,
                to,
                query: query_string,
                shown: entries.len(),
                capped: entries.len() == AUDIT_ON_PAGE as usize,
                entries: entries
                    .into_iter()
                    .map(|e| {
                        (
                            time_label(Some(e.at_unix)),
                            e.actor,
                            e.action,
                            e.target,
                            e.detail,
                        )
                    })
                    .collect(),
            }
            .render()?,
        )
    }
    .await;
    super::render(built)
}

pub async fn audit_csv(
    State(state): State<AppState>,
    principal: Principal,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let (query, _) = audit_query(&pairs, accounts::AUDIT_PAGE)?;
    let entries = state.store.backend().audit_entries(&query).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_error =
        |e: csv::Error| ApiError::BadRequest(format!("the CSV could not be written: {e}"));
    w.write_record(["at_utc", "at_unix", "actor", "action", "target", "detail"])
        .map_err(csv_error)?;
    for e in &entries {
        w.write_record([
            &time_label(Some(e.at_unix)),
            &e.at_unix.to_string(),
            &*crate::api::metrics::text_cell(&e.actor),
            &*crate::api::metrics::text_cell(&e.action),
            &*crate::api::metrics::text_cell(&e.target),
            &*crate::api::metrics::text_cell(&e.detail),
        ])
        .map_err(csv_error)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| ApiError::BadRequest(format!("the CSV could not be written: {e}")))?;
    crate::auth::audit_export(
        &*state.store,
        &principal.who,
        "audit.csv",
        &format!("{} entries", entries.len()),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"northstar-audit.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

/// One setting as the personal-data page shows it.
struct SettingRow {
    key: &'static str,
    value: String,
    accepts: &'static str,
    /// "never changed" or "by … at …".
    changed: String,
}

#[derive(Template)]
#[template(path = "erase.html")]
struct ErasePage {
    nav: Option<Nav>,
    csrf: String,
    message: String,
    failed: bool,
    redact: SettingRow,
    retention: SettingRow,
    time_zone: SettingRow,
}

async fn erase_page(
    state: &AppState,
    principal: &Principal,
    status: StatusCode,
    message: String,
) -> Response {
    let stored = match state.store.backend().settings().await {
        Ok(s) => s,
        Err(e) => return super::render(Err(e.into())),
    };
    let row = |key: &'static str| {
        let (_, accepts, default) = settings::KNOWN_SETTINGS
            .iter()
            .find(|(k, _, _)| *k == key)
            .copied()
            .unwrap_or((key, "", "off"));
        let s = stored.iter().find(|s| s.key == key);
        SettingRow {
            key,
            value: s.map_or(default.to_string(), |s| s.value.clone()),
            accepts,
            changed: s.map_or("never changed (the default)".to_string(), |s| {
                format!(
                    "changed by {} at {}",
                    s.updated_by,
                    jiff::Timestamp::from_second(s.updated_unix)
                        .map_or_else(|_| s.updated_unix.to_string(), |t| t.to_string())
                )
            }),
        }
    };
    let page = ErasePage {
        nav: Some(Nav::of(principal)),
        csrf: principal.csrf_token().to_string(),
        failed: !status.is_success(),
        message,
        redact: row(settings::REDACT_PERSONAL_DATA),
        retention: row(settings::RETENTION_MONTHS),
        time_zone: row(settings::TIME_ZONE),
    };
    match page.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => super::render(Err(e.into())),
    }
}

pub async fn erase_form(State(state): State<AppState>, principal: Principal) -> Response {
    erase_page(&state, &principal, StatusCode::OK, String::new()).await
}

#[derive(Deserialize)]
pub struct EraseForm {
    #[serde(default)]
    customer_id: String,
}

#[derive(Deserialize)]
pub struct SettingForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
}

/// Changes a setting (audited by the store in the same transaction).
pub async fn change_setting(
    State(state): State<AppState>,
    principal: Principal,
    form: Result<Form<SettingForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return erase_page(
            &state,
            &principal,
            StatusCode::BAD_REQUEST,
            "the form could not be read; reload the page and try again".into(),
        )
        .await;
    };
    let value = match settings::check_setting(&form.key, &form.value) {
        Ok(v) => v,
        Err(e) => return erase_page(&state, &principal, StatusCode::BAD_REQUEST, e).await,
    };
    if form.key == settings::TIME_ZONE {
        // Every stored day and the rollups are re-derived in one
        // transaction; the cube is reloaded before the page answers.
        return match state.store.change_time_zone(&value, &principal.who).await {
            Ok(changed) => {
                let message = format!(
                    "time_zone is now {value} (audited): {} responses moved to another day and the daily rollups were rebuilt ({} cells).",
                    changed.rebucketed, changed.cells
                );
                erase_page(&state, &principal, StatusCode::OK, message).await
            }
            Err(e) => super::render(Err(e.into())),
        };
    }
    let now = now_unix();
    match state
        .store
        .backend()
        .put_setting(&form.key, &value, &principal.who, now)
        .await
    {
        Ok(()) => {
            let message = format!("{} is now {value} (audited).", form.key);
            erase_page(&state, &principal, StatusCode::OK, message).await
        }
        Err(e) => super::render(Err(e.into())),
    }
}

pub async fn erase(
    State(state): State<AppState>,
    principal: Principal,
    form: Result<Form<EraseForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return erase_page(
            &state,
            &principal,
            StatusCode::BAD_REQUEST,
            "the form could not be read; reload the page and try again".into(),
        )
        .await;
    };
    let id = form.customer_id.trim();
    if let Err(e) = northstar_core::field::required(
        "customer_id",
        id,
        "C-1042",
        northstar_core::field::ID_LIMIT,
    ) {
        return erase_page(
            &state,
            &principal,
            StatusCode::BAD_REQUEST,
            format!("{}: {} ({})", e.field, e.problem, e.fix),
        )
        .await;
    }
    match northstar_store::erase_customer_audited(&*state.store, id, &principal.who).await {
        Ok((erased, reference)) => {
            let message = format!(
                "Erased: {} responses, {} customer records, {} operational records (audited as {reference}).",
                erased.responses, erased.customers, erased.operations,
            );
            erase_page(&state, &principal, StatusCode::OK, message).await
        }
        Err(e) => super::render(Err(e.into())),
    }
}
