//! Glassbox runs machine-learning models as sandboxed WebAssembly components.
//!
//! A model is a component implementing the `glassbox:model` WIT world: it
//! describes itself (input schema, outputs, training profile) and scores
//! column-major batches. This crate loads such components into a wasmtime
//! engine that grants them no capabilities, runs every call under
//! wall-clock, memory and stack limits, and checks the contract on both
//! sides of the call: inputs against the schema before, answers against the
//! declared outputs after.
//!
//! ```
//! # fn main() -> Result<(), glassbox::Error> {
//! // An engine is configured once and shared.
//! let engine = glassbox::Engine::new()?;
//!
//! // Load a model (here the bundled regression example).
//! let model = engine.load(glassbox::examples::FRIEDMAN_TREE.component)?;
//! assert_eq!(model.info().inputs.len(), 10);
//!
//! // Score rows keyed by feature name.
//! let row = serde_json::json!({
//!     "x0": 0.5, "x1": 0.5, "x2": 0.5, "x3": 0.5, "x4": 0.5,
//!     "x5": 0.5, "x6": 0.5, "x7": 0.5, "x8": 0.5, "x9": 0.5,
//! });
//! let predictions = model.score_rows(&[row.as_object().unwrap().clone()])?;
//! println!("{}", serde_json::to_string(&predictions[0]).unwrap());
//!
//! // A row that breaks the contract is an error naming the row and field.
//! let bad = serde_json::json!({"x0": "high"});
//! let err = model.score_rows(&[bad.as_object().unwrap().clone()]).unwrap_err();
//! assert!(err.to_string().contains("row 0, field `x0`: expected a number"));
//! # Ok(()) }
//! ```
//!
//! The pieces, in the order a call meets them:
//! 1. [`Engine`] (built by [`EngineBuilder`]): wasmtime configured once, with
//!    the pooling allocator, epoch-based deadlines and a compiled-code cache.
//! 2. [`Model`]: a checked component plus a pool of instances; `Send + Sync`.
//!    See the [`model`] module for the concurrency design.
//! 3. [`batch`]: JSON rows to column-major [`Batch`]es and answers back to
//!    [`Prediction`]s.
//! 4. [`Error`]: one variant per way a load or a call can fail.

#![warn(missing_docs)]

pub mod batch;
mod bindings;
pub mod compile;
mod componentize;
mod describe;
pub mod drift;
mod engine;
mod error;
pub mod examples;
pub mod expect;
mod limits;
pub mod model;
pub mod monitor;
pub mod oci;
pub mod onnx;
pub mod predlog;
pub mod profile;
pub mod serve;
pub mod sign;
pub mod telemetry;
mod tls;
pub mod training;

pub use batch::{Prediction, Row};
pub use bindings::{
    Batch, CategoricalProfile, CategoryCount, ClassScores, FeatureKind, FeatureProfile, Field,
    Histogram, InputProblem, Level, ModelError, ModelInfo, NumericProfile, Outputs,
    PredictionProfile, Quantile, Scores, Task, TrainingProfile,
};
pub use componentize::componentize;
pub use describe::describe;
pub use engine::{CodeSource, DEFAULT_EPOCH_TICK, Engine, EngineBuilder};
pub use error::{Error, Result, Violation};
pub use limits::Limits;
pub use model::{LogSink, Model};
