//! The one `bindgen!` of the host side. Everything else imports the contract's
//! types from here.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "model",
    // Serde: the compile hands these types to the guest SDK's copies of them
    // (generated from the same WIT) by encoding them with postcard.
    additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
    // A product can outlive its call's deadline, or its matrices the
    // memory budget: those fail the call (a trap), not just the import.
    imports: { default: trappable },
    with: {
        "glassbox:model/linalg.matrix": HostMatrix,
    },
});

pub use self::glassbox::model::host::Level;
pub use self::glassbox::model::types::{
    Batch, CategoricalProfile, CategoryCount, ClassScores, DecisionScores, FeatureKind,
    FeatureProfile, Field, Histogram, InputProblem, ModelError, ModelInfo, NumericLayout,
    NumericProfile, Outputs, PredictionProfile, Quantile, Scores, Task, TrainingProfile,
};

/// The WIT package and version this host speaks.
pub const PACKAGE: &str = "glassbox:model@0.2.0";
/// The interface a model must export.
pub const SCORER_EXPORT: &str = "glassbox:model/scorer@0.2.0";
/// The interfaces a model may import: the shared types, the log function
/// and the host's linear algebra (pure computation).
pub const GRANTED_IMPORTS: [&str; 3] = [
    "glassbox:model/types@0.2.0",
    "glassbox:model/host@0.2.0",
    "glassbox:model/linalg@0.2.0",
];

/// A row-major float32 matrix held by the host: the host side of the
/// `glassbox:model/linalg` `matrix` resource (see `runtime::linalg`).
#[derive(Clone, Debug)]
pub struct HostMatrix {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) values: std::sync::Arc<[f32]>,
    /// Bytes this handle counts in the instance's memory (0 for constants,
    /// which the model holds once for all its instances).
    pub(crate) counted: usize,
}

impl HostMatrix {
    /// A matrix after checking that `values` holds `rows × cols` numbers.
    pub(crate) fn new(
        rows: usize,
        cols: usize,
        values: std::sync::Arc<[f32]>,
    ) -> Result<HostMatrix, String> {
        if rows == 0 || cols == 0 {
            return Err(format!("a {rows} × {cols} matrix is empty"));
        }
        match rows.checked_mul(cols) {
            Some(n) if n == values.len() => Ok(HostMatrix {
                rows,
                cols,
                values,
                counted: 0,
            }),
            _ => Err(format!(
                "{} values do not make a {rows} × {cols} matrix",
                values.len()
            )),
        }
    }
}
