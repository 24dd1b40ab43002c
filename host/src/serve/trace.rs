//! The server span of each HTTP request (OpenTelemetry's HTTP semantic
//! conventions), parent of the scoring span.

use std::borrow::Cow;
use std::sync::Arc;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{self, Poll};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;
use tower::{Layer, Service};

use crate::telemetry::names::TRACE_RESPONSE_HEADER;

/// The gRPC service's name in span names and `rpc.service`.
const GRPC_SERVICE: &str = "inference.GRPCInferenceService";

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The method as a span attribute; the common ones without an allocation.
fn method_name(method: &Method) -> Cow<'static, str> {
    match *method {
        Method::GET => "GET".into(),
        Method::POST => "POST".into(),
        Method::HEAD => "HEAD".into(),
        Method::PUT => "PUT".into(),
        Method::DELETE => "DELETE".into(),
        Method::OPTIONS => "OPTIONS".into(),
        Method::PATCH => "PATCH".into(),
        _ => method.as_str().to_owned().into(),
    }
}

/// A route layer that runs each request inside a server span continuing
/// the caller's trace (an incoming W3C `traceparent`), and names the trace
/// in the response's `traceresponse` header.
///
/// Written out rather than with `axum::middleware::from_fn`, which clones
/// the boxed route service and boxes a `Next` for every request.
#[derive(Clone)]
pub(super) struct TraceLayer(pub(super) Arc<SdkTracer>);

impl<S> Layer<S> for TraceLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Traced<S> {
        Traced {
            inner,
            tracer: self.0.clone(),
        }
    }
}

/// The service of [`TraceLayer`].
#[derive(Clone)]
pub(super) struct Traced<S> {
    inner: S,
    tracer: Arc<SdkTracer>,
}

impl<S> Service<Request> for Traced<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let (cx, recording) = start(&self.tracer, &request);
        let response = self.inner.call(request).with_context(cx.clone());
        Box::pin(async move {
            let response = response.await?;
            Ok(if recording {
                finish(&cx, response)
            } else {
                response
            })
        })
    }
}

/// Starts the server span of `request`: its context, and whether it records.
fn start(tracer: &SdkTracer, request: &Request) -> (Context, bool) {
    let parent = TraceContextPropagator::new().extract(&Headers(request.headers()));
    let method = method_name(request.method());
    let route = request.extensions().get::<MatchedPath>();
    // A gRPC call is named `service/method` (OpenTelemetry's RPC
    // conventions), an HTTP request `METHOD route`.
    let rpc = request
        .uri()
        .path()
        .strip_prefix(super::grpc::PATH)
        .filter(|_| route.is_some());
    let name: Cow<'static, str> = match (rpc, route) {
        (Some(rpc), _) => format!("{GRPC_SERVICE}/{rpc}").into(),
        (None, Some(route)) => format!("{method} {}", route.as_str()).into(),
        (None, None) => method.clone(),
    };
    let mut span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .start_with_context(tracer, &parent);
    // Attributes cost allocations, which an unsampled span does not need.
    let recording = span.is_recording();
    if recording {
        span.set_attribute(KeyValue::new("http.request.method", method));
        span.set_attribute(KeyValue::new("url.path", request.uri().path().to_owned()));
        span.set_attribute(KeyValue::new("url.scheme", "http"));
        span.set_attribute(KeyValue::new(
            "network.protocol.version",
            match request.version() {
                axum::http::Version::HTTP_10 => "1.0",
                axum::http::Version::HTTP_2 => "2",
                _ => "1.1",
            },
        ));
        if let Some(rpc) = rpc {
            span.set_attribute(KeyValue::new("rpc.system", "grpc"));
            span.set_attribute(KeyValue::new("rpc.service", GRPC_SERVICE));
            span.set_attribute(KeyValue::new("rpc.method", rpc.to_owned()));
        } else if let Some(route) = route {
            span.set_attribute(KeyValue::new("http.route", route.as_str().to_owned()));
        }
        if let Some(agent) = request
            .headers()
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            span.set_attribute(KeyValue::new("user_agent.original", agent.to_owned()));
        }
    }
    (Context::current_with_span(span), recording)
}

/// Ends a recording server span with the response's status, and names the
/// trace in the response.
fn finish(cx: &Context, mut response: Response) -> Response {
    let span = cx.span();
    let status = response.status();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    // A gRPC call's status: in the headers when it failed before answering
    // (tonic's trailers-only responses), else in the trailers, as OK.
    let grpc = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if grpc {
        let code = response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        span.set_attribute(KeyValue::new("rpc.grpc.status_code", code));
        // Server errors of gRPC's: UNKNOWN, DEADLINE_EXCEEDED,
        // UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
        if matches!(code, 2 | 4 | 12 | 13 | 14 | 15) {
            span.set_attribute(KeyValue::new("error.type", code.to_string()));
            span.set_status(Status::error(
                response
                    .headers()
                    .get("grpc-message")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("gRPC error")
                    .to_owned(),
            ));
        }
    }
    // Server spans are errors for 5xx only: a 4xx is the client's.
    if status.is_server_error() {
        span.set_attribute(KeyValue::new("error.type", status.as_u16().to_string()));
        span.set_status(Status::error(
            status.canonical_reason().unwrap_or("server error"),
        ));
    }
    // Only a recorded trace is worth naming: an unsampled one exists nowhere.
    let sc = span.span_context();
    if sc.is_valid() {
        let value = format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(TRACE_RESPONSE_HEADER, value);
        }
    }
    span.end();
    response
}
