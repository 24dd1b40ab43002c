//! Expectations: what the data scientist who owns a model says must hold of
//! its inputs and outputs, beyond what the schema says.
//!
//! They are written in a small TOML file given to `glassbox compile
//! --expect`, embedded in the component (custom section
//! [`SECTION`], as JSON) and enforced by every host that loads it:
//!
//! ```toml
//! owner = "churn-team"                    # who owns the model
//! contact = "churn-team@example.com"      # whom to call when it goes wrong
//!
//! [features.age]
//! min = 18                # numeric features: bounds, either or both
//! max = 100
//! missing = false         # missing values not allowed
//! severity = "hard"       # a violating row is rejected (default: "soft")
//!
//! [features.device]
//! categories = ["ios", "android", "web"]    # categorical features
//!
//! [outputs]               # over the monitoring window; always soft
//! share."1" = { max = 0.4 }      # classifiers: share of a class's predictions
//! # mean = { min = 10, max = 300 }  # regressors: the mean prediction
//! ```
//!
//! A **hard** expectation rejects a row that breaks it, as a contract
//! violation ([`crate::Error::InvalidInput`]) naming the row, the field
//! and the owner. A **soft** one is counted by the [`crate::monitor`] and
//! moves the model's health. Output expectations hold over a window of
//! rows, not a row, so they can only be soft.
//!
//! ```
//! use glassbox::artifact::expect::Expectations;
//! let e = Expectations::from_toml(r#"
//!     owner = "team"
//!     contact = "team@example.com"
//!     [features.x]
//!     max = 1.0
//!     severity = "hard"
//! "#).unwrap();
//! assert_eq!(e.features["x"].max, Some(1.0));
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contract::{FeatureKind, ModelInfo, Outputs};
use crate::error::{Error, Result};

/// Name of the custom section holding a component's expectations.
pub const SECTION: &str = "glassbox-expectations";

/// Everything a model's owner expects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The owning team.
    pub owner: String,
    /// Whom to call: an address, a URL, a pager name.
    pub contact: String,
    /// Per feature, by name.
    #[serde(default)]
    pub features: BTreeMap<String, FeatureExpectation>,
    /// On the predictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<OutputExpectation>,
}

/// What happens to a row that breaks an expectation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The row is rejected.
    Hard,
    /// The row is scored, counted, and moves the health.
    #[default]
    Soft,
}

/// Expectations on one feature.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureExpectation {
    /// Smallest allowed value (numeric features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest allowed value (numeric features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The allowed categories (categorical features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// Whether a missing value is allowed; no rule when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<bool>,
    /// Hard or soft. Default soft.
    #[serde(default)]
    pub severity: Severity,
}

/// Expectations on the predictions over the monitoring window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputExpectation {
    /// Classifiers: bounds on the share of rows predicted as each class,
    /// by class label.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub share: BTreeMap<String, Bounds>,
    /// Regressors: bounds on the mean prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Bounds>,
    /// Must be soft (written out only to say so when someone asks for hard).
    #[serde(default)]
    pub severity: Severity,
}

/// An interval, open on a side without a bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// Lower bound, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper bound, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Bounds {
    /// Whether `v` lies within the bounds.
    pub fn contains(&self, v: f64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

impl std::fmt::Display for Bounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.min, self.max) {
            (Some(lo), Some(hi)) => write!(f, "within [{lo}, {hi}]"),
            (Some(lo), None) => write!(f, "at least {lo}"),
            (None, Some(hi)) => write!(f, "at most {hi}"),
            (None, None) => write!(f, "any value"),
        }
    }
}

impl Expectations {
    /// Parses an expectations file; errors name the line and the key.
    pub fn from_toml(text: &str) -> Result<Expectations> {
        toml::from_str(text).map_err(|e| Error::Expectations(e.to_string().trim_end().into()))
    }

    /// Checks the expectations against the model they are for: every
    /// feature and class named exists, every rule fits its feature's kind,
    /// every bound is a number and in order. Lists every problem found.
    pub fn check(&self, info: &ModelInfo) -> Result<()> {
        let mut problems = Vec::new();
        if self.owner.trim().is_empty() {
            problems.push("`owner` is empty: name the team that owns the model".to_string());
        }
        if self.contact.trim().is_empty() {
            problems.push("`contact` is empty: say whom to call".to_string());
        }
        let bounds_ok = |what: &str, b: &Bounds, problems: &mut Vec<String>| {
            for v in [b.min, b.max].into_iter().flatten() {
                if !v.is_finite() {
                    problems.push(format!("{what}: bound {v} is not a finite number"));
                }
            }
            if let (Some(lo), Some(hi)) = (b.min, b.max)
                && lo > hi
            {
                problems.push(format!("{what}: min {lo} is above max {hi}"));
            }
        };
        for (name, e) in &self.features {
            let what = format!("features.{name}");
            let Some(field) = info.inputs.iter().find(|f| &f.name == name) else {
                let names: Vec<&str> = info.inputs.iter().map(|f| f.name.as_str()).collect();
                problems.push(format!(
                    "{what}: the model has no feature `{name}`; its features are {}",
                    names.join(", ")
                ));
                continue;
            };
            if e.min.is_none() && e.max.is_none() && e.categories.is_none() && e.missing.is_none() {
                problems.push(format!(
                    "{what}: states nothing; give min/max, categories or missing"
                ));
            }
            match field.kind {
                FeatureKind::Numeric if e.categories.is_some() => problems.push(format!(
                    "{what}: `categories` given for a numeric feature; use min/max"
                )),
                FeatureKind::Categorical if e.min.is_some() || e.max.is_some() => problems.push(
                    format!("{what}: min/max given for a categorical feature; use categories"),
                ),
                _ => {}
            }
            bounds_ok(
                &what,
                &Bounds {
                    min: e.min,
                    max: e.max,
                },
                &mut problems,
            );
            if e.categories.as_ref().is_some_and(Vec::is_empty) {
                problems.push(format!("{what}: `categories` is empty"));
            }
        }
        if let Some(o) = &self.outputs {
            if o.severity == Severity::Hard {
                problems.push(
                    "outputs: output expectations hold over a window of rows, not a row, \
                     so they can only be soft"
                        .into(),
                );
            }
            match &info.outputs {
                Outputs::Classes(classes) | Outputs::DecisionClasses(classes) => {
                    if o.mean.is_some() {
                        problems.push(
                            "outputs.mean: the model is a classifier; bound the share of a \
                             class instead (outputs.share.CLASS)"
                                .into(),
                        );
                    }
                    for (class, b) in &o.share {
                        let what = format!("outputs.share.{class}");
                        if !classes.contains(class) {
                            problems.push(format!(
                                "{what}: the model has no class `{class}`; its classes are {}",
                                classes.join(", ")
                            ));
                        }
                        bounds_ok(&what, b, &mut problems);
                        if [b.min, b.max]
                            .into_iter()
                            .flatten()
                            .any(|v| !(0.0..=1.0).contains(&v))
                        {
                            problems.push(format!("{what}: a share lies in [0, 1]"));
                        }
                    }
                }
                Outputs::Target(_) => {
                    if !o.share.is_empty() {
                        problems.push(
                            "outputs.share: the model is a regressor; bound the mean \
                             prediction instead (outputs.mean)"
                                .into(),
                        );
                    }
                    if let Some(b) = &o.mean {
                        bounds_ok("outputs.mean", b, &mut problems);
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Expectations(problems.join("; ")))
        }
    }

    /// One line per expectation, for `glassbox inspect`.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (name, e) in &self.features {
            let severity = match e.severity {
                Severity::Hard => "hard",
                Severity::Soft => "soft",
            };
            for rule in e.rules() {
                lines.push(format!("{name}: {rule} ({severity})"));
            }
        }
        if let Some(o) = &self.outputs {
            for (class, b) in &o.share {
                lines.push(format!("share of class {class}: {b} (soft)"));
            }
            if let Some(b) = &o.mean {
                lines.push(format!("mean prediction: {b} (soft)"));
            }
        }
        lines
    }
}

/// The kind of a value as a rule sees it.
impl FeatureExpectation {
    /// The human-readable rules of this expectation.
    pub(crate) fn rules(&self) -> Vec<String> {
        let e = self;
        let mut rules = Vec::new();
        let bounds = Bounds {
            min: e.min,
            max: e.max,
        };
        if e.min.is_some() || e.max.is_some() {
            rules.push(bounds.to_string());
        }
        if let Some(c) = &e.categories {
            rules.push(format!("one of {}", c.join(", ")));
        }
        match e.missing {
            Some(false) => rules.push("never missing".into()),
            Some(true) => rules.push("may be missing".into()),
            None => {}
        }
        rules
    }
}

impl Expectations {
    /// Reads the expectations a component carries, if any.
    pub fn read(component: &[u8]) -> Result<Option<Expectations>> {
        let Some(data) = super::custom_section(component, SECTION) else {
            return Ok(None);
        };
        serde_json::from_slice(data)
            .map(Some)
            .map_err(|e| Error::Expectations(format!("the component's `{SECTION}` section: {e}")))
    }

    /// Appends these expectations as the component's [`SECTION`].
    #[cfg(feature = "compiler")]
    pub(crate) fn write(&self, component: &mut Vec<u8>) {
        super::append_custom_section(
            component,
            SECTION,
            &serde_json::to_vec(self).expect("expectations always serialise"),
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Field, Task};

    /// A schema of `age` (numeric) and `device` (categorical), shared
    /// with the rules' tests.
    pub(crate) fn info() -> ModelInfo {
        ModelInfo {
            name: "m".into(),
            version: "1".into(),
            task: Task::Classification,
            inputs: vec![
                Field {
                    name: "age".into(),
                    kind: FeatureKind::Numeric,
                    nullable: true,
                    categories: vec![],
                },
                Field {
                    name: "device".into(),
                    kind: FeatureKind::Categorical,
                    nullable: true,
                    categories: vec!["ios".into(), "web".into()],
                },
            ],
            outputs: Outputs::Classes(vec!["no".into(), "yes".into()]),
            profile: None,
            layout: crate::contract::NumericLayout::F64Columns,
        }
    }

    #[test]
    fn every_problem_is_named() {
        let e = Expectations::from_toml(
            r#"
            owner = ""
            contact = "x"
            [features.agee]
            min = 1
            [features.age]
            min = 5
            max = 1
            categories = ["a"]
            [features.device]
            max = 3
            [outputs]
            severity = "hard"
            mean = { min = 0 }
            share.maybe = { max = 2 }
            "#,
        )
        .unwrap();
        let err = e.check(&info()).unwrap_err().to_string();
        for needle in [
            "`owner` is empty",
            "features.agee: the model has no feature `agee`; its features are age, device",
            "features.age: `categories` given for a numeric feature",
            "features.age: min 5 is above max 1",
            "features.device: min/max given for a categorical feature",
            "can only be soft",
            "outputs.mean: the model is a classifier",
            "outputs.share.maybe: the model has no class `maybe`; its classes are no, yes",
            "outputs.share.maybe: a share lies in [0, 1]",
        ] {
            assert!(err.contains(needle), "{needle:?} missing from {err}");
        }
    }

    #[test]
    fn a_typo_in_a_key_names_the_key_and_line() {
        let err =
            Expectations::from_toml("owner = \"a\"\ncontact = \"b\"\n[features.age]\nmaxx = 3\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("maxx") && err.contains("line 4"), "{err}");
        let err = Expectations::from_toml("owner = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("contact"), "{err}");
    }
}
