//! The HTTP surface: [`Service`] holds the registry and builds the axum
//! [`Router`]; the handlers translate between HTTP and [`Deployed::score`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::registry::Admission;
use crate::error::{Violations, bound_text};
use crate::runtime::batch::{self, Prediction, Row};
use crate::telemetry::Telemetry;
use crate::{Engine, Error, Model, ModelError, Outputs, Violation};

use super::ServeLimits;
use super::oip::{self, DecodeError, InferRequest, InferResponse, ModelMetadata, Problem};
use super::registry::{CallError, Deployed, Origin, Registry};
use super::tensors;

/// The scoring service: the models, their limits, and the routes that serve
/// them. Clones share everything; a gateway keeps one and mounts
/// [`Service::router`] or calls [`Service::predict`] directly.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    registry: Arc<Registry>,
    ready: AtomicBool,
    telemetry: Option<Arc<Telemetry>>,
    started: std::time::Instant,
    /// Bytes of request bodies that may be in flight at once
    /// (`ServeLimits::max_body_bytes_in_flight`), as permits.
    body_budget: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("registry", &self.inner.registry)
            .finish()
    }
}

impl Service {
    /// A service with no models yet; it reports ready.
    pub fn new(engine: Engine, limits: ServeLimits) -> Service {
        Service::with_telemetry(engine, limits, None)
    }

    /// A service whose router traces every request into `telemetry`'s
    /// tracer (when it exports traces) and serves its metrics at
    /// `/metrics`. Give the same telemetry to the engine
    /// ([`crate::EngineBuilder::telemetry`]) so that the scoring spans and
    /// metrics land there too.
    pub fn with_telemetry(
        engine: Engine,
        limits: ServeLimits,
        telemetry: Option<Arc<Telemetry>>,
    ) -> Service {
        let budget = limits.max_body_bytes_in_flight.min(u32::MAX as usize);
        Service {
            inner: Arc::new(Inner {
                engine,
                body_budget: Arc::new(tokio::sync::Semaphore::new(budget)),
                registry: Arc::new(Registry::new(limits)),
                ready: AtomicBool::new(true),
                telemetry,
                started: std::time::Instant::now(),
            }),
        }
    }

    /// The telemetry the service reports to, if any.
    pub fn telemetry(&self) -> Option<&Arc<Telemetry>> {
        self.inner.telemetry.as_ref()
    }

    /// The engine models are loaded into.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The served models.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// Serves `model` (replacing the same name and version).
    pub fn deploy(&self, model: Model) {
        self.inner.registry.deploy(model, Origin::Embedded, None);
    }

    /// The OIP metadata of `deployed`, found as `name` (and `version`):
    /// the versions served under the name, or the one asked for.
    pub(crate) fn metadata(
        &self,
        deployed: &Deployed,
        name: &str,
        version: Option<&str>,
    ) -> ModelMetadata {
        let versions = match version {
            Some(v) => vec![v.to_string()],
            None => self
                .registry()
                .snapshot()
                .versions(name)
                .iter()
                .map(|d| d.version().to_string())
                .collect(),
        };
        ModelMetadata::new(deployed.model().info(), versions)
    }

    /// Whether the server is ready: not while draining, nor before every
    /// watched directory has been scanned once (its models loaded or refused).
    pub(crate) fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed) && !self.inner.registry.first_scans_pending()
    }

    /// What `GET /v2/health/ready` answers. A server turns it off when it
    /// starts draining.
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Relaxed);
    }

    /// Scores rows with `name` (its newest version when `version` is
    /// `None`), under the same limits as HTTP requests.
    pub async fn predict(
        &self,
        name: &str,
        version: Option<&str>,
        rows: &[Row],
    ) -> Result<Vec<Prediction>, ApiError> {
        let deployed = self.find(name, version)?;
        let admission = deployed
            .admit()
            .map_err(|e| ApiError::call(&deployed, e, self.limits()))?;
        self.predict_on(&deployed, admission, rows).await
    }

    /// Scores rows with a deployment already looked up: a request looks its
    /// model up once, so a swap in between cannot make it miss.
    async fn predict_on(
        &self,
        deployed: &Arc<Deployed>,
        admission: Admission,
        rows: &[Row],
    ) -> Result<Vec<Prediction>, ApiError> {
        self.check_rows(rows.len())?;
        let info = deployed.model().info();
        let batch = batch::from_rows(info, rows).map_err(|violations| {
            let problems = violations.iter().cloned().map(Problem::from).collect();
            let total = violations.total();
            deployed.refuse(rows.len(), violations);
            ApiError::invalid(deployed.name(), problems, total)
        })?;
        let scores = deployed
            .score_admitted(admission, batch)
            .await
            .map_err(|e| ApiError::call(deployed, e, self.limits()))?;
        Ok(batch::predictions(info, scores))
    }

    /// The routes (see the [`super`] module docs), with the body size limit.
    pub fn router(&self) -> Router {
        let model_routes = Router::new()
            .route("/", get(model_metadata))
            .route("/ready", get(model_ready))
            .route("/monitor", get(model_monitor))
            .route("/infer", post(infer));
        let mut router = Router::new()
            .route("/", get(index))
            .route("/dashboard.json", get(dashboard_json))
            .route("/v2", get(server_metadata))
            .route("/v2/health/live", get(live))
            .route("/v2/health/ready", get(ready))
            .nest("/v2/models/{name}", model_routes.clone())
            .nest("/v2/models/{name}/versions/{version}", model_routes)
            .route("/v1/models/{target}", post(v1_predict).get(v1_model))
            .route("/metrics", get(metrics))
            // OIP over gRPC, on the same port (HTTP/2; see `listen`).
            .route_service(
                &format!("{}{{method}}", super::grpc::PATH),
                super::grpc::server(self),
            );
        // A route layer sees the matched route, which names the span. (With
        // traces off there is no layer at all: not even a check per request.)
        if let Some(lean) = self.telemetry().and_then(|t| t.lean()) {
            router = router.route_layer(super::trace::TraceLayer(lean.clone()));
        }
        router
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(self.limits().max_body_bytes))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                bound_request,
            ))
            .with_state(self.clone())
    }

    pub(crate) fn limits(&self) -> &ServeLimits {
        self.inner.registry.limits()
    }

    pub(crate) fn find(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Arc<Deployed>, ApiError> {
        self.inner.registry.get(name, version).ok_or_else(|| {
            if self.inner.registry.is_loading(name) {
                return ApiError {
                    retry_after: Some(self.limits().retry_after_s),
                    ..ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "model `{name}` is still loading (its component is being compiled); \
                             retry in a moment"
                        ),
                    )
                };
            }
            let snapshot = self.inner.registry.snapshot();
            let message = match (version, snapshot.versions(name)) {
                (Some(v), versions) if !versions.is_empty() => format!(
                    "model `{name}` has no version `{v}`; served versions: {}",
                    versions
                        .iter()
                        .map(|d| d.version())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => format!(
                    "no model named `{name}`; served models: {}",
                    snapshot.names().collect::<Vec<_>>().join(", ")
                ),
            };
            ApiError::new(StatusCode::NOT_FOUND, message)
        })
    }

    fn check_rows(&self, rows: usize) -> Result<(), ApiError> {
        let max = self.limits().max_rows;
        if rows > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{rows} rows in one request; the limit is {max}"),
            ));
        }
        Ok(())
    }
}

/// An error answer: a status and `{"error": "...", "problems": [...]}`,
/// `problems` listing each contract violation when there are any.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, in one message that lists every problem.
    pub message: String,
    /// The contract violations, one per problem: the first
    /// [`crate::error::Violations::LISTED`] of them.
    pub problems: Vec<Problem>,
    /// Every problem found, listed or not.
    pub problems_total: usize,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    problems: &'a [Problem],
    /// How many problems there were in all; more than `problems` lists
    /// when the request broke the contract many times.
    #[serde(skip_serializing_if = "is_zero")]
    problems_total: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            problems: Vec::new(),
            problems_total: 0,
            retry_after: None,
        }
    }

    /// A 400 listing the first problems of `total` (at least as many as
    /// `problems` holds), each text bounded: the answer to a request that
    /// breaks the contract a million times is still a few kilobytes.
    fn invalid(model: &str, mut problems: Vec<Problem>, total: usize) -> Self {
        let total = total.max(problems.len());
        problems.truncate(Violations::LISTED);
        for p in &mut problems {
            for text in [&mut p.field, &mut p.expected, &mut p.got] {
                bound_text(text, Violations::TEXT_BYTES);
            }
        }
        let mut message = format!(
            "input does not match the contract of model `{model}` ({total} problem{}):",
            if total == 1 { "" } else { "s" }
        );
        for p in &problems {
            message.push_str(&format!("\n  {p}"));
        }
        if total > problems.len() {
            message.push_str(&format!(
                "\n  … and {} more (the first {} are listed)",
                total - problems.len(),
                problems.len()
            ));
        }
        ApiError {
            problems,
            problems_total: total,
            ..ApiError::new(StatusCode::BAD_REQUEST, message)
        }
    }

    fn bad_json(e: serde_json::Error) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not a valid request: {e}"),
        )
    }

    /// A body that could not be read: too large (413), or cut off.
    fn body(e: axum::Error, limits: &ServeLimits) -> Self {
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            if let Some(spent) = cause.downcast_ref::<BudgetSpent>() {
                return ApiError {
                    retry_after: Some(limits.retry_after_s),
                    ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, spent.0.clone())
                };
            }
            source = cause.source();
        }
        let too_large = std::error::Error::source(&e)
            .is_some_and(|c| c.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_large {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is larger than the server's limit of {} bytes (limits.max_body_bytes)",
                    limits.max_body_bytes
                ),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {e}"),
            )
        }
    }

    /// A path that does not decode (`/v2/models/%FF/infer`), as JSON like
    /// every other error.
    fn path(rejection: PathRejection) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request path cannot be decoded: {rejection}"),
        )
    }

    pub(crate) fn decode(model: &str, e: DecodeError, limits: &ServeLimits) -> Self {
        match e {
            DecodeError::Problems { problems, total } => ApiError::invalid(model, problems, total),
            DecodeError::TooManyRows(n) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{n} rows in one request; the limit is {}", limits.max_rows),
            ),
        }
    }

    /// Maps a failed call: the caller's mistakes are 4xx, the model's 5xx.
    pub(crate) fn call(deployed: &Deployed, e: CallError, limits: &ServeLimits) -> Self {
        let (name, version) = (deployed.name(), deployed.version());
        let error = match e {
            CallError::Busy => {
                return ApiError {
                    retry_after: Some(limits.retry_after_s),
                    ..ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        format!(
                            "model `{name}` {version} is busy: {} requests are in progress, the limit \
                             (limits.max_concurrent_requests); retry after {} s",
                            limits.max_concurrent_requests, limits.retry_after_s
                        ),
                    )
                };
            }
            CallError::Panicked => {
                tracing::error!("{name} {version}: the scoring thread panicked");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("model `{name}` {version}: the scoring thread panicked"),
                );
            }
            CallError::Model(e) => e,
        };
        let status = match &error {
            Error::InvalidInput { violations, .. } => {
                let problems = violations.iter().cloned().map(Problem::from).collect();
                return ApiError::invalid(name, problems, violations.total());
            }
            Error::Guest {
                error: ModelError::InvalidInput(problems),
                omitted,
                ..
            } => {
                let problems_len = problems.len() + omitted;
                let problems = problems
                    .iter()
                    .take(Violations::LISTED)
                    .map(|p| Problem {
                        row: Some(p.row as usize),
                        field: p.field.clone(),
                        expected: "a value the model accepts".into(),
                        got: p.message.clone(),
                    })
                    .collect();
                return ApiError::invalid(name, problems, problems_len);
            }
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            // Other models hold the memory for now: worth a retry.
            Error::MemoryBudget { .. } => {
                return ApiError {
                    retry_after: Some(limits.retry_after_s),
                    ..ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("{error} (version {version})"),
                    )
                };
            }
            Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::warn!("{name} {version}: {} ({})", error, error.outcome());
        }
        ApiError::new(status, format!("{error} (version {version})"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: &self.message,
            problems: &self.problems,
            problems_total: self.problems_total,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

/// `{name}` or `{name}` + `{version}` from the nested routes.
#[derive(Deserialize)]
struct ModelPath {
    name: String,
    version: Option<String>,
}

async fn server_metadata() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "name": "glassbox",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": super::EXTENSIONS,
    }))
}

async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({"live": true}))
}

async fn ready(State(s): State<Service>) -> Response {
    let ready = s.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(serde_json::json!({"ready": ready}))).into_response()
}

async fn model_metadata(
    State(s): State<Service>,
    path: Result<Path<ModelPath>, PathRejection>,
) -> Result<Json<ModelMetadata>, ApiError> {
    let Path(p) = path.map_err(ApiError::path)?;
    let deployed = s.find(&p.name, p.version.as_deref())?;
    Ok(Json(s.metadata(&deployed, &p.name, p.version.as_deref())))
}

async fn model_ready(
    State(s): State<Service>,
    path: Result<Path<ModelPath>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(p) = path.map_err(ApiError::path)?;
    let d = s.find(&p.name, p.version.as_deref())?;
    Ok(Json(
        serde_json::json!({"name": d.name(), "version": d.version(), "ready": true}),
    ))
}

/// The live profiles of a model version against its training data.
async fn model_monitor(
    State(s): State<Service>,
    path: Result<Path<ModelPath>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(p) = path.map_err(ApiError::path)?;
    let d = s.find(&p.name, p.version.as_deref())?;
    let Some(monitor) = d.monitor() else {
        let why = if d.model().info().profile.is_none() {
            "carries no training profile to compare with (compile it with --train)"
        } else {
            "is not monitored (monitor.enabled = false)"
        };
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("model `{}` {} {why}", d.name(), d.version()),
        ));
    };
    Ok(Json(serde_json::json!({
        "name": d.name(),
        "version": d.version(),
        "monitor": monitor.report(),
    })))
}

async fn infer(
    State(s): State<Service>,
    path: Result<Path<ModelPath>, PathRejection>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path(p) = path.map_err(ApiError::path)?;
    let deployed = s.find(&p.name, p.version.as_deref())?;
    // Admitted before the body is read: under overload a refusal costs a
    // header's parse, not a body's.
    let admission = deployed
        .admit()
        .map_err(|e| ApiError::call(&deployed, e, s.limits()))?;
    let body = read_body(body, s.limits()).await?;
    let body = decompress(&headers, body, s.limits())?;
    // Triton's binary data: the JSON is the header's length of the body,
    // binary data follows.
    let (json, binary) = match headers.get(oip::BINARY_HEADER) {
        None => (&body[..], &[][..]),
        Some(v) => {
            let n = v
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|&n| n <= body.len())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "header {}: expected the length of the JSON at the start of the \
                             body (at most {} bytes), got {v:?}",
                            oip::BINARY_HEADER,
                            body.len()
                        ),
                    )
                })?;
            body.split_at(n)
        }
    };
    let request: InferRequest = serde_json::from_slice(json).map_err(ApiError::bad_json)?;
    let info = deployed.model().info();
    let wanted: Option<Vec<&str>> = request
        .outputs
        .as_ref()
        .map(|o| o.iter().map(|o| o.name.as_ref()).collect());
    if let Some(w) = &wanted {
        let known = oip::output_names(info);
        if let Some(bad) = w.iter().find(|n| !known.contains(n)) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "model `{}` has no output `{bad}`; its outputs: {}",
                    info.name,
                    known.join(", ")
                ),
            ));
        }
    }
    let rows_announced = || {
        request.inputs.first().map_or(0, |t| {
            t.shape
                .first()
                .map_or(0, |&n| usize::try_from(n).unwrap_or(0))
        })
    };
    let refused = |problems: Vec<Problem>, total: usize| {
        deployed.refuse(
            rows_announced(),
            problems.iter().map(Violation::from).collect(),
        );
        ApiError::decode(
            deployed.name(),
            DecodeError::Problems { problems, total },
            s.limits(),
        )
    };
    let tensors = oip::tensors(&request, binary).map_err(|p| refused(vec![p], 1))?;
    let batch = tensors::decode(info, &tensors, s.limits().max_rows).map_err(|e| match e {
        DecodeError::Problems { problems, total } => refused(problems, total),
        e => ApiError::decode(deployed.name(), e, s.limits()),
    })?;
    let scores = deployed
        .score_admitted(admission, batch)
        .await
        .map_err(|e| ApiError::call(&deployed, e, s.limits()))?;
    // The answer is one tensor per output: a row that could not be answered
    // cannot be left out of it, so the request fails, naming the row.
    unusable_answer(info, &scores)?;
    let mut outputs = oip::encode(info, scores, wanted.as_deref());
    // Binary outputs: all of them when the request says so, else those
    // asked for one by one.
    let all_binary = request
        .parameters
        .as_ref()
        .is_some_and(|p| p.binary_data_output);
    let binary_wanted = |name: &str| {
        all_binary
            || request.outputs.iter().flatten().any(|o| {
                o.name == name
                    && o.parameters
                        .as_ref()
                        .and_then(|p| p.binary_data)
                        .unwrap_or(false)
            })
    };
    let mut tail = Vec::new();
    for output in &mut outputs {
        if binary_wanted(output.name) {
            let raw = tensors::raw_output(&output.data);
            output.parameters = Some(oip::BinarySize {
                binary_data_size: raw.len(),
            });
            output.data = oip::OutputData::Binary;
            tail.extend_from_slice(&raw);
        }
    }
    let response = InferResponse {
        model_name: &info.name,
        model_version: &info.version,
        id: request.id.clone(),
        outputs,
    };
    if tail.is_empty() && !all_binary {
        return Ok(Json(response).into_response());
    }
    let mut bytes = serde_json::to_vec(&response).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the response: {e}"),
        )
    })?;
    let json_len = bytes.len();
    bytes.extend_from_slice(&tail);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::HeaderName::from_static(oip::BINARY_HEADER),
                HeaderValue::from(json_len),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Fails a request whose answer has a row the model could not answer
/// (a tensor has no place to leave it out), naming the row.
pub(crate) fn unusable_answer(
    info: &crate::ModelInfo,
    scores: &crate::Scores,
) -> Result<(), ApiError> {
    let bad = batch::bad_answers(info, scores);
    if let Some((row, problem)) = bad.first() {
        let more = match bad.len() {
            1 => String::new(),
            n => format!(" ({n} rows in all)"),
        };
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "model `{}` {}: its answer for row {row} is unusable: {problem}{more}",
                info.name, info.version
            ),
        ));
    }
    Ok(())
}

/// KServe v1 instances: objects keyed by feature name, or arrays of values
/// in schema order.
#[derive(Deserialize)]
struct V1Request {
    instances: Vec<V1Instance>,
}

enum V1Instance {
    Object(Row),
    Values(Vec<serde_json::Value>),
}

// By hand rather than `#[serde(untagged)]`: an untagged enum first buffers
// every instance into serde's generic content tree and then decodes it
// again, which cost a one-row request of 64 features more than its scoring.
impl<'de> Deserialize<'de> for V1Instance {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Instance;
        impl<'de> serde::de::Visitor<'de> for Instance {
            type Value = V1Instance;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object keyed by feature name, or an array of values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<V1Instance, A::Error> {
                Row::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(V1Instance::Object)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<V1Instance, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(V1Instance::Values)
            }
        }
        d.deserialize_any(Instance)
    }
}

#[derive(Serialize)]
struct V1Response {
    predictions: Vec<Prediction>,
}

async fn v1_predict(
    State(s): State<Service>,
    path: Result<Path<String>, PathRejection>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Json<V1Response>, ApiError> {
    let Path(target) = path.map_err(ApiError::path)?;
    let Some(name) = target.strip_suffix(":predict") else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no such route: POST /v1/models/{target} (did you mean /v1/models/{target}:predict?)"
            ),
        ));
    };
    let deployed = s.find(name, None)?;
    let admission = deployed
        .admit()
        .map_err(|e| ApiError::call(&deployed, e, s.limits()))?;
    let body = read_body(body, s.limits()).await?;
    let body = decompress(&headers, body, s.limits())?;
    let request: V1Request = serde_json::from_slice(&body).map_err(ApiError::bad_json)?;
    let inputs = &deployed.model().info().inputs;
    let mut problems = Vec::new();
    let rows: Vec<Row> = request
        .instances
        .into_iter()
        .enumerate()
        .map(|(i, instance)| match instance {
            V1Instance::Object(row) => row,
            V1Instance::Values(values) => {
                if values.len() != inputs.len() {
                    problems.push(Problem {
                        row: Some(i),
                        field: "(instance)".into(),
                        expected: format!(
                            "an object keyed by feature name, or {} values in schema order",
                            inputs.len()
                        ),
                        got: format!("{} values", values.len()),
                    });
                }
                inputs.iter().map(|f| f.name.clone()).zip(values).collect()
            }
        })
        .collect();
    if !problems.is_empty() {
        deployed
            .model()
            .refuse(rows.len(), problems.iter().map(Violation::from).collect());
        let total = problems.len();
        return Err(ApiError::invalid(name, problems, total));
    }
    let predictions = s.predict_on(&deployed, admission, &rows).await?;
    Ok(Json(V1Response { predictions }))
}

async fn v1_model(
    State(s): State<Service>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(name) = path.map_err(ApiError::path)?;
    let d = s.find(&name, None)?;
    Ok(Json(serde_json::json!({"name": d.name(), "ready": true})))
}

/// The Prometheus text exposition of the service's metrics.
async fn metrics(State(s): State<Service>) -> Response {
    match s.telemetry().and_then(|t| t.prometheus_text()) {
        Some(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            text,
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "metrics are off (telemetry.prometheus = false)",
        )
        .into_response(),
    }
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no such route: {uri}"))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {uri}"),
    )
}

/// The dashboard at `/`: one static page (no CDN: an edge node may be
/// offline) that polls [`dashboard_json`].
async fn index() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}

/// One model's entry in the dashboard's data.
pub(crate) fn dashboard_entry(
    model: &Model,
    report: Option<&crate::monitor::Report>,
    stats: serde_json::Value,
    violations: serde_json::Value,
) -> serde_json::Value {
    let expectations = model.expectations();
    serde_json::json!({
        "name": model.name(),
        "version": model.info().version,
        "digest": format!("sha256:{}", model.digest()),
        "task": match model.info().outputs {
            Outputs::Classes(_) | Outputs::DecisionClasses(_) => "classification",
            Outputs::Target(_) => "regression",
        },
        "owner": expectations.map(|e| &e.owner),
        "contact": expectations.map(|e| &e.contact),
        "health": report.map(|r| r.health),
        "reasons": report.map_or(&[][..], |r| &r.reasons[..]),
        "stats": stats,
        "monitor": report,
        "violations": violations,
    })
}

/// The dashboard page with its data inside, for a file that works
/// offline (`glassbox report --html`).
pub(crate) fn dashboard_page(data: &serde_json::Value) -> String {
    // `</` inside the JSON would end the script element; `<\/` is the
    // same string to JSON.
    let json = data.to_string().replace("</", "<\\/");
    include_str!("dashboard.html").replacen(
        "<script>",
        &format!(
            "<script id=\"glassbox-data\" type=\"application/json\">{json}</script>\n<script>"
        ),
        1,
    )
}

/// What the dashboard shows: every deployment with its traffic, health,
/// live profiles and recent contract violations.
async fn dashboard_json(State(s): State<Service>) -> Json<serde_json::Value> {
    let snapshot = s.registry().snapshot();
    let mut models = Vec::new();
    for name in snapshot.names() {
        for d in snapshot.versions(name) {
            let model = d.model();
            let report = d.monitor().map(|m| m.report());
            let mut stats = d.stats().json();
            let violations = stats
                .as_object_mut()
                .and_then(|o| o.remove("violations"))
                .unwrap_or_default();
            models.push(dashboard_entry(model, report.as_ref(), stats, violations));
        }
    }
    Json(serde_json::json!({
        "server": {
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": s.inner.started.elapsed().as_secs_f64(),
        },
        "models": models,
    }))
}

/// Bounds every request before a handler reads its body: its declared size
/// (413 before a byte of the body is read, so `Expect: 100-continue`
/// clients are told not to send it), the bytes of bodies in flight over all
/// connections (503 with `Retry-After`: a thousand stalled uploads cannot
/// hold more than `max_body_bytes_in_flight` of memory), and the time from
/// its headers to its answer (408). A body of undeclared length (chunked,
/// or HTTP/2 without `content-length`, as gRPC sends) takes its share of
/// the budget as its bytes arrive. gRPC calls get their refusals as gRPC
/// statuses.
async fn bound_request(
    State(s): State<Service>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::body::HttpBody as _;
    use axum::http::header::CONTENT_LENGTH;
    let limits = s.limits();
    let grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let reply = |e: ApiError| {
        if grpc {
            super::grpc::status(e).into_http::<Body>()
        } else {
            e.into_response()
        }
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared
        && n > limits.max_body_bytes as u64
    {
        return reply(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is {n} bytes, larger than the server's limit of {} \
                 (limits.max_body_bytes)",
                limits.max_body_bytes
            ),
        ));
    }
    let busy = || ApiError {
        retry_after: Some(limits.retry_after_s),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server is receiving its maximum of {} bytes of request bodies \
                 (limits.max_body_bytes_in_flight); retry after {} s",
                limits.max_body_bytes_in_flight, limits.retry_after_s
            ),
        )
    };
    let mut request = request;
    let _budget = match declared {
        _ if request.body().is_end_stream() => None,
        Some(n) => {
            let want = u32::try_from(n).unwrap_or(u32::MAX);
            match s.inner.body_budget.clone().try_acquire_many_owned(want) {
                Ok(permit) => Some(permit),
                Err(_) => return reply(busy()),
            }
        }
        None => {
            let (parts, body) = request.into_parts();
            let body = Budgeted {
                inner: body,
                budget: s.inner.body_budget.clone(),
                held: None,
                busy: busy().message,
            };
            request = axum::extract::Request::from_parts(parts, Body::new(body));
            None
        }
    };
    let timeout = std::time::Duration::from_millis(limits.request_timeout_ms);
    match tokio::time::timeout(timeout, next.run(request)).await {
        // tonic refuses a message over its limit (`limits.max_body_bytes`)
        // as OUT_OF_RANGE in words of its own; say it as a REST client
        // hears it.
        Ok(response)
            if grpc
                && response
                    .headers()
                    .get("grpc-status")
                    .is_some_and(|v| v.as_bytes() == b"11")
                && response
                    .headers()
                    .get("grpc-message")
                    // Percent-encoded, as gRPC sends messages.
                    .is_some_and(|v| {
                        v.as_bytes()
                            .starts_with(b"Error,%20decoded%20message%20length%20too%20large")
                    }) =>
        {
            reply(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request message is larger than the server's limit of {} bytes \
                     (limits.max_body_bytes)",
                    limits.max_body_bytes
                ),
            ))
        }
        Ok(response) => response,
        Err(_) => reply(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request took longer than {} ms from its headers to its answer \
                 (limits.request_timeout_ms)",
                limits.request_timeout_ms
            ),
        )),
    }
}

/// A body of undeclared length that takes its bytes from the in-flight
/// budget as they arrive, and fails when the budget is spent.
struct Budgeted {
    inner: Body,
    budget: Arc<tokio::sync::Semaphore>,
    held: Option<tokio::sync::OwnedSemaphorePermit>,
    busy: String,
}

/// The error of a [`Budgeted`] body whose budget is spent.
#[derive(Debug)]
pub(crate) struct BudgetSpent(pub(crate) String);

impl std::fmt::Display for BudgetSpent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BudgetSpent {}

impl axum::body::HttpBody for Budgeted {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::BoxError>>> {
        use std::task::Poll;
        let frame = match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            let n = u32::try_from(data.len()).unwrap_or(u32::MAX);
            match self.budget.clone().try_acquire_many_owned(n) {
                Ok(more) => match &mut self.held {
                    Some(held) => held.merge(more),
                    None => self.held = Some(more),
                },
                Err(_) => {
                    return Poll::Ready(Some(Err(Box::new(BudgetSpent(self.busy.clone())))));
                }
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The body a client compressed (`Content-Encoding: gzip` or `deflate`, as
/// tritonclient sends with `request_compression_algorithm`), inflated to at
/// most `max_body_bytes`: a small bomb is refused like a large body.
fn decompress(
    headers: &axum::http::HeaderMap,
    body: Bytes,
    limits: &ServeLimits,
) -> Result<Bytes, ApiError> {
    use std::io::Read as _;
    let Some(encoding) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(body);
    };
    let encoding = encoding.to_str().unwrap_or("").trim().to_ascii_lowercase();
    let max = limits.max_body_bytes;
    let mut out = Vec::new();
    let read = match encoding.as_str() {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(&body[..])
            .take(max as u64 + 1)
            .read_to_end(&mut out),
        // HTTP's deflate is zlib-wrapped.
        "deflate" => flate2::read::ZlibDecoder::new(&body[..])
            .take(max as u64 + 1)
            .read_to_end(&mut out),
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Encoding {other:?} is not supported; send the body as is, or gzip or deflate"
                ),
            ));
        }
    };
    read.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body does not inflate as Content-Encoding {encoding}: {e}"),
        )
    })?;
    if out.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body inflates to more than the server's limit of {max} bytes \
                 (limits.max_body_bytes)"
            ),
        ));
    }
    Ok(out.into())
}

/// Reads a request's body, at most `max_body_bytes` of it, within
/// `header_timeout_ms`: the request holds a place among its model's
/// admitted requests meanwhile, which a client that stalls its upload must
/// not keep for long.
async fn read_body(body: Body, limits: &ServeLimits) -> Result<Bytes, ApiError> {
    let timeout = std::time::Duration::from_millis(limits.header_timeout_ms);
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limits.max_body_bytes)).await {
        Ok(read) => read.map_err(|e| ApiError::body(e, limits)),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} ms (limits.header_timeout_ms)",
                limits.header_timeout_ms
            ),
        )),
    }
}
