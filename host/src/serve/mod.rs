//! `glassbox serve`: an HTTP scoring service, also usable as a library by
//! a gateway that embeds the host.
//!
//! ```no_run
//! # async fn run() -> Result<(), glassbox::serve::ServeError> {
//! use glassbox::serve::{Config, Server};
//! let config = Config { models: vec!["/srv/models".into()], ..Config::default() };
//! let server = Server::bind(config).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.run(glassbox::serve::shutdown_signal()).await
//! # }
//! ```
//!
//! The pieces, in the order a request meets them:
//! 1. the axum [`axum::Router`] of [`Service::router`]: KServe Open Inference
//!    Protocol v2 and KServe v1 routes, a page at `/`, a body size limit;
//! 2. the [`registry`]: name → versions, read lock-free and swapped
//!    atomically, so a request keeps the version it started with;
//! 3. back-pressure per model version ([`ServeLimits`]): a bounded number of
//!    admitted requests (one more gets 429 with `Retry-After`) and of guest
//!    calls running at once;
//! 4. the guest call itself, on tokio's blocking pool (it is synchronous CPU
//!    work, bounded by the engine's deadline), never on an async worker;
//! 5. errors as JSON `{"error": "..."}`: 400 for contract violations (every
//!    problem listed), 404 for unknown models, 413 for too large, 429 when
//!    busy, 500 when the model traps, 504 when it runs out of time.
//!
//! Routes:
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/` | the dashboard: health, traffic and drift of every model (HTML) |
//! | GET | `/dashboard.json` | the dashboard's data |
//! | GET | `/v2` | server metadata |
//! | GET | `/v2/health/live`, `/v2/health/ready` | `{"live": true}`, `{"ready": …}` (503 while draining) |
//! | GET | `/v2/models/{name}[/versions/{v}]` | model metadata: inputs, outputs |
//! | GET | `/v2/models/{name}[/versions/{v}]/ready` | `{"ready": true}` or 404 |
//! | POST | `/v2/models/{name}[/versions/{v}]/infer` | OIP inference (see [`oip`]) |
//! | POST | `/v1/models/{name}:predict` | `{"instances": [...]}` → `{"predictions": [...]}` |
//! | GET | `/v1/models/{name}` | `{"name": …, "ready": true}` |
//! | GET | `/v2/models/{name}[/versions/{v}]/monitor` | live profiles, drift and health (see [`crate::monitor`]) |
//! | GET | `/metrics` | the metrics, Prometheus text format (see [`crate::telemetry`]) |
//!
//! Directories among the model sources are watched (see [`watch`]). With an
//! OTLP endpoint configured, every request is a server span that continues
//! the caller's W3C `traceparent` and parents the scoring span; the response
//! names the trace in a `traceresponse` header (docs/TELEMETRY.md).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use crate::telemetry::Telemetry;
use crate::{EngineBuilder, Level, LogSink, examples};

mod config;
pub mod grpc;
mod lane;
mod listen;
pub mod oip;
pub mod registry;
mod routes;
pub mod stats;
pub mod tensors;
mod trace;
pub mod watch;

pub use config::{Config, ENV_VARS, ServeLimits};

/// The protocol extensions the server metadata names (REST and gRPC).
pub const EXTENSIONS: [&str; 1] = ["binary_tensor_data"];
pub use registry::{Deployed, Registry};
pub use routes::{ApiError, Service};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A model source could not be loaded.
    #[error("{path}: {source}")]
    Load {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: crate::Error,
    },
    /// A model directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The engine could not be built.
    #[error(transparent)]
    Engine(crate::Error),
    /// Serving failed.
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

/// A server with its models loaded and its socket bound, not yet serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    service: Service,
    watchers: Vec<watch::WatchGuard>,
    shutdown_timeout: Duration,
    prediction_log: Option<Arc<crate::monitor::predlog::PredictionLog>>,
    health_every: Duration,
    front: listen::FrontLimits,
}

impl Server {
    /// Builds the engine, loads every model source of `config` (the bundled
    /// examples when there is none), starts watching its directories and
    /// binds the listening socket.
    ///
    /// A `.wasm` file given by itself must load; in a directory, a file that
    /// does not load is refused with a log line and the others are served.
    pub async fn bind(config: Config) -> Result<Server, ServeError> {
        config.check()?;
        let telemetry = Arc::new(
            Telemetry::install(&config.telemetry).map_err(|e| ServeError::Config(e.to_string()))?,
        );
        let mut builder = EngineBuilder::default()
            .telemetry(&telemetry)
            .limits(config.model_limits.clone())
            .log_sink(LogSink::new(|model, level, message| match level {
                Level::Error => tracing::error!("[{model}] {message}"),
                Level::Warn => tracing::warn!("[{model}] {message}"),
                Level::Info => tracing::info!("[{model}] {message}"),
                Level::Debug => tracing::debug!("[{model}] {message}"),
            }));
        if let Some(dir) = &config.cache_dir {
            builder = builder.cache_dir(dir);
        }
        if let Some(helper) = &config.compile_helper {
            builder = builder.compile_with(helper);
        }
        if !config.trusted_keys.is_empty() {
            let mut keys = Vec::new();
            for path in &config.trusted_keys {
                let bytes = std::fs::read(path).map_err(|e| {
                    ServeError::Config(format!("trusted key {}: {e}", path.display()))
                })?;
                crate::artifact::sign::TrustedKeys::from_bytes([bytes.as_slice()]).map_err(
                    |e| ServeError::Config(format!("trusted key {}: {e}", path.display())),
                )?;
                keys.push(bytes);
            }
            let keys =
                crate::artifact::sign::TrustedKeys::from_bytes(keys.iter().map(Vec::as_slice))
                    .map_err(|e| ServeError::Config(format!("trusted_keys: {e}")))?;
            tracing::info!(
                "loading only components signed by key {}",
                keys.key_ids().join(", ")
            );
            builder = builder.trusted_keys(keys);
        }
        let engine = builder.build().map_err(ServeError::Engine)?;
        let service = Service::with_telemetry(engine, config.limits.clone(), Some(telemetry));
        service.registry().set_monitoring(config.monitor.clone());
        let prediction_log = crate::monitor::predlog::PredictionLog::start(&config.prediction_log)
            .map_err(|e| ServeError::Config(format!("prediction_log: {e}")))?
            .map(Arc::new);
        if let Some(log) = &prediction_log {
            tracing::info!(
                "logging {:.0} % of calls to {}",
                config.prediction_log.sample_rate * 100.0,
                log.dir().display()
            );
        }
        service
            .registry()
            .set_prediction_log(prediction_log.clone());
        drift_gauges(&service);
        let loading = service.clone();
        let sources = config.models.clone();
        let interval = Duration::from_millis(config.watch_interval_ms);
        #[cfg(feature = "oci")]
        let oci = OciSources {
            insecure: config.insecure_registries.clone(),
            cache: crate::ship::oci::Cache::new(config.registry_cache.clone().unwrap_or_else(
                || {
                    config
                        .cache_dir
                        .clone()
                        .unwrap_or_else(|| std::env::temp_dir().join("glassbox"))
                        .join("oci")
                },
            )),
        };
        #[cfg(not(feature = "oci"))]
        let oci = OciSources;
        // Loading compiles: blocking work, off the async workers.
        let watchers =
            tokio::task::spawn_blocking(move || load(&loading, &sources, interval, &oci))
                .await
                .map_err(|e| ServeError::Serve(std::io::Error::other(e)))??;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: config.listen,
                source,
            })?;
        let open_files = listen::raise_open_files_limit();
        let max_connections = listen::connection_cap(config.limits.max_connections, open_files);
        if max_connections < config.limits.max_connections {
            tracing::warn!(
                "serving at most {max_connections} connections, not {}: the process may open only {} files",
                config.limits.max_connections,
                open_files.unwrap_or_default()
            );
        }
        Ok(Server {
            listener,
            service,
            watchers,
            shutdown_timeout: Duration::from_millis(config.shutdown_timeout_ms),
            prediction_log,
            health_every: Duration::from_secs(config.monitor.check_seconds.max(1)),
            front: listen::FrontLimits {
                max_connections,
                header_timeout: Duration::from_millis(config.limits.header_timeout_ms),
            },
        })
    }

    /// The bound address (the actual port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// The service, to inspect or change the served models.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Serves until `shutdown` completes, then stops accepting connections,
    /// reports not ready, and waits for in-flight requests to finish (at most
    /// `shutdown_timeout_ms`) before returning.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Server {
            listener,
            service,
            watchers,
            shutdown_timeout,
            prediction_log,
            health_every,
            front,
        } = self;
        let health = tokio::spawn(watch_health(service.clone(), health_every));
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let draining = service.clone();
        tokio::spawn(async move {
            shutdown.await;
            // Stop first: logging can fail (a closed stderr) and must not
            // keep the server running.
            let _ = stop.send(true);
            draining.set_ready(false);
            tracing::info!("shutting down: draining in-flight requests");
        });
        let when_stopping = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            // An error means the task above is gone without sending, which
            // only a panic does: stop rather than serve on unstoppable.
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let server = listen::serve(
            listener,
            service.router(),
            front,
            when_stopping(stopping.clone()),
        );
        let give_up = async {
            when_stopping(stopping).await;
            tokio::time::sleep(shutdown_timeout).await;
        };
        let result = tokio::select! {
            () = server => Ok(()),
            () = give_up => {
                tracing::warn!("shutdown: requests still running after {shutdown_timeout:?}; stopping anyway");
                Ok(())
            }
        };
        drop(watchers);
        health.abort();
        // Every call has answered: write what the log still holds.
        if let Some(log) = prediction_log {
            let _ = tokio::task::spawn_blocking(move || {
                log.close();
                if log.dropped() > 0 {
                    tracing::warn!(
                        "prediction log: {} rows could not be written (queue full or disk errors)",
                        log.dropped()
                    );
                }
            })
            .await;
        }
        // Flush the spans and metrics still buffered. The exporter's
        // network calls need the runtime's workers; this one must not block.
        if let Some(telemetry) = service.telemetry().cloned() {
            let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
        }
        result
    }
}

/// Checks every monitored model's health every `every`, and reports each
/// change as a log line and a span (`glassbox.health.check`, with a
/// `glassbox.health.changed` event) naming the model's owner.
async fn watch_health(service: Service, every: Duration) {
    use opentelemetry::trace::{Span as _, Tracer as _};
    use opentelemetry::{KeyValue, StringValue, Value};

    use crate::monitor::drift::Level;
    use crate::telemetry::names;

    let word = |l: Level| match l {
        Level::Ok => "ok",
        Level::Warn => "warn",
        Level::Alert => "alert",
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let snapshot = service.registry().snapshot();
        for name in snapshot.names() {
            for d in snapshot.versions(name) {
                let Some(monitor) = d.monitor() else { continue };
                let (report, Some(before)) = monitor.check() else {
                    continue;
                };
                let owner = match (&report.owner, &report.contact) {
                    (Some(o), Some(c)) => format!("owner {o} <{c}>"),
                    _ => "no owner declared (glassbox compile --expect)".into(),
                };
                let line = format!(
                    "model {} {}: health {} -> {} ({owner}){}{}",
                    d.name(),
                    d.version(),
                    word(before),
                    word(report.health),
                    if report.reasons.is_empty() { "" } else { ": " },
                    report.reasons.join("; ")
                );
                match report.health {
                    Level::Ok => tracing::info!("{line}"),
                    Level::Warn | Level::Alert => tracing::warn!("{line}"),
                }
                let Some(tracer) = service.telemetry().and_then(|t| t.tracer()) else {
                    continue;
                };
                let model = [
                    KeyValue::new(names::MODEL_NAME, d.name().to_string()),
                    KeyValue::new(names::MODEL_VERSION, d.version().to_string()),
                ];
                let mut span = tracer
                    .span_builder(names::HEALTH_SPAN)
                    .with_attributes(model)
                    .start(&tracer);
                let mut event = vec![
                    KeyValue::new(names::HEALTH_FROM, word(before)),
                    KeyValue::new(names::HEALTH_TO, word(report.health)),
                    KeyValue::new(
                        names::HEALTH_REASONS,
                        Value::Array(
                            report
                                .reasons
                                .iter()
                                .map(|r| StringValue::from(r.clone()))
                                .collect::<Vec<_>>()
                                .into(),
                        ),
                    ),
                ];
                if let (Some(o), Some(c)) = (&report.owner, &report.contact) {
                    event.push(KeyValue::new(names::OWNER, o.clone()));
                    event.push(KeyValue::new(names::CONTACT, c.clone()));
                }
                span.add_event(names::HEALTH_EVENT, event);
                span.end();
            }
        }
    }
}

/// A standalone dashboard page showing `report`, computed offline for
/// `model` (what `glassbox report --html` writes): the same page as
/// `glassbox serve`'s, with its data inside, so it opens as a file.
pub fn report_page(model: &crate::Model, report: &crate::monitor::Report, title: &str) -> String {
    let rows = report.rows;
    let stats = serde_json::json!({
        "calls": rows,
        "rows": rows,
        "outcomes": {"ok": rows},
        "calls_per_second": null,
        "latency_seconds": null,
    });
    let entry = routes::dashboard_entry(model, Some(report), stats, serde_json::json!([]));
    routes::dashboard_page(&serde_json::json!({
        "server": {"version": env!("CARGO_PKG_VERSION"), "title": title},
        "models": [entry],
    }))
}

/// Registers the drift gauges: per served model version with a monitor,
/// each feature's PSI and the model's health (0 ok, 1 warn, 2 alert),
/// computed from the live profiles when metrics are collected.
fn drift_gauges(service: &Service) {
    use opentelemetry::KeyValue;

    use crate::monitor::drift::Level;
    use crate::telemetry::names;

    let Some(telemetry) = service.telemetry() else {
        return;
    };
    let meter = telemetry.meter();
    let registry = service.registry().clone();
    // One callback reports both gauges' values from one report per model;
    // the instruments are built first so that the callback can name them.
    let each = move |f: &mut dyn FnMut(&Deployed, &crate::monitor::Report)| {
        let snapshot = registry.snapshot();
        for name in snapshot.names() {
            for d in snapshot.versions(name) {
                if let Some(m) = d.monitor() {
                    f(d, &m.report());
                }
            }
        }
    };
    let each = Arc::new(each);
    let psi_each = each.clone();
    meter
        .f64_observable_gauge(names::DRIFT_PSI)
        .with_description(
            "Population stability index of each feature's live profile against training",
        )
        .with_callback(move |o| {
            psi_each(&mut |d, report| {
                for c in &report.columns {
                    o.observe(
                        c.drift.psi,
                        &[
                            KeyValue::new(names::MODEL_NAME, d.name().to_string()),
                            KeyValue::new(names::MODEL_VERSION, d.version().to_string()),
                            KeyValue::new(names::FIELD, c.name.clone()),
                        ],
                    );
                }
            })
        })
        .build();
    let rate_each = each.clone();
    meter
        .f64_observable_gauge(names::EXPECTATION_RATE)
        .with_description(
            "Share of the window's rows breaking a soft expectation of the model's owner, per feature",
        )
        .with_callback(move |o| {
            rate_each(&mut |d, report| {
                for e in &report.expectations {
                    if let Some(rate) = e.rate {
                        o.observe(
                            rate,
                            &[
                                KeyValue::new(names::MODEL_NAME, d.name().to_string()),
                                KeyValue::new(names::MODEL_VERSION, d.version().to_string()),
                                KeyValue::new(names::FIELD, e.field.clone()),
                            ],
                        );
                    }
                }
            })
        })
        .build();
    meter
        .u64_observable_gauge(names::HEALTH)
        .with_description("Model health from drift and expectations: 0 ok, 1 warn, 2 alert")
        .with_callback(move |o| {
            each(&mut |d, report| {
                let level = match report.health {
                    Level::Ok => 0,
                    Level::Warn => 1,
                    Level::Alert => 2,
                };
                o.observe(
                    level,
                    &[
                        KeyValue::new(names::MODEL_NAME, d.name().to_string()),
                        KeyValue::new(names::MODEL_VERSION, d.version().to_string()),
                    ],
                );
            })
        })
        .build();
}

/// Binds and serves `config` until `shutdown` completes (see [`Server`]).
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    Server::bind(config).await?.run(shutdown).await
}

/// Completes on SIGTERM or SIGINT (Ctrl-C); elsewhere than Unix, on Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Loads the sources into the service; returns the directory watchers.
/// Where `oci://` sources come from and go to.
#[cfg(feature = "oci")]
struct OciSources {
    insecure: Vec<String>,
    cache: crate::ship::oci::Cache,
}

/// Pulls `reference` into the cache, or, when the registry cannot be
/// reached, falls back on the digest it last resolved to. Returns the
/// component's file and digest.
#[cfg(feature = "oci")]
fn fetch(
    reference: &str,
    oci: &OciSources,
    engine: &crate::Engine,
) -> Result<(PathBuf, String), ServeError> {
    // The artifact's precompiled form for this host loads without a
    // compile, but only where keys are trusted; without them, the component.
    let target = (engine.has_trusted_keys() || !cfg!(feature = "compiler"))
        .then(crate::artifact::precompiled::host_target);
    let host = reference
        .trim_start_matches("oci://")
        .split('/')
        .next()
        .unwrap_or("");
    let options = crate::ship::oci::OciOptions {
        insecure: oci.insecure.iter().any(|h| h == host),
        ..Default::default()
    };
    // Called on a blocking thread of the server's runtime.
    let pulled =
        tokio::runtime::Handle::current().block_on(crate::ship::oci::pull(reference, &options));
    match pulled {
        Ok(pulled) => {
            let (file, digest) = oci
                .cache
                .store(reference, &pulled, target)
                .map_err(|source| ServeError::Io {
                    path: reference.into(),
                    source,
                })?;
            if digest == pulled.layer_digest {
                tracing::info!("{reference}: pulled {digest}");
            } else {
                tracing::info!(
                    "{reference}: pulled {digest}, precompiled for {} from component {}",
                    target.unwrap_or_default(),
                    pulled.layer_digest
                );
            }
            Ok((file, digest))
        }
        Err(e) => match oci.cache.lookup(reference) {
            Some((file, digest)) => {
                tracing::warn!(
                    "{reference}: {e}; serving the cached component it last resolved to, {digest}"
                );
                Ok((file, digest))
            }
            None => Err(ServeError::Config(format!(
                "{e} (and no cached copy of {reference})"
            ))),
        },
    }
}

/// The runtime-only build has no registry client.
#[cfg(not(feature = "oci"))]
struct OciSources;

#[cfg(not(feature = "oci"))]
fn fetch(
    reference: &str,
    _: &OciSources,
    _: &crate::Engine,
) -> Result<(PathBuf, String), ServeError> {
    Err(ServeError::Config(format!(
        "{reference}: this glassbox is built without the registry client (cargo feature `oci`, \
         left out of the runtime-only build); pull the model with `glassbox pull` elsewhere and \
         serve the file"
    )))
}

fn load(
    service: &Service,
    sources: &[PathBuf],
    interval: Duration,
    oci: &OciSources,
) -> Result<Vec<watch::WatchGuard>, ServeError> {
    use registry::Origin;
    let registry = service.registry();
    if sources.is_empty() {
        for example in examples::ALL {
            let model =
                service
                    .engine()
                    .load(example.component)
                    .map_err(|source| ServeError::Load {
                        path: example.name.into(),
                        source,
                    })?;
            tracing::info!(
                "loaded {} {} (bundled example)",
                model.name(),
                model.info().version
            );
            registry.deploy(model, Origin::Example, None);
        }
        return Ok(Vec::new());
    }
    let mut watchers = Vec::new();
    for path in sources {
        if let Some(reference) = path.to_str().filter(|p| p.starts_with("oci://")) {
            let (file, digest) = fetch(reference, oci, service.engine())?;
            let model = service
                .engine()
                .load_file(&file)
                .map_err(|source| ServeError::Load {
                    path: path.clone(),
                    source,
                })?;
            tracing::info!(
                "{reference}: loaded {} {} ({digest})",
                model.name(),
                model.info().version
            );
            let origin = Origin::Registry {
                reference: reference.to_string(),
                digest,
            };
            registry.deploy(model, origin, None);
        } else if path.is_dir() {
            // Read now, so that a directory that cannot be read stops the
            // start; its files load in the background (see `Watcher::spawn`).
            std::fs::read_dir(path).map_err(|source| ServeError::Io {
                path: path.clone(),
                source,
            })?;
            let watcher =
                watch::Watcher::new(path.clone(), service.engine().clone(), registry.clone());
            watchers.push(watcher.spawn(interval).map_err(|source| ServeError::Io {
                path: path.clone(),
                source,
            })?);
            tracing::info!("watching {} every {interval:?}", path.display());
        } else {
            let model = service
                .engine()
                .load_file(path)
                .map_err(|source| ServeError::Load {
                    path: path.clone(),
                    source,
                })?;
            tracing::info!(
                "{}: loaded {} {}",
                path.display(),
                model.name(),
                model.info().version
            );
            registry.deploy(model, Origin::File(path.clone()), None);
        }
    }
    Ok(watchers)
}
