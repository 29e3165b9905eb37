//! The overview in headless Chromium through chromedriver (WebDriver): the
//! tiles render, provenance is one click away, the filter form works without
//! JavaScript, and a screenshot is saved for people to look at.
//!
//! Needs `NORTHSTAR_CHROMEDRIVER` (and optionally `NORTHSTAR_CHROMIUM`);
//! `scripts/test` installs Debian's chromium and chromium-driver and sets
//! them. Under CI the test fails rather than skip when they are missing.

use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::TestApp;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Driver(std::process::Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver and a headless Chromium session, or `None` (skipped) outside
/// CI when `NORTHSTAR_CHROMEDRIVER` is not set.
async fn chromium() -> Option<(Driver, fantoccini::Client)> {
    let Some(chromedriver) = std::env::var_os("NORTHSTAR_CHROMEDRIVER").filter(|p| !p.is_empty())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser test: set NORTHSTAR_CHROMEDRIVER (scripts/test does)"
        );
        eprintln!(
            "skipping the browser test: NORTHSTAR_CHROMEDRIVER is not set (scripts/test sets it)"
        );
        return None;
    };

    let port = free_port();
    let driver = Driver(
        std::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let mut options = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1700"]
    });
    if let Some(binary) = std::env::var_os("NORTHSTAR_CHROMIUM").filter(|p| !p.is_empty()) {
        options["binary"] = json!(binary.to_string_lossy());
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    // A cold first start of Chromium on a fresh machine can take a while.
    let mut client = None;
    for _ in 0..150 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    Some((driver, client.expect("connected to chromedriver")))
}

#[tokio::test]
async fn the_overview_works_in_headless_chromium() {
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let app = TestApp::new().await;
    app.seed().await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);

    // Not signed in: the overview sends to the sign-in page, which leads
    // back after a plain form submit (no JavaScript).
    crate::user_for(
        &*app.store,
        "lead@example.com",
        "a long enough password",
        northstar_core::account::Role::CxLead,
        None,
    )
    .await;
    client.goto(&format!("{base}/")).await.unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/sign-in")
    );
    for (field, value) in [
        ("email", "lead@example.com"),
        ("password", "not the password"),
    ] {
        client
            .find(Locator::Id(field))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    client
        .find(Locator::Css("form.stacked button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = client
        .wait()
        .for_element(Locator::Id("sign-in-error"))
        .await
        .unwrap();
    assert!(error.text().await.unwrap().contains("wrong"));
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("a long enough password")
        .await
        .unwrap();
    client
        .find(Locator::Css("form.stacked button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css(".tile"))
        .await
        .unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/");
    let tiles = client.find_all(Locator::Css(".tile")).await.unwrap();
    assert_eq!(tiles.len(), 4);
    let first_value = tiles[0]
        .find(Locator::Css(".value"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        first_value.starts_with('+') || first_value.starts_with('-'),
        "NPS tile shows {first_value:?}"
    );

    // The method is one click away.
    let method = tiles[0].find(Locator::Css("details dd")).await.unwrap();
    assert!(!method.is_displayed().await.unwrap());
    tiles[0]
        .find(Locator::Css("details summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(method.is_displayed().await.unwrap());
    assert!(method.text().await.unwrap().contains("promoters"));

    // The chart draws a point per month with its band.
    assert_eq!(
        client
            .find_all(Locator::Css("svg.chart circle"))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        client
            .find_all(Locator::Css("svg.chart polygon.band"))
            .await
            .unwrap()
            .len(),
        1
    );
    let png = client.screenshot().await.unwrap();
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("overview.png");
    std::fs::write(&shot, &png).unwrap();
    assert!(
        png.len() > 10_000,
        "screenshot at {} is suspiciously small",
        shot.display()
    );
    eprintln!("screenshot: {}", shot.display());

    // Filtering is a plain form submit.
    client
        .find(Locator::Css("select[name=segment]"))
        .await
        .unwrap()
        .select_by_value("smb")
        .await
        .unwrap();
    client
        .find(Locator::Css("form.filters button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    for _ in 0..50 {
        if client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("segment=smb")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let provenance = client
        .find(Locator::Id("provenance"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(provenance.contains("segment = smb"), "{provenance}");
    let n = client
        .find(Locator::Css(".tile .n"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(n, "n = 180");

    // Signing out is a form with its CSRF token; afterwards pages ask to sign in again.
    client
        .find(Locator::Css("nav.account button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("email"))
        .await
        .unwrap();
    client.goto(&format!("{base}/")).await.unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/sign-in")
    );

    client.close().await.unwrap();
    server.stop().await;
}

/// An ambassador signs in, lands on their department's page, which leads
/// with good news and shows the delivery-target disagreement, and records a
/// win with the form (no JavaScript needed; dates are set directly, as a
/// date picker would).
#[tokio::test]
async fn an_ambassador_records_a_win_on_the_department_page_in_headless_chromium() {
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let app = TestApp::new().await;
    app.json(
        "POST",
        "/api/v1/departments",
        Some(crate::departments::logistics()),
    )
    .await;
    crate::departments::plant_delivery_story(&app).await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);
    crate::user_for(
        &*app.store,
        "amb@example.com",
        "a long enough password",
        northstar_core::account::Role::Ambassador,
        Some("logistics"),
    )
    .await;
    client.goto(&format!("{base}/sign-in")).await.unwrap();
    for (field, value) in [
        ("email", "amb@example.com"),
        ("password", "a long enough password"),
    ] {
        client
            .find(Locator::Id(field))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    client
        .find(Locator::Css("form.stacked button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("good-news"))
        .await
        .unwrap();
    assert_eq!(
        client.current_url().await.unwrap().path(),
        "/departments/logistics"
    );
    // Ask for March 2026, where the planted story is.
    client
        .goto(&format!(
            "{base}/departments/logistics?from=2026-03-01&to=2026-03-31"
        ))
        .await
        .unwrap();
    let sections = client.find_all(Locator::Css("main section")).await.unwrap();
    assert_eq!(
        sections[0].attr("id").await.unwrap().as_deref(),
        Some("good-news"),
        "the page leads with good news"
    );
    let disagreement = client
        .find(Locator::Css("#disagreements .finding"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(disagreement.contains("delivery_days"), "{disagreement}");

    let form = client.find(Locator::Id("record-win")).await.unwrap();
    form.find(Locator::Css("input[name=title]"))
        .await
        .unwrap()
        .send_keys("Proactive delivery updates")
        .await
        .unwrap();
    form.find(Locator::Css("input[name=people]"))
        .await
        .unwrap()
        .send_keys("Dispatch team")
        .await
        .unwrap();
    client
        .execute(
            "for (const [n, v] of [['on','2026-03-01'],['before_from','2025-01-01'],['before_to','2025-01-31'],\
             ['after_from','2026-03-01'],['after_to','2026-03-31']]) \
             { document.querySelector('#record-win input[name=' + n + ']').value = v; }",
            vec![],
        )
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let wins = client
        .wait()
        .for_element(Locator::Css("#wins ul.wins li"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(wins.contains("Proactive delivery updates"), "{wins}");
    // No answers before the change: shown as an early signal, never a win.
    assert!(wins.starts_with("Early signal"), "{wins}");
    let png = client.screenshot().await.unwrap();
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("department.png");
    std::fs::write(&shot, &png).unwrap();
    client.close().await.unwrap();
    server.stop().await;
}

/// Signs in with the form (the session cookie is the browser's).
async fn sign_in(client: &fantoccini::Client, base: &str, email: &str) {
    client.goto(&format!("{base}/sign-in")).await.unwrap();
    for (field, value) in [("email", email), ("password", "a long enough password")] {
        client
            .find(Locator::Id(field))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    client
        .find(Locator::Css("form.stacked button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("nav.account button"))
        .await
        .unwrap();
}

/// Signs out with the navigation's form.
async fn sign_out(client: &fantoccini::Client) {
    client
        .find(Locator::Css("nav.account button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("email"))
        .await
        .unwrap();
}

/// The text of `css` once it contains `wanted` (after a form's redirect).
async fn text_once(client: &fantoccini::Client, css: &str, wanted: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(e) = client.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
        {
            if t.contains(wanted) {
                return t;
            }
            last = t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {wanted:?}; last {last:?}");
}

/// Records a verdict with the assumption's own review form.
async fn verdict(client: &fantoccini::Client, key: &str, verdict: &str, comment: &str) {
    let form = client
        .find(Locator::Css(&format!("#assumption-{key} form.review-form")))
        .await
        .unwrap();
    form.find(Locator::Css("select[name=verdict]"))
        .await
        .unwrap()
        .select_by_value(verdict)
        .await
        .unwrap();
    form.find(Locator::Css("input[name=comment]"))
        .await
        .unwrap()
        .send_keys(comment)
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Finance challenges an assumption and returns the version, the CX lead
/// revises it with its "Revise" form, finance accepts it and approves.
#[tokio::test]
async fn finance_returns_and_approves_a_business_case_in_headless_chromium() {
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let app = TestApp::new().await;
    for (email, role) in [
        (
            "finance@example.com",
            northstar_core::account::Role::Finance,
        ),
        ("lead@example.com", northstar_core::account::Role::CxLead),
    ] {
        crate::user_for(&*app.store, email, "a long enough password", role, None).await;
    }
    let cx = crate::token_for(
        &*app.store,
        "cx",
        northstar_core::account::Role::CxLead,
        None,
    )
    .await;
    let case = json!({
        "name": "Proactive delivery updates",
        "discount_rate": 0.1,
        "cash_flows": [{"year": 0, "cost": 100000}, {"year": 1, "cost": 10000, "benefit": 50000},
                       {"year": 2, "cost": 10000, "benefit": 50000}, {"year": 3, "cost": 10000, "benefit": 60000}],
        "assumptions": [
            {"key": "calls_avoided", "name": "Calls avoided a year", "value": 2400, "low": 1200, "high": 3600,
             "source": {"kind": "estimate", "owner": "Head of support"}},
            {"key": "cost_per_call", "name": "Cost of a call", "value": 8.01, "low": 5, "high": 12,
             "source": {"kind": "benchmark", "citation": "Gartner 2019"}}
        ],
        "lines": [{"name": "Calls avoided", "kind": "benefit", "factors": ["calls_avoided", "cost_per_call"]}]
    });
    let (status, c) =
        crate::value::call(&app, &cx, "POST", "/api/v1/business-cases", Some(case)).await;
    assert_eq!(status, axum::http::StatusCode::CREATED, "{c}");
    let id = c["id"].as_i64().unwrap();
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);
    let page = format!("{base}/business-cases/{id}");

    sign_in(&client, &base, "finance@example.com").await;
    client.goto(&page).await.unwrap();
    let status = text_once(&client, "#review-status", "Version 1 of 1").await;
    assert!(status.contains("Awaiting finance review"), "{status}");
    // Finance sees no revise form, only review forms.
    assert!(client.find(Locator::Css(".revise-form")).await.is_err());
    verdict(
        &client,
        "calls_avoided",
        "challenged",
        "Show the call logs behind 2,400",
    )
    .await;
    let row = text_once(&client, "#assumption-calls_avoided", "CHALLENGED").await;
    assert!(row.contains("Show the call logs behind 2,400"), "{row}");
    verdict(&client, "cost_per_call", "accepted", "").await;
    text_once(
        &client,
        "#assumption-cost_per_call",
        "accepted by finance@example.com",
    )
    .await;
    // Approval with a challenged assumption is refused on the page.
    client
        .find(Locator::Css("#decision-form input[value=approve]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css("#decision-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = text_once(&client, "p.error", "calls_avoided").await;
    assert!(error.contains("challenged"), "{error}");
    client
        .find(Locator::Id("decision-comment"))
        .await
        .unwrap()
        .send_keys("Returned: see the challenge")
        .await
        .unwrap();
    client
        .find(Locator::Css("#decision-form input[value=return]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css("#decision-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_once(&client, "#review-status", "Returned by finance").await;
    assert!(client.find(Locator::Id("decision-form")).await.is_err());
    sign_out(&client).await;

    // The CX lead revises the challenged assumption: a new version.
    sign_in(&client, &base, "lead@example.com").await;
    client.goto(&page).await.unwrap();
    assert!(client.find(Locator::Css(".review-form")).await.is_err());
    let revise = client
        .find(Locator::Css("#assumption-calls_avoided details"))
        .await
        .unwrap();
    let value = revise
        .find(Locator::Id("value-calls_avoided"))
        .await
        .unwrap();
    assert!(!value.is_displayed().await.unwrap());
    revise
        .find(Locator::Css("summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(value.is_displayed().await.unwrap());
    value.clear().await.unwrap();
    value.send_keys("1800").await.unwrap();
    let owner = revise
        .find(Locator::Id("source-calls_avoided"))
        .await
        .unwrap();
    owner.clear().await.unwrap();
    owner
        .send_keys("Support operations (call logs)")
        .await
        .unwrap();
    revise
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let status = text_once(&client, "#review-status", "Version 2 of 2").await;
    assert!(status.contains("Awaiting finance review"), "{status}");
    let row = text_once(&client, "#assumption-calls_avoided", "1,800").await;
    assert!(row.contains("not reviewed"), "{row}");
    assert!(row.contains("Support operations (call logs)"), "{row}");
    sign_out(&client).await;

    // Finance accepts the revision (the other acceptance carried) and approves.
    sign_in(&client, &base, "finance@example.com").await;
    client.goto(&page).await.unwrap();
    text_once(&client, "#assumption-cost_per_call", "given on version 1").await;
    verdict(&client, "calls_avoided", "accepted", "Call logs seen").await;
    text_once(
        &client,
        "#assumption-calls_avoided",
        "accepted by finance@example.com",
    )
    .await;
    client
        .find(Locator::Css("#decision-form input[value=approve]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css("#decision-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let status = text_once(&client, "#review-status", "Approved by finance").await;
    assert!(status.contains("finance@example.com"), "{status}");
    let history = client
        .find(Locator::Id("versions"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(history.contains("Returned by finance"), "{history}");
    let png = client.screenshot().await.unwrap();
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("business_case.png"),
        &png,
    )
    .unwrap();
    client.close().await.unwrap();
    server.stop().await;
}

/// A CX lead registers a pilot with the form, assigns (stratified, seed 1)
/// and starts it; the evaluation shows the planted effect and says roll out.
#[tokio::test]
async fn a_cx_lead_runs_a_pilot_from_the_pages_in_headless_chromium() {
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let app = TestApp::new().await;
    // Planted on the groups seed 1 draws.
    let f = crate::value::plant(&app, 1).await;
    crate::user_for(
        &*app.store,
        "lead@example.com",
        "a long enough password",
        northstar_core::account::Role::CxLead,
        None,
    )
    .await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);
    sign_in(&client, &base, "lead@example.com").await;
    client.goto(&format!("{base}/pilots")).await.unwrap();
    let form = client.find(Locator::Css("#new-pilot form")).await.unwrap();
    for (field, value) in [
        ("name", "Proactive delivery updates"),
        ("hypothesis", "Proactive updates raise NPS by 10 points"),
        ("segment", "enterprise"),
        ("touchpoint", "delivery"),
        ("mde", "10"),
    ] {
        form.find(Locator::Id(field))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    form.find(Locator::Id("metric"))
        .await
        .unwrap()
        .select_by_value("nps")
        .await
        .unwrap();
    client
        .execute(
            "document.querySelector('#start').value = arguments[0]; \
             document.querySelector('#end').value = arguments[1];",
            vec![json!(f.start), json!(f.end)],
        )
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let n_text = client
        .wait()
        .for_element(Locator::Id("n-per-group"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let path = client.current_url().await.unwrap().path().to_string();
    let id: i64 = path.strip_prefix("/pilots/").unwrap().parse().unwrap();
    let (_, p) = app.json("GET", &format!("/api/v1/pilots/{id}"), None).await;
    assert_eq!(p["plan"]["scope"]["segment"], "enterprise", "{p}");
    assert!(
        n_text.starts_with(&format!("{} per group", p["n_per_group"])),
        "{n_text} vs {p}"
    );

    // Assign with seed 1, stratified (the default), then start.
    client
        .find(Locator::Id("seed"))
        .await
        .unwrap()
        .send_keys("1")
        .await
        .unwrap();
    client
        .find(Locator::Css("form[action$='/assign'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let groups = text_once(&client, "#groups", "seed 1").await;
    assert!(
        groups.contains("120 customers in the pilot, 120 in the control"),
        "{groups}"
    );
    client
        .find(Locator::Css("form[action$='/start'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let status = text_once(&client, "#pilot-status", "locked").await;
    // The pilot ended yesterday.
    assert!(status.starts_with("ended"), "{status}");
    let effect = text_once(&client, "#effect", "Effect:").await;
    let (_, e) = app
        .json("GET", &format!("/api/v1/pilots/{id}/evaluation"), None)
        .await;
    assert_eq!(e["recommendation"]["verdict"], "roll_out", "{e}");
    assert!(
        effect.contains("NPS points") && effect.contains("95% CI"),
        "{effect}"
    );
    let shown = northstar_server::api::business_cases::short(e["effect"].as_f64().unwrap());
    assert!(effect.contains(&shown), "{effect} vs {shown}");
    let recommendation = client
        .find(Locator::Id("recommendation"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(recommendation.contains("Roll out"), "{recommendation}");
    // Registered after its first day: the page says it was not pre-registered.
    assert!(
        recommendation.starts_with("Retrospective pilot"),
        "{recommendation}"
    );
    assert_eq!(
        client
            .find_all(Locator::Css("#evaluation-chart svg"))
            .await
            .unwrap()
            .len(),
        1
    );
    let png = client.screenshot().await.unwrap();
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pilot.png"),
        &png,
    )
    .unwrap();
    client.close().await.unwrap();
    server.stop().await;
}

/// Presses keys on whatever has the focus (keyboard only: no clicks).
async fn press(client: &fantoccini::Client, keys: &[fantoccini::key::Key]) {
    for k in keys {
        client
            .active_element()
            .await
            .unwrap()
            .send_keys(&char::from(*k).to_string())
            .await
            .unwrap();
    }
}

/// The focused element's id and whether its focus is visible (an outline).
async fn focus_of(client: &fantoccini::Client) -> (String, bool) {
    let v = client
        .execute(
            "const e = document.activeElement; const s = getComputedStyle(e); \
             const l = e.labels && e.labels[0] ? getComputedStyle(e.labels[0]) : s; \
             return [e.id || e.tagName, s.outlineStyle !== 'none' || l.outlineStyle !== 'none'];",
            vec![],
        )
        .await
        .unwrap();
    (
        v[0].as_str().unwrap_or_default().to_string(),
        v[1].as_bool().unwrap_or(false),
    )
}

#[tokio::test]
async fn a_customer_answers_an_invitation_with_the_keyboard_only_in_headless_chromium() {
    use fantoccini::key::Key;
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let app = TestApp::new().await;
    let id = crate::surveys::live_survey(&app).await;
    let request = axum::http::Request::post(format!("/api/v1/surveys/{id}/invitations"))
        .header("content-type", "text/csv")
        .header("authorization", format!("Bearer {}", app.admin_token))
        .body(axum::body::Body::from(
            "customer_id,email,language,segment\nC1,ana@example.com,en,enterprise\n",
        ))
        .unwrap();
    assert_eq!(app.raw(request).await.0, axum::http::StatusCode::OK);
    let key = northstar_server::survey_links::link_key(app.store.as_ref())
        .await
        .unwrap();
    let invitation = app
        .store
        .backend()
        .invitations(id, 0, 1)
        .await
        .unwrap()
        .remove(0);
    let link = format!(
        "/s/{}",
        northstar_server::survey_links::token(&key, &invitation.response_id)
    );
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);
    client.goto(&format!("{base}{link}")).await.unwrap();
    client
        .wait()
        .for_element(Locator::Css("form"))
        .await
        .unwrap();

    // Straight to the button and Enter: the errors come back, tied to
    // their fields, with a summary to jump from.
    press(&client, &[Key::Tab]).await;
    let (first, visible) = focus_of(&client).await;
    assert_eq!(first, "nps-0", "the first Tab lands on the first scale");
    assert!(visible, "the focus is visible");
    // NPS, FCR, two checkboxes, the comment, then the button.
    press(&client, &[Key::Tab, Key::Tab, Key::Tab, Key::Tab, Key::Tab]).await;
    let (button, _) = focus_of(&client).await;
    assert_eq!(button, "BUTTON");
    press(&client, &[Key::Enter]).await;
    let summary = client
        .wait()
        .for_element(Locator::Id("error-summary"))
        .await
        .unwrap();
    assert!(summary.text().await.unwrap().contains("not answered"));
    let invalid = client
        .find_all(Locator::Css("[aria-invalid=true]"))
        .await
        .unwrap();
    assert_eq!(invalid.len(), 2, "NPS and FCR are marked invalid");

    // Answer with the keyboard only: Space picks, arrows move along a scale.
    client
        .execute(
            "document.activeElement.blur(); window.scrollTo(0, 0);",
            vec![],
        )
        .await
        .unwrap();
    press(&client, &[Key::Tab]).await;
    let (first, _) = focus_of(&client).await;
    if first != "nps-0" {
        // The summary's links come first: Tab past them.
        for _ in 0..4 {
            let (at, _) = focus_of(&client).await;
            if at == "nps-0" {
                break;
            }
            press(&client, &[Key::Tab]).await;
        }
    }
    assert_eq!(focus_of(&client).await.0, "nps-0");
    press(&client, &[Key::Space]).await;
    for _ in 0..9 {
        press(&client, &[Key::Right]).await;
    }
    assert_eq!(focus_of(&client).await.0, "nps-9");
    press(&client, &[Key::Tab, Key::Space]).await;
    assert_eq!(focus_of(&client).await.0, "fcr-yes");
    press(&client, &[Key::Tab, Key::Space, Key::Tab, Key::Tab]).await;
    client
        .active_element()
        .await
        .unwrap()
        .send_keys("Quick and kind")
        .await
        .unwrap();
    press(&client, &[Key::Tab, Key::Enter]).await;
    let thanks = text_once(&client, "#survey-message-heading", "Thank you").await;
    assert!(thanks.contains("Thank you"));

    // Counted: the survey page shows it answered, the overview counts it.
    crate::user_for(
        &*app.store,
        "lead@example.com",
        "a long enough password",
        northstar_core::account::Role::CxLead,
        None,
    )
    .await;
    sign_in(&client, &base, "lead@example.com").await;
    client.goto(&format!("{base}/surveys/{id}")).await.unwrap();
    let rate = text_once(&client, "#total-rate", "%").await;
    assert_eq!(rate, "100.0%", "one invited, one answered");
    client
        .goto(&format!("{base}/?survey=post_support"))
        .await
        .unwrap();
    let n = text_once(&client, ".tile .n", "n = 1").await;
    assert_eq!(n, "n = 1");
    let stored = app
        .store
        .response(&invitation.response_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.nps, Some(9));
    assert_eq!(stored.fcr, Some(true));
    assert_eq!(stored.attributes["reason"], "speed");
    assert_eq!(stored.comment.as_deref(), Some("Quick and kind"));
    server.stop().await;
}

#[tokio::test]
async fn the_widget_on_a_test_page_posts_an_answer_in_headless_chromium() {
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let app = TestApp::new().await;
    // The page that embeds the widget, on another origin.
    let site = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site_addr = site.local_addr().unwrap();
    let mut definition = crate::surveys::definition();
    definition["allowed_origins"] = json!([format!("http://{site_addr}")]);
    let (status, body) = app.json("POST", "/api/v1/surveys", Some(definition)).await;
    assert_eq!(status, axum::http::StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().unwrap();
    let slug = body["public_slug"].as_str().unwrap().to_string();
    app.json(
        "POST",
        &format!("/api/v1/surveys/{id}/status"),
        Some(json!({"status": "live"})),
    )
    .await;
    let server = app.serve().await;
    let northstar = format!("http://{}", server.addr);
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><title>Shop</title></head><body><h1>Checkout done</h1>\
         <script src=\"{northstar}/widget.js\" data-northstar-survey=\"{slug}\" async></script>\
         <noscript><a id=\"fallback\" href=\"{northstar}/s/a/{slug}?channel=web\">Tell us how we did</a></noscript></body></html>"
    );
    let shop = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    let shop_task = tokio::spawn(async move { axum::serve(site, shop).await });
    client.goto(&format!("http://{site_addr}/")).await.unwrap();
    let prompt = client
        .wait()
        .for_element(Locator::Css(".nsw"))
        .await
        .unwrap();
    assert!(
        prompt
            .text()
            .await
            .unwrap()
            .contains("How likely are you to recommend us?")
    );
    client
        .find(Locator::Css(".nsw button[data-score='9']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Id("nsw-comment"))
        .await
        .unwrap()
        .send_keys("Smooth checkout")
        .await
        .unwrap();
    client
        .find(Locator::Css(".nsw .nsw-send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("nsw-thanks"))
        .await
        .unwrap();
    let listed = app
        .json("GET", "/api/v1/responses?survey=post_support", None)
        .await
        .1;
    let r = &listed["items"][0];
    assert_eq!(r["nps"], 9, "{listed}");
    assert_eq!(r["channel"], "web");
    assert_eq!(r["comment"], "Smooth checkout");
    // Without JavaScript the link opens the hosted form.
    let fallback = format!("{northstar}/s/a/{slug}?channel=web");
    client.goto(&fallback).await.unwrap();
    client
        .wait()
        .for_element(Locator::Css("form fieldset"))
        .await
        .unwrap();
    shop_task.abort();
    server.stop().await;
}
