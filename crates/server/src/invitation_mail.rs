//! The invitation and reminder e-mails, in the invitation's language: the
//! survey's own words when it gives them (`invitation` in its definition),
//! else default texts in the languages below (English otherwise). Every
//! e-mail carries the personal link and an opt-out link, which is also its
//! `List-Unsubscribe` (RFC 2369 / 8058).

use northstar_core::survey::SurveyDefinition;
use northstar_store::survey_records::Invitation;

use crate::digest::DigestMessage;

/// Default words of one language.
pub struct MailWords {
    pub subject: &'static str,
    pub reminder_subject: &'static str,
    pub body: &'static str,
    pub button: &'static str,
    pub expires: &'static str,
    pub opt_out: &'static str,
}

/// Default texts; `{survey}` is the survey's title.
pub fn words(language: &str) -> &'static MailWords {
    let primary = language.split('-').next().unwrap_or_default();
    match primary.to_ascii_lowercase().as_str() {
        "de" => &MailWords {
            subject: "Ihre Meinung zu: {survey}",
            reminder_subject: "Erinnerung: {survey}",
            body: "Wir möchten besser werden und würden gern hören, wie es für Sie war. Die Umfrage dauert etwa zwei Minuten.",
            button: "Zur Umfrage",
            expires: "Der Link ist persönlich und gilt bis",
            opt_out: "Keine Umfragen mehr per E-Mail erhalten",
        },
        "fr" => &MailWords {
            subject: "Votre avis sur : {survey}",
            reminder_subject: "Rappel : {survey}",
            body: "Nous voulons nous améliorer et aimerions savoir comment cela s'est passé pour vous. L'enquête prend environ deux minutes.",
            button: "Répondre à l'enquête",
            expires: "Ce lien est personnel et valable jusqu'au",
            opt_out: "Ne plus recevoir d'enquêtes par e-mail",
        },
        "es" => &MailWords {
            subject: "Su opinión sobre: {survey}",
            reminder_subject: "Recordatorio: {survey}",
            body: "Queremos mejorar y nos gustaría saber cómo fue su experiencia. La encuesta dura unos dos minutos.",
            button: "Responder la encuesta",
            expires: "El enlace es personal y vale hasta el",
            opt_out: "No recibir más encuestas por correo",
        },
        "nl" => &MailWords {
            subject: "Uw mening over: {survey}",
            reminder_subject: "Herinnering: {survey}",
            body: "We willen beter worden en horen graag hoe het voor u was. De enquête duurt ongeveer twee minuten.",
            button: "Naar de enquête",
            expires: "De link is persoonlijk en geldig tot",
            opt_out: "Geen enquêtes meer per e-mail ontvangen",
        },
        _ => &MailWords {
            subject: "Your opinion on: {survey}",
            reminder_subject: "Reminder: {survey}",
            body: "We want to do better and would like to hear how it was for you. The survey takes about two minutes.",
            button: "Answer the survey",
            expires: "The link is personal and works until",
            opt_out: "Stop receiving surveys by e-mail",
        },
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The e-mail for one invitation.
pub fn compose(
    definition: &SurveyDefinition,
    invitation: &Invitation,
    link: &str,
    opt_out_link: &str,
    reminder: bool,
) -> DigestMessage {
    let language = invitation.language.as_str();
    let w = words(language);
    let title = definition.text_in(&definition.title, language);
    let own = definition.invitation.as_ref();
    let subject_template = match own {
        Some(t) if !reminder => definition.text_in(&t.subject, language),
        _ if reminder => w.reminder_subject,
        _ => w.subject,
    };
    let subject = subject_template.replace("{survey}", title);
    let body = own
        .map(|t| definition.text_in(&t.body, language))
        .unwrap_or(w.body)
        .replace("{survey}", title);
    let expires = jiff::Timestamp::from_second(invitation.expires_unix)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let text = format!(
        "{title}\n\n{body}\n\n{button}: {link}\n\n{expires_words} {expires}.\n\n{opt_out}: {opt_out_link}\n",
        button = w.button,
        expires_words = w.expires,
        opt_out = w.opt_out,
    );
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><body style=\"font-family:sans-serif;color:#1a1a1a;max-width:36em\">\
         <h1 style=\"font-size:1.3em\">{title}</h1><p>{body}</p>\
         <p><a href=\"{link}\" style=\"display:inline-block;background:#0b5394;color:#fff;padding:.6em 1.2em;text-decoration:none;border-radius:4px\">{button}</a></p>\
         <p style=\"color:#444;font-size:.9em\">{expires_words} {expires}.</p>\
         <p style=\"color:#444;font-size:.9em\"><a href=\"{opt_out_link}\" style=\"color:#444\">{opt_out}</a></p></body></html>",
        lang = escape(language),
        title = escape(title),
        body = escape(&body),
        link = escape(link),
        button = escape(w.button),
        expires_words = escape(w.expires),
        opt_out_link = escape(opt_out_link),
        opt_out = escape(w.opt_out),
    );
    DigestMessage {
        subject,
        text,
        html,
    }
}
