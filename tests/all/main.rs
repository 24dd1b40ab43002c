//! Glassbox's integration tests: one binary, one module per area.
//!
//! Fixtures (guest components named for the behaviour they trigger) are built
//! by `tests/build.rs`; their paths come from the `glassbox_fixtures` crate.

// Loading components: what is accepted, what is refused and why; the cache.
mod loading;
// Scoring through the library: column shapes, missing values, concurrency.
mod scoring;
// The contract enforced around the guest: bad inputs, bad answers.
mod contract;
// Hostile guests: loops, memory, stack, traps. Each costs one call.
mod limits;
// Hostile models by class of attack: schema bombs, floods, forgery, images.
mod hostile;
// The host's linear algebra against a guest that misuses it.
mod linalg;
// The example models against scikit-learn's own answers.
mod conformance;
// Reading ONNX files, the first step of compiling a pipeline.
mod onnx;
// Each ONNX operator against onnxruntime's answers on small graphs.
mod operators;
// `glassbox compile`: sklearn pipelines as components, against onnxruntime.
mod compile;
// The coverage corpus: every converter-supported estimator, and docs/COVERAGE.md.
mod coverage;
// Tree ensembles as generated code: the same bits as the data walk.
mod trees;
// Training profiles against numpy's statistics.
mod profile;
// `glassbox serve`: the HTTP API, limits, hot swap, shutdown, on real sockets.
mod serve;
// One [N, F] tensor, Triton's binary data, OIP over gRPC on the REST port.
mod interop;
// Hostile clients: slow and half-sent requests, floods, stalled uploads.
mod hostile_http;
// Property tests of the decoders that take untrusted bytes.
mod fuzz;
// The `glassbox` binary as users run it.
mod cli;
// Traces and metrics at a real collector and a real Prometheus.
mod telemetry;
// Live profiles and drift against the training data.
mod monitor;
// The dashboard, as a person sees it in a real browser.
mod dashboard;
// Signed components.
mod signing;
// Precompiled models, the runtime-only build, aarch64 under qemu.
mod edge;
// Models in a real OCI registry.
mod registry;
// The map of host/src in CONTRIBUTING.md: which folder may import which.
mod layout;

mod util;
