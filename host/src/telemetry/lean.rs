//! The lean span path: spans are recorded as compact [`SpanRecord`]s into a
//! bounded queue, and one exporter thread encodes them straight into OTLP
//! protobuf and sends them (`export.rs`).
//!
//! It replaces the OpenTelemetry SDK's tracer, batch processor and OTLP
//! span exporter, which cost a traced request about 7 µs of CPU: a span
//! object behind a mutex per span, an attribute vector of `KeyValue`s, a
//! channel send, a deep copy into `SpanData`, a conversion into the proto
//! types, and prost's encoding of those. What stays is the OpenTelemetry
//! API for context: a parent span from the embedding program, a W3C
//! `traceparent` extracted by the server, and the SDK's samplers and id
//! generator, so `OTEL_TRACES_SAMPLER` means what it meant.
//!
//! Three kinds of span go through it:
//! - the scoring span of [`crate::Model::score`], written by
//!   `call::CallRecord` into typed fields;
//! - the request span of `glassbox serve` ([`RequestSpan`]), into which the
//!   scoring call writes its own attributes when spans are merged (the
//!   default: one span per request);
//! - any span of the OpenTelemetry API started from [`Tracer`] (an
//!   embedding program's, the health check's), with `KeyValue` attributes.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use opentelemetry::trace::{
    Link, SpanContext, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceState,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SamplingDecision, ShouldSample};

use super::record::{EventRecord, SpanRecord};

/// Attributes (and events) one API span keeps at most, the SDK's default
/// limit: the rest are counted as dropped.
const MAX_ATTRIBUTES: usize = 128;

/// Spans dropped before reaching the collector.
#[derive(Debug, Default)]
pub(crate) struct Drops {
    pub(crate) queue_full: AtomicU64,
    pub(crate) export_failed: AtomicU64,
}

/// Finished spans waiting for the exporter thread.
#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) spans: Mutex<Vec<SpanRecord>>,
    /// Spans held at most (`OTEL_BSP_MAX_QUEUE_SIZE`): with the collector
    /// down, this bounds the memory tracing takes.
    pub(crate) capacity: usize,
    /// Spans per export (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`); a queue this
    /// long wakes the exporter before its schedule.
    pub(crate) batch: usize,
    pub(crate) wake: tokio::sync::Notify,
    pub(crate) drops: Arc<Drops>,
    /// Spans the exporter has taken and not yet sent: they count against
    /// the capacity too, so that memory stays bounded while an export
    /// waits on a slow collector.
    pub(crate) in_flight: std::sync::atomic::AtomicUsize,
    /// Set once the exporter has stopped: later spans are dropped.
    pub(crate) closed: AtomicBool,
}

impl Queue {
    pub(crate) fn new(capacity: usize, batch: usize, drops: Arc<Drops>) -> Queue {
        Queue {
            spans: Mutex::new(Vec::with_capacity(capacity.min(4096))),
            capacity,
            batch: batch.clamp(1, capacity),
            wake: tokio::sync::Notify::new(),
            drops,
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Queues a finished, sampled span, or counts it dropped when the queue
    /// is full.
    pub(crate) fn push(&self, span: SpanRecord) {
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        if spans.len() + self.in_flight.load(Ordering::Relaxed) >= self.capacity
            || self.closed.load(Ordering::Relaxed)
        {
            drop(spans);
            self.drops.queue_full.fetch_add(1, Ordering::Relaxed);
            return;
        }
        spans.push(span);
        let full = spans.len() == self.batch;
        drop(spans);
        if full {
            self.wake.notify_one();
        }
    }

    /// Takes every queued span, swapping `into` (emptied) for the queue:
    /// O(1) under the lock, so a scoring thread never waits while the
    /// exporter copies records out.
    pub(crate) fn take(&self, into: &mut Vec<SpanRecord>) {
        into.clear();
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *spans, into);
        self.in_flight.store(into.len(), Ordering::Relaxed);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

/// How a request's spans are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerSpans {
    /// One span per request: the server span carries the scoring call's
    /// attributes and events (the default).
    Merged,
    /// A server span per request, parent of a `glassbox.score` span.
    Separate,
}

impl std::str::FromStr for ServerSpans {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "merged" => Ok(ServerSpans::Merged),
            "separate" => Ok(ServerSpans::Separate),
            other => Err(format!("`{other}` is neither `merged` nor `separate`")),
        }
    }
}

/// The lean tracer's shared state.
#[derive(Debug)]
pub(crate) struct Lean {
    pub(crate) queue: Arc<Queue>,
    sampler: Box<dyn ShouldSample>,
    ids: RandomIdGenerator,
    pub(crate) server_spans: ServerSpans,
}

/// What a new span is: its context and whether it is recorded.
pub(crate) struct Started {
    pub(crate) context: SpanContext,
    pub(crate) parent_span_id: [u8; 8],
    pub(crate) sampled: bool,
    /// OTLP span flags (see [`SpanRecord::flags`]).
    pub(crate) flags: u32,
}

/// The span context of `cx`'s current span: a request's span when the
/// server runs it, else the OpenTelemetry API's active span.
pub(crate) fn current_span_context(cx: &Context) -> Option<SpanContext> {
    if let Some(request) = cx.get::<RequestSpan>() {
        return Some(request.context.clone());
    }
    cx.has_active_span()
        .then(|| cx.span().span_context().clone())
}

impl Lean {
    pub(crate) fn new(
        queue: Arc<Queue>,
        sampler: Box<dyn ShouldSample>,
        server_spans: ServerSpans,
    ) -> Lean {
        Lean {
            queue,
            sampler,
            ids: RandomIdGenerator::default(),
            server_spans,
        }
    }

    /// Decides a new span's identity and whether it is sampled: a child of
    /// a request's span shares its decision; anything else asks the
    /// sampler, as the SDK would.
    pub(crate) fn start(
        &self,
        parent_cx: &Context,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> Started {
        let span_id = self.ids.new_span_id();
        let (parent, from_request) = match parent_cx.get::<RequestSpan>() {
            Some(request) => (Some(request.context.clone()), true),
            None => (
                parent_cx
                    .has_active_span()
                    .then(|| parent_cx.span().span_context().clone())
                    .filter(SpanContext::is_valid),
                false,
            ),
        };
        let trace_id = parent
            .as_ref()
            .map_or_else(|| self.ids.new_trace_id(), SpanContext::trace_id);
        let (sampled, trace_state) = match (&parent, from_request) {
            (Some(p), true) => (p.is_sampled(), p.trace_state().clone()),
            _ => {
                let result = self.sampler.should_sample(
                    Some(parent_cx),
                    trace_id,
                    name,
                    kind,
                    attributes,
                    links,
                );
                (
                    result.decision == SamplingDecision::RecordAndSample,
                    result.trace_state,
                )
            }
        };
        let trace_flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        // Bit 8: whether the parent is remote is known; bit 9: it is.
        let remote = parent.as_ref().is_some_and(SpanContext::is_remote);
        let flags = u32::from(trace_flags.to_u8()) | 0x100 | if remote { 0x200 } else { 0 };
        Started {
            parent_span_id: parent.as_ref().map_or([0; 8], |p| p.span_id().to_bytes()),
            context: SpanContext::new(trace_id, span_id, trace_flags, false, trace_state),
            sampled,
            flags,
        }
    }

    /// A record for a span `started` by [`Lean::start`].
    pub(crate) fn record(started: &Started, name: Cow<'static, str>, kind: SpanKind) -> SpanRecord {
        let mut record = SpanRecord::new(
            name,
            kind,
            started.context.trace_id().to_bytes(),
            started.context.span_id().to_bytes(),
            started.parent_span_id,
            started.flags,
        );
        let state = started.context.trace_state();
        if *state != TraceState::NONE {
            record.trace_state = state.header();
        }
        record
    }
}

/// The span of one request to `glassbox serve`, put in the request's
/// context by the server's trace layer, where the scoring call finds it.
#[derive(Debug)]
pub(crate) struct RequestSpan {
    pub(crate) context: SpanContext,
    /// Whether the scoring call writes into this span rather than starting
    /// its own.
    pub(crate) merged: bool,
    /// `None` when the request is not sampled.
    pub(crate) record: Mutex<Option<SpanRecord>>,
}

impl RequestSpan {
    /// Runs `f` on the record, when the span is sampled.
    pub(crate) fn with_record<T>(&self, f: impl FnOnce(&mut SpanRecord) -> T) -> Option<T> {
        let mut record = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        record.as_mut().map(f)
    }
}

/// A tracer of the OpenTelemetry API whose spans take the lean path: what
/// [`super::Telemetry::tracer`] gives an embedding program for its own
/// spans.
#[derive(Clone, Debug)]
pub struct Tracer(pub(crate) Arc<Lean>);

/// A span of [`Tracer`].
#[derive(Debug)]
pub struct Span {
    context: SpanContext,
    /// `None` when not sampled, and once ended.
    record: Option<Box<SpanRecord>>,
    lean: Arc<Lean>,
}

impl opentelemetry::trace::Tracer for Tracer {
    type Span = Span;

    fn build_with_context(
        &self,
        builder: opentelemetry::trace::SpanBuilder,
        parent_cx: &Context,
    ) -> Span {
        let kind = builder.span_kind.unwrap_or(SpanKind::Internal);
        let attributes = builder.attributes.unwrap_or_default();
        let links = builder.links.unwrap_or_default();
        let started = self
            .0
            .start(parent_cx, &builder.name, &kind, &attributes, &links);
        let record = started.sampled.then(|| {
            let mut record = Lean::record(&started, builder.name, kind);
            if let Some(t) = builder.start_time {
                record.start = t;
            }
            let mut span = Box::new(record);
            for kv in attributes {
                push_attribute(&mut span, kv);
            }
            for e in builder.events.unwrap_or_default() {
                push_event(&mut span, e.name, e.timestamp, e.attributes);
            }
            span
        });
        Span {
            context: started.context,
            record,
            lean: self.0.clone(),
        }
    }
}

fn push_attribute(record: &mut SpanRecord, kv: KeyValue) {
    if let Some(same) = record.attributes.iter_mut().find(|a| a.key == kv.key) {
        *same = kv;
    } else if record.attributes.len() < MAX_ATTRIBUTES {
        record.attributes.push(kv);
    } else {
        record.dropped_attributes += 1;
    }
}

fn push_event(
    record: &mut SpanRecord,
    name: Cow<'static, str>,
    time: SystemTime,
    mut attributes: Vec<KeyValue>,
) {
    if record.events.len() >= MAX_ATTRIBUTES {
        record.dropped_events += 1;
        return;
    }
    let dropped = attributes.len().saturating_sub(MAX_ATTRIBUTES);
    attributes.truncate(MAX_ATTRIBUTES);
    record.events.push(EventRecord {
        name,
        time,
        attributes,
        dropped_attributes: u32::try_from(dropped).unwrap_or(u32::MAX),
    });
}

impl opentelemetry::trace::Span for Span {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        if let Some(record) = self.record.as_mut() {
            push_event(record, name.into(), timestamp, attributes);
        }
    }

    fn span_context(&self) -> &SpanContext {
        &self.context
    }

    fn is_recording(&self) -> bool {
        self.record.is_some()
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        if let Some(record) = self.record.as_mut() {
            push_attribute(record, attribute);
        }
    }

    fn set_status(&mut self, status: Status) {
        if let Some(record) = self.record.as_mut() {
            // Ok is final; an error replaces unset (the API's rule).
            if status > record.status {
                record.status = status;
            }
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(record) = self.record.as_mut() {
            record.name = new_name.into();
        }
    }

    fn add_link(&mut self, _span_context: SpanContext, _attributes: Vec<KeyValue>) {
        // Glassbox's spans have no links, and the records keep none.
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        if let Some(mut record) = self.record.take() {
            record.end = timestamp;
            self.lean.queue.push(*record);
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        opentelemetry::trace::Span::end(self);
    }
}

/// The trace and span id of `context` as the W3C `traceresponse` header's
/// value: `00-{trace id}-{span id}-{flags}`. Hex written by hand: through
/// `format!` and the ids' `Display` it was half of a request span's cost.
pub(crate) fn trace_response(context: &SpanContext) -> [u8; 55] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 55];
    out[..2].copy_from_slice(b"00");
    let mut put = |at: usize, bytes: &[u8]| {
        for (i, b) in bytes.iter().enumerate() {
            out[at + 2 * i] = HEX[usize::from(b >> 4)];
            out[at + 2 * i + 1] = HEX[usize::from(b & 15)];
        }
    };
    put(3, &context.trace_id().to_bytes());
    put(36, &context.span_id().to_bytes());
    put(53, &[context.trace_flags().to_u8()]);
    out
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    #[test]
    fn the_trace_response_header_is_w3c_trace_context() {
        let context = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        assert_eq!(
            std::str::from_utf8(&super::trace_response(&context)).unwrap(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
    }
}
