//! Typed, zero-copy views over the batch the host sends.

use crate::{Column, FeatureKind, Field, ModelError, RawBatch};

/// A batch of rows to score, with access to its columns by name or position.
///
/// Columns arrive in the order of the model's input schema. Nothing here
/// copies or allocates, except [`Batch::row_major`], which builds one
/// row-major matrix for the whole batch.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    raw: &'a RawBatch,
    fields: &'a [Field],
}

impl<'a> Batch<'a> {
    /// Wraps a raw batch whose columns follow `fields`.
    pub fn new(raw: &'a RawBatch, fields: &'a [Field]) -> Self {
        Batch { raw, fields }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.raw.rows as usize
    }

    /// The model's input schema.
    pub fn fields(&self) -> &'a [Field] {
        self.fields
    }

    /// The position of a field in the schema.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    fn column(&self, index: usize) -> Result<(&'a Field, &'a Column), ModelError> {
        match (self.fields.get(index), self.raw.columns.get(index)) {
            (Some(field), Some(column)) => Ok((field, column)),
            _ => Err(ModelError::internal(format!(
                "batch has {} columns, schema has {} fields; no column at position {index}",
                self.raw.columns.len(),
                self.fields.len()
            ))),
        }
    }

    fn index_of(&self, name: &str) -> Result<usize, ModelError> {
        self.position(name)
            .ok_or_else(|| ModelError::internal(format!("no field named `{name}` in the schema")))
    }

    /// The numeric column at schema position `index`.
    pub fn numeric_at(&self, index: usize) -> Result<Numeric<'a>, ModelError> {
        match self.column(index)? {
            (_, Column::Numeric(c)) => Ok(Numeric {
                values: &c.values,
                missing: &c.missing,
            }),
            (field, Column::Categorical(_)) => Err(ModelError::internal(format!(
                "field `{}` is categorical, not numeric",
                field.name
            ))),
        }
    }

    /// The numeric column named `name`.
    pub fn numeric(&self, name: &str) -> Result<Numeric<'a>, ModelError> {
        self.numeric_at(self.index_of(name)?)
    }

    /// The categorical column at schema position `index`.
    pub fn categorical_at(&self, index: usize) -> Result<Categorical<'a>, ModelError> {
        match self.column(index)? {
            (_, Column::Categorical(c)) => Ok(Categorical {
                dictionary: &c.dictionary,
                codes: &c.codes,
            }),
            (field, Column::Numeric(_)) => Err(ModelError::internal(format!(
                "field `{}` is numeric, not categorical",
                field.name
            ))),
        }
    }

    /// The categorical column named `name`.
    pub fn categorical(&self, name: &str) -> Result<Categorical<'a>, ModelError> {
        self.categorical_at(self.index_of(name)?)
    }

    /// All columns as one row-major `rows × fields` matrix, missing values as NaN.
    ///
    /// This is the natural input of linear models and trees. Every field must
    /// be numeric.
    pub fn row_major(&self) -> Result<Vec<f64>, ModelError> {
        let width = self.fields.len();
        let rows = self.rows();
        let mut out = vec![0.0; rows * width];
        for (j, field) in self.fields.iter().enumerate() {
            if field.kind != FeatureKind::Numeric {
                return Err(ModelError::internal(format!(
                    "row_major needs numeric fields; `{}` is categorical",
                    field.name
                )));
            }
            let column = self.numeric_at(j)?;
            for (i, v) in column.values.iter().enumerate().take(rows) {
                out[i * width + j] = *v;
            }
            for &i in column.missing {
                if let Some(slot) = out.get_mut(i as usize * width + j) {
                    *slot = f64::NAN;
                }
            }
        }
        Ok(out)
    }
}

/// A numeric column: values plus the rows where the value is missing.
#[derive(Clone, Copy, Debug)]
pub struct Numeric<'a> {
    values: &'a [f64],
    missing: &'a [u32],
}

impl<'a> Numeric<'a> {
    /// Every row's value; the entries of missing rows are NaN.
    pub fn values(&self) -> &'a [f64] {
        self.values
    }

    /// The rows whose value is missing, ascending.
    pub fn missing_rows(&self) -> &'a [u32] {
        self.missing
    }

    /// Whether any row is missing.
    pub fn has_missing(&self) -> bool {
        !self.missing.is_empty()
    }

    /// The value of `row`, or `None` when it is missing (or out of range).
    pub fn get(&self, row: usize) -> Option<f64> {
        if self.has_missing() && self.missing.binary_search(&(row as u32)).is_ok() {
            return None;
        }
        self.values.get(row).copied()
    }
}

/// A categorical column: a dictionary of the distinct strings, and one code per row.
#[derive(Clone, Copy, Debug)]
pub struct Categorical<'a> {
    dictionary: &'a [String],
    codes: &'a [Option<u32>],
}

impl<'a> Categorical<'a> {
    /// The distinct strings of this column in this batch.
    pub fn dictionary(&self) -> &'a [String] {
        self.dictionary
    }

    /// Per row, an index into [`Categorical::dictionary`], or `None` when missing.
    pub fn codes(&self) -> &'a [Option<u32>] {
        self.codes
    }

    /// The string of `row`, or `None` when it is missing.
    pub fn get(&self, row: usize) -> Option<&'a str> {
        let code = (*self.codes.get(row)?)?;
        self.dictionary.get(code as usize).map(String::as_str)
    }
}
