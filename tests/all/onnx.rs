//! Reading the reference pipelines' ONNX files.

use glassbox::compile::onnx::OnnxModel;
use glassbox::compile::onnx::proto::DataType;
use glassbox_fixtures as fx;

const MODELS: [&str; 9] = [
    "bc_gbc",
    "bc_impute_sgd",
    "churn_coltrans_rf",
    "diabetes_linreg",
    "digits_logreg",
    "digits_mlp",
    "friedman_dtree_reg",
    "synth_lgbm",
    "synth_rf_large",
];

fn read(name: &str) -> (OnnxModel, serde_json::Value) {
    let bytes = std::fs::read(format!("{}/{name}.onnx", fx::SKLEARN)).unwrap();
    let meta = std::fs::read_to_string(format!("{}/{name}.meta.json", fx::SKLEARN)).unwrap();
    (
        OnnxModel::decode(&bytes).unwrap(),
        serde_json::from_str(&meta).unwrap(),
    )
}

#[test]
fn every_reference_model_lists_the_operators_its_metadata_names() {
    for name in MODELS {
        let (model, meta) = read(name);
        let mut expected: Vec<String> =
            serde_json::from_value(meta["onnx"]["ops"].clone()).unwrap();
        expected.sort();
        assert_eq!(model.operators(), expected, "{name}");
        assert_eq!(
            model.opset("ai.onnx.ml"),
            meta["onnx"]["opset_import"]["ai.onnx.ml"].as_i64(),
            "{name}"
        );
    }
}

#[test]
fn inputs_and_outputs_carry_names_types_and_shapes() {
    let (model, _) = read("digits_logreg");
    let inputs = model.inputs();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0].name, "input");
    assert_eq!(inputs[0].elem_type, Some(DataType::Float));
    assert_eq!(inputs[0].shape, vec![None, Some(64)]);
    let outputs: Vec<String> = model.outputs().into_iter().map(|o| o.name).collect();
    assert_eq!(outputs, vec!["label", "probabilities"]);

    // One input per column, strings among them.
    let (model, meta) = read("churn_coltrans_rf");
    let names: Vec<String> = model.inputs().into_iter().map(|i| i.name).collect();
    let features: Vec<String> = meta["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, features);
    assert!(
        model
            .inputs()
            .iter()
            .any(|i| i.elem_type == Some(DataType::String))
    );
}

#[test]
fn initializers_decode_to_their_declared_sizes() {
    let (model, _) = read("digits_mlp");
    let weights = &model.graph().initializer;
    assert!(!weights.is_empty());
    for t in weights {
        let n: i64 = t.dims.iter().product();
        let tensor = glassbox_onnx::tensor::Tensor::from_proto(t).unwrap();
        assert_eq!(tensor.len() as i64, n, "{:?}", t.name);
    }
}
