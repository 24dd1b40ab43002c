//! The exporter thread of the lean span path: takes batches of finished
//! spans from the queue, encodes each as one OTLP
//! `ExportTraceServiceRequest` and sends it to the collector over gRPC or
//! HTTP/protobuf.
//!
//! One thread, with a one-thread tokio runtime for hyper's client, does all
//! of it: scoring threads only push records into the queue. Its settings
//! are the standard `OTEL_EXPORTER_OTLP_*` and `OTEL_BSP_*` variables, read
//! as the OpenTelemetry SDK and its OTLP exporter read them.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Request, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::install::{Outage, env};
use super::lean::Queue;
use super::otlp::{Envelope, encode_request};
use super::{Protocol, TelemetryConfig, TelemetryError};

/// The gRPC method OTLP trace export calls.
const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Where and how spans are sent.
#[derive(Debug, Clone)]
pub(crate) struct ExportConfig {
    pub(crate) protocol: Protocol,
    /// The full URL requests go to.
    pub(crate) url: Uri,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// A request's time limit (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s).
    pub(crate) timeout: Duration,
    /// `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`.
    pub(crate) gzip: bool,
    /// How long a span may wait for a batch to fill
    /// (`OTEL_BSP_SCHEDULE_DELAY`, 5 s).
    pub(crate) schedule_delay: Duration,
}

/// The signal-specific variable when set, else the general one.
fn traces_env(general: &str) -> Option<(String, String)> {
    let specific = general.replacen("OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_TRACES_", 1);
    env(&specific)
        .map(|v| (specific, v))
        .or_else(|| env(general).map(|v| (general.to_string(), v)))
}

fn milliseconds(name: &str, value: &str) -> Result<Duration, TelemetryError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| {
            TelemetryError::Config(format!(
                "{name} is `{value}`; it must be a whole number of milliseconds"
            ))
        })
}

/// `key=value,key=value`, values percent-decoded (the OTLP exporter
/// specification's format). A malformed entry is skipped with a warning, as
/// the OpenTelemetry exporters do.
fn parse_headers(name: &str, value: &str, into: &mut Vec<(HeaderName, HeaderValue)>) {
    for entry in value.split(',').filter(|e| !e.trim().is_empty()) {
        let parsed = entry.split_once('=').and_then(|(k, v)| {
            let key = HeaderName::from_bytes(k.trim().as_bytes()).ok()?;
            let value = HeaderValue::from_bytes(&percent_decode(v.trim())).ok()?;
            Some((key, value))
        });
        match parsed {
            Some((key, value)) => {
                into.retain(|(k, _)| *k != key);
                into.push((key, value));
            }
            None => tracing::warn!("{name}: `{entry}` is not a valid `key=value` header; skipped"),
        }
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(&a), Some(&b)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(a), Some(b)) = (hex(a), hex(b))
        {
            out.push((a * 16 + b) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

impl ExportConfig {
    /// The settings from the environment, then `config`, then the
    /// defaults. Errors name the variable and the problem.
    pub(crate) fn new(
        config: &TelemetryConfig,
        protocol: Protocol,
    ) -> Result<ExportConfig, TelemetryError> {
        let (name, url) = if let Some(url) = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            // The signal's own endpoint is used verbatim over HTTP.
            let url = match protocol {
                Protocol::Grpc => grpc_url(&url),
                Protocol::HttpProtobuf => url,
            };
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url)
        } else {
            let (name, base) = match env("OTEL_EXPORTER_OTLP_ENDPOINT") {
                Some(base) => ("OTEL_EXPORTER_OTLP_ENDPOINT", base),
                None => (
                    "telemetry.otlp_endpoint",
                    config
                        .otlp_endpoint
                        .clone()
                        .unwrap_or_else(|| match protocol {
                            Protocol::Grpc => "http://localhost:4317".into(),
                            Protocol::HttpProtobuf => "http://localhost:4318".into(),
                        }),
                ),
            };
            let url = match protocol {
                Protocol::Grpc => grpc_url(&base),
                Protocol::HttpProtobuf => format!("{}/v1/traces", base.trim_end_matches('/')),
            };
            (name, url)
        };
        let url: Uri = url
            .parse()
            .map_err(|e| TelemetryError::Config(format!("{name}: `{url}` is not a URL: {e}")))?;
        match url.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(TelemetryError::Config(format!(
                    "{name}: `{url}` asks for TLS, which this build's OTLP exporter does not \
                     speak; send to a collector on the node over `http://` (its own exporter \
                     can use TLS onwards)"
                )));
            }
            _ => {
                return Err(TelemetryError::Config(format!(
                    "{name}: `{url}` must start with http://"
                )));
            }
        }
        let mut headers = Vec::new();
        if let Some(h) = env("OTEL_EXPORTER_OTLP_HEADERS") {
            parse_headers("OTEL_EXPORTER_OTLP_HEADERS", &h, &mut headers);
        }
        if let Some(h) = env("OTEL_EXPORTER_OTLP_TRACES_HEADERS") {
            parse_headers("OTEL_EXPORTER_OTLP_TRACES_HEADERS", &h, &mut headers);
        }
        let timeout = match traces_env("OTEL_EXPORTER_OTLP_TIMEOUT") {
            Some((name, v)) => milliseconds(&name, &v)?,
            None => Duration::from_secs(10),
        };
        let gzip = match traces_env("OTEL_EXPORTER_OTLP_COMPRESSION") {
            Some((name, v)) => match v.trim() {
                "gzip" => true,
                "none" => false,
                other => {
                    return Err(TelemetryError::Config(format!(
                        "{name} is `{other}`; use `gzip` or `none`"
                    )));
                }
            },
            None => false,
        };
        let schedule_delay = match env("OTEL_BSP_SCHEDULE_DELAY") {
            Some(v) => milliseconds("OTEL_BSP_SCHEDULE_DELAY", &v)?,
            None => Duration::from_secs(5),
        };
        Ok(ExportConfig {
            protocol,
            url,
            headers,
            timeout,
            gzip,
            schedule_delay,
        })
    }
}

fn grpc_url(base: &str) -> String {
    format!("{}{GRPC_PATH}", base.trim_end_matches('/'))
}

/// Sends encoded requests.
struct Transport {
    client: Client<HttpConnector, Full<Bytes>>,
    config: ExportConfig,
}

impl Transport {
    fn new(config: ExportConfig) -> Transport {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.timeout));
        let mut builder = Client::builder(TokioExecutor::new());
        if config.protocol == Protocol::Grpc {
            builder.http2_only(true);
        }
        Transport {
            client: builder.build(connector),
            config,
        }
    }

    /// Sends one encoded `ExportTraceServiceRequest`.
    async fn send(&self, message: &[u8]) -> Result<(), String> {
        let c = &self.config;
        let payload = if c.gzip {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(message.len() / 4),
                flate2::Compression::fast(),
            );
            gz.write_all(message)
                .and_then(|()| gz.finish())
                .map_err(|e| format!("compressing: {e}"))?
        } else {
            message.to_vec()
        };
        let mut request = Request::post(c.url.clone());
        let body = match c.protocol {
            Protocol::Grpc => {
                let mut framed = Vec::with_capacity(payload.len() + 5);
                framed.push(u8::from(c.gzip));
                framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                framed.extend_from_slice(&payload);
                request = request
                    .header("content-type", "application/grpc")
                    .header("te", "trailers")
                    .header("grpc-timeout", format!("{}m", c.timeout.as_millis()));
                if c.gzip {
                    request = request.header("grpc-encoding", "gzip");
                }
                framed
            }
            Protocol::HttpProtobuf => {
                request = request.header("content-type", "application/x-protobuf");
                if c.gzip {
                    request = request.header("content-encoding", "gzip");
                }
                payload
            }
        };
        let mut request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("building the request: {e}"))?;
        for (k, v) in &c.headers {
            request.headers_mut().insert(k.clone(), v.clone());
        }
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("sending: {}", error_chain(&e)))?;
            let status = response.status();
            let (parts, body) = response.into_parts();
            let collected = body
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?;
            match c.protocol {
                Protocol::HttpProtobuf if status.is_success() => Ok(()),
                Protocol::HttpProtobuf => {
                    let body = collected.to_bytes();
                    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                    Err(format!("HTTP {status}: {text}"))
                }
                Protocol::Grpc => {
                    if status != 200 {
                        return Err(format!("HTTP {status} from a gRPC endpoint"));
                    }
                    let trailers = collected.trailers().cloned().unwrap_or_default();
                    let find = |name: &str| {
                        parts
                            .headers
                            .get(name)
                            .or_else(|| trailers.get(name))
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    match find("grpc-status").as_deref() {
                        Some("0") => Ok(()),
                        Some(code) => Err(format!(
                            "gRPC status {code}: {}",
                            find("grpc-message").unwrap_or_default()
                        )),
                        None => Err("the answer has no gRPC status".into()),
                    }
                }
            }
        };
        match tokio::time::timeout(c.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", c.timeout.as_millis())),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The running exporter thread.
#[derive(Debug)]
pub(crate) struct Exporter {
    queue: Arc<Queue>,
    stop: Arc<AtomicBool>,
    done: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Exporter {
    /// Starts the thread `glassbox-spans`.
    pub(crate) fn spawn(
        queue: Arc<Queue>,
        config: ExportConfig,
        envelope: Envelope,
        outage: Outage,
    ) -> Result<Exporter, TelemetryError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = std::sync::mpsc::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TelemetryError::Exporter(format!("tokio runtime: {e}")))?;
        let (q, s) = (queue.clone(), stop.clone());
        std::thread::Builder::new()
            .name("glassbox-spans".into())
            .spawn(move || {
                runtime.block_on(run(q, s, config, envelope, outage));
                let _ = done_tx.send(());
            })
            .map_err(|e| TelemetryError::Exporter(format!("exporter thread: {e}")))?;
        Ok(Exporter {
            queue,
            stop,
            done: Mutex::new(Some(done)),
        })
    }

    /// Exports what is queued and stops, waiting at most `timeout`. Spans
    /// ended later are dropped and counted.
    pub(crate) fn shutdown(&self, timeout: Duration) -> Result<(), String> {
        let Some(done) = self
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Ok(());
        };
        self.stop.store(true, Ordering::Release);
        self.queue.wake.notify_one();
        let result = done
            .recv_timeout(timeout)
            .map_err(|_| format!("spans still unsent after {} s", timeout.as_secs()));
        self.queue.closed.store(true, Ordering::Relaxed);
        result
    }
}

async fn run(
    queue: Arc<Queue>,
    stop: Arc<AtomicBool>,
    config: ExportConfig,
    envelope: Envelope,
    outage: Outage,
) {
    let delay = config.schedule_delay;
    let transport = Transport::new(config);
    // Two buffers take turns: the queue fills one while this thread
    // exports the other.
    let mut taken = Vec::with_capacity(queue.capacity.min(4096));
    let (mut message, mut scratch) = (Vec::new(), Vec::new());
    loop {
        let stopping = stop.load(Ordering::Acquire);
        if !stopping {
            tokio::select! {
                () = queue.wake.notified() => {}
                () = tokio::time::sleep(delay) => {}
            }
        }
        // Everything queued goes, a batch per request.
        loop {
            queue.take(&mut taken);
            if taken.is_empty() {
                break;
            }
            for batch in taken.chunks(queue.batch) {
                encode_request(&envelope, batch, &mut message, &mut scratch);
                let result = transport.send(&message).await;
                if result.is_err() {
                    let n = batch.len() as u64;
                    queue.drops.export_failed.fetch_add(n, Ordering::Relaxed);
                }
                outage.observe(
                    &result.map_err(opentelemetry_sdk::error::OTelSdkError::InternalFailure),
                );
                queue.in_flight.fetch_sub(batch.len(), Ordering::Relaxed);
            }
            taken.clear();
        }
        if stopping || (stop.load(Ordering::Acquire) && queue.is_empty()) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_key_value_pairs_percent_decoded() {
        let mut h = Vec::new();
        parse_headers("X", "api-key=a%20b%2Cc, tenant = t1 ,broken,=x", &mut h);
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h[0].0, "api-key");
        assert_eq!(h[0].1, "a b,c");
        assert_eq!(h[1].0, "tenant");
        assert_eq!(h[1].1, "t1");
        // A later variable overrides a key.
        parse_headers("Y", "tenant=t2", &mut h);
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].1, "t2");
    }
}
