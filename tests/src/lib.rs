//! Where the integration tests find their fixtures.
//!
//! Each constant is the path of a component built by `build.rs` from
//! `fixtures/<name>/`; [`SKLEARN`] is the folder of reference data copied
//! from scikit-learn runs (inputs and the answers scikit-learn gave).

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));

/// Reference data: `NAME.inputs.jsonl`, `NAME.expected.jsonl`, `NAME.meta.json`, `NAME.onnx`.
pub const SKLEARN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sklearn");

/// Reproductions of reported compile failures: `NAME.onnx`,
/// `NAME.train.jsonl` and onnxruntime's answers in `NAME.expected.jsonl`.
pub const REPRO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/repro");
