//! The demo's survey programs (issue 12): "post_support" in English and
//! German, sent by e-mail to a third of the customers with an address on
//! 2026-10-05 and reminded a week later, answered at rates that differ by
//! segment (enterprise customers answer most, small businesses least — so
//! the representativeness check has something to say); and "post_delivery",
//! live with an anonymous link and a widget, which a new user can open from
//! the dashboard and answer.

use std::sync::Arc;

use northstar_core::access::Scope;
use northstar_core::account::Role;
use northstar_core::survey::SurveyDefinition;
use northstar_store::Store;
use northstar_store::survey_records::SurveyStatus;
use serde_json::json;

use crate::AppState;
use crate::api::surveys;
use crate::auth::{Principal, Via};
use crate::error::ApiError;
use crate::views::survey_form;

/// The invited demo survey.
pub const INVITED_SURVEY: &str = "post_support";
/// The demo survey with an anonymous link and a widget.
pub const OPEN_SURVEY: &str = "post_delivery";
/// Seed of the demo's invitation outcomes.
pub const SEED: u64 = 12;

/// Per segment: share invited, share of the sent who open, share of the
/// opened who answer (so answered ÷ sent: enterprise ≈ 50%, mid-market
/// ≈ 34%, small businesses ≈ 19%), and the NPS answer mix (promoter,
/// passive shares).
struct Outcome {
    segment: &'static str,
    invited: f64,
    open: f64,
    answer: f64,
    promoter: f64,
    passive: f64,
}

const OUTCOMES: [Outcome; 3] = [
    Outcome {
        segment: "enterprise",
        invited: 0.6,
        open: 0.78,
        answer: 0.64,
        promoter: 0.46,
        passive: 0.36,
    },
    Outcome {
        segment: "mid_market",
        invited: 0.35,
        open: 0.62,
        answer: 0.55,
        promoter: 0.40,
        passive: 0.36,
    },
    Outcome {
        segment: "smb",
        invited: 0.25,
        open: 0.45,
        answer: 0.42,
        promoter: 0.33,
        passive: 0.35,
    },
];

fn principal() -> Principal {
    Principal {
        who: "cx-lead@demo.northstar.test".into(),
        role: Role::CxLead,
        scope: Scope::Organisation,
        via: Via::Token,
    }
}

pub fn support_definition() -> Result<SurveyDefinition, ApiError> {
    serde_json::from_value(json!({
        "name": INVITED_SURVEY,
        "title": {"en": "Your support request", "de": "Ihre Support-Anfrage"},
        "languages": ["en", "de"],
        "touchpoint": "support",
        "department": "support",
        "journey_stage": "service",
        "goals": ["Resolve 80% of requests at the first contact"],
        "questions": [
            {"key": "nps", "type": "nps", "required": true,
             "text": {"en": "How likely are you to recommend us to a friend or colleague?",
                      "de": "Wie wahrscheinlich ist es, dass Sie uns einem Freund oder Kollegen empfehlen?"}},
            {"key": "fcr", "type": "fcr",
             "text": {"en": "Was your request resolved at the first contact?",
                      "de": "Wurde Ihr Anliegen beim ersten Kontakt gelöst?"}},
            {"key": "support_quality", "type": "driver", "driver": "support_quality",
             "text": {"en": "How would you rate the support you received?",
                      "de": "Wie bewerten Sie die erhaltene Unterstützung?"}},
            {"key": "contact_reason", "type": "single_choice",
             "text": {"en": "What was your request about?", "de": "Worum ging es bei Ihrer Anfrage?"},
             "options": [
                {"key": "delivery", "label": {"en": "A delivery", "de": "Eine Lieferung"}},
                {"key": "invoice", "label": {"en": "An invoice", "de": "Eine Rechnung"}},
                {"key": "product", "label": {"en": "A product", "de": "Ein Produkt"}}]},
            {"key": "comment", "type": "text",
             "text": {"en": "What could we have done better?", "de": "Was hätten wir besser machen können?"}}
        ]
    }))
    .map_err(|e| ApiError::BadBody(e.to_string()))
}

pub fn delivery_definition() -> Result<SurveyDefinition, ApiError> {
    serde_json::from_value(json!({
        "name": OPEN_SURVEY,
        "title": {"en": "Your delivery", "de": "Ihre Lieferung"},
        "languages": ["en", "de"],
        "touchpoint": "delivery",
        "department": "logistics",
        "journey_stage": "fulfilment",
        "goals": ["95% of deliveries within the 5-day target"],
        "anonymous_links": true,
        "allowed_origins": ["http://localhost:8080", "http://127.0.0.1:8080"],
        "questions": [
            {"key": "nps", "type": "nps", "required": true,
             "text": {"en": "How likely are you to recommend us to a friend or colleague?",
                      "de": "Wie wahrscheinlich ist es, dass Sie uns einem Freund oder Kollegen empfehlen?"}},
            {"key": "delivery_speed", "type": "driver", "driver": "delivery_speed",
             "text": {"en": "How was the speed of your delivery?", "de": "Wie war die Geschwindigkeit Ihrer Lieferung?"}},
            {"key": "comment", "type": "text",
             "text": {"en": "What is the main reason for your score?", "de": "Was ist der wichtigste Grund für Ihre Bewertung?"}}
        ]
    }))
    .map_err(|e| ApiError::BadBody(e.to_string()))
}

fn unix(text: &str) -> Result<i64, ApiError> {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Sets the demo surveys up unless they exist. True when it did.
pub async fn set_up(store: Arc<dyn Store>) -> Result<bool, ApiError> {
    let backend = store.backend();
    if backend.survey_by_name(INVITED_SURVEY).await?.is_some() {
        return Ok(false);
    }
    let state = AppState::new(store.clone(), &crate::ServerOptions::default());
    let cx = principal();
    let sent_at = unix("2026-10-05T08:00:00Z")?;
    let reminded_at = unix("2026-10-12T08:00:00Z")?;

    let delivery = surveys::create(
        &state,
        &cx,
        &delivery_definition()?,
        unix("2026-09-01T09:00:00Z")?,
    )
    .await?;
    backend
        .set_survey_status(
            delivery,
            SurveyStatus::Live,
            &cx.who,
            unix("2026-09-01T09:30:00Z")?,
        )
        .await?;

    let definition = support_definition()?;
    let id = surveys::create(&state, &cx, &definition, unix("2026-09-28T09:00:00Z")?).await?;
    backend
        .set_survey_status(
            id,
            SurveyStatus::Live,
            &cx.who,
            unix("2026-10-05T07:00:00Z")?,
        )
        .await?;
    let survey = backend
        .survey(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("the demo survey vanished".into()))?;
    let mut rng = fastrand::Rng::with_seed(SEED);
    for o in &OUTCOMES {
        let mut contacts = surveys::segment_contacts(&state, o.segment).await?;
        contacts.retain(|_| rng.f64() < o.invited);
        surveys::invite(&state, &cx, id, contacts, Vec::new(), Some(60)).await?;
    }
    // What happened to them: all sent on 2026-10-05, reminded a week later
    // if silent; opened and answered at the segment's rates.
    let mut after = 0;
    let mut sent = Vec::new();
    let mut answers = Vec::new();
    let mut reminded = Vec::new();
    loop {
        let page = backend.invitations(id, after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for inv in &page {
            sent.push(inv.id);
            let Some(o) = OUTCOMES.iter().find(|o| o.segment == inv.segment) else {
                continue;
            };
            let (open, answer, promoter, passive) = (o.open, o.answer, o.promoter, o.passive);
            if rng.f64() >= open {
                reminded.push(inv.id);
                continue;
            }
            let opened = sent_at + rng.i64(600..6 * 86_400);
            backend.mark_invitation_opened(inv.id, opened).await?;
            if rng.f64() >= answer {
                reminded.push(inv.id);
                continue;
            }
            let draw = rng.f64();
            let nps = if draw < promoter {
                9 + rng.u8(0..2)
            } else if draw < promoter + passive {
                7 + rng.u8(0..2)
            } else {
                rng.u8(0..7)
            };
            let mut form = std::collections::BTreeMap::new();
            form.insert("nps".to_string(), vec![nps.to_string()]);
            form.insert(
                "fcr".to_string(),
                vec![
                    if rng.f64() < 0.45 + 0.05 * f64::from(nps) {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_string(),
                ],
            );
            form.insert(
                "support_quality".to_string(),
                vec![(1 + (nps / 3).min(4) + rng.u8(0..2)).min(5).to_string()],
            );
            form.insert(
                "contact_reason".to_string(),
                vec![["delivery", "invoice", "product"][rng.usize(..3)].to_string()],
            );
            let parsed = definition
                .answers_from(&form)
                .map_err(|e| ApiError::BadBody(northstar_core::field::describe(&e)))?;
            let mut response = survey_form::response_of(
                &survey,
                &definition,
                1,
                &inv.language,
                inv.response_id.clone(),
                Some(inv.customer_id.clone()),
                &inv.segment,
                &inv.channel,
                parsed,
            );
            let when = opened.max(sent_at + 300) + rng.i64(60..1_800);
            response.submitted_unix = when;
            response.submitted_at = jiff::Timestamp::from_second(when)
                .map(|t| t.to_string())
                .unwrap_or_default();
            answers.push(response);
        }
    }
    for chunk in sent.chunks(1_000) {
        backend.mark_invitations_sent(chunk, false, sent_at).await?;
    }
    for chunk in reminded.chunks(1_000) {
        backend
            .mark_invitations_sent(chunk, true, reminded_at)
            .await?;
    }
    for chunk in answers.chunks(5_000) {
        store.write_responses(chunk.to_vec()).await?;
    }
    Ok(true)
}
