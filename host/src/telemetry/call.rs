//! The span and metrics of one scoring call.
//!
//! Every model gets its instruments when it is loaded: from the engine's
//! providers when it was built with [`crate::EngineBuilder::telemetry`], else
//! from the global OpenTelemetry providers in force at that moment. Until a
//! program installs providers those are the API's no-ops, and a call costs
//! a few atomic operations and one small allocation more than without them.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use opentelemetry::global::{self, BoxedSpan, BoxedTracer};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::trace::{Span, SpanKind, Status, Tracer};
use opentelemetry::{Context, InstrumentationScope, KeyValue, StringValue};

use super::lean::{Lean, RequestSpan};
use super::record::{EventRecord, ModelIdentity, ScoreAttrs, SpanRecord};
use super::{Providers, names};
use crate::error::{Error, Violation};

/// Events recorded on one span at most; the SDK would drop the rest anyway
/// (its default limit is 128), and a batch of 10,000 bad rows must not cost
/// 10,000 events.
const MAX_VIOLATION_EVENTS: usize = 100;

/// The instrumentation scope of everything the library records.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(names::SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// Where a model's spans go.
enum Tracing {
    /// The engine's telemetry exports no traces: a call builds no span at
    /// all, not even a no-op one.
    Off,
    /// The global tracer provider of the OpenTelemetry API (an engine
    /// built without telemetry, in a program that may have installed one).
    Api(BoxedTracer),
    /// The engine's own telemetry: the lean path.
    Lean(Arc<Lean>),
}

/// A model's tracer and instruments, with its identifying attributes built
/// once.
pub(crate) struct ModelTelemetry {
    tracing: Tracing,
    identity: Arc<ModelIdentity>,
    name: StringValue,
    version: StringValue,
    digest: StringValue,
    /// Schema field names: violations of other names (a typo in a request)
    /// are counted under one label, so a client cannot blow up the number
    /// of metric series.
    fields: HashSet<String>,
    calls: Counter<u64>,
    rows: Counter<u64>,
    duration: Histogram<f64>,
    violations: Counter<u64>,
}

impl ModelTelemetry {
    /// Instruments from `providers`, or from the global providers when
    /// the engine has none.
    pub(crate) fn new(
        providers: Option<&Providers>,
        name: &str,
        version: &str,
        digest: &str,
        fields: Vec<String>,
    ) -> Self {
        let (tracing, meter) = match providers {
            None => (
                Tracing::Api(global::tracer_with_scope(scope())),
                global::meter_with_scope(scope()),
            ),
            Some(p) => (
                p.tracer.clone().map_or(Tracing::Off, Tracing::Lean),
                p.meter.meter_with_scope(scope()),
            ),
        };
        ModelTelemetry {
            tracing,
            identity: Arc::new(ModelIdentity {
                name: name.to_string(),
                version: version.to_string(),
                digest: digest.to_string(),
            }),
            name: Arc::<str>::from(name).into(),
            version: Arc::<str>::from(version).into(),
            digest: Arc::<str>::from(digest).into(),
            fields: fields.into_iter().collect(),
            calls: meter
                .u64_counter(names::CALLS)
                .with_description("Scoring calls, by model, version and outcome")
                .build(),
            rows: meter
                .u64_counter(names::ROWS)
                .with_description("Rows scored (or refused), by model, version and outcome")
                .build(),
            duration: meter
                .f64_histogram(names::DURATION)
                .with_unit("s")
                .with_description("Duration of scoring calls, by model, version and outcome")
                // From 50 µs (a one-row call) to 10 s (a large batch near its deadline).
                .with_boundaries(vec![
                    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
                    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .build(),
            violations: meter
                .u64_counter(names::VIOLATIONS)
                .with_description(
                    "Contract violations in refused input, by model, version and field",
                )
                .build(),
        }
    }

    /// Starts the span of a call over `rows` rows, a child of the current
    /// context's span.
    pub(crate) fn start(&self, rows: usize) -> CallRecord<'_> {
        let span = match &self.tracing {
            Tracing::Off => CallSpan::None,
            Tracing::Api(tracer) => {
                let mut span = tracer
                    .span_builder(names::SPAN)
                    .with_kind(SpanKind::Internal)
                    .start_with_context(tracer, &Context::current());
                // Attributes cost allocations; an unsampled span never
                // shows them.
                if span.is_recording() {
                    span.set_attributes([
                        KeyValue::new(names::MODEL_NAME, self.name.clone()),
                        KeyValue::new(names::MODEL_VERSION, self.version.clone()),
                        KeyValue::new(names::MODEL_DIGEST, self.digest.clone()),
                        KeyValue::new(names::BATCH_ROWS, rows as i64),
                    ]);
                    CallSpan::Api(span)
                } else {
                    CallSpan::None
                }
            }
            Tracing::Lean(lean) => {
                let cx = Context::current();
                match cx.get::<RequestSpan>() {
                    // One span per request: the server's carries the call.
                    Some(request) if request.merged => {
                        if request.context.is_sampled() {
                            CallSpan::Merged(cx)
                        } else {
                            CallSpan::None
                        }
                    }
                    _ => {
                        let started = lean.start(&cx, names::SPAN, &SpanKind::Internal, &[], &[]);
                        if started.sampled {
                            CallSpan::Lean(
                                lean.clone(),
                                Lean::record(&started, names::SPAN.into(), SpanKind::Internal),
                            )
                        } else {
                            CallSpan::None
                        }
                    }
                }
            }
        };
        CallRecord {
            telemetry: self,
            span,
            rows,
            start: Instant::now(),
            guest: None,
            bad_answers: None,
        }
    }
}

/// What a call used inside the sandbox.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GuestUse {
    /// Epoch ticks that passed during the call.
    pub(crate) ticks: u64,
    /// The deadline, in ticks.
    pub(crate) deadline_ticks: u64,
    /// The instance's linear memory after the call, which is its peak:
    /// linear memory never shrinks.
    pub(crate) memory_bytes: usize,
}

/// The span of a call in progress.
#[expect(
    clippy::large_enum_variant,
    reason = "one per call, on the stack: boxing the record costs an allocation and a copy per call"
)]
enum CallSpan {
    None,
    Api(BoxedSpan),
    /// The lean path's record, queued when the call ends. (Not boxed: an
    /// allocation and a copy more per call.)
    Lean(Arc<Lean>, SpanRecord),
    /// The request's span (in this context) takes the call's attributes.
    Merged(Context),
}

/// One call in progress: ends its span and records its metrics when
/// finished.
pub(crate) struct CallRecord<'a> {
    telemetry: &'a ModelTelemetry,
    span: CallSpan,
    rows: usize,
    start: Instant,
    guest: Option<GuestUse>,
    /// Rows whose answers broke the model's declaration, and the first
    /// one's problem.
    bad_answers: Option<(usize, String)>,
}

impl CallRecord<'_> {
    pub(crate) fn guest_use(&mut self, guest: GuestUse) {
        self.guest = Some(guest);
    }

    /// Notes that `n` rows' answers broke the model's declaration (the call
    /// still answers the others): the call counts as `bad_output`, and its
    /// span says how many rows and what was wrong with the first.
    pub(crate) fn bad_answers(&mut self, n: usize, first: String) {
        self.bad_answers = Some((n, first));
    }

    /// Ends the call with its result.
    pub(crate) fn finish<T>(mut self, result: &Result<T, Error>) {
        let elapsed = self.start.elapsed().as_secs_f64();
        let t = self.telemetry;
        let outcome = match result {
            Ok(_) if self.bad_answers.is_some() => names::OUTCOME_BAD_OUTPUT,
            Ok(_) => names::OUTCOME_OK,
            Err(e) => e.outcome(),
        };
        let attrs = [
            KeyValue::new(names::MODEL_NAME, t.name.clone()),
            KeyValue::new(names::MODEL_VERSION, t.version.clone()),
            KeyValue::new(names::OUTCOME, outcome),
        ];
        t.calls.add(1, &attrs);
        t.rows.add(self.rows as u64, &attrs);
        t.duration.record(elapsed, &attrs);
        let (violations, omitted): (&[Violation], usize) = match result {
            Err(Error::InvalidInput { violations, .. }) => (violations, violations.omitted()),
            _ => (&[], 0),
        };
        if !violations.is_empty() {
            // Counted by field for the listed violations (a hash lookup
            // each: the cost follows the request, not the schema); those
            // only counted go to the "other" field.
            let mut by_field: BTreeMap<&str, u64> = BTreeMap::new();
            for v in violations {
                let field = if t.fields.contains(v.field.as_str()) {
                    v.field.as_str()
                } else {
                    names::OTHER_FIELD
                };
                *by_field.entry(field).or_default() += 1;
            }
            if omitted > 0 {
                *by_field.entry(names::OTHER_FIELD).or_default() += omitted as u64;
            }
            for (field, n) in by_field {
                t.violations.add(
                    n,
                    &[
                        KeyValue::new(names::MODEL_NAME, t.name.clone()),
                        KeyValue::new(names::MODEL_VERSION, t.version.clone()),
                        KeyValue::new(names::FIELD, field.to_string()),
                    ],
                );
            }
        }
        let failure = match result {
            Err(e) if !matches!(e, Error::InvalidInput { .. } | Error::TooLarge { .. }) => Some(e),
            _ => None,
        };
        match std::mem::replace(&mut self.span, CallSpan::None) {
            CallSpan::None => {}
            CallSpan::Api(mut span) => {
                self.finish_api(&mut span, result.is_err(), outcome, violations, omitted);
                if let Some(e) = failure {
                    span.set_status(Status::Error {
                        description: Cow::Owned(e.to_string()),
                    });
                }
                span.end();
            }
            CallSpan::Lean(lean, mut record) => {
                self.finish_lean(
                    &mut record,
                    result.is_err(),
                    outcome,
                    violations,
                    omitted,
                    failure,
                );
                record.end = std::time::SystemTime::now();
                lean.queue.push(record);
            }
            CallSpan::Merged(cx) => {
                if let Some(request) = cx.get::<RequestSpan>() {
                    request.with_record(|record| {
                        self.finish_lean(
                            record,
                            result.is_err(),
                            outcome,
                            violations,
                            omitted,
                            failure,
                        );
                    });
                }
            }
        }
    }

    /// Writes the call's attributes, events and status into a lean record.
    fn finish_lean(
        &mut self,
        record: &mut SpanRecord,
        failed: bool,
        outcome: &'static str,
        violations: &[Violation],
        omitted: usize,
        failure: Option<&Error>,
    ) {
        let bad_answers = self.bad_answers.take();
        let total = violations.len() + omitted;
        record.score = Some(ScoreAttrs {
            model: self.telemetry.identity.clone(),
            rows: self.rows as u64,
            outcome: Some(outcome),
            error_type: failed || bad_answers.is_some(),
            guest: self.guest,
            bad_answers: bad_answers.as_ref().map(|(n, _)| *n as u64),
            violations_total: (failed && total > MAX_VIOLATION_EVENTS).then_some(total as u64),
        });
        if failed && !violations.is_empty() {
            let now = std::time::SystemTime::now();
            record
                .events
                .extend(
                    violations
                        .iter()
                        .take(MAX_VIOLATION_EVENTS)
                        .map(|v| EventRecord {
                            name: names::VIOLATION_EVENT.into(),
                            time: now,
                            attributes: violation_attributes(v),
                            dropped_attributes: 0,
                        }),
                );
        }
        // The caller's mistakes are not the model's failures: a span is an
        // error only when the model or the host failed.
        if let Some((_, first)) = bad_answers {
            record.status = Status::Error {
                description: Cow::Owned(first),
            };
        }
        if let Some(e) = failure {
            record.status = Status::Error {
                description: Cow::Owned(e.to_string()),
            };
        }
    }

    /// Writes the call's attributes and events into a span of the API.
    fn finish_api(
        &mut self,
        span: &mut BoxedSpan,
        failed: bool,
        outcome: &'static str,
        violations: &[Violation],
        omitted: usize,
    ) {
        span.set_attribute(KeyValue::new(names::OUTCOME, outcome));
        if let Some(g) = self.guest {
            span.set_attributes([
                KeyValue::new(names::GUEST_TICKS, g.ticks as i64),
                KeyValue::new(names::GUEST_DEADLINE_TICKS, g.deadline_ticks as i64),
                KeyValue::new(names::GUEST_MEMORY, g.memory_bytes as i64),
            ]);
        }
        if let Some((n, first)) = self.bad_answers.take() {
            span.set_attribute(KeyValue::new(names::ERROR_TYPE, outcome));
            span.set_attribute(KeyValue::new(names::BAD_ANSWERS, n as i64));
            span.set_status(Status::Error {
                description: Cow::Owned(first),
            });
        }
        if failed {
            span.set_attribute(KeyValue::new(names::ERROR_TYPE, outcome));
            for v in violations.iter().take(MAX_VIOLATION_EVENTS) {
                span.add_event(names::VIOLATION_EVENT, violation_attributes(v));
            }
            let total = violations.len() + omitted;
            if total > MAX_VIOLATION_EVENTS {
                span.set_attribute(KeyValue::new(names::VIOLATIONS_TOTAL, total as i64));
            }
        }
    }
}

fn violation_attributes(v: &Violation) -> Vec<KeyValue> {
    vec![
        KeyValue::new(names::VIOLATION_ROW, v.row as i64),
        KeyValue::new(names::FIELD, v.field.clone()),
        KeyValue::new(names::VIOLATION_EXPECTED, v.expected.clone()),
        KeyValue::new(names::VIOLATION_GOT, v.got.clone()),
    ]
}

/// The counter of component files a server refused ([`names::MODEL_REFUSALS`]),
/// in `providers` or the global ones.
pub(crate) fn refusals(providers: Option<&Providers>) -> Counter<u64> {
    let meter = match providers {
        None => global::meter_with_scope(scope()),
        Some(p) => p.meter.meter_with_scope(scope()),
    };
    meter
        .u64_counter(names::MODEL_REFUSALS)
        .with_description("Component files refused at load, by reason and file")
        .build()
}
