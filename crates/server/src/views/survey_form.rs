//! Hosted survey pages (public, no JavaScript): a personal invitation link
//! `/s/{token}` and an anonymous link `/s/a/{slug}`, each a form of
//! fieldsets and labels (WCAG 2.1 AA: a legend per scale, an error summary
//! linking to each field, errors tied to their fields, what was typed kept),
//! then a thank-you page. Answers go through the group committer into the
//! same store, rollups and metrics as imports, with the survey's touchpoint
//! and department and the link's channel. Answering a personal link again
//! replaces the answer; an anonymous form's answer is keyed by the id the
//! form was served with, so a double submit does not count twice. A hidden
//! honeypot field catches form-filling bots: their post gets the thank-you
//! page and is not stored.

// A page function's `Err` is the page to show instead (a response, once
// per request): boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use northstar_core::Dimension;
use northstar_core::dimension::DimensionValues;
use northstar_core::field::FieldError;
use northstar_core::response::NewResponse;
use northstar_core::survey::{QuestionKind, SurveyAnswers, SurveyDefinition};
use northstar_store::survey_records::{Invitation, Survey, SurveyStatus};
use serde::Deserialize;

use crate::api::surveys::{definition_of, now_unix};
use crate::auth::Principal;
use crate::{AppState, survey_links};

/// Largest form a respondent may post.
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// Channels an anonymous link may name (`?channel=qr`); a fixed list, so a
/// link cannot mint new dimension values.
/// (`email` is the invitations' own: an anonymous answer never looks like one.)
pub const LINK_CHANNELS: [&str; 5] = ["link", "sms", "qr", "in_app", "web"];
/// The honeypot field's name (hidden from people, filled by bots).
pub const HONEYPOT: &str = "website";

/// The words of the page around the survey's own, per language.
pub struct PageWords {
    pub submit: &'static str,
    pub required: &'static str,
    pub problem: &'static str,
    pub thanks: &'static str,
    pub thanks_body: &'static str,
    pub expired: &'static str,
    pub closed: &'static str,
    pub unknown: &'static str,
    pub not_open: &'static str,
    pub answered_before: &'static str,
    pub leave_empty: &'static str,
    pub opted_out: &'static str,
    pub opt_out_question: &'static str,
    pub opt_out_button: &'static str,
    pub busy: &'static str,
    /// A required question left empty.
    pub not_answered: &'static str,
    /// Any other wrong answer (the English page says exactly what).
    pub invalid: &'static str,
}

pub fn page_words(language: &str) -> &'static PageWords {
    match language
        .split('-')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "de" => &PageWords {
            submit: "Absenden",
            required: "Pflichtfrage",
            problem: "Bitte prüfen Sie Ihre Antworten",
            thanks: "Vielen Dank!",
            thanks_body: "Ihre Antwort ist gespeichert. Sie hilft uns, besser zu werden.",
            expired: "Dieser Link ist abgelaufen. Ihre Antwort ist nicht mehr möglich; wir danken Ihnen trotzdem.",
            closed: "Diese Umfrage ist geschlossen. Vielen Dank für Ihr Interesse.",
            unknown: "Dieser Link ist nicht bekannt: Er ist vielleicht unvollständig. Kopieren Sie den ganzen Link aus der E-Mail.",
            not_open: "Diese Umfrage ist noch nicht geöffnet.",
            answered_before: "Sie haben am {date} geantwortet. Wenn Sie erneut absenden, ersetzt das Ihre Antwort.",
            leave_empty: "Dieses Feld leer lassen",
            opted_out: "Sie erhalten keine Umfragen mehr per E-Mail an diese Adresse.",
            opt_out_question: "Keine Umfragen mehr per E-Mail erhalten?",
            opt_out_button: "Abmelden",
            busy: "Gerade kommen sehr viele Antworten an. Bitte senden Sie in {seconds} Sekunden erneut; Ihre Eingaben sind noch da.",
            not_answered: "Bitte beantworten Sie diese Frage (Pflichtfrage).",
            invalid: "Diese Antwort passt nicht: Bitte wählen Sie eine der angebotenen Antworten.",
        },
        "fr" => &PageWords {
            submit: "Envoyer",
            required: "obligatoire",
            problem: "Veuillez vérifier vos réponses",
            thanks: "Merci !",
            thanks_body: "Votre réponse est enregistrée. Elle nous aide à nous améliorer.",
            expired: "Ce lien a expiré. Merci tout de même.",
            closed: "Cette enquête est close. Merci de votre intérêt.",
            unknown: "Ce lien est inconnu : il est peut-être incomplet. Copiez le lien entier depuis l'e-mail.",
            not_open: "Cette enquête n'est pas encore ouverte.",
            answered_before: "Vous avez répondu le {date}. Un nouvel envoi remplace votre réponse.",
            leave_empty: "Laissez ce champ vide",
            opted_out: "Vous ne recevrez plus d'enquêtes par e-mail à cette adresse.",
            opt_out_question: "Ne plus recevoir d'enquêtes par e-mail ?",
            opt_out_button: "Me désinscrire",
            busy: "Beaucoup de réponses arrivent en ce moment. Renvoyez dans {seconds} secondes ; vos saisies sont conservées.",
            not_answered: "Veuillez répondre à cette question (obligatoire).",
            invalid: "Cette réponse ne convient pas : choisissez l'une des réponses proposées.",
        },
        "es" => &PageWords {
            submit: "Enviar",
            required: "obligatoria",
            problem: "Revise sus respuestas",
            thanks: "¡Gracias!",
            thanks_body: "Su respuesta está guardada. Nos ayuda a mejorar.",
            expired: "Este enlace ha caducado. Gracias de todos modos.",
            closed: "Esta encuesta está cerrada. Gracias por su interés.",
            unknown: "Este enlace no se conoce: puede estar incompleto. Copie el enlace entero del correo.",
            not_open: "Esta encuesta aún no está abierta.",
            answered_before: "Respondió el {date}. Si envía de nuevo, su respuesta se reemplaza.",
            leave_empty: "Deje este campo vacío",
            opted_out: "Ya no recibirá encuestas por correo en esta dirección.",
            opt_out_question: "¿Dejar de recibir encuestas por correo?",
            opt_out_button: "Darme de baja",
            busy: "Llegan muchas respuestas ahora. Envíe de nuevo en {seconds} segundos; sus datos siguen aquí.",
            not_answered: "Responda a esta pregunta (obligatoria).",
            invalid: "Esta respuesta no es válida: elija una de las respuestas ofrecidas.",
        },
        "nl" => &PageWords {
            submit: "Versturen",
            required: "verplicht",
            problem: "Controleer uw antwoorden",
            thanks: "Dank u wel!",
            thanks_body: "Uw antwoord is opgeslagen. Het helpt ons beter te worden.",
            expired: "Deze link is verlopen. Toch bedankt.",
            closed: "Deze enquête is gesloten. Bedankt voor uw interesse.",
            unknown: "Deze link is onbekend: misschien is hij onvolledig. Kopieer de hele link uit de e-mail.",
            not_open: "Deze enquête is nog niet geopend.",
            answered_before: "U antwoordde op {date}. Opnieuw versturen vervangt uw antwoord.",
            leave_empty: "Laat dit veld leeg",
            opted_out: "U ontvangt geen enquêtes meer per e-mail op dit adres.",
            opt_out_question: "Geen enquêtes meer per e-mail ontvangen?",
            opt_out_button: "Afmelden",
            busy: "Er komen nu veel antwoorden binnen. Verstuur over {seconds} seconden opnieuw; uw invoer is bewaard.",
            not_answered: "Beantwoord deze vraag (verplicht).",
            invalid: "Dit antwoord past niet: kies een van de aangeboden antwoorden.",
        },
        _ => &PageWords {
            submit: "Submit",
            required: "required",
            problem: "Please check your answers",
            thanks: "Thank you!",
            thanks_body: "Your answer is saved. It helps us do better.",
            expired: "This link has expired, so it can no longer take an answer. Thank you all the same.",
            closed: "This survey is closed. Thank you for your interest.",
            unknown: "This link is not known: it may be cut short. Copy the whole link from the e-mail.",
            not_open: "This survey is not open yet.",
            answered_before: "You answered on {date}. Submitting again replaces your answer.",
            leave_empty: "Leave this field empty",
            opted_out: "You will receive no more surveys by e-mail at this address.",
            opt_out_question: "Stop receiving surveys by e-mail?",
            opt_out_button: "Opt out",
            busy: "Many answers are arriving right now. Please submit again in {seconds} seconds; what you entered is kept.",
            not_answered: "",
            invalid: "",
        },
    }
}

/// One choice of a scale or choice question.
pub struct OptionView {
    pub id: String,
    pub value: String,
    pub label: String,
    pub checked: bool,
}

/// One question as the form shows it.
pub struct FieldView {
    pub key: String,
    /// `radio`, `checkbox` or `text`.
    pub control: &'static str,
    pub text: String,
    pub hint: String,
    pub required: bool,
    pub options: Vec<OptionView>,
    /// Scales are laid out in a row.
    pub scale: bool,
    pub value: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "survey_form.html")]
struct FormPage {
    lang: String,
    title: String,
    action: String,
    fields: Vec<FieldView>,
    errors: Vec<(String, String)>,
    words: &'static PageWords,
    notice: String,
    submission: String,
    version: i64,
    csrf: String,
}

#[derive(Template)]
#[template(path = "survey_message.html")]
struct MessagePage {
    lang: String,
    title: String,
    heading: String,
    message: String,
    /// An opt-out confirmation form's action, when asking.
    form_action: String,
    button: String,
    csrf: String,
}

fn public_headers(status: StatusCode, html: String) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            // The token is in the address: never pass it to another site
            // (same-origin, not no-referrer: with no-referrer browsers send
            // `Origin: null` on the form's own post).
            (header::REFERRER_POLICY, "same-origin"),
            (header::HeaderName::from_static("x-robots-tag"), "noindex"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ],
        Html(html),
    )
        .into_response()
}

fn message(status: StatusCode, lang: &str, title: &str, heading: &str, text: &str) -> Response {
    let page = MessagePage {
        lang: lang.to_string(),
        title: title.to_string(),
        heading: heading.to_string(),
        message: text.to_string(),
        form_action: String::new(),
        button: String::new(),
        csrf: String::new(),
    };
    match page.render() {
        Ok(html) => public_headers(status, html),
        Err(e) => super::render(Err(e.into())),
    }
}

fn server_error(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "a survey page failed");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "en",
        "Survey",
        "Something went wrong",
        "Your answer could not be saved just now. Please go back and submit again in a moment; what you entered is still in the form.",
    )
}

fn scale_labels(kind: &QuestionKind, language: &str) -> (u8, u8, String) {
    let de = language.starts_with("de");
    match kind {
        QuestionKind::Nps => (
            0,
            10,
            if de {
                "0 = sehr unwahrscheinlich, 10 = äußerst wahrscheinlich".into()
            } else {
                "0 = not at all likely, 10 = extremely likely".into()
            },
        ),
        QuestionKind::Csat => (
            1,
            5,
            if de {
                "1 = sehr unzufrieden, 5 = sehr zufrieden".into()
            } else {
                "1 = very dissatisfied, 5 = very satisfied".into()
            },
        ),
        QuestionKind::Ces => (
            1,
            7,
            if de {
                "1 = sehr schwierig, 7 = sehr einfach".into()
            } else {
                "1 = very difficult, 7 = very easy".into()
            },
        ),
        _ => (
            1,
            5,
            if de {
                "1 = sehr schlecht, 5 = sehr gut".into()
            } else {
                "1 = very poor, 5 = very good".into()
            },
        ),
    }
}

/// A field's error in the page's language (English: core's own words,
/// which say exactly what was wrong).
pub fn error_text(e: &FieldError, language: &str) -> String {
    let w = page_words(language);
    if w.not_answered.is_empty() {
        format!("{} — {}", e.problem, e.fix)
    } else if e.problem == "is not answered" {
        w.not_answered.to_string()
    } else {
        w.invalid.to_string()
    }
}

/// The form's fields with what was typed and each field's error.
pub fn fields(
    d: &SurveyDefinition,
    language: &str,
    typed: &BTreeMap<String, Vec<String>>,
    errors: &[FieldError],
) -> Vec<FieldView> {
    let yes_no = if language.starts_with("de") {
        [("yes", "Ja"), ("no", "Nein")]
    } else {
        [("yes", "Yes"), ("no", "No")]
    };
    d.questions
        .iter()
        .map(|q| {
            let given = typed.get(&q.key).cloned().unwrap_or_default();
            let error = errors
                .iter()
                .find(|e| e.field == q.key)
                .map(|e| error_text(e, language))
                .unwrap_or_default();
            let option = |value: String, label: String| OptionView {
                id: format!("{}-{}", q.key, value),
                checked: given.iter().any(|g| g.trim() == value),
                value,
                label,
            };
            let text = d.text_in(&q.text, language).to_string();
            let (control, scale, hint, options) = match &q.kind {
                QuestionKind::Nps
                | QuestionKind::Csat
                | QuestionKind::Ces
                | QuestionKind::Driver { .. } => {
                    let (low, high, hint) = scale_labels(&q.kind, language);
                    let options = (low..=high)
                        .map(|v| option(v.to_string(), v.to_string()))
                        .collect();
                    ("radio", true, hint, options)
                }
                QuestionKind::Fcr => (
                    "radio",
                    false,
                    String::new(),
                    yes_no
                        .iter()
                        .map(|(v, l)| option((*v).to_string(), (*l).to_string()))
                        .collect(),
                ),
                QuestionKind::SingleChoice { options } => (
                    "radio",
                    false,
                    String::new(),
                    options
                        .iter()
                        .map(|o| option(o.key.clone(), d.text_in(&o.label, language).to_string()))
                        .collect(),
                ),
                QuestionKind::MultipleChoice { options } => (
                    "checkbox",
                    false,
                    String::new(),
                    options
                        .iter()
                        .map(|o| option(o.key.clone(), d.text_in(&o.label, language).to_string()))
                        .collect(),
                ),
                QuestionKind::Text => ("text", false, String::new(), Vec::new()),
            };
            FieldView {
                key: q.key.clone(),
                control,
                text,
                hint,
                required: q.required,
                options,
                scale,
                value: given.join("\n"),
                error,
            }
        })
        .collect()
}

/// Where a form came from.
enum Link {
    Invitation(Box<Invitation>),
    Anonymous { channel: String },
}

struct Loaded {
    survey: Survey,
    definition: SurveyDefinition,
    link: Link,
}

/// The survey of a personal link, or the page to show instead.
async fn by_token(state: &AppState, token: &str) -> Result<Loaded, Response> {
    if !survey_links::token_shaped(token) {
        let w = page_words("en");
        return Err(message(
            StatusCode::NOT_FOUND,
            "en",
            "Survey",
            "Unknown link",
            w.unknown,
        ));
    }
    let backend = state.store.backend();
    let invitation = backend
        .invitation_by_token(&survey_links::token_hash(token))
        .await
        .map_err(server_error)?;
    let Some(invitation) = invitation else {
        let w = page_words("en");
        return Err(message(
            StatusCode::NOT_FOUND,
            "en",
            "Survey",
            "Unknown link",
            w.unknown,
        ));
    };
    let (survey, definition) = survey_of(state, invitation.survey_id).await?;
    let lang = invitation.language.clone();
    let w = page_words(&lang);
    let title = definition.text_in(&definition.title, &lang).to_string();
    if invitation.expires_unix <= now_unix() {
        return Err(message(StatusCode::GONE, &lang, &title, &title, w.expired));
    }
    check_open(&survey, &lang, &title)?;
    Ok(Loaded {
        survey,
        definition,
        link: Link::Invitation(Box::new(invitation)),
    })
}

fn check_open(survey: &Survey, lang: &str, title: &str) -> Result<(), Response> {
    let w = page_words(lang);
    match survey.status {
        SurveyStatus::Live => Ok(()),
        SurveyStatus::Closed => Err(message(StatusCode::GONE, lang, title, title, w.closed)),
        SurveyStatus::Draft => Err(message(
            StatusCode::NOT_FOUND,
            lang,
            title,
            title,
            w.not_open,
        )),
    }
}

async fn survey_of(state: &AppState, id: i64) -> Result<(Survey, SurveyDefinition), Response> {
    match state.surveys.get(state.store.as_ref(), id).await {
        Ok(Some(s)) => Ok((s.0.clone(), s.1.clone())),
        Ok(None) => Err(server_error(format!(
            "the survey {id} of an invitation is missing"
        ))),
        Err(e) => Err(server_error(e)),
    }
}

/// The survey of an anonymous link, or the page to show instead.
async fn by_slug(state: &AppState, slug: &str, channel: Option<&str>) -> Result<Loaded, Response> {
    let w = page_words("en");
    let unknown = || {
        message(
            StatusCode::NOT_FOUND,
            "en",
            "Survey",
            "Unknown link",
            w.unknown,
        )
    };
    if slug.len() > 64 || !slug.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(unknown());
    }
    let cached = state
        .surveys
        .by_slug(state.store.as_ref(), slug)
        .await
        .map_err(server_error)?
        .ok_or_else(unknown)?;
    let (survey, definition) = (cached.0.clone(), cached.1.clone());
    // The widget's no-JavaScript fallback (`?channel=web`) is this form
    // too; otherwise only a survey with anonymous links has one.
    let widget_fallback = !definition.allowed_origins.is_empty() && channel == Some("web");
    if !definition.anonymous_links && !widget_fallback {
        return Err(unknown());
    }
    let lang = definition
        .languages
        .first()
        .cloned()
        .unwrap_or_else(|| "en".into());
    let title = definition.text_in(&definition.title, &lang).to_string();
    check_open(&survey, &lang, &title)?;
    let channel = channel
        .filter(|c| LINK_CHANNELS.contains(c))
        .unwrap_or("link")
        .to_string();
    Ok(Loaded {
        survey,
        definition,
        link: Link::Anonymous { channel },
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
}

fn language(loaded: &Loaded, link_lang: Option<&str>, headers: &HeaderMap) -> String {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let preferred = match &loaded.link {
        Link::Invitation(i) => link_lang.or(Some(i.language.as_str())),
        Link::Anonymous { .. } => link_lang,
    };
    loaded
        .definition
        .language_for(preferred, accept)
        .to_string()
}

#[allow(clippy::too_many_arguments)]
fn render_form(
    loaded: &Loaded,
    lang: &str,
    action: String,
    typed: &BTreeMap<String, Vec<String>>,
    errors: &[FieldError],
    notice: String,
    submission: String,
    csrf: String,
    status: StatusCode,
) -> Response {
    let d = &loaded.definition;
    let page = FormPage {
        lang: lang.to_string(),
        title: d.text_in(&d.title, lang).to_string(),
        action,
        fields: fields(d, lang, typed, errors),
        errors: errors
            .iter()
            .map(|e| {
                let question = d
                    .questions
                    .iter()
                    .find(|q| q.key == e.field)
                    .map(|q| d.text_in(&q.text, lang).to_string())
                    .unwrap_or_else(|| e.field.clone());
                (
                    e.field.clone(),
                    format!("{question}: {}", error_text(e, lang)),
                )
            })
            .collect(),
        words: page_words(lang),
        notice,
        submission,
        version: loaded.survey.current_version,
        csrf,
    };
    match page.render() {
        Ok(html) => public_headers(status, html),
        Err(e) => server_error(e),
    }
}

/// A stored answer as the form's typed values (to change it).
fn typed_from(d: &SurveyDefinition, r: &NewResponse) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for q in &d.questions {
        let v: Vec<String> = match &q.kind {
            QuestionKind::Nps => r.nps.map(|v| v.to_string()).into_iter().collect(),
            QuestionKind::Csat => r.csat.map(|v| v.to_string()).into_iter().collect(),
            QuestionKind::Ces => r.ces.map(|v| v.to_string()).into_iter().collect(),
            QuestionKind::Fcr => r
                .fcr
                .map(|v| if v { "yes" } else { "no" }.to_string())
                .into_iter()
                .collect(),
            QuestionKind::Driver { driver } => r
                .drivers
                .get(driver)
                .map(|v| v.to_string())
                .into_iter()
                .collect(),
            QuestionKind::SingleChoice { .. } => {
                r.attributes.get(&q.key).cloned().into_iter().collect()
            }
            QuestionKind::MultipleChoice { .. } => r
                .attributes
                .get(&q.key)
                .map(|v| v.split('|').map(str::to_string).collect())
                .unwrap_or_default(),
            // Free text is not shown again: a forwarded link must not
            // reveal what its owner wrote.
            QuestionKind::Text => Vec::new(),
        };
        if !v.is_empty() {
            out.insert(q.key.clone(), v);
        }
    }
    out
}

fn csrf_of(principal: Option<&Principal>) -> String {
    principal
        .map(|p| p.csrf_token().to_string())
        .unwrap_or_default()
}

/// `GET /s/{token}`: the personal form (records the first opening; an
/// answered link shows the answer to change).
pub async fn invitation_form(
    State(state): State<AppState>,
    principal: Option<Principal>,
    Path(token): Path<String>,
    Query(q): Query<LinkQuery>,
    headers: HeaderMap,
) -> Response {
    let loaded = match by_token(&state, &token).await {
        Ok(l) => l,
        Err(page) => return page,
    };
    let Link::Invitation(invitation) = &loaded.link else {
        return server_error("not an invitation");
    };
    if invitation.opened_unix.is_none()
        && let Err(e) = state
            .store
            .backend()
            .mark_invitation_opened(invitation.id, now_unix())
            .await
    {
        tracing::warn!(error = %e, "an invitation's opening was not recorded");
    }
    let lang = language(&loaded, q.lang.as_deref(), &headers);
    let (typed, notice) = match invitation.answered_unix {
        Some(when) => {
            let previous = state
                .store
                .response(&invitation.response_id)
                .await
                .ok()
                .flatten();
            (
                previous
                    .map(|r| typed_from(&loaded.definition, &r))
                    .unwrap_or_default(),
                page_words(&lang)
                    .answered_before
                    .replace("{date}", &crate::api::surveys::at(when)),
            )
        }
        None => (BTreeMap::new(), String::new()),
    };
    render_form(
        &loaded,
        &lang,
        format!("/s/{token}"),
        &typed,
        &[],
        notice,
        String::new(),
        csrf_of(principal.as_ref()),
        StatusCode::OK,
    )
}

/// `GET /s/a/{slug}`: the anonymous form.
pub async fn anonymous_form(
    State(state): State<AppState>,
    principal: Option<Principal>,
    Path(slug): Path<String>,
    Query(q): Query<LinkQuery>,
    headers: HeaderMap,
) -> Response {
    let loaded = match by_slug(&state, &slug, q.channel.as_deref()).await {
        Ok(l) => l,
        Err(page) => return page,
    };
    let lang = language(&loaded, q.lang.as_deref(), &headers);
    let Link::Anonymous { channel } = &loaded.link else {
        return server_error("not an anonymous link");
    };
    render_form(
        &loaded,
        &lang,
        format!("/s/a/{slug}?channel={channel}"),
        &BTreeMap::new(),
        &[],
        String::new(),
        survey_links::random_id(32),
        csrf_of(principal.as_ref()),
        StatusCode::OK,
    )
}

/// A posted form as field → values (a multiple choice sends several).
fn form_values(body: &[u8]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(body).take(1_000) {
        out.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    out
}

/// The response an answer is stored as.
#[allow(clippy::too_many_arguments)]
pub fn response_of(
    survey: &Survey,
    definition: &SurveyDefinition,
    version: i64,
    language: &str,
    external_id: String,
    customer_id: Option<String>,
    segment: &str,
    channel: &str,
    answers: SurveyAnswers,
) -> NewResponse {
    let now = jiff::Timestamp::now();
    let mut dimensions = DimensionValues::default();
    dimensions.set(Dimension::Survey, survey.name.clone());
    dimensions.set(Dimension::Touchpoint, definition.touchpoint.clone());
    dimensions.set(
        Dimension::Department,
        definition.department.clone().unwrap_or_default(),
    );
    dimensions.set(Dimension::Segment, segment.to_string());
    dimensions.set(Dimension::Channel, channel.to_string());
    let mut attributes = answers.attributes;
    attributes.insert("survey_version".into(), version.to_string());
    attributes.insert("survey_language".into(), language.to_string());
    NewResponse {
        external_id,
        customer_id,
        submitted_at: now.to_string(),
        submitted_unix: now.as_second(),
        dimensions,
        nps: answers.nps,
        csat: answers.csat,
        ces: answers.ces,
        fcr: answers.fcr,
        comment: answers.comment,
        order_id: None,
        drivers: answers.drivers,
        attributes,
    }
}

/// The definition of the version a form was served with (so an edit made
/// meanwhile does not reinterpret the answers), else the current one.
async fn served_version(
    state: &AppState,
    loaded: &Loaded,
    form: &BTreeMap<String, Vec<String>>,
) -> (i64, SurveyDefinition) {
    let current = (loaded.survey.current_version, loaded.definition.clone());
    let Some(v) = form
        .get("survey_version")
        .and_then(|v| v.first())
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| *v >= 1 && *v < loaded.survey.current_version)
    else {
        return current;
    };
    match state
        .store
        .backend()
        .survey_version(loaded.survey.id, v)
        .await
    {
        Ok(Some(version)) => match definition_of(&version.document) {
            Ok(d) => (v, d),
            Err(_) => current,
        },
        _ => current,
    }
}

#[allow(clippy::too_many_arguments)]
async fn submit(
    state: &AppState,
    principal: Option<&Principal>,
    loaded: Loaded,
    action: String,
    thanks: String,
    headers: &HeaderMap,
    client: &str,
    body: Result<Bytes, BytesRejection>,
    link_lang: Option<&str>,
) -> Response {
    // The form says the language it was shown in (a hidden field).
    let form = body.as_deref().map(form_values).unwrap_or_default();
    let form_lang = form.get("lang").and_then(|v| v.first()).cloned();
    let lang = language(&loaded, form_lang.as_deref().or(link_lang), headers);
    let thanks = format!("{thanks}?lang={}", super::encode(&lang));
    let w = page_words(&lang);
    let title = loaded
        .definition
        .text_in(&loaded.definition.title, &lang)
        .to_string();
    if body.is_err() {
        return message(
            StatusCode::PAYLOAD_TOO_LARGE,
            &lang,
            &title,
            &title,
            &format!(
                "The answer is longer than {} KiB; shorten the free-text answers.",
                MAX_FORM_BYTES >> 10
            ),
        );
    }
    if let Err(wait) = rate_check(state, client, &loaded.survey.public_slug) {
        let mut page = message(
            StatusCode::TOO_MANY_REQUESTS,
            &lang,
            &title,
            &title,
            &w.busy.replace("{seconds}", &wait.to_string()),
        );
        if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
            page.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return page;
    }
    // A bot filled the field people cannot see: thank it, keep nothing.
    if form
        .get(HONEYPOT)
        .is_some_and(|v| v.iter().any(|s| !s.trim().is_empty()))
    {
        tracing::info!(survey = %loaded.survey.name, "a honeypot field was filled; the post was not stored");
        return Redirect::to(&thanks).into_response();
    }
    let (version, definition) = served_version(state, &loaded, &form).await;
    let answers = match definition.answers_from(&form) {
        Ok(a) => a,
        Err(errors) => {
            let submission = form
                .get("submission")
                .and_then(|v| v.first())
                .cloned()
                .unwrap_or_default();
            let shown = Loaded {
                definition,
                ..loaded
            };
            return render_form(
                &shown,
                &lang,
                action,
                &form,
                &errors,
                String::new(),
                submission,
                csrf_of(principal),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let response = match &loaded.link {
        Link::Invitation(i) => response_of(
            &loaded.survey,
            &definition,
            version,
            &lang,
            i.response_id.clone(),
            Some(i.customer_id.clone()),
            &i.segment,
            &i.channel,
            answers,
        ),
        Link::Anonymous { channel } => {
            // The id the form was served with: a second submit of the same
            // form replaces the first. A post without one gets its own.
            let submission = form
                .get("submission")
                .and_then(|v| v.first())
                .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .cloned()
                .unwrap_or_else(|| survey_links::random_id(32));
            response_of(
                &loaded.survey,
                &definition,
                version,
                &lang,
                format!("anon-{}-{submission}", loaded.survey.id),
                None,
                "",
                channel,
                answers,
            )
        }
    };
    match commit(state, response).await {
        Ok(()) => Redirect::to(&thanks).into_response(),
        Err(e) => {
            let (status, wait) = e;
            if status == StatusCode::SERVICE_UNAVAILABLE {
                let mut page = message(
                    status,
                    &lang,
                    &title,
                    &title,
                    &w.busy.replace("{seconds}", &wait.to_string()),
                );
                if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
                    page.headers_mut().insert(header::RETRY_AFTER, v);
                }
                page
            } else {
                server_error(format!("the answer was not stored ({status})"))
            }
        }
    }
}

/// The public rate limits: `Err(seconds to wait)` when over.
pub fn rate_check(state: &AppState, client: &str, survey: &str) -> Result<(), u64> {
    state
        .public_limits
        .check(client, survey)
        .map_err(|limited| limited.retry_after_seconds)
}

/// Stores an answer once its transaction committed: `Err((status, seconds
/// to wait))` when it was not.
pub async fn commit(state: &AppState, response: NewResponse) -> Result<(), (StatusCode, u64)> {
    state.committer.submit(response).await.map_err(|e| {
        let status = e.status();
        if status.is_server_error() && e.retry_after_seconds().is_none() {
            tracing::error!(error = %e, "an answer was not stored");
        }
        (status, e.retry_after_seconds().unwrap_or(1))
    })
}

/// `POST /s/{token}`.
pub async fn submit_invitation(
    State(state): State<AppState>,
    principal: Option<Principal>,
    extensions: axum::http::Extensions,
    Path(token): Path<String>,
    Query(q): Query<LinkQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let loaded = match by_token(&state, &token).await {
        Ok(l) => l,
        Err(page) => return page,
    };
    submit(
        &state,
        principal.as_ref(),
        loaded,
        format!("/s/{token}"),
        format!("/s/{token}/thanks"),
        &headers,
        &crate::auth::client_address(&extensions, &headers, &state.trusted_proxies),
        body,
        q.lang.as_deref(),
    )
    .await
}

/// `POST /s/a/{slug}`.
pub async fn submit_anonymous(
    State(state): State<AppState>,
    principal: Option<Principal>,
    extensions: axum::http::Extensions,
    Path(slug): Path<String>,
    Query(q): Query<LinkQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let loaded = match by_slug(&state, &slug, q.channel.as_deref()).await {
        Ok(l) => l,
        Err(page) => return page,
    };
    let channel = match &loaded.link {
        Link::Anonymous { channel } => channel.clone(),
        Link::Invitation(_) => String::new(),
    };
    submit(
        &state,
        principal.as_ref(),
        loaded,
        format!("/s/a/{slug}?channel={channel}"),
        format!("/s/a/{slug}/thanks"),
        &headers,
        &crate::auth::client_address(&extensions, &headers, &state.trusted_proxies),
        body,
        q.lang.as_deref(),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct ThanksQuery {
    #[serde(default)]
    pub lang: Option<String>,
}

fn thanks_page(definition: &SurveyDefinition, lang: Option<&str>) -> Response {
    let lang = definition.language_for(lang, None).to_string();
    let w = page_words(&lang);
    let title = definition.text_in(&definition.title, &lang);
    message(StatusCode::OK, &lang, title, w.thanks, w.thanks_body)
}

/// `GET /s/{token}/thanks`.
pub async fn invitation_thanks(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<ThanksQuery>,
) -> Response {
    match by_token(&state, &token).await {
        Ok(l) => thanks_page(&l.definition, q.lang.as_deref()),
        Err(page) => page,
    }
}

/// `GET /s/a/{slug}/thanks`.
pub async fn anonymous_thanks(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<ThanksQuery>,
) -> Response {
    // The widget's fallback form thanks here too.
    match by_slug(&state, &slug, Some("web")).await {
        Ok(l) => thanks_page(&l.definition, q.lang.as_deref()),
        Err(page) => page,
    }
}

/// The invitation an opt-out link names (expiry does not matter: an
/// address may always opt out).
async fn opt_out_target(state: &AppState, token: &str) -> Result<Invitation, Response> {
    let w = page_words("en");
    let unknown = || {
        message(
            StatusCode::NOT_FOUND,
            "en",
            "Survey",
            "Unknown link",
            w.unknown,
        )
    };
    if !survey_links::token_shaped(token) {
        return Err(unknown());
    }
    state
        .store
        .backend()
        .invitation_by_token(&survey_links::token_hash(token))
        .await
        .map_err(server_error)?
        .ok_or_else(unknown)
}

/// `GET /opt-out/{token}`: asks (mail scanners open links; a GET changes
/// nothing).
pub async fn opt_out_confirm(
    State(state): State<AppState>,
    principal: Option<Principal>,
    Path(token): Path<String>,
) -> Response {
    let invitation = match opt_out_target(&state, &token).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let w = page_words(&invitation.language);
    if invitation.opted_out {
        return message(
            StatusCode::OK,
            &invitation.language,
            w.opt_out_button,
            w.opt_out_button,
            w.opted_out,
        );
    }
    let page = MessagePage {
        lang: invitation.language.clone(),
        title: w.opt_out_button.to_string(),
        heading: w.opt_out_question.to_string(),
        message: invitation.email.clone(),
        form_action: format!("/opt-out/{token}"),
        button: w.opt_out_button.to_string(),
        csrf: csrf_of(principal.as_ref()),
    };
    match page.render() {
        Ok(html) => public_headers(StatusCode::OK, html),
        Err(e) => server_error(e),
    }
}

/// `POST /opt-out/{token}`: opts the address out of every survey e-mail
/// (the page's button or a mail program's RFC 8058 one-click post).
pub async fn opt_out(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let invitation = match opt_out_target(&state, &token).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    if let Err(e) = state
        .store
        .backend()
        .opt_out(&invitation.email, now_unix())
        .await
    {
        return server_error(e);
    }
    let w = page_words(&invitation.language);
    message(
        StatusCode::OK,
        &invitation.language,
        w.opt_out_button,
        w.opt_out_button,
        w.opted_out,
    )
}
