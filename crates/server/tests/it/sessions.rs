//! Signing in and out through the real router: cookies, one message for
//! every failure, throttling, fresh session ids, expiry and CSRF.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use northstar_core::account::{Role, SESSION_POLICY, SIGN_IN_THROTTLE};
use northstar_store::accounts::{self, AuditQuery};

use crate::{TestApp, user_for};

const PASSWORD: &str = "correct horse battery";

fn form_post(uri: &str, body: &str, cookie: Option<&str>) -> axum::http::request::Builder {
    let mut b = Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header("cookie", format!("northstar_session={c}"));
    }
    let _ = body;
    b
}

async fn sign_in(
    app: &TestApp,
    email: &str,
    password: &str,
    cookie: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    let body = format!(
        "email={}&password={}&next=%2F%3Fsegment%3Dsmb",
        email.replace('@', "%40"),
        password.replace(' ', "+")
    );
    app.raw(
        form_post("/sign-in", &body, cookie)
            .body(Body::from(body.clone()))
            .unwrap(),
    )
    .await
}

/// The session token a response sets.
fn session_of(headers: &HeaderMap) -> Option<String> {
    headers.get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let value = v.strip_prefix("northstar_session=")?.split(';').next()?;
        (!value.is_empty()).then(|| value.to_string())
    })
}

async fn get_with_cookie(
    app: &TestApp,
    uri: &str,
    cookie: &str,
) -> (StatusCode, HeaderMap, String) {
    app.raw(
        Request::get(uri)
            .header("cookie", format!("northstar_session={cookie}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..at + 64].to_string()
}

#[tokio::test]
async fn signing_in_sets_a_safe_cookie_and_leads_back() {
    let app = TestApp::new().await;
    user_for(
        &*app.store,
        "lead@example.com",
        PASSWORD,
        Role::CxLead,
        None,
    )
    .await;
    // Not signed in: pages send to the sign-in page, keeping where we were.
    let (status, headers, _) = app
        .raw(Request::get("/?segment=smb").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/sign-in?next=%2F%3Fsegment%3Dsmb");
    let (status, _, html) = app
        .raw(
            Request::get("/sign-in?next=/x")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<label for=\"password\">Password</label>"));

    let (status, headers, _) = sign_in(&app, "Lead@Example.com", PASSWORD, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/?segment=smb");
    let set = headers["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let session = session_of(&headers).unwrap();
    let (status, _, html) = get_with_cookie(&app, "/", &session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("lead@example.com (cx_lead)"),
        "the header says who"
    );

    // Behind a TLS proxy the cookie is Secure.
    let body = format!(
        "email=lead%40example.com&password={}",
        PASSWORD.replace(' ', "+")
    );
    let (_, headers, _) = app
        .raw(
            form_post("/sign-in", &body, None)
                .header("x-forwarded-proto", "https")
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    assert!(headers["set-cookie"].to_str().unwrap().contains("Secure"));

    let audit = app
        .store
        .backend()
        .audit_entries(&AuditQuery {
            action: Some("sign_in".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 2, "{audit:?}");
}

#[tokio::test]
async fn every_failure_reads_the_same_and_is_throttled() {
    let app = TestApp::new().await;
    user_for(
        &*app.store,
        "known@example.com",
        PASSWORD,
        Role::Viewer,
        None,
    )
    .await;
    user_for(
        &*app.store,
        "gone@example.com",
        PASSWORD,
        Role::Viewer,
        None,
    )
    .await;
    app.store
        .backend()
        .update_user(
            "gone@example.com",
            &accounts::UserChange {
                disabled: Some(true),
                ..Default::default()
            },
            1,
        )
        .await
        .unwrap();
    let message = |html: &str| {
        let at = html.find("role=\"alert\">").unwrap() + 13;
        html[at..at + html[at..].find('<').unwrap()].to_string()
    };
    let (s1, h1, wrong_password) =
        sign_in(&app, "known@example.com", "wrong password!", None).await;
    let (s2, _, unknown) = sign_in(&app, "nobody@example.com", "wrong password!", None).await;
    let (s3, _, disabled) = sign_in(&app, "gone@example.com", PASSWORD, None).await;
    assert_eq!(
        (s1, s2, s3),
        (
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED
        )
    );
    assert!(session_of(&h1).is_none());
    assert_eq!(message(&wrong_password), message(&unknown));
    assert_eq!(message(&unknown), message(&disabled));

    // The account is throttled after its failures, right password or not,
    // and an unknown account reads the same.
    for _ in 1..SIGN_IN_THROTTLE.per_account {
        sign_in(&app, "known@example.com", "wrong password!", None).await;
        sign_in(&app, "nobody@example.com", "wrong password!", None).await;
    }
    let (status, headers, known) = sign_in(&app, "known@example.com", PASSWORD, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(session_of(&headers).is_none());
    let (status, _, unknown) = sign_in(&app, "nobody@example.com", PASSWORD, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(message(&known), message(&unknown));
    assert!(
        message(&known).contains("wait 15 minutes"),
        "{}",
        message(&known)
    );

    let failed = app
        .store
        .backend()
        .audit_entries(&AuditQuery {
            action: Some("sign_in.failed".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        failed.len(),
        3 + 2 * (SIGN_IN_THROTTLE.per_account as usize - 1)
    );
    // Refused attempts are not counted: the lockout does not renew itself.
    let key = northstar_store::accounts::sign_in_account_key("known@example.com");
    let counted = || async { app.store.backend().sign_in_failures(&key, 0).await.unwrap() };
    let before = counted().await;
    for _ in 0..3 {
        sign_in(&app, "known@example.com", PASSWORD, None).await;
    }
    assert_eq!(counted().await, before);
    // An admin's new password lifts the lockout (and is audited).
    let (status, html) = app
        .send_form(
            "/admin/users/password",
            "email=known@example.com&password=a+brand+new+passphrase",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("has a new password"), "{html}");
    assert_eq!(counted().await, 0);
    let (status, _, _) = sign_in(&app, "known@example.com", PASSWORD, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    let (status, headers, _) =
        sign_in(&app, "known@example.com", "a brand new passphrase", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(session_of(&headers).is_some());
    let (status, html) = app
        .send_form(
            "/admin/users/password",
            "email=known@example.com&password=short",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("at least 12 are needed"), "{html}");
    let (_, csv) = app.request("GET", "/admin/audit.csv", None).await;
    assert!(csv.contains("user.set_password,known@example.com"), "{csv}");
}

#[tokio::test]
async fn a_session_planted_before_sign_in_does_not_survive_it() {
    let app = TestApp::new().await;
    user_for(
        &*app.store,
        "victim@example.com",
        PASSWORD,
        Role::Admin,
        None,
    )
    .await;
    user_for(
        &*app.store,
        "attacker@example.com",
        PASSWORD,
        Role::Viewer,
        None,
    )
    .await;
    let (_, headers, _) = sign_in(&app, "attacker@example.com", PASSWORD, None).await;
    let planted = session_of(&headers).unwrap();
    // The victim signs in with the planted cookie in their browser.
    let (status, headers, _) = sign_in(&app, "victim@example.com", PASSWORD, Some(&planted)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let fresh = session_of(&headers).unwrap();
    assert_ne!(fresh, planted, "a new session id at sign-in");
    let (status, headers, _) = get_with_cookie(&app, "/", &planted).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the planted session ended");
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/sign-in")
    );
    let (status, _, html) = get_with_cookie(&app, "/admin", &fresh).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("victim@example.com"));
}

#[tokio::test]
async fn sessions_end_when_idle_or_old() {
    let app = TestApp::new().await;
    user_for(&*app.store, "a@example.com", PASSWORD, Role::Viewer, None).await;
    let user = app.store.backend().users().await.unwrap()[0].clone();
    let now = northstar_server::auth::now_unix();
    let cases = [
        (
            "idle",
            now - 10,
            now - SESSION_POLICY.idle_seconds - 1,
            false,
        ),
        (
            "old",
            now - SESSION_POLICY.absolute_seconds - 1,
            now - 5,
            false,
        ),
        ("live", now - 3600, now - 5, true),
    ];
    for (name, created, seen, live) in cases {
        let token = accounts::new_token();
        let backend = app.store.backend();
        backend
            .insert_session(&accounts::token_hash(&token), user.id, "csrf", created)
            .await
            .unwrap();
        backend
            .touch_session(&accounts::token_hash(&token), seen)
            .await
            .unwrap();
        let (status, _, _) = get_with_cookie(&app, "/", &token).await;
        assert_eq!(status == StatusCode::OK, live, "{name}: {status}");
    }
}

#[tokio::test]
async fn cookie_posts_need_our_origin_and_the_form_token() {
    let app = TestApp::new().await;
    user_for(
        &*app.store,
        "admin@example.com",
        PASSWORD,
        Role::Admin,
        None,
    )
    .await;
    let (_, headers, _) = sign_in(&app, "admin@example.com", PASSWORD, None).await;
    let session = session_of(&headers).unwrap();
    let (_, _, html) = get_with_cookie(&app, "/admin", &session).await;
    let csrf = csrf_of(&html);
    let add = |csrf: &str| {
        format!(
            "csrf={csrf}&email=new%40example.com&role=viewer&department=&password=another+long+password"
        )
    };
    let post = |body: String, extra: Option<(&'static str, &'static str)>| {
        let mut b =
            form_post("/admin/users", &body, Some(&session)).header("host", "northstar.test");
        if let Some((k, v)) = extra {
            b = b.header(k, v);
        }
        b.body(Body::from(body)).unwrap()
    };
    for (name, request) in [
        ("no token", post(add(""), None)),
        ("wrong token", post(add(&"0".repeat(64)), None)),
        (
            "other site by Origin",
            post(add(&csrf), Some(("origin", "https://evil.example"))),
        ),
        (
            "other site by Fetch metadata",
            post(add(&csrf), Some(("sec-fetch-site", "cross-site"))),
        ),
        ("null origin", post(add(&csrf), Some(("origin", "null")))),
    ] {
        let (status, _, _) = app.raw(request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
    }
    assert_eq!(
        app.store.backend().users().await.unwrap().len(),
        1,
        "nothing was added"
    );
    let (status, _, html) = app
        .raw(post(add(&csrf), Some(("origin", "http://northstar.test"))))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("added new@example.com"));
    // The sign-in form itself refuses other sites (login CSRF).
    let body = format!(
        "email=admin%40example.com&password={}",
        PASSWORD.replace(' ', "+")
    );
    let (status, _, _) = app
        .raw(
            form_post("/sign-in", &body, None)
                .header("sec-fetch-site", "cross-site")
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Signing out needs the token too, then the session is gone.
    let (status, _, _) = app
        .raw(
            form_post("/sign-out", "", Some(&session))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let body = format!("csrf={csrf}");
    let (status, headers, _) = app
        .raw(
            form_post("/sign-out", &body, Some(&session))
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _, _) = get_with_cookie(&app, "/admin", &session).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_or_disabled() {
    let app = TestApp::new().await;
    user_for(&*app.store, "only@example.com", PASSWORD, Role::Admin, None).await;
    for body in [
        "email=only%40example.com&role=viewer&department=".to_string(),
        "email=only%40example.com&disabled=yes".to_string(),
    ] {
        let uri = if body.contains("disabled") {
            "/admin/users/disable"
        } else {
            "/admin/users/role"
        };
        let (status, html) = app.send_form(uri, &body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{html}");
        assert!(html.contains("last active admin"));
    }
    assert_eq!(app.store.backend().active_admins().await.unwrap(), 1);
}

#[tokio::test]
async fn oversized_and_malformed_forms_are_refused_cleanly() {
    let app = TestApp::new().await;
    user_for(
        &*app.store,
        "admin@example.com",
        PASSWORD,
        Role::Admin,
        None,
    )
    .await;
    let (_, headers, _) = sign_in(&app, "admin@example.com", PASSWORD, None).await;
    let session = session_of(&headers).unwrap();
    let (_, _, html) = get_with_cookie(&app, "/admin", &session).await;
    let csrf = csrf_of(&html);
    // Over the form limit: 413 naming it, nothing changed.
    let huge = format!(
        "csrf={csrf}&email={}",
        "a".repeat(northstar_server::auth::MAX_FORM_BYTES)
    );
    let (status, _, body) = app
        .raw(
            form_post("/admin/users", &huge, Some(&session))
                .body(Body::from(huge.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("KiB"), "{body}");
    // Malformed or wrong fields: a 4xx page that says what was wrong.
    for (uri, form) in [
        (
            "/admin/users",
            format!("csrf={csrf}&email=not-an-email&role=viewer&password=long+enough+password"),
        ),
        (
            "/admin/users",
            format!("csrf={csrf}&email=x%40example.com&role=emperor&password=long+enough+password"),
        ),
        (
            "/admin/users",
            format!(
                "csrf={csrf}&email=x%40example.com&role=ambassador&password=long+enough+password"
            ),
        ),
        (
            "/admin/users",
            format!("csrf={csrf}&email=x%40example.com&role=viewer&password=short"),
        ),
        (
            "/admin/users",
            format!("csrf={csrf}&email=%FF%FE&role=viewer"),
        ),
        (
            "/admin/users/disable",
            format!("csrf={csrf}&email=admin%40example.com&disabled=maybe"),
        ),
        ("/admin/tokens", format!("csrf={csrf}&name=&role=viewer")),
        (
            "/admin/tokens",
            format!("csrf={csrf}&name=x%00y&role=viewer"),
        ),
    ] {
        let (status, _, html) = app
            .raw(
                form_post(uri, &form, Some(&session))
                    .body(Body::from(form.clone()))
                    .unwrap(),
            )
            .await;
        assert!(status.is_client_error(), "{uri} {form}: {status}");
        assert!(html.contains("class=\"error\""), "{uri} {form}: {html}");
    }
    assert_eq!(app.store.backend().users().await.unwrap().len(), 1);
    assert!(
        app.store
            .backend()
            .api_tokens()
            .await
            .unwrap()
            .iter()
            .all(|t| t.name == "test-admin")
    );
}

#[tokio::test]
async fn the_admin_page_creates_shows_once_and_revokes_tokens_and_the_audit_log_exports() {
    let app = TestApp::new().await;
    let (status, html) = app
        .send_form(
            "/admin/tokens",
            "name=nightly&role=department_lead&department=support",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let at = html.find("id=\"token-secret\">").unwrap() + 18;
    let secret = &html[at..at + html[at..].find('<').unwrap()];
    assert!(secret.starts_with("nst_"));
    let (status, page) = app.request("GET", "/admin", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains(secret), "shown once");
    let (status, _, _) = app
        .raw(
            Request::get("/api/v1/metrics?metric=nps")
                .header("authorization", format!("Bearer {secret}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, html) = app.send_form("/admin/tokens/revoke", "name=nightly").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (status, _, _) = app
        .raw(
            Request::get("/api/v1/metrics?metric=nps")
                .header("authorization", format!("Bearer {secret}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, csv) = app
        .request("GET", "/admin/audit.csv?action=token.", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "at_utc,at_unix,actor,action,target,detail");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("token.create") && l.contains("nightly")),
        "{csv}"
    );
    assert!(lines.iter().any(|l| l.contains("token.revoke")), "{csv}");
    assert!(
        lines.iter().all(|l| !l.contains("nst_")),
        "secrets never reach the log"
    );
    let (_, page) = app
        .request(
            "GET",
            "/admin/audit?actor=token%3Atest-admin&action=export",
            None,
        )
        .await;
    assert!(page.contains("audit.csv"), "the export itself is audited");
    let (status, _) = app.request("GET", "/admin/audit?colour=red", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_erase_page_removes_a_customer_everywhere_and_audits_without_the_id() {
    let app = TestApp::new().await;
    let items = serde_json::json!([
        {"external_id": "e-1", "customer_id": "C-SECRET-9", "submitted_at": "2026-03-01T10:00:00Z", "department": "support", "nps": 0, "comment": "call +44 20 7946 0958"},
        {"external_id": "e-2", "customer_id": "C-SECRET-9", "submitted_at": "2026-03-02T10:00:00Z", "department": "billing", "nps": 10},
        {"external_id": "e-3", "customer_id": "C-other", "submitted_at": "2026-03-02T10:00:00Z", "department": "billing", "nps": 9},
    ]);
    let (status, _) = app.json("POST", "/api/v1/responses", Some(items)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, html) = app
        .send_form("/admin/erase", "customer_id=C-SECRET-9")
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Erased: 2 responses"), "{html}");
    let (_, r) = app.json("GET", "/api/v1/metrics?metric=nps", None).await;
    assert_eq!(r["overall"]["n"], 1);
    let (status, _) = app.request("GET", "/api/v1/responses/e-1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, csv) = app.request("GET", "/admin/audit.csv", None).await;
    assert!(csv.contains("erase.customer"), "{csv}");
    assert!(
        !csv.contains("C-SECRET-9"),
        "the audit log names no customer: {csv}"
    );
    let check = app.store.verify_rollups().await.unwrap();
    assert!(check.stored_equals_raw && check.cube_equals_stored);
    let (status, html) = app.send_form("/admin/erase", "customer_id=").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
}

/// Settings from the personal-data page: checked, audited, and redaction
/// applies to what the API stores next.
#[tokio::test]
async fn an_admin_turns_on_redaction_and_sets_retention_from_the_page() {
    let app = TestApp::new().await;
    let (status, html) = app.request("GET", "/admin/erase", None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains(r#"<strong id="redact-value">off</strong>, never changed"#),
        "{html}"
    );
    let (status, html) = app
        .send_form("/admin/settings", "key=redact_personal_data&value=maybe")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("it must be on or off"), "{html}");
    let (status, html) = app
        .send_form("/admin/settings", "key=colour&value=blue")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("is not a setting"), "{html}");
    let (status, html) = app
        .send_form("/admin/settings", "key=retention_months&value=0")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("from 1 to 1200"), "{html}");

    let (status, html) = app
        .send_form("/admin/settings", "key=redact_personal_data&value=on")
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("redact_personal_data is now on (audited)."),
        "{html}"
    );
    assert!(
        html.contains(r#"<strong id="redact-value">on</strong>, changed by "#),
        "{html}"
    );
    let (status, html) = app
        .send_form("/admin/settings", "key=retention_months&value=36")
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains(r#"<strong id="retention-value">36</strong>"#),
        "{html}"
    );

    let item = serde_json::json!([{"external_id": "red-1", "customer_id": "C-9", "submitted_at": "2026-03-01T10:00:00Z", "nps": 3, "comment": "ring me on +1 415 555 0100 or ann@example.com"}]);
    let (status, _) = app.json("POST", "/api/v1/responses", Some(item)).await;
    assert_eq!(status, StatusCode::OK);
    let stored = app.store.response("red-1").await.unwrap().unwrap();
    assert_eq!(
        stored.comment.as_deref(),
        Some("ring me on [phone] or [email]")
    );
    let (_, csv) = app.request("GET", "/admin/audit.csv", None).await;
    assert!(
        csv.contains("setting.change,redact_personal_data,(unset) -> on"),
        "{csv}"
    );
    assert!(
        csv.contains("setting.change,retention_months,(unset) -> 36"),
        "{csv}"
    );
}

#[tokio::test]
async fn what_is_typed_at_sign_in_cannot_flood_the_audit_log() {
    let app = TestApp::new().await;
    // A huge "e-mail" is refused by the body limit; a merely odd one is
    // counted but never written down.
    let huge = format!(
        "email={}&password=x",
        "a".repeat(2 * northstar_server::auth::MAX_FORM_BYTES)
    );
    let (status, _, _) = app
        .raw(
            form_post("/sign-in", &huge, None)
                .body(Body::from(huge.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let odd = format!("email={}&password=x", "my+secret+password+".repeat(20));
    for _ in 0..3 {
        app.raw(
            form_post("/sign-in", &odd, None)
                .body(Body::from(odd.clone()))
                .unwrap(),
        )
        .await;
    }
    let log = app
        .store
        .backend()
        .audit_entries(&AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        log.iter()
            .all(|e| !e.target.contains("secret") && e.target.len() <= 500),
        "{log:?}"
    );
    // Throttled attempts are refused without adding entries.
    let before = log.len();
    for _ in 0..10 {
        app.raw(
            form_post("/sign-in", &odd, None)
                .body(Body::from(odd.clone()))
                .unwrap(),
        )
        .await;
    }
    let after = app
        .store
        .backend()
        .audit_entries(&AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        after.len(),
        before + 2,
        "only the two failures before the limit: {after:?}"
    );
}
