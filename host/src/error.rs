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

/// The violations of one call: the first [`Violations::LISTED`] in full,
/// the rest only counted.
///
/// A request of 10,000 bad rows against a schema of many fields can break
/// the contract millions of times; listing every one would make a small
/// request cost the host (and the client reading the answer) hundreds of
/// megabytes. So what an error carries, a response lists and a span records
/// is bounded, and the total is still told. Each text is bounded too, since
/// `got` echoes what the client sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations {
    listed: Vec<Violation>,
    omitted: usize,
}

impl Violations {
    /// Violations listed in full; later ones are counted.
    pub const LISTED: usize = 100;
    /// Longest text kept in a violation's field, expected and got, in bytes.
    pub const TEXT_BYTES: usize = 256;

    /// No violations.
    pub fn new() -> Self {
        Violations::default()
    }

    /// Adds one: listed (texts cut to [`Violations::TEXT_BYTES`]) while
    /// fewer than [`Violations::LISTED`] are, else counted.
    pub fn push(&mut self, mut v: Violation) {
        if self.listed.len() >= Self::LISTED {
            self.omitted += 1;
            return;
        }
        for text in [&mut v.field, &mut v.expected, &mut v.got] {
            bound_text(text, Self::TEXT_BYTES);
        }
        self.listed.push(v);
    }

    /// Every violation found, listed or not.
    pub fn total(&self) -> usize {
        self.listed.len() + self.omitted
    }

    /// Violations found but not listed.
    pub fn omitted(&self) -> usize {
        self.omitted
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    /// Orders the listed violations by row (stable: within a row, in the
    /// order they were found).
    pub fn sort_by_row(&mut self) {
        self.listed.sort_by_key(|v| v.row);
    }
}

impl std::ops::Deref for Violations {
    type Target = [Violation];

    fn deref(&self) -> &[Violation] {
        &self.listed
    }
}

impl From<Vec<Violation>> for Violations {
    fn from(list: Vec<Violation>) -> Self {
        list.into_iter().collect()
    }
}

impl FromIterator<Violation> for Violations {
    fn from_iter<I: IntoIterator<Item = Violation>>(iter: I) -> Self {
        let mut all = Violations::new();
        for v in iter {
            all.push(v);
        }
        all
    }
}

impl fmt::Display for Violations {
    /// One line each, then the count of those not listed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for v in &self.listed {
            write!(f, "\n  {v}")?;
        }
        if self.omitted > 0 {
            write!(
                f,
                "\n  … and {} more ({} in all)",
                self.omitted,
                self.total()
            )?;
        }
        Ok(())
    }
}

/// Cuts `text` to at most `max` bytes (at a character boundary), marking the
/// cut with the number of bytes left out, and escapes control characters,
/// so that text from outside (a client's value, a guest's message) can
/// neither flood nor forge a log line or a terminal.
pub(crate) fn bound_text(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let left_out = text.len() - cut;
        text.truncate(cut);
        text.push_str(&format!("… ({left_out} more bytes)"));
    }
    if text.chars().any(char::is_control) {
        *text = escape_controls(text);
    }
}

/// `text` with every control character (newlines and terminal escapes
/// among them) written as a `\u{..}` escape.
pub(crate) fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
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
    /// A precompiled model (`.cwasm`) cannot be loaded here: no trusted key
    /// to check it against, another target, another engine, or a
    /// malformed file; or a component was given to a build without a
    /// compiler.
    #[error("model `{model}` refused: {reason}")]
    Precompiled {
        /// The model (its file name).
        model: String,
        /// Why.
        reason: String,
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
    #[error(
        "model is built against {found}; this host speaks {expected}: rebuild it \
         (run `glassbox compile` again for a compiled pipeline, or build it against \
         the glassbox-guest SDK of this release)"
    )]
    WrongVersion {
        /// The interface the model exports or imports.
        found: String,
        /// What this host implements.
        expected: &'static str,
    },
    /// The component does not export the scorer interface.
    #[error(
        "component does not export {}, so it is not a Glassbox model; it exports: {}",
        crate::contract::SCORER_EXPORT,
        if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") }
    )]
    WrongWorld {
        /// What the component exports instead.
        exports: Vec<String>,
    },
    /// The component imports something the host does not grant.
    #[error(
        "model imports {}, which this host does not grant: a model may import only {} (glassbox grants no capabilities)",
        imports.join(", "),
        crate::contract::GRANTED_IMPORTS.join(" and ")
    )]
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
    #[error("input does not match the contract of model `{model}`:{violations}")]
    InvalidInput {
        /// The model.
        model: String,
        /// The problems found: the first ones listed, all counted.
        violations: Violations,
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
    #[error("model `{model}` refused the batch: {}", describe_model_error(error, *omitted))]
    Guest {
        /// The model.
        model: String,
        /// The model's error, bounded: texts cut and escaped, at most
        /// [`Violations::LISTED`] problems.
        error: ModelError,
        /// Problems the model listed beyond those kept.
        omitted: usize,
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
    /// The instance tried to grow its memory past what the process's guest
    /// memory budget has left ([`crate::Limits::memory_budget_bytes`]).
    #[error(
        "model `{model}` could not get {requested} more bytes of memory: all models' instances hold \
         {in_use} of the {budget}-byte budget (limits.memory_budget_bytes); retry later"
    )]
    MemoryBudget {
        /// The model.
        model: String,
        /// The bytes the guest asked for.
        requested: usize,
        /// What all instances held then.
        in_use: usize,
        /// The budget in force.
        budget: usize,
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
            Error::Precompiled { .. } => "precompiled_refused",
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
            Error::OutOfMemory { .. } | Error::MemoryBudget { .. } => "out_of_memory",
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
                | Error::MemoryBudget { .. }
                | Error::StackOverflow { .. }
                | Error::Load { .. }
        )
    }
}

fn describe_model_error(e: &ModelError, omitted: usize) -> String {
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
            if omitted > 0 {
                s.push_str(&format!("\n  … and {omitted} more"));
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
