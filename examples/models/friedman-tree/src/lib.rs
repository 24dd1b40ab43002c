//! Friedman #1 regression: scikit-learn's `DecisionTreeRegressor(max_depth=8)`,
//! rewritten with glassbox-guest's tree ensemble. `params.json` was extracted
//! from the model's ONNX export by `../extract_params.py` (see
//! examples/README.md).
//!
//! Build with
//! ```text
//! cargo build --release --target wasm32-unknown-unknown -p example-model-friedman-tree
//! ```
use glassbox_guest::ops::TreeEnsemble;
use glassbox_guest::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Params {
    features: Vec<String>,
    model: TreeEnsemble,
}

/// The model, with its tree parsed once per instance.
pub struct FriedmanTree(Params);

impl Model for FriedmanTree {
    fn load() -> Self {
        let params = serde_json::from_str(include_str!("../params.json"))
            .expect("params.json matches Params");
        FriedmanTree(params)
    }

    fn info(&self) -> ModelInfo {
        let inputs = self.0.features.iter().map(Field::numeric).collect();
        ModelInfo::regression("friedman-tree", "1.0.0", "y", inputs)
    }

    fn score(&self, batch: &Batch<'_>) -> Result<Scores, ModelError> {
        let width = self.0.features.len();
        let x = batch.row_major()?;
        let mut out = [0.0];
        let values = x
            .chunks_exact(width)
            .map(|row| {
                self.0.model.predict(row, &mut out);
                out[0]
            })
            .collect();
        Ok(Scores::Regression(values))
    }
}

glassbox_guest::export_model!(FriedmanTree);

#[cfg(test)]
mod tests {
    use super::*;
    use glassbox_guest::testing;

    #[test]
    fn predicts_within_the_training_range() {
        let row = vec![Value::Num(0.5); 10];
        let Scores::Regression(v) = testing::score::<FriedmanTree>(&[row]).unwrap() else {
            panic!("a regressor returns values");
        };
        assert!(v[0] > 1.0 && v[0] < 27.0, "{v:?}");
    }
}
