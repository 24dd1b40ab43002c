//! OTLP protobuf for the lean span path: an `ExportTraceServiceRequest`
//! written straight from [`SpanRecord`]s.
//!
//! Hand-written rather than built from `opentelemetry_proto`'s structs:
//! those take a `String` or a `Vec` for every id, name and attribute of
//! every span, the very copies this path exists to avoid. The bytes are
//! what prost writes for the same message (fields in tag order, proto3
//! defaults left out, a set oneof always written), which the tests check
//! byte for byte.
//!
//! A nested message is written in place: a guessed number of bytes is left
//! for its length, and the body is moved only when the guess was wrong.
//! Key-value pairs almost always fit one byte, spans two.

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, Value};
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use super::names;
use super::record::{EventRecord, GRPC_SERVICE, HttpAttrs, ScoreAttrs, SpanRecord, unix_nanos};

/// Bytes left for the length of a message that is usually under 128 bytes.
const SHORT: usize = 1;
/// Bytes left for the length of a span or an event: usually 128 bytes to
/// 16 KiB.
const LONG: usize = 2;

/// `Span.attributes`.
const SPAN_ATTRIBUTES: u32 = 9;

/// The parts of every export request that do not change: the encoded
/// `Resource` and `InstrumentationScope` messages.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    /// The body of the `Resource` message.
    resource: Vec<u8>,
    /// The body of the `InstrumentationScope` message.
    scope: Vec<u8>,
    /// `ResourceSpans.schema_url`; empty when the resource has none.
    schema_url: String,
}

impl Envelope {
    pub(crate) fn new(
        resource: &opentelemetry_sdk::Resource,
        scope_name: &str,
        scope_version: &str,
    ) -> Envelope {
        // The resource keeps its attributes in a hash map; sorted, every
        // request of every run carries them in the same order.
        let mut attributes: Vec<_> = resource.iter().collect();
        attributes.sort_by_key(|&(key, _)| key);
        let mut encoded = Vec::new();
        for (key, value) in attributes {
            otel_attribute(&mut encoded, 1, key.as_str(), value);
        }
        let mut scope = Vec::new();
        opt_bytes(&mut scope, 1, scope_name.as_bytes());
        opt_bytes(&mut scope, 2, scope_version.as_bytes());
        Envelope {
            resource: encoded,
            scope,
            schema_url: resource.schema_url().unwrap_or_default().to_owned(),
        }
    }
}

/// Encodes an `ExportTraceServiceRequest` (opentelemetry.proto.collector.trace.v1)
/// holding one `ResourceSpans` (the envelope's resource and schema url)
/// with one `ScopeSpans` (the envelope's scope) holding `spans`, into `out`
/// (cleared first). `scratch` is a reusable buffer for the spans, whose
/// total length the headers before them need.
pub(crate) fn encode_request(
    envelope: &Envelope,
    spans: &[SpanRecord],
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) {
    scratch.clear();
    for record in spans {
        // `ScopeSpans.spans`.
        message(scratch, 2, LONG, |buf| span(buf, record));
    }
    // ScopeSpans: scope = 1, spans = 2.
    let scope_spans = field_len(1, envelope.scope.len()) + scratch.len();
    // ResourceSpans: resource = 1, scope_spans = 2, schema_url = 3.
    let mut resource_spans = field_len(1, envelope.resource.len()) + field_len(2, scope_spans);
    if !envelope.schema_url.is_empty() {
        resource_spans += field_len(3, envelope.schema_url.len());
    }

    out.clear();
    out.reserve(field_len(1, resource_spans));
    // ExportTraceServiceRequest.resource_spans.
    length_header(out, 1, resource_spans);
    put_bytes(out, 1, &envelope.resource);
    length_header(out, 2, scope_spans);
    put_bytes(out, 1, &envelope.scope);
    out.extend_from_slice(scratch);
    opt_bytes(out, 3, envelope.schema_url.as_bytes());
}

/// The body of one `Span`.
fn span(buf: &mut Vec<u8>, record: &SpanRecord) {
    put_bytes(buf, 1, &record.trace_id);
    put_bytes(buf, 2, &record.span_id);
    opt_bytes(buf, 3, record.trace_state.as_bytes());
    // A root span has no parent: OTLP says so with an empty id.
    if record.parent_span_id != [0; 8] {
        put_bytes(buf, 4, &record.parent_span_id);
    }
    match &record.http {
        Some(http) if record.name.is_empty() => http_name(buf, http),
        _ => opt_bytes(buf, 5, record.name.as_bytes()),
    }
    opt_varint(buf, 6, span_kind(&record.kind));
    opt_fixed64(buf, 7, unix_nanos(record.start));
    opt_fixed64(buf, 8, unix_nanos(record.end));
    if let Some(http) = &record.http {
        http_attributes(buf, http, record.score.as_ref());
    }
    if let Some(score) = &record.score {
        score_attributes(buf, score);
    }
    for kv in &record.attributes {
        otel_attribute(buf, SPAN_ATTRIBUTES, kv.key.as_str(), &kv.value);
    }
    opt_varint(buf, 10, u64::from(record.dropped_attributes));
    for event in &record.events {
        message(buf, 11, LONG, |buf| span_event(buf, event));
    }
    opt_varint(buf, 12, u64::from(record.dropped_events));
    // Status: message = 2, code = 3 (Ok 1, Error 2). Unset is the
    // default, so no status at all.
    match &record.status {
        Status::Unset => {}
        Status::Ok => message(buf, 15, SHORT, |buf| opt_varint(buf, 3, 1)),
        Status::Error { description } => message(buf, 15, SHORT, |buf| {
            opt_bytes(buf, 2, description.as_bytes());
            opt_varint(buf, 3, 2);
        }),
    }
    opt_fixed32(buf, 16, record.flags);
}

/// OTLP's `Span.SpanKind` (0 is "unspecified", which the API never means).
fn span_kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// The body of one `Span.Event`.
fn span_event(buf: &mut Vec<u8>, event: &EventRecord) {
    opt_fixed64(buf, 1, unix_nanos(event.time));
    opt_bytes(buf, 2, event.name.as_bytes());
    for kv in &event.attributes {
        otel_attribute(buf, 3, kv.key.as_str(), &kv.value);
    }
    opt_varint(buf, 4, u64::from(event.dropped_attributes));
}

/// The `error.type` a scoring call names, if any.
fn score_error_type(score: &ScoreAttrs) -> Option<&'static str> {
    if score.error_type {
        score.outcome
    } else {
        None
    }
}

/// The name of a request's span, field 5: `service/method` for a gRPC call
/// (OpenTelemetry's RPC conventions), `METHOD route` for an HTTP request
/// that matched a route, else the method.
fn http_name(buf: &mut Vec<u8>, http: &HttpAttrs) {
    let method = http.method.as_bytes();
    let parts: [&[u8]; 3] = match (&http.rpc_method, &http.route) {
        (Some(rpc), _) => [GRPC_SERVICE.as_bytes(), b"/", rpc],
        (None, Some(route)) => [method, b" ", route],
        (None, None) => [method, b"", b""],
    };
    length_header(buf, 5, parts.iter().map(|p| p.len()).sum());
    for part in parts {
        buf.extend_from_slice(part);
    }
}

/// A request's HTTP and RPC attributes.
fn http_attributes(buf: &mut Vec<u8>, http: &HttpAttrs, score: Option<&ScoreAttrs>) {
    str_attribute(buf, "http.request.method", &http.method);
    bytes_attribute(buf, "url.path", &http.path);
    str_attribute(buf, "url.scheme", "http");
    str_attribute(buf, "network.protocol.version", http.protocol_version);
    if let Some(method) = &http.rpc_method {
        str_attribute(buf, "rpc.system", "grpc");
        str_attribute(buf, "rpc.service", GRPC_SERVICE);
        bytes_attribute(buf, "rpc.method", method);
    } else if let Some(route) = &http.route {
        bytes_attribute(buf, "http.route", route);
    }
    if let Some(agent) = &http.user_agent {
        bytes_attribute(buf, "user_agent.original", agent);
    }
    if http.status_code != 0 {
        int_attribute(
            buf,
            "http.response.status_code",
            i64::from(http.status_code),
        );
    }
    if let Some(code) = http.grpc_status {
        int_attribute(buf, "rpc.grpc.status_code", code);
    }
    // The scoring call's outcome says more than a status code, and a
    // second `error.type` key would leave a backend to pick one.
    if let Some(error) = &http.error_type
        && score.and_then(score_error_type).is_none()
    {
        str_attribute(buf, names::ERROR_TYPE, error);
    }
}

/// A scoring call's `glassbox.*` attributes.
fn score_attributes(buf: &mut Vec<u8>, score: &ScoreAttrs) {
    str_attribute(buf, names::MODEL_NAME, &score.model.name);
    str_attribute(buf, names::MODEL_VERSION, &score.model.version);
    str_attribute(buf, names::MODEL_DIGEST, &score.model.digest);
    int_attribute(buf, names::BATCH_ROWS, saturating(score.rows));
    if let Some(outcome) = score.outcome {
        str_attribute(buf, names::OUTCOME, outcome);
    }
    if let Some(error) = score_error_type(score) {
        str_attribute(buf, names::ERROR_TYPE, error);
    }
    if let Some(guest) = score.guest {
        int_attribute(buf, names::GUEST_TICKS, saturating(guest.ticks));
        int_attribute(
            buf,
            names::GUEST_DEADLINE_TICKS,
            saturating(guest.deadline_ticks),
        );
        int_attribute(buf, names::GUEST_MEMORY, saturating(guest.memory_bytes));
    }
    if let Some(bad) = score.bad_answers {
        int_attribute(buf, names::BAD_ANSWERS, saturating(bad));
    }
    if let Some(total) = score.violations_total {
        int_attribute(buf, names::VIOLATIONS_TOTAL, saturating(total));
    }
}

/// An unsigned count as OTLP's signed integer.
fn saturating(value: impl TryInto<i64>) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

// The typed attributes' lengths are known before they are written, so
// they skip `message`'s guess and move: these two are most of a span's
// bytes.

fn str_attribute(buf: &mut Vec<u8>, key: &str, value: &str) {
    bytes_attribute(buf, key, value.as_bytes());
}

/// A string attribute whose value is UTF-8 bytes.
fn bytes_attribute(buf: &mut Vec<u8>, key: &str, value: &[u8]) {
    // KeyValue { key = 1, value = 2: AnyValue { string_value = 1 } }.
    let any = field_len(1, value.len());
    length_header(
        buf,
        SPAN_ATTRIBUTES,
        field_len(1, key.len()) + field_len(2, any),
    );
    put_bytes(buf, 1, key.as_bytes());
    length_header(buf, 2, any);
    put_bytes(buf, 1, value);
}

fn int_attribute(buf: &mut Vec<u8>, key: &str, value: i64) {
    // AnyValue { int_value = 3 }, written even when 0 (a set oneof).
    let any = 1 + encoded_len_varint(value as u64);
    length_header(
        buf,
        SPAN_ATTRIBUTES,
        field_len(1, key.len()) + field_len(2, any),
    );
    put_bytes(buf, 1, key.as_bytes());
    length_header(buf, 2, any);
    encode_key(3, WireType::Varint, buf);
    encode_varint(value as u64, buf);
}

fn otel_attribute(buf: &mut Vec<u8>, tag: u32, key: &str, value: &Value) {
    attribute(buf, tag, key, |buf| any_value(buf, value));
}

/// A `KeyValue` as field `tag`; `value` writes the `AnyValue`'s body.
fn attribute(buf: &mut Vec<u8>, tag: u32, key: &str, value: impl FnOnce(&mut Vec<u8>)) {
    message(buf, tag, SHORT, |buf| {
        opt_bytes(buf, 1, key.as_bytes());
        // A set message field is written even when empty.
        message(buf, 2, SHORT, value);
    });
}

// The bodies of `AnyValue`s. Its one field is a oneof, which prost writes
// whenever it is set, default value or not.

fn any_string(buf: &mut Vec<u8>, value: &str) {
    put_bytes(buf, 1, value.as_bytes());
}

fn any_bool(buf: &mut Vec<u8>, value: bool) {
    encode_key(2, WireType::Varint, buf);
    encode_varint(u64::from(value), buf);
}

fn any_int(buf: &mut Vec<u8>, value: i64) {
    encode_key(3, WireType::Varint, buf);
    // int64 goes on the wire as its two's complement: ten bytes when
    // negative.
    encode_varint(value as u64, buf);
}

fn any_double(buf: &mut Vec<u8>, value: f64) {
    encode_key(4, WireType::SixtyFourBit, buf);
    buf.extend_from_slice(&value.to_le_bytes());
}

fn any_value(buf: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Bool(v) => any_bool(buf, *v),
        Value::I64(v) => any_int(buf, *v),
        Value::F64(v) => any_double(buf, *v),
        Value::String(v) => any_string(buf, v.as_str()),
        Value::Array(Array::Bool(v)) => any_array(buf, v, |buf, x| any_bool(buf, *x)),
        Value::Array(Array::I64(v)) => any_array(buf, v, |buf, x| any_int(buf, *x)),
        Value::Array(Array::F64(v)) => any_array(buf, v, |buf, x| any_double(buf, *x)),
        Value::Array(Array::String(v)) => any_array(buf, v, |buf, x| any_string(buf, x.as_str())),
        // Kinds of value added to the API after this was written: their
        // text says more than nothing.
        other => any_string(buf, &other.to_string()),
    }
}

/// An `ArrayValue` (`values` = 1) as `AnyValue.array_value` (5).
fn any_array<T>(buf: &mut Vec<u8>, items: &[T], element: impl Fn(&mut Vec<u8>, &T)) {
    message(buf, 5, SHORT, |buf| {
        for item in items {
            message(buf, 1, SHORT, |buf| element(buf, item));
        }
    });
}

// Wire-level helpers.

/// A length-delimited field whose body `body` writes, in place: `reserve`
/// bytes are left for the length, and the body is moved when its length
/// takes more or fewer.
fn message(buf: &mut Vec<u8>, tag: u32, reserve: usize, body: impl FnOnce(&mut Vec<u8>)) {
    encode_key(tag, WireType::LengthDelimited, buf);
    let slot = buf.len();
    buf.resize(slot + reserve, 0);
    body(buf);
    let start = slot + reserve;
    let end = buf.len();
    let len = end - start;
    let need = encoded_len_varint(len as u64);
    if need > reserve {
        buf.resize(end + (need - reserve), 0);
        buf.copy_within(start..end, slot + need);
    } else if need < reserve {
        buf.copy_within(start..end, slot + need);
        buf.truncate(end - (reserve - need));
    }
    let mut length: &mut [u8] = &mut buf[slot..slot + need];
    encode_varint(len as u64, &mut length);
}

/// The key and length of a length-delimited field whose body follows.
fn length_header(buf: &mut Vec<u8>, tag: u32, len: usize) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
}

/// The encoded size of a length-delimited field with a body of `len` bytes.
fn field_len(tag: u32, len: usize) -> usize {
    encoded_len_varint(u64::from(tag << 3)) + encoded_len_varint(len as u64) + len
}

/// A bytes, string or message field, written even when empty.
fn put_bytes(buf: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    length_header(buf, tag, bytes.len());
    buf.extend_from_slice(bytes);
}

/// A bytes or string field, left out when empty (proto3's default).
fn opt_bytes(buf: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        put_bytes(buf, tag, bytes);
    }
}

/// A varint field (uint32, uint64, enum), left out when 0.
fn opt_varint(buf: &mut Vec<u8>, tag: u32, value: u64) {
    if value != 0 {
        encode_key(tag, WireType::Varint, buf);
        encode_varint(value, buf);
    }
}

/// A fixed64 field, left out when 0.
fn opt_fixed64(buf: &mut Vec<u8>, tag: u32, value: u64) {
    if value != 0 {
        encode_key(tag, WireType::SixtyFourBit, buf);
        buf.extend_from_slice(&value.to_le_bytes());
    }
}

/// A fixed32 field, left out when 0.
fn opt_fixed32(buf: &mut Vec<u8>, tag: u32, value: u32) {
    if value != 0 {
        encode_key(tag, WireType::ThirtyTwoBit, buf);
        buf.extend_from_slice(&value.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use opentelemetry::trace::{SpanKind, Status};
    use opentelemetry::{Array, KeyValue, StringValue, Value};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, ArrayValue, KeyValue as ProtoKeyValue, any_value,
    };
    use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind as ProtoKind;
    use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
    use prost::Message as _;

    use super::super::GuestUse;
    use super::super::names;
    use super::super::record::{
        EventRecord, GRPC_SERVICE, HttpAttrs, Inline, ModelIdentity, ScoreAttrs, SpanRecord,
        unix_nanos,
    };

    fn inline(s: &str) -> Inline {
        Inline::from_slice(s.as_bytes())
    }
    use super::{Envelope, encode_request};

    type Pv = any_value::Value;

    fn s(value: &str) -> Pv {
        Pv::StringValue(value.to_owned())
    }

    fn i(value: i64) -> Pv {
        Pv::IntValue(value)
    }

    fn array(values: Vec<Pv>) -> Pv {
        Pv::ArrayValue(ArrayValue {
            values: values
                .into_iter()
                .map(|v| AnyValue { value: Some(v) })
                .collect(),
        })
    }

    /// The proto value an API value should become, written independently of
    /// the encoder.
    fn expected_value(value: &Value) -> Pv {
        match value {
            Value::Bool(v) => Pv::BoolValue(*v),
            Value::I64(v) => Pv::IntValue(*v),
            Value::F64(v) => Pv::DoubleValue(*v),
            Value::String(v) => s(v.as_str()),
            Value::Array(Array::Bool(v)) => array(v.iter().map(|x| Pv::BoolValue(*x)).collect()),
            Value::Array(Array::I64(v)) => array(v.iter().map(|x| Pv::IntValue(*x)).collect()),
            Value::Array(Array::F64(v)) => array(v.iter().map(|x| Pv::DoubleValue(*x)).collect()),
            Value::Array(Array::String(v)) => array(v.iter().map(|x| s(x.as_str())).collect()),
            other => panic!("no test mapping for {other:?}"),
        }
    }

    fn expected_kvs(kvs: &[KeyValue]) -> Vec<(String, Pv)> {
        kvs.iter()
            .map(|kv| (kv.key.as_str().to_owned(), expected_value(&kv.value)))
            .collect()
    }

    fn pairs(pairs: &[(&str, Pv)]) -> Vec<(String, Pv)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn decoded_kvs(kvs: &[ProtoKeyValue]) -> Vec<(String, Pv)> {
        kvs.iter()
            .map(|kv| {
                let value = kv.value.clone().and_then(|v| v.value).expect("a value");
                (kv.key.clone(), value)
            })
            .collect()
    }

    fn proto_kind(kind: &SpanKind) -> ProtoKind {
        match kind {
            SpanKind::Internal => ProtoKind::Internal,
            SpanKind::Server => ProtoKind::Server,
            SpanKind::Client => ProtoKind::Client,
            SpanKind::Producer => ProtoKind::Producer,
            SpanKind::Consumer => ProtoKind::Consumer,
        }
    }

    fn resource() -> opentelemetry_sdk::Resource {
        opentelemetry_sdk::Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", "svc"),
                KeyValue::new("host.cores", 2_i64),
                KeyValue::new(
                    "process.tags",
                    Value::Array(Array::String(vec!["a".into()])),
                ),
            ])
            .build()
    }

    fn model() -> Arc<ModelIdentity> {
        Arc::new(ModelIdentity {
            name: "m".to_owned(),
            version: "1.2.0".to_owned(),
            digest: "sha256:00ff".to_owned(),
        })
    }

    const TRACE: [u8; 16] = [
        0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47,
        0x36,
    ];

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789)
    }

    fn timed(mut record: SpanRecord, start_ms: u64, end_ms: u64) -> SpanRecord {
        record.start = t0() + Duration::from_millis(start_ms);
        record.end = t0() + Duration::from_millis(end_ms);
        record
    }

    /// The spans of the test, each with the attributes it should carry on
    /// the wire, in order.
    fn spans() -> Vec<(SpanRecord, Vec<(String, Pv)>)> {
        let mut out = Vec::new();

        // A REST request that failed with a 500.
        let mut rest = timed(
            SpanRecord::new(
                Cow::Borrowed("POST /v2/models/{model}/infer"),
                SpanKind::Server,
                TRACE,
                [1, 2, 3, 4, 5, 6, 7, 8],
                [0; 8],
                0x01,
            ),
            0,
            9,
        );
        rest.http = Some(Box::new(HttpAttrs {
            method: Cow::Borrowed("POST"),
            path: inline("/v2/models/m/infer"),
            protocol_version: "1.1",
            route: Some(inline("/v2/models/{model}/infer")),
            rpc_method: None,
            user_agent: Some(inline("curl/8.5.0")),
            status_code: 500,
            grpc_status: None,
            error_type: Some(Cow::Borrowed("500")),
        }));
        rest.status = Status::error("internal error");
        out.push((
            rest,
            pairs(&[
                ("http.request.method", s("POST")),
                ("url.path", s("/v2/models/m/infer")),
                ("url.scheme", s("http")),
                ("network.protocol.version", s("1.1")),
                ("http.route", s("/v2/models/{model}/infer")),
                ("user_agent.original", s("curl/8.5.0")),
                ("http.response.status_code", i(500)),
                ("error.type", s("500")),
            ]),
        ));

        // A gRPC call under a remote parent.
        let mut grpc = timed(
            SpanRecord::new(
                Cow::Owned(format!("{GRPC_SERVICE}/ModelInfer")),
                SpanKind::Server,
                TRACE,
                [9, 9, 9, 9, 9, 9, 9, 9],
                [0x33; 8],
                0x301,
            ),
            1,
            2,
        );
        grpc.http = Some(Box::new(HttpAttrs {
            method: Cow::Owned("POST".to_owned()),
            path: inline(&format!("/{GRPC_SERVICE}/ModelInfer")),
            protocol_version: "2",
            route: None,
            rpc_method: Some(inline("ModelInfer")),
            user_agent: Some(inline("grpc-rust/0.14")),
            status_code: 200,
            grpc_status: Some(0),
            error_type: None,
        }));
        grpc.trace_state = "k=v".to_owned();
        out.push((
            grpc,
            pairs(&[
                ("http.request.method", s("POST")),
                ("url.path", s(&format!("/{GRPC_SERVICE}/ModelInfer"))),
                ("url.scheme", s("http")),
                ("network.protocol.version", s("2")),
                ("rpc.system", s("grpc")),
                ("rpc.service", s(GRPC_SERVICE)),
                ("rpc.method", s("ModelInfer")),
                ("user_agent.original", s("grpc-rust/0.14")),
                ("http.response.status_code", i(200)),
                ("rpc.grpc.status_code", i(0)),
            ]),
        ));

        // A scoring call under the REST span, with violations.
        let mut score = timed(
            SpanRecord::new(
                Cow::Borrowed(names::SPAN),
                SpanKind::Internal,
                TRACE,
                [0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8],
                [1, 2, 3, 4, 5, 6, 7, 8],
                0x01,
            ),
            2,
            8,
        );
        score.score = Some(ScoreAttrs {
            model: model(),
            rows: 3,
            outcome: Some("invalid_input"),
            error_type: true,
            guest: Some(GuestUse {
                ticks: 2,
                deadline_ticks: 100,
                memory_bytes: 1_114_112,
            }),
            bad_answers: Some(1),
            violations_total: Some(150),
        });
        for (row, field) in [(0_i64, "x0"), (2, "x7")] {
            score.events.push(EventRecord {
                name: Cow::Borrowed(names::VIOLATION_EVENT),
                time: t0() + Duration::from_millis(3),
                attributes: vec![
                    KeyValue::new(names::VIOLATION_ROW, row),
                    KeyValue::new(names::FIELD, field),
                    KeyValue::new(names::VIOLATION_EXPECTED, "number"),
                    KeyValue::new(names::VIOLATION_GOT, ""),
                ],
                dropped_attributes: u32::try_from(row).unwrap(),
            });
        }
        score.dropped_events = 148;
        score.status = Status::error("invalid_input");
        out.push((
            score,
            pairs(&[
                (names::MODEL_NAME, s("m")),
                (names::MODEL_VERSION, s("1.2.0")),
                (names::MODEL_DIGEST, s("sha256:00ff")),
                (names::BATCH_ROWS, i(3)),
                (names::OUTCOME, s("invalid_input")),
                (names::ERROR_TYPE, s("invalid_input")),
                (names::GUEST_TICKS, i(2)),
                (names::GUEST_DEADLINE_TICKS, i(100)),
                (names::GUEST_MEMORY, i(1_114_112)),
                (names::BAD_ANSWERS, i(1)),
                (names::VIOLATIONS_TOTAL, i(150)),
            ]),
        ));

        // A request and its scoring call merged into one span, both naming
        // an error type; the user agent is not UTF-8.
        let mut merged = timed(
            SpanRecord::new(
                Cow::Borrowed("POST /v2/models/{model}/infer"),
                SpanKind::Server,
                TRACE,
                [0xb1; 8],
                [0; 8],
                0x01,
            ),
            10,
            20,
        );
        merged.http = Some(Box::new(HttpAttrs {
            method: Cow::Borrowed("POST"),
            path: inline("/v2/models/m/infer"),
            protocol_version: "1.1",
            route: Some(inline("/v2/models/{model}/infer")),
            rpc_method: None,
            user_agent: None,
            status_code: 400,
            grpc_status: None,
            error_type: Some(Cow::Borrowed("400")),
        }));
        merged.score = Some(ScoreAttrs {
            model: model(),
            rows: 1,
            outcome: Some("invalid_input"),
            error_type: true,
            guest: None,
            bad_answers: None,
            violations_total: None,
        });
        merged.attributes.push(KeyValue::new("extra", 1_i64));
        merged.status = Status::error("invalid_input");
        out.push((
            merged,
            pairs(&[
                ("http.request.method", s("POST")),
                ("url.path", s("/v2/models/m/infer")),
                ("url.scheme", s("http")),
                ("network.protocol.version", s("1.1")),
                ("http.route", s("/v2/models/{model}/infer")),
                ("http.response.status_code", i(400)),
                (names::MODEL_NAME, s("m")),
                (names::MODEL_VERSION, s("1.2.0")),
                (names::MODEL_DIGEST, s("sha256:00ff")),
                (names::BATCH_ROWS, i(1)),
                (names::OUTCOME, s("invalid_input")),
                (names::ERROR_TYPE, s("invalid_input")),
                ("extra", i(1)),
            ]),
        ));

        // A request whose scoring call succeeded but whose response failed:
        // the request's error type stands.
        let mut late = timed(
            SpanRecord::new(
                Cow::Borrowed("POST /v2/models/{model}/infer"),
                SpanKind::Server,
                TRACE,
                [0xc1; 8],
                [0; 8],
                0x00,
            ),
            21,
            22,
        );
        late.http = Some(Box::new(HttpAttrs {
            method: Cow::Borrowed("POST"),
            path: inline("/v2/models/m/infer"),
            protocol_version: "1.0",
            route: None,
            rpc_method: None,
            user_agent: None,
            status_code: 0,
            grpc_status: None,
            error_type: Some(Cow::Borrowed("timeout")),
        }));
        late.score = Some(ScoreAttrs {
            model: model(),
            rows: 0,
            outcome: Some(names::OUTCOME_OK),
            error_type: false,
            guest: None,
            bad_answers: None,
            violations_total: None,
        });
        out.push((
            late,
            pairs(&[
                ("http.request.method", s("POST")),
                ("url.path", s("/v2/models/m/infer")),
                ("url.scheme", s("http")),
                ("network.protocol.version", s("1.0")),
                ("error.type", s("timeout")),
                (names::MODEL_NAME, s("m")),
                (names::MODEL_VERSION, s("1.2.0")),
                (names::MODEL_DIGEST, s("sha256:00ff")),
                (names::BATCH_ROWS, i(0)),
                (names::OUTCOME, s("ok")),
            ]),
        ));

        // An API span with attributes of every kind, defaults included.
        let mut generic = timed(
            SpanRecord::new(
                Cow::Owned("generic".to_owned()),
                SpanKind::Client,
                TRACE,
                [0xd1; 8],
                [0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8],
                0x301,
            ),
            4,
            5,
        );
        generic.trace_state = "k=v".to_owned();
        generic.attributes = vec![
            KeyValue::new("bool.true", true),
            KeyValue::new("bool.false", false),
            KeyValue::new("int.zero", 0_i64),
            KeyValue::new("int.negative", -7_i64),
            KeyValue::new("int.max", i64::MAX),
            KeyValue::new("double", 1.5_f64),
            KeyValue::new("double.zero", 0.0_f64),
            KeyValue::new("string.empty", ""),
            KeyValue::new("string", "x".repeat(200)),
            KeyValue::new("", "empty key"),
            KeyValue::new("array.bool", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("array.int", Value::Array(Array::I64(vec![1, -2, 0]))),
            KeyValue::new("array.double", Value::Array(Array::F64(vec![0.5, 0.0]))),
            KeyValue::new(
                "array.string",
                Value::Array(Array::String(vec![
                    StringValue::from("a"),
                    StringValue::from(""),
                ])),
            ),
            KeyValue::new("array.empty", Value::Array(Array::I64(Vec::new()))),
        ];
        generic.dropped_attributes = 4;
        generic.events.push(EventRecord {
            name: Cow::Borrowed("bare"),
            time: t0() + Duration::from_millis(4),
            attributes: Vec::new(),
            dropped_attributes: 0,
        });
        generic.dropped_events = 5;
        generic.status = Status::Ok;
        let expected = expected_kvs(&generic.attributes);
        out.push((generic, expected));

        // Bare spans: the other kinds, unset status, a start before the
        // epoch (0 on the wire, so left out), an empty name.
        let mut producer = SpanRecord::new(
            Cow::Borrowed(""),
            SpanKind::Producer,
            TRACE,
            [0xe1; 8],
            [0; 8],
            0,
        );
        producer.start = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
        producer.end = SystemTime::UNIX_EPOCH;
        out.push((producer, Vec::new()));
        let consumer = timed(
            SpanRecord::new(
                Cow::Borrowed("c"),
                SpanKind::Consumer,
                TRACE,
                [0xf1; 8],
                [0; 8],
                1,
            ),
            0,
            0,
        );
        out.push((consumer, Vec::new()));

        out
    }

    fn check_envelope(decoded: &ExportTraceServiceRequest, schema_url: &str) {
        assert_eq!(decoded.resource_spans.len(), 1);
        let resource_spans = &decoded.resource_spans[0];
        assert_eq!(resource_spans.schema_url, schema_url);
        let resource = resource_spans.resource.as_ref().expect("a resource");
        let mut attributes = decoded_kvs(&resource.attributes);
        attributes.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            attributes,
            pairs(&[
                ("host.cores", i(2)),
                ("process.tags", array(vec![s("a")])),
                ("service.name", s("svc")),
            ])
        );
        assert_eq!(resource.dropped_attributes_count, 0);
        assert_eq!(resource_spans.scope_spans.len(), 1);
        let scope = resource_spans.scope_spans[0]
            .scope
            .as_ref()
            .expect("a scope");
        assert_eq!(scope.name, names::SCOPE);
        assert_eq!(scope.version, "0.1.0");
        assert!(scope.attributes.is_empty());
        assert_eq!(resource_spans.scope_spans[0].schema_url, "");
    }

    fn check_span(got: &ProtoSpan, want: &SpanRecord, attributes: &[(String, Pv)]) {
        let name = &want.name;
        assert_eq!(got.trace_id, want.trace_id, "{name}");
        assert_eq!(got.span_id, want.span_id, "{name}");
        if want.parent_span_id == [0; 8] {
            assert!(got.parent_span_id.is_empty(), "{name}");
        } else {
            assert_eq!(got.parent_span_id, want.parent_span_id, "{name}");
        }
        assert_eq!(got.trace_state, want.trace_state, "{name}");
        assert_eq!(got.flags, want.flags, "{name}");
        assert_eq!(got.name, want.name, "{name}");
        assert_eq!(got.kind, proto_kind(&want.kind) as i32, "{name}");
        assert_eq!(got.start_time_unix_nano, unix_nanos(want.start), "{name}");
        assert_eq!(got.end_time_unix_nano, unix_nanos(want.end), "{name}");
        assert_eq!(decoded_kvs(&got.attributes), attributes, "{name}");
        assert_eq!(
            got.dropped_attributes_count, want.dropped_attributes,
            "{name}"
        );
        assert_eq!(got.events.len(), want.events.len(), "{name}");
        for (event, record) in got.events.iter().zip(&want.events) {
            assert_eq!(event.name, record.name, "{name}");
            assert_eq!(event.time_unix_nano, unix_nanos(record.time), "{name}");
            assert_eq!(
                decoded_kvs(&event.attributes),
                expected_kvs(&record.attributes),
                "{name}"
            );
            assert_eq!(
                event.dropped_attributes_count, record.dropped_attributes,
                "{name}"
            );
        }
        assert_eq!(got.dropped_events_count, want.dropped_events, "{name}");
        assert!(got.links.is_empty(), "{name}");
        assert_eq!(got.dropped_links_count, 0, "{name}");
        match &want.status {
            Status::Unset => assert!(got.status.is_none(), "{name}"),
            Status::Ok => {
                let status = got.status.as_ref().expect("a status");
                assert_eq!(status.code, StatusCode::Ok as i32, "{name}");
                assert_eq!(status.message, "", "{name}");
            }
            Status::Error { description } => {
                let status = got.status.as_ref().expect("a status");
                assert_eq!(status.code, StatusCode::Error as i32, "{name}");
                assert_eq!(status.message, *description, "{name}");
            }
        }
    }

    #[test]
    fn spans_decode_to_what_was_recorded_in_canonical_bytes() {
        let envelope = Envelope::new(&resource(), names::SCOPE, "0.1.0");
        let spans = spans();
        let records: Vec<SpanRecord> = spans.iter().map(|(record, _)| record.clone()).collect();
        let (mut out, mut scratch) = (vec![0xee; 7], vec![0xee; 3]);
        encode_request(&envelope, &records, &mut out, &mut scratch);

        let decoded = ExportTraceServiceRequest::decode(out.as_slice()).expect("valid protobuf");
        assert!(
            decoded.encode_to_vec() == out,
            "not prost's canonical encoding"
        );
        check_envelope(&decoded, "");
        let got = &decoded.resource_spans[0].scope_spans[0].spans;
        assert_eq!(got.len(), spans.len());
        for (got, (want, attributes)) in got.iter().zip(&spans) {
            check_span(got, want, attributes);
        }

        // The merged span names one error type: the scoring call's.
        let merged = &got[3];
        let errors: Vec<_> = merged
            .attributes
            .iter()
            .filter(|kv| kv.key == names::ERROR_TYPE)
            .collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].value.as_ref().and_then(|v| v.value.clone()),
            Some(s("invalid_input"))
        );

        // The buffers are reused: a second request is the same bytes.
        let first = out.clone();
        encode_request(&envelope, &records, &mut out, &mut scratch);
        assert_eq!(out, first);
    }

    #[test]
    fn lengths_across_varint_boundaries() {
        // Strings around 127 and 16383 bytes move their messages' lengths
        // across one- and two-byte varints.
        let envelope = Envelope::new(&resource(), names::SCOPE, "0.1.0");
        for len in [
            0, 1, 100, 115, 120, 125, 126, 127, 128, 129, 200, 16_300, 16_370, 16_383, 16_384,
            20_000,
        ] {
            let mut record = timed(
                SpanRecord::new(
                    Cow::Borrowed("s"),
                    SpanKind::Internal,
                    TRACE,
                    [1; 8],
                    [0; 8],
                    1,
                ),
                0,
                1,
            );
            record.attributes.push(KeyValue::new("k", "v".repeat(len)));
            record.attributes.push(KeyValue::new(
                "a",
                Value::Array(Array::String(vec![StringValue::from("w".repeat(len))])),
            ));
            let (mut out, mut scratch) = (Vec::new(), Vec::new());
            encode_request(
                &envelope,
                std::slice::from_ref(&record),
                &mut out,
                &mut scratch,
            );
            let decoded =
                ExportTraceServiceRequest::decode(out.as_slice()).expect("valid protobuf");
            assert!(decoded.encode_to_vec() == out, "not canonical at {len}");
            let span = &decoded.resource_spans[0].scope_spans[0].spans[0];
            check_span(span, &record, &expected_kvs(&record.attributes));
        }
    }

    #[test]
    fn no_spans_is_still_a_request() {
        let schema = "https://opentelemetry.io/schemas/1.26.0";
        let resource = opentelemetry_sdk::Resource::builder_empty()
            .with_schema_url(
                [
                    KeyValue::new("service.name", "svc"),
                    KeyValue::new("host.cores", 2_i64),
                    KeyValue::new(
                        "process.tags",
                        Value::Array(Array::String(vec!["a".into()])),
                    ),
                ],
                schema,
            )
            .build();
        let envelope = Envelope::new(&resource, names::SCOPE, "0.1.0");
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        encode_request(&envelope, &[], &mut out, &mut scratch);
        let decoded = ExportTraceServiceRequest::decode(out.as_slice()).expect("valid protobuf");
        assert!(
            decoded.encode_to_vec() == out,
            "not prost's canonical encoding"
        );
        check_envelope(&decoded, schema);
        assert!(decoded.resource_spans[0].scope_spans[0].spans.is_empty());
    }

    /// A request's span records no name: it is written from the method
    /// and the route, or the gRPC method.
    #[test]
    fn a_request_span_is_named_from_its_route() {
        let envelope = Envelope::new(&resource(), names::SCOPE, "0.1.0");
        let request = |route: Option<&str>, rpc: Option<&str>| {
            let mut record = SpanRecord::new(
                Cow::Borrowed(""),
                SpanKind::Server,
                [1; 16],
                [2; 8],
                [0; 8],
                1,
            );
            record.http = Some(Box::new(HttpAttrs {
                method: Cow::Borrowed("GET"),
                path: inline("/x"),
                protocol_version: "1.1",
                route: route.map(inline),
                rpc_method: rpc.map(inline),
                user_agent: None,
                status_code: 200,
                grpc_status: None,
                error_type: None,
            }));
            record
        };
        let records = [
            request(Some("/v2/models/{name}"), None),
            request(None, Some("ModelInfer")),
            request(None, None),
        ];
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        encode_request(&envelope, &records, &mut out, &mut scratch);
        let decoded = ExportTraceServiceRequest::decode(out.as_slice()).unwrap();
        assert!(decoded.encode_to_vec() == out);
        let names: Vec<&str> = decoded.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "GET /v2/models/{name}",
                &format!("{GRPC_SERVICE}/ModelInfer"),
                "GET"
            ]
        );
    }
}
