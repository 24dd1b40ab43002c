use glassbox::{Batch, Error, ModelError};
use glassbox_fixtures as fx;
use serde_json::json;

use crate::util;

#[test]
fn every_input_problem_is_listed_with_row_field_expected_and_got() {
    let model = util::load(fx::ECHO);
    let rows = util::rows(&[
        json!({"x": 1.0, "y": 2.0, "color": "red"}),
        json!({"x": "1.0", "y": 2.0, "color": "red"}),
        json!({"y": 2.0, "color": 3}),
        json!({"x": null, "y": true, "color": "red", "colour": "red"}),
    ]);
    let err = model.score_rows(&rows).unwrap_err();
    let Error::InvalidInput { model, violations } = &err else {
        panic!("expected InvalidInput, got {err}");
    };
    assert_eq!(model, "echo");
    let found: Vec<(usize, &str, &str, &str)> = violations
        .iter()
        .map(|v| (v.row, v.field.as_str(), v.expected.as_str(), v.got.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (1, "x", "a number", "the string \"1.0\""),
            (2, "x", "a number", "no value (the key is absent)"),
            (2, "color", "a string", "the number 3"),
            (
                3,
                "colour",
                "no such field (the model has no input by that name)",
                "the string \"red\""
            ),
            (3, "x", "a number", "null (this field may not be missing)"),
            (3, "y", "a number", "the boolean true"),
        ]
    );
    let message = err.to_string();
    assert!(
        message.contains("row 1, field `x`: expected a number, got the string \"1.0\""),
        "{message}"
    );
}

#[test]
fn malformed_batches_are_refused_before_the_guest_runs() {
    let model = util::load(fx::ECHO);
    // Two rows: too few numeric values, a missing value in the required
    // field x, and a categorical code outside the dictionary.
    let batch = Batch {
        rows: 2,
        numeric: vec![1.0, f64::NAN, 3.0],
        numeric_missing: vec![1],
        dictionary: vec!["red".into()],
        categorical: vec![Some(0), Some(5)],
    };
    let err = model.score(&batch).unwrap_err();
    let Error::InvalidInput { violations, .. } = &err else {
        panic!("expected InvalidInput, got {err}");
    };
    let found: Vec<(usize, &str)> = violations
        .iter()
        .map(|v| (v.row, v.field.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![(0, "(numeric)"), (1, "x"), (1, "color")],
        "{err}"
    );
    assert!(violations[0].expected.contains("4 values"), "{err}");
    assert!(violations[1].got.contains("missing"), "{err}");
    assert!(violations[2].got.contains("code 5"), "{err}");
}

#[test]
fn batches_over_the_row_limit_are_refused() {
    let engine = glassbox::Engine::builder()
        .limits(glassbox::Limits {
            max_rows: 3,
            ..Default::default()
        })
        .build()
        .unwrap();
    let model = engine.load_file(fx::ECHO).unwrap();
    let rows = util::rows(&vec![json!({"x": 1.0, "y": 1.0, "color": "red"}); 4]);
    let err = model.score_rows(&rows).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("4 rows, the limit is 3"), "{err}");
}

#[test]
fn batches_over_the_byte_limit_are_refused() {
    let engine = glassbox::Engine::builder()
        .limits(glassbox::Limits {
            max_input_bytes: 1000,
            ..Default::default()
        })
        .build()
        .unwrap();
    let model = engine.load_file(fx::ECHO).unwrap();
    // 100 rows: 2 × 100 numbers (1,600 bytes) plus 100 codes, over 1,000.
    let rows = util::rows(&vec![json!({"x": 1.0, "y": 1.0, "color": "red"}); 100]);
    let err = model.score_rows(&rows).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("the limit is 1000"), "{err}");
    // A smaller batch still goes through.
    assert!(model.score_rows(&rows[..10]).is_ok());
}

/// Scores one row of the lying fixture, whose `x` picks the lie.
fn lie(model: &glassbox::Model, x: f64) -> Result<Vec<glassbox::Prediction>, Error> {
    model.score_rows(&util::rows(&[json!({"x": x})]))
}

/// A row's answer that breaks the model's declaration fails that row (the
/// rest of the call stands); an answer of the wrong shape fails the call.
#[test]
fn bad_answers_are_errors_not_silent_bad_predictions() {
    let model = util::load(fx::BAD_OUTPUT);
    let cases = [
        (1.0, "probability NaN is not a number in [0, 1]"),
        (2.0, "probability 1.5 is not a number in [0, 1]"),
        (3.0, "probabilities sum to 1.25, not 1"),
        (4.0, "label index 7 is outside the 2 classes"),
    ];
    for (x, expected) in cases {
        let got = lie(&model, x).unwrap();
        let glassbox::Prediction::Invalid { error } = &got[0] else {
            panic!("x={x}: {got:?}");
        };
        assert!(error.contains(expected), "x={x}: {error}");
        // And the model keeps answering honest questions.
        assert!(lie(&model, 0.0).unwrap()[0].is_valid());
    }
    let err = lie(&model, 5.0).unwrap_err();
    assert!(matches!(err, Error::BadOutput { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("0 labels and 0 probabilities for 1 rows of 2 classes"),
        "{err}"
    );
    assert!(
        err.to_string().contains("bad-output"),
        "names the model: {err}"
    );
}

#[test]
fn the_models_own_refusals_are_kept_apart_from_traps() {
    let model = util::load(fx::BAD_OUTPUT);
    let err = lie(&model, 6.0).unwrap_err();
    let Error::Guest {
        error: ModelError::InvalidInput(problems),
        ..
    } = &err
    else {
        panic!("expected a guest invalid-input error, got {err}");
    };
    assert_eq!(problems[0].field, "x");
    assert_eq!(err.outcome(), "guest_error");

    let err = lie(&model, 7.0).unwrap_err();
    assert!(
        matches!(&err, Error::Guest { error: ModelError::Internal(m), .. } if m.contains("corrupt")),
        "{err}"
    );
}
