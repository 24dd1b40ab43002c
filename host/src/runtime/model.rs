//! A loaded model and the instances that score with it.
//!
//! # Isolation between calls
//!
//! By default every call runs in a fresh instance (a wasmtime `Store` with
//! one instantiation of the component, from a pooling-allocator slot whose
//! memory was reset), and the instance is dropped when the call returns. A
//! model is a pure function by contract, but a hostile one could keep one
//! client's inputs in its memory and return them in the answer to the next
//! client; with a fresh instance per call there is nothing to return. The
//! planned model of a compiled pipeline is its memory image, mapped
//! copy-on-write, so a fresh instance costs microseconds (see
//! docs/BENCHMARKS.md for the figure per model).
//!
//! [`crate::Limits::reuse_instances`] trades that isolation for the
//! instantiation: an instance that answered a call is kept in a small idle
//! pool and reused, as a cache of warm instances, which suits models the
//! operator trusts.
//!
//! # Concurrency
//!
//! A [`Model`] is `Send + Sync` and cheap to clone; any number of threads may
//! call [`Model::score`] at once. Compiled code and the type-checked
//! `InstancePre` are shared, and calls never share an instance, hence never
//! contend on a lock while the guest runs (the idle pool's mutex, when
//! instances are reused, is held only to pop and push). A call that traps,
//! times out or runs out of memory drops its instance in every mode.

use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::component::{Component, HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{ResourceLimiter, Store, Trap};

use super::engine::{CodeSource, Engine};
use super::linalg::{self, HostMatrix, Stop};
use super::rules::Rules;
use crate::artifact::expect::Expectations;
use crate::artifact::{Interface, Source};
use crate::contract::{
    self, Batch, FeatureKind, FeatureProfile, Level, ModelError, ModelInfo, NumericLayout, Outputs,
    PredictionProfile, Scores, Task,
};
use crate::error::{Error, Result, Violation, Violations, bound_text};
use crate::runtime::batch::{self, Prediction};
use crate::telemetry::{CallRecord, GuestUse, ModelTelemetry};

/// How far from 1 the probabilities of one row may sum, for `classes`
/// classes: 128 float32 ulps a class, at least 1e-5 and at most 1e-2.
///
/// Models built from ONNX compute in float32, and normalising large
/// log-probabilities loses a few ulps a class: MultinomialNB on digits (10
/// classes) sums to 1 ± 1.7e-5 here and ± 6.1e-5 in onnxruntime, past the
/// fixed 1e-5 this used to be. The bound stays a real check: 1.5e-4 for ten
/// classes, so a model answering 0.9 still fails.
pub fn probability_sum_tolerance(classes: usize) -> f64 {
    (128.0 * classes as f64 * f64::from(f32::EPSILON)).clamp(1e-5, 1e-2)
}

/// Log lines one call may write; later ones are dropped, so a chatty guest
/// cannot flood the host.
const MAX_LOGS_PER_CALL: u32 = 64;
/// Longest log line kept, in bytes.
const MAX_LOG_BYTES: usize = 4096;
/// Longest message kept of a guest's own error or a trap, in bytes: what a
/// model says when it fails reaches responses, logs, spans and terminals.
const MAX_ERROR_BYTES: usize = 4096;

/// A function receiving `(model name, level, message)`.
type LogFn = dyn Fn(&str, Level, &str) + Send + Sync;

/// Where guest log lines go.
#[derive(Clone)]
pub struct LogSink(Arc<LogFn>);

impl LogSink {
    /// A sink calling `f` for every line.
    pub fn new(f: impl Fn(&str, Level, &str) + Send + Sync + 'static) -> Self {
        LogSink(Arc::new(f))
    }

    /// Writes `[model] level: message` to stderr.
    pub fn stderr() -> Self {
        LogSink::new(|model, level, message| eprintln!("[{model}] {level:?}: {message}"))
    }
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogSink")
    }
}

/// A model, loaded and checked, ready to score. Clones share the model.
#[derive(Clone)]
pub struct Model {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    info: ModelInfo,
    digest: [u8; 32],
    size: usize,
    imports: Vec<String>,
    code_source: CodeSource,
    source: Option<Source>,
    /// The owner's expectations, bound to the schema.
    rules: Option<Arc<Rules>>,
    /// Who signed it, when the engine requires a trusted signature.
    signer: Option<crate::artifact::sign::Signer>,
    pre: contract::ModelPre<StoreState>,
    idle: Mutex<Vec<Instance>>,
    max_idle: usize,
    /// Schema positions of the numeric fields, then of the categorical ones:
    /// the order of the columns in a batch's two flat lists. Derived once
    /// here rather than on every call.
    numeric_fields: Vec<usize>,
    categorical_fields: Vec<usize>,
    log: LogSink,
    telemetry: ModelTelemetry,
    /// The component's constant matrices ([`linalg::WEIGHTS_SECTION`]).
    constants: Arc<[HostMatrix]>,
}

/// One instantiation of the component, in its own store.
struct Instance {
    store: Store<StoreState>,
    bindings: contract::Model,
}

/// What a store carries: the limiter, and the log plumbing.
pub(crate) struct StoreState {
    model: Arc<str>,
    limiter: MemoryLimiter,
    log: LogSink,
    logs_this_call: u32,
    /// The last error-level line of the current call: the SDK's panic hook
    /// logs the panic message there just before the guest traps.
    last_error_log: Option<String>,
    linalg: LinalgState,
}

/// An instance's matrices, and what its products are checked against.
struct LinalgState {
    table: ResourceTable,
    /// Handles alive, against [`linalg::MAX_HANDLES`].
    handles: usize,
    /// The component's constant matrices, shared by all its instances.
    constants: Arc<[HostMatrix]>,
    /// For the deadline: the engine's epoch, and when the call started.
    engine: Engine,
    call_started: u64,
    /// A product stopped at the deadline: the trap that follows is a timeout.
    deadline_passed: bool,
}

impl StoreState {
    fn begin_call(&mut self) {
        self.logs_this_call = 0;
        self.last_error_log = None;
        self.limiter.denied = None;
        self.linalg.call_started = self.linalg.engine.epoch();
    }

    /// Keeps `matrix` for the guest, within the count of handles.
    fn hand_out(
        &mut self,
        matrix: HostMatrix,
    ) -> wasmtime::Result<Result<Resource<HostMatrix>, String>> {
        if self.linalg.handles >= linalg::MAX_HANDLES {
            self.limiter.release(matrix.counted);
            return Ok(Err(format!(
                "an instance may hold {} matrices at once",
                linalg::MAX_HANDLES
            )));
        }
        let handle = self.linalg.table.push(matrix)?;
        self.linalg.handles += 1;
        Ok(Ok(handle))
    }
}

impl contract::glassbox::model::linalg::Host for StoreState {}

impl contract::glassbox::model::linalg::HostMatrix for StoreState {
    fn constant(&mut self, index: u32) -> wasmtime::Result<Result<Resource<HostMatrix>, String>> {
        match self.linalg.constants.get(index as usize) {
            // An `Arc` of the model's own: nothing is copied.
            Some(m) => {
                let m = m.clone();
                self.hand_out(m)
            }
            None => Ok(Err(format!(
                "the component carries {} constant matrices; there is no matrix {index}",
                self.linalg.constants.len()
            ))),
        }
    }

    fn create(
        &mut self,
        rows: u32,
        cols: u32,
        values: Vec<f32>,
    ) -> wasmtime::Result<Result<Resource<HostMatrix>, String>> {
        let mut matrix = match HostMatrix::new(rows as usize, cols as usize, values.into()) {
            Ok(m) => m,
            Err(e) => return Ok(Err(e)),
        };
        let bytes = matrix.values.len() * 4;
        if !self.limiter.reserve(bytes) {
            return Err(wasmtime::Error::msg(
                "a matrix would take the instance past its memory limit",
            ));
        }
        matrix.counted = bytes;
        self.hand_out(matrix)
    }

    fn rows(&mut self, me: Resource<HostMatrix>) -> wasmtime::Result<u32> {
        Ok(self.linalg.table.get(&me)?.rows as u32)
    }

    fn cols(&mut self, me: Resource<HostMatrix>) -> wasmtime::Result<u32> {
        Ok(self.linalg.table.get(&me)?.cols as u32)
    }

    fn left_multiply(
        &mut self,
        me: Resource<HostMatrix>,
        m: u32,
        a: Vec<f32>,
    ) -> wasmtime::Result<Result<Vec<f32>, String>> {
        let b = self.linalg.table.get(&me)?.clone();
        // The answer must fit in the instance (it is copied into it next):
        // bound it before computing, and count it while it exists.
        let cap = self.limiter.cap;
        // Twice that when the shared dimension is summed in blocks (one
        // buffer for the answer, one for a block's sums).
        let buffers = if b.rows > linalg::BLOCK_K { 8 } else { 4 };
        let bytes = (m as usize)
            .checked_mul(b.cols)
            .and_then(|n| n.checked_mul(buffers))
            .filter(|&n| n <= cap);
        let Some(bytes) = bytes else {
            return Ok(Err(format!(
                "the product of {m} rows and a {} × {} matrix would not fit in the instance's {cap} bytes",
                b.rows, b.cols
            )));
        };
        if !self.limiter.reserve(bytes) {
            return Err(wasmtime::Error::msg(
                "a matrix product would take the instance past its memory limit",
            ));
        }
        let state = &self.linalg;
        let deadline = state.engine.deadline_ticks();
        let result = linalg::left_multiply(&b, m as usize, &a, || {
            state.engine.is_interruptible()
                && state.engine.epoch().saturating_sub(state.call_started) >= deadline
        });
        self.limiter.release(bytes);
        match result {
            Ok(v) => Ok(Ok(v)),
            Err(Stop::Invalid(e)) => Ok(Err(e)),
            Err(Stop::Deadline) => {
                self.linalg.deadline_passed = true;
                Err(wasmtime::Error::msg(
                    "the call's deadline passed during a matrix product",
                ))
            }
        }
    }

    fn drop(&mut self, me: Resource<HostMatrix>) -> wasmtime::Result<()> {
        let matrix = self.linalg.table.delete(me)?;
        self.linalg.handles -= 1;
        self.limiter.release(matrix.counted);
        Ok(())
    }
}

impl contract::glassbox::model::host::Host for StoreState {
    fn log(&mut self, level: Level, mut message: String) -> wasmtime::Result<()> {
        if self.logs_this_call >= MAX_LOGS_PER_CALL {
            return Ok(());
        }
        self.logs_this_call += 1;
        // Cut long lines, and escape control characters: a newline in a
        // guest's line must not forge a host log line of its own, nor an
        // escape sequence reach an operator's terminal.
        bound_text(&mut message, MAX_LOG_BYTES);
        (self.log.0)(&self.model, level, &message);
        if level == Level::Error {
            self.last_error_log = Some(message);
        }
        Ok(())
    }
}

impl contract::glassbox::model::types::Host for StoreState {}

/// Caps linear memory, per instance and over the whole process, and
/// remembers a refused growth, so that the trap which usually follows (the
/// guest's allocator aborts) is reported as what it is.
struct MemoryLimiter {
    cap: usize,
    peak: usize,
    denied: Option<Denied>,
    /// Bytes this instance holds, counted in `budget`: its linear memory,
    /// and `host`.
    held: usize,
    /// Bytes of host memory held for the instance: matrices it made, a
    /// product being computed (see [`linalg`]).
    host: usize,
    budget: Arc<GuestMemory>,
}

/// Why a memory could not grow.
#[derive(Clone, Copy, Debug)]
enum Denied {
    /// Past the instance's cap, asking for this size.
    Cap(usize),
    /// Past the process's budget: asking for `requested` more bytes while
    /// all instances held `in_use`.
    Budget { requested: usize, in_use: usize },
}

/// The linear memory of every live instance of an engine, against
/// [`crate::Limits::memory_budget_bytes`].
#[derive(Debug)]
pub(crate) struct GuestMemory {
    in_use: std::sync::atomic::AtomicUsize,
    budget: usize,
}

impl GuestMemory {
    pub(crate) fn new(budget: usize) -> GuestMemory {
        GuestMemory {
            in_use: std::sync::atomic::AtomicUsize::new(0),
            budget,
        }
    }

    /// Bytes held by live instances now.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = desired.saturating_add(self.host);
        if total > self.cap {
            self.denied = Some(Denied::Cap(total));
            return Ok(false);
        }
        // Reserve the growth in the process's budget first; give it back
        // if that goes past the budget. (wasmtime asks here for a memory's
        // initial size too, with `current` 0.)
        let more = desired.saturating_sub(current);
        if !self.take_from_budget(more) {
            return Ok(false);
        }
        self.held += more;
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a model needs a few hundred.
        Ok(desired <= 100_000)
    }
}

impl MemoryLimiter {
    /// Takes `bytes` from the process's budget; false (with the reason
    /// kept for the error, and nothing taken) past it.
    fn take_from_budget(&mut self, bytes: usize) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let before = self.budget.in_use.fetch_add(bytes, Relaxed);
        if before.saturating_add(bytes) > self.budget.budget {
            self.budget.in_use.fetch_sub(bytes, Relaxed);
            self.denied = Some(Denied::Budget {
                requested: bytes,
                in_use: before,
            });
            return false;
        }
        true
    }

    /// Reserves `bytes` of host memory for the instance, within its cap
    /// and the process's budget; false (with the reason kept for the
    /// error) when they do not allow it.
    fn reserve(&mut self, bytes: usize) -> bool {
        let total = self.held.saturating_add(bytes);
        if total > self.cap {
            self.denied = Some(Denied::Cap(total));
            return false;
        }
        if !self.take_from_budget(bytes) {
            return false;
        }
        self.held += bytes;
        self.host += bytes;
        true
    }

    /// Gives back what [`MemoryLimiter::reserve`] took.
    fn release(&mut self, bytes: usize) {
        let bytes = bytes.min(self.host);
        self.host -= bytes;
        self.held -= bytes;
        self.budget
            .in_use
            .fetch_sub(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for MemoryLimiter {
    /// The instance is gone, and its memory back with the pooling allocator
    /// (which resets it): it no longer counts.
    fn drop(&mut self) {
        self.budget
            .in_use
            .fetch_sub(self.held, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Model {
    #[allow(
        clippy::too_many_arguments,
        reason = "crate-private, called once by Engine::load with what it knows"
    )]
    pub(crate) fn new(
        engine: Engine,
        label: &str,
        component: Component,
        digest: [u8; 32],
        size: usize,
        code_source: CodeSource,
        source: Option<Source>,
        expectations: Option<Expectations>,
        signer: Option<crate::artifact::sign::Signer>,
        log: LogSink,
        constants: Vec<HostMatrix>,
    ) -> Result<Model> {
        let imports = check_imports_and_exports(&engine, &component)?;
        let load_error = |e: wasmtime::Error| Error::Load {
            model: label.to_string(),
            source: anyhow::Error::from(e),
        };
        let mut linker = Linker::<StoreState>::new(engine.wasmtime());
        contract::Model::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |s| s)
            .map_err(load_error)?;
        let pre = linker.instantiate_pre(&component).map_err(load_error)?;
        let pre = contract::ModelPre::new(pre).map_err(load_error)?;
        let max_idle = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));

        // Ask for the model's description under the usual limits, with a
        // placeholder name until it has told us its own.
        let constants: Arc<[HostMatrix]> = constants.into();
        let mut instance = instantiate(&engine, &pre, label.into(), &log, &constants)?;
        instance.store.set_epoch_deadline(engine.deadline_ticks());
        let info = instance
            .bindings
            .glassbox_model_scorer()
            .call_info(&mut instance.store)
            .map_err(|e| classify_trap(&engine, label, e, instance.store.data()))?;
        check_info(&info)?;
        let rules = expectations
            .map(|e| Rules::new(e, &info).map(Arc::new))
            .transpose()
            .map_err(|e| Error::InvalidInfo {
                model: info.name.clone(),
                problem: format!("its embedded {e}"),
            })?;
        let name: Arc<str> = info.name.as_str().into();
        instance.store.data_mut().model = name;
        let numeric_fields = positions(&info, FeatureKind::Numeric);
        let categorical_fields = positions(&info, FeatureKind::Categorical);
        let telemetry = ModelTelemetry::new(
            engine.telemetry(),
            &info.name,
            &info.version,
            &format!("sha256:{}", hex::encode(digest)),
            info.inputs.iter().map(|f| f.name.clone()).collect(),
        );

        let engine_reuses = engine.limits().reuse_instances;
        Ok(Model {
            inner: Arc::new(Inner {
                engine,
                info,
                digest,
                size,
                imports,
                code_source,
                source,
                rules,
                signer,
                pre,
                // The instance that answered `info()` serves the first call
                // only when instances may be reused.
                idle: Mutex::new(if engine_reuses {
                    vec![instance]
                } else {
                    Vec::new()
                }),
                max_idle,
                numeric_fields,
                categorical_fields,
                log,
                constants,
                telemetry,
            }),
        })
    }

    /// What the model says about itself: schema, outputs, training profile.
    pub fn info(&self) -> &ModelInfo {
        &self.inner.info
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.inner.info.name
    }

    /// The SHA-256 digest of the component's bytes, in hex.
    pub fn digest(&self) -> String {
        hex::encode(self.inner.digest)
    }

    /// Size of the component in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// The component's imports (all of them granted, or it would not have loaded).
    pub fn imports(&self) -> &[String] {
        &self.inner.imports
    }

    /// Where the component came from, when `glassbox compile` made it.
    pub fn source(&self) -> Option<&Source> {
        self.inner.source.as_ref()
    }

    /// What the model's owner expects of its inputs and outputs, when the
    /// component carries expectations (`glassbox compile --expect`).
    pub fn expectations(&self) -> Option<&Expectations> {
        self.inner.rules.as_ref().map(|r| &r.expectations)
    }

    /// The trusted key that signed the component, when the engine
    /// requires one ([`crate::EngineBuilder::trusted_keys`]).
    pub fn signer(&self) -> Option<&crate::artifact::sign::Signer> {
        self.inner.signer.as_ref()
    }

    /// The expectations bound to the schema, for the monitor.
    pub(crate) fn rules(&self) -> Option<&Arc<Rules>> {
        self.inner.rules.as_ref()
    }

    /// Whether the compiled code came from the cache.
    pub fn code_source(&self) -> CodeSource {
        self.inner.code_source
    }

    /// Scores a column-major batch.
    ///
    /// The batch is checked against the schema first (every problem is
    /// reported at once, as [`Error::InvalidInput`]), and the answer's shape
    /// after (as [`Error::BadOutput`]). A row whose answer breaks the
    /// model's declaration (a value that is not finite, say) does not fail
    /// the call: [`crate::runtime::batch::bad_answers`] lists those rows,
    /// and [`crate::runtime::batch::predictions`] marks them
    /// [`Prediction::Invalid`]. The call is one `glassbox.score` span, a
    /// child of the current OpenTelemetry context, and counts in the
    /// model's metrics (see [`crate::telemetry`]).
    pub fn score(&self, batch: &Batch) -> Result<Scores> {
        let mut record = self.inner.telemetry.start(batch.rows as usize);
        let result = self
            .check_batch(batch)
            .and_then(|()| self.call(batch, &mut record))
            .inspect(|scores| {
                let bad = batch::bad_answers(&self.inner.info, scores);
                if let Some((row, first)) = bad.first() {
                    record.bad_answers(bad.len(), format!("row {row}: {first}"));
                }
            });
        record.finish(&result);
        result
    }

    /// Scores rows given as JSON objects keyed by feature name (`null` for a
    /// missing value) and returns one prediction per row.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), glassbox::Error> {
    /// let engine = glassbox::Engine::new()?;
    /// let model = engine.load_file("model.wasm")?;
    /// let row = serde_json::json!({"x": 1.5, "color": "red"});
    /// let predictions = model.score_rows(&[row.as_object().unwrap().clone()])?;
    /// println!("{}", serde_json::to_string(&predictions[0]).unwrap());
    /// # Ok(()) }
    /// ```
    pub fn score_rows(&self, rows: &[batch::Row]) -> Result<Vec<Prediction>> {
        let mut record = self.inner.telemetry.start(rows.len());
        let result = batch::from_rows(&self.inner.info, rows)
            .map_err(|violations| Error::InvalidInput {
                model: self.name().to_string(),
                violations,
            })
            .and_then(|batch| {
                self.check_batch(&batch)?;
                let scores = self.call(&batch, &mut record)?;
                let predictions = batch::predictions(&self.inner.info, scores);
                let mut bad = predictions.iter().enumerate().filter_map(|(r, p)| match p {
                    Prediction::Invalid { error } => Some((r, error)),
                    _ => None,
                });
                if let Some((row, first)) = bad.next() {
                    let first = format!("row {row}: {first}");
                    record.bad_answers(1 + bad.count(), first);
                }
                Ok(predictions)
            });
        record.finish(&result);
        result
    }

    /// Records input refused before it reached the model (a server that
    /// decodes its own wire format finds these) as a failed call in the
    /// model's span and metrics, and returns the [`Error::InvalidInput`]
    /// to report.
    pub fn refuse(&self, rows: usize, violations: Violations) -> Error {
        let record = self.inner.telemetry.start(rows);
        let result: Result<()> = Err(Error::InvalidInput {
            model: self.name().to_string(),
            violations,
        });
        record.finish(&result);
        match result {
            Err(e) => e,
            Ok(()) => unreachable!("built as an error just above"),
        }
    }

    /// Creates a fresh instance and drops it, for measuring instantiation
    /// (benchmarks). Calls never need this: they reuse idle instances.
    #[doc(hidden)]
    pub fn instantiate_and_drop(&self) -> Result<()> {
        let inner = &*self.inner;
        instantiate(
            &inner.engine,
            &inner.pre,
            self.name().into(),
            &inner.log,
            &inner.constants,
        )
        .map(drop)
    }

    fn call(&self, batch: &Batch, record: &mut CallRecord<'_>) -> Result<Scores> {
        let inner = &*self.inner;
        let pooled = inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut instance = match pooled {
            Some(instance) => instance,
            None => instantiate(
                &inner.engine,
                &inner.pre,
                self.name().into(),
                &inner.log,
                &inner.constants,
            )?,
        };
        instance.store.data_mut().begin_call();
        let deadline_ticks = inner.engine.deadline_ticks();
        instance.store.set_epoch_deadline(deadline_ticks);
        let epoch = inner.engine.epoch();
        let scorer = instance.bindings.glassbox_model_scorer();
        let result = match inner.info.layout {
            NumericLayout::F64Columns => scorer.call_score(&mut instance.store, batch),
            NumericLayout::F32Rows => scorer.call_score_f32_rows(
                &mut instance.store,
                batch.rows,
                &batch::f32_rows(batch, inner.info.inputs.len()),
            ),
        };
        record.guest_use(GuestUse {
            ticks: inner.engine.epoch() - epoch,
            deadline_ticks,
            memory_bytes: instance.store.data().limiter.peak,
        });
        let outcome = match result {
            // Rows whose answer breaks the declaration are counted by the
            // caller, which checks each row once (`score` for the span,
            // `score_rows` while making the predictions).
            Ok(Ok(scores)) => self.check_scores(batch.rows as usize, scores),
            Ok(Err(error)) => {
                let (error, omitted) = bound_model_error(error);
                Err(Error::Guest {
                    model: self.name().to_string(),
                    error,
                    omitted,
                })
            }
            Err(trap) => Err(classify_trap(
                &inner.engine,
                self.name(),
                trap,
                instance.store.data(),
            )),
        };
        let poisoned = matches!(&outcome, Err(e) if e.poisons_instance());
        // Without reuse the instance dies with the call, and its memory with
        // it: the pooling allocator resets the slot before the next one.
        if !poisoned && inner.engine.limits().reuse_instances {
            let mut idle = inner.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < inner.max_idle {
                idle.push(instance);
            }
        }
        outcome
    }

    /// Checks a batch's shape against the schema and the limits.
    fn check_batch(&self, batch: &Batch) -> Result<()> {
        let info = &self.inner.info;
        let limits = self.inner.engine.limits();
        let rows = batch.rows as usize;
        let too_large = |what: String| Error::TooLarge {
            model: info.name.clone(),
            what,
        };
        if rows > limits.max_rows {
            return Err(too_large(format!(
                "{rows} rows, the limit is {}",
                limits.max_rows
            )));
        }
        let mut violations = Violations::new();
        let shape = |field: &str, expected: String, got: String| Violation {
            row: 0,
            field: field.into(),
            expected,
            got,
        };
        let (numeric_fields, categorical_fields) =
            (&self.inner.numeric_fields, &self.inner.categorical_fields);
        if batch.numeric.len() != numeric_fields.len() * rows {
            violations.push(shape(
                "(numeric)",
                format!(
                    "{} values ({} numeric fields × {rows} rows)",
                    numeric_fields.len() * rows,
                    numeric_fields.len()
                ),
                format!("{} values", batch.numeric.len()),
            ));
        }
        if batch.categorical.len() != categorical_fields.len() * rows {
            violations.push(shape(
                "(categorical)",
                format!(
                    "{} codes ({} categorical fields × {rows} rows)",
                    categorical_fields.len() * rows,
                    categorical_fields.len()
                ),
                format!("{} codes", batch.categorical.len()),
            ));
        }
        // Missing numeric values: ascending positions, in nullable fields only.
        let mut previous = None;
        for &m in &batch.numeric_missing {
            let (k, row) = (m as usize / rows.max(1), m as usize % rows.max(1));
            match numeric_fields.get(k).map(|&i| &info.inputs[i]) {
                Some(field)
                    if previous.is_none_or(|p| p < m) && (m as usize) < batch.numeric.len() =>
                {
                    if !field.nullable {
                        violations.push(Violation {
                            row,
                            field: field.name.clone(),
                            expected: "a number".into(),
                            got: "a missing value (this field may not be missing)".into(),
                        });
                    }
                }
                _ => violations.push(shape(
                    "(numeric-missing)",
                    "ascending positions within the numeric values".into(),
                    format!("position {m}"),
                )),
            }
            previous = Some(m);
        }
        // Categorical codes: within the dictionary, missing only where allowed.
        for (position, code) in batch.categorical.iter().enumerate() {
            let (k, row) = (position / rows.max(1), position % rows.max(1));
            let Some(field) = categorical_fields.get(k).map(|&i| &info.inputs[i]) else {
                break;
            };
            match code {
                None if !field.nullable => violations.push(Violation {
                    row,
                    field: field.name.clone(),
                    expected: "a string".into(),
                    got: "a missing value (this field may not be missing)".into(),
                }),
                Some(c) if *c as usize >= batch.dictionary.len() => violations.push(Violation {
                    row,
                    field: field.name.clone(),
                    expected: "a code within the dictionary".into(),
                    got: format!("code {c} for a dictionary of {}", batch.dictionary.len()),
                }),
                _ => {}
            }
        }
        // The owner's hard expectations, once the columns have their
        // lengths (the rules index them); reported with the schema's.
        if let Some(rules) = &self.inner.rules
            && batch.numeric.len() == numeric_fields.len() * rows
            && batch.categorical.len() == categorical_fields.len() * rows
        {
            rules.hard_violations(batch, &mut violations);
        }
        let bytes = batch.numeric.len() * 8
            + batch.numeric_missing.len() * 4
            + batch.categorical.len() * 8
            + batch.dictionary.iter().map(|s| s.len() + 8).sum::<usize>();
        if !violations.is_empty() {
            return Err(Error::InvalidInput {
                model: info.name.clone(),
                violations,
            });
        }
        if bytes > limits.max_input_bytes {
            return Err(too_large(format!(
                "{bytes} bytes of input, the limit is {}",
                limits.max_input_bytes
            )));
        }
        Ok(())
    }

    /// Checks the model's answer against its own declaration.
    fn check_scores(&self, rows: usize, scores: Scores) -> Result<Scores> {
        let bad = |problem: String| Error::BadOutput {
            model: self.name().to_string(),
            problem,
        };
        match (&self.inner.info.outputs, &scores) {
            (Outputs::Classes(classes), Scores::Classification(c)) => {
                let k = classes.len();
                if c.labels.len() != rows || c.probabilities.len() != rows * k {
                    return Err(bad(format!(
                        "{} labels and {} probabilities for {rows} rows of {k} classes",
                        c.labels.len(),
                        c.probabilities.len()
                    )));
                }
            }
            (Outputs::Target(_), Scores::Regression(values)) => {
                if values.len() != rows {
                    return Err(bad(format!("{} values for {rows} rows", values.len())));
                }
            }
            (Outputs::DecisionClasses(classes), Scores::Decision(d)) => {
                let k = classes.len();
                let w = batch::decision_width(k);
                if d.labels.len() != rows || d.scores.len() != rows * w {
                    return Err(bad(format!(
                        "{} labels and {} decision scores for {rows} rows of {k} classes \
                         ({w} per row)",
                        d.labels.len(),
                        d.scores.len()
                    )));
                }
            }
            (Outputs::Target(_), _) => {
                return Err(bad("a regressor returned class scores".into()));
            }
            (Outputs::Classes(_), _) => {
                return Err(bad(
                    "a classifier with probabilities returned something else".into(),
                ));
            }
            (Outputs::DecisionClasses(_), _) => {
                return Err(bad(
                    "a classifier with decision scores returned something else".into(),
                ));
            }
        }
        Ok(scores)
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.inner.info.name)
            .field("version", &self.inner.info.version)
            .field("digest", &self.digest())
            .finish()
    }
}

fn instantiate(
    engine: &Engine,
    pre: &contract::ModelPre<StoreState>,
    model: Arc<str>,
    log: &LogSink,
    constants: &Arc<[HostMatrix]>,
) -> Result<Instance> {
    let state = StoreState {
        model: model.clone(),
        limiter: MemoryLimiter {
            cap: engine.limits().memory_bytes,
            peak: 0,
            denied: None,
            held: 0,
            host: 0,
            budget: engine.guest_memory().clone(),
        },
        log: log.clone(),
        logs_this_call: 0,
        last_error_log: None,
        linalg: LinalgState {
            table: ResourceTable::new(),
            handles: 0,
            constants: constants.clone(),
            engine: engine.clone(),
            call_started: engine.epoch(),
            deadline_passed: false,
        },
    };
    let mut store = Store::new(engine.wasmtime(), state);
    store.limiter(|s| &mut s.limiter);
    if engine.is_interruptible() {
        store.epoch_deadline_trap();
    }
    // Instantiation runs the guest's start-up code, which the deadline bounds too.
    store.set_epoch_deadline(engine.deadline_ticks());
    match pre.instantiate(&mut store) {
        Ok(bindings) => Ok(Instance { store, bindings }),
        Err(e) => Err(match classify_trap(engine, &model, e, store.data()) {
            // A failure that is not a trap (say, the pooling allocator is out
            // of slots) is a load problem of this call, not a guest bug.
            Error::Trap { model, message } => Error::Load {
                model,
                source: anyhow::anyhow!(message),
            },
            other => other,
        }),
    }
}

/// Turns a wasmtime error from a guest call into the error users see.
fn classify_trap(engine: &Engine, model: &str, e: wasmtime::Error, state: &StoreState) -> Error {
    let model = model.to_string();
    let limits = engine.limits();
    if state.linalg.deadline_passed {
        return Error::Timeout {
            model,
            deadline: limits.deadline,
        };
    }
    match state.limiter.denied {
        Some(Denied::Cap(requested)) => {
            return Error::OutOfMemory {
                model,
                requested,
                limit: limits.memory_bytes,
            };
        }
        Some(Denied::Budget { requested, in_use }) => {
            return Error::MemoryBudget {
                model,
                requested,
                in_use,
                budget: limits.memory_budget_bytes,
            };
        }
        None => {}
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Error::Timeout {
            model,
            deadline: limits.deadline,
        },
        Some(Trap::StackOverflow) => Error::StackOverflow {
            model,
            limit: limits.stack_bytes,
        },
        Some(Trap::MemoryOutOfBounds) if shadow_stack_overflow(&e) => Error::StackOverflow {
            model,
            limit: limits.stack_bytes,
        },
        _ => {
            let mut message = format!("{e:#}");
            if let Some(panic) = &state.last_error_log {
                message = format!("{panic} ({message})");
            }
            bound_text(&mut message, MAX_ERROR_BYTES);
            Error::Trap { model, message }
        }
    }
}

/// Whether an out-of-bounds access is a guest's *shadow* stack overflowing.
///
/// Rust and C guests keep large locals on a stack in linear memory that
/// starts below their static data and grows down towards address 0. Running
/// off its end wraps the stack pointer to just under 4 GiB; adding a store's
/// small static offset to it may carry the effective address just past
/// 4 GiB. So the fault lies within 64 KiB either side of 4 GiB, where no
/// real access lands. wasmtime reports the address only in the error's text.
fn shadow_stack_overflow(e: &wasmtime::Error) -> bool {
    e.chain().any(|cause| {
        let text = cause.to_string();
        let Some(rest) = text.strip_prefix("memory fault at wasm address 0x") else {
            return false;
        };
        let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
        u64::from_str_radix(&hex, 16).is_ok_and(|a| (0xFFFF_0000..0x1_0001_0000).contains(&a))
    })
}

/// Refuses components that import anything beyond the contract, or export
/// another version of it. Returns the import names.
fn check_imports_and_exports(engine: &Engine, component: &Component) -> Result<Vec<String>> {
    let Interface { imports, exports } = Interface::of(engine.wasmtime(), component);
    let mut denied = Vec::new();
    for name in &imports {
        if contract::GRANTED_IMPORTS.contains(&name.as_str()) {
            continue;
        }
        // Another version of an interface this host grants is a version
        // mismatch; any other interface, in our namespace or not, is a
        // capability this host does not grant, and is named as such.
        let interface = |n: &str| n.split('@').next().unwrap_or_default().to_string();
        let granted = contract::GRANTED_IMPORTS
            .iter()
            .any(|g| interface(g) == interface(name));
        if granted {
            return Err(Error::WrongVersion {
                found: name.clone(),
                expected: contract::PACKAGE,
            });
        }
        denied.push(name.clone());
    }
    if !denied.is_empty() {
        return Err(Error::ForbiddenImports { imports: denied });
    }
    if !exports.iter().any(|n| n == contract::SCORER_EXPORT) {
        if let Some(found) = exports
            .iter()
            .find(|n| n.starts_with("glassbox:model/scorer"))
        {
            return Err(Error::WrongVersion {
                found: found.clone(),
                expected: contract::PACKAGE,
            });
        }
        return Err(Error::WrongWorld { exports });
    }
    Ok(imports)
}

/// Checks that a model's description stays within [`super::info_limits`]
/// and is self-consistent.
fn check_info(info: &ModelInfo) -> Result<()> {
    // The name itself may be what is wrong: it is shown only once it is
    // known to be short and plain.
    check_name(&info.name).map_err(|problem| Error::InvalidInfo {
        model: "(unnamed)".into(),
        problem,
    })?;
    check_info_bounds(info).map_err(|problem| Error::InvalidInfo {
        model: info.name.clone(),
        problem,
    })?;
    check_info_consistency(info)
}

/// Whether `s` is ASCII letters, digits and the bytes of `extra`.
fn plain(s: &str, extra: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || extra.as_bytes().contains(&b))
}

/// A model's name: short, plain ASCII (see [`super::info_limits::NAME_BYTES`]).
fn check_name(name: &str) -> std::result::Result<(), String> {
    use super::info_limits as max;
    if name.len() > max::NAME_BYTES {
        return Err(format!(
            "its name is {} bytes long; the limit is {} bytes",
            name.len(),
            max::NAME_BYTES
        ));
    }
    if !name.is_empty() && (!plain(name, "-_.") || !name.as_bytes()[0].is_ascii_alphanumeric()) {
        let mut shown = name.to_string();
        bound_text(&mut shown, 64);
        return Err(format!(
            "its name {shown:?} may hold only ASCII letters, digits, `-`, `_` and `.`, \
             and must start with a letter or digit"
        ));
    }
    Ok(())
}

/// The bounds of [`super::info_limits`], each refusal naming its limit.
fn check_info_bounds(info: &ModelInfo) -> std::result::Result<(), String> {
    use super::info_limits as max;
    if info.version.len() > max::VERSION_BYTES || !plain(&info.version, ".-+_") {
        let mut shown = info.version.clone();
        bound_text(&mut shown, 64);
        return Err(format!(
            "the version {shown:?} must be at most {} bytes of ASCII letters, digits, `.`, `-`, `+` and `_`",
            max::VERSION_BYTES
        ));
    }
    if info.inputs.len() > max::FIELDS {
        return Err(format!(
            "it declares {} input fields; the limit is {}",
            info.inputs.len(),
            max::FIELDS
        ));
    }
    let text = |what: &str, s: &str| -> std::result::Result<usize, String> {
        if s.len() > max::TEXT_BYTES || s.chars().any(char::is_control) {
            let mut shown = s.to_string();
            bound_text(&mut shown, 64);
            return Err(format!(
                "{what} {shown:?} must be at most {} bytes with no control characters",
                max::TEXT_BYTES
            ));
        }
        Ok(s.len() + std::mem::size_of::<String>())
    };
    let mut total = info.name.len() + info.version.len();
    for field in &info.inputs {
        total += text("field name", &field.name)? + std::mem::size_of::<crate::Field>();
        if field.categories.len() > max::CATEGORIES {
            return Err(format!(
                "field `{}` declares {} categories; the limit is {}",
                field.name,
                field.categories.len(),
                max::CATEGORIES
            ));
        }
        for c in &field.categories {
            total += text(&format!("a category of `{}`", field.name), c)?;
        }
        if total > max::TOTAL_BYTES {
            break;
        }
    }
    match &info.outputs {
        Outputs::Classes(classes) | Outputs::DecisionClasses(classes) => {
            if classes.len() > max::CLASSES {
                return Err(format!(
                    "it declares {} classes; the limit is {}",
                    classes.len(),
                    max::CLASSES
                ));
            }
            for c in classes {
                total += text("class label", c)?;
            }
        }
        Outputs::Target(target) => total += text("the target's name", target)?,
    }
    if let Some(profile) = &info.profile {
        if profile.features.len() > max::FIELDS {
            return Err(format!(
                "its training profile has {} features; the limit is {}",
                profile.features.len(),
                max::FIELDS
            ));
        }
        let numeric = |what: &str,
                       p: &crate::NumericProfile|
         -> std::result::Result<usize, String> {
            let points = p
                .quantiles
                .len()
                .max(p.histogram.edges.len())
                .max(p.histogram.counts.len());
            if points > max::PROFILE_POINTS {
                return Err(format!(
                    "the training profile of {what} has {points} quantiles or bins; the limit is {}",
                    max::PROFILE_POINTS
                ));
            }
            Ok(16 * p.quantiles.len() + 8 * (p.histogram.edges.len() + p.histogram.counts.len()))
        };
        for (i, p) in profile.features.iter().enumerate() {
            let name = info.inputs.get(i).map_or("a feature", |f| f.name.as_str());
            match p {
                FeatureProfile::Numeric(n) => total += numeric(&format!("`{name}`"), n)?,
                FeatureProfile::Categorical(c) => {
                    if c.frequencies.len() > max::CATEGORIES + 1 {
                        return Err(format!(
                            "the training profile of `{name}` counts {} categories; the limit is {}",
                            c.frequencies.len(),
                            max::CATEGORIES
                        ));
                    }
                    for f in &c.frequencies {
                        total +=
                            text(&format!("a profiled category of `{name}`"), &f.category)? + 8;
                    }
                }
            }
            if total > max::TOTAL_BYTES {
                break;
            }
        }
        match &profile.predictions {
            PredictionProfile::Classification(counts) => {
                if counts.len() > max::CLASSES {
                    return Err(format!(
                        "its prediction profile counts {} classes; the limit is {}",
                        counts.len(),
                        max::CLASSES
                    ));
                }
                total += 8 * counts.len();
            }
            PredictionProfile::Regression(n) => total += numeric("the predictions", n)?,
        }
    }
    if total > max::TOTAL_BYTES {
        return Err(format!(
            "its description holds more than {} bytes (the limit)",
            max::TOTAL_BYTES
        ));
    }
    Ok(())
}

/// Checks that a model's description is self-consistent.
fn check_info_consistency(info: &ModelInfo) -> Result<()> {
    let fail = |problem: String| {
        Err(Error::InvalidInfo {
            model: info.name.clone(),
            problem,
        })
    };
    if info.name.trim().is_empty() {
        return fail("the name is empty".into());
    }
    match (&info.task, &info.outputs) {
        (Task::Classification, Outputs::Classes(classes) | Outputs::DecisionClasses(classes)) => {
            if classes.is_empty() {
                return fail("a classifier must list its classes".into());
            }
            if let Some(d) = first_duplicate(classes.iter()) {
                return fail(format!("class `{d}` is listed twice"));
            }
        }
        (Task::Regression, Outputs::Target(_)) => {}
        (task, _) => return fail(format!("task is {task:?} but outputs do not match it")),
    }
    if info.inputs.is_empty() {
        return fail("the input schema has no fields".into());
    }
    if info.layout == NumericLayout::F32Rows
        && let Some(f) = info
            .inputs
            .iter()
            .find(|f| f.kind == FeatureKind::Categorical)
    {
        return fail(format!(
            "it asks for float32 rows, which carry numbers only, but field `{}` is categorical",
            f.name
        ));
    }
    if let Some(d) = first_duplicate(info.inputs.iter().map(|f| &f.name)) {
        return fail(format!("input field `{d}` is listed twice"));
    }
    if let Some(f) = info
        .inputs
        .iter()
        .find(|f| f.kind == FeatureKind::Numeric && !f.categories.is_empty())
    {
        return fail(format!("numeric field `{}` lists categories", f.name));
    }
    if let Some(profile) = &info.profile {
        if profile.features.len() != info.inputs.len() {
            return fail(format!(
                "the training profile has {} features, the schema {}",
                profile.features.len(),
                info.inputs.len()
            ));
        }
        for (field, p) in info.inputs.iter().zip(&profile.features) {
            let same_kind = matches!(
                (field.kind, p),
                (FeatureKind::Numeric, FeatureProfile::Numeric(_))
                    | (FeatureKind::Categorical, FeatureProfile::Categorical(_))
            );
            if !same_kind {
                return fail(format!(
                    "the training profile of `{}` is of another kind than the field",
                    field.name
                ));
            }
        }
        if let (
            PredictionProfile::Classification(counts),
            Outputs::Classes(classes) | Outputs::DecisionClasses(classes),
        ) = (&profile.predictions, &info.outputs)
            && counts.len() != classes.len()
        {
            return fail(format!(
                "the prediction profile has {} classes, the outputs {}",
                counts.len(),
                classes.len()
            ));
        }
    }
    Ok(())
}

/// Schema positions of the fields of one kind.
fn positions(info: &ModelInfo, kind: FeatureKind) -> Vec<usize> {
    (0..info.inputs.len())
        .filter(|&i| info.inputs[i].kind == kind)
        .collect()
}

fn first_duplicate<'a>(items: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().find(|s| !seen.insert(s.as_str()))
}

/// A guest's error, bounded like the host's own: at most
/// [`Violations::LISTED`] problems (with the number left out), and every
/// text cut to a size and stripped of control characters.
fn bound_model_error(error: ModelError) -> (ModelError, usize) {
    match error {
        ModelError::Internal(mut message) => {
            bound_text(&mut message, MAX_ERROR_BYTES);
            (ModelError::Internal(message), 0)
        }
        ModelError::InvalidInput(mut problems) => {
            let omitted = problems.len().saturating_sub(Violations::LISTED);
            problems.truncate(Violations::LISTED);
            for p in &mut problems {
                bound_text(&mut p.field, Violations::TEXT_BYTES);
                bound_text(&mut p.message, Violations::TEXT_BYTES);
            }
            (ModelError::InvalidInput(problems), omitted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{
        CategoricalProfile, CategoryCount, Field, Histogram, NumericProfile, TrainingProfile,
    };
    use crate::runtime::info_limits as max;

    fn info() -> ModelInfo {
        ModelInfo {
            name: "m".into(),
            version: "1.0.0".into(),
            task: Task::Classification,
            inputs: vec![Field {
                name: "x".into(),
                kind: FeatureKind::Numeric,
                nullable: false,
                categories: Vec::new(),
            }],
            outputs: Outputs::Classes(vec!["a".into(), "b".into()]),
            profile: None,
            layout: NumericLayout::F64Columns,
        }
    }

    fn refused(info: &ModelInfo) -> String {
        check_info(info).unwrap_err().to_string()
    }

    #[test]
    fn the_probability_tolerance_follows_float32_and_the_classes() {
        assert!(probability_sum_tolerance(2) < 5e-5);
        let ten = probability_sum_tolerance(10);
        // MultinomialNB on digits in onnxruntime: 1 ± 6.1e-5.
        assert!(ten > 6.1e-5 && ten < 2e-4, "{ten}");
        assert_eq!(probability_sum_tolerance(1_000_000), 1e-2);
    }

    #[test]
    fn a_plain_description_passes() {
        check_info(&info()).unwrap();
    }

    #[test]
    fn names_and_versions_are_short_and_plain() {
        let mut i = info();
        i.name = "a".repeat(max::NAME_BYTES + 1);
        let e = refused(&i);
        assert!(
            e.contains("the limit is 128 bytes") && e.contains("(unnamed)"),
            "{e}"
        );
        i.name = "ok\n[other] forged".into();
        let e = refused(&i);
        assert!(
            e.contains("may hold only ASCII letters") && !e.contains('\n'),
            "{e}"
        );
        i.name = "-starts-with-a-dash".into();
        assert!(refused(&i).contains("must start with a letter or digit"));
        i.name = "m".into();
        i.version = "1.0\u{1b}[2J".into();
        let e = refused(&i);
        assert!(e.contains("the version") && !e.contains('\u{1b}'), "{e}");
    }

    #[test]
    fn every_count_is_bounded_and_the_refusal_names_the_limit() {
        let mut i = info();
        i.inputs = (0..=max::FIELDS)
            .map(|n| Field {
                name: format!("f{n}"),
                kind: FeatureKind::Numeric,
                nullable: false,
                categories: Vec::new(),
            })
            .collect();
        assert!(refused(&i).contains("10001 input fields; the limit is 10000"));

        let mut i = info();
        i.inputs[0].kind = FeatureKind::Categorical;
        i.inputs[0].categories = (0..=max::CATEGORIES).map(|n| n.to_string()).collect();
        assert!(refused(&i).contains("65537 categories; the limit is 65536"));

        let mut i = info();
        i.outputs = Outputs::Classes((0..=max::CLASSES).map(|n| n.to_string()).collect());
        assert!(refused(&i).contains("10001 classes; the limit is 10000"));

        let mut i = info();
        i.inputs[0].name = "x\ny".into();
        assert!(refused(&i).contains("no control characters"));
        i.inputs[0].name = "x".repeat(max::TEXT_BYTES + 1);
        assert!(refused(&i).contains("at most 256 bytes"));
    }

    #[test]
    fn profiles_are_bounded_too() {
        let numeric = |points: usize| NumericProfile {
            count: 1,
            missing: 0,
            mean: 0.0,
            std: 0.0,
            min: 0.0,
            max: 0.0,
            quantiles: Vec::new(),
            histogram: Histogram {
                edges: vec![0.0; points + 1],
                counts: vec![0; points],
            },
        };
        let mut i = info();
        i.profile = Some(TrainingProfile {
            features: vec![FeatureProfile::Numeric(numeric(max::PROFILE_POINTS))],
            predictions: PredictionProfile::Classification(vec![1, 1]),
        });
        assert!(refused(&i).contains("1025 quantiles or bins; the limit is 1024"));

        // Within every count, but past the total: two categorical fields of
        // 60,000 categories of 200 bytes each (about 24 MB).
        let mut i = info();
        let words: Vec<String> = (0..60_000).map(|n| format!("{n:0>200}")).collect();
        i.inputs = (0..2)
            .map(|n| Field {
                name: format!("c{n}"),
                kind: FeatureKind::Categorical,
                nullable: false,
                categories: words.clone(),
            })
            .collect();
        assert!(refused(&i).contains("more than 16777216 bytes"));

        let mut i = info();
        i.inputs[0].kind = FeatureKind::Categorical;
        i.inputs[0].categories = vec!["a".into()];
        i.profile = Some(TrainingProfile {
            features: vec![FeatureProfile::Categorical(CategoricalProfile {
                count: 1,
                missing: 0,
                frequencies: vec![
                    CategoryCount {
                        category: "a\u{7}".into(),
                        count: 1
                    };
                    3
                ],
            })],
            predictions: PredictionProfile::Classification(vec![1, 1]),
        });
        assert!(refused(&i).contains("no control characters"));
    }
}
