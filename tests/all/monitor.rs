//! Live profiles and drift against the training profile, on the refdata
//! models with known shifts (tests/data/sklearn/README.md, "Drift").

use glassbox::monitor::drift::Level;
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
        let batch = glassbox::runtime::batch::from_rows(model.info(), chunk).unwrap();
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
    use glassbox::serve::Config;

    let dir = std::env::temp_dir().join(format!("glassbox-monitor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bc_gbc.wasm");
    std::fs::write(&file, compiled(SKLEARN, "bc_gbc")).unwrap();
    let server = crate::util::TestServer::start(Config {
        models: vec![file],
        ..Config::default()
    })
    .await;
    let base = server.base.clone();
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
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// churn compiled with its owner's expectations: a hard range on `age`,
/// soft categories on `device`, a soft bound on the share of churners.
pub fn churn_with_expectations() -> glassbox::Model {
    engine().load(&churn_with_expectations_component()).unwrap()
}

/// The component of [`churn_with_expectations`].
pub fn churn_with_expectations_component() -> Vec<u8> {
    use glassbox::artifact::expect::Expectations;
    use glassbox::compile::training::TrainingData;
    use glassbox::compile::{CompileOptions, compile};
    let onnx = std::fs::read(format!("{SKLEARN}/churn_coltrans_rf.onnx")).unwrap();
    let train = TrainingData::read(format!("{SKLEARN}/churn_coltrans_rf.train.jsonl")).unwrap();
    let expectations = Expectations::from_toml(
        r#"
        owner = "churn-team"
        contact = "churn@example.com"
        [features.age]
        min = 18
        max = 60
        severity = "hard"
        [features.device]
        categories = ["ios", "android", "web"]
        [outputs.share.churn]
        max = 0.05
        "#,
    )
    .unwrap();
    let opts = CompileOptions {
        expectations: Some(expectations),
        ..CompileOptions::new("churn")
    };
    compile(&onnx, &train, &opts).unwrap().component
}

/// The acceptance test of the issue: a hard range on one feature rejects
/// exactly the rows outside it, one by one and within a batch.
#[test]
fn a_hard_range_rejects_exactly_the_rows_outside_it() {
    let model = churn_with_expectations();
    let values = jsonl(&format!("{SKLEARN}/churn_coltrans_rf.drifted.jsonl"));
    let outside: Vec<usize> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| {
            v["age"]
                .as_f64()
                .is_some_and(|a| !(18.0..=60.0).contains(&a))
        })
        .map(|(i, _)| i)
        .collect();
    assert!(
        outside.len() > 5 && outside.len() < values.len() / 2,
        "the drifted file has some rows outside: {}",
        outside.len()
    );
    let rows = rows(&values);
    let mut rejected = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match model.score_rows(std::slice::from_ref(row)) {
            Ok(_) => {}
            Err(glassbox::Error::InvalidInput { violations, .. }) => {
                assert_eq!(violations.len(), 1, "{violations:?}");
                let v = &violations[0];
                assert_eq!(v.field, "age");
                assert!(
                    v.expected == "a value within [18, 60] (hard expectation of churn-team)",
                    "{v}"
                );
                rejected.push(i);
            }
            Err(e) => panic!("row {i}: {e}"),
        }
    }
    assert_eq!(rejected, outside);
    // In one batch, the same rows are named.
    let Err(glassbox::Error::InvalidInput { violations, .. }) = model.score_rows(&rows) else {
        panic!("the batch holds rows outside the range");
    };
    let named: Vec<usize> = violations.iter().map(|v| v.row).collect();
    assert_eq!(named, outside);
}

/// Soft expectations are counted by the monitor and move the health, with
/// a reason naming the owner.
#[test]
fn soft_expectations_are_counted_and_move_the_health() {
    let model = churn_with_expectations();
    // The held-out file has 200 rows, fewer once the hard range has
    // passed: lower the minimum for a verdict on the outputs.
    let mut config = MonitorConfig::default();
    config.thresholds.min_rows = 100;
    let monitor = Monitor::for_model(&model, config).unwrap();
    // The rows the hard range lets through.
    let values: Vec<_> = jsonl(&format!("{SKLEARN}/churn_coltrans_rf.inputs.jsonl"))
        .into_iter()
        .filter(|v| v["age"].as_f64().is_none_or(|a| (18.0..=60.0).contains(&a)))
        .collect();
    let unexpected_devices = values
        .iter()
        .filter(|v| {
            v["device"]
                .as_str()
                .is_some_and(|d| !["ios", "android", "web"].contains(&d))
        })
        .count();
    assert!(
        unexpected_devices > 0,
        "the held-out rows have a smart_tv or two"
    );
    let rows = rows(&values);
    let batch = glassbox::runtime::batch::from_rows(model.info(), &rows).unwrap();
    let scores = model.score(&batch).unwrap();
    monitor.observe(&batch, &scores);
    let r = monitor.report();
    assert_eq!(r.owner.as_deref(), Some("churn-team"));
    let device = r.expectations.iter().find(|e| e.field == "device").unwrap();
    assert_eq!(device.violations, Some(unexpected_devices as u64));
    assert_eq!(device.rule, "one of ios, android, web");
    assert_ne!(device.level, Level::Ok);
    let churners = match &scores {
        glassbox::Scores::Classification(c) => c.labels.iter().filter(|&&l| l == 0).count(),
        _ => unreachable!(),
    };
    let share = r
        .expectations
        .iter()
        .find(|e| e.field == "(prediction)")
        .unwrap();
    assert_eq!(share.observed, Some(churners as f64 / rows.len() as f64));
    assert_eq!(
        share.level,
        if churners as f64 / rows.len() as f64 > 0.05 {
            Level::Alert
        } else {
            Level::Ok
        }
    );
    assert!(
        r.reasons
            .iter()
            .any(|x| x.contains("`device`") && x.contains("(owner churn-team)")),
        "{:#?}",
        r.reasons
    );
    assert_ne!(r.health, Level::Ok);
}

/// Serves `component` with a prediction log into `log`, sends `rows` in
/// requests of 10, and stops the server cleanly. Returns the live
/// monitor's report as the server gave it just before stopping, and the
/// number of rows it accepted.
async fn serve_and_log(
    component: &std::path::Path,
    log: &std::path::Path,
    max_file_bytes: u64,
    name: &str,
    rows: &[serde_json::Value],
) -> (serde_json::Value, usize) {
    use glassbox::monitor::predlog::PredictionLogConfig;
    use glassbox::serve::Config;
    let server = crate::util::TestServer::start(Config {
        models: vec![component.to_path_buf()],
        prediction_log: PredictionLogConfig {
            dir: Some(log.to_path_buf()),
            max_file_bytes,
            ..PredictionLogConfig::default()
        },
        ..Config::default()
    })
    .await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let mut accepted = 0;
    for chunk in rows.chunks(10) {
        let r = client
            .post(format!("{base}/v1/models/{name}:predict"))
            .json(&serde_json::json!({ "instances": chunk }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        accepted += chunk.len();
    }
    let live: serde_json::Value = client
        .get(format!("{base}/v2/models/{name}/monitor"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server.shutdown().await.unwrap();
    (live["monitor"].clone(), accepted)
}

fn flagged_json(report: &serde_json::Value) -> Vec<String> {
    report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] != "(prediction)" && c["drift"]["level"] != "ok")
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// The acceptance test of the prediction log: what `glassbox serve` logs,
/// `glassbox report` judges as the live monitor did, row for row: held-out
/// traffic stays ok, drifted traffic flags exactly the shifted features.
/// Nothing is lost on a clean shutdown, and rotation splits the log into
/// files without losing a line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glassbox_report_on_logged_traffic_gives_the_live_verdicts() {
    let dir = std::env::temp_dir().join(format!("glassbox-predlog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (model, served_as, shifted) in [
        (
            "bc_gbc",
            "bc_gbc",
            vec!["mean texture", "worst concave points"],
        ),
        (
            "churn_coltrans_rf",
            "churn_coltrans_rf",
            vec!["age", "device"],
        ),
    ] {
        let component = dir.join(format!("{model}.wasm"));
        std::fs::write(&component, compiled(SKLEARN, model)).unwrap();
        for (file, want) in [("inputs", vec![]), ("drifted", shifted.clone())] {
            let log = dir.join(format!("{model}-{file}"));
            let rows = jsonl(&format!("{SKLEARN}/{model}.{file}.jsonl"));
            // Small files for one run, to see rotation at work.
            let max_file_bytes = if file == "drifted" { 30_000 } else { 64 << 20 };
            let (live, accepted) =
                serve_and_log(&component, &log, max_file_bytes, served_as, &rows).await;
            let files: Vec<_> = std::fs::read_dir(&log).unwrap().collect();
            if file == "drifted" {
                assert!(
                    files.len() > 2,
                    "{model}: rotated into {} files",
                    files.len()
                );
            }
            let lines: usize = files
                .iter()
                .map(|f| {
                    let text = std::fs::read_to_string(f.as_ref().unwrap().path()).unwrap();
                    assert!(text.ends_with('\n'), "whole lines only");
                    text.lines().count()
                })
                .sum();
            assert_eq!(lines, accepted, "{model} {file}: every scored row logged");

            let out = std::process::Command::new(env!("CARGO_BIN_EXE_glassbox"))
                .args(["report", log.to_str().unwrap(), "--json", "--model"])
                .arg(&component)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let offline: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(offline["rows"], accepted as u64, "{model} {file}");
            let mut got = flagged_json(&offline);
            got.sort();
            assert_eq!(got, want, "{model} {file}: {:#}", offline["reasons"]);
            assert_eq!(
                flagged_json(&live),
                flagged_json(&offline),
                "{model} {file}: the live and offline verdicts agree"
            );
            for (l, o) in live["columns"]
                .as_array()
                .unwrap()
                .iter()
                .zip(offline["columns"].as_array().unwrap())
            {
                assert_eq!(l["live"], o["live"], "{model} {file}: {} counts", l["name"]);
            }
            assert_eq!(live["health"], offline["health"]);
        }
    }
    // The HTML page carries the report and the dashboard's code.
    let page = dir.join("report.html");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["report", dir.join("bc_gbc-drifted").to_str().unwrap()])
        .args(["--model", dir.join("bc_gbc.wasm").to_str().unwrap()])
        .args(["--html", page.to_str().unwrap(), "--fail-on", "warn"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "--fail-on warn: the drifted log fails"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bc_gbc 1.0.0: alert over 200 logged rows"),
        "{text}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("id=\"glassbox-data\"") && html.contains("worst concave points"));
    let _ = std::fs::remove_dir_all(&dir);
}
