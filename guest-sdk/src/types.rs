//! The contract's types, re-exported from the generated bindings, with
//! constructors that keep model code short.

pub use crate::bindings::glassbox::model::host::Level as LogLevel;
pub use crate::bindings::glassbox::model::types::{
    Batch as RawBatch, CategoricalProfile, CategoryCount, ClassScores, DecisionScores, FeatureKind,
    FeatureProfile, Field, Histogram, InputProblem, ModelError, ModelInfo, NumericLayout,
    NumericProfile, Outputs, PredictionProfile, Quantile, Scores, Task, TrainingProfile,
};

impl ModelInfo {
    /// Describes a classifier; `classes` is the order of the probabilities it returns.
    pub fn classification(
        name: impl Into<String>,
        version: impl Into<String>,
        classes: Vec<String>,
        inputs: Vec<Field>,
    ) -> Self {
        ModelInfo {
            name: name.into(),
            version: version.into(),
            task: Task::Classification,
            inputs,
            outputs: Outputs::Classes(classes),
            profile: None,
            layout: NumericLayout::F64Columns,
        }
    }

    /// Describes a classifier that answers decision scores rather than
    /// probabilities: one per class in `classes` order, or one per row
    /// (the second class's) when there are two classes.
    pub fn decision_classification(
        name: impl Into<String>,
        version: impl Into<String>,
        classes: Vec<String>,
        inputs: Vec<Field>,
    ) -> Self {
        ModelInfo {
            outputs: Outputs::DecisionClasses(classes),
            ..Self::classification(name, version, Vec::new(), inputs)
        }
    }

    /// Describes a regressor predicting `target`.
    pub fn regression(
        name: impl Into<String>,
        version: impl Into<String>,
        target: impl Into<String>,
        inputs: Vec<Field>,
    ) -> Self {
        ModelInfo {
            name: name.into(),
            version: version.into(),
            task: Task::Regression,
            inputs,
            outputs: Outputs::Target(target.into()),
            profile: None,
            layout: NumericLayout::F64Columns,
        }
    }

    /// The same description, asking for float32 rows
    /// ([`NumericLayout::F32Rows`]): the host sends a row-major float32
    /// matrix, read with [`crate::Batch::f32_rows`] or taken whole by
    /// [`crate::Model::score_f32_rows`]. Every input must be numeric; the
    /// host refuses the model otherwise.
    pub fn with_f32_rows(mut self) -> Self {
        self.layout = NumericLayout::F32Rows;
        self
    }
}

impl Field {
    /// A numeric feature that must always be present.
    pub fn numeric(name: impl Into<String>) -> Self {
        Field {
            name: name.into(),
            kind: FeatureKind::Numeric,
            nullable: false,
            categories: Vec::new(),
        }
    }

    /// A categorical feature with the categories seen in training.
    pub fn categorical(name: impl Into<String>, categories: Vec<String>) -> Self {
        Field {
            name: name.into(),
            kind: FeatureKind::Categorical,
            nullable: false,
            categories,
        }
    }

    /// The same field, but a missing value is acceptable.
    pub fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }
}

impl ModelError {
    /// An internal error with a message.
    pub fn internal(message: impl Into<String>) -> Self {
        ModelError::Internal(message.into())
    }

    /// An input problem with one row and field.
    pub fn invalid(row: usize, field: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::InvalidInput(vec![InputProblem {
            row: row as u32,
            field: field.into(),
            message: message.into(),
        }])
    }
}

/// One input value, as used by [`crate::testing`] to build batches natively.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number, for a numeric field.
    Num(f64),
    /// A string, for a categorical field.
    Cat(String),
    /// A missing value.
    Missing,
}
