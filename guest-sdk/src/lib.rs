//! Write [Glassbox](https://example.invalid/glassbox) models in plain Rust.
//!
//! A model is a type that implements [`Model`]: it describes itself once
//! ([`Model::info`]) and scores column-major batches ([`Model::score`]).
//! [`export_model!`] turns it into the `glassbox:model` component exports;
//! the generated WIT bindings stay out of sight.
//!
//! ```
//! use glassbox_guest::prelude::*;
//!
//! /// y = 2·x + 1
//! struct Double;
//!
//! impl Model for Double {
//!     fn load() -> Self {
//!         Double
//!     }
//!
//!     fn info(&self) -> ModelInfo {
//!         ModelInfo::regression("double", "1.0.0", "y", vec![Field::numeric("x")])
//!     }
//!
//!     fn score(&self, batch: &Batch<'_>) -> Result<Scores, ModelError> {
//!         let x = batch.numeric("x")?;
//!         Ok(Scores::Regression(x.values().iter().map(|v| 2.0 * v + 1.0).collect()))
//!     }
//! }
//!
//! glassbox_guest::export_model!(Double);
//!
//! // Models run natively too, which is how they are unit-tested.
//! let scores = glassbox_guest::testing::score::<Double>(&[vec![Value::Num(3.0)]]).unwrap();
//! assert_eq!(scores, Scores::Regression(vec![7.0]));
//! ```
//!
//! # Building a component
//!
//! Models build for `wasm32-unknown-unknown`, whose standard library imports
//! nothing, so the component needs no capability from the host:
//!
//! ```text
//! cargo build --release --target wasm32-unknown-unknown
//! glassbox componentize target/wasm32-unknown-unknown/release/my_model.wasm -o my-model.wasm
//! ```
//!
//! # Building blocks
//!
//! [`ops`] has the pieces scikit-learn pipelines are made of (scalers,
//! imputation, one-hot encoding, linear and logistic models, trees and tree
//! ensembles), written to run row by row without allocating. [`linalg`]
//! hands float32 matrix products to the host, which computes them natively
//! (the `glassbox:model/linalg` import: pure computation, several times
//! faster than wasm for a neural network's layers).
//!
//! # Float32 rows
//!
//! A model that computes on one float32 matrix of all its (numeric) inputs
//! can declare [`ModelInfo::with_f32_rows`]: the host then builds that
//! matrix and the model takes it whole in [`Model::score_f32_rows`],
//! instead of reading float64 columns and transposing them itself.
#![deny(missing_docs)]

mod batch;
#[doc(hidden)]
pub mod bindings;
#[doc(hidden)]
pub mod export;
pub mod linalg;
pub mod ops;
pub mod testing;
mod types;

pub use batch::{Batch, Categorical, Numeric};
#[doc(hidden)]
pub use export::{ModelCell, ModelExport};
pub use types::*;

/// The trait a Glassbox model implements.
///
/// The host creates instances of a model as it needs them; each instance
/// calls [`Model::load`] once, before its first call, and keeps the value.
pub trait Model: Sized + 'static {
    /// Builds the model, typically by parsing parameters embedded with
    /// `include_str!`/`include_bytes!`. Runs once per instance.
    fn load() -> Self;

    /// Describes the model: its input schema, outputs and, optionally, its
    /// training profile. The host asks once, at load time.
    fn info(&self) -> ModelInfo;

    /// The input schema, `info().inputs`. The SDK asks once per instance,
    /// before the first call, and every call of a fresh instance (the
    /// host's default) is the first: override it to lend a schema the model
    /// keeps, so that starting an instance does not build the whole
    /// description (profile included) just to read the fields.
    fn inputs(&self) -> std::borrow::Cow<'_, [Field]> {
        std::borrow::Cow::Owned(self.info().inputs)
    }

    /// Scores every row of `batch`.
    ///
    /// The host has already checked the batch against [`Model::info`]'s
    /// schema, so columns are present, of the declared kind and missing only
    /// where the field is nullable. Return exactly [`Batch::rows`] results.
    fn score(&self, batch: &Batch<'_>) -> Result<Scores, ModelError>;

    /// Scores `rows` float32 rows (`values` is row-major, NaN where a value
    /// is missing, one value per field of `fields`, the schema), for a
    /// model that declared [`ModelInfo::with_f32_rows`]. The default wraps
    /// them in a [`Batch`] and calls [`Model::score`]; override it to take
    /// the matrix without copying it.
    fn score_f32_rows(
        &self,
        fields: &[Field],
        rows: usize,
        values: Vec<f32>,
    ) -> Result<Scores, ModelError> {
        self.score(&Batch::from_f32_rows(rows, &values, fields))
    }
}

/// Logs a line through the host, attributed to this model.
///
/// Outside wasm (in native unit tests) the line goes to stderr.
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::glassbox::model::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Everything a model file usually needs.
pub mod prelude {
    pub use crate::{
        Batch, Categorical, ClassScores, DecisionScores, FeatureKind, Field, Model, ModelError,
        ModelInfo, Numeric, NumericLayout, Outputs, Scores, Task, Value,
    };
}

/// Exports a [`Model`] implementation as the component's `glassbox:model/scorer`.
///
/// Use it once per model crate, at the top level. On targets other than wasm
/// it expands to nothing but the bookkeeping, so the crate still builds and
/// tests natively.
#[macro_export]
macro_rules! export_model {
    ($model:ty) => {
        const _: () = {
            static INSTANCE: ::std::sync::OnceLock<$crate::ModelCell<$model>> =
                ::std::sync::OnceLock::new();

            impl $crate::ModelExport for $model {
                fn cell() -> &'static $crate::ModelCell<$model> {
                    INSTANCE.get_or_init($crate::ModelCell::<$model>::new)
                }
            }

            #[cfg(target_arch = "wasm32")]
            type __GlassboxExport = $crate::export::Adapter<$model>;
            #[cfg(target_arch = "wasm32")]
    $crate::bindings::export!(__GlassboxExport with_types_in $crate::bindings);
        };
    };
}
