//! The adapter between a [`Model`] and the generated `Guest` trait. Hidden:
//! authors only see [`crate::export_model!`].

use std::borrow::Cow;
use std::marker::PhantomData;

use crate::bindings::exports::glassbox::model::scorer::Guest;
use crate::{Batch, Field, Model, ModelError, ModelInfo, RawBatch, Scores};

/// A loaded model together with its input schema, kept for the life of the
/// instance so that the schema is asked for once, not on every call.
pub struct ModelCell<T> {
    model: T,
    /// The schema, when the model could not lend it ([`Model::inputs`]).
    owned: Option<Vec<Field>>,
}

impl<T: Model> ModelCell<T> {
    /// Loads the model and asks for its schema.
    pub fn new() -> Self {
        // A panic in a guest ends in a trap that carries no message. Send the
        // message to the host first, which attaches it to the trap error.
        #[cfg(target_arch = "wasm32")]
        std::panic::set_hook(Box::new(|info| {
            crate::log(crate::LogLevel::Error, &format!("panic: {info}"));
        }));
        let model = T::load();
        let owned = match model.inputs() {
            Cow::Owned(fields) => Some(fields),
            Cow::Borrowed(_) => None,
        };
        ModelCell { model, owned }
    }

    fn fields(&self) -> Cow<'_, [Field]> {
        match &self.owned {
            Some(fields) => Cow::Borrowed(fields),
            None => self.model.inputs(),
        }
    }

    /// Scores a raw batch as received from the host.
    pub fn score(&self, batch: &RawBatch) -> Result<Scores, ModelError> {
        self.model.score(&Batch::new(batch, &self.fields()))
    }

    /// Scores float32 rows as received from the host.
    pub fn score_f32_rows(&self, rows: u32, values: Vec<f32>) -> Result<Scores, ModelError> {
        let fields = self.fields();
        if values.len() != rows as usize * fields.len() {
            return Err(ModelError::internal(format!(
                "{} float32 values for {rows} rows of {} fields",
                values.len(),
                fields.len()
            )));
        }
        self.model.score_f32_rows(&fields, rows as usize, values)
    }

    /// The model's description (built anew: the host asks once, at load).
    pub fn info(&self) -> ModelInfo {
        self.model.info()
    }
}

impl<T: Model> Default for ModelCell<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Implemented by [`crate::export_model!`]: where the one instance of the model lives.
pub trait ModelExport: Model + Send + Sync {
    /// The lazily loaded instance.
    fn cell() -> &'static ModelCell<Self>;
}

/// The type handed to the generated `export!` macro.
pub struct Adapter<T>(PhantomData<T>);

impl<T: ModelExport> Guest for Adapter<T> {
    fn info() -> ModelInfo {
        T::cell().info()
    }

    fn score(batch: RawBatch) -> Result<Scores, ModelError> {
        T::cell().score(&batch)
    }

    fn score_f32_rows(rows: u32, values: Vec<f32>) -> Result<Scores, ModelError> {
        T::cell().score_f32_rows(rows, values)
    }
}
