//! Rows as users write them (JSON objects keyed by feature name) to and from
//! the contract's column-major batches.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::contract::{Batch, FeatureKind, ModelInfo, Outputs, Scores};
use crate::error::{Violation, Violations};

/// One input row: feature name → value, `null` for a missing value.
pub type Row = serde_json::Map<String, Value>;

/// One row's answer, serialised as `{"label": ..., "probabilities": [...]}`
/// for classifiers (probabilities in the model's class order) and as
/// `{"value": ...}` for regressors.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Prediction {
    /// A classifier's answer.
    Class {
        /// The predicted class.
        label: String,
        /// One probability per class, in the model's class order.
        probabilities: Vec<f64>,
    },
    /// A regressor's answer.
    Value {
        /// The predicted value.
        value: f64,
    },
}

/// Builds a batch from rows, checking each against the schema.
///
/// Every problem of every row is collected: unknown fields, absent fields,
/// values of the wrong type and missing values where the field is not
/// nullable. An absent key is an error even for a nullable field: a missing
/// value must be written as `null`, so that a misspelt feature name is
/// caught rather than silently scored as missing.
pub fn from_rows(info: &ModelInfo, rows: &[Row]) -> Result<Batch, Violations> {
    let mut violations = Violations::new();
    for (i, row) in rows.iter().enumerate() {
        for key in row.keys() {
            if !info.inputs.iter().any(|f| &f.name == key) {
                violations.push(Violation {
                    row: i,
                    field: key.clone(),
                    expected: "no such field (the model has no input by that name)".into(),
                    got: describe(&row[key]),
                });
            }
        }
    }
    let mut numeric = Vec::new();
    let mut numeric_missing = Vec::new();
    let mut dictionary: Vec<String> = Vec::new();
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut categorical = Vec::new();
    for field in &info.inputs {
        let mut problem = |row: usize, expected: &str, got: String| {
            violations.push(Violation {
                row,
                field: field.name.clone(),
                expected: expected.into(),
                got,
            })
        };
        for (i, row) in rows.iter().enumerate() {
            let value = row.get(&field.name);
            match field.kind {
                FeatureKind::Numeric => match value {
                    Some(Value::Number(n)) => numeric.push(n.as_f64().unwrap_or(f64::NAN)),
                    Some(Value::Null) => {
                        if !field.nullable {
                            problem(i, "a number", NULL_NOT_ALLOWED.into());
                        }
                        numeric_missing.push(numeric.len() as u32);
                        numeric.push(f64::NAN);
                    }
                    None => {
                        problem(i, "a number", ABSENT.into());
                        numeric.push(f64::NAN);
                    }
                    Some(other) => {
                        problem(i, "a number", describe(other));
                        numeric.push(f64::NAN);
                    }
                },
                FeatureKind::Categorical => match value {
                    Some(Value::String(s)) => {
                        let code = *index.entry(s.as_str()).or_insert_with(|| {
                            dictionary.push(s.clone());
                            dictionary.len() as u32 - 1
                        });
                        categorical.push(Some(code));
                    }
                    Some(Value::Null) => {
                        if !field.nullable {
                            problem(i, "a string", NULL_NOT_ALLOWED.into());
                        }
                        categorical.push(None);
                    }
                    None => {
                        problem(i, "a string", ABSENT.into());
                        categorical.push(None);
                    }
                    Some(other) => {
                        problem(i, "a string", describe(other));
                        categorical.push(None);
                    }
                },
            }
        }
    }
    if violations.is_empty() {
        Ok(Batch {
            rows: rows.len() as u32,
            numeric,
            numeric_missing,
            dictionary,
            categorical,
        })
    } else {
        violations.sort_by_row();
        Err(violations)
    }
}

const NULL_NOT_ALLOWED: &str = "null (this field may not be missing)";
const ABSENT: &str = "no value (the key is absent)";

/// Turns a checked answer into one [`Prediction`] per row.
pub fn predictions(info: &ModelInfo, scores: Scores) -> Vec<Prediction> {
    match (scores, &info.outputs) {
        (Scores::Classification(c), Outputs::Classes(classes)) => {
            let k = classes.len().max(1);
            c.labels
                .iter()
                .zip(c.probabilities.chunks(k))
                .map(|(label, p)| Prediction::Class {
                    label: classes.get(*label as usize).cloned().unwrap_or_default(),
                    probabilities: p.to_vec(),
                })
                .collect()
        }
        (Scores::Regression(values), _) => values
            .into_iter()
            .map(|value| Prediction::Value { value })
            .collect(),
        // `Model::score` has already refused answers of the wrong kind.
        (Scores::Classification(_), Outputs::Target(_)) => Vec::new(),
    }
}

/// Describes a JSON value for an error message.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.len() > 40 => format!("a string ({} bytes)", s.len()),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}
