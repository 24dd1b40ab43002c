//! Traces and metrics, checked at real receivers: glassbox exports OTLP to a
//! real collector (rotel), which forwards it to an OTLP/gRPC server in this
//! harness built on the official protobuf definitions; a real Prometheus
//! scrapes `glassbox serve`.
//!
//! `.ci/run` starts both (`scripts/test-services.sh start`) and sets
//! `GLASSBOX_REQUIRE_SERVICES=1`, so in CI these tests cannot skip. Run
//! without the services, they say so on stderr and pass.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use glassbox::telemetry::{Protocol, Telemetry, TelemetryConfig, names};
use glassbox::{EngineBuilder, examples};
use opentelemetry::trace::{TraceContextExt as _, Tracer as _};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use serde_json::{Value, json};
use tonic::codec::CompressionEncoding;

/// Where the services started by `scripts/test-services.sh` listen.
struct Services {
    otlp_grpc: String,
    otlp_http: String,
    prometheus: String,
    targets: PathBuf,
    sink: &'static Sink,
}

/// The services, or `None` (with a note) when they are not running and not
/// required.
fn services() -> Option<Services> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let required = var("GLASSBOX_REQUIRE_SERVICES").is_some_and(|v| v == "1");
    let found = (|| {
        Some((
            var("GLASSBOX_TEST_OTLP_GRPC")?,
            var("GLASSBOX_TEST_OTLP_HTTP")?,
            var("GLASSBOX_TEST_OTLP_SINK")?,
            var("GLASSBOX_TEST_PROMETHEUS")?,
            var("GLASSBOX_TEST_PROMETHEUS_TARGETS")?,
        ))
    })();
    let Some((otlp_grpc, otlp_http, sink, prometheus, targets)) = found else {
        assert!(
            !required,
            "GLASSBOX_REQUIRE_SERVICES=1 but the GLASSBOX_TEST_* variables are not set: \
             run `eval \"$(scripts/test-services.sh start)\"` first"
        );
        eprintln!(
            "skipped: no collector or Prometheus (run `eval \"$(scripts/test-services.sh start)\"`)"
        );
        return None;
    };
    Some(Services {
        otlp_grpc,
        otlp_http,
        prometheus,
        targets: targets.into(),
        sink: Sink::get(sink.parse().expect("GLASSBOX_TEST_OTLP_SINK is host:port")),
    })
}

/// A name no other test (or earlier run) uses, to pick out this test's data
/// at the shared receiver.
fn unique(what: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{what}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A span as received, flattened.
#[derive(Clone, Debug)]
struct GotSpan {
    service: String,
    resource: BTreeMap<String, String>,
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    kind: i32,
    attrs: BTreeMap<String, String>,
    events: Vec<(String, BTreeMap<String, String>)>,
    /// 0 unset, 1 ok, 2 error.
    status: i32,
}

/// One sum data point as received.
#[derive(Clone, Debug)]
struct GotPoint {
    service: String,
    metric: String,
    attrs: BTreeMap<String, String>,
    value: f64,
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The OTLP/gRPC server rotel forwards to: one per test process, bound to
/// the port `scripts/test-services.sh` gave rotel.
#[derive(Default)]
struct Sink {
    spans: Mutex<Vec<GotSpan>>,
    points: Mutex<Vec<GotPoint>>,
}

#[derive(Clone)]
struct SinkService(&'static Sink);

#[tonic::async_trait]
impl TraceService for SinkService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut got = Vec::new();
        for rs in request.into_inner().resource_spans {
            let resource = rs
                .resource
                .map(|r| attrs(&r.attributes))
                .unwrap_or_default();
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    got.push(GotSpan {
                        service: service.clone(),
                        resource: resource.clone(),
                        name: s.name,
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent: hex(&s.parent_span_id),
                        kind: s.kind,
                        attrs: attrs(&s.attributes),
                        events: s
                            .events
                            .iter()
                            .map(|e| (e.name.clone(), attrs(&e.attributes)))
                            .collect(),
                        status: s.status.map_or(0, |st| st.code),
                    });
                }
            }
        }
        self.0.spans.lock().unwrap().extend(got);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for SinkService {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let mut got = Vec::new();
        for rm in request.into_inner().resource_metrics {
            let resource = rm
                .resource
                .map(|r| attrs(&r.attributes))
                .unwrap_or_default();
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for sm in rm.scope_metrics {
                for m in sm.metrics {
                    if let Some(metric::Data::Sum(sum)) = &m.data {
                        for p in &sum.data_points {
                            let value = match p.value {
                                Some(number_data_point::Value::AsInt(i)) => i as f64,
                                Some(number_data_point::Value::AsDouble(d)) => d,
                                None => continue,
                            };
                            got.push(GotPoint {
                                service: service.clone(),
                                metric: m.name.clone(),
                                attrs: attrs(&p.attributes),
                                value,
                            });
                        }
                    }
                }
            }
        }
        self.0.points.lock().unwrap().extend(got);
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

impl Sink {
    fn get(addr: SocketAddr) -> &'static Sink {
        static SINK: OnceLock<&'static Sink> = OnceLock::new();
        SINK.get_or_init(|| {
            let sink: &'static Sink = Box::leak(Box::default());
            let (ready, bound) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind(addr)
                        .await
                        .unwrap_or_else(|e| panic!("binding the OTLP sink on {addr}: {e}"));
                    ready.send(()).unwrap();
                    // rotel gzips everything it exports.
                    tonic::transport::Server::builder()
                        .add_service(
                            TraceServiceServer::new(SinkService(sink))
                                .accept_compressed(CompressionEncoding::Gzip),
                        )
                        .add_service(
                            MetricsServiceServer::new(SinkService(sink))
                                .accept_compressed(CompressionEncoding::Gzip),
                        )
                        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(
                            listener,
                        ))
                        .await
                        .expect("the OTLP sink serves");
                });
            });
            bound
                .recv_timeout(Duration::from_secs(10))
                .expect("the OTLP sink starts");
            sink
        })
    }

    /// Waits (up to 30 s) until `done` holds for the spans of `service`.
    fn spans(&self, service: &str, done: impl Fn(&[GotSpan]) -> bool) -> Vec<GotSpan> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mine: Vec<GotSpan> = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.service == service)
                .cloned()
                .collect();
            if done(&mine) || Instant::now() > deadline {
                return mine;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (up to 30 s) for a data point of `metric` from `service`.
    fn points(&self, service: &str, metric: &str) -> Vec<GotPoint> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mine: Vec<GotPoint> = self
                .points
                .lock()
                .unwrap()
                .iter()
                .filter(|p| p.service == service && p.metric == metric)
                .cloned()
                .collect();
            if !mine.is_empty() || Instant::now() > deadline {
                return mine;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn friedman_row(x0: Value) -> glassbox::Row {
    let mut row = json!({
        "x0": 0.5, "x1": 0.5, "x2": 0.5, "x3": 0.5, "x4": 0.5,
        "x5": 0.5, "x6": 0.5, "x7": 0.5, "x8": 0.5, "x9": 0.5,
    });
    row["x0"] = x0;
    row.as_object().unwrap().clone()
}

fn score_spans(spans: &[GotSpan]) -> Vec<&GotSpan> {
    spans.iter().filter(|s| s.name == names::SPAN).collect()
}

/// Library calls over both OTLP protocols: a span per call, under the
/// caller's span, with the model's identity, outcome, guest use and
/// contract violations; and the metrics pushed over OTLP.
fn library_exports(protocol: Protocol) {
    let Some(services) = services() else { return };
    let service = unique("library");
    let telemetry = Telemetry::install(&TelemetryConfig {
        otlp_endpoint: Some(match protocol {
            Protocol::Grpc => services.otlp_grpc.clone(),
            Protocol::HttpProtobuf => services.otlp_http.clone(),
        }),
        otlp_protocol: Some(protocol),
        service_name: Some(service.clone()),
        ..TelemetryConfig::default()
    })
    .expect("telemetry installs");
    assert!(telemetry.traces_enabled());
    let engine = EngineBuilder::default()
        .telemetry(&telemetry)
        .build()
        .unwrap();
    let model = engine.load(examples::FRIEDMAN_TREE.component).unwrap();
    let tracer = telemetry.tracer().unwrap();
    let (parent_trace, parent_span) = tracer.in_span("caller", |cx| {
        let rows: Vec<_> = (0..3).map(|_| friedman_row(json!(0.25))).collect();
        model.score_rows(&rows).expect("good rows score");
        let bad = [friedman_row(json!(0.1)), friedman_row(json!("high"))];
        model
            .score_rows(&bad)
            .expect_err("a string for x0 is refused");
        let sc = cx.span().span_context().clone();
        (sc.trace_id().to_string(), sc.span_id().to_string())
    });
    telemetry.shutdown();

    let spans = services.sink.spans(&service, |s| score_spans(s).len() >= 2);
    let scored = score_spans(&spans);
    assert_eq!(scored.len(), 2, "two scoring spans: {spans:#?}");
    for s in &scored {
        assert_eq!(s.trace_id, parent_trace, "in the caller's trace: {s:#?}");
        assert_eq!(
            s.parent, parent_span,
            "a child of the caller's span: {s:#?}"
        );
        assert_eq!(s.kind, 1, "internal");
        assert_eq!(s.attrs[names::MODEL_NAME], "friedman-tree");
        assert_eq!(s.attrs[names::MODEL_VERSION], "1.0.0");
        assert_eq!(
            s.attrs[names::MODEL_DIGEST],
            format!("sha256:{}", model.digest())
        );
    }
    let ok = scored
        .iter()
        .find(|s| s.attrs[names::OUTCOME] == "ok")
        .expect("an ok span");
    assert_eq!(ok.attrs[names::BATCH_ROWS], "3");
    assert_eq!(ok.status, 0, "unset status when ok");
    assert_eq!(
        ok.attrs[names::GUEST_DEADLINE_TICKS],
        "100",
        "1 s of 10 ms ticks"
    );
    assert!(ok.attrs[names::GUEST_TICKS].parse::<u64>().unwrap() <= 100);
    assert!(ok.attrs[names::GUEST_MEMORY].parse::<u64>().unwrap() >= 64 << 10);
    let refused = scored
        .iter()
        .find(|s| s.attrs[names::OUTCOME] == "invalid_input")
        .expect("a refused span");
    assert_eq!(refused.attrs[names::BATCH_ROWS], "2");
    assert_eq!(refused.attrs[names::ERROR_TYPE], "invalid_input");
    assert_eq!(refused.events.len(), 1, "{refused:#?}");
    let (event, at) = &refused.events[0];
    assert_eq!(event, names::VIOLATION_EVENT);
    assert_eq!(at[names::VIOLATION_ROW], "1");
    assert_eq!(at[names::FIELD], "x0");
    assert_eq!(at[names::VIOLATION_EXPECTED], "a number");

    // Metrics: the shutdown flushed them over OTLP too.
    let calls = services.sink.points(&service, names::CALLS);
    let total = |outcome: &str| -> f64 {
        calls
            .iter()
            .filter(|p| p.attrs.get(names::OUTCOME).map(String::as_str) == Some(outcome))
            .map(|p| p.value)
            .fold(0.0, f64::max)
    };
    assert_eq!(total("ok"), 1.0, "{calls:#?}");
    assert_eq!(total("invalid_input"), 1.0, "{calls:#?}");
    let violations = services.sink.points(&service, names::VIOLATIONS);
    assert!(
        violations
            .iter()
            .any(|p| p.attrs[names::FIELD] == "x0" && p.value == 1.0),
        "{violations:#?}"
    );
}

#[test]
fn library_calls_are_traced_over_otlp_grpc() {
    library_exports(Protocol::Grpc);
}

#[test]
fn library_calls_are_traced_over_otlp_http() {
    library_exports(Protocol::HttpProtobuf);
}

/// `glassbox score` reads the standard variables and flushes before exit.
#[test]
fn the_score_command_is_traced_over_otlp_grpc() {
    score_command_exports(Protocol::Grpc);
}

/// Over HTTP the exporter's TLS client needs a crypto provider, which a
/// process without OCI sources used to lack: the command panicked.
#[test]
fn the_score_command_is_traced_over_otlp_http() {
    score_command_exports(Protocol::HttpProtobuf);
}

fn score_command_exports(protocol: Protocol) {
    let Some(services) = services() else { return };
    let service = unique("cli");
    let (endpoint, name) = match protocol {
        Protocol::Grpc => (&services.otlp_grpc, "grpc"),
        Protocol::HttpProtobuf => (&services.otlp_http, "http/protobuf"),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["score", "friedman-tree", "--no-cache"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", name)
        .env("OTEL_SERVICE_NAME", &service)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows = String::from_utf8(out.stdout).unwrap().lines().count();
    let spans = services
        .sink
        .spans(&service, |s| !score_spans(s).is_empty());
    let scored = score_spans(&spans);
    assert_eq!(scored.len(), 1, "{spans:#?}");
    assert_eq!(scored[0].attrs[names::BATCH_ROWS], rows.to_string());
    assert_eq!(scored[0].attrs[names::OUTCOME], "ok");
    assert_eq!(scored[0].parent, "", "a root span");
}

/// Kills a child process when dropped, so a failed assertion leaves no
/// server behind.
struct Running(Child, String);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `glassbox serve` on a free port with `env`; returns it and its
/// address once it listens.
fn serve_binary(env: &[(&str, &str)]) -> Running {
    serve_binary_with(&[], env, None)
}

/// [`serve_binary`] with more arguments, collecting its stderr lines into
/// `log` when given.
fn serve_binary_with(
    args: &[&str],
    env: &[(&str, &str)],
    log: Option<Arc<Mutex<Vec<String>>>>,
) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_glassbox"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--no-cache"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(if log.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    if let Some(log) = log {
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        });
    }
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("listening on http://") {
        if stdout.read_line(&mut banner).unwrap() == 0 {
            let _ = child.kill();
            panic!("glassbox serve exited: {banner}");
        }
    }
    let addr = banner
        .split("listening on http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Running(child, addr)
}

/// An HTTP request continues the caller's trace (W3C `traceparent`), gets a
/// server span per the HTTP conventions that parents the scoring span
/// (`GLASSBOX_SERVER_SPANS=separate`), and the response names the trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_continue_the_callers_trace() {
    let Some(services) = services() else { return };
    let service = unique("http");
    let server = serve_binary(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &services.otlp_grpc),
        ("OTEL_SERVICE_NAME", &service),
        ("GLASSBOX_SERVER_SPANS", "separate"),
    ]);
    let trace_id = format!("{:032x}", rand_u128());
    let caller_span = "00f067aa0ba902b7";
    let client = reqwest::Client::new();
    let inputs: Vec<Value> = (0..10)
        .map(|i| json!({"name": format!("x{i}"), "datatype": "FP64", "shape": [2], "data": [0.5, 0.25]}))
        .collect();
    let response = client
        .post(format!("http://{}/v2/models/friedman-tree/infer", server.1))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .header("user-agent", "glassbox-test")
        .json(&json!({ "inputs": inputs }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header = response
        .headers()
        .get(names::TRACE_RESPONSE_HEADER)
        .expect("a traceresponse header")
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        header.starts_with(&format!("00-{trace_id}-")) && header.ends_with("-01"),
        "{header}"
    );
    // A refused request: 400, a scoring span with the violation.
    let mut bad = inputs.clone();
    bad[3]["data"] = json!([0.5, "x"]);
    let refused = client
        .post(format!("http://{}/v2/models/friedman-tree/infer", server.1))
        .json(&json!({ "inputs": bad }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    let spans =
        tokio::task::spawn_blocking(move || services.sink.spans(&service, |s| s.len() >= 4))
            .await
            .unwrap();
    let server_span = spans
        .iter()
        .find(|s| s.trace_id == trace_id && s.kind == 2)
        .unwrap_or_else(|| panic!("a server span in the caller's trace: {spans:#?}"));
    assert_eq!(server_span.name, "POST /v2/models/{name}/infer");
    assert_eq!(server_span.parent, caller_span);
    assert_eq!(server_span.attrs["http.request.method"], "POST");
    assert_eq!(server_span.attrs["http.route"], "/v2/models/{name}/infer");
    assert_eq!(
        server_span.attrs["url.path"],
        "/v2/models/friedman-tree/infer"
    );
    assert_eq!(server_span.attrs["http.response.status_code"], "200");
    assert_eq!(server_span.attrs["user_agent.original"], "glassbox-test");
    assert!(header.contains(&server_span.span_id), "{header}");
    let score = spans
        .iter()
        .find(|s| s.name == names::SPAN && s.trace_id == trace_id)
        .expect("the scoring span in the same trace");
    assert_eq!(score.parent, server_span.span_id);
    assert_eq!(score.attrs[names::BATCH_ROWS], "2");
    assert_eq!(score.attrs[names::OUTCOME], "ok");

    let refused_server = spans
        .iter()
        .find(|s| s.kind == 2 && s.attrs["http.response.status_code"] == "400")
        .expect("the refused request's server span");
    assert_eq!(refused_server.status, 0, "a 4xx is not a server error");
    let refused_score = spans
        .iter()
        .find(|s| s.name == names::SPAN && s.parent == refused_server.span_id)
        .expect("the refused request's scoring span");
    assert_eq!(refused_score.attrs[names::OUTCOME], "invalid_input");
    let (_, event) = &refused_score.events[0];
    assert_eq!(event[names::FIELD], "x3");
    assert_eq!(event[names::VIOLATION_ROW], "1");
    drop(server);
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    let mut h = state.build_hasher();
    h.write_u64(1);
    let a = h.finish();
    let mut h = state.build_hasher();
    h.write_u64(2);
    (u128::from(a) << 64) | u128::from(h.finish())
}

/// Prometheus scrapes `/metrics` and answers PromQL over glassbox's metrics
/// with the counts of what was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_metrics() {
    let Some(services) = services() else { return };
    let server = serve_binary(&[]);
    let client = reqwest::Client::new();
    let predict = format!("http://{}/v1/models/friedman-tree:predict", server.1);
    for _ in 0..7 {
        let r = client
            .post(&predict)
            .json(&json!({"instances": [friedman_row(json!(0.3)), friedman_row(json!(0.6))]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    for _ in 0..2 {
        let r = client
            .post(&predict)
            .json(&json!({"instances": [friedman_row(json!("a")), friedman_row(json!(0.6))]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
    // Register the server with Prometheus' file discovery (rename, so it
    // never reads half a file).
    let file = services.targets.join(format!("{}.json", unique("serve")));
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, json!([{"targets": [server.1]}]).to_string()).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _remove = Remove(file);

    let query = |q: String| {
        let client = client.clone();
        let url = format!("{}/api/v1/query", services.prometheus);
        async move {
            let body: Value = client
                .get(url)
                .query(&[("query", q)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(body["status"], "success", "{body}");
            body["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        }
    };
    let instance = server.1.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let targets: Value = client
            .get(format!("{}/api/v1/targets", services.prometheus))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let up = targets["data"]["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["labels"]["instance"] == instance.as_str() && t["health"] == "up");
        // Up means scraped once; the query needs that scrape's samples.
        if up
            && !query(format!(
                "glassbox_score_calls_total{{instance=\"{instance}\"}}"
            ))
            .await
            .is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped {instance}: {targets}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let value = |result: &[Value]| -> f64 {
        assert_eq!(result.len(), 1, "{result:?}");
        result[0]["value"][1].as_str().unwrap().parse().unwrap()
    };
    let sel = format!(
        "instance=\"{instance}\",glassbox_model_name=\"friedman-tree\",glassbox_model_version=\"1.0.0\""
    );
    let ok = query(format!(
        "sum(glassbox_score_calls_total{{{sel},glassbox_outcome=\"ok\"}})"
    ))
    .await;
    assert_eq!(value(&ok), 7.0);
    let rows = query(format!(
        "sum(glassbox_score_rows_total{{{sel},glassbox_outcome=\"ok\"}})"
    ))
    .await;
    assert_eq!(value(&rows), 14.0);
    let refused = query(format!(
        "sum(glassbox_score_calls_total{{{sel},glassbox_outcome=\"invalid_input\"}})"
    ))
    .await;
    assert_eq!(value(&refused), 2.0);
    let by_field = query(format!(
        "sum by (glassbox_field) (glassbox_contract_violations_total{{{sel}}})"
    ))
    .await;
    assert_eq!(by_field.len(), 1, "{by_field:?}");
    assert_eq!(by_field[0]["metric"]["glassbox_field"], "x0");
    assert_eq!(value(&by_field), 2.0);
    let latency = query(format!(
        "sum(glassbox_score_duration_seconds_count{{{sel}}})"
    ))
    .await;
    assert_eq!(value(&latency), 9.0);
    drop(server);
}

/// With the collector down, scoring goes on, the server's memory stays flat
/// and the dropped spans are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoring_goes_on_with_the_collector_down() {
    // A port nothing listens on: bind one, then let it go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = serve_binary_with(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{closed}")),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "256"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
        Some(log.clone()),
    );
    let pid = server.0.id();
    let rss = move || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            << 10
    };
    let predict = Arc::new(format!(
        "http://{}/v1/models/friedman-tree:predict",
        server.1
    ));
    let body = Arc::new(json!({"instances": [friedman_row(json!(0.3))]}).to_string());
    let send = |n: usize| {
        let (predict, body) = (predict.clone(), body.clone());
        async move {
            let client = reqwest::Client::new();
            let tasks: Vec<_> = (0..4)
                .map(|_| {
                    let (client, predict, body) = (client.clone(), predict.clone(), body.clone());
                    tokio::spawn(async move {
                        for _ in 0..n / 4 {
                            let r = client
                                .post(predict.as_str())
                                .header("content-type", "application/json")
                                .body(body.to_string())
                                .send()
                                .await
                                .unwrap();
                            assert_eq!(r.status(), 200);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }
    };
    send(2_000).await;
    let warm = rss();
    send(8_000).await;
    let after = rss();
    assert!(
        after < warm + (16 << 20),
        "RSS grew from {} to {} MiB over 8,000 requests",
        warm >> 20,
        after >> 20
    );
    let metrics = reqwest::get(format!("http://{}/metrics", server.1))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dropped: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("glassbox_telemetry_spans_dropped_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    // 10,000 requests made 10,000 spans (one per request); at most 256
    // wait in the queue.
    assert!(dropped > 9_700.0, "dropped {dropped}:\n{metrics}");
    let ok: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("glassbox_score_calls_total{")
                && l.contains("glassbox_outcome=\"ok\"")
                && l.contains("friedman-tree")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(ok, 10_000.0);
    drop(server);
    // The outage is told once, not once per failed export.
    let log = log.lock().unwrap();
    let told: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("traces: the collector at") && l.contains("cannot be reached"))
        .collect();
    assert_eq!(told.len(), 1, "{log:#?}");
}

/// A change of a model's health is a log line and a span event, both
/// naming the owner its expectations declare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_changes_are_logged_and_traced_naming_the_owner() {
    let Some(services) = services() else { return };
    let dir = std::env::temp_dir().join(unique("health"));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("churn.wasm");
    std::fs::write(&model, crate::monitor::churn_with_expectations_component()).unwrap();
    let config = dir.join("serve.toml");
    std::fs::write(&config, "[monitor]\ncheck_seconds = 1\n").unwrap();
    let service = unique("health");
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = serve_binary_with(
        &[
            model.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &services.otlp_grpc),
            ("OTEL_SERVICE_NAME", &service),
        ],
        Some(log.clone()),
    );
    // Drifted rows: some devices outside the expected ones, a soft
    // expectation, which moves the health.
    let client = reqwest::Client::new();
    let rows = crate::util::jsonl(&format!(
        "{}/churn_coltrans_rf.drifted.jsonl",
        glassbox_fixtures::SKLEARN
    ));
    for row in rows {
        let r = client
            .post(format!("http://{}/v1/models/churn:predict", server.1))
            .json(&json!({ "instances": [row] }))
            .send()
            .await
            .unwrap();
        assert!(r.status() == 200 || r.status() == 400, "{}", r.status());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let line = loop {
        let found = log
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains("model churn 1.0.0: health ok -> "))
            .cloned();
        if let Some(line) = found {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "no health change logged: {:#?}",
            log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        line.contains("(owner churn-team <churn@example.com>)"),
        "{line}"
    );
    assert!(line.contains("`device`"), "{line}");
    // The soft expectation's violation rate is a metric too.
    let metrics = client
        .get(format!("http://{}/metrics", server.1))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rate: f64 = metrics
        .lines()
        .find(|l| {
            l.starts_with("glassbox_expectation_violation_rate{")
                && l.contains("glassbox_field=\"device\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no device violation rate in {metrics}"))
        .parse()
        .unwrap();
    assert!(rate > 0.0 && rate < 0.1, "{rate}");
    let spans = tokio::task::spawn_blocking(move || {
        services
            .sink
            .spans(&service, |s| s.iter().any(|s| s.name == names::HEALTH_SPAN))
    })
    .await
    .unwrap();
    let span = spans
        .iter()
        .find(|s| s.name == names::HEALTH_SPAN)
        .expect("a health span");
    assert_eq!(span.attrs[names::MODEL_NAME], "churn");
    let (event, attrs) = &span.events[0];
    assert_eq!(event, names::HEALTH_EVENT);
    assert_eq!(attrs[names::HEALTH_FROM], "ok");
    assert_ne!(attrs[names::HEALTH_TO], "ok");
    assert_eq!(attrs[names::OWNER], "churn-team");
    assert_eq!(attrs[names::CONTACT], "churn@example.com");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// By default a request is one span: the server span, continuing the
/// caller's trace, carries the scoring call's attributes and events. The
/// exporter is configured by the config file here (`[telemetry]`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_one_span_by_default() {
    let Some(services) = services() else { return };
    let service = unique("merged");
    let dir = std::env::temp_dir().join(unique("merged"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[telemetry]\notlp_endpoint = \"{}\"\notlp_protocol = \"http/protobuf\"\n\
             service_name = \"{service}\"\n",
            services.otlp_http
        ),
    )
    .unwrap();
    let server = serve_binary_with(&["--config", config.to_str().unwrap()], &[], None);
    let trace_id = format!("{:032x}", rand_u128());
    let caller_span = "00f067aa0ba902b7";
    let client = reqwest::Client::new();
    let inputs: Vec<Value> = (0..10)
        .map(|i| json!({"name": format!("x{i}"), "datatype": "FP64", "shape": [2], "data": [0.5, 0.25]}))
        .collect();
    let url = format!("http://{}/v2/models/friedman-tree/infer", server.1);
    let response = client
        .post(&url)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .header("tracestate", "vendor=abc")
        .header("user-agent", "glassbox-test")
        .json(&json!({ "inputs": inputs }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header = response.headers()[names::TRACE_RESPONSE_HEADER]
        .to_str()
        .unwrap()
        .to_string();
    let mut bad = inputs.clone();
    bad[3]["data"] = json!([0.5, "x"]);
    // A client's 8 KiB user agent: the span keeps its first 256 bytes.
    let refused = client
        .post(&url)
        .header("user-agent", "x".repeat(8192))
        .json(&json!({ "inputs": bad }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let health = client
        .get(format!("http://{}/v2/health/ready", server.1))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let spans =
        tokio::task::spawn_blocking(move || services.sink.spans(&service, |s| s.len() >= 3))
            .await
            .unwrap();
    assert!(
        spans.iter().all(|s| s.name != names::SPAN),
        "no separate scoring span: {spans:#?}"
    );
    let ok = spans
        .iter()
        .find(|s| s.trace_id == trace_id)
        .unwrap_or_else(|| panic!("a span in the caller's trace: {spans:#?}"));
    assert_eq!(ok.kind, 2, "a server span");
    assert_eq!(ok.name, "POST /v2/models/{name}/infer");
    assert_eq!(ok.parent, caller_span);
    assert_eq!(header, format!("00-{trace_id}-{}-01", ok.span_id));
    assert_eq!(ok.attrs["http.route"], "/v2/models/{name}/infer");
    assert_eq!(ok.attrs["http.response.status_code"], "200");
    assert_eq!(ok.attrs["user_agent.original"], "glassbox-test");
    assert_eq!(ok.attrs[names::MODEL_NAME], "friedman-tree");
    assert_eq!(ok.attrs[names::BATCH_ROWS], "2");
    assert_eq!(ok.attrs[names::OUTCOME], "ok");
    assert!(ok.attrs.contains_key(names::GUEST_MEMORY), "{ok:#?}");
    assert!(!ok.attrs.contains_key(names::ERROR_TYPE), "{ok:#?}");
    assert_eq!(ok.status, 0);
    let refused = spans
        .iter()
        .find(|s| s.attrs.get("http.response.status_code").map(String::as_str) == Some("400"))
        .expect("the refused request's span");
    assert_eq!(refused.parent, "", "a root span");
    assert_eq!(refused.attrs["user_agent.original"], "x".repeat(256));
    assert_eq!(refused.attrs[names::OUTCOME], "invalid_input");
    assert_eq!(refused.attrs[names::ERROR_TYPE], "invalid_input");
    assert_eq!(refused.status, 0, "a 4xx is not a server error");
    let (event, at) = &refused.events[0];
    assert_eq!(event, names::VIOLATION_EVENT);
    assert_eq!(at[names::FIELD], "x3");
    let probe = spans
        .iter()
        .find(|s| s.name == "GET /v2/health/ready")
        .expect("the health probe's span");
    assert!(!probe.attrs.contains_key(names::MODEL_NAME));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What an OTLP receiver of this harness saw of one export request.
#[derive(Debug, Clone)]
struct Received {
    /// Request headers (gRPC metadata), lower-case names.
    headers: BTreeMap<String, String>,
    /// The request's path.
    path: String,
    spans: Vec<String>,
    service: String,
}

fn decode_received(headers: BTreeMap<String, String>, path: String, body: &[u8]) -> Received {
    use prost::Message as _;
    let request = ExportTraceServiceRequest::decode(body).expect("a valid OTLP request");
    let mut spans = Vec::new();
    let mut service = String::new();
    for rs in request.resource_spans {
        let resource = rs
            .resource
            .map(|r| attrs(&r.attributes))
            .unwrap_or_default();
        service = resource.get("service.name").cloned().unwrap_or_default();
        for ss in rs.scope_spans {
            spans.extend(ss.spans.into_iter().map(|s| s.name));
        }
    }
    Received {
        headers,
        path,
        spans,
        service,
    }
}

/// A bare OTLP receiver on loopback, for what a collector does not pass on
/// (the exporter's headers and compression): gRPC framing or HTTP/1.1
/// parsed by hand here, bodies decoded with the official protobuf types.
/// `stall` accepts connections and never answers.
fn receiver(grpc: bool, stall: bool) -> (String, Arc<Mutex<Vec<Received>>>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let sink = got.clone();
    if grpc {
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                listener.set_nonblocking(true).unwrap();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                if stall {
                    let mut held = Vec::new();
                    loop {
                        let (c, _) = listener.accept().await.unwrap();
                        held.push(c);
                    }
                }
                #[derive(Clone)]
                struct Recording(Arc<Mutex<Vec<Received>>>);
                #[tonic::async_trait]
                impl TraceService for Recording {
                    async fn export(
                        &self,
                        request: tonic::Request<ExportTraceServiceRequest>,
                    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status>
                    {
                        use prost::Message as _;
                        let headers = request
                            .metadata()
                            .clone()
                            .into_headers()
                            .iter()
                            .map(|(k, v)| {
                                (k.to_string(), v.to_str().unwrap_or_default().to_string())
                            })
                            .collect();
                        let body = request.into_inner().encode_to_vec();
                        self.0.lock().unwrap().push(decode_received(
                            headers,
                            "/opentelemetry.proto.collector.trace.v1.TraceService/Export".into(),
                            &body,
                        ));
                        Ok(tonic::Response::new(ExportTraceServiceResponse {
                            partial_success: None,
                        }))
                    }
                }
                tonic::transport::Server::builder()
                    .add_service(
                        TraceServiceServer::new(Recording(sink))
                            .accept_compressed(CompressionEncoding::Gzip),
                    )
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                    .await
                    .unwrap();
            });
        });
    } else {
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                if stall {
                    held.push(stream);
                    continue;
                }
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                        let mut headers = BTreeMap::new();
                        loop {
                            let mut h = String::new();
                            reader.read_line(&mut h).unwrap();
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            let (k, v) = h.split_once(':').unwrap();
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        }
                        let len: usize = headers["content-length"].parse().unwrap();
                        let mut body = vec![0; len];
                        reader.read_exact(&mut body).unwrap();
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                                   content-length: 0\r\n\r\n";
                        // Metrics come here too.
                        if path != "/v1/traces" {
                            stream.write_all(ok).unwrap();
                            continue;
                        }
                        if headers.get("content-encoding").map(String::as_str) == Some("gzip") {
                            let mut plain = Vec::new();
                            flate2::read::GzDecoder::new(&body[..])
                                .read_to_end(&mut plain)
                                .unwrap();
                            body = plain;
                        }
                        sink.lock()
                            .unwrap()
                            .push(decode_received(headers, path, &body));
                        stream.write_all(ok).unwrap();
                    }
                });
            }
        });
    }
    (format!("http://{addr}"), got)
}

/// Runs `glassbox score friedman-tree` with `env`; returns its stderr and
/// how long it took.
fn score_with(env: &[(&str, &str)]) -> (String, Duration) {
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_glassbox"));
    command.args(["score", "friedman-tree", "--no-cache"]);
    for var in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_TRACES_SAMPLER",
        "OTEL_RESOURCE_ATTRIBUTES",
    ] {
        command.env_remove(var);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (stderr, started.elapsed())
}

/// `OTEL_EXPORTER_OTLP_HEADERS` (percent-decoded, the `_TRACES_` form
/// overriding a key), `OTEL_EXPORTER_OTLP_COMPRESSION=gzip` and the
/// protocol's path, as a receiver sees them.
fn exporter_settings(protocol: &str) {
    let grpc = protocol == "grpc";
    let (endpoint, got) = receiver(grpc, false);
    let service = unique("settings");
    score_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-tenant=edge%2042,authorization=Bearer%20t0k",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=edge-43"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_SERVICE_NAME", &service),
    ]);
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 1, "{got:#?}");
    let r = &got[0];
    assert_eq!(r.service, service);
    assert_eq!(r.spans, [names::SPAN]);
    assert_eq!(r.headers["x-tenant"], "edge-43", "{r:#?}");
    assert_eq!(r.headers["authorization"], "Bearer t0k", "{r:#?}");
    if grpc {
        assert_eq!(r.headers["grpc-encoding"], "gzip", "{r:#?}");
    } else {
        assert_eq!(r.headers["content-encoding"], "gzip", "{r:#?}");
        assert_eq!(r.headers["content-type"], "application/x-protobuf");
        assert_eq!(r.path, "/v1/traces");
    }
}

#[test]
fn exporter_settings_reach_a_grpc_receiver() {
    exporter_settings("grpc");
}

#[test]
fn exporter_settings_reach_an_http_receiver() {
    exporter_settings("http/protobuf");
}

/// `OTEL_EXPORTER_OTLP_TIMEOUT` bounds an export to a collector that
/// accepts and never answers: the command ends soon after it, not after
/// the 10 s default, and says why its spans were lost.
#[test]
fn a_silent_collector_costs_the_export_timeout() {
    for protocol in ["grpc", "http/protobuf"] {
        let (endpoint, _) = receiver(protocol == "grpc", true);
        let (stderr, took) = score_with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "300"),
        ]);
        assert!(
            stderr.contains("no answer within 300 ms"),
            "{protocol}: {stderr}"
        );
        assert!(took < Duration::from_secs(5), "{protocol}: took {took:?}");
    }
}

/// `OTEL_TRACES_SAMPLER` and `OTEL_RESOURCE_ATTRIBUTES`, through the real
/// collector: an `always_off` run exports nothing, a run after it does,
/// with the resource's attributes.
#[test]
fn sampler_and_resource_settings_reach_the_collector() {
    let Some(services) = services() else { return };
    let (off, on) = (unique("sampler-off"), unique("sampler-on"));
    score_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &services.otlp_grpc),
        ("OTEL_TRACES_SAMPLER", "always_off"),
        ("OTEL_SERVICE_NAME", &off),
    ]);
    score_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &services.otlp_grpc),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.0"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            &format!("service.name={on},deployment.environment=edge-test"),
        ),
    ]);
    let spans = services.sink.spans(&on, |s| !s.is_empty());
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].resource["deployment.environment"], "edge-test");
    assert_eq!(
        spans[0].resource["service.version"],
        env!("CARGO_PKG_VERSION")
    );
    // The collector passes on requests in order: the sampled-out run's
    // spans, had there been any, came before.
    assert!(services.sink.spans(&off, |_| true).is_empty());
}

/// An endpoint the exporter cannot serve is refused at start, naming the
/// variable: TLS (`https://`) is for the node's collector to speak onwards.
#[test]
fn an_https_endpoint_is_refused_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["score", "friedman-tree", "--no-cache"])
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://collector.example:4317",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_ENDPOINT") && stderr.contains("TLS"),
        "{stderr}"
    );
}
