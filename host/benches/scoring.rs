//! Scoring through the library API against the same computation in native
//! Rust, side by side in one run.
//!
//! Run with `cargo bench -p glassbox --bench scoring`. For each example model
//! it measures one row per call and a 10,000-row batch per call, in wasm
//! (through `Model::score`, contract checks included) and natively (the very
//! same model crate compiled for the host, called directly). At the end it
//! prints a table of the medians and their ratios; docs/BENCHMARKS.md keeps
//! the figures.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use glassbox::{Batch, Engine};

const BATCH: usize = 10_000;

/// Rows of the reference inputs, cycled to `n`, as a column-major matrix.
fn columns(name: &str, width: usize, n: usize) -> Vec<Vec<f64>> {
    let path = format!("{}/{name}.inputs.jsonl", glassbox_fixtures::SKLEARN);
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (0..width)
        .map(|j| {
            (0..n)
                .map(|i| {
                    let row = &rows[i % rows.len()];
                    row.values().nth(j).and_then(|v| v.as_f64()).unwrap()
                })
                .collect()
        })
        .collect()
}

fn host_batch(cols: &[Vec<f64>]) -> Batch {
    Batch {
        rows: cols[0].len() as u32,
        numeric: cols.concat(),
        numeric_missing: vec![],
        dictionary: vec![],
        categorical: vec![],
    }
}

fn guest_batch(cols: &[Vec<f64>]) -> glassbox_guest::RawBatch {
    glassbox_guest::RawBatch {
        rows: cols[0].len() as u32,
        numeric: cols.concat(),
        numeric_missing: vec![],
        dictionary: vec![],
        categorical: vec![],
    }
}

fn bench_model<M: glassbox_guest::Model>(
    c: &mut Criterion,
    engines: &[(&str, Engine)],
    name: &str,
    data: &str,
    component: &[u8],
) {
    let wasm: Vec<_> = engines
        .iter()
        .map(|(label, e)| (*label, e.load(component).unwrap()))
        .collect();
    let native = M::load();
    let info = native.info();
    let width = info.inputs.len();
    let mut group = c.benchmark_group(name);
    for rows in [1, BATCH] {
        let cols = columns(data, width, rows);
        let hb = host_batch(&cols);
        let gb = guest_batch(&cols);
        group.throughput(Throughput::Elements(rows as u64));
        for (label, model) in &wasm {
            group.bench_with_input(BenchmarkId::new(*label, rows), &hb, |b, batch| {
                b.iter(|| model.score(black_box(batch)).unwrap())
            });
        }
        group.bench_with_input(BenchmarkId::new("native", rows), &gb, |b, batch| {
            b.iter(|| {
                let view = glassbox_guest::Batch::new(black_box(batch), &info.inputs);
                native.score(&view).unwrap()
            })
        });
    }
    group.finish();
}

/// What tracing adds to a library call: `Model::score` of one row (in a
/// warm instance) on an engine whose telemetry exports traces through the lean path (to a
/// closed port: the exporter thread encodes every batch and fails to send
/// it, which costs the scoring thread nothing more than a sent one), against
/// the same telemetry with traces off. Metrics are on in both.
fn bench_tracing(c: &mut Criterion) {
    use glassbox::telemetry::{Telemetry, TelemetryConfig};
    let config = TelemetryConfig {
        otlp_endpoint: Some("http://127.0.0.1:9".into()),
        otlp_metrics: false,
        ..TelemetryConfig::default()
    };
    let untraced = Telemetry::install(&TelemetryConfig {
        traces: false,
        ..config.clone()
    })
    .unwrap();
    let traced = Telemetry::install(&config).unwrap();
    assert!(traced.traces_enabled() && !untraced.traces_enabled());
    let batch = host_batch(&columns("friedman_dtree_reg", 10, 1));
    let mut group = c.benchmark_group("tracing");
    for (label, telemetry) in [("untraced", &untraced), ("traced", &traced)] {
        // A warm instance: a fresh one per call costs tens of µs on some
        // VMs, whose noise would hide the sub-µs difference measured here.
        let engine = Engine::builder()
            .limits(glassbox::Limits {
                reuse_instances: true,
                ..glassbox::Limits::default()
            })
            .telemetry(telemetry)
            .build()
            .unwrap();
        let model = engine
            .load(glassbox::examples::FRIEDMAN_TREE.component)
            .unwrap();
        group.bench_function(label, |b| {
            b.iter(|| model.score(black_box(&batch)).unwrap())
        });
    }
    group.finish();
}

/// Reads criterion's median estimate, in nanoseconds, of one benchmark.
fn median_ns(group: &str, id: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string());
    let path = format!("{dir}/criterion/{group}/{id}/new/estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn summary(groups: &[&str]) {
    println!();
    println!(
        "| model | rows/call | wasm | wasm, no deadline checks | native | wasm / native | no checks / native | wasm overhead per call |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for g in groups {
        for rows in [1, BATCH] {
            let m = |id: &str| median_ns(g, &format!("{id}/{rows}"));
            let (Some(w), Some(u), Some(n)) = (m("wasm"), m("wasm-uninterruptible"), m("native"))
            else {
                continue;
            };
            let fmt = |ns: f64| {
                if rows == 1 {
                    format!("{:.2} µs", ns / 1e3)
                } else {
                    format!(
                        "{:.2} ms ({:.2} M rows/s)",
                        ns / 1e6,
                        rows as f64 / ns * 1e3
                    )
                }
            };
            println!(
                "| {g} | {rows} | {} | {} | {} | {:.2}× | {:.2}× | {:.2} µs |",
                fmt(w),
                fmt(u),
                fmt(n),
                w / n,
                u / n,
                (w - n) / 1e3
            );
        }
    }
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    // The default engine, and one without deadline checks to measure their cost.
    let engines = [
        ("wasm", Engine::new().unwrap()),
        (
            "wasm-uninterruptible",
            Engine::builder().interruptible(false).build().unwrap(),
        ),
    ];
    bench_model::<example_model_digits_logreg::DigitsLogreg>(
        &mut c,
        &engines,
        "digits-logreg",
        "digits_logreg",
        glassbox::examples::DIGITS_LOGREG.component,
    );
    bench_model::<example_model_friedman_tree::FriedmanTree>(
        &mut c,
        &engines,
        "friedman-tree",
        "friedman_dtree_reg",
        glassbox::examples::FRIEDMAN_TREE.component,
    );
    bench_tracing(&mut c);
    c.final_summary();
    summary(&["digits-logreg", "friedman-tree"]);
    if let (Some(t), Some(u)) = (
        median_ns("tracing", "traced"),
        median_ns("tracing", "untraced"),
    ) {
        println!(
            "\nlibrary tracing (friedman-tree, one row): {:.0} ns traced, {:.0} ns untraced: +{:.0} ns per call",
            t,
            u,
            t - u
        );
    }
}
