use std::sync::Arc;

use glassbox::{Batch, Prediction, Scores};
use glassbox_fixtures as fx;
use serde_json::json;

use crate::util;

fn values(predictions: Vec<Prediction>) -> Vec<f64> {
    predictions
        .into_iter()
        .map(|p| match p {
            Prediction::Value { value } => value,
            other => panic!("expected a value, got {other:?}"),
        })
        .collect()
}

#[test]
fn rows_become_columns_with_explicit_missing_values() {
    let model = util::load(fx::ECHO);
    // echo answers x + (y or 100) + code(color): red 0, green 1, unknown 10, missing 20.
    let rows = util::rows(&[
        json!({"x": 1.0, "y": 2.0, "color": "red"}),
        json!({"x": 1.0, "y": null, "color": "green"}),
        json!({"x": 1.0, "y": 2.0, "color": "purple"}),
        json!({"x": 1.0, "y": 2.0, "color": null}),
        json!({"x": -5, "y": 0.5, "color": "green"}),
    ]);
    let got = values(model.score_rows(&rows).unwrap());
    assert_eq!(got, vec![3.0, 102.0, 13.0, 23.0, -3.5]);
}

#[test]
fn a_single_row_is_a_batch_of_one() {
    let model = util::load(fx::ECHO);
    // Numeric fields x and y, column after column; y is missing.
    let batch = Batch {
        rows: 1,
        numeric: vec![4.0, f64::NAN],
        numeric_missing: vec![1],
        dictionary: vec!["green".into()],
        categorical: vec![Some(0)],
    };
    assert_eq!(
        model.score(&batch).unwrap(),
        Scores::Regression(vec![105.0])
    );
}

#[test]
fn columns_are_laid_out_one_after_the_other() {
    let model = util::load(fx::ECHO);
    // Three rows: x = [1, 2, 3], y = [10, missing, 30], color = [red, -, blue].
    let batch = Batch {
        rows: 3,
        numeric: vec![1.0, 2.0, 3.0, 10.0, f64::NAN, 30.0],
        numeric_missing: vec![4],
        dictionary: vec!["blue".into(), "red".into()],
        categorical: vec![Some(1), None, Some(0)],
    };
    assert_eq!(
        model.score(&batch).unwrap(),
        Scores::Regression(vec![11.0, 122.0, 43.0])
    );
}

#[test]
fn an_empty_batch_scores_to_nothing() {
    let model = util::load(fx::ECHO);
    assert!(model.score_rows(&[]).unwrap().is_empty());
}

#[test]
fn many_threads_score_one_model_at_once() {
    let model = Arc::new(util::load(fx::ECHO));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let model = model.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let x = (t * 1000 + i) as f64;
                    let rows = util::rows(&[json!({"x": x, "y": 1.0, "color": "red"})]);
                    assert_eq!(values(model.score_rows(&rows).unwrap()), vec![x + 1.0]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("scoring thread");
    }
}

#[test]
fn classifier_predictions_carry_labels_and_probabilities() {
    let model = util::load(fx::BAD_OUTPUT);
    // x = 0: the fixture answers honestly, "yes" with [0.25, 0.75].
    let out = model.score_rows(&util::rows(&[json!({"x": 0.0})])).unwrap();
    assert_eq!(
        out,
        vec![Prediction::Class {
            label: "yes".into(),
            probabilities: vec![0.25, 0.75]
        }]
    );
    assert_eq!(
        serde_json::to_string(&out[0]).unwrap(),
        r#"{"label":"yes","probabilities":[0.25,0.75]}"#
    );
}

/// Two digits rows: the first ordinary, the second so large that the
/// scaler overflows and the probabilities come out NaN.
fn one_good_one_overflowing() -> Vec<glassbox::Row> {
    let model = util::engine()
        .load(glassbox::examples::DIGITS_LOGREG.component)
        .unwrap();
    let row = |v: f64| {
        model
            .info()
            .inputs
            .iter()
            .map(|f| (f.name.clone(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
    };
    vec![row(1.0), row(1.7e308)]
}

/// A row whose answer is not usable fails alone: the other rows of the same
/// call are answered (issue: one bad answer failed its whole batch).
#[test]
fn a_bad_answer_fails_only_its_row() {
    let model = util::engine()
        .load(glassbox::examples::DIGITS_LOGREG.component)
        .unwrap();
    let got = model.score_rows(&one_good_one_overflowing()).unwrap();
    assert!(matches!(got[0], Prediction::Class { .. }), "{:?}", got[0]);
    let Prediction::Invalid { error } = &got[1] else {
        panic!("row 1: {:?}", got[1]);
    };
    assert!(error.contains("probability NaN"), "{error}");
    assert_eq!(
        serde_json::to_value(&got[1]).unwrap(),
        json!({ "error": error })
    );
    // Alone, the good row answers the same.
    let alone = model.score_rows(&one_good_one_overflowing()[..1]).unwrap();
    assert_eq!(alone[0], got[0]);
}
