//! The coverage corpus (tests/data/coverage): one pipeline per estimator and
//! transformer skl2onnx converts, plus XGBoost, LightGBM and CatBoost, each
//! compiled and scored against onnxruntime's answers.
//!
//! Two checks. A model that compiles must answer as onnxruntime does
//! (labels exact, 1e-5 absolute on probabilities, 1e-5 relative on values):
//! a wrong answer fails the test, always. And docs/COVERAGE.md must be the
//! table this test computes, so the document cannot drift from what the
//! code does: after a change that compiles more (or less), regenerate it
//! with
//!
//! ```sh
//! GLASSBOX_BLESS=1 cargo test -p glassbox --test integration coverage
//! ```
//!
//! `GLASSBOX_COVERAGE_ONLY=name,name` checks just those models.

use std::fmt::Write as _;

use glassbox::Prediction;
use glassbox::compile::training::TrainingData;
use glassbox::compile::{CompileOptions, compile};
use serde_json::Value;

use crate::util;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/coverage");
const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/COVERAGE.md");

/// What happened to one corpus model.
enum Outcome {
    /// The converter failed, or onnxruntime cannot run its output: nothing
    /// for Glassbox to compile. The manifest's status says why.
    NoModel,
    /// `glassbox compile` refused it, with this (first line of) error.
    Refused(String),
    /// Compiled and scored: the worst difference from onnxruntime and the
    /// rows whose labels differ.
    Scored {
        worst: f64,
        labels: usize,
        /// The worst difference from scikit-learn's own answers
        /// (absolute on probabilities, relative on values).
        vs_sklearn: Option<f64>,
    },
    /// Compiled, but scoring the held-out rows failed.
    Failed(String),
    /// Compiled; onnxruntime cannot run the file, so there is nothing to
    /// compare with.
    Unchecked,
}

fn label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn run(entry: &Value) -> Outcome {
    let name = entry["name"].as_str().unwrap();
    let outcome = run_one(name);
    match &outcome {
        Outcome::NoModel | Outcome::Unchecked => {}
        Outcome::Refused(why) | Outcome::Failed(why) => eprintln!("{name:<40} {why}"),
        Outcome::Scored { worst, labels, .. } => {
            eprintln!("{name:<40} {labels} labels differ, worst {worst:e}")
        }
    }
    outcome
}

fn run_one(name: &str) -> Outcome {
    let Ok(onnx) = std::fs::read(format!("{CORPUS}/{name}.onnx")) else {
        return Outcome::NoModel;
    };
    let train = TrainingData::read(format!("{CORPUS}/{name}.train.jsonl")).unwrap();
    let component = match compile(&onnx, &train, &CompileOptions::new(name)) {
        Ok(c) => c.component,
        Err(e) => {
            let text = e.to_string();
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            return Outcome::Refused(lines.join(" "));
        }
    };
    let model = util::engine().load(&component).unwrap();
    let inputs = util::jsonl(&format!("{CORPUS}/{name}.inputs.jsonl"));
    let expected = util::jsonl(&format!("{CORPUS}/{name}.expected.jsonl"));
    let ort = ["onnxruntime_label", "onnxruntime_value"];
    if !expected
        .iter()
        .all(|e| ort.iter().any(|k| e.get(*k).is_some()))
    {
        // onnxruntime cannot run the exported file: nothing to compare with.
        return Outcome::Unchecked;
    }
    let predictions = match model.score_rows(&util::rows(&inputs)) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let (mut worst, mut labels) = (0f64, 0usize);
    let mut vs_sklearn: Option<f64> = None;
    for (i, (p, e)) in predictions.iter().zip(&expected).enumerate() {
        match p {
            Prediction::Class {
                label: l,
                probabilities,
            } => {
                if *l != label(&e["onnxruntime_label"]) {
                    labels += 1;
                }
                // Hard voting has no predict_proba, but its graph's second
                // output is the share of votes, which Glassbox takes as
                // probabilities: compare with that output.
                let ort = e.get("onnxruntime_proba").or(e.get("onnxruntime_scores"));
                let Some(Ok(ort)) = ort.map(|o| serde_json::from_value::<Vec<f64>>(o.clone()))
                else {
                    return Outcome::Failed(format!("row {i}: no onnxruntime_proba to compare"));
                };
                for (g, o) in probabilities.iter().zip(&ort) {
                    worst = worst.max((g - o).abs());
                }
                if let Ok(sk) = serde_json::from_value::<Vec<f64>>(e["proba"].clone()) {
                    for (g, k) in probabilities.iter().zip(&sk) {
                        vs_sklearn = Some(vs_sklearn.unwrap_or(0.0).max((g - k).abs()));
                    }
                }
            }
            Prediction::Scores { label: l, scores } => {
                if *l != label(&e["onnxruntime_label"]) {
                    labels += 1;
                }
                let Ok(ort) = serde_json::from_value::<Vec<f64>>(e["onnxruntime_scores"].clone())
                else {
                    return Outcome::Failed(format!("row {i}: no onnxruntime_scores to compare"));
                };
                let sklearn: Option<Vec<f64>> = serde_json::from_value(e["decision"].clone()).ok();
                if scores.len() == ort.len() {
                    for (g, o) in scores.iter().zip(&ort) {
                        worst = worst.max((g - o).abs() / o.abs().max(1.0));
                    }
                } else if let [s] = scores[..] {
                    // Two classes: converters write the one score as `[d]`,
                    // `[-d, d]` or `[d, -d]`; ours is scikit-learn's `d`.
                    let d = sklearn.as_ref().and_then(|d| d.first().copied());
                    let err = ort
                        .iter()
                        .flat_map(|&o| [o, -o])
                        .filter(|c| d.is_none_or(|d| (c > &0.0) == (d > 0.0)))
                        .map(|c| (s - c).abs() / c.abs().max(1.0))
                        .fold(f64::INFINITY, f64::min);
                    worst = worst.max(err);
                } else {
                    return Outcome::Failed(format!(
                        "row {i}: {} scores where onnxruntime has {}",
                        scores.len(),
                        ort.len()
                    ));
                }
            }
            Prediction::Value { value } => {
                // A one-target regressor's answer, as a number or `[number]`.
                let o = match &e["onnxruntime_value"] {
                    Value::Array(a) if a.len() == 1 => a[0].as_f64(),
                    v => v.as_f64(),
                };
                let Some(o) = o else {
                    return Outcome::Failed(format!("row {i}: no onnxruntime_value to compare"));
                };
                worst = worst.max((value - o).abs() / o.abs().max(1e-6));
                if let Some(k) = e["value"].as_f64() {
                    let rel = (value - k).abs() / k.abs().max(1e-6);
                    vs_sklearn = Some(vs_sklearn.unwrap_or(0.0).max(rel));
                }
            }
            Prediction::Invalid { error } => return Outcome::Failed(format!("row {i}: {error}")),
        }
    }
    Outcome::Scored {
        worst,
        labels,
        vs_sklearn,
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[test]
fn every_compiled_corpus_model_answers_as_onnxruntime_and_the_table_is_current() {
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(format!("{CORPUS}/manifest.json")).unwrap())
            .unwrap();
    // GLASSBOX_COVERAGE_ONLY=a,b checks just those models (and not the
    // document), for working on one converter's output.
    let only = std::env::var("GLASSBOX_COVERAGE_ONLY").ok();
    let manifest: Vec<Value> = match &only {
        Some(names) => manifest
            .into_iter()
            .filter(|e| names.split(',').any(|n| e["name"] == n))
            .collect(),
        None => manifest,
    };
    // Two threads: compiling is the cost, and CI has two cores.
    let half = manifest.len().div_ceil(2);
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let parts: Vec<_> = manifest
            .chunks(half.max(1))
            .map(|part| s.spawn(move || part.iter().map(run).collect::<Vec<_>>()))
            .collect();
        parts.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });

    let mut wrong = Vec::new();
    let (mut runnable, mut compiled) = (0, 0);
    let mut rows = String::new();
    for (entry, outcome) in manifest.iter().zip(&outcomes) {
        let name = entry["name"].as_str().unwrap();
        let ops: Vec<&str> = entry["ops"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let status = match &entry["status"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let (compiles, matches, error, note): (String, String, String, String) = match outcome {
            Outcome::NoModel => ("—".into(), "—".into(), "—".into(), status),
            Outcome::Refused(why) => {
                runnable += 1;
                ("no".into(), "—".into(), "—".into(), why.clone())
            }
            Outcome::Unchecked => {
                runnable += 1;
                compiled += 1;
                ("yes".into(), "—".into(), "—".into(), status)
            }
            Outcome::Failed(why) => {
                runnable += 1;
                compiled += 1;
                wrong.push(format!("{name}: {why}"));
                ("yes".into(), "**no**".into(), "—".into(), why.clone())
            }
            Outcome::Scored {
                worst,
                labels,
                vs_sklearn,
            } => {
                runnable += 1;
                compiled += 1;
                // Float32 models over many features (naive Bayes on 64
                // pixels) are only good to a few 1e-5: onnxruntime itself is
                // that far from scikit-learn. Within 1e-5 of onnxruntime, or
                // no farther from scikit-learn than onnxruntime is.
                let ort_vs_sklearn = entry["vs_scikit_learn"]["max_error"].as_f64();
                let as_close = matches!(
                    (vs_sklearn, ort_vs_sklearn),
                    (Some(ours), Some(theirs)) if *ours <= theirs
                );
                let ok = *labels == 0 && (*worst <= 1e-5 || as_close);
                if !ok {
                    wrong.push(format!("{name}: {labels} labels differ, worst {worst:e}"));
                }
                let mut note = if status == "ok" {
                    String::new()
                } else {
                    status
                };
                if *worst > 1e-5
                    && let (Some(ours), Some(theirs)) = (vs_sklearn, ort_vs_sklearn)
                {
                    note = format!(
                        "float32 precision: {ours:.1e} from scikit-learn, onnxruntime {theirs:.1e}. {note}"
                    );
                }
                (
                    "yes".to_string(),
                    if ok { "yes".into() } else { "**no**".into() },
                    format!("{worst:.0e}"),
                    note,
                )
            }
        };
        let _ = writeln!(
            rows,
            "| {name} | {} | {} | {} | {compiles} | {matches} | {error} | {} |",
            cell(entry["estimator"].as_str().unwrap_or("")),
            cell(entry["converter"].as_str().unwrap_or("")),
            cell(&ops.join(", ")),
            cell(&note),
        );
    }
    let table = format!(
        "# Coverage\n\n\
         <!-- Generated by tests/all/coverage.rs from tests/data/coverage; do not edit. \
         Regenerate with: GLASSBOX_BLESS=1 cargo test -p glassbox --test integration coverage -->\n\n\
         One pipeline per estimator and transformer that skl2onnx 1.20 lists, plus XGBoost, \
         LightGBM and CatBoost, each compiled by `glassbox compile` and scored on held-out \
         rows against onnxruntime 1.32's answers (labels exact, probabilities within 1e-5, \
         values within 1e-5 relative; where onnxruntime itself is farther than that from \
         scikit-learn, no farther from scikit-learn than onnxruntime is). How the corpus is made: \
         [tests/data/coverage/README.md](../tests/data/coverage/README.md).\n\n\
         **{compiled} of the {runnable} pipelines whose converter produced a model compile, and \
         every one of those that onnxruntime can run matches it.** {} entries have no runnable model (the converter \
         fails, or is wrong, or the estimator is neither a classifier nor a regressor); the \
         note says which.\n\n\
         | model | estimator | converter | operators | compiles | matches | max error | note |\n\
         |---|---|---|---|---|---|---|---|\n{rows}",
        manifest.len() - runnable,
    );
    assert!(
        wrong.is_empty(),
        "compiled models that answer differently from onnxruntime:\n{}",
        wrong.join("\n")
    );
    if only.is_some() {
        return;
    }
    if std::env::var_os("GLASSBOX_BLESS").is_some() {
        std::fs::write(DOC, &table).unwrap();
        return;
    }
    let current = std::fs::read_to_string(DOC).unwrap_or_default();
    assert!(
        current == table,
        "docs/COVERAGE.md is not the table the corpus gives ({compiled} of {runnable} compile); \
         regenerate it with GLASSBOX_BLESS=1 cargo test -p glassbox --test integration coverage"
    );
}
