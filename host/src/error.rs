//! The library's error type.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::contract::ModelError;

/// One way a row breaks the model's input contract.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// The row, 0-based within the batch (or the input file).
    pub row: usize,
    /// The field's name.
    pub field: String,
    /// What the contract wants, e.g. "a number".
    pub expected: String,
    /// What arrived, e.g. "the string \"abc\"".
    pub got: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "row {}, field `{}`: expected {}, got {}",
            self.row, self.field, self.expected, self.got
        )
    }
}

/// Lists violations on one line each, for error messages.
struct Listed<'a>(&'a [Violation]);

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for v in self.0 {
            write!(f, "\n  {v}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong loading or calling a model.
///
/// Load-time variants say why a file is not a usable model; call-time
/// variants keep apart the caller's mistakes ([`Error::InvalidInput`]), the
/// model's own refusals ([`Error::Guest`]) and the model misbehaving (traps,
/// limits, bad answers). Only the last kind discards the instance.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An ONNX file could not be read, or its graph cannot be compiled (the
    /// message names the node and operator).
    #[error("invalid ONNX model: {0}")]
    InvalidOnnx(String),
    /// The engine requires a trusted signature and the component lacks one.
    #[error("model `{model}` refused: {reason}")]
    Signature {
        /// The model (its file name).
        model: String,
        /// Why.
        reason: SignatureError,
    },
    /// An expectations file could not be read or does not fit the model.
    #[error("expectations: {0}")]
    Expectations(String),
    /// A training file could not be read or does not fit the model.
    #[error("training data: {0}")]
    Training(String),
    /// The bytes are not a WebAssembly component.
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// The component speaks another version of the contract.
    #[error("model is built against {found}; this host speaks {expected}")]
    WrongVersion {
        /// The interface the model exports or imports.
        found: String,
        /// What this host implements.
        expected: &'static str,
    },
    /// The component does not export the scorer interface.
    #[error(
        "component does not export glassbox:model/scorer@0.1.0, so it is not a Glassbox model; it exports: {}",
        if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") }
    )]
    WrongWorld {
        /// What the component exports instead.
        exports: Vec<String>,
    },
    /// The component imports something the host does not grant.
    #[error("model imports {}; glassbox grants no capabilities", imports.join(", "))]
    ForbiddenImports {
        /// The denied imports.
        imports: Vec<String>,
    },
    /// Compiling, linking or instantiating the component failed.
    #[error("model `{model}` could not be loaded: {source:#}")]
    Load {
        /// The model (its file name until its own name is known).
        model: String,
        /// The cause, from wasmtime.
        source: anyhow::Error,
    },
    /// The model described itself inconsistently.
    #[error("model `{model}` describes itself inconsistently: {problem}")]
    InvalidInfo {
        /// The model.
        model: String,
        /// What is wrong.
        problem: String,
    },
    /// The input breaks the model's contract; every problem is listed.
    #[error(
        "input does not match the contract of model `{model}`:{}",
        Listed(violations)
    )]
    InvalidInput {
        /// The model.
        model: String,
        /// Every problem found.
        violations: Vec<Violation>,
    },
    /// The batch is larger than [`crate::Limits`] allow.
    #[error("batch for model `{model}` is too large: {what}")]
    TooLarge {
        /// The model.
        model: String,
        /// Which limit, and by how much.
        what: String,
    },
    /// The model refused the batch with an error of its own.
    #[error("model `{model}` refused the batch: {}", describe_model_error(error))]
    Guest {
        /// The model.
        model: String,
        /// The model's error.
        error: ModelError,
    },
    /// The model trapped (a panic, an unreachable, a bad memory access, …).
    #[error("model `{model}` trapped: {message}")]
    Trap {
        /// The model.
        model: String,
        /// The trap, with the guest backtrace when there is one.
        message: String,
    },
    /// The call ran past its deadline and was interrupted.
    #[error("model `{model}` did not finish within its {deadline:?} deadline and was stopped")]
    Timeout {
        /// The model.
        model: String,
        /// The deadline in force.
        deadline: Duration,
    },
    /// The instance tried to grow its memory past the limit.
    #[error(
        "model `{model}` ran out of memory: it asked for {requested} bytes, the limit is {limit} bytes"
    )]
    OutOfMemory {
        /// The model.
        model: String,
        /// The size the guest tried to grow to.
        requested: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The call overflowed its wasm stack (limited to `limit` bytes), or the
    /// stack it keeps in its own linear memory.
    #[error(
        "model `{model}` overflowed its stack (runaway recursion?); wasm stack limit {limit} bytes"
    )]
    StackOverflow {
        /// The model.
        model: String,
        /// The stack limit in force.
        limit: usize,
    },
    /// The model answered, but the answer breaks the contract.
    #[error("model `{model}` returned an invalid answer: {problem}")]
    BadOutput {
        /// The model.
        model: String,
        /// What is wrong, naming the row where there is one.
        problem: String,
    },
}

impl Error {
    /// A short, stable name for the kind of outcome, for logs and metrics:
    /// `invalid_input`, `guest_error`, `trap`, `timeout`, `out_of_memory`, …
    pub fn outcome(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::InvalidOnnx(_) => "invalid_onnx",
            Error::Training(_) => "invalid_training_data",
            Error::Expectations(_) => "invalid_expectations",
            Error::Signature { .. } => "signature",
            Error::NotAComponent(_)
            | Error::WrongVersion { .. }
            | Error::WrongWorld { .. }
            | Error::ForbiddenImports { .. }
            | Error::Load { .. }
            | Error::InvalidInfo { .. } => "load_error",
            Error::InvalidInput { .. } | Error::TooLarge { .. } => "invalid_input",
            Error::Guest { .. } => "guest_error",
            Error::Trap { .. } | Error::StackOverflow { .. } => "trap",
            Error::Timeout { .. } => "timeout",
            Error::OutOfMemory { .. } => "out_of_memory",
            Error::BadOutput { .. } => "bad_output",
        }
    }

    /// Whether the instance that produced this error must be thrown away.
    pub(crate) fn poisons_instance(&self) -> bool {
        matches!(
            self,
            Error::Trap { .. }
                | Error::Timeout { .. }
                | Error::OutOfMemory { .. }
                | Error::StackOverflow { .. }
                | Error::Load { .. }
        )
    }
}

fn describe_model_error(e: &ModelError) -> String {
    match e {
        ModelError::Internal(message) => format!("internal error: {message}"),
        ModelError::InvalidInput(problems) => {
            let mut s = String::from("invalid input:");
            for p in problems {
                s.push_str(&format!(
                    "\n  row {}, field `{}`: {}",
                    p.row, p.field, p.message
                ));
            }
            s
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a component's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The component carries no signature.
    #[error("it is not signed, and a trusted key is required")]
    Unsigned,
    /// A trusted key signed it, but its bytes changed since.
    #[error("its bytes changed after it was signed by key {key_id}")]
    Tampered {
        /// The signer's key id.
        key_id: String,
    },
    /// Only keys that are not trusted signed it.
    #[error("it is signed by key {}, which is not a trusted key", key_ids.join(", "))]
    Untrusted {
        /// The signers' key ids.
        key_ids: Vec<String>,
    },
    /// The bytes are not a component, or the signature section is corrupt.
    #[error("its signature cannot be read: {0}")]
    Malformed(String),
}
