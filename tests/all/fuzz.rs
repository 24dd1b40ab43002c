//! Property tests of the decoders that take untrusted bytes, on the stable
//! toolchain: mutated and generated inputs must give an error, never a
//! panic, a 5xx or a hang. Each property runs a bounded number of cases
//! (`FUZZ_CASES`, default 256; CI runs the default) and prints how long it
//! took, so that a longer run is one variable away:
//!
//! ```sh
//! FUZZ_CASES=5000 cargo test -p glassbox --test integration fuzz -- --nocapture
//! ```

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use glassbox::serve::{ServeLimits, Service};
use glassbox::{Engine, examples};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use tower::ServiceExt;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        // Shrinking re-runs the slow cases (a compile each): report the
        // first failure as found.
        max_shrink_iters: 16,
        failure_persistence: None,
        ..Config::default()
    })
}

/// `bytes` with up to eight random edits: a byte changed, inserted or
/// removed, or the tail cut off.
fn mutated(bytes: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = bytes.len().max(1);
    prop::collection::vec((0..4u8, 0..len, any::<u8>()), 1..8).prop_map(move |edits| {
        let mut b = bytes.clone();
        for (kind, at, value) in edits {
            if b.is_empty() {
                break;
            }
            let at = at % b.len();
            match kind {
                0 => b[at] = value,
                1 => b.insert(at, value),
                2 => {
                    b.remove(at);
                }
                _ => b.truncate(at),
            }
        }
        b
    })
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z0-9_:.]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("inputs".to_string()),
                    Just("instances".to_string()),
                    Just("name".to_string()),
                    Just("shape".to_string()),
                    Just("datatype".to_string()),
                    Just("data".to_string()),
                    Just("x0".to_string()),
                    "[a-z0-9]{1,6}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The router in process, serving the two bundled examples.
fn service() -> Service {
    let engine = Engine::new().unwrap();
    let service = Service::new(
        engine.clone(),
        ServeLimits {
            max_rows: 64,
            ..ServeLimits::default()
        },
    );
    for e in examples::ALL {
        service.deploy(engine.load(e.component).unwrap());
    }
    service
}

/// Posts `body` to `path`; the answer must be a client error or a success,
/// in JSON.
fn post(rt: &tokio::runtime::Runtime, service: &Service, path: &str, body: Vec<u8>) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let (status, bytes) = rt.block_on(async {
        let response = service.router().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
            .await
            .unwrap();
        (status, bytes)
    });
    assert!(
        status < 500,
        "{path}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    assert!(
        serde_json::from_slice::<Value>(&bytes).is_ok(),
        "{path}: {status}, not JSON: {}",
        String::from_utf8_lossy(&bytes)
    );
}

fn report(what: &str, started: Instant) {
    println!("fuzz {what}: {} cases in {:?}", cases(), started.elapsed());
}

fn friedman_row() -> Value {
    json!({"x0": 0.5, "x1": 0.5, "x2": 0.5, "x3": 0.5, "x4": 0.5,
           "x5": 0.5, "x6": 0.5, "x7": 0.5, "x8": 0.5, "x9": 0.5})
}

/// Mutations of `valid`, then generated JSON values, posted to `path`.
fn fuzz_route(path: &str, valid: Vec<u8>, what: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let service = service();
    let started = Instant::now();
    runner()
        .run(&mutated(valid), |body| {
            post(&rt, &service, path, body);
            Ok(())
        })
        .unwrap();
    runner()
        .run(&json_value(), |value| {
            post(&rt, &service, path, serde_json::to_vec(&value).unwrap());
            Ok(())
        })
        .unwrap();
    report(what, started);
}

#[test]
fn oip_v2_requests_are_answered_in_json_never_with_a_5xx() {
    let valid: Vec<Value> = friedman_row()
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| json!({"name": k, "datatype": "FP64", "shape": [1], "data": [v]}))
        .collect();
    fuzz_route(
        "/v2/models/friedman-tree/infer",
        serde_json::to_vec(&json!({ "inputs": valid })).unwrap(),
        "OIP v2 decoding (mutated and generated bodies)",
    );
}

#[test]
fn v1_requests_are_answered_in_json_never_with_a_5xx() {
    fuzz_route(
        "/v1/models/friedman-tree:predict",
        serde_json::to_vec(&json!({ "instances": [friedman_row(), friedman_row()] })).unwrap(),
        "KServe v1 decoding (mutated and generated bodies)",
    );
}

#[test]
fn mutated_components_are_refused_or_loaded_never_a_panic() {
    let engine = crate::util::engine();
    let started = Instant::now();
    runner()
        .run(
            &mutated(examples::FRIEDMAN_TREE.component.to_vec()),
            |bytes| {
                let t = Instant::now();
                // Loaded or refused: either is fine; a panic fails the test.
                let _ = engine.load(&bytes);
                prop_assert!(
                    t.elapsed() < Duration::from_secs(60),
                    "a load took {:?}",
                    t.elapsed()
                );
                Ok(())
            },
        )
        .unwrap();
    report("component load checks (mutated friedman-tree)", started);
}

/// The fields of a training file, as the ONNX planner takes them.
fn fields(train: &str) -> Vec<glassbox_guest::Field> {
    let first = std::fs::read_to_string(train).unwrap();
    let row: serde_json::Map<String, Value> =
        serde_json::from_str(first.lines().next().unwrap()).unwrap();
    row.iter()
        .map(|(k, v)| match v {
            Value::String(_) => glassbox_guest::Field::categorical(k.clone(), Vec::new()),
            _ => glassbox_guest::Field::numeric(k.clone()),
        })
        .collect()
}

#[test]
fn mutated_onnx_files_are_refused_or_planned_never_a_panic() {
    let sk = glassbox_fixtures::SKLEARN;
    let started = Instant::now();
    for name in [
        "diabetes_linreg",
        "friedman_dtree_reg",
        "bc_gbc",
        "digits_logreg",
    ] {
        let onnx = std::fs::read(format!("{sk}/{name}.onnx")).unwrap();
        let fields = fields(&format!("{sk}/{name}.train.jsonl"));
        runner()
            .run(&mutated(onnx), |bytes| {
                // Decoding and planning run natively in `glassbox compile`
                // (which also contains panics); here a panic fails the test.
                if let Ok(model) = glassbox::compile::onnx::OnnxModel::decode(&bytes) {
                    let _ = glassbox_onnx::Program::from_proto(model.proto(), &fields);
                }
                Ok(())
            })
            .unwrap();
    }
    report("ONNX decoding and planning (4 mutated pipelines)", started);
}

/// One edit of a decoded ONNX model: what a converter bug or a hostile file
/// would change, where byte edits mostly break the protobuf framing.
#[derive(Clone, Debug)]
enum Edit {
    /// A node's operator becomes another.
    Op(usize, &'static str),
    /// A node loses an input, or gains one naming nothing.
    Inputs(usize, bool),
    /// An integer attribute of a node, or each entry of its integer list.
    Int(usize, i64),
    /// A float attribute of a node, or each entry of its float list.
    Float(usize, f32),
    /// An initializer's dimensions.
    Dims(usize, Vec<i64>),
    /// An initializer's data cut to this many values.
    Cut(usize, usize),
    /// An initializer's element type.
    Type(usize, i32),
}

const OPS: [&str; 23] = [
    "Slice",
    "TopK",
    "Transpose",
    "CumSum",
    "GatherElements",
    "Sum",
    "LpNormalization",
    "Scan",
    "TreeEnsemble",
    "Gemm",
    "MatMul",
    "Add",
    "Reshape",
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
    "LinearClassifier",
    "Scaler",
    "Cast",
    "Softmax",
    "ArgMax",
    "Concat",
    "Gather",
    "Unknown",
];

fn edit() -> impl Strategy<Value = Edit> {
    let big = prop_oneof![
        Just(i64::MAX),
        Just(i64::MIN),
        Just(-1i64),
        Just(0i64),
        Just(1i64 << 40),
        -3i64..100,
    ];
    prop_oneof![
        (0..64usize, prop::sample::select(OPS.to_vec())).prop_map(|(n, op)| Edit::Op(n, op)),
        (0..64usize, any::<bool>()).prop_map(|(n, add)| Edit::Inputs(n, add)),
        (0..64usize, big.clone()).prop_map(|(n, v)| Edit::Int(n, v)),
        (
            0..64usize,
            prop_oneof![
                Just(f32::NAN),
                Just(f32::INFINITY),
                Just(-1e30f32),
                any::<f32>()
            ]
        )
            .prop_map(|(n, v)| Edit::Float(n, v)),
        (0..64usize, prop::collection::vec(big, 0..4)).prop_map(|(n, d)| Edit::Dims(n, d)),
        (0..64usize, 0..8usize).prop_map(|(n, k)| Edit::Cut(n, k)),
        (0..64usize, -1i32..24).prop_map(|(n, t)| Edit::Type(n, t)),
    ]
}

fn apply(model: &mut glassbox_onnx::proto::ModelProto, edit: &Edit) {
    let Some(graph) = model.graph.as_mut() else {
        return;
    };
    let nodes = graph.node.len().max(1);
    let inits = graph.initializer.len().max(1);
    match edit {
        Edit::Op(n, op) => {
            if let Some(node) = graph.node.get_mut(n % nodes) {
                node.op_type = Some(op.to_string());
            }
        }
        Edit::Inputs(n, add) => {
            if let Some(node) = graph.node.get_mut(n % nodes) {
                if *add {
                    node.input.push("nowhere".into());
                } else {
                    node.input.pop();
                }
            }
        }
        Edit::Int(n, v) => {
            if let Some(node) = graph.node.get_mut(n % nodes) {
                for a in &mut node.attribute {
                    if a.i.is_some() {
                        a.i = Some(*v);
                    }
                    for i in &mut a.ints {
                        *i = *v;
                    }
                }
            }
        }
        Edit::Float(n, v) => {
            if let Some(node) = graph.node.get_mut(n % nodes) {
                for a in &mut node.attribute {
                    if a.f.is_some() {
                        a.f = Some(*v);
                    }
                    for f in &mut a.floats {
                        *f = *v;
                    }
                }
            }
        }
        Edit::Dims(n, d) => {
            if let Some(t) = graph.initializer.get_mut(n % inits) {
                t.dims = d.clone();
            }
        }
        Edit::Cut(n, k) => {
            if let Some(t) = graph.initializer.get_mut(n % inits) {
                t.float_data.truncate(*k);
                t.int64_data.truncate(*k);
                t.double_data.truncate(*k);
                if let Some(raw) = &mut t.raw_data {
                    raw.truncate(*k);
                }
            }
        }
        Edit::Type(n, ty) => {
            if let Some(t) = graph.initializer.get_mut(n % inits) {
                t.data_type = Some(*ty);
            }
        }
    }
}

#[test]
fn edited_onnx_graphs_are_refused_or_planned_never_a_panic() {
    use prost::Message as _;
    let sk = glassbox_fixtures::SKLEARN;
    let started = Instant::now();
    for name in [
        "diabetes_linreg",
        "friedman_dtree_reg",
        "bc_gbc",
        "digits_logreg",
        "churn_coltrans_rf",
    ] {
        let bytes = std::fs::read(format!("{sk}/{name}.onnx")).unwrap();
        let original = glassbox_onnx::proto::ModelProto::decode(bytes.as_slice()).unwrap();
        let fields = fields(&format!("{sk}/{name}.train.jsonl"));
        runner()
            .run(&prop::collection::vec(edit(), 1..4), |edits| {
                let mut model = original.clone();
                for e in &edits {
                    apply(&mut model, e);
                }
                let t = Instant::now();
                // Through the bytes, as `glassbox compile` reads them.
                let bytes = model.encode_to_vec();
                if let Ok(model) = glassbox::compile::onnx::OnnxModel::decode(&bytes) {
                    let _ = glassbox_onnx::Program::from_proto(model.proto(), &fields);
                }
                prop_assert!(
                    t.elapsed() < Duration::from_secs(10),
                    "{edits:?} took {:?}",
                    t.elapsed()
                );
                Ok(())
            })
            .unwrap();
    }
    report("ONNX planning (5 pipelines, structural edits)", started);
}

#[test]
fn glassbox_compile_refuses_mutated_onnx_files_with_an_error() {
    use glassbox::compile::training::TrainingData;
    use glassbox::compile::{CompileOptions, compile};
    let sk = glassbox_fixtures::SKLEARN;
    let onnx = std::fs::read(format!("{sk}/diabetes_linreg.onnx")).unwrap();
    let train = TrainingData::read(format!("{sk}/diabetes_linreg.train.jsonl")).unwrap();
    let started = Instant::now();
    let compiled = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: cases().div_ceil(8),
        failure_persistence: None,
        ..Config::default()
    });
    let original = {
        use prost::Message as _;
        glassbox_onnx::proto::ModelProto::decode(onnx.as_slice()).unwrap()
    };
    runner
        .run(&prop::collection::vec(edit(), 1..3), |edits| {
            use prost::Message as _;
            let mut model = original.clone();
            for e in &edits {
                apply(&mut model, e);
            }
            let bytes = model.encode_to_vec();
            let t = Instant::now();
            if compile(&bytes, &train, &CompileOptions::new("diabetes")).is_ok() {
                compiled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            prop_assert!(t.elapsed() < Duration::from_secs(120));
            Ok(())
        })
        .unwrap();
    println!(
        "fuzz glassbox compile: {} edited diabetes pipelines in {:?} ({} still compiled)",
        cases().div_ceil(8),
        started.elapsed(),
        compiled.into_inner()
    );
}
