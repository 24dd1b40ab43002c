//! Every operator against onnxruntime, one small graph per case.
//!
//! `tests/data/ops/cases.json` holds 200-odd single-operator graphs with the
//! outputs onnxruntime 1.32 computed for them (see that folder's README for
//! how they were made). Each runs here through the SDK's graph engine,
//! natively: the same code a compiled component runs in wasm.

use glassbox_onnx::graph::Graph;
use glassbox_onnx::proto::ModelProto;
use glassbox_onnx::tensor::{Data, Map, Tensor, Value};
use prost::Message;
use serde_json::Value as Json;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/ops");

fn number(v: &Json) -> f64 {
    match v {
        Json::String(s) if s == "NaN" => f64::NAN,
        Json::String(s) if s == "inf" => f64::INFINITY,
        Json::String(s) if s == "-inf" => f64::NEG_INFINITY,
        Json::Bool(b) => f64::from(u8::from(*b)),
        other => other
            .as_f64()
            .unwrap_or_else(|| panic!("not a number: {other}")),
    }
}

fn keys_and_values(dtype: &str, m: &serde_json::Map<String, Json>) -> Map {
    let keys = if dtype.contains("(int64") {
        Data::I64(m.keys().map(|k| k.parse().unwrap()).collect())
    } else {
        Data::Str(m.keys().cloned().collect())
    };
    let values = if dtype.ends_with("string)") || dtype.ends_with("string))") {
        Data::Str(
            m.values()
                .map(|v| v.as_str().unwrap().to_string())
                .collect(),
        )
    } else {
        Data::F32(m.values().map(|v| number(v) as f32).collect())
    };
    Map { keys, values }
}

fn value(spec: &Json) -> Value {
    let dtype = spec["dtype"].as_str().unwrap();
    let data = spec["data"].as_array().unwrap();
    if dtype.starts_with("map(") {
        return Value::Map(keys_and_values(dtype, data[0].as_object().unwrap()));
    }
    if dtype.starts_with("seq(") {
        return Value::Maps(
            data.iter()
                .map(|m| keys_and_values(dtype, m.as_object().unwrap()))
                .collect(),
        );
    }
    let shape: Vec<usize> = spec["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data = match dtype {
        "float32" => Data::F32(data.iter().map(|v| number(v) as f32).collect()),
        "float64" => Data::F64(data.iter().map(number).collect()),
        "int64" | "int32" => Data::I64(data.iter().map(|v| number(v) as i64).collect()),
        "bool" => Data::Bool(data.iter().map(|v| number(v) != 0.0).collect()),
        "string" => Data::Str(
            data.iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect(),
        ),
        other => panic!("dtype {other}"),
    };
    Value::Tensor(Tensor::new(shape, data).unwrap())
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-5 + 1e-5 * b.abs()
}

/// Compares one output; returns a description of the first difference.
fn compare(got: &Value, want: &Value) -> Result<(), String> {
    match (got, want) {
        (Value::Tensor(g), Value::Tensor(w)) => {
            if g.shape != w.shape {
                return Err(format!("shape {:?}, expected {:?}", g.shape, w.shape));
            }
            match (&g.data, &w.data) {
                (Data::Str(a), Data::Str(b)) => (a == b)
                    .then_some(())
                    .ok_or_else(|| format!("{a:?}, expected {b:?}")),
                (Data::Bool(a), Data::Bool(b)) => (a == b)
                    .then_some(())
                    .ok_or_else(|| format!("{a:?}, expected {b:?}")),
                (Data::I64(a), Data::I64(b)) => (a == b)
                    .then_some(())
                    .ok_or_else(|| format!("{a:?}, expected {b:?}")),
                (a, b) if a.elem_type() == b.elem_type() => {
                    let (a, b) = (a.to_f64(), b.to_f64());
                    a.iter()
                        .zip(&b)
                        .all(|(x, y)| close(*x, *y))
                        .then_some(())
                        .ok_or_else(|| format!("{a:?}, expected {b:?}"))
                }
                (a, b) => Err(format!("{}, expected {}", a.elem_type(), b.elem_type())),
            }
        }
        (Value::Maps(g), Value::Maps(w)) => {
            if g.len() != w.len() {
                return Err(format!("{} maps, expected {}", g.len(), w.len()));
            }
            for (g, w) in g.iter().zip(w) {
                // Keys in any order: compare as sorted (key, value) pairs.
                let pairs = |m: &Map| {
                    let keys: Vec<String> = match &m.keys {
                        Data::I64(v) => v.iter().map(i64::to_string).collect(),
                        Data::Str(v) => v.clone(),
                        _ => vec![],
                    };
                    let mut p: Vec<(String, f64)> =
                        keys.into_iter().zip(m.values.to_f64()).collect();
                    p.sort_by(|a, b| a.0.cmp(&b.0));
                    p
                };
                let (pg, pw) = (pairs(g), pairs(w));
                if pg.len() != pw.len()
                    || pg
                        .iter()
                        .zip(&pw)
                        .any(|(a, b)| a.0 != b.0 || !close(a.1, b.1))
                {
                    return Err(format!("{pg:?}, expected {pw:?}"));
                }
            }
            Ok(())
        }
        _ => Err(format!("{got:?}, expected {want:?}")),
    }
}

#[test]
fn every_case_matches_onnxruntime() {
    let cases: Vec<Json> =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/cases.json")).unwrap())
            .unwrap();
    assert!(cases.len() > 200, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let bytes = std::fs::read(format!("{DIR}/{}", case["model"].as_str().unwrap())).unwrap();
        let model = ModelProto::decode(bytes.as_slice()).unwrap();
        let graph = match Graph::build(&model) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{name}: build: {e}"));
                continue;
            }
        };
        let inputs: Vec<Value> = graph
            .inputs()
            .map(|p| value(&case["inputs"][&p.name]))
            .collect();
        let outputs = match graph.run(inputs) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{name}: run: {e}"));
                continue;
            }
        };
        for (port, got) in graph.outputs().zip(&outputs) {
            let want = value(&case["outputs"][&port.name]);
            if let Err(e) = compare(got, &want) {
                failures.push(format!("{name}: output `{}`: {e}", port.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from onnxruntime:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
