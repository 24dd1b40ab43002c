//! Which models are served: name → versions, swapped atomically.
//!
//! The registry is an immutable [`Snapshot`] behind an [`ArcSwap`]. A request
//! loads the current snapshot (one atomic load, no lock), takes an
//! `Arc<Deployed>` of the version it wants and lets the snapshot go. A change
//! (load, swap, retire) builds a new snapshot under a writers' mutex and
//! stores it in one step. So an in-flight call keeps its `Arc<Deployed>` and
//! finishes on the version it started with, and the next request sees the
//! new one; no request ever sees a half-updated registry.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;

use super::lane::SlowLane;

use crate::monitor::predlog::{LoggedModel, PredictionLog};
use crate::monitor::{Monitor, MonitorConfig};
use crate::{Batch, Model, Scores};

use super::ServeLimits;
use super::stats::Stats;

/// Where a deployed model came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A bundled example.
    Example,
    /// A `.wasm` file given by itself.
    File(PathBuf),
    /// A `.wasm` file in a watched directory.
    Watched(PathBuf),
    /// Handed over by the embedding program.
    Embedded,
    /// Pulled from an OCI registry (`oci://…`), with the component's digest.
    Registry {
        /// The reference.
        reference: String,
        /// The component's digest.
        digest: String,
    },
}

/// One model version being served, with its back-pressure.
pub struct Deployed {
    model: Model,
    origin: Origin,
    /// Requests admitted (running or waiting); `try_acquire` or 429.
    admitted: Arc<Semaphore>,
    max_admitted: usize,
    /// Guest calls running.
    running: Arc<Semaphore>,
    /// Slots for small calls run on an async worker (shared by all models).
    inline: Arc<Semaphore>,
    inline_rows: usize,
    /// Whether this version was caught being slow, and the lane its calls
    /// then take.
    demotion: Arc<Demotion>,
    lane: Arc<std::sync::OnceLock<Option<SlowLane>>>,
    /// Live profiles against the training data, when the model has one.
    monitor: Option<Arc<Monitor>>,
    /// Traffic figures for the dashboard.
    stats: Arc<Stats>,
    /// The prediction log, when kept, with the description its lines need.
    log: Option<(Arc<PredictionLog>, Arc<LoggedModel>)>,
}

impl std::fmt::Debug for Deployed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployed")
            .field("model", &self.model)
            .field("origin", &self.origin)
            .finish()
    }
}

/// Why a call through [`Deployed::score`] did not produce scores.
#[derive(Debug)]
pub enum CallError {
    /// The model version already has its maximum of requests admitted.
    Busy,
    /// The model failed the call.
    Model(crate::Error),
    /// The scoring thread panicked (a host bug, not a guest one).
    Panicked,
}

impl Deployed {
    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        self.model.name()
    }

    /// The model's version.
    pub fn version(&self) -> &str {
        &self.model.info().version
    }

    /// Where it came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The live profiles, when kept (see [`crate::monitor`]).
    pub fn monitor(&self) -> Option<&Monitor> {
        self.monitor.as_deref()
    }

    /// Traffic figures: calls, latency, recent violations.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Records input refused before it reached the model (see
    /// [`Model::refuse`]) and returns the error to report.
    pub fn refuse(&self, rows: usize, violations: crate::error::Violations) -> crate::Error {
        self.stats.violations(&violations);
        self.stats.record("invalid_input", rows, Duration::ZERO);
        self.model.refuse(rows, violations)
    }

    /// Requests admitted now (running or waiting for a scoring thread).
    pub fn in_flight(&self) -> usize {
        self.max_admitted - self.admitted.available_permits()
    }

    /// Admits one request to this model version, or refuses it with
    /// [`CallError::Busy`] at once when `max_concurrent_requests` are in.
    /// The server admits a request before it reads its body, so that under
    /// overload a refusal costs a header's parse, not a body's.
    pub fn admit(&self) -> Result<Admission, CallError> {
        self.admitted
            .clone()
            .try_acquire_owned()
            .map(|permit| Admission { _permit: permit })
            .map_err(|_| {
                self.stats.record("busy", 0, Duration::ZERO);
                CallError::Busy
            })
    }

    /// Scores a batch on tokio's blocking pool, under the model version's
    /// admission limits (see [`ServeLimits`]): refused with
    /// [`CallError::Busy`] at once when full, never queued without bound.
    pub async fn score(&self, batch: Batch) -> Result<Scores, CallError> {
        let admission = self.admit()?;
        self.score_admitted(admission, batch).await
    }

    /// Whether this version was caught being slow and runs at low priority.
    pub fn demoted(&self) -> bool {
        self.demotion.active()
    }

    /// The slow lane, started on first use (`None` if its threads could not
    /// be started: the blocking pool serves then).
    fn slow_lane(&self) -> Option<&SlowLane> {
        self.lane
            .get_or_init(|| {
                // Half the CPUs: a demoted model gets what the others leave,
                // and never all of it.
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get() / 2);
                SlowLane::start(threads.max(1), 1024)
                    .inspect_err(|e| tracing::warn!("the slow lane could not start: {e}"))
                    .ok()
            })
            .as_ref()
    }

    /// [`Deployed::score`] for a request already admitted.
    pub async fn score_admitted(
        &self,
        admission: Admission,
        batch: Batch,
    ) -> Result<Scores, CallError> {
        let _admitted = admission;
        // The semaphore is never closed, so acquiring only waits.
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| CallError::Busy)?;
        let demoted = self.demotion.active();
        // A small call runs right here when an inline slot is free: the
        // hand-off to the blocking pool costs more than the call (see
        // `ServeLimits::inline_rows`). Not for a model caught being slow:
        // it would stall the worker's other requests.
        if !demoted
            && batch.rows as usize <= self.inline_rows
            && let Ok(_slot) = self.inline.try_acquire()
        {
            let result = score_counted(&self.model, &batch, &self.stats, &self.demotion);
            drop(running);
            if let Ok(scores) = &result {
                after_call(self.monitor.as_deref(), self.log.as_ref(), batch, scores);
            }
            return result.map_err(CallError::Model);
        }
        let model = self.model.clone();
        let monitor = self.monitor.clone();
        let stats = self.stats.clone();
        let log = self.log.clone();
        let demotion = self.demotion.clone();
        // The scoring span's parent is the request's span: the current
        // context is thread-local, so it has to travel with the call.
        let cx = opentelemetry::Context::current();
        // The guest call is synchronous CPU work bounded by the engine's
        // deadline; it must not hold up an async worker for long. If the
        // request is dropped meanwhile, the call still finishes and its
        // permit is released only then, so the bound holds.
        let call = move || {
            let _cx = cx.attach();
            let result = score_counted(&model, &batch, &stats, &demotion);
            drop(running);
            if let Ok(scores) = &result {
                after_call(monitor.as_deref(), log.as_ref(), batch, scores);
            }
            result
        };
        if demoted && let Some(lane) = self.slow_lane() {
            return lane
                .run(call)
                .await
                .map_err(|_| CallError::Busy)?
                .map_err(CallError::Model);
        }
        tokio::task::spawn_blocking(call)
            .await
            .map_err(|_| CallError::Panicked)?
            .map_err(CallError::Model)
    }
}

/// The CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes the struct it is given, which lives on
    // this stack frame for the call.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

thread_local! {
    /// Whether this thread has scored before (see `score_counted`).
    static THREAD_WARM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The thread's page faults so far (minor and major).
fn thread_page_faults() -> u64 {
    // SAFETY: `getrusage` writes the struct it is given, which lives on this
    // stack frame for the call; all-zero is a valid `rusage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return 0;
    }
    (usage.ru_minflt as u64).saturating_add(usage.ru_majflt as u64)
}

/// The CPU a page fault is taken to cost when judging a call (a first
/// touch costs about 1.3 µs here, zeroing included).
const FAULT_COST: Duration = Duration::from_micros(2);

/// A call that uses more CPU than this (and than `SLOW_ROW` a row) overran.
const SLOW_CALL: Duration = Duration::from_millis(5);
/// Longer calls overran when they took more than this per row (the largest
/// reference forest takes about 5 µs a row).
const SLOW_ROW: Duration = Duration::from_micros(50);
/// How long a model that overran stays demoted.
const DEMOTION: Duration = Duration::from_secs(60);

/// Whether a model version was caught being slow: a call that ran to its
/// deadline, or two calls in a row that each used more than [`SLOW_CALL`]
/// and [`SLOW_ROW`] a row of CPU. One slow call is not enough: the engine
/// now and then has one call pay for work of its own (returning a batch of
/// instance slots' memory to the kernel costs milliseconds, no page fault
/// among them), which demoted fast models at random. A demoted version runs
/// no call inline and its calls take the slow lane (see [`super::lane`])
/// until [`DEMOTION`] has passed since its last overrun.
#[derive(Debug)]
pub(crate) struct Demotion {
    since: Instant,
    /// Milliseconds after `since` until which the version is demoted.
    until_ms: std::sync::atomic::AtomicU64,
    /// Whether the last call judged overran.
    overran: std::sync::atomic::AtomicBool,
}

impl Demotion {
    fn new() -> Demotion {
        Demotion {
            since: Instant::now(),
            until_ms: std::sync::atomic::AtomicU64::new(0),
            overran: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        self.since.elapsed().as_millis() as u64
    }

    /// Whether the version is demoted now.
    pub(crate) fn active(&self) -> bool {
        self.now_ms() < self.until_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Notes a call that used `used` of CPU (and ran to its deadline, or
    /// not); returns whether it demoted a version that was not.
    fn note(&self, rows: usize, used: Duration, timed_out: bool) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let overran = used > SLOW_CALL && used > SLOW_ROW.saturating_mul(rows as u32);
        let before = self.overran.swap(overran, Relaxed);
        if !(timed_out || overran && before) {
            return false;
        }
        let was = self.active();
        self.until_ms
            .store(self.now_ms() + DEMOTION.as_millis() as u64, Relaxed);
        !was
    }
}

/// A request's place among a model version's admitted requests, held
/// until it is answered.
#[derive(Debug)]
pub struct Admission {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// What follows a successful call: the live profile counts it, and the
/// prediction log takes it when sampled.
fn after_call(
    monitor: Option<&Monitor>,
    log: Option<&(Arc<PredictionLog>, Arc<LoggedModel>)>,
    batch: Batch,
    scores: &Scores,
) {
    if let Some(monitor) = monitor {
        monitor.observe(&batch, scores);
    }
    if let Some((log, info)) = log
        && log.sample()
    {
        log.record(info, current_trace_id(), batch, scores.clone());
    }
}

/// The trace id of the current OpenTelemetry context, when it is sampled.
fn current_trace_id() -> Option<String> {
    let sc = crate::telemetry::current_span_context(&opentelemetry::Context::current())?;
    (sc.is_valid() && sc.is_sampled()).then(|| sc.trace_id().to_string())
}

/// Scores `batch` and counts the call, its time and any violations; a
/// call that overran demotes its model (see [`Demotion`]).
fn score_counted(
    model: &Model,
    batch: &Batch,
    stats: &Stats,
    demotion: &Demotion,
) -> crate::Result<Scores> {
    let started = Instant::now();
    let (cpu, faults) = (thread_cpu_time(), thread_page_faults());
    let result = model.score(batch);
    // CPU time, not wall-clock time: a call that waited for a CPU on a busy
    // machine did not overrun, and must not be demoted for it. Nor is the
    // kernel's work of first touching an instance slot's memory the
    // model's: the first call in each fresh slot faults in its resident
    // megabytes (about 5 ms for 16 MiB), which demoted every model that
    // started under concurrent load. A guest cannot hide behind this for
    // long: it faults at most once per page of its memory limit a call.
    let faults = thread_page_faults().saturating_sub(faults);
    let used = thread_cpu_time()
        .saturating_sub(cpu)
        .saturating_sub(FAULT_COST.saturating_mul(u32::try_from(faults).unwrap_or(u32::MAX)));
    // The first call on a thread sets up what the thread keeps (wasmtime's
    // signal stack, the matrix kernels' buffers, the allocator's arenas):
    // milliseconds that are not the model's either.
    let warm = THREAD_WARM.replace(true);
    let timed_out = matches!(result, Err(crate::Error::Timeout { .. }));
    if (warm || timed_out) && demotion.note(batch.rows as usize, used, timed_out) {
        tracing::warn!(
            "model `{}` {}: a call of {} rows used {used:?} of CPU (besides {faults} page \
             faults){}; its calls run on low-priority threads for the next {} s",
            model.name(),
            model.info().version,
            batch.rows,
            if timed_out {
                " and timed out"
            } else {
                ", the second in a row to overrun"
            },
            DEMOTION.as_secs()
        );
    }
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => {
            if let crate::Error::InvalidInput { violations, .. } = e {
                stats.violations(violations);
            }
            e.outcome()
        }
    };
    stats.record(outcome, batch.rows as usize, started.elapsed());
    result
}

/// The models served at one moment: name → versions, oldest first.
#[derive(Debug, Default)]
pub struct Snapshot {
    models: BTreeMap<String, Vec<Arc<Deployed>>>,
}

impl Snapshot {
    /// Model names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.models.keys().map(String::as_str)
    }

    /// The versions of `name`, oldest first (see [`compare_versions`]).
    pub fn versions(&self, name: &str) -> &[Arc<Deployed>] {
        self.models.get(name).map_or(&[], Vec::as_slice)
    }

    /// `name` at `version`, or its newest version when `version` is `None`.
    pub fn get(&self, name: &str, version: Option<&str>) -> Option<&Arc<Deployed>> {
        let versions = self.models.get(name)?;
        match version {
            None => versions.last(),
            Some(v) => versions.iter().find(|d| d.version() == v),
        }
    }

    /// Number of model versions.
    pub fn len(&self) -> usize {
        self.models.values().map(Vec::len).sum()
    }

    /// Whether no model is served.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

/// The set of served models. Cheap to share behind an `Arc`.
pub struct Registry {
    current: ArcSwap<Snapshot>,
    writers: Mutex<()>,
    limits: ServeLimits,
    /// Inline call slots, shared by every deployment.
    inline: Arc<Semaphore>,
    /// The slow lane, started when a first model is demoted.
    lane: Arc<std::sync::OnceLock<Option<SlowLane>>>,
    /// Names whose files are loading (compiling), with how many files each.
    loading: Mutex<BTreeMap<String, usize>>,
    /// Watched directories whose first scan has not finished.
    first_scans: std::sync::atomic::AtomicUsize,
    monitor: Mutex<MonitorConfig>,
    log: Mutex<Option<Arc<PredictionLog>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("models", &self.current.load().models.keys())
            .finish()
    }
}

impl Registry {
    /// An empty registry whose deployments get `limits`.
    pub fn new(limits: ServeLimits) -> Registry {
        Registry {
            current: ArcSwap::from_pointee(Snapshot::default()),
            writers: Mutex::new(()),
            inline: Arc::new(Semaphore::new(
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get().saturating_sub(1).max(1)),
            )),
            lane: Arc::default(),
            loading: Mutex::default(),
            first_scans: std::sync::atomic::AtomicUsize::new(0),
            limits,
            monitor: Mutex::new(MonitorConfig::default()),
            log: Mutex::new(None),
        }
    }

    /// How deployments from now on keep their live profiles.
    pub fn set_monitoring(&self, config: MonitorConfig) {
        *self.monitor.lock().unwrap_or_else(PoisonError::into_inner) = config;
    }

    /// Where deployments from now on log their predictions (`None`: no log).
    pub fn set_prediction_log(&self, log: Option<Arc<PredictionLog>>) {
        *self.log.lock().unwrap_or_else(PoisonError::into_inner) = log;
    }

    /// The limits deployments run under.
    pub fn limits(&self) -> &ServeLimits {
        &self.limits
    }

    /// The models served now. Holding the snapshot keeps its models alive
    /// but does not block changes.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Notes that a file that will serve `name` is loading.
    pub fn begin_loading(&self, name: &str) {
        *self
            .loading
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_string())
            .or_default() += 1;
    }

    /// Notes that a file of `name` has loaded or was refused.
    pub fn end_loading(&self, name: &str) {
        let mut loading = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = loading.get_mut(name) {
            *n -= 1;
            if *n == 0 {
                loading.remove(name);
            }
        }
    }

    /// Whether a file that will serve `name` is loading now.
    pub fn is_loading(&self, name: &str) -> bool {
        self.loading
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(name)
    }

    /// Whether any file is loading, or a watched directory has not been
    /// scanned once yet: the server is not ready until every model it was
    /// started with has loaded or been refused.
    pub fn is_loading_any(&self) -> bool {
        self.first_scans.load(std::sync::atomic::Ordering::Relaxed) > 0
            || !self
                .loading
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
    }

    /// Whether a watched directory has not been scanned once yet.
    pub fn first_scans_pending(&self) -> bool {
        self.first_scans.load(std::sync::atomic::Ordering::Relaxed) > 0
    }

    /// Notes a watched directory whose first scan is to come.
    pub(crate) fn begin_first_scan(&self) {
        self.first_scans
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Notes that a watched directory has been scanned once.
    pub(crate) fn end_first_scan(&self) {
        self.first_scans
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// `name` at `version` (the newest when `None`).
    pub fn get(&self, name: &str, version: Option<&str>) -> Option<Arc<Deployed>> {
        self.current.load().get(name, version).cloned()
    }

    /// Serves `model`, replacing the deployment of the same name and version
    /// if there is one (which is returned). In one atomic step, also retires
    /// `retire` (name, version) if given, so that a file replaced by another
    /// version never leaves a moment with neither or both.
    pub fn deploy(
        &self,
        model: Model,
        origin: Origin,
        retire: Option<(&str, &str)>,
    ) -> Option<Arc<Deployed>> {
        let deployed_model = model;
        let log = self
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .map(|log| (log, LoggedModel::new(deployed_model.info())));
        let deployed = Arc::new(Deployed {
            monitor: Monitor::for_model(
                &deployed_model,
                self.monitor
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            )
            .map(Arc::new),
            model: deployed_model,
            stats: Arc::default(),
            log,
            origin,
            admitted: Arc::new(Semaphore::new(self.limits.max_concurrent_requests)),
            max_admitted: self.limits.max_concurrent_requests,
            running: Arc::new(Semaphore::new(self.limits.max_parallel_calls)),
            inline: self.inline.clone(),
            inline_rows: self.limits.inline_rows,
            demotion: Arc::new(Demotion::new()),
            lane: self.lane.clone(),
        });
        self.update(|models| {
            let mut replaced = None;
            if let Some((name, version)) = retire {
                replaced = take(models, name, version);
            }
            let versions = models.entry(deployed.name().to_string()).or_default();
            if let Some(i) = versions
                .iter()
                .position(|d| d.version() == deployed.version())
            {
                replaced = Some(versions.remove(i));
            }
            let at = versions
                .iter()
                .position(|d| {
                    compare_versions(d.version(), deployed.version()) == Ordering::Greater
                })
                .unwrap_or(versions.len());
            versions.insert(at, deployed.clone());
            replaced
        })
    }

    /// Stops serving `name` at `version`; returns what was served.
    pub fn retire(&self, name: &str, version: &str) -> Option<Arc<Deployed>> {
        self.update(|models| take(models, name, version))
    }

    fn update<T>(&self, change: impl FnOnce(&mut BTreeMap<String, Vec<Arc<Deployed>>>) -> T) -> T {
        let _writer = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
        let mut models = self.current.load().models.clone();
        let out = change(&mut models);
        models.retain(|_, versions| !versions.is_empty());
        self.current.store(Arc::new(Snapshot { models }));
        out
    }
}

fn take(
    models: &mut BTreeMap<String, Vec<Arc<Deployed>>>,
    name: &str,
    version: &str,
) -> Option<Arc<Deployed>> {
    let versions = models.get_mut(name)?;
    let i = versions.iter().position(|d| d.version() == version)?;
    Some(versions.remove(i))
}

/// Orders version strings the way people read them: dot-separated parts
/// compare as numbers when both are numbers (`1.10` after `1.9`) and as text
/// otherwise (numbers within text too: `rc2` before `rc10`), and a pre-release (`2.0.0-rc1`, anything after the first `-`)
/// comes before its release. Build metadata (after `+`) is ignored.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (&str, Option<&str>) {
        let v = v.split('+').next().unwrap_or(v);
        match v.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (v, None),
        }
    }
    /// Compares two sequences of pieces piece by piece, a shorter prefix
    /// first.
    fn seq<'s>(
        mut a: impl Iterator<Item = &'s str>,
        mut b: impl Iterator<Item = &'s str>,
        piece: impl Fn(&str, &str) -> Ordering,
    ) -> Ordering {
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => match piece(x, y) {
                    Ordering::Equal => {}
                    o => return o,
                },
            }
        }
    }
    /// Dot-separated parts: numbers as numbers, before text.
    fn parts(a: &str, b: &str) -> Ordering {
        seq(a.split('.'), b.split('.'), |x, y| {
            match (x.parse::<u64>(), y.parse::<u64>()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                (Ok(_), Err(_)) => Ordering::Less,
                (Err(_), Ok(_)) => Ordering::Greater,
                (Err(_), Err(_)) => natural(x, y),
            }
        })
    }
    /// Text with embedded numbers: `rc2` before `rc10`.
    fn natural(a: &str, b: &str) -> Ordering {
        fn runs(s: &str) -> impl Iterator<Item = &str> {
            let mut rest = s;
            std::iter::from_fn(move || {
                let first = rest.chars().next()?;
                let digit = first.is_ascii_digit();
                let end = rest
                    .find(|c: char| c.is_ascii_digit() != digit)
                    .unwrap_or(rest.len());
                let (run, tail) = rest.split_at(end);
                rest = tail;
                Some(run)
            })
        }
        seq(runs(a), runs(b), |x, y| {
            match (x.parse::<u64>(), y.parse::<u64>()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => x.cmp(y),
            }
        })
    }
    let ((ca, pa), (cb, pb)) = (split(a), split(b));
    parts(ca, cb).then_with(|| match (pa, pb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => parts(x, y),
    })
}

#[cfg(test)]
mod tests {
    use super::compare_versions as cmp;
    use std::cmp::Ordering::*;

    #[test]
    fn versions_order_like_people_read_them() {
        assert_eq!(cmp("1.10.0", "1.9.0"), Greater);
        assert_eq!(cmp("1.0.0", "1.0.0"), Equal);
        assert_eq!(cmp("2.0.0-rc1", "2.0.0"), Less);
        assert_eq!(cmp("2.0.0-rc2", "2.0.0-rc10"), Less);
        assert_eq!(cmp("1.0", "1.0.1"), Less);
        assert_eq!(cmp("1.0.0+build5", "1.0.0"), Equal);
        assert_eq!(cmp("beta", "alpha"), Greater);
        assert_eq!(cmp("10", "9"), Greater);
    }
}
