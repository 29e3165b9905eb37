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
