//! Helpers shared by the test modules.

use std::time::Duration;

use glassbox::{Engine, Limits, Model, Row};

/// An engine with a short deadline and a small memory cap, so hostile
/// fixtures fail fast.
pub fn engine() -> Engine {
    Engine::builder()
        .limits(Limits {
            deadline: Duration::from_millis(500),
            memory_bytes: 32 << 20,
            ..Limits::default()
        })
        .build()
        .expect("engine")
}

/// Loads a fixture by path.
pub fn load(path: &str) -> Model {
    engine().load_file(path).expect("fixture loads")
}

/// Parses JSON objects into rows.
pub fn rows(values: &[serde_json::Value]) -> Vec<Row> {
    values
        .iter()
        .map(|v| v.as_object().expect("object").clone())
        .collect()
}

/// Reads a JSON-lines file.
pub fn jsonl(path: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("read jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}
