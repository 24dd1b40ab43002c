use std::time::{Duration, Instant};

use glassbox::{Error, Model};
use glassbox_fixtures as fx;
use serde_json::json;

use crate::util;

fn call(model: &Model, x: f64) -> Result<Vec<glassbox::Prediction>, Error> {
    model.score_rows(&util::rows(&[json!({"x": x})]))
}

/// The hostile call fails as expected, and the next call on the same model succeeds.
fn fails_once_then_recovers(model: &Model, check: impl Fn(&Error) -> bool) -> Error {
    let err = call(model, 1.0).unwrap_err();
    assert!(check(&err), "unexpected error: {err}");
    assert!(
        err.to_string().contains(model.name()),
        "names the model: {err}"
    );
    assert_eq!(
        call(model, 0.0).unwrap(),
        vec![glassbox::Prediction::Value { value: 0.0 }],
        "the runtime recovers after: {err}"
    );
    err
}

#[test]
fn an_endless_loop_times_out() {
    let model = util::load(fx::LOOPS_FOREVER);
    let started = Instant::now();
    let err = fails_once_then_recovers(&model, |e| matches!(e, Error::Timeout { .. }));
    assert_eq!(err.outcome(), "timeout");
    // The deadline is 500 ms; allow for the epoch tick and a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.to_string().contains("500ms deadline"), "{err}");
}

#[test]
fn unbounded_allocation_hits_the_memory_cap() {
    let model = util::load(fx::GROWS_MEMORY);
    let err = fails_once_then_recovers(&model, |e| matches!(e, Error::OutOfMemory { .. }));
    assert_eq!(err.outcome(), "out_of_memory");
    assert!(
        err.to_string().contains("the limit is 33554432 bytes"),
        "{err}"
    );
}

#[test]
fn runaway_recursion_overflows_the_stack() {
    let model = util::load(fx::DEEP_RECURSION);
    // Big frames: the guest's shadow stack in linear memory overflows.
    let err = fails_once_then_recovers(&model, |e| matches!(e, Error::StackOverflow { .. }));
    assert!(err.to_string().contains("overflowed its stack"), "{err}");
    // Small frames: the wasm stack itself hits the engine's limit.
    let err = call(&model, 2.0).unwrap_err();
    assert!(matches!(err, Error::StackOverflow { .. }), "{err}");
    assert!(call(&model, 0.0).is_ok());
}

#[test]
fn a_panic_is_a_trap_that_carries_the_panic_message() {
    let model = util::load(fx::TRAPS);
    let err = fails_once_then_recovers(&model, |e| matches!(e, Error::Trap { .. }));
    assert!(err.to_string().contains("model bug: x = 1"), "{err}");
    assert_eq!(err.outcome(), "trap");
}

#[test]
fn a_looping_model_does_not_stall_others() {
    let engine = util::engine();
    let looping = engine.load_file(fx::LOOPS_FOREVER).unwrap();
    let echo = engine.load_file(fx::ECHO).unwrap();
    let spinner = std::thread::spawn(move || call(&looping, 1.0));
    let started = Instant::now();
    let rows = util::rows(&[json!({"x": 1.0, "y": 1.0, "color": "red"})]);
    let mut calls = 0;
    while started.elapsed() < Duration::from_millis(300) {
        echo.score_rows(&rows).unwrap();
        calls += 1;
    }
    assert!(calls > 10, "only {calls} calls while another model looped");
    assert!(matches!(
        spinner.join().unwrap(),
        Err(Error::Timeout { .. })
    ));
}

#[test]
fn repeated_traps_do_not_leak_instances() {
    // Every trap discards its instance; far more traps than the pool has
    // slots must still leave the model usable.
    let engine = glassbox::Engine::builder()
        .limits(glassbox::Limits {
            max_instances: 4,
            ..Default::default()
        })
        .build()
        .unwrap();
    let model = engine.load_file(fx::TRAPS).unwrap();
    for _ in 0..20 {
        assert!(matches!(call(&model, 1.0), Err(Error::Trap { .. })));
    }
    assert!(call(&model, 0.0).is_ok());
}
