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
    Batch, CategoricalColumn, Column, FeatureKind, Field, InputProblem, Model, ModelError,
    NumericColumn, RawBatch, Scores, Value,
};

/// Builds the column-major batch the host would send for these rows.
///
/// Each row lists one [`Value`] per field, in schema order. A value of the
/// wrong kind, a missing value in a non-nullable field or a row of the wrong
/// length is reported like the host would report it.
pub fn batch(fields: &[Field], rows: &[Vec<Value>]) -> Result<RawBatch, ModelError> {
    let mut problems = Vec::new();
    let mut columns = Vec::with_capacity(fields.len());
    for (j, field) in fields.iter().enumerate() {
        let mut problem = |row: usize, message: String| {
            problems.push(InputProblem {
                row: row as u32,
                field: field.name.clone(),
                message,
            })
        };
        match field.kind {
            FeatureKind::Numeric => {
                let mut values = Vec::with_capacity(rows.len());
                let mut missing = Vec::new();
                for (i, row) in rows.iter().enumerate() {
                    match row.get(j) {
                        Some(Value::Num(v)) => values.push(*v),
                        Some(Value::Missing) | None => {
                            if !field.nullable {
                                problem(i, "expected a number, got a missing value".into());
                            }
                            values.push(f64::NAN);
                            missing.push(i as u32);
                        }
                        Some(Value::Cat(s)) => {
                            problem(i, format!("expected a number, got the string {s:?}"));
                            values.push(f64::NAN);
                        }
                    }
                }
                columns.push(Column::Numeric(NumericColumn { values, missing }));
            }
            FeatureKind::Categorical => {
                let mut dictionary: Vec<String> = Vec::new();
                let mut seen: HashMap<&str, u32> = HashMap::new();
                let mut codes = Vec::with_capacity(rows.len());
                for (i, row) in rows.iter().enumerate() {
                    match row.get(j) {
                        Some(Value::Cat(s)) => {
                            let code = *seen.entry(s.as_str()).or_insert_with(|| {
                                dictionary.push(s.clone());
                                dictionary.len() as u32 - 1
                            });
                            codes.push(Some(code));
                        }
                        Some(Value::Missing) | None => {
                            if !field.nullable {
                                problem(i, "expected a string, got a missing value".into());
                            }
                            codes.push(None);
                        }
                        Some(Value::Num(v)) => {
                            problem(i, format!("expected a string, got the number {v}"));
                            codes.push(None);
                        }
                    }
                }
                columns.push(Column::Categorical(CategoricalColumn { dictionary, codes }));
            }
        }
    }
    if problems.is_empty() {
        Ok(RawBatch {
            rows: rows.len() as u32,
            columns,
        })
    } else {
        Err(ModelError::InvalidInput(problems))
    }
}

/// Loads model `T` natively and scores `rows` with it.
pub fn score<T: Model>(rows: &[Vec<Value>]) -> Result<Scores, ModelError> {
    let model = T::load();
    let info = model.info();
    let raw = batch(&info.inputs, rows)?;
    model.score(&Batch::new(&raw, &info.inputs))
}
