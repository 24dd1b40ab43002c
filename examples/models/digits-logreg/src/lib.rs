//! Handwritten digits, 8×8 pixels → digit 0–9: scikit-learn's
//! `StandardScaler → LogisticRegression` pipeline, rewritten with
//! glassbox-guest's building blocks. `params.json` was extracted from the
//! pipeline's ONNX export by `../extract_params.py` (see examples/README.md).
//!
//! Build with
//! ```text
//! cargo build --release --target wasm32-unknown-unknown -p example-model-digits-logreg
//! ```
use glassbox_guest::ops::{LogisticRegression, StandardScaler, argmax};
use glassbox_guest::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Params {
    features: Vec<String>,
    classes: Vec<String>,
    scaler: StandardScaler,
    model: LogisticRegression,
}

/// The model, with its parameters parsed once per instance.
pub struct DigitsLogreg(Params);

impl Model for DigitsLogreg {
    fn load() -> Self {
        // The file is part of the binary; a parse failure is a build mistake
        // that the crate's own tests catch.
        let params = serde_json::from_str(include_str!("../params.json"))
            .expect("params.json matches Params");
        DigitsLogreg(params)
    }

    fn info(&self) -> ModelInfo {
        let inputs = self.0.features.iter().map(Field::numeric).collect();
        ModelInfo::classification("digits-logreg", "1.0.0", self.0.classes.clone(), inputs)
    }

    fn score(&self, batch: &Batch<'_>) -> Result<Scores, ModelError> {
        let p = &self.0;
        let width = p.features.len();
        let classes = p.model.classes();
        let mut x = batch.row_major()?;
        let mut labels = Vec::with_capacity(batch.rows());
        let mut probabilities = vec![0.0; batch.rows() * classes];
        for (row, proba) in x
            .chunks_exact_mut(width)
            .zip(probabilities.chunks_exact_mut(classes))
        {
            p.scaler.transform(row);
            p.model.predict_proba(row, proba);
            labels.push(argmax(proba) as u32);
        }
        Ok(Scores::Classification(ClassScores {
            labels,
            probabilities,
        }))
    }
}

glassbox_guest::export_model!(DigitsLogreg);

#[cfg(test)]
mod tests {
    use super::*;
    use glassbox_guest::testing;

    #[test]
    fn a_blank_image_gets_a_distribution() {
        let row = vec![Value::Num(0.0); 64];
        let Scores::Classification(out) = testing::score::<DigitsLogreg>(&[row]).unwrap() else {
            panic!("a classifier returns class scores");
        };
        assert_eq!(out.probabilities.len(), 10);
        assert!((out.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
}
