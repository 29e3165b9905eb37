//! The weekly digest against a real SMTP receiver on loopback: one message
//! per subscribed leader and ambassador, good news first, the unsubscribe
//! link and RFC 8058 headers; unsubscribing (a GET changes nothing); the
//! week claimed once by the schedule; an SMTP failure said clearly and the
//! week not recorded.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use jiff::Timestamp;
use northstar_core::account::Role;
use northstar_core::calendar;
use northstar_server::digest::{self, DigestError, Mailer};
use serde_json::json;

use crate::TestApp;
use crate::departments::{logistics, plant_delivery_story};
use crate::smtp::{Answer, SmtpReceiver};

/// Monday 2026-03-30, 08:00 UTC: the digest covers the 90 days before,
/// which hold the planted March deliveries.
const MONDAY_MORNING: i64 = 1_774_857_600;
const PUBLIC_URL: &str = "https://northstar.example.com";

fn at(unix: i64) -> Timestamp {
    Timestamp::from_second(unix).unwrap()
}

fn mailer(smtp_url: &str) -> Mailer {
    Mailer::new(smtp_url, "Northstar <cx@example.com>", PUBLIC_URL).unwrap()
}

fn week() -> calendar::Day {
    calendar::week_start(calendar::day_of_unix(MONDAY_MORNING))
}

/// Logistics with a leader, an ambassador, the leader again in another
/// case, and an entry that is not an address; the planted delivery story.
async fn logistics_app() -> TestApp {
    let app = TestApp::new().await;
    let mut d = logistics();
    d["ambassadors"] = json!([
        "amb@example.com",
        "Lead@Example.com",
        "not an address",
        "stranger@example.com"
    ]);
    let (status, body) = app.json("POST", "/api/v1/departments", Some(d)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    plant_delivery_story(&app).await;
    // Only active accounts get the digest (a stranger named in the record
    // does not).
    for (email, role) in [
        ("lead@example.com", Role::DepartmentLead),
        ("amb@example.com", Role::Ambassador),
        ("new@example.com", Role::Ambassador),
    ] {
        crate::user_for(
            &*app.store,
            email,
            "a long enough password",
            role,
            Some("logistics"),
        )
        .await;
    }
    app
}

async fn tokens(app: &TestApp) -> Vec<(String, String)> {
    app.store
        .backend()
        .digest_recipients("logistics")
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.email, s.token))
        .collect()
}

#[tokio::test]
async fn a_digest_goes_to_each_recipient_leading_with_good_news() {
    let app = logistics_app().await;
    let receiver = SmtpReceiver::start(Answer::Accept);
    let report = digest::send_now(
        &app.store,
        &mailer(&receiver.url()),
        "logistics",
        at(MONDAY_MORNING),
    )
    .await
    .unwrap();
    assert_eq!(report.delivered, ["amb@example.com", "lead@example.com"]);
    assert!(report.failed.is_empty());
    assert_eq!(report.invalid, ["not an address", "stranger@example.com"]);
    assert_eq!(report.week_start, week());

    let messages = receiver.messages();
    assert_eq!(messages.len(), 2);
    let tokens = tokens(&app).await;
    for (m, (email, token)) in messages.iter().zip(&tokens) {
        assert_eq!(m.rcpt_to, std::slice::from_ref(email));
        assert_eq!(m.mail_from, "cx@example.com");
        let subject = m.header("Subject").unwrap();
        assert!(subject.contains("logistics"), "{subject}");
        let link = format!("{PUBLIC_URL}/unsubscribe/{token}");
        assert_eq!(m.header("List-Unsubscribe"), Some(format!("<{link}>")));
        assert_eq!(
            m.header("List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        let text = m.part("text/plain").unwrap();
        // Good news is the first section, and its first item is the goal met.
        let sections: Vec<usize> = [
            "GOOD NEWS",
            "WHERE CUSTOMERS DISAGREE",
            "ASKS",
            "GOALS AT A GLANCE",
        ]
        .iter()
        .map(|h| {
            text.find(h)
                .unwrap_or_else(|| panic!("{h} missing: {text}"))
        })
        .collect();
        assert!(sections.windows(2).all(|w| w[0] < w[1]), "{text}");
        let first_item = text[sections[0]..]
            .lines()
            .find(|l| l.starts_with("* "))
            .unwrap();
        assert!(
            first_item.contains("Deliveries within target") && first_item.contains("met"),
            "{text}"
        );
        // The disagreement with its evidence, each figure with n and period.
        let disagreement = &text[sections[1]..sections[2]];
        assert!(disagreement.contains("delivery_days"), "{disagreement}");
        assert!(disagreement.contains("n = 200 records"), "{disagreement}");
        assert!(disagreement.contains("n = 200 answers"), "{disagreement}");
        assert!(
            disagreement.contains("answers from 2026-03-01 to 2026-03-28"),
            "{disagreement}"
        );
        assert!(
            text.contains("Figures for 2025-12-30 to 2026-03-29"),
            "{text}"
        );
        assert!(text.contains(&format!("Unsubscribe: {link}")), "{text}");
        let html = m.part("text/html").unwrap();
        assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
        assert!(
            html.find("Good news").unwrap() < html.find("Where customers disagree").unwrap(),
            "{html}"
        );
        // No personal data: the praise's e-mail address is masked.
        assert!(!m.data.contains("ana@example.com"), "{}", m.data);
        assert!(!text.contains("ana@example.com"), "{text}");
    }
    let sent = app
        .store
        .backend()
        .digest_send("logistics", week())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent.recipients, 2);

    // An unknown department is said so, with the known ones.
    let err = digest::send_now(
        &app.store,
        &mailer(&receiver.url()),
        "logistic",
        at(MONDAY_MORNING),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, DigestError::UnknownDepartment { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("logistics"), "{err}");
}

fn anonymous(method: &str, uri: &str, body: &'static str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn an_unsubscribe_sticks_and_a_get_alone_changes_nothing() {
    let app = logistics_app().await;
    let receiver = SmtpReceiver::start(Answer::Accept);
    let mailer = mailer(&receiver.url());
    digest::send_now(&app.store, &mailer, "logistics", at(MONDAY_MORNING))
        .await
        .unwrap();
    let (email, token) = tokens(&app).await.remove(0);
    assert_eq!(email, "amb@example.com");
    let path = format!("/unsubscribe/{token}");

    // Opening the link (as a mail scanner would) only asks.
    for _ in 0..2 {
        let (status, headers, page) = app.raw(anonymous("GET", &path, "")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("<form method=\"post\""), "{page}");
        assert!(page.contains("logistics"), "{page}");
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }
    assert_eq!(tokens(&app).await.len(), 2, "a GET unsubscribed");

    // The mail program's one-click POST (RFC 8058) unsubscribes; again is fine.
    let (status, _, page) = app
        .raw(anonymous("POST", &path, "List-Unsubscribe=One-Click"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("is unsubscribed"), "{page}");
    let (status, _, page) = app.raw(anonymous("POST", &path, "")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("already unsubscribed"), "{page}");
    let (status, _, page) = app.raw(anonymous("GET", &path, "")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !page.contains("<form method=\"post\" action=\"/unsubscribe"),
        "{page}"
    );

    // Unknown or malformed tokens: a clear 404 page, nothing changed.
    for bad in [
        format!("/unsubscribe/{}", "0".repeat(64)),
        "/unsubscribe/abc".into(),
    ] {
        for method in ["GET", "POST"] {
            let (status, _, page) = app.raw(anonymous(method, &bad, "")).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {bad}");
            assert!(page.contains("not known"), "{page}");
        }
    }

    // The next send skips the address, and a department change does not
    // subscribe it again.
    let mut d = logistics();
    d["ambassadors"] = json!(["amb@example.com", "new@example.com"]);
    let (status, body) = app.json("POST", "/api/v1/departments", Some(d)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report = digest::send_now(&app.store, &mailer, "logistics", at(MONDAY_MORNING + 60))
        .await
        .unwrap();
    assert_eq!(report.delivered, ["lead@example.com", "new@example.com"]);
    let to: Vec<String> = receiver.messages()[2..]
        .iter()
        .flat_map(|m| m.rcpt_to.clone())
        .collect();
    assert_eq!(to, ["lead@example.com", "new@example.com"]);
}

#[tokio::test]
async fn the_schedule_sends_once_a_week_from_monday_morning() {
    let app = logistics_app().await;
    let receiver = SmtpReceiver::start(Answer::Accept);
    let mailer = mailer(&receiver.url());
    // Monday 06:00 in the organisation's zone (UTC): not yet.
    let early = MONDAY_MORNING - 2 * 3_600;
    assert!(
        digest::scheduled_round(&app.store, &mailer, at(early))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(receiver.messages().is_empty());
    // 08:00: sent; an hour later, nothing more this week.
    let first = digest::scheduled_round(&app.store, &mailer, at(MONDAY_MORNING))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].as_ref().unwrap().delivered.len(), 2);
    assert_eq!(receiver.messages().len(), 2);
    for later in [3_600, 3 * 86_400, 6 * 86_400 + 15 * 3_600] {
        let again = digest::scheduled_round(&app.store, &mailer, at(MONDAY_MORNING + later))
            .await
            .unwrap();
        assert!(again.is_empty(), "{later}");
    }
    assert_eq!(receiver.messages().len(), 2);
    // A server that starts on Wednesday of the next week still sends it.
    let next = digest::scheduled_round(&app.store, &mailer, at(MONDAY_MORNING + 9 * 86_400))
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].as_ref().unwrap().week_start, week() + 7);
    assert_eq!(receiver.messages().len(), 4);
}

#[tokio::test]
async fn an_smtp_failure_is_said_and_the_week_is_not_recorded() {
    let app = logistics_app().await;
    // A server that refuses the message (554 at the end of DATA).
    let refusing = SmtpReceiver::start(Answer::RejectData);
    let err = digest::send_now(
        &app.store,
        &mailer(&refusing.url()),
        "logistics",
        at(MONDAY_MORNING),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DigestError::Smtp { .. }), "{text}");
    assert!(text.contains("554"), "{text}");
    assert!(
        text.contains("logistics") && text.contains("--smtp-url"),
        "{text}"
    );
    assert!(refusing.messages().is_empty());
    assert!(
        app.store
            .backend()
            .digest_send("logistics", week())
            .await
            .unwrap()
            .is_none()
    );

    // Nobody listening: the schedule's claim is given back.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://{}", closed.local_addr().unwrap());
    drop(closed);
    let round = digest::scheduled_round(&app.store, &mailer(&url), at(MONDAY_MORNING))
        .await
        .unwrap();
    assert_eq!(round.len(), 1);
    let err = round[0].as_ref().unwrap_err();
    assert!(matches!(err, DigestError::Smtp { .. }), "{err}");
    assert!(
        app.store
            .backend()
            .digest_send("logistics", week())
            .await
            .unwrap()
            .is_none()
    );
    // Once the server is back, the next round sends the week.
    let receiver = SmtpReceiver::start(Answer::Accept);
    let round = digest::scheduled_round(
        &app.store,
        &mailer(&receiver.url()),
        at(MONDAY_MORNING + 3_600),
    )
    .await
    .unwrap();
    assert_eq!(round.len(), 1);
    assert_eq!(receiver.messages().len(), 2);
}

#[test]
fn the_configuration_is_checked() {
    let bad = |url: &str, from: &str, public: &str| {
        Mailer::new(url, from, public).unwrap_err().to_string()
    };
    let from = "Northstar <cx@example.com>";
    assert!(bad("mail.example.com", from, PUBLIC_URL).contains("--smtp-url"));
    assert!(bad("http://mail.example.com", from, PUBLIC_URL).contains("smtp or smtps"));
    assert!(bad("smtp://u:secret@mail.example.com:587", from, PUBLIC_URL).contains("tls=required"));
    assert!(bad("smtp://127.0.0.1:25", "nobody", PUBLIC_URL).contains("--mail-from"));
    assert!(bad("smtp://127.0.0.1:25", from, "northstar.example.com").contains("--public-url"));
    assert!(bad("smtp://127.0.0.1:25", from, "ftp://x.example.com").contains("--public-url"));
    // STARTTLS with a password, TLS from the start, and plain on loopback.
    for ok in [
        "smtp://u:secret@mail.example.com:587?tls=required",
        "smtps://u:secret@mail.example.com",
        "smtp://u:secret@127.0.0.1:2525",
    ] {
        let m = Mailer::new(ok, from, PUBLIC_URL).unwrap();
        assert!(!format!("{m:?}").contains("secret"), "{m:?}");
    }
}

#[tokio::test]
async fn a_signed_in_browser_unsubscribes_with_the_page_s_form() {
    let app = logistics_app().await;
    let receiver = SmtpReceiver::start(Answer::Accept);
    digest::send_now(
        &app.store,
        &mailer(&receiver.url()),
        "logistics",
        at(MONDAY_MORNING),
    )
    .await
    .unwrap();
    let (_, token) = tokens(&app).await.remove(0);
    let path = format!("/unsubscribe/{token}");
    // The ambassador's account (made by logistics_app) signs in.
    let (status, headers, _) = app
        .raw(anonymous(
            "POST",
            "/sign-in",
            "email=amb%40example.com&password=a+long+enough+password&next=%2F",
        ))
        .await;
    assert!(status.is_redirection(), "{status}");
    let session = headers
        .get_all("set-cookie")
        .iter()
        .find_map(|v| {
            let v = v.to_str().ok()?;
            Some(
                v.strip_prefix("northstar_session=")?
                    .split(';')
                    .next()?
                    .to_string(),
            )
        })
        .unwrap();
    let with_session = |method: &str, body: String| {
        Request::builder()
            .method(method)
            .uri(&path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("northstar_session={session}"))
            .body(Body::from(body))
            .unwrap()
    };
    let (status, _, page) = app.raw(with_session("GET", String::new())).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[at..at + 64].to_string();
    let (status, _, page) = app.raw(with_session("POST", format!("csrf={csrf}"))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("is unsubscribed"), "{page}");
}
