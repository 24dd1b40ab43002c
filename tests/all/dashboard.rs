//! The dashboard at `/`, in headless Chromium driven over WebDriver
//! (ChromeDriver, started by scripts/test-services.sh): after real traffic,
//! the page shows what a person should see, and a screenshot is saved for
//! the docs (target/screenshots/dashboard.png).

use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use glassbox::serve::{ServeLimits, Service};
use glassbox_fixtures::SKLEARN;

use crate::compile::compiled;
use crate::util::{engine, jsonl};

/// ChromeDriver's address and the browser to start, or `None` (with a
/// note) when they are not there and not required.
fn webdriver() -> Option<(String, String)> {
    let [x, y] = crate::util::service_vars(
        "WebDriver",
        ["GLASSBOX_TEST_WEBDRIVER", "GLASSBOX_TEST_CHROMIUM"],
    )?;
    Some((x, y))
}

async fn browser(driver: &str, chromium: &str) -> Client {
    let profile = std::env::temp_dir().join(format!("glassbox-chromium-{}", std::process::id()));
    // Headless, and quiet on the network: this machine reaches nothing
    // but loopback, and Chromium's background fetches would only fail.
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        }
    });
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(driver)
        .await
        .expect("a WebDriver session")
}

/// Polls `f` until it returns `Some`, for up to 10 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn class_of(c: &Client, css: &str) -> String {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.attr("class").await.unwrap().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_health_drift_and_violations() {
    let Some((driver, chromium)) = webdriver() else {
        return;
    };
    // Two models: bc_gbc, fed its drifted rows, and churn with its owner's
    // expectations, fed rows of which some break the hard range on age.
    let engine = engine();
    let service = Service::new(engine.clone(), ServeLimits::default());
    service.deploy(engine.load(&compiled(SKLEARN, "bc_gbc")).unwrap());
    service.deploy(crate::monitor::churn_with_expectations());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = service.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let client = reqwest::Client::new();
    let send = |model: &'static str, rows: Vec<serde_json::Value>| {
        let client = client.clone();
        let url = format!("{base}/v1/models/{model}:predict");
        async move {
            let mut refused = 0;
            for row in rows {
                let r = client
                    .post(&url)
                    .json(&serde_json::json!({ "instances": [row] }))
                    .send()
                    .await
                    .unwrap();
                refused += usize::from(r.status() == 400);
            }
            refused
        }
    };
    assert_eq!(
        send("bc_gbc", jsonl(&format!("{SKLEARN}/bc_gbc.drifted.jsonl"))).await,
        0
    );
    let churn_rows = jsonl(&format!("{SKLEARN}/churn_coltrans_rf.drifted.jsonl"));
    let last_refused_age = churn_rows
        .iter()
        .rev()
        .find_map(|r| r["age"].as_f64().filter(|a| !(18.0..=60.0).contains(a)))
        .unwrap();
    assert!(send("churn", churn_rows).await > 0);

    let c = browser(&driver, &chromium).await;
    c.goto(&format!("{base}/")).await.unwrap();
    // The models table: both, with their health.
    let rows = eventually("two model rows", || async {
        let rows = c.find_all(Locator::Css("#models tbody tr")).await.ok()?;
        (rows.len() == 2).then_some(rows)
    })
    .await;
    assert_eq!(rows.len(), 2);
    let bc = class_of(&c, "#model-bc_gbc-1\\.0\\.0").await;
    assert!(
        bc.contains("health-warn") || bc.contains("health-alert"),
        "bc_gbc is drifted: {bc}"
    );
    let bc_text = c
        .find(Locator::Css("#model-bc_gbc-1\\.0\\.0"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(bc_text.contains("200"), "200 calls: {bc_text}");

    // bc_gbc's detail (selected first): the drifted features are flagged,
    // the others not.
    c.find(Locator::Css("#model-bc_gbc-1\\.0\\.0"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flagged = eventually("the feature cards", || async {
        let cards = c
            .find_all(Locator::Css("#features .feature-card"))
            .await
            .ok()?;
        if cards.len() < 31 {
            return None;
        }
        let mut flagged = Vec::new();
        for card in cards {
            let class = card.attr("class").await.ok()??;
            if !class.contains("level-ok") {
                flagged.push(card.attr("data-feature").await.ok()??);
            }
        }
        Some(flagged)
    })
    .await;
    assert_eq!(flagged, ["mean texture", "worst concave points"]);
    let bars = c
        .find_all(Locator::Css(
            "#features .feature-card[data-feature='mean texture'] rect.live",
        ))
        .await
        .unwrap();
    assert!(bars.len() >= 10, "a live bar per bin: {}", bars.len());
    let reasons = c.find(Locator::Css("#reasons")).await.unwrap();
    assert!(reasons.text().await.unwrap().contains("mean texture"));
    std::fs::create_dir_all(screenshots()).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join("dashboard.png"), png).unwrap();

    // churn: its owner, its soft expectation, the refused rows.
    c.find(Locator::Css("#model-churn-1\\.0\\.0"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let violations = eventually("churn's violations", || async {
        let t = c
            .find(Locator::Css("#violations"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        t.contains("age").then_some(t)
    })
    .await;
    assert!(
        violations.contains(&format!("{last_refused_age}")),
        "the newest refused age first: {violations}"
    );
    assert!(
        violations.contains("hard expectation of churn-team"),
        "{violations}"
    );
    let expectations = c
        .find(Locator::Css("#expectations"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        expectations.contains("one of ios, android, web"),
        "{expectations}"
    );
    let row = c
        .find(Locator::Css("#model-churn-1\\.0\\.0"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(row.contains("churn-team"), "the owner is named: {row}");
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join("dashboard-churn.png"), png).unwrap();
    c.close().await.unwrap();
}

fn screenshots() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
}
