//! `glassbox compile --check-against`: the compiled component against the
//! fitted model's own answers.
//!
//! A converter can be wrong without failing: skl2onnx converts
//! HistGradientBoosting with categorical features into a graph whose
//! probabilities differ from scikit-learn's by up to 0.2. The compile
//! checks the component against onnxruntime-equivalent arithmetic, which
//! such a graph passes; only the data scientist's own model knows better.
//! This module compares the component with answers taken from the fitted
//! estimator, and the compile refuses to write a component that disagrees.
//!
//! The file is JSON Lines, one row per line:
//!
//! ```json
//! {"input": {"age": 41, "plan": "basic"}, "label": "stay", "probabilities": [0.3, 0.7]}
//! {"input": {"x0": 1.5}, "value": 12.25}
//! {"input": {"x0": 1.5}, "label": "1", "scores": [0.83]}
//! ```
//!
//! `label` is compared exactly; `probabilities`, `scores` and `value` within
//! the tolerance (absolute on probabilities, relative to the larger of 1 and
//! the expected magnitude on scores and values).

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::runtime::Model;
use crate::runtime::batch::{Prediction, Row};

/// The default tolerance: float32 arithmetic over a few hundred terms, with
/// room to spare, and far below what a wrong conversion shows (1e-2 and up).
pub const DEFAULT_TOLERANCE: f64 = 1e-4;

/// The most rows read from a check file.
pub const MAX_ROWS: usize = 1_000_000;

/// One row of a check file: the input and what the fitted model answered.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// The input row, keyed by feature name.
    pub input: Row,
    /// The predicted class.
    #[serde(default)]
    pub label: Option<serde_json::Value>,
    /// The class probabilities, in the model's class order.
    #[serde(default)]
    pub probabilities: Option<Vec<f64>>,
    /// Decision scores.
    #[serde(default)]
    pub scores: Option<Vec<f64>>,
    /// A regressor's value.
    #[serde(default)]
    pub value: Option<f64>,
}

/// Reads a check file; a line that is not a check row is an error naming it.
pub fn read(path: &Path) -> Result<Vec<Expected>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(Error::Training(format!(
                "{}: more than {MAX_ROWS} rows",
                path.display()
            )));
        }
        let row: Expected = serde_json::from_str(line).map_err(|e| {
            Error::Training(format!(
                "{}:{}: not a check row ({{\"input\": {{...}}, \"label\"/\"probabilities\"/\"scores\"/\"value\": ...}}): {e}",
                path.display(),
                i + 1
            ))
        })?;
        rows.push(row);
    }
    Ok(rows)
}

/// How the component compared with the fitted model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Rows checked.
    pub rows: usize,
    /// The worst difference seen (probabilities absolute, the rest relative).
    pub worst: f64,
    /// The rows that disagree, with how (the first 10).
    pub disagreements: Vec<String>,
    /// All rows that disagree.
    pub disagreeing: usize,
}

impl Report {
    /// Whether every row agreed.
    pub fn agrees(&self) -> bool {
        self.disagreeing == 0
    }
}

fn label_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Scores the check rows with `model` and compares.
pub fn check(model: &Model, expected: &[Expected], tolerance: f64) -> Result<Report> {
    let mut report = Report {
        rows: expected.len(),
        ..Report::default()
    };
    for (chunk_at, chunk) in expected.chunks(4096).enumerate() {
        let rows: Vec<Row> = chunk.iter().map(|e| e.input.clone()).collect();
        let got = model.score_rows(&rows)?;
        for (i, (g, e)) in got.iter().zip(chunk).enumerate() {
            let row = chunk_at * 4096 + i;
            let mut problems = Vec::new();
            let mut compare = |what: &str, ours: &[f64], theirs: &[f64], absolute: bool| {
                if ours.len() != theirs.len() {
                    problems.push(format!(
                        "{} {what} where the fitted model has {}",
                        ours.len(),
                        theirs.len()
                    ));
                    return;
                }
                for (k, (a, b)) in ours.iter().zip(theirs).enumerate() {
                    let scale = if absolute { 1.0 } else { b.abs().max(1.0) };
                    let d = (a - b).abs() / scale;
                    report.worst = report.worst.max(d);
                    if d > tolerance || d.is_nan() {
                        problems.push(format!("{what}[{k}] is {a}, the fitted model's {b}"));
                        return;
                    }
                }
            };
            let label = match g {
                Prediction::Class {
                    label,
                    probabilities,
                } => {
                    if let Some(p) = &e.probabilities {
                        compare("probabilities", probabilities, p, true);
                    }
                    Some(label)
                }
                Prediction::Scores { label, scores } => {
                    if let Some(s) = &e.scores {
                        compare("scores", scores, s, false);
                    }
                    Some(label)
                }
                Prediction::Value { value } => {
                    if let Some(v) = e.value {
                        compare("value", &[*value], &[v], false);
                    }
                    None
                }
                Prediction::Invalid { error } => {
                    problems.push(error.clone());
                    None
                }
            };
            if let (Some(ours), Some(theirs)) = (label, &e.label)
                && *ours != label_text(theirs)
            {
                problems.push(format!(
                    "label `{ours}`, the fitted model's `{}`",
                    label_text(theirs)
                ));
            }
            if !problems.is_empty() {
                report.disagreeing += 1;
                if report.disagreements.len() < 10 {
                    report
                        .disagreements
                        .push(format!("row {row}: {}", problems.join("; ")));
                }
            }
        }
    }
    Ok(report)
}
