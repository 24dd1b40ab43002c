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
    let name: Cow<'static, str> = match route {
        Some(route) => format!("{method} {}", route.as_str()).into(),
        None => method.clone(),
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
        if let Some(route) = route {
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
