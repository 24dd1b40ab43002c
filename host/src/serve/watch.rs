//! Watched model directories: add, replace or remove a `.wasm` file and the
//! server loads, swaps or retires the model.
//!
//! The watcher polls: every interval it lists the directory and compares
//! each `*.wasm` file's size and modification time with the last scan.
//! Polling costs one `readdir` and a `stat` per file per interval, works the
//! same on every file system (network mounts and container volumes included,
//! where change notifications are unreliable), and needs no extra crate.
//! TODO: notify-style events would cut the swap latency below the interval.
//!
//! For each change:
//! 1. a new or changed file is loaded and checked off the serving path (on
//!    the watcher's own thread); compiling a large model takes a while and
//!    requests keep being served meanwhile;
//! 2. if it loads, [`Registry::deploy`] swaps it in atomically, retiring the
//!    version the same file held before when it declares another one;
//! 3. if it does not, the refusal is logged and whatever was served keeps
//!    serving; the file is retried once it changes again;
//! 4. a removed file retires the version it held.
//!
//! Files whose name starts with `.` are ignored, so a deployment can write
//! `.model.wasm.tmp` and rename it into place: a rename is atomic, whereas a
//! file copied in place can be seen half-written (it is then refused and
//! picked up again once complete, since its size or time changes).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, SystemTime};

use crate::Engine;
use crate::telemetry::names;

use super::registry::{Origin, Registry};

/// What identifies one state of a file between scans.
type Stamp = (u64, Option<SystemTime>);

/// One file as last seen.
struct Known {
    stamp: Stamp,
    /// The (name, version) this file serves, if it loaded.
    serves: Option<(String, String)>,
}

/// Watches one directory. [`Watcher::scan`] does one pass; [`Watcher::spawn`]
/// runs passes on a thread until the returned guard is dropped.
pub struct Watcher {
    dir: PathBuf,
    engine: Engine,
    registry: Arc<Registry>,
    known: HashMap<PathBuf, Known>,
    refusals: opentelemetry::metrics::Counter<u64>,
}

/// Stops a spawned watcher when dropped.
pub struct WatchGuard {
    _stop: Sender<()>,
}

/// What one scan did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// Files loaded and now served.
    pub loaded: Vec<PathBuf>,
    /// Files refused (the reason was logged).
    pub refused: Vec<(PathBuf, String)>,
    /// Files gone, whose models were retired.
    pub removed: Vec<PathBuf>,
}

impl Watcher {
    /// A watcher of `dir` that deploys into `registry`.
    pub fn new(dir: impl Into<PathBuf>, engine: Engine, registry: Arc<Registry>) -> Watcher {
        Watcher {
            dir: dir.into(),
            refusals: crate::telemetry::refusals_counter(engine.telemetry()),
            engine,
            registry,
            known: HashMap::new(),
        }
    }

    /// Scans the directory once and applies every change. Blocking: loading
    /// a model compiles it.
    pub fn scan(&mut self) -> std::io::Result<ScanReport> {
        let mut report = ScanReport::default();
        let mut seen = HashMap::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if !is_model_file(&path) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            seen.insert(path, (meta.len(), meta.modified().ok()));
        }
        let gone: Vec<PathBuf> = self
            .known
            .keys()
            .filter(|p| !seen.contains_key(*p))
            .cloned()
            .collect();
        for path in gone {
            if let Some(Known {
                serves: Some((name, version)),
                ..
            }) = self.known.remove(&path)
            {
                self.retire_if_ours(&path, &name, &version);
            }
            report.removed.push(path);
        }
        let mut changed: Vec<(PathBuf, Stamp)> = seen
            .into_iter()
            .filter(|(p, stamp)| self.known.get(p).is_none_or(|k| k.stamp != *stamp))
            .collect();
        changed.sort();
        // Files load in parallel and each is served as soon as it loads: a
        // file that takes long to compile (up to the compile budget) holds
        // up no other. Meanwhile the name a file will serve (see
        // `may_serve`) answers 503 "still loading".
        for (path, _) in &changed {
            self.registry.begin_loading(&bound_name(path));
        }
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(changed.len())
            .max(1);
        let queue = std::sync::Mutex::new(changed.into_iter());
        let (done, loads) = std::sync::mpsc::channel();
        let engine = self.engine.clone();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let (done, queue, engine) = (done.clone(), &queue, &engine);
                scope.spawn(move || {
                    loop {
                        let next = queue
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .next();
                        let Some((path, stamp)) = next else { return };
                        let loaded = engine.load_file(&path);
                        if done.send((path, stamp, loaded)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(done);
            for (path, stamp, loaded) in loads {
                self.apply(path, stamp, loaded, &mut report);
            }
        });
        Ok(report)
    }

    /// Serves what a file loaded, or keeps what it served before when it
    /// was refused.
    fn apply(
        &mut self,
        path: PathBuf,
        stamp: Stamp,
        loaded: crate::Result<crate::Model>,
        report: &mut ScanReport,
    ) {
        self.registry.end_loading(&bound_name(&path));
        let previous = self.known.get(&path).and_then(|k| k.serves.clone());
        let loaded = loaded
            .map_err(|e| (e.outcome(), e.to_string()))
            .and_then(|model| self.may_serve(&path, &model).map(|()| model));
        match loaded {
            Ok(model) => {
                let (name, version) = (model.name().to_string(), model.info().version.clone());
                let retire = previous
                    .as_ref()
                    .filter(|old| **old != (name.clone(), version.clone()))
                    .filter(|(n, v)| self.owned_by(&path, n, v));
                let replaced = self.registry.deploy(
                    model,
                    Origin::Watched(path.clone()),
                    retire.map(|(n, v)| (n.as_str(), v.as_str())),
                );
                match (&previous, replaced) {
                    (Some((_, old)), Some(_)) if *old != version => tracing::info!(
                        "{}: swapped {name} {old} for {name} {version}",
                        path.display()
                    ),
                    (_, Some(r)) => tracing::info!(
                        "{}: reloaded {name} {version} (was served from {:?})",
                        path.display(),
                        r.origin()
                    ),
                    (_, None) => tracing::info!("{}: loaded {name} {version}", path.display()),
                }
                self.known.insert(
                    path.clone(),
                    Known {
                        stamp,
                        serves: Some((name, version)),
                    },
                );
                report.loaded.push(path);
            }
            Err((reason, e)) => {
                self.refusals.add(
                    1,
                    &[
                        opentelemetry::KeyValue::new(names::REFUSAL_REASON, reason),
                        opentelemetry::KeyValue::new(names::MODEL_FILE, path.display().to_string()),
                    ],
                );
                match &previous {
                    Some((name, version)) => tracing::error!(
                        "{}: refused ({e}); {name} {version} keeps serving",
                        path.display()
                    ),
                    None => tracing::error!("{}: refused ({e})", path.display()),
                }
                // Keep serving what the file held before; retry once it changes.
                self.known.insert(
                    path.clone(),
                    Known {
                        stamp,
                        serves: previous,
                    },
                );
                report.refused.push((path, e));
            }
        }
    }

    /// Scans every `interval` on a thread of its own until the guard drops,
    /// the first time at once: the server answers meanwhile (a model still
    /// loading answers 503, and the server is not ready until this first
    /// scan is done).
    pub fn spawn(mut self, interval: Duration) -> std::io::Result<WatchGuard> {
        let (stop, stopped): (Sender<()>, Receiver<()>) = std::sync::mpsc::channel();
        self.registry.begin_first_scan();
        let registry = self.registry.clone();
        std::thread::Builder::new()
            .name("glassbox-watch".into())
            .spawn(move || {
                if let Err(e) = self.scan() {
                    tracing::warn!("watching {}: {e}", self.dir.display());
                }
                self.registry.end_first_scan();
                loop {
                    match stopped.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    if let Err(e) = self.scan() {
                        tracing::warn!("watching {}: {e}", self.dir.display());
                    }
                }
            })
            .inspect_err(|_| registry.end_first_scan())?;
        Ok(WatchGuard { _stop: stop })
    }

    /// Whether the file at `path` may serve `model`'s name: the rule that
    /// keeps a file dropped in the folder from taking over another model's
    /// route (docs/SECURITY.md).
    ///
    /// 1. A file serves only the model its name says: `NAME.wasm`, or
    ///    `NAME@ANYTHING.wasm` for more versions of it side by side
    ///    (`churn@1.3.0.wasm`, `churn@canary.wasm`). A file named
    ///    `innocent.wasm` that declares `churn` is refused.
    /// 2. When trusted keys are configured, a name served from components of
    ///    one signer is that signer's: another trusted key's component may
    ///    not take it over (restart the server to hand a name over).
    fn may_serve(&self, path: &Path, model: &crate::Model) -> Result<(), (&'static str, String)> {
        let name = model.name();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let named = stem == name || stem.strip_prefix(name).is_some_and(|r| r.starts_with('@'));
        if !named {
            return Err((
                "name_not_bound",
                format!(
                    "the component declares the model name `{name}`, but in a watched directory a \
                     file serves only the model its file name says: name it `{name}.wasm` or \
                     `{name}@VERSION.wasm`"
                ),
            ));
        }
        if let Some(signer) = model.signer() {
            let others = self.registry.snapshot();
            if let Some(owner) = others
                .versions(name)
                .iter()
                .filter(|d| *d.origin() != Origin::Watched(path.to_path_buf()))
                .filter_map(|d| d.model().signer())
                .find(|s| *s != signer)
            {
                return Err((
                    "name_not_bound",
                    format!(
                        "model `{name}` is served from components signed by {owner}; this one is \
                         signed by {signer}, which may not take the name over"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether the registry's `name` `version` came from `path`; a file must
    /// not retire a version that another file has since provided.
    fn owned_by(&self, path: &Path, name: &str, version: &str) -> bool {
        self.registry
            .get(name, Some(version))
            .is_some_and(|d| *d.origin() == Origin::Watched(path.to_path_buf()))
    }

    fn retire_if_ours(&self, path: &Path, name: &str, version: &str) {
        if self.owned_by(path, name, version) {
            self.registry.retire(name, version);
            tracing::info!("{}: removed; retired {name} {version}", path.display());
        }
    }
}

/// The model name a file may serve: its name before `.wasm` (`.cwasm`) and before any
/// `@` (see `Watcher::may_serve`).
fn bound_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    stem.split('@').next().unwrap_or_default().to_string()
}

/// `*.wasm` (components) or `*.cwasm` (precompiled), not hidden.
fn is_model_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "wasm" || e == "cwasm")
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with('.'))
}
