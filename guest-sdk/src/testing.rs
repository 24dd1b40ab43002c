//! Run models natively, without wasm, in ordinary `#[test]`s.
//!
//! ```
//! # use glassbox_guest::prelude::*;
//! # struct M; impl Model for M {
//! #   fn load() -> Self { M }
//! #   fn info(&self) -> ModelInfo { ModelInfo::regression("m", "1", "y", vec![Field::numeric("x").nullable()]) }
//! #   fn score(&self, b: &Batch<'_>) -> Result<Scores, ModelError> {
//! #     let x = b.numeric("x")?; Ok(Scores::Regression((0..b.rows()).map(|r| x.get(r).unwrap_or(0.0)).collect())) }
//! # }
//! use glassbox_guest::testing;
//! let out = testing::score::<M>(&[vec![Value::Num(2.0)], vec![Value::Missing]]).unwrap();
//! assert_eq!(out, Scores::Regression(vec![2.0, 0.0]));
//! ```

use std::collections::HashMap;

use crate::{
    Batch, FeatureKind, Field, InputProblem, Model, ModelError, NumericLayout, RawBatch, Scores,
    Value,
};

/// Builds the column-major batch the host would send for these rows.
///
/// Each row lists one [`Value`] per field, in schema order. A value of the
/// wrong kind, a missing value in a non-nullable field or a row of the wrong
/// length is reported like the host would report it.
pub fn batch(fields: &[Field], rows: &[Vec<Value>]) -> Result<RawBatch, ModelError> {
    let mut problems = Vec::new();
    let mut numeric = Vec::new();
    let mut numeric_missing = Vec::new();
    let mut dictionary: Vec<String> = Vec::new();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut categorical = Vec::new();
    for (j, field) in fields.iter().enumerate() {
        let mut problem = |row: usize, message: String| {
            problems.push(InputProblem {
                row: row as u32,
                field: field.name.clone(),
                message,
            })
        };
        for (i, row) in rows.iter().enumerate() {
            let value = row.get(j).unwrap_or(&Value::Missing);
            match (field.kind, value) {
                (FeatureKind::Numeric, Value::Num(v)) => numeric.push(*v),
                (FeatureKind::Numeric, Value::Missing) => {
                    if !field.nullable {
                        problem(i, "expected a number, got a missing value".into());
                    }
                    numeric_missing.push(numeric.len() as u32);
                    numeric.push(f64::NAN);
                }
                (FeatureKind::Numeric, Value::Cat(s)) => {
                    problem(i, format!("expected a number, got the string {s:?}"));
                    numeric.push(f64::NAN);
                }
                (FeatureKind::Categorical, Value::Cat(s)) => {
                    let code = *index.entry(s.clone()).or_insert_with(|| {
                        dictionary.push(s.clone());
                        dictionary.len() as u32 - 1
                    });
                    categorical.push(Some(code));
                }
                (FeatureKind::Categorical, Value::Missing) => {
                    if !field.nullable {
                        problem(i, "expected a string, got a missing value".into());
                    }
                    categorical.push(None);
                }
                (FeatureKind::Categorical, Value::Num(v)) => {
                    problem(i, format!("expected a string, got the number {v}"));
                    categorical.push(None);
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(RawBatch {
            rows: rows.len() as u32,
            numeric,
            numeric_missing,
            dictionary,
            categorical,
        })
    } else {
        Err(ModelError::InvalidInput(problems))
    }
}

/// The float32 rows the host would send for these rows to a model that
/// declared [`crate::NumericLayout::F32Rows`] (checked like [`batch`]).
pub fn f32_rows(fields: &[Field], rows: &[Vec<Value>]) -> Result<Vec<f32>, ModelError> {
    let raw = batch(fields, rows)?;
    Batch::new(&raw, fields)
        .row_major()
        .map(|m| m.into_iter().map(|v| v as f32).collect())
}

/// Loads model `T` natively and scores `rows` with it, in the layout it
/// declared.
pub fn score<T: Model>(rows: &[Vec<Value>]) -> Result<Scores, ModelError> {
    let model = T::load();
    let info = model.info();
    match info.layout {
        NumericLayout::F64Columns => {
            let raw = batch(&info.inputs, rows)?;
            model.score(&Batch::new(&raw, &info.inputs))
        }
        NumericLayout::F32Rows => {
            let values = f32_rows(&info.inputs, rows)?;
            model.score_f32_rows(&info.inputs, rows.len(), values)
        }
    }
}
