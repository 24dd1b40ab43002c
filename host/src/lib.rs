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
//! The pieces, in the order a call meets them. Each folder of the crate is
//! one of them; they depend on each other only downwards in this list.
//! 1. [`artifact`]: what a component file carries, read from its bytes
//!    alone: header, digest, signature, where it came from, what its owner
//!    expects, and what it imports and exports.
//! 2. [`runtime`]: the [`Engine`] (wasmtime configured once, with the
//!    pooling allocator, epoch-based deadlines and a compiled-code cache),
//!    the [`Model`] (a checked component plus a pool of instances; `Send +
//!    Sync`), [`runtime::batch`] (JSON rows to column-major [`Batch`]es and
//!    answers back to [`Prediction`]s) and the [`Limits`] of every call.
//! 3. [`telemetry`]: the trace and metrics of every call.
//! 4. [`monitor`]: live inputs and predictions against the training profile
//!    (drift), and the prediction log.
//! 5. [`serve`]: the HTTP server over all of the above.
//!
//! Beside the path of a call: [`compile`] turns an ONNX pipeline and its
//! training data into a component, [`ship`] moves components through OCI
//! registries, [`examples`] are the bundled models, and [`Error`] has one
//! variant per way a load or a call can fail. The `glassbox:model` WIT
//! contract's types, which all of them share, are re-exported here.
//!
//! Cargo features: `full`, the default, is `compiler` (Cranelift for every
//! target, [`compile`], componentize, `EngineBuilder::precompile`, the
//! bundled examples) and `oci` (`ship::oci`). Without them the crate is a
//! runtime that loads precompiled models ([`artifact::precompiled`]) only,
//! a third of the size (docs/DISTRIBUTE.md).

#![warn(missing_docs)]

pub mod artifact;
#[cfg(feature = "compiler")]
pub mod compile;
mod contract;
mod error;
pub mod examples;
pub mod monitor;
pub mod runtime;
pub mod serve;
pub mod ship;
pub mod telemetry;

#[cfg(feature = "compiler")]
pub use compile::componentize::componentize;
pub use contract::{
    Batch, CategoricalProfile, CategoryCount, ClassScores, FeatureKind, FeatureProfile, Field,
    Histogram, InputProblem, Level, ModelError, ModelInfo, NumericLayout, NumericProfile, Outputs,
    PredictionProfile, Quantile, Scores, Task, TrainingProfile,
};
pub use error::{Error, Result, SignatureError, Violation, Violations};
pub use runtime::batch::{Prediction, Row};
pub use runtime::{
    CodeSource, DEFAULT_EPOCH_TICK, Engine, EngineBuilder, Limits, LogSink, Model, describe,
};
