//! The example models are Rust rewrites of real scikit-learn pipelines; their
//! answers must match what scikit-learn itself computed on 200 held-out rows
//! (tests/data/sklearn/*.expected.jsonl), within the tolerances of the
//! reference data's README: 1e-5 on probabilities, 1e-5 relative on values,
//! labels exact.

use glassbox::{Prediction, examples};
use glassbox_fixtures as fx;

use crate::util;

fn score_reference(component: &[u8], name: &str) -> (Vec<Prediction>, Vec<serde_json::Value>) {
    let model = util::engine().load(component).unwrap();
    let inputs = util::jsonl(&format!("{}/{name}.inputs.jsonl", fx::SKLEARN));
    let expected = util::jsonl(&format!("{}/{name}.expected.jsonl", fx::SKLEARN));
    assert_eq!(inputs.len(), 200);
    let predictions = model.score_rows(&util::rows(&inputs)).unwrap();
    assert_eq!(predictions.len(), expected.len());
    (predictions, expected)
}

#[test]
fn digits_logreg_matches_scikit_learn() {
    let (predictions, expected) =
        score_reference(examples::DIGITS_LOGREG.component, "digits_logreg");
    let mut worst = 0.0f64;
    for (i, (p, e)) in predictions.iter().zip(&expected).enumerate() {
        let Prediction::Class {
            label,
            probabilities,
        } = p
        else {
            panic!("row {i}: not a class prediction");
        };
        assert_eq!(label, &e["label"].to_string(), "row {i}: label");
        let want: Vec<f64> = serde_json::from_value(e["proba"].clone()).unwrap();
        for (got, want) in probabilities.iter().zip(&want) {
            worst = worst.max((got - want).abs());
        }
    }
    eprintln!("digits-logreg: max |p - p_sklearn| = {worst:e}");
    assert!(worst <= 1e-5, "max probability error {worst}");
}

#[test]
fn friedman_tree_matches_scikit_learn() {
    let (predictions, expected) =
        score_reference(examples::FRIEDMAN_TREE.component, "friedman_dtree_reg");
    let mut worst = 0.0f64;
    for (i, (p, e)) in predictions.iter().zip(&expected).enumerate() {
        let Prediction::Value { value } = p else {
            panic!("row {i}: not a value");
        };
        let want = e["value"].as_f64().unwrap();
        worst = worst.max(((value - want) / want).abs());
    }
    eprintln!("friedman-tree: max relative error = {worst:e}");
    assert!(worst <= 1e-5, "max relative error {worst}");
}
