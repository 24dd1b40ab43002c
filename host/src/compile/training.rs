//! Reading the training data a pipeline was fit on (JSON lines or CSV),
//! which gives a compiled model its schema and its training profile.
//!
//! Column order is the file's: JSON keys as written on the first line, or the
//! CSV header. A column of numbers is numeric; a column with any text is
//! categorical. `null` (JSON) or an empty cell (CSV) is a missing value.

use std::fmt;
use std::path::Path;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::contract::{FeatureKind, Field};
use crate::error::{Error, Result};
use crate::runtime::batch::Row;

/// Training rows with their columns, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingData {
    /// One field per column: name, kind, whether values are missing, and
    /// (for categorical columns) the categories seen, sorted.
    pub fields: Vec<Field>,
    /// The rows, keyed by column name.
    pub rows: Vec<Row>,
}

impl TrainingData {
    /// Reads a `.jsonl`/`.json` or `.csv` file, by extension.
    pub fn read(path: impl AsRef<Path>) -> Result<TrainingData> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let label = path.display().to_string();
        let data = match ext.as_str() {
            "csv" => Self::from_csv(&bytes),
            "jsonl" | "json" | "ndjson" => Self::from_jsonl(&String::from_utf8_lossy(&bytes)),
            other => Err(Error::Training(format!(
                "cannot tell the format from the extension `.{other}`; use .jsonl or .csv"
            ))),
        };
        data.map_err(|e| match e {
            Error::Training(m) => Error::Training(format!("{label}: {m}")),
            other => other,
        })
    }

    /// Parses JSON lines: one object per line, keyed by column name.
    pub fn from_jsonl(text: &str) -> Result<TrainingData> {
        let mut columns: Vec<String> = Vec::new();
        let mut raw: Vec<Vec<(String, Value)>> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let obj: Ordered = serde_json::from_str(line)
                .map_err(|e| Error::Training(format!("line {}: not a JSON object: {e}", i + 1)))?;
            if columns.is_empty() {
                columns = obj.0.iter().map(|(k, _)| k.clone()).collect();
            } else if let Some((k, _)) = obj.0.iter().find(|(k, _)| !columns.contains(k)) {
                return Err(Error::Training(format!(
                    "line {}: column `{k}` is not on the first line, which sets the columns",
                    i + 1
                )));
            }
            raw.push(obj.0);
        }
        if raw.is_empty() {
            return Err(Error::Training("no rows".into()));
        }
        let rows: Vec<Row> = raw
            .into_iter()
            .map(|pairs| {
                let mut row: Row = pairs.into_iter().collect();
                for c in &columns {
                    row.entry(c.clone()).or_insert(Value::Null);
                }
                row
            })
            .collect();
        let fields = infer_fields(&columns, &rows)?;
        Ok(TrainingData { fields, rows })
    }

    /// Parses CSV with a header row. Cells that parse as numbers are numbers
    /// unless their column also holds text; empty cells are missing.
    pub fn from_csv(bytes: &[u8]) -> Result<TrainingData> {
        let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| Error::Training(format!("header: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        if columns.is_empty() {
            return Err(Error::Training("the header names no columns".into()));
        }
        let mut cells: Vec<Vec<String>> = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| Error::Training(format!("row {}: {e}", i + 1)))?;
            if record.len() != columns.len() {
                return Err(Error::Training(format!(
                    "row {} has {} cells; the header has {} columns",
                    i + 1,
                    record.len(),
                    columns.len()
                )));
            }
            cells.push(record.iter().map(str::to_string).collect());
        }
        if cells.is_empty() {
            return Err(Error::Training("no rows".into()));
        }
        let number = |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite());
        let text_columns: Vec<bool> = (0..columns.len())
            .map(|c| {
                cells
                    .iter()
                    .any(|r| !r[c].is_empty() && number(&r[c]).is_none() && !is_nan(&r[c]))
            })
            .collect();
        let rows: Vec<Row> = cells
            .iter()
            .map(|r| {
                columns
                    .iter()
                    .enumerate()
                    .map(|(c, name)| {
                        let cell = &r[c];
                        let v = if cell.is_empty() || (!text_columns[c] && is_nan(cell)) {
                            Value::Null
                        } else if text_columns[c] {
                            Value::String(cell.clone())
                        } else {
                            number(cell)
                                .and_then(serde_json::Number::from_f64)
                                .map_or(Value::Null, Value::Number)
                        };
                        (name.clone(), v)
                    })
                    .collect()
            })
            .collect();
        let fields = infer_fields(&columns, &rows)?;
        Ok(TrainingData { fields, rows })
    }
}

fn is_nan(s: &str) -> bool {
    s.trim().eq_ignore_ascii_case("nan")
}

fn infer_fields(columns: &[String], rows: &[Row]) -> Result<Vec<Field>> {
    columns
        .iter()
        .map(|name| {
            let mut kind = None;
            let mut nullable = false;
            let mut categories = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                let v = &row[name];
                let this = match v {
                    Value::Null => {
                        nullable = true;
                        continue;
                    }
                    Value::Number(_) => FeatureKind::Numeric,
                    Value::String(s) => {
                        categories.push(s.clone());
                        FeatureKind::Categorical
                    }
                    other => {
                        return Err(Error::Training(format!(
                            "row {}, column `{name}`: {other} is neither a number, a string nor null",
                            i + 1
                        )));
                    }
                };
                match kind {
                    None => kind = Some(this),
                    Some(k) if k != this => {
                        return Err(Error::Training(format!(
                            "column `{name}` mixes numbers and strings (row {} has {v})",
                            i + 1
                        )));
                    }
                    _ => {}
                }
            }
            categories.sort();
            categories.dedup();
            Ok(Field {
                name: name.clone(),
                kind: kind.unwrap_or(FeatureKind::Numeric),
                nullable,
                categories,
            })
        })
        .collect()
}

/// A JSON object with its keys in written order.
struct Ordered(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<Ordered, A::Error> {
                let mut pairs = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    if pairs.iter().any(|(p, _): &(String, Value)| *p == k) {
                        return Err(serde::de::Error::custom(format!(
                            "column `{k}` appears twice"
                        )));
                    }
                    pairs.push((k, v));
                }
                Ok(Ordered(pairs))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_keeps_key_order_and_infers_kinds() {
        let t = TrainingData::from_jsonl(
            "{\"z\": 1, \"a\": \"x\", \"m\": null}\n{\"z\": 2.5, \"a\": \"w\", \"m\": 3}\n",
        )
        .unwrap();
        let names: Vec<&str> = t.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["z", "a", "m"]);
        assert_eq!(t.fields[1].kind, FeatureKind::Categorical);
        assert_eq!(t.fields[1].categories, ["w", "x"]);
        assert!(t.fields[2].nullable && !t.fields[0].nullable);
    }

    #[test]
    fn mixed_columns_and_stray_keys_are_named() {
        let err = TrainingData::from_jsonl("{\"a\": 1}\n{\"a\": \"x\"}\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("column `a` mixes numbers and strings"),
            "{err}"
        );
        let err = TrainingData::from_jsonl("{\"a\": 1}\n{\"b\": 2}\n").unwrap_err();
        assert!(err.to_string().contains("line 2: column `b`"), "{err}");
    }

    #[test]
    fn csv_text_columns_stay_text_and_empty_cells_are_missing() {
        let t = TrainingData::from_csv(b"x,code\n1.5,A1\n,7\nnan,B\n").unwrap();
        assert_eq!(t.fields[0].kind, FeatureKind::Numeric);
        assert!(t.fields[0].nullable);
        assert_eq!(t.fields[1].kind, FeatureKind::Categorical);
        assert_eq!(t.rows[1]["code"], Value::String("7".into()));
        assert_eq!(t.rows[1]["x"], Value::Null);
        let err = TrainingData::from_csv(b"a,b\n1\n").unwrap_err();
        assert!(err.to_string().contains("row 1"), "{err}");
    }
}
