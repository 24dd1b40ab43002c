//! The server span of each HTTP request (OpenTelemetry's HTTP semantic
//! conventions). By default it is the request's only span and carries the
//! scoring call's attributes too; with `server_spans = "separate"` it is
//! the parent of the scoring span.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{self, Poll};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tower::{Layer, Service};

use crate::telemetry::names::TRACE_RESPONSE_HEADER;
use crate::telemetry::{HttpAttrs, Inline, Lean, RequestSpan, ServerSpans, trace_response};

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The most bytes of a path, route, gRPC method or user agent a span keeps.
const MAX_VALUE: usize = 256;

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
pub(super) struct TraceLayer(pub(super) Arc<Lean>);

impl<S> Layer<S> for TraceLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Traced<S> {
        Traced {
            inner,
            lean: self.0.clone(),
        }
    }
}

/// The service of [`TraceLayer`].
#[derive(Clone)]
pub(super) struct Traced<S> {
    inner: S,
    lean: Arc<Lean>,
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
        let (cx, recording) = start(&self.lean, &request);
        let response = self.inner.call(request).with_context(cx.clone());
        let lean = self.lean.clone();
        Box::pin(async move {
            let response = response.await?;
            Ok(if recording {
                finish(&lean, &cx, response)
            } else {
                response
            })
        })
    }
}

/// Starts the server span of `request`: its context, and whether it records.
fn start(lean: &Lean, request: &Request) -> (Context, bool) {
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
    // The span's name (`METHOD route`, or `service/method` for gRPC) is
    // written by the exporter from these parts: the sampler is the only
    // one that needs it here, and only the SDK's samplers that read names,
    // which none of OTEL_TRACES_SAMPLER's do.
    let started = lean.start(&parent, "", &SpanKind::Server, &[], &[]);
    // Attributes cost copies, which an unsampled span does not need.
    let record = started.sampled.then(|| {
        let mut record = Lean::record(&started, Cow::Borrowed(""), SpanKind::Server);
        let inline = |s: &str| {
            // A client's path and headers may take 64 KiB: a span keeps
            // at most MAX_VALUE bytes of each, at a character boundary, so
            // a full queue holds kilobytes per span, not a client's choice.
            let mut end = s.len().min(MAX_VALUE);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Inline::from_slice(&s.as_bytes()[..end])
        };
        record.http = Some(Box::new(HttpAttrs {
            method,
            path: inline(request.uri().path()),
            protocol_version: match request.version() {
                axum::http::Version::HTTP_10 => "1.0",
                axum::http::Version::HTTP_2 => "2",
                _ => "1.1",
            },
            route: route.filter(|_| rpc.is_none()).map(|r| inline(r.as_str())),
            rpc_method: rpc.map(inline),
            // An attribute string must be UTF-8; a header need not be.
            user_agent: request
                .headers()
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(inline),
            status_code: 0,
            grpc_status: None,
            error_type: None,
        }));
        record
    });
    let sampled = started.sampled;
    let cx = parent.with_value(RequestSpan {
        context: started.context,
        merged: lean.server_spans == ServerSpans::Merged,
        record: Mutex::new(record),
    });
    (cx, sampled)
}

/// Ends a recording server span with the response's status, and names the
/// trace in the response.
fn finish(lean: &Lean, cx: &Context, mut response: Response) -> Response {
    let Some(request) = cx.get::<RequestSpan>() else {
        return response;
    };
    let status = response.status();
    // A gRPC call's status: in the headers when it failed before answering
    // (tonic's trailers-only responses), else in the trailers, as OK.
    let grpc = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let grpc_code = grpc.then(|| {
        response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    });
    let record = request
        .record
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(mut record) = record {
        let mut failed: Option<(Cow<'static, str>, String)> = None;
        // Server errors of gRPC's: UNKNOWN, DEADLINE_EXCEEDED,
        // UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
        if let Some(code) = grpc_code
            && matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
        {
            let message = response
                .headers()
                .get("grpc-message")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("gRPC error")
                .to_owned();
            failed = Some((code.to_string().into(), message));
        }
        // Server spans are errors for 5xx only: a 4xx is the client's.
        if status.is_server_error() {
            failed = Some((
                status.as_u16().to_string().into(),
                status
                    .canonical_reason()
                    .unwrap_or("server error")
                    .to_owned(),
            ));
        }
        if let Some(http) = record.http.as_mut() {
            http.status_code = status.as_u16();
            http.grpc_status = grpc_code;
            if let Some((error_type, message)) = failed {
                http.error_type = Some(error_type);
                // A failed scoring call's own description says more.
                if record.status == Status::Unset {
                    record.status = Status::Error {
                        description: message.into(),
                    };
                }
            }
        }
        record.end = std::time::SystemTime::now();
        lean.queue.push(record);
    }
    // Only a recorded trace is worth naming: an unsampled one exists nowhere.
    if request.context.is_valid()
        && let Ok(value) = HeaderValue::from_bytes(&trace_response(&request.context))
    {
        response.headers_mut().insert(TRACE_RESPONSE_HEADER, value);
    }
    response
}
