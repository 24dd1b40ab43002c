//! The engine: wasmtime configured once for untrusted models.
//!
//! [`EngineBuilder`] narrows wasmtime to the knobs Glassbox supports:
//! 1. Cranelift, optimising for speed: a model is compiled once and scored
//!    millions of times.
//! 2. The pooling allocator: instance slots are reserved up front, so
//!    replacing an instance after a trap costs microseconds, not an mmap.
//! 3. Epoch interruption for deadlines: a background thread bumps the epoch
//!    every tick and a call that outlives its deadline traps. Fuel would give
//!    exact instruction budgets but costs a counter update in every basic
//!    block; an epoch check is one load and compare per loop header.
//! 4. A stack limit, and a per-store memory limiter (see [`crate::Limits`]).
//! 5. An on-disk cache of compiled code keyed by the component's digest and
//!    the engine's compatibility hash, so a restart does not recompile.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

#[cfg(feature = "compiler")]
use wasmtime::OptLevel;
use wasmtime::component::Component;
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::limits::Limits;
use super::model::{GuestMemory, LogSink, Model};
use crate::artifact::expect::Expectations;
use crate::artifact::sign::TrustedKeys;
use crate::artifact::{self, Source};
use crate::error::{Error, Result};
use crate::telemetry::{Providers, Telemetry};

/// How often the epoch advances unless configured otherwise: the resolution
/// of deadlines. 10 ms keeps the ticker thread's cost negligible.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of a linear memory (and of a table) restored in place rather than
/// unmapped when a slot is reset; see [`EngineBuilder::build`].
const KEEP_RESIDENT: usize = 16 << 20;

/// Memory images up to this size are mapped copy-on-write whatever their
/// density (see [`EngineBuilder::build`]): wasmtime's own default.
const DENSE_IMAGE_BYTES: u64 = 16 << 20;

/// Builds an [`Engine`].
///
/// ```
/// use std::time::Duration;
/// let engine = glassbox::Engine::builder()
///     .limits(glassbox::Limits { deadline: Duration::from_millis(200), ..Default::default() })
///     .build()?;
/// # Ok::<_, glassbox::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct EngineBuilder {
    limits: Limits,
    epoch_tick: Duration,
    cache_dir: Option<PathBuf>,
    log: LogSink,
    interruptible: bool,
    telemetry: Option<Providers>,
    trusted: Option<TrustedKeys>,
    compile_helper: Option<PathBuf>,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            limits: Limits::default(),
            epoch_tick: DEFAULT_EPOCH_TICK,
            cache_dir: None,
            log: LogSink::stderr(),
            interruptible: true,
            telemetry: None,
            trusted: None,
            compile_helper: None,
        }
    }
}

impl EngineBuilder {
    /// The limits every call runs under.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The epoch period, which is the resolution of deadlines. Default 10 ms.
    pub fn epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = tick.max(Duration::from_millis(1));
        self
    }

    /// Whether calls can be interrupted at their deadline. On by default.
    ///
    /// Interruption works by a check of the engine's epoch at every loop
    /// header and function entry of the compiled guest. That check is the
    /// largest cost wasm adds to a tight numeric loop (docs/BENCHMARKS.md
    /// measures it: about a third of the time of a 10,000-row batch).
    /// Turning it off removes the check and with it the deadline: a model
    /// that never returns then holds its calling thread forever. Only do
    /// this for models you trust not to loop, or to measure.
    pub fn interruptible(mut self, on: bool) -> Self {
        self.interruptible = on;
        self
    }

    /// Where the models' log lines go. Default: stderr.
    pub fn log_sink(mut self, log: LogSink) -> Self {
        self.log = log;
        self
    }

    /// Records the spans and metrics of this engine's models into
    /// `telemetry`'s providers. Default: the global OpenTelemetry providers
    /// (see [`crate::telemetry`]).
    pub fn telemetry(mut self, telemetry: &Telemetry) -> Self {
        self.telemetry = Some(telemetry.providers());
        self
    }

    /// Loads only components signed by one of `keys` whose bytes have not
    /// changed since (see [`crate::artifact::sign`]); anything else is refused with
    /// [`Error::Signature`]. Off by default: any component loads.
    pub fn trusted_keys(mut self, keys: TrustedKeys) -> Self {
        self.trusted = Some(keys);
        self
    }

    /// Compiles components in a child process, the `glassbox` binary at
    /// `helper`, under the compile budget of the [`Limits`]
    /// (`compile_timeout`, `compile_memory_bytes`); see
    /// [`crate::runtime::compiler`]. Off by default: compiles run in this
    /// process, as long and as large as the component makes them.
    pub fn compile_with(mut self, helper: impl Into<PathBuf>) -> Self {
        self.compile_helper = Some(helper.into());
        self
    }

    /// Caches compiled models in `dir` (created if needed). Off by default.
    ///
    /// Cached files are native code that is loaded without re-validation, so
    /// the directory must be writable only by whoever runs Glassbox.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The conventional cache location: `$GLASSBOX_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/glassbox`, else `$HOME/.cache/glassbox`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let env = |k| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        env("GLASSBOX_CACHE_DIR")
            .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("glassbox")))
            .or_else(|| env("HOME").map(|d| d.join(".cache").join("glassbox")))
    }

    /// wasmtime's configuration for these settings. Precompiling for
    /// another target uses the same one, with the target set, so that what
    /// a build machine compiles is what this engine would have.
    fn config(&self) -> Config {
        let limits = &self.limits;
        // A model component holds one memory but several core instances and
        // tables: the guest's module plus the small adapter modules that
        // wit-component adds. Four of each per component leaves room.
        const CORE_PER_COMPONENT: u32 = 4;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(limits.max_instances)
            .total_core_instances(limits.max_instances.saturating_mul(CORE_PER_COMPONENT))
            .total_memories(limits.max_instances)
            .total_tables(limits.max_instances.saturating_mul(CORE_PER_COMPONENT))
            .max_memory_size(limits.memory_bytes)
            // Every call gets a fresh instance (see `Limits::reuse_instances`),
            // so a slot's reset is on every call's path. wasmtime's default
            // unmaps the memory (madvise), and the next call takes a page
            // fault for every page it touches again: 20-35 us a one-row
            // call. With PAGEMAP_SCAN (Linux 6.7+; ignored elsewhere) it
            // finds the pages the call wrote and restores only those, up to
            // this many bytes per memory, which stay mapped. 16 MiB rather
            // than 2: a 10,000-row batch grows the heap by megabytes, and
            // beyond this bound every call faults those pages in afresh
            // (fresh-instance batches 5-70 % faster: digits_logreg 1.6 M ->
            // 2.8 M rows/s; one-row calls unchanged). A slot keeps at most
            // what its calls touched resident.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
        let mut config = Config::new();
        #[cfg(feature = "compiler")]
        config.cranelift_opt_level(OptLevel::Speed);
        config
            .wasm_component_model(true)
            .epoch_interruption(self.interruptible)
            .max_wasm_stack(limits.stack_bytes)
            // A memory's initial image is mapped copy-on-write, which makes
            // instantiating a compiled pipeline (its planned model is its
            // data segments) cost microseconds. Up to this size wasmtime
            // builds the image whatever its density; beyond, only when at
            // least half of it is data. So an image, in memory and in the
            // code cache, is at most this or twice the data the file holds:
            // a file cannot make the host hold 256 MiB images for two bytes
            // of data. The largest reference pipeline's image is 9.4 MiB.
            .memory_guaranteed_dense_image_size(DENSE_IMAGE_BYTES)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        // `GLASSBOX_PERF_MAP=1` writes /tmp/perf-PID.map so that `perf`
        // names the guest's functions (profiling a model's own code).
        if std::env::var_os("GLASSBOX_PERF_MAP").is_some_and(|v| v == "1") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        config
    }

    /// Compiles `component` into a precompiled model for `target` (a triple
    /// such as `aarch64-unknown-linux-gnu`; `None` for this host), with this
    /// builder's settings: an engine on the target with the same limits and
    /// interruption loads it without compiling, once a trusted key has
    /// signed it (see [`crate::artifact::precompiled`]). The component is
    /// not instantiated here: check it first by loading it on this host.
    ///
    /// For an x86-64 target the code assumes x86-64-v2 (SSE4.2 and
    /// POPCNT; every x86-64 CPU since 2009), which wasm's SIMD needs; an
    /// aarch64 target assumes the base architecture. A node checks the
    /// features before loading.
    #[cfg(feature = "compiler")]
    pub fn precompile(&self, component: &[u8], target: Option<&str>) -> Result<Vec<u8>> {
        artifact::check_header(component)?;
        let load_error = |source: anyhow::Error| Error::Load {
            model: "(precompile)".into(),
            source,
        };
        if artifact::precompiled::is_precompiled(component) {
            return Err(Error::NotAComponent(
                "it is already precompiled; precompile the component it was made from".into(),
            ));
        }
        let target = target.unwrap_or(artifact::precompiled::host_target());
        let code = match &self.compile_helper {
            Some(helper) => super::compiler::compile_in_child(
                helper,
                &self.limits,
                self.interruptible,
                Some(target),
                component,
            )
            .map_err(|e| load_error(anyhow::anyhow!("{e}")))?,
            None => self
                .target_engine(target)?
                .precompile_component(component)
                .map_err(|e| load_error(e.into()))?,
        };
        Ok(artifact::precompiled::wrap(component, target, &code))
    }

    /// A wasmtime engine with these settings that compiles for `target`.
    #[cfg(feature = "compiler")]
    pub(crate) fn target_engine(&self, target: &str) -> Result<wasmtime::Engine> {
        let bad = |e: wasmtime::Error| Error::Load {
            model: "(precompile)".into(),
            source: anyhow::anyhow!("target {target}: {e}"),
        };
        let mut config = self.config();
        config.target(target).map_err(bad)?;
        if target.starts_with("x86_64") {
            for flag in [
                "has_sse3",
                "has_ssse3",
                "has_sse41",
                "has_sse42",
                "has_popcnt",
            ] {
                // SAFETY: code with these flags runs only where the CPU has
                // them: wasmtime compares a file's flags with the host's
                // before loading it, and refuses it otherwise.
                unsafe {
                    config.cranelift_flag_enable(flag);
                }
            }
        }
        wasmtime::Engine::new(&config).map_err(bad)
    }

    /// Creates the engine and starts its epoch ticker.
    pub fn build(self) -> Result<Engine> {
        let config = self.config();
        let limits = self.limits;
        let engine = wasmtime::Engine::new(&config).map_err(|e| Error::Load {
            model: "(engine)".into(),
            source: anyhow::Error::from(e),
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        // wasmtime does not tell the epoch; this mirror lets a call report
        // the ticks it used.
        let epoch = Arc::new(AtomicU64::new(0));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            let epoch = epoch.clone();
            let tick = self.epoch_tick;
            thread::Builder::new()
                .name("glassbox-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        thread::sleep(tick);
                        engine.increment_epoch();
                        epoch.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .map_err(|e| Error::Io {
                    path: "(epoch ticker thread)".into(),
                    source: e,
                })?
        };
        let guest_memory = Arc::new(GuestMemory::new(limits.memory_budget_bytes));
        Ok(Engine {
            inner: Arc::new(Inner {
                engine,
                limits,
                epoch_tick: self.epoch_tick,
                cache_dir: self.cache_dir,
                log: self.log,
                interruptible: self.interruptible,
                stop,
                epoch,
                telemetry: self.telemetry,
                trusted: self.trusted,
                guest_memory,
                compile_helper: self.compile_helper,
                _ticker: ticker,
            }),
        })
    }
}

/// A configured wasmtime engine that loads models. Cheap to clone; clones
/// share everything.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    engine: wasmtime::Engine,
    limits: Limits,
    epoch_tick: Duration,
    cache_dir: Option<PathBuf>,
    log: LogSink,
    interruptible: bool,
    stop: Arc<AtomicBool>,
    epoch: Arc<AtomicU64>,
    telemetry: Option<Providers>,
    trusted: Option<TrustedKeys>,
    guest_memory: Arc<GuestMemory>,
    #[cfg_attr(
        not(feature = "compiler"),
        expect(dead_code, reason = "the runtime-only build compiles nothing")
    )]
    compile_helper: Option<PathBuf>,
    _ticker: thread::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The ticker exits at its next tick; joining would only add latency.
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("limits", &self.inner.limits)
            .field("epoch_tick", &self.inner.epoch_tick)
            .field("cache_dir", &self.inner.cache_dir)
            .finish()
    }
}

/// How a model's compiled code was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeSource {
    /// Compiled now (and written to the cache when one is configured).
    Compiled,
    /// Loaded from the on-disk cache.
    Cache,
    /// Loaded from a precompiled model (`.cwasm`) a trusted key signed.
    Precompiled,
}

impl Engine {
    /// Starts building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// An engine with default limits and no cache.
    pub fn new() -> Result<Engine> {
        EngineBuilder::default().build()
    }

    /// Whether models must be signed by a trusted key (see
    /// [`EngineBuilder::trusted_keys`]); precompiled models load only then.
    pub fn has_trusted_keys(&self) -> bool {
        self.inner.trusted.is_some()
    }

    /// The limits calls run under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Whether calls are interrupted at their deadline (see
    /// [`EngineBuilder::interruptible`]).
    pub fn is_interruptible(&self) -> bool {
        self.inner.interruptible
    }

    pub(crate) fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner.engine
    }

    /// The linear memory all live instances hold, against the budget.
    pub(crate) fn guest_memory(&self) -> &Arc<GuestMemory> {
        &self.inner.guest_memory
    }

    /// Bytes of linear memory held by this engine's live instances now.
    pub fn guest_memory_in_use(&self) -> usize {
        self.inner.guest_memory.in_use()
    }

    pub(crate) fn telemetry(&self) -> Option<&Providers> {
        self.inner.telemetry.as_ref()
    }

    /// Epoch ticks since the engine started.
    pub(crate) fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Relaxed)
    }

    /// Deadline in epoch ticks, rounded up, at least one.
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let tick = self.inner.epoch_tick.as_nanos().max(1);
        (self.inner.limits.deadline.as_nanos().div_ceil(tick) as u64).max(1)
    }

    /// Loads a model from a `.wasm` file. See [`Engine::load`].
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let label = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        self.load_named(&label, &bytes)
    }

    /// Loads a model from the bytes of a component.
    ///
    /// The component is checked (it must be a component, export
    /// `glassbox:model/scorer@0.2.0` and import nothing beyond the log
    /// function), compiled or fetched from the cache, instantiated once and
    /// asked for its [`crate::ModelInfo`], which is checked too.
    pub fn load(&self, bytes: &[u8]) -> Result<Model> {
        self.load_named("(bytes)", bytes)
    }

    /// Loads a component from bytes, naming it `label` (a file name, say)
    /// in errors until the model has told its own name.
    pub fn load_named(&self, label: &str, bytes: &[u8]) -> Result<Model> {
        artifact::check_header(bytes)?;
        if artifact::precompiled::is_precompiled(bytes) {
            return self.load_precompiled(label, bytes);
        }
        // Before anything reads the bytes further: a refused component is
        // never compiled, not even from the cache.
        let signer = match &self.inner.trusted {
            Some(keys) => Some(keys.verify(bytes).map_err(|reason| Error::Signature {
                model: label.to_string(),
                reason,
            })?),
            None => None,
        };
        let digest = artifact::digest(bytes);
        let (component, source) = self.compile(label, bytes, &digest)?;
        Model::new(
            self.clone(),
            label,
            component,
            digest,
            bytes.len(),
            source,
            Source::read(bytes),
            Expectations::read(bytes)?,
            signer,
            self.inner.log.clone(),
            super::linalg::read_constants(bytes).map_err(|e| Error::Load {
                model: label.to_string(),
                source: anyhow::anyhow!(e),
            })?,
        )
    }

    /// Loads a precompiled model: native code, so only when a trusted key
    /// signed it, for this target and this engine's settings.
    fn load_precompiled(&self, label: &str, bytes: &[u8]) -> Result<Model> {
        let refused = |reason: String| Error::Precompiled {
            model: label.to_string(),
            reason,
        };
        // Before anything reads the bytes further.
        let Some(keys) = &self.inner.trusted else {
            return Err(refused(
                "it is native code, which loads only when a trusted key signed it, and no trusted \
                 key is configured (--trusted-key, GLASSBOX_TRUSTED_KEYS or the config's \
                 trusted_keys)"
                    .into(),
            ));
        };
        let (signer, signed_hash) =
            keys.verify_hashed(bytes)
                .map_err(|reason| Error::Signature {
                    model: label.to_string(),
                    reason,
                })?;
        let pre = artifact::precompiled::read(bytes).map_err(refused)?;
        let host = artifact::precompiled::host_target();
        if pre.header.target != host {
            return Err(refused(format!(
                "it is precompiled for {}, and this host is {host}; precompile it with \
                 --target {host}",
                pre.header.target
            )));
        }
        let digest = pre.header.component_digest().map_err(refused)?;
        // A trusted key signed these bytes, native code included (checked
        // above): the key's holder vouches for the code as for the
        // component it was compiled from. wasmtime checks the code's
        // header, its version and that it was compiled with this engine's
        // settings for features this CPU has, and refuses it otherwise.
        let component = self.map_precompiled(&signed_hash, pre.code).map_err(|e| {
            refused(format!(
                "its code does not fit this engine ({e}); precompile it again with this \
                     glassbox ({})",
                env!("CARGO_PKG_VERSION")
            ))
        })?;
        Model::new(
            self.clone(),
            label,
            component,
            digest,
            usize::try_from(pre.header.component_bytes).unwrap_or(usize::MAX),
            CodeSource::Precompiled,
            Source::read(bytes),
            Expectations::read(bytes)?,
            Some(signer),
            self.inner.log.clone(),
            super::linalg::read_constants(bytes).map_err(|e| Error::Load {
                model: label.to_string(),
                source: anyhow::anyhow!(e),
            })?,
        )
    }

    /// Without a compiler there is no code to cache: only precompiled
    /// models load.
    /// The native code of a verified precompiled model, as a component.
    ///
    /// With a cache directory, the code is written there once, named by
    /// the signed hash, and mapped from that file: its pages are the page
    /// cache's, shared, and only those touched count as resident (the
    /// memory images are mapped from the file too, rather than copied).
    /// Held in memory instead, the nine reference models kept 53 MiB
    /// resident. The file is trusted as the code cache is: only this node
    /// writes its directory (see [`EngineBuilder::cache_dir`]). Without a
    /// cache directory, or when it cannot be written, the code is copied
    /// into memory.
    fn map_precompiled(&self, signed_hash: &[u8; 32], code: &[u8]) -> wasmtime::Result<Component> {
        let engine = &self.inner.engine;
        if let Some(dir) = &self.inner.cache_dir {
            let path = dir.join(format!("{}.precompiled", hex::encode(signed_hash)));
            if path.exists() || write_atomically(dir, &path, code).is_ok() {
                // SAFETY: the file holds code a trusted key signed (checked
                // by the caller, who named it by the signed hash), written
                // by this process or an earlier one into the node's own
                // cache directory; wasmtime checks its header and settings.
                if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
                    return Ok(c);
                }
            }
        }
        // SAFETY: the caller checked that a trusted key signed these bytes,
        // native code included; wasmtime checks its header and settings.
        unsafe { Component::deserialize(engine, code) }
    }

    #[cfg(not(feature = "compiler"))]
    fn compile(
        &self,
        label: &str,
        bytes: &[u8],
        _digest: &[u8; 32],
    ) -> Result<(Component, CodeSource)> {
        Ok((self.compile_fresh(label, bytes)?, CodeSource::Compiled))
    }

    #[cfg(feature = "compiler")]
    fn compile(
        &self,
        label: &str,
        bytes: &[u8],
        digest: &[u8; 32],
    ) -> Result<(Component, CodeSource)> {
        let engine = &self.inner.engine;
        let Some(dir) = &self.inner.cache_dir else {
            let component = self.compile_fresh(label, bytes)?;
            return Ok((component, CodeSource::Compiled));
        };
        let path = dir.join(format!(
            "{}-{}.cwasm",
            hex::encode(digest),
            self.compatibility_key()
        ));
        // Read the file rather than mapping it: a mapped file truncated by
        // someone else would crash the process with SIGBUS later on.
        if let Ok(code) = std::fs::read(&path) {
            // SAFETY: the file was written by `Component::serialize` of an
            // engine with this very compatibility hash, into a directory the
            // operator controls (see `EngineBuilder::cache_dir`). wasmtime
            // checks its header and version; a file that fails those checks
            // is recompiled below.
            if let Ok(component) = unsafe { Component::deserialize(engine, &code) } {
                return Ok((component, CodeSource::Cache));
            }
        }
        let component = self.compile_fresh(label, bytes)?;
        // A cache that cannot be written only costs the next start a compile;
        // it must not fail the load.
        if let Ok(code) = component.serialize() {
            let _ = write_atomically(dir, &path, &code);
        }
        Ok((component, CodeSource::Compiled))
    }

    /// Compiles `bytes`, in a child process under the compile budget when
    /// the engine has a helper (see [`super::compiler`]).
    #[cfg(not(feature = "compiler"))]
    fn compile_fresh(&self, label: &str, _bytes: &[u8]) -> Result<Component> {
        Err(Error::Precompiled {
            model: label.to_string(),
            reason: "this glassbox is the runtime-only build, which has no compiler: load the \
                     model precompiled for this target (`glassbox precompile` on a build \
                     machine, then `glassbox sign`)"
                .into(),
        })
    }

    #[cfg(feature = "compiler")]
    fn compile_fresh(&self, label: &str, bytes: &[u8]) -> Result<Component> {
        let engine = &self.inner.engine;
        let load_error = |source: anyhow::Error| Error::Load {
            model: label.to_string(),
            source,
        };
        let Some(helper) = &self.inner.compile_helper else {
            return Component::new(engine, bytes).map_err(|e| load_error(e.into()));
        };
        let code = super::compiler::compile_in_child(
            helper,
            &self.inner.limits,
            self.inner.interruptible,
            None,
            bytes,
        )
        .map_err(|e| load_error(anyhow::anyhow!("{e}")))?;
        // SAFETY: the code was just written by `glassbox __compile` (this
        // very program, or the helper the embedding program named) into a
        // directory only this user can read, for an engine built from the
        // same limits; wasmtime checks its header and that the engine's
        // settings match, and refuses it otherwise.
        unsafe { Component::deserialize(engine, &code) }.map_err(|e| load_error(e.into()))
    }

    /// A short hex digest of everything that makes compiled code compatible
    /// with this engine (wasmtime version, target, settings).
    #[cfg(feature = "compiler")]
    fn compatibility_key(&self) -> String {
        use sha2::{Digest as _, Sha256};
        use std::hash::Hasher;
        struct ShaHasher(Sha256);
        impl Hasher for ShaHasher {
            fn finish(&self) -> u64 {
                0
            }
            fn write(&mut self, bytes: &[u8]) {
                self.0.update(bytes);
            }
        }
        let mut h = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&self.inner.engine.precompile_compatibility_hash(), &mut h);
        hex::encode(&h.0.finalize()[..8])
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
