//! Installing OpenTelemetry providers: OTLP export and the Prometheus text
//! format.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use opentelemetry::metrics::{MeterProvider as _, ObservableCounter};
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, ShouldSample};
use serde::{Deserialize, Serialize};

use super::export::{ExportConfig, Exporter};
use super::lean::{Drops, Lean, Queue, ServerSpans, Tracer};
use super::otlp::Envelope;
use super::{call, names};

/// The spans waiting for export at most unless `OTEL_BSP_MAX_QUEUE_SIZE`
/// says otherwise (the SDK's default): with the collector down, this
/// bounds the memory tracing takes.
const DEFAULT_QUEUE: usize = 2048;

/// Spans per export request unless `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` says
/// otherwise (the SDK's default).
const DEFAULT_BATCH: usize = 512;

/// How to reach the OTLP collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    /// OTLP over gRPC (default port 4317).
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP over HTTP with protobuf bodies (default port 4318).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl std::str::FromStr for Protocol {
    type Err = TelemetryError;
    fn from_str(s: &str) -> Result<Self, TelemetryError> {
        match s.trim() {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            other => Err(TelemetryError::Config(format!(
                "OTLP protocol `{other}` is not supported; use `grpc` or `http/protobuf`"
            ))),
        }
    }
}

/// Telemetry settings (the `[telemetry]` table of `glassbox serve`'s config
/// file). The standard `OTEL_*` environment variables take precedence over
/// every field here, so a deployment can override a config file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The OTLP collector, e.g. `http://localhost:4317`; for HTTP, the base
    /// URL to which `/v1/traces` and `/v1/metrics` are appended. Overridden
    /// by `OTEL_EXPORTER_OTLP_ENDPOINT` (and its `_TRACES_` / `_METRICS_`
    /// forms). No endpoint anywhere: nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// `grpc` or `http/protobuf`. Overridden by
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`. Default: `grpc`.
    pub otlp_protocol: Option<Protocol>,
    /// The service name on everything exported. Overridden by
    /// `OTEL_SERVICE_NAME` or `service.name` in `OTEL_RESOURCE_ATTRIBUTES`.
    /// Default: `glassbox`.
    pub service_name: Option<String>,
    /// Export traces when an endpoint is configured (`OTEL_TRACES_EXPORTER=none`
    /// also turns them off). Default: true.
    pub traces: bool,
    /// Push metrics over OTLP when an endpoint is configured
    /// (`OTEL_METRICS_EXPORTER=none` also turns this off). Default: true.
    pub otlp_metrics: bool,
    /// The share of root traces sampled, 0 to 1 (parent-based: a request
    /// carrying a sampled `traceparent` is always traced). Overridden by
    /// `OTEL_TRACES_SAMPLER`. Default: 1.
    pub sample_ratio: Option<f64>,
    /// Keep metrics for the Prometheus text format. Default: true.
    pub prometheus: bool,
    /// `merged`: one span per request to `glassbox serve`, the server span
    /// carrying the scoring call's attributes and events; `separate`: a
    /// server span parent of a `glassbox.score` span, which costs a second
    /// span per request. Overridden by `GLASSBOX_SERVER_SPANS`. Default:
    /// `merged`.
    pub server_spans: ServerSpans,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            otlp_protocol: None,
            service_name: None,
            traces: true,
            otlp_metrics: true,
            sample_ratio: None,
            prometheus: true,
            server_spans: ServerSpans::Merged,
        }
    }
}

/// Why telemetry could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// A setting is invalid; the message names it.
    #[error("telemetry configuration: {0}")]
    Config(String),
    /// An exporter could not be built.
    #[error("telemetry exporter: {0}")]
    Exporter(String),
}

/// Builds an OTLP exporter of the given type for `protocol`, at `url` when
/// the endpoint comes from the config file (the exporter reads the
/// environment itself otherwise). A macro because the span and metric
/// builders share their method names but no trait.
macro_rules! otlp_exporter {
    ($exporter:ty, $protocol:expr, $url:expr) => {{
        let builder = <$exporter>::builder();
        match ($protocol, $url) {
            (Protocol::Grpc, Some(url)) => builder.with_tonic().with_endpoint(url).build(),
            (Protocol::Grpc, None) => builder.with_tonic().build(),
            (Protocol::HttpProtobuf, Some(url)) => builder.with_http().with_endpoint(url).build(),
            (Protocol::HttpProtobuf, None) => builder.with_http().build(),
        }
        .map_err(|e| TelemetryError::Exporter(e.to_string()))
    }};
}

/// What an engine records into (see [`crate::EngineBuilder::telemetry`]).
#[derive(Clone, Debug)]
pub(crate) struct Providers {
    pub(crate) tracer: Option<Arc<Lean>>,
    pub(crate) meter: SdkMeterProvider,
}

/// The installed providers. Keep it for the life of the program and call
/// [`Telemetry::shutdown`] at the end to flush what is buffered.
pub struct Telemetry {
    tracer: Option<Arc<Lean>>,
    exporter: Option<Exporter>,
    meter: SdkMeterProvider,
    registry: Option<prometheus::Registry>,
    drops: Arc<Drops>,
    _dropped_counter: Option<ObservableCounter<u64>>,
    /// The gRPC metrics exporter's runtime (see `install`).
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("traces", &self.tracer.is_some())
            .field("prometheus", &self.registry.is_some())
            .finish()
    }
}

pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_is(name: &str, value: &str) -> bool {
    env(name).is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
}

/// The endpoint for one signal (`TRACES` or `METRICS`): whether one is
/// configured, and the value to set on the exporter when the configuration
/// comes from the file (the exporter reads the environment itself).
fn endpoint(signal: &str, config: &TelemetryConfig, protocol: Protocol) -> (bool, Option<String>) {
    if env(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")).is_some()
        || env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
    {
        return (true, None);
    }
    match &config.otlp_endpoint {
        Some(base) => {
            let base = base.trim_end_matches('/');
            let url = match protocol {
                Protocol::Grpc => base.to_string(),
                // Set by hand, an HTTP endpoint is used verbatim.
                Protocol::HttpProtobuf => {
                    format!("{base}/v1/{}", signal.to_ascii_lowercase())
                }
            };
            (true, Some(url))
        }
        None => (false, None),
    }
}

impl Telemetry {
    /// Builds tracer and meter providers as `config` and the `OTEL_*`
    /// environment variables say. Hand them to engines with
    /// [`crate::EngineBuilder::telemetry`], or make them global with
    /// [`Telemetry::set_global`].
    ///
    /// Returns an error naming the setting when one is invalid. With no
    /// endpoint configured, only the Prometheus metrics are kept.
    pub fn install(config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
        let disabled = env_is("OTEL_SDK_DISABLED", "true");
        let protocol = match env("OTEL_EXPORTER_OTLP_PROTOCOL") {
            Some(p) => p.parse().map_err(|e| match e {
                TelemetryError::Config(m) => {
                    TelemetryError::Config(format!("OTEL_EXPORTER_OTLP_PROTOCOL: {m}"))
                }
                other => other,
            })?,
            None => config.otlp_protocol.unwrap_or(Protocol::Grpc),
        };
        if let Some(r) = config.sample_ratio
            && !(0.0..=1.0).contains(&r)
        {
            return Err(TelemetryError::Config(format!(
                "sample_ratio is {r}; it must be between 0 and 1"
            )));
        }
        let (traces_on, _) = endpoint("TRACES", config, protocol);
        let traces_on =
            traces_on && config.traces && !disabled && !env_is("OTEL_TRACES_EXPORTER", "none");
        let (metrics_on, metrics_url) = endpoint("METRICS", config, protocol);
        let metrics_on = metrics_on
            && config.otlp_metrics
            && !disabled
            && !env_is("OTEL_METRICS_EXPORTER", "none");

        // The gRPC metrics exporter's connection runs as tasks of the
        // runtime it is built in. Its own one-thread runtime keeps that work
        // off the runtime that serves requests (and gives `glassbox score`,
        // which has none, one). Spans have their own thread (`export`).
        let runtime = if protocol == Protocol::Grpc && metrics_on {
            Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("glassbox-otlp")
                    .enable_all()
                    .build()
                    .map_err(|e| TelemetryError::Exporter(format!("tokio runtime: {e}")))?,
            )
        } else {
            None
        };
        let _entered = runtime.as_ref().map(|r| r.enter());

        if protocol == Protocol::HttpProtobuf && metrics_on {
            // The HTTP exporters' client panics on its first request without
            // one (and `glassbox serve` failed to start).
            #[cfg(feature = "oci")]
            crate::ship::tls::install_crypto_provider();
        }
        let resource = resource(config);
        let drops = Arc::new(Drops::default());
        let server_spans = match env("GLASSBOX_SERVER_SPANS") {
            Some(v) => v
                .parse()
                .map_err(|e| TelemetryError::Config(format!("GLASSBOX_SERVER_SPANS: {e}")))?,
            None => config.server_spans,
        };
        let (tracer, exporter) = if traces_on {
            let export = ExportConfig::new(config, protocol)?;
            let size = |name: &str, default: usize| -> Result<usize, TelemetryError> {
                match env(name) {
                    Some(v) => v
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            TelemetryError::Config(format!(
                                "{name} is `{v}`; it must be a positive whole number"
                            ))
                        }),
                    None => Ok(default),
                }
            };
            let capacity = size("OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_QUEUE)?;
            let batch = size("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_BATCH)?;
            let queue = Arc::new(Queue::new(capacity, batch, drops.clone()));
            // The SDK's sampler, from OTEL_TRACES_SAMPLER when set (the SDK
            // reads it, with its own warnings for bad values).
            let sampler: Box<dyn ShouldSample> = match config.sample_ratio {
                Some(ratio) if env("OTEL_TRACES_SAMPLER").is_none() => Box::new(
                    Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio))),
                ),
                _ => opentelemetry_sdk::trace::Config::default().sampler,
            };
            let url = export.url.to_string();
            let exporter = Exporter::spawn(
                queue.clone(),
                export,
                Envelope::new(&resource, names::SCOPE, env!("CARGO_PKG_VERSION")),
                Outage::new("traces", Some(url)),
            )?;
            (
                Some(Arc::new(Lean::new(queue, sampler, server_spans))),
                Some(exporter),
            )
        } else {
            (None, None)
        };

        let mut builder = SdkMeterProvider::builder().with_resource(resource);
        let registry = if config.prometheus {
            let registry = prometheus::Registry::new();
            // Every series is glassbox's own: the scope labels would only
            // lengthen each line.
            let exporter = opentelemetry_prometheus::exporter()
                .with_registry(registry.clone())
                .scope_info_enabled(false)
                .build()
                .map_err(|e| TelemetryError::Exporter(format!("prometheus: {e}")))?;
            builder = builder.with_reader(exporter);
            Some(registry)
        } else {
            None
        };
        if metrics_on {
            let exporter = otlp_exporter!(
                opentelemetry_otlp::MetricExporter,
                protocol,
                metrics_url.clone()
            )?;
            let exporter = WatchedMetrics {
                inner: exporter,
                outage: Outage::new("metrics", metrics_url.clone()),
            };
            builder = builder.with_reader(PeriodicReader::builder(exporter).build());
        }
        let meter = builder.build();
        let dropped_counter = tracer.is_some().then(|| {
            let drops = drops.clone();
            meter
                .meter_with_scope(call::scope())
                .u64_observable_counter(names::SPANS_DROPPED)
                .with_description("Spans dropped before export, by reason")
                .with_callback(move |o| {
                    o.observe(
                        drops.queue_full.load(Ordering::Relaxed),
                        &[KeyValue::new("reason", "queue_full")],
                    );
                    o.observe(
                        drops.export_failed.load(Ordering::Relaxed),
                        &[KeyValue::new("reason", "export_failed")],
                    );
                })
                .build()
        });
        drop(_entered);
        Ok(Telemetry {
            tracer,
            exporter,
            meter,
            registry,
            drops,
            _dropped_counter: dropped_counter,
            runtime,
        })
    }

    /// Makes the meter provider, and the W3C trace-context propagator, the
    /// process's global ones. Spans take the lean path only from engines
    /// given this telemetry ([`crate::EngineBuilder::telemetry`]) and from
    /// [`Telemetry::tracer`]: the API's global tracer provider stays the
    /// embedding program's.
    pub fn set_global(&self) {
        global::set_meter_provider(self.meter.clone());
        global::set_text_map_propagator(TraceContextPropagator::new());
    }

    pub(crate) fn providers(&self) -> Providers {
        Providers {
            tracer: self.tracer.clone(),
            meter: self.meter.clone(),
        }
    }

    /// A meter of the installed provider, for instruments of the embedding
    /// program (the server's drift gauges, say).
    pub fn meter(&self) -> opentelemetry::metrics::Meter {
        self.meter.meter_with_scope(call::scope())
    }

    /// Whether spans are exported.
    pub fn traces_enabled(&self) -> bool {
        self.tracer.is_some()
    }

    /// A tracer from the installed provider, for spans of the embedding
    /// program (the HTTP server's, say). `None` when traces are off.
    pub fn tracer(&self) -> Option<Tracer> {
        self.tracer.clone().map(Tracer)
    }

    /// The lean span path, when traces are exported.
    pub(crate) fn lean(&self) -> Option<&Arc<Lean>> {
        self.tracer.as_ref()
    }

    /// Spans dropped so far because the export queue was full (collector
    /// slow or down) or their export failed.
    pub fn dropped_spans(&self) -> u64 {
        self.drops.queue_full.load(Ordering::Relaxed)
            + self.drops.export_failed.load(Ordering::Relaxed)
    }

    /// The metrics in the Prometheus text exposition format; `None` when
    /// [`TelemetryConfig::prometheus`] is off.
    pub fn prometheus_text(&self) -> Option<String> {
        use prometheus::Encoder as _;
        let registry = self.registry.as_ref()?;
        let mut out = Vec::new();
        // Encoding into memory fails only on names the exporter already
        // sanitised; an empty page beats a failed scrape.
        if let Err(e) = prometheus::TextEncoder::new().encode(&registry.gather(), &mut out) {
            tracing::warn!("encoding metrics: {e}");
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    /// Exports what is buffered and stops the providers. Blocks for at most
    /// a few seconds when the collector does not answer. Call it from a
    /// plain thread (`spawn_blocking` in async code): the gRPC exporter
    /// needs the runtime's other threads to make progress.
    pub fn shutdown(&self) {
        if let Some(exporter) = &self.exporter
            && let Err(e) = exporter.shutdown(Duration::from_secs(5))
        {
            tracing::warn!("flushing traces: {e}");
        }
        if let Err(e) = self.meter.shutdown_with_timeout(Duration::from_secs(5)) {
            tracing::warn!("flushing metrics: {e}");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads, which panics inside
        // async code (where a server drops its telemetry).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn resource(config: &TelemetryConfig) -> Resource {
    let mut builder = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    // The environment's service name wins; the builder's detectors read it.
    let named_by_env = env("OTEL_SERVICE_NAME").is_some()
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="));
    if !named_by_env {
        builder =
            builder.with_service_name(config.service_name.clone().unwrap_or("glassbox".into()));
    }
    builder.build()
}

/// Whether the collector answers, told in the log when that changes: once
/// when an export first fails, once when one succeeds again, and no more
/// often than every [`Outage::QUIET`] whatever the collector does. Without
/// it, an outage left no trace but the dropped-spans counter.
#[derive(Debug)]
pub(crate) struct Outage {
    signal: &'static str,
    endpoint: String,
    state: std::sync::Mutex<OutageState>,
}

#[derive(Debug, Default)]
struct OutageState {
    down: bool,
    failures: u64,
    last_logged: Option<std::time::Instant>,
}

impl Outage {
    /// The least time between two lines.
    const QUIET: Duration = Duration::from_secs(60);

    pub(crate) fn new(signal: &'static str, endpoint: Option<String>) -> Outage {
        Outage {
            signal,
            endpoint: endpoint.unwrap_or_else(|| "the OTEL_EXPORTER_OTLP_* endpoint".into()),
            state: std::sync::Mutex::default(),
        }
    }

    pub(crate) fn observe(&self, result: &OTelSdkResult) {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let quiet = s.last_logged.is_some_and(|t| t.elapsed() < Self::QUIET);
        match result {
            Err(e) => {
                s.failures += 1;
                if !s.down && !quiet {
                    s.down = true;
                    s.last_logged = Some(std::time::Instant::now());
                    tracing::warn!(
                        "{}: the collector at {} cannot be reached ({e}); what cannot be sent is \
                         dropped and counted until it is back",
                        self.signal,
                        self.endpoint
                    );
                }
            }
            Ok(()) => {
                if s.down && !quiet {
                    tracing::info!(
                        "{}: the collector at {} is reachable again ({} exports failed meanwhile)",
                        self.signal,
                        self.endpoint,
                        s.failures
                    );
                    s.down = false;
                    s.failures = 0;
                    s.last_logged = Some(std::time::Instant::now());
                }
            }
        }
    }
}

/// A metrics exporter whose outages are logged (see [`Outage`]).
#[derive(Debug)]
struct WatchedMetrics<E> {
    inner: E,
    outage: Outage,
}

impl<E: PushMetricExporter> PushMetricExporter for WatchedMetrics<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.outage.observe(&result);
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_told_once_and_its_end_once() {
        let outage = Outage::new("traces", Some("http://127.0.0.1:9".into()));
        let down: OTelSdkResult = Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
            "connection refused".into(),
        ));
        for _ in 0..100 {
            outage.observe(&down);
        }
        {
            let s = outage.state.lock().unwrap();
            assert!(s.down);
            assert_eq!(s.failures, 100);
        }
        // Back within the quiet time: not told yet, still counted as down.
        outage.observe(&Ok(()));
        assert!(outage.state.lock().unwrap().down);
        // After it, the recovery is told (and the state reset).
        outage.state.lock().unwrap().last_logged =
            Some(std::time::Instant::now() - Outage::QUIET - Duration::from_secs(1));
        outage.observe(&Ok(()));
        let s = outage.state.lock().unwrap();
        assert!(!s.down);
        assert_eq!(s.failures, 0);
    }
}
