//! Compiled scikit-learn pipelines through the library API, beside the same
//! plan run natively (the limit a wasm sandbox can approach).
//!
//! `cargo bench -p glassbox --bench compiled -- [--quick] [--json FILE]
//! [--only NAME [--dir DIR]] [--profile wasm|wasm1|native|native1] [--no-deadline]
//! [--reuse-instances] [--rows DIR] [--trees auto|code|walk]`
//! compiles each reference pipeline in tests/data/sklearn, then measures per
//! model: instantiation of a fresh instance, one row per call (median and
//! p99 over many calls, rows cycled from the held-out inputs; in a fresh
//! instance per call, the default, and in warm instances) and 10,000
//! rows per call (median rows/s), for the component (`Model::score`,
//! contract checks included) and natively (`Program::score`). Timings are
//! wall-clock medians of repeated runs: plain loops rather than criterion,
//! because `scripts/bench.sh` puts these figures in one table with
//! onnxruntime's, measured the same way by `scripts/bench_peers.py`.
//!
//! The 10,000 rows are `DIR/NAME.batch.jsonl` with `--rows DIR`: distinct
//! rows, written by `scripts/bench_rows.py` and read by every side. Without
//! it, the training rows then the held-out ones, repeated, which a branch
//! predictor learns (onnxruntime's friedman tree: 89 M rows/s on that cycle,
//! 29 M on distinct rows): fine for a profile, not for a comparison.

use std::hint::black_box;
use std::time::{Duration, Instant};

use glassbox::compile::training::TrainingData;
use glassbox::compile::trees::TreeMode;
use glassbox::compile::{CompileOptions, compile};
use glassbox::{Batch, Engine, Row};
use glassbox_onnx::Program;
use serde_json::json;

const MODELS: [&str; 9] = [
    "digits_logreg",
    "digits_mlp",
    "diabetes_linreg",
    "bc_impute_sgd",
    "bc_gbc",
    "friedman_dtree_reg",
    "synth_rf_large",
    "churn_coltrans_rf",
    "synth_lgbm",
];
const BATCH: usize = 10_000;

struct Plan {
    single_calls: usize,
    batch_runs: usize,
    instantiations: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn p99(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

/// Times `f` once per call, after a warm-up; returns per-call seconds.
fn per_call(n: usize, mut f: impl FnMut(usize)) -> Vec<f64> {
    for i in 0..n.min(500) {
        f(i);
    }
    (0..n)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed().as_secs_f64()
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json_out = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1).cloned());
    let plan = if quick {
        Plan {
            single_calls: 2_000,
            batch_runs: 5,
            instantiations: 50,
        }
    } else {
        Plan {
            single_calls: 20_000,
            batch_runs: 15,
            instantiations: 500,
        }
    };
    // `--no-deadline`: an engine without epoch checks in the guest's code,
    // to see what enforcing the deadline costs (not what users run).
    // `--reuse-instances`: calls reuse warm instances (the opt-in), to see
    // what a fresh instance per call, the default, costs.
    let engine = Engine::builder()
        .interruptible(!args.iter().any(|a| a == "--no-deadline"))
        .limits(glassbox::Limits {
            reuse_instances: args.iter().any(|a| a == "--reuse-instances"),
            ..glassbox::Limits::default()
        })
        .build()
        .expect("engine");
    let warm = Engine::builder()
        .interruptible(!args.iter().any(|a| a == "--no-deadline"))
        .limits(glassbox::Limits {
            reuse_instances: true,
            ..glassbox::Limits::default()
        })
        .build()
        .expect("engine");
    let mut report = serde_json::Map::new();
    eprintln!(
        "{:<20} {:>9} {:>9} {:>9} {:>11} {:>11} {:>9} {:>11} {:>9}",
        "model",
        "1row µs",
        "p99 µs",
        "warm µs",
        "batch r/s",
        "native r/s",
        "nat 1row",
        "inst µs",
        "size KB"
    );
    // `--only NAME` measures one model (for profiling); with `--dir DIR`
    // it may be any NAME.onnx with NAME.train.jsonl and NAME.inputs.jsonl.
    let flag = |f: &str| {
        args.iter()
            .position(|a| a == f)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let only = flag("--only");
    let rows_dir = flag("--rows");
    if rows_dir.is_none() {
        eprintln!(
            "(batches cycle the training and held-out rows: pass --rows DIR for distinct ones)"
        );
    }
    let dir = flag("--dir").unwrap_or_else(|| glassbox_fixtures::SKLEARN.to_string());
    let names: Vec<String> = match &only {
        Some(o) => vec![o.clone()],
        None => MODELS.iter().map(|m| m.to_string()).collect(),
    };
    for name in &names {
        let (name, dir) = (name.as_str(), dir.as_str());
        let onnx = std::fs::read(format!("{dir}/{name}.onnx")).unwrap();
        let train = TrainingData::read(format!("{dir}/{name}.train.jsonl")).unwrap();
        let started = Instant::now();
        let trees = match flag("--trees").as_deref() {
            None | Some("auto") => TreeMode::Auto,
            Some("code") => TreeMode::Code,
            Some("walk") => TreeMode::Walk,
            Some(other) => panic!("--trees auto, code or walk, not `{other}`"),
        };
        let compiled = compile(
            &onnx,
            &train,
            &CompileOptions {
                trees,
                ..CompileOptions::new(name)
            },
        )
        .unwrap();
        let compile_s = started.elapsed().as_secs_f64();
        let model = engine.load(&compiled.component).unwrap();
        let info = model.info().clone();

        let inputs: Vec<Row> = std::fs::read_to_string(format!("{dir}/{name}.inputs.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let singles: Vec<Batch> = inputs
            .iter()
            .map(|r| glassbox::runtime::batch::from_rows(&info, std::slice::from_ref(r)).unwrap())
            .collect();
        let read = |path: String| -> Vec<Row> {
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let tiled: Vec<Row> = match &rows_dir {
            Some(rows) => read(format!("{rows}/{name}.batch.jsonl")),
            None => {
                let pool: Vec<Row> = read(format!("{dir}/{name}.train.jsonl"))
                    .into_iter()
                    .chain(inputs.iter().cloned())
                    .collect();
                (0..BATCH).map(|i| pool[i % pool.len()].clone()).collect()
            }
        };
        assert_eq!(tiled.len(), BATCH, "the batch of {name}");
        let big = glassbox::runtime::batch::from_rows(&info, &tiled).unwrap();

        let one = per_call(plan.single_calls, |i| {
            black_box(model.score(&singles[i % singles.len()]).unwrap());
        });
        // The same calls in warm instances (the `reuse_instances` opt-in):
        // what a call costs without a fresh instance's set-up.
        let warm_model = warm.load(&compiled.component).unwrap();
        let one_warm = per_call(plan.single_calls, |i| {
            black_box(warm_model.score(&singles[i % singles.len()]).unwrap());
        });
        let batch = per_call(plan.batch_runs, |_| {
            black_box(model.score(&big).unwrap());
        });
        let inst = per_call(plan.instantiations, |_| {
            model.instantiate_and_drop().unwrap()
        });

        // The same plan, natively: the guest SDK's engine called directly.
        let fields: Vec<glassbox_guest::Field> = info
            .inputs
            .iter()
            .map(|f| glassbox_guest::Field {
                name: f.name.clone(),
                kind: match f.kind {
                    glassbox::FeatureKind::Numeric => glassbox_guest::FeatureKind::Numeric,
                    glassbox::FeatureKind::Categorical => glassbox_guest::FeatureKind::Categorical,
                },
                nullable: f.nullable,
                categories: f.categories.clone(),
            })
            .collect();
        let program = Program::new(&onnx, &fields).unwrap();
        let guest = |b: &Batch| glassbox_guest::RawBatch {
            rows: b.rows,
            numeric: b.numeric.clone(),
            numeric_missing: b.numeric_missing.clone(),
            dictionary: b.dictionary.clone(),
            categorical: b.categorical.clone(),
        };
        let native_singles: Vec<_> = singles.iter().map(guest).collect();
        let native_big = guest(&big);

        // `--profile wasm|native`: score the 10,000-row batch in a loop for
        // ten seconds and nothing else, so that `perf record` sees only the
        // scoring path (compiling would otherwise dominate the profile).
        if let Some(side) = flag("--profile") {
            let until = Instant::now() + Duration::from_secs(10);
            let mut calls = 0usize;
            while Instant::now() < until {
                match side.as_str() {
                    "wasm" => drop(black_box(model.score(&big).unwrap())),
                    // One row per call, for the fixed cost of a call.
                    "wasm1" => {
                        for one in &singles {
                            drop(black_box(model.score(one).unwrap()));
                        }
                    }
                    "native" => drop(black_box(
                        program
                            .score(&glassbox_guest::Batch::new(&native_big, &fields))
                            .unwrap(),
                    )),
                    "native1" => {
                        for one in &native_singles {
                            drop(black_box(
                                program
                                    .score(&glassbox_guest::Batch::new(one, &fields))
                                    .unwrap(),
                            ));
                        }
                    }
                    other => panic!("--profile wasm, wasm1, native or native1, not `{other}`"),
                }
                calls += 1;
            }
            let per_call = if side.ends_with('1') {
                singles.len()
            } else {
                BATCH
            };
            eprintln!(
                "{name}: {side} {:.0} rows/s",
                (calls * per_call) as f64 / 10.0
            );
            continue;
        }
        let native_one = per_call(plan.single_calls, |i| {
            let raw = &native_singles[i % native_singles.len()];
            black_box(
                program
                    .score(&glassbox_guest::Batch::new(raw, &fields))
                    .unwrap(),
            );
        });
        let native_batch = per_call(plan.batch_runs, |_| {
            black_box(
                program
                    .score(&glassbox_guest::Batch::new(&native_big, &fields))
                    .unwrap(),
            );
        });

        let us = |s: f64| s * 1e6;
        let row = json!({
            "glassbox": {
                "one_row_median_us": us(median(one.clone())),
                "one_row_p99_us": us(p99(one)),
                "one_row_warm_median_us": us(median(one_warm.clone())),
                "one_row_warm_p99_us": us(p99(one_warm)),
                "batch_rows_per_s": BATCH as f64 / median(batch),
            },
            "native": {
                "one_row_median_us": us(median(native_one.clone())),
                "one_row_p99_us": us(p99(native_one)),
                "batch_rows_per_s": BATCH as f64 / median(native_batch),
            },
            "instantiate_median_us": us(median(inst.clone())),
            "instantiate_p99_us": us(p99(inst)),
            "compile_s": compile_s,
            "component_bytes": compiled.component.len(),
            "initial_memory_bytes": compiled.summary.memory_bytes,
        });
        eprintln!(
            "{name:<20} {:>9.2} {:>9.2} {:>9.2} {:>11.0} {:>11.0} {:>9.2} {:>11.1} {:>9}",
            row["glassbox"]["one_row_median_us"].as_f64().unwrap(),
            row["glassbox"]["one_row_p99_us"].as_f64().unwrap(),
            row["glassbox"]["one_row_warm_median_us"].as_f64().unwrap(),
            row["glassbox"]["batch_rows_per_s"].as_f64().unwrap(),
            row["native"]["batch_rows_per_s"].as_f64().unwrap(),
            row["native"]["one_row_median_us"].as_f64().unwrap(),
            row["instantiate_median_us"].as_f64().unwrap(),
            compiled.component.len() / 1024,
        );
        report.insert(name.to_string(), row);
    }
    if let Some(path) = json_out {
        std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
        eprintln!("wrote {path}");
    }
}
