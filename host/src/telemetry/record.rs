//! The compact record of one finished span, as the lean export path holds
//! it between the scoring call and the exporter thread.
//!
//! The hot spans (a scoring call's, a request's) keep their attributes as
//! typed fields, not as OpenTelemetry `KeyValue`s: recording one costs no
//! allocation beyond the record itself, and the exporter thread writes them
//! straight into OTLP protobuf (`otlp.rs`). Spans of the OpenTelemetry API
//! (an embedding program's, the health check's) carry theirs in
//! [`SpanRecord::attributes`].

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, Status};

/// A model's identifying attributes, built once when it is loaded.
#[derive(Debug)]
pub(crate) struct ModelIdentity {
    pub(crate) name: String,
    pub(crate) version: String,
    /// `sha256:` and the hex digest.
    pub(crate) digest: String,
}

/// The attributes of a scoring call (`glassbox.*`, see
/// [`super::names`]).
#[derive(Debug, Clone)]
pub(crate) struct ScoreAttrs {
    pub(crate) model: Arc<ModelIdentity>,
    /// `glassbox.batch.rows`.
    pub(crate) rows: u64,
    /// `glassbox.outcome`; `None` while the call runs.
    pub(crate) outcome: Option<&'static str>,
    /// Whether `error.type` is the outcome: the call failed, or some of
    /// its answers broke the model's declaration.
    pub(crate) error_type: bool,
    /// `glassbox.guest.epoch_ticks`, `…deadline_ticks`,
    /// `…memory.peak_bytes`.
    pub(crate) guest: Option<super::GuestUse>,
    /// `glassbox.answers.bad_rows`.
    pub(crate) bad_answers: Option<u64>,
    /// `glassbox.violations.total`, when more than the events show.
    pub(crate) violations_total: Option<u64>,
}

/// A short string kept inside the record: a request's path, route or user
/// agent. Copied rather than shared with the request, so that the exporter
/// thread, which drops the record, never frees memory another thread
/// allocated (glibc's cross-thread frees were a tenth of its time).
pub(crate) type Inline = smallvec::SmallVec<[u8; 48]>;

/// The attributes of a request's server span (OpenTelemetry's HTTP and RPC
/// conventions).
#[derive(Debug, Clone)]
pub(crate) struct HttpAttrs {
    /// `http.request.method`.
    pub(crate) method: Cow<'static, str>,
    /// `url.path`.
    pub(crate) path: Inline,
    /// `network.protocol.version`: `1.0`, `1.1` or `2`.
    pub(crate) protocol_version: &'static str,
    /// `http.route`, for a request that matched one (not for gRPC).
    pub(crate) route: Option<Inline>,
    /// `rpc.method` of a gRPC call (`rpc.system` is `grpc`, `rpc.service`
    /// [`GRPC_SERVICE`]).
    pub(crate) rpc_method: Option<Inline>,
    /// `user_agent.original`, when it is UTF-8.
    pub(crate) user_agent: Option<Inline>,
    /// `http.response.status_code`; 0 until answered.
    pub(crate) status_code: u16,
    /// `rpc.grpc.status_code`.
    pub(crate) grpc_status: Option<i64>,
    /// `error.type` of a failed request (the status code, or the gRPC
    /// code), when the scoring call did not name one.
    pub(crate) error_type: Option<Cow<'static, str>>,
}

/// The gRPC service's name in span names and `rpc.service`.
pub(crate) const GRPC_SERVICE: &str = "inference.GRPCInferenceService";

/// An event on a span.
#[derive(Debug, Clone)]
pub(crate) struct EventRecord {
    pub(crate) name: Cow<'static, str>,
    pub(crate) time: SystemTime,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) dropped_attributes: u32,
}

/// One finished span.
#[derive(Debug, Clone)]
pub(crate) struct SpanRecord {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    /// All zero for a root span.
    pub(crate) parent_span_id: [u8; 8],
    /// W3C `tracestate` inherited from the parent, as its header value;
    /// empty when there is none.
    pub(crate) trace_state: String,
    /// OTLP's span flags: the W3C trace flags in bits 0–7, bit 8 when
    /// whether the parent is remote is known, bit 9 when it is.
    pub(crate) flags: u32,
    /// Empty for a request's span, whose name the exporter writes from
    /// its method and route (so the request pays for no string).
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: SpanKind,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    /// Boxed: a scoring call's span, the most common, has none, and a
    /// smaller record is less to copy into the queue and across cores.
    pub(crate) http: Option<Box<HttpAttrs>>,
    pub(crate) score: Option<ScoreAttrs>,
    /// Attributes set through the OpenTelemetry API.
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) dropped_attributes: u32,
    pub(crate) events: Vec<EventRecord>,
    pub(crate) dropped_events: u32,
    pub(crate) status: Status,
}

impl SpanRecord {
    /// A span starting now, with no attributes yet.
    pub(crate) fn new(
        name: Cow<'static, str>,
        kind: SpanKind,
        trace_id: [u8; 16],
        span_id: [u8; 8],
        parent_span_id: [u8; 8],
        flags: u32,
    ) -> SpanRecord {
        let now = SystemTime::now();
        SpanRecord {
            trace_id,
            span_id,
            parent_span_id,
            trace_state: String::new(),
            flags,
            name,
            kind,
            start: now,
            end: now,
            http: None,
            score: None,
            attributes: Vec::new(),
            dropped_attributes: 0,
            events: Vec::new(),
            dropped_events: 0,
            status: Status::Unset,
        }
    }
}

/// Nanoseconds since the Unix epoch (0 for a time before it).
pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
