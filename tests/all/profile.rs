//! Training profiles agree with the ones computed by the reference data's
//! own Python tooling (numpy) from the same training rows.

use glassbox::compile::profile::{QUANTILE_LEVELS, prediction_profile, profile_rows};
use glassbox::{FeatureKind, FeatureProfile, Field, ModelInfo, Outputs, PredictionProfile, Task};
use glassbox_fixtures as fx;

use crate::util;

/// The reference pipelines whose `train.jsonl` holds every training row (the
/// others ship a sample, so their profiles' counts differ by design).
const COMPLETE: [&str; 5] = [
    "bc_gbc",
    "bc_impute_sgd",
    "diabetes_linreg",
    "digits_logreg",
    "digits_mlp",
];

fn meta(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{}/{name}.meta.json", fx::SKLEARN)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A schema built from the metadata's feature list.
fn schema(meta: &serde_json::Value) -> ModelInfo {
    let nullable = meta["supports_missing"].as_bool().unwrap_or(false);
    let inputs = meta["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| Field {
            name: f["name"].as_str().unwrap().into(),
            kind: if f["role"] == "categorical" {
                FeatureKind::Categorical
            } else {
                FeatureKind::Numeric
            },
            nullable,
            categories: vec![],
        })
        .collect();
    ModelInfo {
        name: meta["name"].as_str().unwrap().into(),
        version: "0".into(),
        task: Task::Regression,
        inputs,
        outputs: Outputs::Target("y".into()),
        profile: None,
        layout: glassbox::NumericLayout::F64Columns,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

#[test]
fn numeric_profiles_match_numpy_on_the_reference_training_rows() {
    let mut checked = 0;
    for name in COMPLETE {
        let meta = meta(name);
        let info = schema(&meta);
        let rows = util::rows(&util::jsonl(&format!("{}/{name}.train.jsonl", fx::SKLEARN)));
        let profiles = profile_rows(&info, &rows).unwrap();
        for (f, p) in meta["features"].as_array().unwrap().iter().zip(&profiles) {
            let want = &f["profile"];
            let FeatureProfile::Numeric(got) = p else {
                panic!("{name}: numeric feature profiled as categorical");
            };
            let field = format!("{name}.{}", f["name"]);
            assert_eq!(got.count, want["count"].as_u64().unwrap(), "{field} count");
            assert_eq!(
                got.missing,
                want["missing"].as_u64().unwrap(),
                "{field} missing"
            );
            for (stat, value) in [
                ("mean", got.mean),
                ("std", got.std),
                ("min", got.min),
                ("max", got.max),
            ] {
                let w = want[stat].as_f64().unwrap();
                assert!(close(value, w), "{field} {stat}: {value} vs {w}");
            }
            for (q, level) in got.quantiles.iter().zip(QUANTILE_LEVELS) {
                let key = format!("p{:02}", (level * 100.0).round() as u32);
                let w = want["quantiles"][&key].as_f64().unwrap();
                assert!(close(q.value, w), "{field} {key}: {} vs {w}", q.value);
            }
            let edges: Vec<f64> =
                serde_json::from_value(want["histogram"]["edges"].clone()).unwrap();
            let counts: Vec<u64> =
                serde_json::from_value(want["histogram"]["counts"].clone()).unwrap();
            assert_eq!(got.histogram.counts, counts, "{field} histogram counts");
            for (g, w) in got.histogram.edges.iter().zip(&edges) {
                assert!(close(*g, *w), "{field} histogram edge {g} vs {w}");
            }
            checked += 1;
        }
    }
    // 30 + 30 + 10 + 64 + 64 features.
    assert_eq!(checked, 198);
}

#[test]
fn categorical_proportions_match_on_the_churn_sample() {
    // churn's train.jsonl is a 2,000-row sample of its 3,800 training rows,
    // so compare proportions, loosely.
    let meta = meta("churn_coltrans_rf");
    let mut info = schema(&meta);
    info.inputs.iter_mut().for_each(|f| f.nullable = true);
    let rows = util::rows(&util::jsonl(&format!(
        "{}/churn_coltrans_rf.train.jsonl",
        fx::SKLEARN
    )));
    let profiles = profile_rows(&info, &rows).unwrap();
    let plan = meta["features"]
        .as_array()
        .unwrap()
        .iter()
        .position(|f| f["name"] == "plan")
        .unwrap();
    let FeatureProfile::Categorical(p) = &profiles[plan] else {
        panic!("plan is categorical");
    };
    assert_eq!(p.count, 2000);
    for f in &p.frequencies {
        let got = f.count as f64 / (p.count - p.missing) as f64;
        let want = meta["features"][plan]["profile"]["proportions"][&f.category]
            .as_f64()
            .unwrap();
        assert!((got - want).abs() < 0.05, "{}: {got} vs {want}", f.category);
    }
}

#[test]
fn prediction_profile_of_the_digits_example_matches_scikit_learn() {
    let model = util::engine()
        .load(glassbox::examples::DIGITS_LOGREG.component)
        .unwrap();
    let rows = util::rows(&util::jsonl(&format!(
        "{}/digits_logreg.train.jsonl",
        fx::SKLEARN
    )));
    let predictions = model.score_rows(&rows).unwrap();
    let PredictionProfile::Classification(counts) = prediction_profile(model.info(), &predictions)
    else {
        panic!("a classifier's profile counts classes");
    };
    let want = &meta("digits_logreg")["training_prediction_profile"]["predicted_label_proportions"];
    let Outputs::Classes(classes) = &model.info().outputs else {
        panic!("classes");
    };
    for (class, count) in classes.iter().zip(&counts) {
        let got = *count as f64 / rows.len() as f64;
        let w = want[class].as_f64().unwrap();
        assert!((got - w).abs() < 1e-12, "class {class}: {got} vs {w}");
    }
}
