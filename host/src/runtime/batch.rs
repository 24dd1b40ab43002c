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
    /// A decision-score classifier's answer.
    Scores {
        /// The predicted class.
        label: String,
        /// Its decision scores: one per class in the model's class order,
        /// or for two classes one, the second class's (positive means the
        /// second class), as scikit-learn's `decision_function`.
        scores: Vec<f64>,
    },
    /// A regressor's answer.
    Value {
        /// The predicted value.
        value: f64,
    },
    /// The model's answer for this row broke its own declaration (a value
    /// that is not finite, probabilities outside [0, 1] or not summing to
    /// 1, a label that is not a class). The other rows of the call are
    /// unaffected; serialised as `{"error": ...}`.
    Invalid {
        /// What is wrong (the row is this prediction's position).
        error: String,
    },
}

impl Prediction {
    /// Whether this row was answered ([`Prediction::Invalid`] is not).
    pub fn is_valid(&self) -> bool {
        !matches!(self, Prediction::Invalid { .. })
    }
}

/// What is wrong with row `row`'s answer in `scores`, if anything: a label
/// that is not a class, a probability outside [0, 1] or a row of them not
/// summing to 1 (within [`crate::runtime::model::probability_sum_tolerance`]),
/// a value that is not finite. `scores` must already have the right
/// lengths, which [`crate::Model::score`] checks.
pub fn answer_problem(info: &ModelInfo, scores: &Scores, row: usize) -> Option<String> {
    match (scores, &info.outputs) {
        (Scores::Classification(c), Outputs::Classes(classes)) => {
            let k = classes.len();
            class_problem(
                k,
                *c.labels.get(row)?,
                c.probabilities.get(row * k..(row + 1) * k)?,
            )
        }
        (Scores::Decision(d), Outputs::DecisionClasses(classes)) => {
            let k = classes.len();
            let w = decision_width(k);
            decision_problem(
                k,
                *d.labels.get(row)?,
                d.scores.get(row * w..(row + 1) * w)?,
            )
        }
        (Scores::Regression(values), _) => value_problem(*values.get(row)?),
        // `Model::score` has already refused answers of the wrong kind.
        _ => None,
    }
}

/// A probability classifier's row: `label` of `k` classes, `p` its
/// probabilities.
fn class_problem(k: usize, label: u32, p: &[f64]) -> Option<String> {
    if label as usize >= k {
        return Some(format!("label index {label} is outside the {k} classes"));
    }
    if let Some(v) = p.iter().find(|v| !v.is_finite() || **v < 0.0 || **v > 1.0) {
        return Some(format!("probability {v} is not a number in [0, 1]"));
    }
    let sum: f64 = p.iter().sum();
    if (sum - 1.0).abs() > super::model::probability_sum_tolerance(k) {
        return Some(format!("probabilities sum to {sum}, not 1"));
    }
    None
}

/// A decision-score classifier's row: `label` of `k` classes, `s` its scores.
fn decision_problem(k: usize, label: u32, s: &[f64]) -> Option<String> {
    if label as usize >= k {
        return Some(format!("label index {label} is outside the {k} classes"));
    }
    s.iter()
        .find(|v| !v.is_finite())
        .map(|v| format!("decision score {v} is not finite"))
}

/// A regressor's row.
fn value_problem(v: f64) -> Option<String> {
    (!v.is_finite()).then(|| format!("value {v} is not finite"))
}

/// A checked, all-numeric batch as the row-major float32 matrix a model
/// declaring [`crate::contract::NumericLayout::F32Rows`] takes: `width`
/// values per row (the numeric list holds every field, column after
/// column), each rounded to nearest, NaN where missing.
///
/// Built here, natively, so that the guest copies half the bytes and
/// transposes nothing. In blocks of rows, so that the rows being written
/// stay in cache while every column is read.
pub(crate) fn f32_rows(batch: &Batch, width: usize) -> Vec<f32> {
    const BLOCK: usize = 64;
    let rows = batch.rows as usize;
    let numeric = &batch.numeric[..(rows * width).min(batch.numeric.len())];
    let mut out = vec![0f32; rows * width];
    if rows == 1 {
        // The list is the row.
        for (o, &v) in out.iter_mut().zip(numeric) {
            *o = v as f32;
        }
    } else if rows > 1 && numeric.len() == rows * width {
        // 4 × 4 tiles: four values of four columns, loaded as four short
        // runs and stored as four short runs of rows (the compiler turns
        // the fixed-size arrays into vector shuffles); an element at a time,
        // the strided stores cost a few cycles each.
        let (rows4, width4) = (rows / 4 * 4, width / 4 * 4);
        for r0 in (0..rows4).step_by(BLOCK) {
            let r1 = (r0 + BLOCK).min(rows4);
            for c in (0..width4).step_by(4) {
                for r in (r0..r1).step_by(4) {
                    let mut t = [[0f32; 4]; 4];
                    for (j, col) in t.iter_mut().enumerate() {
                        let src = &numeric[(c + j) * rows + r..(c + j) * rows + r + 4];
                        for (d, s) in col.iter_mut().zip(src) {
                            *d = *s as f32;
                        }
                    }
                    for i in 0..4 {
                        let dst = &mut out[(r + i) * width + c..(r + i) * width + c + 4];
                        for (j, d) in dst.iter_mut().enumerate() {
                            *d = t[j][i];
                        }
                    }
                }
            }
        }
        // What the tiles left: the last columns of every row, the last rows.
        for r in 0..rows {
            let first = if r < rows4 { width4 } else { 0 };
            for c in first..width {
                out[r * width + c] = numeric[c * rows + r] as f32;
            }
        }
    }
    for &m in &batch.numeric_missing {
        let (c, r) = (m as usize / rows.max(1), m as usize % rows.max(1));
        if let Some(v) = out.get_mut(r * width + c) {
            *v = f32::NAN;
        }
    }
    out
}

/// Decision scores per row for `classes` classes: one per class, or one
/// for two classes.
pub fn decision_width(classes: usize) -> usize {
    if classes == 2 { 1 } else { classes }
}

/// The rows of `scores` whose answers break the model's declaration, with
/// what is wrong (see [`answer_problem`]).
pub fn bad_answers(info: &ModelInfo, scores: &Scores) -> Vec<(usize, String)> {
    let rows = match scores {
        Scores::Classification(c) => c.labels.len(),
        Scores::Decision(d) => d.labels.len(),
        Scores::Regression(v) => v.len(),
    };
    (0..rows)
        .filter_map(|r| answer_problem(info, scores, r).map(|p| (r, p)))
        .collect()
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

/// Turns a checked answer into one [`Prediction`] per row; a row whose
/// answer breaks the declaration (see [`answer_problem`]) becomes
/// [`Prediction::Invalid`].
pub fn predictions(info: &ModelInfo, scores: Scores) -> Vec<Prediction> {
    // A classifier's rows: `width` values each, checked by `problem`, made
    // into a prediction by `make`.
    fn classified(
        classes: &[String],
        labels: &[u32],
        values: &[f64],
        width: usize,
        problem: fn(usize, u32, &[f64]) -> Option<String>,
        make: fn(String, Vec<f64>) -> Prediction,
    ) -> Vec<Prediction> {
        labels
            .iter()
            .zip(values.chunks(width.max(1)))
            .map(|(&label, v)| match problem(classes.len(), label, v) {
                Some(error) => Prediction::Invalid { error },
                None => make(classes[label as usize].clone(), v.to_vec()),
            })
            .collect()
    }
    match (scores, &info.outputs) {
        (Scores::Classification(c), Outputs::Classes(classes)) => classified(
            classes,
            &c.labels,
            &c.probabilities,
            classes.len(),
            class_problem,
            |label, probabilities| Prediction::Class {
                label,
                probabilities,
            },
        ),
        (Scores::Decision(d), Outputs::DecisionClasses(classes)) => classified(
            classes,
            &d.labels,
            &d.scores,
            decision_width(classes.len()),
            decision_problem,
            |label, scores| Prediction::Scores { label, scores },
        ),
        (Scores::Regression(values), _) => values
            .into_iter()
            .map(|value| match value_problem(value) {
                Some(error) => Prediction::Invalid { error },
                None => Prediction::Value { value },
            })
            .collect(),
        // `Model::score` has already refused answers of the wrong kind.
        _ => Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float32_rows_transpose_every_tile_and_mark_missing_values() {
        // Sizes around the 4 × 4 tiles and the 64-row blocks.
        for (rows, width) in [(1, 3), (2, 1), (4, 4), (7, 5), (70, 9), (129, 64)] {
            let numeric: Vec<f64> = (0..rows * width).map(|i| i as f64 + 0.25).collect();
            let numeric_missing: Vec<u32> = (0..(rows * width) as u32).step_by(11).collect();
            let batch = Batch {
                rows: rows as u32,
                numeric: numeric.clone(),
                numeric_missing: numeric_missing.clone(),
                dictionary: Vec::new(),
                categorical: Vec::new(),
            };
            let out = f32_rows(&batch, width);
            for r in 0..rows {
                for c in 0..width {
                    let got = out[r * width + c];
                    let at = c * rows + r;
                    if numeric_missing.contains(&(at as u32)) {
                        assert!(got.is_nan(), "{rows}×{width} row {r} column {c}");
                    } else {
                        assert_eq!(got, numeric[at] as f32, "{rows}×{width} row {r} column {c}");
                    }
                }
            }
        }
    }
}
