//! Hard and soft expectations bound to a model's schema: the runtime
//! rejects rows that break a hard one before the guest sees them, and the
//! [`crate::monitor`] counts the rows that break a soft one.
//!
//! The expectations themselves (what the owner wrote, how they travel in a
//! component) are in [`crate::artifact::expect`].

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::artifact::expect::{Bounds, Expectations, Severity};
use crate::contract::{Batch, FeatureKind, ModelInfo};
use crate::error::{Result, Violation, Violations};

#[derive(Clone, Copy, Debug)]
enum Value<'a> {
    Missing,
    Number(f64),
    Category(&'a str),
}

/// One feature's expectations, bound to its place in a batch.
#[derive(Clone, Debug)]
pub(crate) struct FeatureRule {
    /// The feature's name.
    pub field: String,
    /// Numeric or categorical, and the position among the batch's numeric
    /// (or categorical) columns.
    kind: FeatureKind,
    column: usize,
    bounds: Bounds,
    categories: Option<HashSet<String>>,
    /// The categories as written, for messages.
    listed: Vec<String>,
    missing: Option<bool>,
    pub severity: Severity,
}

impl FeatureRule {
    /// The rule as one phrase, e.g. "within [18, 100], never missing".
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        if self.bounds.min.is_some() || self.bounds.max.is_some() {
            parts.push(self.bounds.to_string());
        }
        if self.categories.is_some() {
            parts.push(format!("one of {}", self.listed.join(", ")));
        }
        if self.missing == Some(false) {
            parts.push("never missing".into());
        }
        parts.join(", ")
    }

    /// Whether `v` breaks the rule, and then what was wanted.
    fn breaks(&self, v: Value<'_>) -> Option<String> {
        match v {
            Value::Missing if self.missing == Some(false) => Some("a value (never missing)".into()),
            Value::Missing => None,
            Value::Number(x) if !self.bounds.contains(x) => {
                Some(format!("a value {}", self.bounds))
            }
            Value::Category(c) if self.categories.as_ref().is_some_and(|s| !s.contains(c)) => {
                Some(format!("one of {}", self.listed.join(", ")))
            }
            _ => None,
        }
    }

    /// Calls `f(row, value)` for every row of this rule's column in `batch`
    /// (which has passed the schema checks).
    fn for_each_value<'b>(&self, batch: &'b Batch, mut f: impl FnMut(usize, Value<'b>)) {
        let rows = batch.rows as usize;
        match self.kind {
            FeatureKind::Numeric => {
                let first = self.column * rows;
                let Some(values) = batch.numeric.get(first..first + rows) else {
                    return;
                };
                // `numeric_missing` is ascending: find this column's part once.
                let from = batch
                    .numeric_missing
                    .partition_point(|&m| (m as usize) < first);
                let mut missing = batch.numeric_missing[from..]
                    .iter()
                    .map(|&m| m as usize - first)
                    .peekable();
                for (row, &v) in values.iter().enumerate() {
                    let is_missing = missing.next_if_eq(&row).is_some() || v.is_nan();
                    f(
                        row,
                        if is_missing {
                            Value::Missing
                        } else {
                            Value::Number(v)
                        },
                    );
                }
            }
            FeatureKind::Categorical => {
                let first = self.column * rows;
                let Some(codes) = batch.categorical.get(first..first + rows) else {
                    return;
                };
                for (row, code) in codes.iter().enumerate() {
                    let word = code.and_then(|c| batch.dictionary.get(c as usize));
                    f(row, word.map_or(Value::Missing, |w| Value::Category(w)));
                }
            }
        }
    }

    /// Rows of `batch` that break the rule.
    pub fn count(&self, batch: &Batch) -> u64 {
        let mut n = 0;
        self.for_each_value(batch, |_, v| n += u64::from(self.breaks(v).is_some()));
        n
    }
}

/// A model's expectations, bound to its schema, ready to check batches.
#[derive(Clone, Debug)]
pub(crate) struct Rules {
    pub expectations: Expectations,
    /// Hard feature rules, then soft ones; see `hard`.
    pub features: Vec<FeatureRule>,
    hard: usize,
}

impl Rules {
    /// Binds `expectations` to `info`'s schema, after checking them.
    pub fn new(expectations: Expectations, info: &ModelInfo) -> Result<Rules> {
        expectations.check(info)?;
        let mut features = Vec::new();
        let (mut numeric, mut categorical) = (0, 0);
        for field in &info.inputs {
            let column = match field.kind {
                FeatureKind::Numeric => {
                    numeric += 1;
                    numeric - 1
                }
                FeatureKind::Categorical => {
                    categorical += 1;
                    categorical - 1
                }
            };
            let Some(e) = expectations.features.get(&field.name) else {
                continue;
            };
            features.push(FeatureRule {
                field: field.name.clone(),
                kind: field.kind,
                column,
                bounds: Bounds {
                    min: e.min,
                    max: e.max,
                },
                categories: e.categories.as_ref().map(|c| c.iter().cloned().collect()),
                listed: e.categories.clone().unwrap_or_default(),
                missing: e.missing,
                severity: e.severity,
            });
        }
        features.sort_by_key(|r| r.severity != Severity::Hard);
        let hard = features
            .iter()
            .take_while(|r| r.severity == Severity::Hard)
            .count();
        Ok(Rules {
            expectations,
            features,
            hard,
        })
    }

    /// The soft feature rules.
    pub fn soft(&self) -> &[FeatureRule] {
        &self.features[self.hard..]
    }

    /// Every row of `batch` that breaks a hard rule, as a contract
    /// violation naming the owner.
    pub fn hard_violations(&self, batch: &Batch, violations: &mut Violations) {
        for rule in &self.features[..self.hard] {
            rule.for_each_value(batch, |row, v| {
                if let Some(expected) = rule.breaks(v) {
                    let mut got = String::new();
                    match v {
                        Value::Missing => got.push_str("a missing value"),
                        Value::Number(x) => {
                            let _ = write!(got, "{x}");
                        }
                        Value::Category(c) => {
                            let _ = write!(got, "{c:?}");
                        }
                    }
                    violations.push(Violation {
                        row,
                        field: rule.field.clone(),
                        expected: format!(
                            "{expected} (hard expectation of {})",
                            self.expectations.owner
                        ),
                        got,
                    });
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::expect::Expectations;
    use crate::artifact::expect::tests::info;

    #[test]
    fn hard_rules_reject_exactly_the_rows_that_break_them() {
        let e = Expectations::from_toml(
            r#"
            owner = "team"
            contact = "t@example.com"
            [features.age]
            min = 18
            max = 100
            missing = false
            severity = "hard"
            [features.device]
            categories = ["ios"]
            "#,
        )
        .unwrap();
        let rules = Rules::new(e, &info()).unwrap();
        let batch = Batch {
            rows: 4,
            numeric: vec![17.0, 18.0, f64::NAN, 100.5],
            numeric_missing: vec![2],
            dictionary: vec!["ios".into(), "web".into()],
            categorical: vec![Some(0), Some(1), None, Some(1)],
        };
        let mut v = Violations::new();
        rules.hard_violations(&batch, &mut v);
        let rows: Vec<usize> = v.iter().map(|v| v.row).collect();
        assert_eq!(rows, [0, 2, 3]);
        assert_eq!(
            v[0].to_string(),
            "row 0, field `age`: expected a value within [18, 100] (hard expectation of team), got 17"
        );
        assert_eq!(rules.soft().len(), 1);
        assert_eq!(rules.soft()[0].count(&batch), 2, "two rows say web");
    }
}
