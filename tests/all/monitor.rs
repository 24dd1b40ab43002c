//! Live profiles and drift against the training profile, on the refdata
//! models with known shifts (tests/data/sklearn/README.md, "Drift").

use glassbox::drift::Level;
use glassbox::monitor::{Monitor, MonitorConfig, Report};

use glassbox_fixtures::SKLEARN;

use crate::compile::compiled;
use crate::util::{engine, jsonl, rows};

/// The report after scoring `file`'s rows with `name` compiled from its
/// training data.
fn report(name: &str, file: &str) -> Report {
    let model = engine().load(&compiled(SKLEARN, name)).unwrap();
    let monitor = Monitor::new(model.info(), MonitorConfig::default())
        .expect("a compiled model carries its training profile");
    let rows = rows(&jsonl(&format!("{SKLEARN}/{name}.{file}.jsonl")));
    for chunk in rows.chunks(37) {
        let batch = glassbox::batch::from_rows(model.info(), chunk).unwrap();
        let scores = model.score(&batch).unwrap();
        monitor.observe(&batch, &scores);
    }
    let report = monitor.report();
    assert_eq!(report.rows, rows.len() as u64);
    report
}

fn flagged(report: &Report) -> Vec<&str> {
    report
        .columns
        .iter()
        .filter(|c| c.name != "(prediction)" && c.drift.level != Level::Ok)
        .map(|c| c.name.as_str())
        .collect()
}

#[test]
fn held_out_rows_keep_the_models_ok() {
    for name in ["bc_gbc", "churn_coltrans_rf"] {
        let r = report(name, "inputs");
        assert_eq!(r.health, Level::Ok, "{name}: {:#?}", r.reasons);
        assert!(flagged(&r).is_empty(), "{name}: {:?}", flagged(&r));
    }
}

#[test]
fn drifted_rows_flag_exactly_the_shifted_features() {
    let r = report("bc_gbc", "drifted");
    assert_eq!(
        flagged(&r),
        ["mean texture", "worst concave points"],
        "{:#?}",
        r.reasons
    );
    assert_ne!(r.health, Level::Ok);
    let r = report("churn_coltrans_rf", "drifted");
    let mut got = flagged(&r);
    got.sort();
    assert_eq!(got, ["age", "device"], "{:#?}", r.reasons);
    let device = r.columns.iter().find(|c| c.name == "device").unwrap();
    let web = device.bins.iter().position(|b| b == "web").unwrap();
    let share = device.live[web] as f64 / (r.rows as f64 * (1.0 - device.missing_rate));
    assert!((0.45..0.65).contains(&share), "web share {share}");
}

/// `glassbox serve` keeps the live profiles of what it scores and shows
/// them at `/v2/models/{name}/monitor`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reports_drift_at_the_monitor_route() {
    use axum::body::Body;
    use axum::http::Request;
    use glassbox::serve::{ServeLimits, Service};
    use tower::ServiceExt as _;

    let engine = engine();
    let model = engine.load(&compiled(SKLEARN, "bc_gbc")).unwrap();
    let service = Service::new(engine, ServeLimits::default());
    service.deploy(model);
    let get = |path: &'static str| {
        let router = service.router();
        async move {
            let response = router
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 24)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
        }
    };
    let (status, before) = get("/v2/models/bc_gbc/monitor").await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["monitor"]["rows"], 0);
    assert_eq!(before["monitor"]["health"], "ok");

    let drifted = rows(&jsonl(&format!("{SKLEARN}/bc_gbc.drifted.jsonl")));
    for chunk in drifted.chunks(10) {
        service.predict("bc_gbc", None, chunk).await.unwrap();
    }
    let (status, after) = get("/v2/models/bc_gbc/monitor").await;
    assert_eq!(status, 200);
    let m = &after["monitor"];
    assert_eq!(m["rows"], 200);
    assert_ne!(m["health"], "ok", "{m}");
    let reasons: Vec<&str> = m["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("`mean texture`"))
            && reasons.iter().any(|r| r.contains("`worst concave points`")),
        "{reasons:?}"
    );
    let texture = m["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "mean texture")
        .unwrap();
    assert_eq!(
        texture["live"].as_array().unwrap().len(),
        11,
        "10 bins and missing"
    );
    assert!(texture["drift"]["psi"].as_f64().unwrap() > 0.25);
}

/// Drift and health reach `/metrics`, for Prometheus to alert on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_and_health_are_metrics() {
    use glassbox::serve::{Config, Server};

    let dir = std::env::temp_dir().join(format!("glassbox-monitor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bc_gbc.wasm");
    std::fs::write(&file, compiled(SKLEARN, "bc_gbc")).unwrap();
    let server = Server::bind(Config {
        listen: ([127, 0, 0, 1], 0).into(),
        models: vec![file],
        ..Config::default()
    })
    .await
    .unwrap();
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let drifted = jsonl(&format!("{SKLEARN}/bc_gbc.drifted.jsonl"));
    for chunk in drifted.chunks(25) {
        let r = client
            .post(format!("{base}/v1/models/bc_gbc:predict"))
            .json(&serde_json::json!({ "instances": chunk }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |prefix: &str, must: &[&str]| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix) && must.iter().all(|m| l.contains(m)))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} {must:?} in\n{metrics}"))
    };
    let model = "glassbox_model_name=\"bc_gbc\"";
    assert!(
        value(
            "glassbox_drift_psi{",
            &[model, "glassbox_field=\"mean texture\""]
        ) > 0.25
    );
    assert!(
        value(
            "glassbox_drift_psi{",
            &[model, "glassbox_field=\"mean radius\""]
        ) < 0.1
    );
    assert_eq!(value("glassbox_health{", &[model]), 2.0);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
