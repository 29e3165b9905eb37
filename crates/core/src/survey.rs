//! Survey programs (issue 12 groundwork): a survey's definition — its
//! questions in several languages, the touchpoint, department, journey stage
//! and department goals it is designed for (seed 001: partner with department
//! leaders before designing the feedback program) — checked field by field,
//! the language a respondent gets (`Accept-Language`, RFC 9110 §12.5.4), and
//! a submitted form turned into the answers a response stores, with an error
//! per field that keeps what was typed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::field::{FieldError, TextLimit};

/// Most questions in one survey.
pub const MAX_QUESTIONS: usize = 50;
/// Most options of a choice question.
pub const MAX_OPTIONS: usize = 20;
/// Most languages a survey is written in.
pub const MAX_LANGUAGES: usize = 10;
/// Most goals a survey names.
pub const MAX_GOALS: usize = 20;
/// Question and option texts, titles.
pub const SURVEY_TEXT: TextLimit = TextLimit {
    applies_to: "survey texts",
    max_chars: 1_000,
};
/// A free-text answer.
pub const ANSWER_TEXT: TextLimit = TextLimit {
    applies_to: "free-text answers",
    max_chars: 5_000,
};
/// Keys of questions and options, language tags.
const KEY_CHARS: usize = 40;

/// A text in each of the survey's languages (`{"en": "…", "de": "…"}`).
pub type Translations = BTreeMap<String, String>;

/// What a question asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum QuestionKind {
    /// 0–10, stored as the response's NPS.
    Nps,
    /// 1–5, stored as CSAT.
    Csat,
    /// 1–7, stored as CES.
    Ces,
    /// Yes/no, stored as FCR.
    Fcr,
    /// 1–5 rating of one named driver (`driver_<name>`).
    Driver { driver: String },
    /// One of the options.
    SingleChoice { options: Vec<ChoiceOption> },
    /// Any of the options.
    MultipleChoice { options: Vec<ChoiceOption> },
    /// Free text, stored as the comment (the first such question) or as an
    /// attribute.
    Text,
}

/// An option of a choice question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceOption {
    /// What is stored (`too_slow`).
    pub key: String,
    pub label: Translations,
}

/// One question (its kind flattened in: serde cannot refuse unknown
/// fields through a flatten).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// Names the form field and, for choices and texts, the attribute.
    pub key: String,
    #[serde(flatten)]
    pub kind: QuestionKind,
    /// The question as worded, per language.
    pub text: Translations,
    #[serde(default)]
    pub required: bool,
}

/// A survey as designed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyDefinition {
    /// As the `survey` dimension spells it (`post_delivery`).
    pub name: String,
    pub title: Translations,
    /// The first is the default.
    pub languages: Vec<String>,
    pub touchpoint: String,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub journey_stage: Option<String>,
    /// Titles of the department goals the survey complements.
    #[serde(default)]
    pub goals: Vec<String>,
    pub questions: Vec<Question>,
    /// Whether anyone with the survey's link may answer (else invitations
    /// only).
    #[serde(default)]
    pub anonymous_links: bool,
    /// Web origins (`https://shop.example.com`) whose pages may post the
    /// embeddable widget's answers (CORS); none: the widget is off.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// The invitation e-mail's subject and opening text per language
    /// (`{survey}` is replaced by the title); default texts otherwise.
    #[serde(default)]
    pub invitation: Option<InvitationText>,
}

/// An invitation e-mail's own words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationText {
    pub subject: Translations,
    pub body: Translations,
}

/// Most origins the widget may be embedded in.
pub const MAX_ORIGINS: usize = 20;

/// Attributes every survey answer carries (its version and language) and
/// the form's own fields (the submission's id, the honeypot, the language),
/// so no question may be keyed so.
pub const RESERVED_KEYS: [&str; 5] = [
    "survey_version",
    "survey_language",
    "submission",
    "website",
    "lang",
];

/// Whether `origin` is a web origin as browsers send it: `http(s)://host`
/// with an optional port, nothing after (RFC 6454).
pub fn origin_ok(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let Some(rest) = rest else { return false };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    origin.len() <= 200
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn key_ok(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= KEY_CHARS
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn language_ok(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 20
        && tag.split('-').all(|part| {
            !part.is_empty() && part.len() <= 8 && part.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

impl SurveyDefinition {
    /// Every problem, each naming its field (`questions[2].text.de`).
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let text = |errors: &mut Vec<FieldError>, field: &str, value: &str| {
            if value.trim().is_empty() {
                errors.push(FieldError::new(field, "is empty", "write it out"));
            } else if let Err(e) = crate::field::within(field, value, SURVEY_TEXT) {
                errors.push(e);
            }
        };
        if !key_ok(&self.name) {
            errors.push(FieldError::new(
                "name",
                format!("{:?} is not a survey name", self.name),
                "use lower-case letters, digits and _ (post_delivery), at most 40",
            ));
        }
        if self.languages.is_empty() || self.languages.len() > MAX_LANGUAGES {
            errors.push(FieldError::new(
                "languages",
                format!("has {} entries", self.languages.len()),
                format!("give 1 to {MAX_LANGUAGES} language tags, the default first (en, de)"),
            ));
        }
        for (i, l) in self.languages.iter().enumerate() {
            if !language_ok(l) || self.languages[..i].contains(l) {
                errors.push(FieldError::new(
                    format!("languages[{i}]"),
                    format!("{l:?} is not a language tag, or is given twice"),
                    "use tags such as en, de or pt-BR, each once",
                ));
            }
        }
        let translated = |errors: &mut Vec<FieldError>, field: &str, t: &Translations| {
            for l in &self.languages {
                match t.get(l) {
                    Some(v) => text(errors, &format!("{field}.{l}"), v),
                    None => errors.push(FieldError::new(
                        format!("{field}.{l}"),
                        "is missing",
                        format!(
                            "write it in every language of the survey ({})",
                            self.languages.join(", ")
                        ),
                    )),
                }
            }
            for l in t.keys().filter(|l| !self.languages.contains(l)) {
                errors.push(FieldError::new(
                    format!("{field}.{l}"),
                    format!("{l:?} is not one of the survey's languages"),
                    "add the language to languages or remove the text",
                ));
            }
        };
        translated(&mut errors, "title", &self.title);
        if let Err(e) = crate::field::within(
            "touchpoint",
            &self.touchpoint,
            crate::field::DIMENSION_LIMIT,
        ) {
            errors.push(e);
        }
        if self.touchpoint.trim().is_empty() {
            errors.push(FieldError::new(
                "touchpoint",
                "is empty",
                "name the touchpoint the survey is about (delivery)",
            ));
        }
        if self.goals.len() > MAX_GOALS {
            errors.push(FieldError::new(
                "goals",
                format!("has {} entries; the limit is {MAX_GOALS}", self.goals.len()),
                "name the goals the survey is designed for",
            ));
        }
        if self.allowed_origins.len() > MAX_ORIGINS {
            errors.push(FieldError::new(
                "allowed_origins",
                format!(
                    "has {} entries; the limit is {MAX_ORIGINS}",
                    self.allowed_origins.len()
                ),
                "name the sites the widget is embedded in",
            ));
        }
        for (i, o) in self.allowed_origins.iter().enumerate() {
            if !origin_ok(o) {
                errors.push(FieldError::new(
                    format!("allowed_origins[{i}]"),
                    format!("{o:?} is not a web origin"),
                    "write scheme and host in lower case, an optional port, no path (https://shop.example.com)",
                ));
            }
        }
        if let Some(inv) = &self.invitation {
            translated(&mut errors, "invitation.subject", &inv.subject);
            translated(&mut errors, "invitation.body", &inv.body);
        }
        if self.questions.is_empty() || self.questions.len() > MAX_QUESTIONS {
            errors.push(FieldError::new(
                "questions",
                format!("has {} entries", self.questions.len()),
                format!("ask 1 to {MAX_QUESTIONS} questions"),
            ));
            return Err(errors);
        }
        let mut keys = std::collections::BTreeSet::new();
        let mut scored = std::collections::BTreeSet::new();
        for (i, q) in self.questions.iter().enumerate() {
            let at = format!("questions[{i}]");
            if !key_ok(&q.key) || !keys.insert(q.key.as_str()) {
                errors.push(FieldError::new(
                    format!("{at}.key"),
                    format!("{:?} is not a key, or is used twice", q.key),
                    "use lower-case letters, digits and _, unique in the survey",
                ));
            } else if RESERVED_KEYS.contains(&q.key.as_str()) {
                errors.push(FieldError::new(
                    format!("{at}.key"),
                    format!("{:?} is kept for Northstar's own use", q.key),
                    "choose another key",
                ));
            }
            translated(&mut errors, &format!("{at}.text"), &q.text);
            let single = match &q.kind {
                QuestionKind::Nps => Some("nps"),
                QuestionKind::Csat => Some("csat"),
                QuestionKind::Ces => Some("ces"),
                QuestionKind::Fcr => Some("fcr"),
                _ => None,
            };
            if let Some(column) = single
                && !scored.insert(column)
            {
                errors.push(FieldError::new(
                    format!("{at}.type"),
                    format!("a survey asks {column} once (a response stores one {column})"),
                    "remove the second question",
                ));
            }
            match &q.kind {
                QuestionKind::Driver { driver } if !key_ok(driver) => {
                    errors.push(FieldError::new(
                        format!("{at}.driver"),
                        format!("{driver:?} is not a driver name"),
                        "use lower-case letters, digits and _ (delivery_speed)",
                    ));
                }
                QuestionKind::SingleChoice { options }
                | QuestionKind::MultipleChoice { options } => {
                    if options.len() < 2 || options.len() > MAX_OPTIONS {
                        errors.push(FieldError::new(
                            format!("{at}.options"),
                            format!("has {} options", options.len()),
                            format!("offer 2 to {MAX_OPTIONS} options"),
                        ));
                    }
                    let mut seen = std::collections::BTreeSet::new();
                    for (j, o) in options.iter().enumerate() {
                        if !key_ok(&o.key) || !seen.insert(o.key.as_str()) {
                            errors.push(FieldError::new(
                                format!("{at}.options[{j}].key"),
                                format!("{:?} is not a key, or is used twice", o.key),
                                "use lower-case letters, digits and _, unique in the question",
                            ));
                        }
                        translated(&mut errors, &format!("{at}.options[{j}].label"), &o.label);
                    }
                }
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The survey's language for an `Accept-Language` header (or a `lang`
    /// from the link, which wins): the highest-weighted tag it is written
    /// in, matching a bare language to a regional tag and back; else the
    /// default (the first).
    pub fn language_for(&self, link: Option<&str>, accept_language: Option<&str>) -> &str {
        let default = self.languages.first().map_or("en", String::as_str);
        if let Some(l) = link.and_then(|l| self.find_language(l)) {
            return l;
        }
        let Some(header) = accept_language else {
            return default;
        };
        let mut wanted: Vec<(f64, usize, &str)> = header
            .split(',')
            .take(32)
            .enumerate()
            .filter_map(|(i, part)| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim();
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f64>().ok())?;
                (q > 0.0 && q <= 1.0 && !tag.is_empty()).then_some((q, i, tag))
            })
            .collect();
        wanted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        wanted
            .iter()
            .find_map(|(_, _, tag)| self.find_language(tag))
            .unwrap_or(default)
    }

    /// The widget's question (the first NPS or CSAT question) and its
    /// optional follow-up (the first free-text question).
    pub fn widget_questions(&self) -> Option<(&Question, Option<&Question>)> {
        let score = self
            .questions
            .iter()
            .find(|q| matches!(q.kind, QuestionKind::Nps | QuestionKind::Csat))?;
        let follow_up = self
            .questions
            .iter()
            .find(|q| matches!(q.kind, QuestionKind::Text));
        Some((score, follow_up))
    }

    /// A text in `language`, else in the default language.
    pub fn text_in<'a>(&self, t: &'a Translations, language: &str) -> &'a str {
        t.get(language)
            .or_else(|| self.languages.first().and_then(|l| t.get(l)))
            .or_else(|| t.values().next())
            .map_or("", String::as_str)
    }

    fn find_language(&self, tag: &str) -> Option<&str> {
        let tag = tag.to_ascii_lowercase();
        let primary = tag.split('-').next().unwrap_or_default().to_string();
        self.languages
            .iter()
            .find(|l| l.to_ascii_lowercase() == tag)
            .or_else(|| {
                self.languages.iter().find(|l| {
                    let l = l.to_ascii_lowercase();
                    l == primary || l.split('-').next() == Some(primary.as_str())
                })
            })
            .map(String::as_str)
    }
}

/// What a submitted form answered, as a response stores it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SurveyAnswers {
    pub nps: Option<u8>,
    pub csat: Option<u8>,
    pub ces: Option<u8>,
    pub fcr: Option<bool>,
    pub comment: Option<String>,
    pub drivers: BTreeMap<String, u8>,
    /// Choice and further text answers, by question key (several choices
    /// joined with `|`).
    pub attributes: BTreeMap<String, String>,
}

fn scale(field: &str, raw: &str, low: u8, high: u8) -> Result<u8, FieldError> {
    raw.trim()
        .parse::<u8>()
        .ok()
        .filter(|v| (low..=high).contains(v))
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!(
                    "{:?} is not a whole number from {low} to {high}",
                    raw.trim()
                ),
                format!("choose one of {low} to {high}"),
            )
        })
}

impl SurveyDefinition {
    /// Reads a submitted form (field name → values; a multiple choice
    /// sends several) into answers; every wrong or missing required answer
    /// is an error naming its question's key, so the form can be shown
    /// again with what was typed.
    pub fn answers_from(
        &self,
        form: &BTreeMap<String, Vec<String>>,
    ) -> Result<SurveyAnswers, Vec<FieldError>> {
        let mut out = SurveyAnswers::default();
        let mut errors = Vec::new();
        for q in &self.questions {
            let values: Vec<&str> = form
                .get(&q.key)
                .map(|v| {
                    v.iter()
                        .map(|s| s.trim())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            if values.is_empty() {
                if q.required {
                    errors.push(FieldError::new(
                        q.key.clone(),
                        "is not answered",
                        "answer this question (it is required)",
                    ));
                }
                continue;
            }
            let one = || -> Result<&str, FieldError> {
                match values.as_slice() {
                    [v] => Ok(*v),
                    _ => Err(FieldError::new(
                        q.key.clone(),
                        format!("has {} answers", values.len()),
                        "choose one",
                    )),
                }
            };
            let result: Result<(), FieldError> = (|| {
                match &q.kind {
                    QuestionKind::Nps => out.nps = Some(scale(&q.key, one()?, 0, 10)?),
                    QuestionKind::Csat => out.csat = Some(scale(&q.key, one()?, 1, 5)?),
                    QuestionKind::Ces => out.ces = Some(scale(&q.key, one()?, 1, 7)?),
                    QuestionKind::Fcr => {
                        out.fcr = Some(match one()? {
                            "yes" => true,
                            "no" => false,
                            other => {
                                return Err(FieldError::new(
                                    q.key.clone(),
                                    format!("{other:?} is not yes or no"),
                                    "choose yes or no",
                                ));
                            }
                        });
                    }
                    QuestionKind::Driver { driver } => {
                        out.drivers
                            .insert(driver.clone(), scale(&q.key, one()?, 1, 5)?);
                    }
                    QuestionKind::SingleChoice { options } => {
                        let v = one()?;
                        if !options.iter().any(|o| o.key == v) {
                            return Err(FieldError::new(
                                q.key.clone(),
                                format!("{v:?} is not one of the options"),
                                "choose one of the options shown",
                            ));
                        }
                        out.attributes.insert(q.key.clone(), v.to_string());
                    }
                    QuestionKind::MultipleChoice { options } => {
                        let mut chosen = Vec::new();
                        for v in &values {
                            if !options.iter().any(|o| o.key == *v) {
                                return Err(FieldError::new(
                                    q.key.clone(),
                                    format!("{v:?} is not one of the options"),
                                    "choose among the options shown",
                                ));
                            }
                            if !chosen.contains(v) {
                                chosen.push(*v);
                            }
                        }
                        chosen.sort_unstable();
                        out.attributes.insert(q.key.clone(), chosen.join("|"));
                    }
                    QuestionKind::Text => {
                        let v = values.join("\n");
                        crate::field::within(&q.key, &v, ANSWER_TEXT)?;
                        if out.comment.is_none() {
                            out.comment = Some(v);
                        } else {
                            out.attributes.insert(q.key.clone(), v);
                        }
                    }
                }
                Ok(())
            })();
            if let Err(e) = result {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey() -> SurveyDefinition {
        serde_json::from_str(
            r#"{
              "name": "post_delivery", "title": {"en": "Your delivery", "de": "Ihre Lieferung"},
              "languages": ["en", "de"], "touchpoint": "delivery", "department": "logistics",
              "journey_stage": "fulfilment", "goals": ["95% of deliveries within the 5-day target"],
              "questions": [
                {"key": "nps", "type": "nps", "required": true,
                 "text": {"en": "How likely are you to recommend us?", "de": "Wie wahrscheinlich empfehlen Sie uns?"}},
                {"key": "speed", "type": "driver", "driver": "delivery_speed",
                 "text": {"en": "Speed of delivery", "de": "Liefergeschwindigkeit"}},
                {"key": "fcr", "type": "fcr", "text": {"en": "Solved?", "de": "Gelöst?"}},
                {"key": "why", "type": "multiple_choice", "text": {"en": "What mattered?", "de": "Was zählte?"},
                 "options": [{"key": "speed", "label": {"en": "Speed", "de": "Tempo"}},
                             {"key": "updates", "label": {"en": "Updates", "de": "Updates"}}]},
                {"key": "comment", "type": "text", "text": {"en": "Anything else?", "de": "Sonst noch etwas?"}}
              ]
            }"#,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry((*k).to_string())
                .or_default()
                .push((*v).to_string());
        }
        m
    }

    #[test]
    fn a_good_survey_passes_and_a_bad_one_names_each_field() {
        survey().check().unwrap_or_else(|e| panic!("{e:?}"));
        let mut bad = survey();
        bad.questions[0].text.remove("de");
        bad.questions[2].kind = QuestionKind::Nps;
        bad.languages.push("en".into());
        if let QuestionKind::MultipleChoice { options } = &mut bad.questions[3].kind {
            options.truncate(1);
        }
        let fields: Vec<String> = bad
            .check()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        for f in [
            "questions[0].text.de",
            "questions[2].type",
            "languages[2]",
            "questions[3].options",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
        }
    }

    #[test]
    fn answers_are_read_and_every_bad_one_is_named() {
        let s = survey();
        let a = s
            .answers_from(&form(&[
                ("nps", "9"),
                ("speed", "4"),
                ("fcr", "yes"),
                ("why", "updates"),
                ("why", "speed"),
                ("comment", " Great "),
            ]))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(a.nps, Some(9));
        assert_eq!(a.drivers.get("delivery_speed"), Some(&4));
        assert_eq!(a.fcr, Some(true));
        assert_eq!(
            a.attributes.get("why").map(String::as_str),
            Some("speed|updates")
        );
        assert_eq!(a.comment.as_deref(), Some("Great"));
        let errors = s
            .answers_from(&form(&[("speed", "6"), ("why", "price"), ("fcr", "maybe")]))
            .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["nps", "speed", "fcr", "why"]);
        assert!(errors[0].problem.contains("not answered"));
    }

    #[test]
    fn the_language_follows_the_link_then_accept_language_then_the_default() {
        let s = survey();
        assert_eq!(s.language_for(None, None), "en");
        assert_eq!(
            s.language_for(None, Some("fr-CH, de-AT;q=0.8, en;q=0.5")),
            "de"
        );
        assert_eq!(s.language_for(None, Some("en;q=0.2, de;q=0.9")), "de");
        assert_eq!(s.language_for(None, Some("fr, it;q=0.5")), "en");
        assert_eq!(s.language_for(Some("de"), Some("en")), "de");
        assert_eq!(s.language_for(Some("xx"), Some("de;q=0")), "en");
    }

    #[test]
    fn origins_reserved_keys_and_invitation_texts_are_checked() {
        let mut s = survey();
        s.allowed_origins = vec![
            "https://shop.example.com".into(),
            "http://127.0.0.1:8080".into(),
            "https://shop.example.com/path".into(),
            "*".into(),
        ];
        s.questions[4].key = "website".into();
        s.invitation = Some(InvitationText {
            subject: [("en".to_string(), "About {survey}".to_string())].into(),
            body: [
                ("en".to_string(), "Tell us".to_string()),
                ("de".to_string(), "Sagen Sie".to_string()),
            ]
            .into(),
        });
        let errors = s.check().err().unwrap_or_default();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "allowed_origins[2]",
                "allowed_origins[3]",
                "invitation.subject.de",
                "questions[4].key"
            ]
        );
        assert!(origin_ok("http://localhost:3000"));
        assert!(!origin_ok("https://Shop.example.com"));
        assert!(!origin_ok("https://shop.example.com:"));
        let plain = survey();
        let (score, follow_up) = plain.widget_questions().unwrap_or_else(|| panic!("none"));
        assert_eq!(score.key, "nps");
        assert_eq!(follow_up.map(|q| q.key.as_str()), Some("comment"));
    }
}
