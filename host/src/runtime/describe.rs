//! A model's description as JSON, for `glassbox inspect --json` and for
//! anything else that needs to show a model to people or programs.

use serde_json::{Value, json};

use crate::Model;
use crate::contract::{
    FeatureKind, FeatureProfile, Field, NumericLayout, NumericProfile, Outputs, PredictionProfile,
    Task,
};

/// Everything known about a loaded model, as a JSON object: name, version,
/// task, inputs, numeric layout (`f64-columns` or `f32-rows`), outputs, digest, size, imports, where it was compiled from
/// (`source`, `null` unless `glassbox compile` made it), the owner's
/// expectations (`null` without) and training profile.
pub fn describe(model: &Model) -> Value {
    let info = model.info();
    let outputs = match &info.outputs {
        Outputs::Classes(classes) => json!({ "classes": classes, "answers": "probabilities" }),
        Outputs::DecisionClasses(classes) => {
            json!({ "classes": classes, "answers": "decision scores" })
        }
        Outputs::Target(target) => json!({ "target": target }),
    };
    let profile = info.profile.as_ref().map(|p| {
        let features: Vec<Value> = info
            .inputs
            .iter()
            .zip(&p.features)
            .map(|(field, fp)| match fp {
                FeatureProfile::Numeric(n) => json!({"name": field.name, "numeric": numeric(n)}),
                FeatureProfile::Categorical(c) => json!({
                    "name": field.name,
                    "categorical": {
                        "count": c.count,
                        "missing": c.missing,
                        "frequencies": c.frequencies.iter()
                            .map(|f| (f.category.clone(), json!(f.count)))
                            .collect::<serde_json::Map<_, _>>(),
                    }
                }),
            })
            .collect();
        let predictions = match &p.predictions {
            PredictionProfile::Classification(counts) => json!({ "class_counts": counts }),
            PredictionProfile::Regression(n) => json!({ "values": numeric(n) }),
        };
        json!({ "features": features, "predictions": predictions })
    });
    json!({
        "name": info.name,
        "version": info.version,
        "task": match info.task { Task::Classification => "classification", Task::Regression => "regression" },
        "inputs": info.inputs.iter().map(field).collect::<Vec<_>>(),
        "layout": match info.layout {
            NumericLayout::F64Columns => "f64-columns",
            NumericLayout::F32Rows => "f32-rows",
        },
        "outputs": outputs,
        "digest": format!("sha256:{}", model.digest()),
        "size_bytes": model.size(),
        "imports": model.imports(),
        "source": model.source(),
        "expectations": model.expectations(),
        "profile": profile,
    })
}

fn field(f: &Field) -> Value {
    let mut v = json!({
        "name": f.name,
        "kind": match f.kind { FeatureKind::Numeric => "numeric", FeatureKind::Categorical => "categorical" },
        "nullable": f.nullable,
    });
    if f.kind == FeatureKind::Categorical {
        v["categories"] = json!(f.categories);
    }
    v
}

fn numeric(n: &NumericProfile) -> Value {
    json!({
        "count": n.count,
        "missing": n.missing,
        "mean": n.mean,
        "std": n.std,
        "min": n.min,
        "max": n.max,
        "quantiles": n.quantiles.iter().map(|q| json!([q.level, q.value])).collect::<Vec<_>>(),
        "histogram": { "edges": n.histogram.edges, "counts": n.histogram.counts },
    })
}
