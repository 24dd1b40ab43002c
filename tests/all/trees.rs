//! Tree ensembles as code: a component whose trees are generated functions
//! answers with the same bits as the same pipeline compiled with the data
//! walk, on every tree pipeline of the reference set and the coverage
//! corpus, on rows that sit exactly on thresholds, just beside them, and
//! (where the schema allows) missing.

use glassbox::compile::training::TrainingData;
use glassbox::compile::trees::TreeMode;
use glassbox::compile::{CompileOptions, compile};
use glassbox::{FeatureKind, Model, Prediction, Row};
use glassbox_onnx::graph::TreeNode;
use serde_json::Value;

use crate::util;

const SKLEARN: &str = glassbox_fixtures::SKLEARN;
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/coverage");

/// The most rows scored per model: the held-out rows, then variants.
const MAX_ROWS: usize = 3000;

fn build(dir: &str, name: &str, trees: TreeMode) -> Option<(Model, usize)> {
    let onnx = std::fs::read(format!("{dir}/{name}.onnx")).ok()?;
    let train = TrainingData::read(format!("{dir}/{name}.train.jsonl")).unwrap();
    let compiled = compile(
        &onnx,
        &train,
        &CompileOptions {
            trees,
            ..CompileOptions::new(name)
        },
    )
    .ok()?;
    let model = util::engine().load(&compiled.component).unwrap();
    Some((model, compiled.summary.tree_code))
}

/// The thresholds each input field is compared with, where the trees read
/// the model's fields directly (a float32 matrix in schema order).
fn thresholds(dir: &str, name: &str, model: &Model) -> Vec<Vec<f32>> {
    let info = model.info();
    let mut out = vec![Vec::new(); info.inputs.len()];
    if info.layout != glassbox::NumericLayout::F32Rows {
        return out;
    }
    let onnx = std::fs::read(format!("{dir}/{name}.onnx")).unwrap();
    let fields: Vec<glassbox_guest::Field> = info
        .inputs
        .iter()
        .map(|f| glassbox_guest::Field {
            name: f.name.clone(),
            kind: glassbox_guest::FeatureKind::Numeric,
            nullable: f.nullable,
            categories: Vec::new(),
        })
        .collect();
    let Ok(program) = glassbox_onnx::Program::new(&onnx, &fields) else {
        return out;
    };
    for trees in program.tree_ensembles() {
        for node in &trees.nodes {
            if let TreeNode::Branch {
                feature, threshold, ..
            } = *node
                && let Some(t) = out.get_mut(feature as usize)
                && t.len() < 64
            {
                t.push(threshold);
            }
        }
    }
    out
}

/// The held-out rows, then per row and numeric field: the value on a
/// threshold, one float32 step either side of it, nudged by 1 %, ±0, and
/// missing where the field is nullable.
fn rows(dir: &str, name: &str, model: &Model) -> Vec<Row> {
    let inputs = util::jsonl(&format!("{dir}/{name}.inputs.jsonl"));
    let thresholds = thresholds(dir, name, model);
    let mut rows = util::rows(&inputs);
    let fields = &model.info().inputs;
    'out: for (r, base) in util::rows(&inputs).iter().enumerate() {
        for (i, field) in fields.iter().enumerate() {
            if field.kind != FeatureKind::Numeric {
                continue;
            }
            let mut values: Vec<Value> = Vec::new();
            let ts = &thresholds[i];
            if !ts.is_empty() {
                let t = ts[r % ts.len()];
                for v in [t, t.next_up(), t.next_down()] {
                    values.push(Value::from(f64::from(v)));
                }
            }
            if let Some(v) = base.get(&field.name).and_then(Value::as_f64) {
                values.push(Value::from(v * 1.01));
                values.push(Value::from(v * 0.99));
            }
            values.push(Value::from(if r % 2 == 0 { 0.0 } else { -0.0 }));
            if field.nullable {
                values.push(Value::Null);
            }
            for v in values {
                let mut row = base.clone();
                row.insert(field.name.clone(), v);
                rows.push(row);
                if rows.len() >= MAX_ROWS {
                    break 'out;
                }
            }
        }
    }
    rows
}

fn same(a: &Prediction, b: &Prediction) -> bool {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    match (a, b) {
        (
            Prediction::Class {
                label: la,
                probabilities: pa,
            },
            Prediction::Class {
                label: lb,
                probabilities: pb,
            },
        ) => la == lb && bits(pa) == bits(pb),
        (
            Prediction::Scores {
                label: la,
                scores: sa,
            },
            Prediction::Scores {
                label: lb,
                scores: sb,
            },
        ) => la == lb && bits(sa) == bits(sb),
        (Prediction::Value { value: a }, Prediction::Value { value: b }) => {
            a.to_bits() == b.to_bits()
        }
        (Prediction::Invalid { error: a }, Prediction::Invalid { error: b }) => a == b,
        _ => false,
    }
}

/// Compiles `name` both ways and compares; `None` when no ensemble became
/// code (nothing to compare) or the pipeline does not compile.
fn compare(dir: &str, name: &str) -> Option<usize> {
    let (code, coded) = build(dir, name, TreeMode::Code)?;
    if coded == 0 {
        return None;
    }
    let (walk, walked) = build(dir, name, TreeMode::Walk).expect("compiles with the walk");
    assert_eq!(walked, 0, "{name}: --trees walk generated code");
    let rows = rows(dir, name, &code);
    let a = code.score_rows(&rows).unwrap();
    let b = walk.score_rows(&rows).unwrap();
    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
        assert!(
            same(a, b),
            "{name}, row {i} {:?}: as code {a:?}, walked {b:?}",
            rows[i]
        );
    }
    Some(rows.len())
}

#[test]
fn reference_tree_pipelines_answer_the_same_bits_as_code_and_walked() {
    let mut compared = Vec::new();
    for name in [
        "bc_gbc",
        "friedman_dtree_reg",
        "churn_coltrans_rf",
        "synth_lgbm",
    ] {
        if let Some(rows) = compare(SKLEARN, name) {
            compared.push((name, rows));
        }
    }
    eprintln!("compared {compared:?}");
    assert_eq!(compared.len(), 4, "every reference tree pipeline as code");
}

#[test]
fn corpus_tree_pipelines_answer_the_same_bits_as_code_and_walked() {
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(format!("{CORPUS}/manifest.json")).unwrap())
            .unwrap();
    let trees: Vec<&str> = manifest
        .iter()
        .filter(|e| {
            e["ops"].as_array().is_some_and(|ops| {
                ops.iter()
                    .any(|o| o.as_str().is_some_and(|o| o.contains("TreeEnsemble")))
            })
        })
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        trees.len() >= 20,
        "the corpus has {} tree pipelines",
        trees.len()
    );
    let mut compared = Vec::new();
    for name in &trees {
        let started = std::time::Instant::now();
        if let Some(rows) = compare(CORPUS, name) {
            compared.push((*name, rows));
        }
        eprintln!("{name}: {:.1} s", started.elapsed().as_secs_f64());
    }
    eprintln!(
        "compared {} of {}: {compared:?}",
        compared.len(),
        trees.len()
    );
    // Every tree pipeline that compiles has sum or average ensembles.
    assert!(
        compared.len() * 10 >= trees.len() * 8,
        "only {} of {} tree pipelines were compared",
        compared.len(),
        trees.len()
    );
}
