//! What `glassbox serve` reads at start: a TOML file, environment variables
//! and command-line flags, in that order of precedence (later wins).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Limits;
use crate::monitor::MonitorConfig;
use crate::monitor::predlog::PredictionLogConfig;
use crate::telemetry::TelemetryConfig;

use super::ServeError;

/// The server's configuration. Every key is optional in the file; a missing
/// key keeps its default.
///
/// ```toml
/// listen = "127.0.0.1:8080"
/// models = ["/srv/models", "oci://registry.example/models/churn:1.2"]
/// watch_interval_ms = 1000
/// shutdown_timeout_ms = 30000
///
/// [limits]                          # per request, see `ServeLimits`
/// max_body_bytes = 8388608
/// max_rows = 10000
/// max_concurrent_requests = 1024
/// max_parallel_calls = 2            # default: the number of CPUs
/// inline_rows = 16
/// retry_after_s = 1
/// max_body_bytes_in_flight = 67108864
/// max_connections = 10000
/// header_timeout_ms = 10000
/// request_timeout_ms = 60000
///
/// [model_limits]                    # per guest call, see `glassbox::Limits`
/// deadline_ms = 1000
/// memory_bytes = 268435456
///
/// [telemetry]                       # see `glassbox::telemetry::TelemetryConfig`
/// otlp_endpoint = "http://localhost:4317"   # OTEL_EXPORTER_OTLP_ENDPOINT wins
/// otlp_protocol = "grpc"            # or "http/protobuf"
/// service_name = "glassbox"
/// sample_ratio = 1.0
///
/// [monitor]                         # see `glassbox::monitor::MonitorConfig`
/// enabled = true
/// window_rows = 10000
/// window_seconds = 3600
///
/// trusted_keys = ["/etc/glassbox/models.pub"]   # load only what these keys signed
///
/// [prediction_log]                  # see `glassbox::monitor::predlog::PredictionLogConfig`
/// dir = "/var/lib/glassbox/predictions"   # no log without it
/// sample_rate = 1.0
/// max_file_bytes = 67108864
/// flush_seconds = 1.0
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:8080`; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Model sources: `.wasm` component files, loaded once at start, and
    /// directories, whose `.wasm` files are loaded and then watched (see the
    /// [`super::watch`] module). Empty (the default): the bundled example models.
    pub models: Vec<PathBuf>,
    /// How often watched directories are scanned for changes. Default 1000 ms.
    pub watch_interval_ms: u64,
    /// How long a shutdown waits for in-flight requests before giving up on
    /// them. Default 30,000 ms.
    pub shutdown_timeout_ms: u64,
    /// Directory caching compiled models, so that a restart does not
    /// recompile. Default: none (the CLI uses `glassbox`'s usual cache dir).
    pub cache_dir: Option<PathBuf>,
    /// Limits on requests and the back-pressure that enforces them.
    pub limits: ServeLimits,
    /// Limits on each guest call: deadline, memory, stack, instances.
    pub model_limits: Limits,
    /// Traces and metrics: OTLP export, `/metrics`.
    pub telemetry: TelemetryConfig,
    /// Live profiles and drift against the training data.
    pub monitor: MonitorConfig,
    /// The sampled log of inputs and answers (off unless `dir` is set).
    pub prediction_log: PredictionLogConfig,
    /// Public keys (PEM files): when any is given, only components signed
    /// by one of them, unchanged since, are loaded (see [`crate::artifact::sign`]).
    pub trusted_keys: Vec<PathBuf>,
    /// Registries (`HOST:PORT`) of `oci://` sources reached over plain
    /// HTTP rather than HTTPS: loopback test registries.
    pub insecure_registries: Vec<String>,
    /// Where `oci://` sources are cached by digest. Default: `oci/` in
    /// `cache_dir`, else in the system's temporary directory.
    pub registry_cache: Option<PathBuf>,
    /// The `glassbox` binary that compiles components in a child process,
    /// under `model_limits`' compile budget (see
    /// [`crate::runtime::compiler`]). `glassbox serve` sets itself; unset,
    /// an embedding program compiles in process, unbounded.
    pub compile_helper: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            models: Vec::new(),
            watch_interval_ms: 1000,
            shutdown_timeout_ms: 30_000,
            cache_dir: None,
            limits: ServeLimits::default(),
            model_limits: Limits::default(),
            telemetry: TelemetryConfig::default(),
            monitor: MonitorConfig::default(),
            prediction_log: PredictionLogConfig::default(),
            trusted_keys: Vec::new(),
            insecure_registries: Vec::new(),
            registry_cache: None,
            compile_helper: None,
        }
    }
}

/// Per-request limits of the HTTP server.
///
/// Admission works in two stages, both per model version:
/// 1. at most `max_concurrent_requests` requests may be admitted (running
///    or waiting for a scoring thread); one more is refused at once with
///    `429 Too Many Requests` and `Retry-After`, so the queue is bounded;
/// 2. at most `max_parallel_calls` of them run in the guest at once, each on
///    tokio's blocking pool; the others wait, in arrival order.
///
/// The second bound matches the CPUs. The first decides how much a burst may
/// queue: 1,024 one-row requests wait about 50 ms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeLimits {
    /// Largest request body, in bytes; larger ones get 413. Default 8 MiB.
    pub max_body_bytes: usize,
    /// Most rows in one request; more get 413. Default 10,000.
    pub max_rows: usize,
    /// Requests admitted per model version at once; more get 429. Default
    /// 1,024.
    ///
    /// Admitted requests wait their turn for a guest call in arrival order.
    /// A deep queue is what keeps an overloaded server useful: answered 429,
    /// a client retries at once, and the server's capacity goes into
    /// refusals (measured: 872 successful one-row requests a second at 512
    /// connections with a bound of 64, against 20,144 at 32). What waiting
    /// requests hold is bounded apart: bodies by `max_body_bytes_in_flight`,
    /// connections by `max_connections`, time by `request_timeout_ms`.
    pub max_concurrent_requests: usize,
    /// Guest calls running per model version at once. Default: the number of CPUs.
    pub max_parallel_calls: usize,
    /// The `Retry-After` of a 429, in seconds. Default 1.
    pub retry_after_s: u64,
    /// Calls of at most this many rows run on the async worker that took
    /// the request, when one of the inline slots is free (one fewer than
    /// the CPUs, at least one), instead of going to the blocking pool. 0
    /// sends every call to the pool. Default 16.
    ///
    /// The hand-off to a pool thread and back (two futex wake-ups and
    /// context switches) cost more than a one-row guest call: one-row
    /// requests went from 12,000 to 19,000 per second inline on two CPUs.
    /// A guest that loops holds its worker until the deadline; the slots
    /// leave at least one worker free for other requests meanwhile.
    pub inline_rows: usize,
    /// Bytes of request bodies being received at once, over all
    /// connections; a request that would go past gets 503 with
    /// `Retry-After` before its body is read. A request without
    /// `Content-Length` counts as `max_body_bytes`. Default 64 MiB.
    pub max_body_bytes_in_flight: usize,
    /// Open client connections; one more is answered 503 and closed at
    /// once. Default: 10,000, or fewer when the process may open fewer
    /// files (the server raises its soft limit to the hard one first).
    pub max_connections: usize,
    /// Time a client has to send a request's headers, and time an idle
    /// keep-alive connection stays open, in milliseconds. Default 10,000.
    pub header_timeout_ms: u64,
    /// Time a request may take from its headers to its answer (reading the
    /// body included), in milliseconds; past it, 408. Default 60,000.
    pub request_timeout_ms: u64,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_body_bytes: 8 << 20,
            max_rows: 10_000,
            max_concurrent_requests: 1024,
            max_parallel_calls: std::thread::available_parallelism().map_or(2, |n| n.get()),
            retry_after_s: 1,
            inline_rows: 16,
            max_body_bytes_in_flight: 64 << 20,
            max_connections: 10_000,
            header_timeout_ms: 10_000,
            request_timeout_ms: 60_000,
        }
    }
}

/// The environment variables [`Config::apply_env`] reads, with the key each
/// overrides. `GLASSBOX_MODELS` is a path list (`:`-separated on Unix).
pub const ENV_VARS: [(&str, &str); 13] = [
    ("GLASSBOX_LISTEN", "listen"),
    ("GLASSBOX_MODELS", "models"),
    ("GLASSBOX_WATCH_INTERVAL_MS", "watch_interval_ms"),
    ("GLASSBOX_MAX_BODY_BYTES", "limits.max_body_bytes"),
    ("GLASSBOX_MAX_ROWS", "limits.max_rows"),
    (
        "GLASSBOX_MAX_CONCURRENT_REQUESTS",
        "limits.max_concurrent_requests",
    ),
    ("GLASSBOX_MAX_PARALLEL_CALLS", "limits.max_parallel_calls"),
    ("GLASSBOX_DEADLINE_MS", "model_limits.deadline_ms"),
    (
        "GLASSBOX_MEMORY_BUDGET_BYTES",
        "model_limits.memory_budget_bytes",
    ),
    ("GLASSBOX_MAX_INSTANCES", "model_limits.max_instances"),
    ("GLASSBOX_MONITOR", "monitor.enabled"),
    ("GLASSBOX_PREDICTION_LOG", "prediction_log.dir"),
    ("GLASSBOX_TRUSTED_KEYS", "trusted_keys"),
];

impl Config {
    /// Parses a TOML document.
    pub fn from_toml(text: &str) -> Result<Config, ServeError> {
        toml::from_str(text).map_err(|e| ServeError::Config(e.to_string()))
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ServeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServeError::Config(format!("{}: {e}", path.display())))?;
        Config::from_toml(&text).map_err(|e| ServeError::Config(format!("{}: {e}", path.display())))
    }

    /// Applies the overrides of [`ENV_VARS`] from the process environment.
    pub fn apply_env(&mut self) -> Result<(), ServeError> {
        self.apply_vars(|k| std::env::var_os(k).and_then(|v| v.into_string().ok()))
    }

    /// Applies overrides from `get` (a variable name → its value), so tests
    /// need not touch the process environment.
    pub fn apply_vars(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ServeError> {
        fn parse<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ServeError>
        where
            T::Err: std::fmt::Display,
        {
            v.trim()
                .parse()
                .map_err(|e| ServeError::Config(format!("${key}={v:?}: {e}")))
        }
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("GLASSBOX_LISTEN") {
            self.listen = parse("GLASSBOX_LISTEN", &v)?;
        }
        if let Some(v) = get("GLASSBOX_MODELS") {
            self.models = std::env::split_paths(&v).collect();
        }
        if let Some(v) = get("GLASSBOX_WATCH_INTERVAL_MS") {
            self.watch_interval_ms = parse("GLASSBOX_WATCH_INTERVAL_MS", &v)?;
        }
        let l = &mut self.limits;
        if let Some(v) = get("GLASSBOX_MAX_BODY_BYTES") {
            l.max_body_bytes = parse("GLASSBOX_MAX_BODY_BYTES", &v)?;
        }
        if let Some(v) = get("GLASSBOX_MAX_ROWS") {
            l.max_rows = parse("GLASSBOX_MAX_ROWS", &v)?;
        }
        if let Some(v) = get("GLASSBOX_MAX_CONCURRENT_REQUESTS") {
            l.max_concurrent_requests = parse("GLASSBOX_MAX_CONCURRENT_REQUESTS", &v)?;
        }
        if let Some(v) = get("GLASSBOX_MAX_PARALLEL_CALLS") {
            l.max_parallel_calls = parse("GLASSBOX_MAX_PARALLEL_CALLS", &v)?;
        }
        if let Some(v) = get("GLASSBOX_DEADLINE_MS") {
            self.model_limits.deadline = Duration::from_millis(parse("GLASSBOX_DEADLINE_MS", &v)?);
        }
        if let Some(v) = get("GLASSBOX_MEMORY_BUDGET_BYTES") {
            self.model_limits.memory_budget_bytes = parse("GLASSBOX_MEMORY_BUDGET_BYTES", &v)?;
        }
        if let Some(v) = get("GLASSBOX_MAX_INSTANCES") {
            self.model_limits.max_instances = parse("GLASSBOX_MAX_INSTANCES", &v)?;
        }
        if let Some(v) = get("GLASSBOX_MONITOR") {
            self.monitor.enabled = parse("GLASSBOX_MONITOR", &v)?;
        }
        if let Some(v) = get("GLASSBOX_PREDICTION_LOG") {
            self.prediction_log.dir = Some(v.into());
        }
        if let Some(v) = get("GLASSBOX_TRUSTED_KEYS") {
            self.trusted_keys = std::env::split_paths(&v).collect();
        }
        Ok(())
    }

    /// Refuses settings that would make the server useless.
    pub fn check(&self) -> Result<(), ServeError> {
        let l = &self.limits;
        for (value, key) in [
            (l.max_body_bytes, "limits.max_body_bytes"),
            (l.max_rows, "limits.max_rows"),
            (l.max_concurrent_requests, "limits.max_concurrent_requests"),
            (l.max_parallel_calls, "limits.max_parallel_calls"),
            (
                l.max_body_bytes_in_flight,
                "limits.max_body_bytes_in_flight",
            ),
            (l.max_connections, "limits.max_connections"),
            (l.header_timeout_ms as usize, "limits.header_timeout_ms"),
            (l.request_timeout_ms as usize, "limits.request_timeout_ms"),
        ] {
            if value == 0 {
                return Err(ServeError::Config(format!("{key} must be at least 1")));
            }
        }
        if l.max_body_bytes_in_flight < l.max_body_bytes {
            return Err(ServeError::Config(format!(
                "limits.max_body_bytes_in_flight ({}) must be at least limits.max_body_bytes ({})",
                l.max_body_bytes_in_flight, l.max_body_bytes
            )));
        }
        if self.watch_interval_ms == 0 {
            return Err(ServeError::Config(
                "watch_interval_ms must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env() {
        let mut c = Config::from_toml(
            "listen = \"0.0.0.0:9000\"\nmodels = [\"a\", \"b.wasm\"]\n[limits]\nmax_rows = 5\n[model_limits]\ndeadline_ms = 50\n",
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.models.len(), 2);
        assert_eq!(c.limits.max_rows, 5);
        assert_eq!(c.limits.max_concurrent_requests, 1024);
        assert_eq!(c.model_limits.deadline, Duration::from_millis(50));
        c.apply_vars(|k| (k == "GLASSBOX_MAX_ROWS").then(|| "7".into()))
            .unwrap();
        assert_eq!(c.limits.max_rows, 7);
        assert!(
            c.apply_vars(|k| (k == "GLASSBOX_LISTEN").then(|| "nope".into()))
                .is_err()
        );
        assert!(
            Config::from_toml("lisen = \"x\"").is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn telemetry_table() {
        let c = Config::from_toml(
            "[telemetry]\notlp_endpoint = \"http://collector:4318\"\notlp_protocol = \"http/protobuf\"\nsample_ratio = 0.25\n",
        )
        .unwrap();
        assert_eq!(
            c.telemetry.otlp_protocol,
            Some(crate::telemetry::Protocol::HttpProtobuf)
        );
        assert_eq!(c.telemetry.sample_ratio, Some(0.25));
        assert!(c.telemetry.prometheus, "metrics stay on by default");
        let e = Config::from_toml("[telemetry]\notlp_protocol = \"http/json\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("otlp_protocol") && e.contains("http/json"),
            "{e}"
        );
    }
}
