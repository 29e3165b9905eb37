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

#[tokio::test]
async fn the_overview_works_in_headless_chromium() {
    let Some(chromedriver) = std::env::var_os("NORTHSTAR_CHROMEDRIVER").filter(|p| !p.is_empty())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser test: set NORTHSTAR_CHROMEDRIVER (scripts/test does)"
        );
        eprintln!(
            "skipping the browser test: NORTHSTAR_CHROMEDRIVER is not set (scripts/test sets it)"
        );
        return;
    };
    let app = TestApp::new().await;
    app.seed().await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);

    let port = free_port();
    let _driver = Driver(
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
    let client = client.expect("connected to chromedriver");

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
