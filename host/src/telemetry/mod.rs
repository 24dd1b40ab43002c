//! OpenTelemetry traces and metrics for every scoring call.
//!
//! The library records through the OpenTelemetry *API*: every
//! [`Model::score`](crate::Model::score) (and `score_rows`) is one span named
//! [`names::SPAN`] and four metric instruments, all under the
//! instrumentation scope `glassbox`. They go to the providers of the
//! engine's [`Telemetry`] when it has one
//! ([`EngineBuilder::telemetry`](crate::EngineBuilder::telemetry)), else to
//! the global providers, so a gateway that already set up OpenTelemetry gets
//! glassbox's spans in its own traces with no extra step. Nothing leaves the
//! process until a program installs providers. [`Telemetry::install`],
//! which `glassbox serve` and `glassbox score` use, sets up:
//!
//! - traces over OTLP (gRPC or HTTP/protobuf) through a lean span path: a
//!   call records a compact span into a bounded queue, and one exporter
//!   thread encodes batches straight into OTLP protobuf, so scoring never
//!   waits on the network and a traced call costs well under a microsecond
//!   more than an untraced one; configured by the standard `OTEL_*`
//!   environment variables and by [`TelemetryConfig`]; off when no endpoint
//!   is configured;
//! - metrics in the Prometheus text format ([`Telemetry::prometheus_text`],
//!   served at `/metrics` by `glassbox serve`), and over OTLP when an
//!   endpoint is configured.
//!
//! A model takes its tracer and instruments when it is loaded: install
//! global providers *before* loading models.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // With no OTLP endpoint configured, this keeps metrics only.
//! let telemetry = glassbox::telemetry::Telemetry::install(&Default::default())?;
//! let engine = glassbox::EngineBuilder::default().telemetry(&telemetry).build()?;
//! let model = engine.load(glassbox::examples::FRIEDMAN_TREE.component)?;
//! let row = serde_json::json!({
//!     "x0": 0.5, "x1": 0.5, "x2": 0.5, "x3": 0.5, "x4": 0.5,
//!     "x5": 0.5, "x6": 0.5, "x7": 0.5, "x8": 0.5, "x9": 0.5,
//! });
//! model.score_rows(&[row.as_object().unwrap().clone()])?;
//! let text = telemetry.prometheus_text().unwrap();
//! assert!(text.contains("glassbox_score_calls_total{"));
//! telemetry.shutdown();
//! # Ok(()) }
//! ```

mod call;
mod export;
mod install;
mod lean;
mod otlp;
mod record;

pub(crate) use call::{CallRecord, GuestUse, ModelTelemetry, refusals as refusals_counter};
pub(crate) use install::Providers;
pub use install::{Protocol, Telemetry, TelemetryConfig, TelemetryError};
pub(crate) use lean::{Lean, RequestSpan, current_span_context, trace_response};
pub use lean::{ServerSpans, Span, Tracer};
pub(crate) use record::{HttpAttrs, Inline};

/// The names glassbox records under: span, metric and attribute names.
///
/// OpenTelemetry has no semantic conventions for scoring a tabular model,
/// so these live in the `glassbox.*` namespace; `error.type` is the
/// general convention's. In Prometheus, dots become underscores, counters
/// gain `_total` and the duration `_seconds`: `glassbox_score_calls_total`,
/// `glassbox_score_duration_seconds_bucket`, label `glassbox_model_name`.
pub mod names {
    /// The instrumentation scope.
    pub const SCOPE: &str = "glassbox";
    /// The span of one scoring call.
    pub const SPAN: &str = "glassbox.score";
    /// Counter: scoring calls, by model, version and outcome.
    pub const CALLS: &str = "glassbox.score.calls";
    /// Counter: rows in scoring calls, by model, version and outcome.
    pub const ROWS: &str = "glassbox.score.rows";
    /// Histogram, seconds: call durations, by model, version and outcome.
    pub const DURATION: &str = "glassbox.score.duration";
    /// Counter: contract violations, by model, version and field.
    pub const VIOLATIONS: &str = "glassbox.contract.violations";
    /// Gauge: each feature's (and the predictions') PSI against training,
    /// by model, version and field (`glassbox serve`, models with a
    /// training profile).
    pub const DRIFT_PSI: &str = "glassbox.drift.psi";
    /// Gauge: a model's health from drift, 0 ok, 1 warn, 2 alert.
    pub const HEALTH: &str = "glassbox.health";
    /// Gauge: share of the window's rows breaking a soft expectation, by field.
    pub const EXPECTATION_RATE: &str = "glassbox.expectation.violation_rate";
    /// Counter: component files a server refused to load, by reason
    /// (`glassbox.refusal.reason`: `signature`, `load_error`, …) and file.
    pub const MODEL_REFUSALS: &str = "glassbox.model.refusals";
    /// Why a file was refused: [`crate::Error::outcome`] of the error.
    pub const REFUSAL_REASON: &str = "glassbox.refusal.reason";
    /// The refused file.
    pub const MODEL_FILE: &str = "glassbox.model.file";
    /// Span recording a change of a model's health.
    pub const HEALTH_SPAN: &str = "glassbox.health.check";
    /// Its event: the change, with the attributes below.
    pub const HEALTH_EVENT: &str = "glassbox.health.changed";
    /// The level before the change: ok, warn or alert.
    pub const HEALTH_FROM: &str = "glassbox.health.from";
    /// The level after it.
    pub const HEALTH_TO: &str = "glassbox.health.to";
    /// The reasons for the new level.
    pub const HEALTH_REASONS: &str = "glassbox.health.reasons";
    /// The owning team, from the model's expectations.
    pub const OWNER: &str = "glassbox.model.owner";
    /// Whom to call, from the model's expectations.
    pub const CONTACT: &str = "glassbox.model.contact";
    /// Counter: spans dropped before export, by reason
    /// (`queue_full`, `export_failed`).
    pub const SPANS_DROPPED: &str = "glassbox.telemetry.spans.dropped";

    /// The model's name.
    pub const MODEL_NAME: &str = "glassbox.model.name";
    /// The model's version.
    pub const MODEL_VERSION: &str = "glassbox.model.version";
    /// The component's SHA-256, as `sha256:` and hex.
    pub const MODEL_DIGEST: &str = "glassbox.model.digest";
    /// Rows in the batch.
    pub const BATCH_ROWS: &str = "glassbox.batch.rows";
    /// How the call ended: [`OUTCOME_OK`] or [`crate::Error::outcome`]
    /// (`invalid_input`, `guest_error`, `trap`, `timeout`, `out_of_memory`,
    /// `bad_output`, …).
    pub const OUTCOME: &str = "glassbox.outcome";
    /// The outcome of a failed call (the general semantic convention).
    pub const ERROR_TYPE: &str = "error.type";
    /// Epoch ticks (the deadline's unit) that passed during the guest call.
    pub const GUEST_TICKS: &str = "glassbox.guest.epoch_ticks";
    /// The call's deadline, in epoch ticks.
    pub const GUEST_DEADLINE_TICKS: &str = "glassbox.guest.deadline_ticks";
    /// The instance's linear memory at the end of the call (its peak), bytes.
    pub const GUEST_MEMORY: &str = "glassbox.guest.memory.peak_bytes";
    /// A span event: one contract violation.
    pub const VIOLATION_EVENT: &str = "glassbox.contract.violation";
    /// The violating row, 0-based within the batch.
    pub const VIOLATION_ROW: &str = "glassbox.violation.row";
    /// The violating field (also the violations counter's label).
    pub const FIELD: &str = "glassbox.field";
    /// What the contract wants.
    pub const VIOLATION_EXPECTED: &str = "glassbox.violation.expected";
    /// What arrived.
    pub const VIOLATION_GOT: &str = "glassbox.violation.got";
    /// Violations in the call when there were more than the span's events
    /// show (100).
    pub const VIOLATIONS_TOTAL: &str = "glassbox.violations.total";
    /// The outcome of a successful call.
    pub const OUTCOME_OK: &str = "ok";
    /// The outcome of a call that answered, but some of whose rows' answers
    /// broke the model's declaration (those rows failed, the others not).
    pub const OUTCOME_BAD_OUTPUT: &str = "bad_output";
    /// Rows of the call whose answers broke the model's declaration.
    pub const BAD_ANSWERS: &str = "glassbox.answers.bad_rows";
    /// The field label of violations naming a field the schema lacks.
    pub const OTHER_FIELD: &str = "(other)";
    /// The response header carrying the trace: W3C Trace Context Level 2's
    /// `traceresponse`, `00-{trace id}-{span id}-{flags}`.
    pub const TRACE_RESPONSE_HEADER: &str = "traceresponse";
}
