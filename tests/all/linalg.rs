//! The host's linear algebra (`glassbox:model/linalg`) against a guest that
//! misuses it: each misuse costs one failed call with an error that says
//! what went wrong, and the model answers the next call.

use std::time::{Duration, Instant};

use glassbox::{Engine, Error, Limits, Model, Prediction};
use glassbox_fixtures as fx;
use serde_json::json;

use crate::util;

fn call(model: &Model, case: u32, size: usize) -> Result<Vec<Prediction>, Error> {
    model.score_rows(&util::rows(&[json!({"case": case, "size": size})]))
}

/// `case` fails with an error whose text has `expected`, then the model
/// behaves.
fn fails_then_recovers(model: &Model, case: u32, size: usize, expected: &str) -> Error {
    let err = call(model, case, size).unwrap_err();
    assert!(
        err.to_string().contains(expected),
        "case {case}: expected {expected:?} in: {err}"
    );
    assert_eq!(
        call(model, 0, 7).unwrap(),
        vec![Prediction::Value { value: 7.0 }],
        "the model answers after case {case}"
    );
    err
}

#[test]
fn a_model_that_imports_the_linear_algebra_loads_and_lists_it() {
    let model = util::load(fx::ABUSES_LINALG);
    assert!(
        model
            .imports()
            .iter()
            .any(|i| i == "glassbox:model/linalg@0.2.0"),
        "{:?}",
        model.imports()
    );
    assert_eq!(
        call(&model, 0, 3).unwrap(),
        vec![Prediction::Value { value: 3.0 }]
    );
    // And one that does not import it still loads (the echo fixture).
    let echo = util::load(fx::ECHO);
    assert!(!echo.imports().iter().any(|i| i.contains("linalg")));
}

#[test]
fn bad_dimensions_and_lengths_are_errors_named_before_any_work() {
    let model = util::load(fx::ABUSES_LINALG);
    let err = fails_then_recovers(
        &model,
        1,
        0,
        "values do not make a 4294967295 × 4294967295 matrix",
    );
    assert!(matches!(err, Error::Guest { .. }), "{err}");
    fails_then_recovers(&model, 2, 1000, "3 values do not make 1000 rows of 2");
    fails_then_recovers(&model, 8, 0, "there is no matrix 5");
}

#[test]
fn nan_is_a_value_and_its_row_is_reported_not_the_process() {
    let model = util::load(fx::ABUSES_LINALG);
    let answers = call(&model, 3, 0).unwrap();
    match &answers[..] {
        [Prediction::Invalid { error }] => assert!(error.contains("not finite"), "{error}"),
        other => panic!("expected an invalid row, got {other:?}"),
    }
}

#[test]
fn a_matrix_used_after_it_was_dropped_traps() {
    let model = util::load(fx::ABUSES_LINALG);
    let err = fails_then_recovers(&model, 4, 0, "handle");
    assert!(matches!(err, Error::Trap { .. }), "{err}");
}

#[test]
fn handles_and_host_memory_are_bounded_per_instance() {
    let model = util::load(fx::ABUSES_LINALG);
    fails_then_recovers(&model, 6, 0, "an instance may hold 4096 matrices at once");
    // 4 MiB matrices against the fixtures' 32 MiB cap: the host's memory
    // counts with the instance's.
    let err = fails_then_recovers(&model, 7, 0, "the limit is 33554432 bytes");
    assert!(matches!(err, Error::OutOfMemory { .. }), "{err}");
}

#[test]
fn a_long_product_stops_at_the_calls_deadline() {
    let engine = |deadline: Duration| {
        Engine::builder()
            .limits(Limits {
                deadline,
                memory_bytes: 256 << 20,
                ..Limits::default()
            })
            .build()
            .unwrap()
    };
    // How long the guest's preparation (a 2048 × 2048 matrix) and the
    // product take here with no deadline in the way, so that the test means
    // the same on a fast machine and a loaded one: the deadline falls well
    // after the preparation and well before the product's end.
    let relaxed = engine(Duration::from_secs(120))
        .load_file(fx::ABUSES_LINALG)
        .unwrap();
    let time = |rows: usize| {
        let started = Instant::now();
        call(&relaxed, 5, rows).unwrap();
        started.elapsed()
    };
    let prepare = time(1);
    let mut rows = 256;
    let mut full = time(rows);
    while full < prepare * 10 + Duration::from_millis(200) && rows < 16384 {
        rows *= 2;
        full = time(rows);
    }
    let deadline = prepare * 2 + (full - prepare) / 10 + Duration::from_millis(20);
    eprintln!("preparing {prepare:?}, {rows} rows {full:?}; deadline {deadline:?}");
    let strict = engine(deadline).load_file(fx::ABUSES_LINALG).unwrap();
    let started = Instant::now();
    let err = call(&strict, 5, rows).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(
        took < deadline + (full - deadline) / 2,
        "stopped after {took:?}; the whole product takes {full:?}, the deadline is {deadline:?}"
    );
    assert_eq!(
        call(&strict, 0, 2).unwrap(),
        vec![Prediction::Value { value: 2.0 }]
    );
}
