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
