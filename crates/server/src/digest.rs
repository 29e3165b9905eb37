//! The weekly digest: each department's scorecard by e-mail to its leader
//! and ambassadors, good news first, then where customers disagree with a
//! met target (with the evidence), then the asks, each figure with its n and
//! period, and an unsubscribe link (RFC 8058 one-click as well).
//!
//! [`compose`] is pure (scorecard → subject, plain text, HTML); [`Mailer`]
//! sends over SMTP (lettre on tokio; `smtps://` or `smtp://…?tls=required`
//! with rustls, plain `smtp://` for a relay on loopback). [`send_now`] is
//! `northstar digest send`; [`scheduled_round`] is what `serve` runs every
//! hour: a department's digest goes out once per week from Monday
//! [`SEND_FROM_HOUR`]:00 in the organisation's time zone, the week claimed
//! in the database first (`digest_sends`), so several processes send it
//! once, and given back when the send fails.
//!
//! No personal data leaves in a digest: the scorecard is built for the
//! department's lead role (praise masked), and every text is masked again.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use northstar_core::Metric;
use northstar_core::access::Scope;
use northstar_core::account::Role;
use northstar_core::calendar::{self, Day};
use northstar_core::department::Department;
use northstar_core::personal_data;
use northstar_store::departments::{DigestSubscription, MAX_DIGEST_RECIPIENTS};
use northstar_store::{Store, StoreError};

use crate::AppState;
use crate::api::departments::{GoalCard, GoodNews, Scorecard, scorecard};
use crate::auth::{Principal, Via};
use crate::error::ApiError;

/// Items a section lists at most (good news, disagreements, asks, goals).
pub const MAX_ITEMS: usize = 20;
/// Characters of one item's text at most (longer is cut with "…").
pub const MAX_TEXT_CHARS: usize = 600;
/// Largest message (text and HTML together) a digest may be: more than
/// the bounded sections make even when every character is escaped.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// How long one SMTP exchange may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Days a digest's figures cover: the ones before the digest's week.
pub const PERIOD_DAYS: Day = 90;
/// How often `serve` checks whether a week's digests are due.
pub const SCHEDULE_EVERY: Duration = Duration::from_secs(3_600);
/// The hour on Monday (organisation's time zone) from which a week's
/// digest is due.
pub const SEND_FROM_HOUR: i8 = 7;

/// What went wrong with a digest, said so that the person running it can
/// fix it.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("--smtp-url (NORTHSTAR_SMTP_URL): {0}")]
    SmtpUrl(String),
    #[error(
        "--mail-from (NORTHSTAR_MAIL_FROM) {0:?} is not an address: {1}; give one like \"Northstar <cx@example.com>\""
    )]
    MailFrom(String, String),
    #[error("--public-url (NORTHSTAR_PUBLIC_URL) {0:?}: {1}")]
    PublicUrl(String, String),
    #[error("no department named {name:?}; the departments are: {known}")]
    UnknownDepartment { name: String, known: String },
    #[error(
        "the SMTP server did not take the digest of {department} for any of its {recipients} recipients: {message}. Check --smtp-url (host, port, tls, user and password) and that the server accepts mail from --mail-from; nothing was recorded as sent"
    )]
    Smtp {
        department: String,
        recipients: usize,
        message: String,
    },
    #[error("the digest of {0} would be larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge(String),
    #[error("the database: {0}")]
    Store(#[from] StoreError),
    #[error("the scorecard of {department}: {message}")]
    Scorecard { department: String, message: String },
}

/// The subject and both bodies of one recipient's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestMessage {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What a send did.
#[derive(Debug, Clone, Default)]
pub struct SendReport {
    pub department: String,
    /// The week the send counts for (its Monday).
    pub week_start: Day,
    pub delivered: Vec<String>,
    /// Addresses the SMTP server refused, with its answer.
    pub failed: Vec<(String, String)>,
    /// Leader or ambassador entries that are not e-mail addresses.
    pub invalid: Vec<String>,
}

/// Sends digests over SMTP; built once from the configuration.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: url::Url,
    /// The SMTP URL without its password, for messages.
    server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("public_url", &self.public_url.as_str())
            .finish()
    }
}

impl Mailer {
    /// Checks the configuration: an `smtp://` or `smtps://` URL (`?tls=required`
    /// for STARTTLS; credentials only over TLS unless the host is this
    /// machine), a sender address, and the public URL unsubscribe links
    /// point to.
    pub fn new(smtp_url: &str, from: &str, public_url: &str) -> Result<Self, DigestError> {
        let parsed = url::Url::parse(smtp_url).map_err(|e| {
            DigestError::SmtpUrl(format!(
                "not a URL ({e}); give one like smtp://user:password@mail.example.com:587?tls=required"
            ))
        })?;
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let encrypted = match (parsed.scheme(), tls.as_deref()) {
            ("smtps", _) => true,
            ("smtp", Some("required")) => true,
            ("smtp", None | Some("opportunistic")) => false,
            ("smtp", Some(other)) => {
                return Err(DigestError::SmtpUrl(format!(
                    "tls={other:?} is not known; use tls=required (STARTTLS), tls=opportunistic, or smtps:// for TLS from the start"
                )));
            }
            (scheme, _) => {
                return Err(DigestError::SmtpUrl(format!(
                    "the scheme {scheme:?} is not smtp or smtps; give one like smtp://mail.example.com:587?tls=required"
                )));
            }
        };
        // smtp: is not a special scheme: its host is text, even an address.
        let loopback = parsed.host_str().is_some_and(|h| {
            h.eq_ignore_ascii_case("localhost")
                || h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        if !encrypted && !loopback {
            return Err(DigestError::SmtpUrl(
                "the digest (customers' words and figures, and any password) would cross the network unencrypted; add ?tls=required (STARTTLS) or use smtps:// (plain smtp:// only to a relay on this machine)".into(),
            ));
        }
        // Only where it goes: a user name can be a provider's API key.
        let server = format!(
            "{}://{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or(""),
            parsed.port().map(|p| format!(":{p}")).unwrap_or_default()
        );
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| DigestError::SmtpUrl(format!("{server}: {e}")))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from_box = Mailbox::from_str(from.trim())
            .map_err(|e| DigestError::MailFrom(from.to_string(), e.to_string()))?;
        let public = url::Url::parse(public_url.trim())
            .map_err(|e| {
                DigestError::PublicUrl(
                    public_url.to_string(),
                    format!(
                        "not a URL ({e}); give the address people open Northstar at, like https://northstar.example.com"
                    ),
                )
            })
            .and_then(|u| {
                if matches!(u.scheme(), "http" | "https") && u.host().is_some() {
                    Ok(u)
                } else {
                    Err(DigestError::PublicUrl(
                        public_url.to_string(),
                        "give an http:// or https:// address, like https://northstar.example.com".into(),
                    ))
                }
            })?;
        Ok(Self {
            transport,
            from: from_box,
            public_url: public,
            server,
        })
    }

    /// An absolute link to a path of the public URL (`/s/TOKEN`).
    pub fn public_link(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    /// Sends one message with its one-click unsubscribe (or opt-out) link.
    pub async fn send_message(
        &self,
        to: &str,
        message: &DigestMessage,
        unsubscribe: &str,
    ) -> Result<(), Refused> {
        self.send_one(to, message, unsubscribe).await
    }

    /// The unsubscribe link of a token.
    pub fn unsubscribe_url(&self, token: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}/unsubscribe/{token}")
    }

    /// Sends one recipient's digest. A refusal of this message alone (a
    /// 5xx answer) lets the others go on; anything else (no connection,
    /// TLS, a timeout, 4xx) stops the run.
    async fn send_one(
        &self,
        to: &str,
        message: &DigestMessage,
        unsubscribe: &str,
    ) -> Result<(), Refused> {
        let email = build_email(&self.from, to, message, unsubscribe).map_err(|e| Refused {
            this_message_only: true,
            message: e,
        })?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| Refused {
                this_message_only: e.is_permanent(),
                message: format!("{} ({})", e, self.server),
            })
    }
}

/// Why one message was not sent.
#[derive(Debug)]
pub struct Refused {
    /// Only this message (a permanent refusal of it): the others may go on.
    pub this_message_only: bool,
    pub message: String,
}

/// `List-Unsubscribe: <https://…/unsubscribe/TOKEN>` (RFC 2369).
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): mail
/// programs unsubscribe with one POST to the link, no page needed.
#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_string())
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834): no out-of-office replies.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

fn build_email(
    from: &Mailbox,
    to: &str,
    message: &DigestMessage,
    unsubscribe: &str,
) -> Result<Message, String> {
    let to = Address::from_str(to).map_err(|e| format!("{to:?} is not an e-mail address: {e}"))?;
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(message.subject.clone())
        .header(ListUnsubscribe(unsubscribe.to_string()))
        .header(ListUnsubscribePost)
        .header(AutoSubmitted)
        .multipart(MultiPart::alternative_plain_html(
            message.text.clone(),
            message.html.clone(),
        ))
        .map_err(|e| format!("the message could not be built: {e}"))
}

/// The principal a digest is computed as: the department's lead role,
/// which sees its department's figures and praise, with personal data
/// masked.
fn digest_principal(department: &str) -> Principal {
    Principal {
        who: "system:digest".into(),
        role: Role::DepartmentLead,
        scope: Scope::Department(department.to_string()),
        via: Via::Token,
    }
}

fn state_of(store: &Arc<dyn Store>) -> AppState {
    AppState::new(store.clone(), &crate::ServerOptions::default())
}

/// The department's leader and ambassadors as addresses (lower case, each
/// once, at most [`MAX_DIGEST_RECIPIENTS`]) and the entries that are not
/// addresses.
pub fn team_addresses(d: &Department) -> (Vec<String>, Vec<String>) {
    let mut seen = BTreeSet::new();
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for raw in d.leader.iter().chain(&d.ambassadors) {
        let email = raw.trim().to_lowercase();
        if Address::from_str(&email).is_err() {
            invalid.push(raw.clone());
        } else if valid.len() < MAX_DIGEST_RECIPIENTS && seen.insert(email.clone()) {
            valid.push(email);
        }
    }
    (valid, invalid)
}

async fn department(store: &dyn Store, name: &str) -> Result<Department, DigestError> {
    let all = store.backend().departments().await?;
    let known = all
        .iter()
        .map(|d| d.record.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    all.iter()
        .find(|d| d.record.name == name)
        .map(|d| d.record.clone())
        .ok_or_else(|| DigestError::UnknownDepartment {
            name: name.to_string(),
            known: if known.is_empty() {
                "none yet (POST /api/v1/departments creates one)".into()
            } else {
                known
            },
        })
}

/// Subscribes the department's team (an unsubscribe sticks) and returns
/// who receives the digest, with the entries that are not addresses.
async fn recipients(
    store: &dyn Store,
    d: &Department,
    now: Timestamp,
) -> Result<(Vec<DigestSubscription>, Vec<String>), DigestError> {
    let (team, mut invalid) = team_addresses(d);
    // Only active accounts get it: the digest carries what a department
    // lead may see, not what anyone named in a record may.
    let users = store.backend().users().await?;
    let (team, strangers): (Vec<String>, Vec<String>) = team.into_iter().partition(|e| {
        users
            .iter()
            .any(|u| !u.disabled && u.email.eq_ignore_ascii_case(e))
    });
    invalid.extend(strangers);
    store
        .backend()
        .ensure_digest_subscriptions(&d.name, &team, now.as_second())
        .await?;
    let active = store.backend().digest_recipients(&d.name).await?;
    Ok((active, invalid))
}

/// The week a moment falls in, in the organisation's time zone, and
/// whether its digest is due (Monday from [`SEND_FROM_HOUR`]:00 on).
async fn week_of(store: &dyn Store, now: Timestamp) -> Result<(Day, bool), DigestError> {
    let (_, zone) = northstar_store::settings::time_zone(store.backend()).await?;
    let today = calendar::day_in(now.as_second(), &zone);
    let week = calendar::week_start(today);
    // Seconds into the local day, from the zone's offset at that instant.
    let local = now
        .as_second()
        .saturating_add(i64::from(zone.to_offset(now).seconds()));
    let hour = local.rem_euclid(86_400) / 3_600;
    Ok((week, today > week || hour >= i64::from(SEND_FROM_HOUR)))
}

/// Composes and sends the digest to each recipient.
async fn deliver(
    store: &Arc<dyn Store>,
    mailer: &Mailer,
    d: &Department,
    week: Day,
    to: &[DigestSubscription],
    report: &mut SendReport,
) -> Result<(), DigestError> {
    // The same figures all week for everyone: the complete days before
    // the week.
    let last = week - 1;
    let period = [
        (
            "from".to_string(),
            calendar::day_label(last - (PERIOD_DAYS - 1)),
        ),
        ("to".to_string(), calendar::day_label(last)),
    ];
    let card = scorecard(
        &state_of(store),
        &digest_principal(&d.name),
        &d.name,
        &period,
    )
    .await
    .map_err(|e| DigestError::Scorecard {
        department: d.name.clone(),
        message: match e {
            ApiError::Store(s) => s.to_string(),
            other => other.to_string(),
        },
    })?;
    for s in to {
        let link = mailer.unsubscribe_url(&s.token);
        let message = compose(&card, week, &link);
        if message.text.len() + message.html.len() > MAX_MESSAGE_BYTES {
            return Err(DigestError::TooLarge(d.name.clone()));
        }
        match mailer.send_one(&s.email, &message, &link).await {
            Ok(()) => report.delivered.push(s.email.clone()),
            Err(refused) => {
                report
                    .failed
                    .push((s.email.clone(), refused.message.clone()));
                if !refused.this_message_only {
                    // The server is unreachable or failing: the rest would
                    // fail the same way, each after a timeout.
                    for rest in to.iter().skip(report.delivered.len() + report.failed.len()) {
                        report
                            .failed
                            .push((rest.email.clone(), "not tried after the error above".into()));
                    }
                    break;
                }
            }
        }
    }
    if report.delivered.is_empty() && !report.failed.is_empty() {
        return Err(DigestError::Smtp {
            department: d.name.clone(),
            recipients: to.len(),
            message: report
                .failed
                .first()
                .map(|(_, m)| m.clone())
                .unwrap_or_default(),
        });
    }
    Ok(())
}

/// `northstar digest send`: sends a department's digest now, whatever the
/// week's claim says, and records the week as sent when a message went out.
pub async fn send_now(
    store: &Arc<dyn Store>,
    mailer: &Mailer,
    department_name: &str,
    now: Timestamp,
) -> Result<SendReport, DigestError> {
    let d = department(&**store, department_name).await?;
    let (week, _) = week_of(&**store, now).await?;
    let (to, invalid) = recipients(&**store, &d, now).await?;
    let mut report = SendReport {
        department: d.name.clone(),
        week_start: week,
        invalid,
        ..SendReport::default()
    };
    if to.is_empty() {
        return Ok(report);
    }
    deliver(store, mailer, &d, week, &to, &mut report).await?;
    store
        .backend()
        .record_digest_send(
            &d.name,
            week,
            report.delivered.len() as i64,
            now.as_second(),
        )
        .await?;
    Ok(report)
}

/// One round of the schedule: each department whose digest is due this
/// week and not yet claimed is claimed and sent; a failed send gives the
/// week back. Returns what this round sent or failed to send, by
/// department.
pub async fn scheduled_round(
    store: &Arc<dyn Store>,
    mailer: &Mailer,
    now: Timestamp,
) -> Result<Vec<Result<SendReport, DigestError>>, DigestError> {
    let (week, due) = week_of(&**store, now).await?;
    if !due {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for stamped in store.backend().departments().await? {
        let d = stamped.record;
        // One department's failure does not hold up the others.
        match department_round(store, mailer, &d, week, now).await {
            Ok(Some(report)) => out.push(Ok(report)),
            Ok(None) => {}
            Err(e) => out.push(Err(e)),
        }
    }
    Ok(out)
}

/// One department's part of [`scheduled_round`]: `None` when nothing was
/// due (sent already, claimed by another process, or nobody to send to).
async fn department_round(
    store: &Arc<dyn Store>,
    mailer: &Mailer,
    d: &Department,
    week: Day,
    now: Timestamp,
) -> Result<Option<SendReport>, DigestError> {
    if store.backend().digest_send(&d.name, week).await?.is_some() {
        return Ok(None);
    }
    let (to, invalid) = recipients(&**store, d, now).await?;
    if to.is_empty() {
        return Ok(None);
    }
    if !store
        .backend()
        .record_digest_send(&d.name, week, to.len() as i64, now.as_second())
        .await?
    {
        // Another process claimed it meanwhile.
        return Ok(None);
    }
    let mut report = SendReport {
        department: d.name.clone(),
        week_start: week,
        invalid,
        ..SendReport::default()
    };
    match deliver(store, mailer, d, week, &to, &mut report).await {
        Ok(()) => Ok(Some(report)),
        Err(e) => {
            store.backend().release_digest_week(&d.name, week).await?;
            Err(e)
        }
    }
}

/// Runs [`scheduled_round`] now and then every [`SCHEDULE_EVERY`], logging
/// what each round did; never returns.
pub async fn run_schedule(store: Arc<dyn Store>, mailer: Mailer) {
    tracing::info!(mailer = ?mailer, "weekly digests are on");
    loop {
        match scheduled_round(&store, &mailer, Timestamp::now()).await {
            Ok(results) => {
                for result in results {
                    match result {
                        Ok(r) => {
                            tracing::info!(
                                department = %r.department,
                                week = %calendar::day_label(r.week_start),
                                delivered = r.delivered.len(),
                                failed = r.failed.len(),
                                "weekly digest sent"
                            );
                            for (to, why) in &r.failed {
                                tracing::warn!(department = %r.department, to = %to, reason = %why, "a digest was not delivered");
                            }
                            if !r.invalid.is_empty() {
                                tracing::warn!(department = %r.department, entries = r.invalid.len(), "leader or ambassador entries that are not e-mail addresses got no digest; correct them in the department's record");
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "weekly digest not sent; the next round tries again")
                        }
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "weekly digests not checked"),
        }
        tokio::time::sleep(SCHEDULE_EVERY).await;
    }
}

/// Masks personal data and bounds an item's length.
fn clean(text: &str) -> String {
    let masked = personal_data::mask(text);
    let one_line: String = masked
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > MAX_TEXT_CHARS {
        let mut cut: String = one_line.chars().take(MAX_TEXT_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        one_line
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn or_dash(day: &Option<String>) -> &str {
    day.as_deref().unwrap_or("–")
}

/// A goal's KPI with its n and period.
fn kpi_line(card: &Scorecard, g: &GoalCard) -> String {
    let shown = |v: f64| {
        if g.kpi.statistic == "share_within_target" {
            format!("{:.1}%", v * 100.0)
        } else {
            format!("{v:.2}")
        }
    };
    let unit = if g.kpi.statistic == "external" {
        "period values"
    } else {
        "records"
    };
    format!(
        "{} ({}): {} against a target of {}{}, n = {} {unit}, {} to {}",
        g.kpi.measure,
        g.kpi.statistic.replace('_', " "),
        g.kpi.value.map_or_else(|| "no value".into(), shown),
        shown(g.kpi.target),
        match g.kpi.met {
            Some(true) => " (met)",
            Some(false) => " (not met)",
            None => "",
        },
        g.kpi.n,
        or_dash(&card.period.requested_from),
        or_dash(&card.period.requested_to),
    )
}

/// A goal's customer metric with its interval, n and period.
fn customer_line(g: &GoalCard) -> String {
    let m = &g.customer_metric;
    let interval = match (m.overall.ci_low, m.overall.ci_high) {
        (Some(lo), Some(hi)) => format!(" (95% interval {lo:.1} to {hi:.1})"),
        _ => String::new(),
    };
    let period = match (&m.period.from, &m.period.to) {
        (Some(a), Some(b)) => format!("answers from {a} to {b}"),
        _ => format!(
            "no answers from {} to {}",
            or_dash(&m.period.requested_from),
            or_dash(&m.period.requested_to)
        ),
    };
    format!(
        "{} on {}: {}{interval}, n = {} answers, {period}",
        m.title,
        crate::report::describe_filter(&m.filter),
        value_of(m.metric, m.overall.value),
        m.overall.n,
    )
}

/// The figures behind an item of good news: the goal's KPI, the customer
/// metric that rose, or the win's before and after, each with n and period.
fn good_news_evidence(card: &Scorecard, g: &GoodNews) -> Vec<String> {
    match g.kind {
        "goal_met" => card
            .goals
            .iter()
            .find(|goal| g.goal.as_deref() == Some(goal.title.as_str()))
            .map(|goal| vec![format!("KPI: {}", kpi_line(card, goal))])
            .unwrap_or_default(),
        "customer_metric_rose" => card
            .goals
            .iter()
            .find(|goal| g.goal.as_deref() == Some(goal.title.as_str()))
            .map(|goal| vec![format!("Customers: {}", customer_line(goal))])
            .unwrap_or_default(),
        "win" => card
            .wins
            .iter()
            .find(|w| g.win_id == Some(w.win.id))
            .map(|w| {
                let e = &w.win.win.evidence;
                let figure = |f: &crate::report::Figure| {
                    format!("{}, n = {} answers", value_of(e.metric, f.value), f.n)
                };
                vec![format!(
                    "{}: {} from {} to {}, then {} from {} to {}",
                    e.metric.title(),
                    figure(&w.before),
                    e.before.from,
                    e.before.to,
                    figure(&w.after),
                    e.after.from,
                    e.after.to,
                )]
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A metric's value with its unit (% for shares).
fn value_of(metric: Metric, value: Option<f64>) -> String {
    match (metric, value) {
        (_, None) => "no value".into(),
        (Metric::Csat | Metric::Fcr, Some(v)) => format!("{v:.1}%"),
        (_, Some(v)) => format!("{v:.1}"),
    }
}

/// The evidence behind a disagreement: the tests and the thresholds.
fn evidence_lines(g: &GoalCard) -> Vec<String> {
    let d = &g.disagreement;
    let mut out = Vec::new();
    let test = |what: &str, t: &crate::api::departments::TestFigure| {
        format!(
            "{what}: difference {:+.1} (p = {:.3}, Holm-adjusted {:.3}; {}{})",
            t.difference,
            t.p_value,
            t.p_adjusted,
            t.method,
            if t.significant { ", significant" } else { "" }
        )
    };
    if let Some(t) = &d.worse_than_previous_period {
        out.push(test("Against the previous period", t));
    }
    if let Some(t) = &d.worse_than_rest_of_organisation {
        out.push(test("Against the rest of the organisation", t));
    }
    if let (Some(threshold), Some(target)) = (d.customers_threshold, d.records_target) {
        out.push(format!(
            "Customers' threshold on {} (satisfied share below 80%): {threshold}; the target the goal accepts: {target}",
            g.kpi.measure
        ));
    }
    out
}

/// A section: heading and items (already cleaned), each a main line and
/// optional detail lines.
struct Section {
    heading: &'static str,
    empty: &'static str,
    items: Vec<(String, Vec<String>)>,
}

/// The digest of a scorecard for one recipient: good news first, then
/// where customers disagree with a met target (with the evidence), then
/// the asks, then every goal at a glance; each figure with its n and
/// period; the unsubscribe link last. Pure: the same scorecard, week and
/// link give the same message.
pub fn compose(card: &Scorecard, week_start: Day, unsubscribe_url: &str) -> DigestMessage {
    let name = clean(&card.department);
    let week = calendar::week_label(week_start);
    let subject = format!("Weekly digest for {name}: good news first ({week})");
    let good = Section {
        heading: "Good news",
        empty: "Nothing to celebrate with confidence this period yet; the goals below show where things stand.",
        items: card
            .good_news
            .iter()
            .take(MAX_ITEMS)
            .map(|g| {
                let text = if g.kind == "praise" {
                    format!("A customer wrote: \u{201c}{}\u{201d}", g.text)
                } else {
                    g.text.clone()
                };
                (
                    clean(&text),
                    good_news_evidence(card, g)
                        .iter()
                        .map(|l| clean(l))
                        .collect(),
                )
            })
            .collect(),
    };
    let disagreements = Section {
        heading: "Where customers disagree",
        empty: "No goal is met while its customers say otherwise.",
        items: card
            .goals
            .iter()
            .filter(|g| g.disagreement.flag)
            .take(MAX_ITEMS)
            .map(|g| {
                let mut details = vec![
                    format!("KPI: {}", clean(&kpi_line(card, g))),
                    format!("Customers: {}", clean(&customer_line(g))),
                ];
                details.extend(evidence_lines(g).iter().map(|l| clean(l)));
                (
                    format!("{}: {}", clean(&g.title), clean(&g.disagreement.reason)),
                    details,
                )
            })
            .collect(),
    };
    let asks = Section {
        heading: "Asks",
        empty: "Nothing asked of the department this week.",
        items: card
            .asks
            .iter()
            .take(MAX_ITEMS)
            .map(|a| {
                let detail = match (a.dollars, &a.dollars_basis) {
                    (Some(d), Some(b)) => vec![clean(&format!("At stake: ${d:.0} ({b})"))],
                    (Some(d), None) => vec![format!("At stake: ${d:.0}")],
                    (None, Some(b)) => vec![clean(b)],
                    (None, None) => Vec::new(),
                };
                (clean(&a.text), detail)
            })
            .collect(),
    };
    let goals = Section {
        heading: "Goals at a glance",
        empty: "The department has no goals yet; agree one with the CX team.",
        items: card
            .goals
            .iter()
            .take(MAX_ITEMS)
            .map(|g| {
                (
                    clean(&g.title),
                    vec![
                        format!("KPI: {}", clean(&kpi_line(card, g))),
                        format!("Customers: {}", clean(&customer_line(g))),
                    ],
                )
            })
            .collect(),
    };
    let cases = Section {
        heading: "Business cases",
        empty: "No business case names the department.",
        items: card
            .business_cases
            .iter()
            .take(MAX_ITEMS)
            .map(|c| {
                (
                    clean(&c.name),
                    vec![clean(&format!(
                        "NPV {}; {}",
                        c.npv.map_or("–".into(), |v| format!(
                            "${}",
                            northstar_core::business_case::money(v)
                        )),
                        c.finance_review
                    ))],
                )
            })
            .collect(),
    };
    let sections = [good, disagreements, asks, cases, goals];
    let period = format!(
        "Figures for {} to {} in the organisation's time zone; the previous period is {} to {}.",
        or_dash(&card.period.requested_from),
        or_dash(&card.period.requested_to),
        or_dash(&card.previous_period.requested_from),
        or_dash(&card.previous_period.requested_to),
    );
    let why = format!(
        "You receive this as the leader or an ambassador of {name} in Northstar. Personal data is masked."
    );

    let mut text = format!("Weekly digest for {name}, week {week}\n{period}\n");
    for s in &sections {
        text.push_str(&format!(
            "\n{}\n{}\n",
            s.heading.to_uppercase(),
            "-".repeat(s.heading.len())
        ));
        if s.items.is_empty() {
            text.push_str(&format!("{}\n", s.empty));
        }
        for (line, details) in &s.items {
            text.push_str(&format!("* {line}\n"));
            for d in details {
                text.push_str(&format!("    {d}\n"));
            }
        }
    }
    text.push_str(&format!("\n--\n{why}\nUnsubscribe: {unsubscribe_url}\n"));

    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family: sans-serif; max-width: 42em\">\
         <h1>Weekly digest for {}</h1><p>Week {week}. {}</p>",
        escape(&subject),
        escape(&name),
        escape(&period)
    );
    for s in &sections {
        html.push_str(&format!("<h2>{}</h2>", escape(s.heading)));
        if s.items.is_empty() {
            html.push_str(&format!("<p>{}</p>", escape(s.empty)));
            continue;
        }
        html.push_str("<ul>");
        for (line, details) in &s.items {
            html.push_str(&format!("<li>{}", escape(line)));
            if !details.is_empty() {
                html.push_str("<ul>");
                for d in details {
                    html.push_str(&format!("<li>{}</li>", escape(d)));
                }
                html.push_str("</ul>");
            }
            html.push_str("</li>");
        }
        html.push_str("</ul>");
    }
    html.push_str(&format!(
        "<hr><p><small>{} <a href=\"{url}\">Unsubscribe</a> ({url})</small></p></body></html>",
        escape(&why),
        url = escape(unsubscribe_url)
    ));
    DigestMessage {
        subject,
        text,
        html,
    }
}
