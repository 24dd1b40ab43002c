//! Typed, zero-copy views over the batch the host sends.

use crate::{FeatureKind, Field, ModelError, RawBatch};

/// A batch of rows to score, with access to its columns by name or position.
///
/// A model declares in [`crate::ModelInfo::layout`] how it wants numbers:
///
/// - float64 columns (the default): the host sends all numeric columns in
///   one flat list and all categorical columns in another (see the WIT
///   `batch` record); these views slice them per field;
/// - float32 rows ([`crate::ModelInfo::with_f32_rows`]): one row-major
///   matrix, missing values as NaN, read with [`Batch::f32_rows`]. The
///   column views are not available then.
///
/// Nothing here copies or allocates, except [`Batch::row_major`], which
/// builds one row-major float64 matrix for the batch.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    source: Source<'a>,
    fields: &'a [Field],
}

#[derive(Clone, Copy, Debug)]
enum Source<'a> {
    Columns(&'a RawBatch),
    F32Rows { rows: usize, values: &'a [f32] },
}

impl<'a> Batch<'a> {
    /// Wraps a raw batch laid out after `fields`.
    pub fn new(raw: &'a RawBatch, fields: &'a [Field]) -> Self {
        Batch {
            source: Source::Columns(raw),
            fields,
        }
    }

    /// Wraps `rows` float32 rows of `fields.len()` values each.
    pub fn from_f32_rows(rows: usize, values: &'a [f32], fields: &'a [Field]) -> Self {
        Batch {
            source: Source::F32Rows { rows, values },
            fields,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        match self.source {
            Source::Columns(raw) => raw.rows as usize,
            Source::F32Rows { rows, .. } => rows,
        }
    }

    /// The flat lists the host sent, when it sent float64 columns.
    pub fn raw(&self) -> Option<&'a RawBatch> {
        match self.source {
            Source::Columns(raw) => Some(raw),
            Source::F32Rows { .. } => None,
        }
    }

    /// The `rows × fields` float32 matrix, when the model declared float32
    /// rows; NaN where a value is missing.
    pub fn f32_rows(&self) -> Option<&'a [f32]> {
        match self.source {
            Source::Columns(_) => None,
            Source::F32Rows { values, .. } => Some(values),
        }
    }

    /// The columns, or an error saying this model reads rows.
    fn columns(&self) -> Result<&'a RawBatch, ModelError> {
        self.raw().ok_or_else(|| {
            ModelError::internal(
                "this model declared float32 rows: read them with Batch::f32_rows, not by column",
            )
        })
    }

    /// The model's input schema.
    pub fn fields(&self) -> &'a [Field] {
        self.fields
    }

    /// The position of a field in the schema.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    fn index_of(&self, name: &str) -> Result<usize, ModelError> {
        self.position(name)
            .ok_or_else(|| ModelError::internal(format!("no field named `{name}` in the schema")))
    }

    /// The field at `index` and its rank among the fields of its kind.
    fn rank(&self, index: usize, kind: FeatureKind) -> Result<usize, ModelError> {
        let field = self.fields.get(index).ok_or_else(|| {
            ModelError::internal(format!(
                "no field at position {index}; the schema has {}",
                self.fields.len()
            ))
        })?;
        if field.kind != kind {
            return Err(ModelError::internal(format!(
                "field `{}` is {:?}, not {kind:?}",
                field.name, field.kind
            )));
        }
        Ok(self.fields[..index]
            .iter()
            .filter(|f| f.kind == kind)
            .count())
    }

    /// The numeric column at schema position `index`.
    pub fn numeric_at(&self, index: usize) -> Result<Numeric<'a>, ModelError> {
        let k = self.rank(index, FeatureKind::Numeric)?;
        self.numeric_column(k)
    }

    /// The `k`-th numeric column of the flat list.
    fn numeric_column(&self, k: usize) -> Result<Numeric<'a>, ModelError> {
        let rows = self.rows();
        let raw = self.columns()?;
        let values = raw
            .numeric
            .get(k * rows..(k + 1) * rows)
            .ok_or_else(|| ModelError::internal("numeric values are shorter than the schema"))?;
        let (lo, hi) = ((k * rows) as u32, ((k + 1) * rows) as u32);
        let missing = &raw.numeric_missing;
        let start = missing.partition_point(|&m| m < lo);
        let end = missing.partition_point(|&m| m < hi);
        Ok(Numeric {
            values,
            missing: &missing[start..end],
            base: lo,
        })
    }

    /// Every numeric column, in schema order. Cheaper than calling
    /// [`Batch::numeric_at`] for each (which finds a field's rank among the
    /// numeric fields by counting).
    pub fn numeric_columns(&self) -> Result<Vec<Numeric<'a>>, ModelError> {
        let count = self
            .fields
            .iter()
            .filter(|f| f.kind == FeatureKind::Numeric)
            .count();
        (0..count).map(|k| self.numeric_column(k)).collect()
    }

    /// The numeric column named `name`.
    pub fn numeric(&self, name: &str) -> Result<Numeric<'a>, ModelError> {
        self.numeric_at(self.index_of(name)?)
    }

    /// The categorical column at schema position `index`.
    pub fn categorical_at(&self, index: usize) -> Result<Categorical<'a>, ModelError> {
        let k = self.rank(index, FeatureKind::Categorical)?;
        let rows = self.rows();
        let raw = self.columns()?;
        let codes = raw
            .categorical
            .get(k * rows..(k + 1) * rows)
            .ok_or_else(|| ModelError::internal("categorical codes are shorter than the schema"))?;
        Ok(Categorical {
            dictionary: &raw.dictionary,
            codes,
        })
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
        if let Some(f) = self.fields.iter().find(|f| f.kind != FeatureKind::Numeric) {
            return Err(ModelError::internal(format!(
                "row_major needs numeric fields; `{}` is categorical",
                f.name
            )));
        }
        let (rows, width) = (self.rows(), self.fields.len());
        if let Some(values) = self.f32_rows() {
            if values.len() != rows * width {
                return Err(ModelError::internal("float32 rows do not match the schema"));
            }
            return Ok(values.iter().map(|&v| f64::from(v)).collect());
        }
        let raw = self.columns()?;
        let numeric = &raw.numeric;
        if numeric.len() != rows * width {
            return Err(ModelError::internal(
                "numeric values do not match the schema",
            ));
        }
        let mut out = vec![0.0; rows * width];
        // Transpose eight rows at a time: the innermost loop has a constant
        // trip count, so it unrolls and each remaining loop iteration moves
        // eight values. In wasm the host checks its deadline at every loop
        // header; an element-at-a-time transpose spends much of its time there.
        const TILE: usize = 8;
        let full = rows - rows % TILE;
        for i in (0..full).step_by(TILE) {
            for j in 0..width {
                let src = &numeric[j * rows + i..j * rows + i + TILE];
                for (r, v) in src.iter().enumerate() {
                    out[(i + r) * width + j] = *v;
                }
            }
        }
        for i in full..rows {
            for j in 0..width {
                out[i * width + j] = numeric[j * rows + i];
            }
        }
        for &m in &raw.numeric_missing {
            let (j, i) = (m as usize / rows.max(1), m as usize % rows.max(1));
            if let Some(slot) = out.get_mut(i * width + j) {
                *slot = f64::NAN;
            }
        }
        Ok(out)
    }
}

/// A numeric column: values plus the rows where the value is missing.
#[derive(Clone, Copy, Debug)]
pub struct Numeric<'a> {
    values: &'a [f64],
    /// Positions in the batch's flat numeric list, all within this column.
    missing: &'a [u32],
    /// Position of this column's first value in that list.
    base: u32,
}

impl<'a> Numeric<'a> {
    /// Every row's value; the entries of missing rows are NaN.
    pub fn values(&self) -> &'a [f64] {
        self.values
    }

    /// The rows whose value is missing, ascending.
    pub fn missing_rows(&self) -> impl Iterator<Item = usize> + 'a {
        let base = self.base;
        self.missing.iter().map(move |m| (m - base) as usize)
    }

    /// Whether any row is missing.
    pub fn has_missing(&self) -> bool {
        !self.missing.is_empty()
    }

    /// The value of `row`, or `None` when it is missing (or out of range).
    pub fn get(&self, row: usize) -> Option<f64> {
        if self.has_missing()
            && self
                .missing
                .binary_search(&(self.base + row as u32))
                .is_ok()
        {
            return None;
        }
        self.values.get(row).copied()
    }
}

/// A categorical column: the batch's dictionary, and one code per row.
#[derive(Clone, Copy, Debug)]
pub struct Categorical<'a> {
    dictionary: &'a [String],
    codes: &'a [Option<u32>],
}

impl<'a> Categorical<'a> {
    /// The distinct strings of all categorical columns of this batch.
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

#[cfg(test)]
mod tests {
    use crate::{Field, Value, testing};

    use super::Batch;

    #[test]
    fn row_major_transposes_every_tile_and_marks_missing_values() {
        let fields: Vec<Field> = ["a", "b", "c"]
            .iter()
            .map(|n| Field::numeric(*n).nullable())
            .collect();
        // 19 rows: two full tiles of eight and a remainder of three.
        let rows: Vec<Vec<Value>> = (0..19)
            .map(|i| {
                (0..3)
                    .map(|j| {
                        if (i + j) % 7 == 0 {
                            Value::Missing
                        } else {
                            Value::Num((10 * i + j) as f64)
                        }
                    })
                    .collect()
            })
            .collect();
        let raw = testing::batch(&fields, &rows).unwrap();
        let m = Batch::new(&raw, &fields).row_major().unwrap();
        for i in 0..19 {
            for j in 0..3 {
                let got = m[i * 3 + j];
                match &rows[i][j] {
                    Value::Num(v) => assert_eq!(got, *v, "row {i} column {j}"),
                    _ => assert!(got.is_nan(), "row {i} column {j}"),
                }
            }
        }
        let b = Batch::new(&raw, &fields).numeric("b").unwrap();
        assert_eq!(b.get(6), None);
        assert_eq!(b.get(5), Some(51.0));
        assert_eq!(b.missing_rows().collect::<Vec<_>>(), vec![6, 13]);
    }
}
