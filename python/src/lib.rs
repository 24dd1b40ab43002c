//! `glassbox._glassbox`: the native half of the `glassbox` Python package.
//!
//! Everything here is a thin layer over the `glassbox` library, so that a
//! model scored from Python runs in the same sandbox, under the same limits
//! and contract checks, and feeds the same monitor as under `glassbox serve`.
//! The Python half (`python/glassbox/`) turns DataFrames into what these
//! functions take: for the numeric fields one float64 matrix (rows × fields,
//! either memory order; NaN is a missing value), for each categorical field
//! its dictionary codes (int64, -1 for missing) and its categories. That is
//! the contract's own batch layout, so the only copy made here is the one
//! into the batch, and it is made before the GIL is released.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use glassbox::compile::training::TrainingData;
use glassbox::compile::trees::TreeMode;
use glassbox::compile::{CompileOptions, compile as compile_onnx};
use glassbox::monitor::{Monitor, MonitorConfig};
use glassbox::runtime::batch;
use glassbox::{
    Batch, Engine, Error, FeatureKind, Field, Limits, ModelInfo, Outputs, Scores, Violation,
};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList};
use serde_json::{Map, Value};

/// Engines by the limits and trusted keys they enforce. An engine is heavy
/// (a pooling allocator, an epoch thread, a code cache), so models loaded
/// with the same settings share one, as `glassbox serve`'s models do.
static ENGINES: Mutex<Vec<(EngineKey, Engine)>> = Mutex::new(Vec::new());

/// What tells engines apart: their limits and trusted keys (PEM texts).
type EngineKey = (Limits, Vec<String>);

fn engine(limits: Limits, keys: Vec<String>) -> Result<Engine, Error> {
    // (The keys were parsed once already by `load`, which reports a bad one.)
    let mut engines = ENGINES.lock().unwrap_or_else(PoisonError::into_inner);
    let key = (limits, keys);
    if let Some((_, e)) = engines.iter().find(|(k, _)| *k == key) {
        return Ok(e.clone());
    }
    let mut builder = Engine::builder().limits(key.0.clone());
    if !key.1.is_empty() {
        let trusted =
            glassbox::artifact::sign::TrustedKeys::from_pems(key.1.iter().map(String::as_str))
                .map_err(|e| Error::Signature {
                    model: "(trusted keys)".into(),
                    reason: glassbox::SignatureError::Malformed(e.to_string()),
                })?;
        builder = builder.trusted_keys(trusted);
    }
    // Compiled code is cached as the CLI caches it, so that reloading a
    // model in a notebook does not compile it again.
    if let Some(dir) = glassbox::EngineBuilder::default_cache_dir() {
        builder = builder.cache_dir(dir);
    }
    let e = builder.build()?;
    engines.push((key, e.clone()));
    Ok(e)
}

/// The Python exception for a library error: the classes live in
/// `glassbox.errors`, so that they can carry attributes and docstrings.
fn py_error(py: Python<'_>, e: Error) -> PyErr {
    let class = match &e {
        Error::InvalidInput { .. } => "ContractError",
        Error::TooLarge { .. }
        | Error::Timeout { .. }
        | Error::OutOfMemory { .. }
        | Error::MemoryBudget { .. }
        | Error::StackOverflow { .. } => "LimitError",
        Error::Guest { .. } | Error::Trap { .. } | Error::BadOutput { .. } => "ModelError",
        Error::Signature { .. } => "SignatureError",
        Error::InvalidOnnx(_) | Error::Training(_) | Error::Expectations(_) => "CompileError",
        Error::NotAComponent(_)
        | Error::WrongVersion { .. }
        | Error::WrongWorld { .. }
        | Error::ForbiddenImports { .. }
        | Error::Load { .. }
        | Error::InvalidInfo { .. } => "LoadError",
        _ => "GlassboxError",
    };
    let message = e.to_string();
    let built = (|| -> PyResult<PyErr> {
        let cls = py.import("glassbox.errors")?.getattr(class)?;
        let value = if let Error::InvalidInput { violations, .. } = &e {
            let list = PyList::empty(py);
            for v in violations.iter() {
                list.append(violation_dict(py, v)?)?;
            }
            cls.call1((message.clone(), list, violations.total()))?
        } else {
            cls.call1((message.clone(),))?
        };
        Ok(PyErr::from_value(value))
    })();
    built.unwrap_or_else(|err| err)
}

fn violation_dict<'py>(py: Python<'py>, v: &Violation) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("row", v.row)?;
    d.set_item("field", &v.field)?;
    d.set_item("expected", &v.expected)?;
    d.set_item("got", &v.got)?;
    Ok(d)
}

/// A violation as the error of its own row (which says which row it is):
/// the field and the problem.
fn row_problem(v: &Violation) -> String {
    format!(
        "field `{}`: expected {}, got {}",
        v.field, v.expected, v.got
    )
}

fn value_error(message: String) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(message)
}

/// A loaded model: `glassbox.Model` wraps it.
#[pyclass(frozen, name = "NativeModel", module = "glassbox._glassbox")]
struct NativeModel {
    model: glassbox::Model,
}

/// The columns of a call as the Python side hands them over.
struct Columns<'a, 'py> {
    rows: usize,
    numeric: Option<&'a PyReadonlyArray2<'py, f64>>,
    categorical: &'a [(PyReadonlyArray1<'py, i64>, Vec<String>)],
}

/// The batch of `cols`. Values a batch cannot carry (infinite numbers,
/// codes outside their dictionary) are violations; `lenient` returns them
/// beside the batch, with those values made missing, instead of failing.
fn build_batch(
    info: &ModelInfo,
    cols: &Columns<'_, '_>,
    lenient: bool,
) -> Result<(Batch, Vec<Violation>), Error> {
    let rows = cols.rows;
    let numeric_fields: Vec<&Field> = info
        .inputs
        .iter()
        .filter(|f| f.kind == FeatureKind::Numeric)
        .collect();
    let categorical_fields: Vec<&Field> = info
        .inputs
        .iter()
        .filter(|f| f.kind == FeatureKind::Categorical)
        .collect();
    let mut violations: Vec<Violation> = Vec::new();
    let invalid = |what: String| Error::InvalidInput {
        model: info.name.clone(),
        violations: vec![Violation {
            row: 0,
            field: "(columns)".into(),
            expected: what,
            got: String::new(),
        }]
        .into(),
    };
    let mut numeric = Vec::with_capacity(rows * numeric_fields.len());
    let mut numeric_missing = Vec::new();
    // Positions whose value was refused above and is now carried as missing.
    let (mut replaced, mut replaced_codes) = (HashSet::new(), HashSet::new());
    match cols.numeric {
        Some(m) => {
            let view = m.as_array();
            if view.nrows() != rows || view.ncols() != numeric_fields.len() {
                return Err(invalid(format!(
                    "a {rows} × {} matrix of numeric values, got {} × {}",
                    numeric_fields.len(),
                    view.nrows(),
                    view.ncols()
                )));
            }
            for (column, field) in view.columns().into_iter().zip(&numeric_fields) {
                for (row, &v) in column.iter().enumerate() {
                    if v.is_nan() {
                        numeric_missing.push(numeric.len() as u32);
                    } else if v.is_infinite() {
                        replaced.insert(numeric.len());
                        violations.push(Violation {
                            row,
                            field: field.name.clone(),
                            expected: "a finite number".into(),
                            got: format!("{v}"),
                        });
                        numeric_missing.push(numeric.len() as u32);
                    }
                    numeric.push(if v.is_infinite() { f64::NAN } else { v });
                }
            }
        }
        None if numeric_fields.is_empty() => {}
        None => return Err(invalid("the numeric fields' values".into())),
    }
    if cols.categorical.len() != categorical_fields.len() {
        return Err(invalid(format!(
            "{} categorical columns, got {}",
            categorical_fields.len(),
            cols.categorical.len()
        )));
    }
    let mut dictionary: Vec<String> = Vec::new();
    let mut categorical = Vec::with_capacity(rows * categorical_fields.len());
    for ((codes, categories), field) in cols.categorical.iter().zip(&categorical_fields) {
        let codes = codes.as_array();
        if codes.len() != rows {
            return Err(invalid(format!(
                "{rows} codes for `{}`, got {}",
                field.name,
                codes.len()
            )));
        }
        let base = dictionary.len() as u32;
        let n = categories.len() as i64;
        for (row, &c) in codes.iter().enumerate() {
            categorical.push(if c == -1 {
                None
            } else if (0..n).contains(&c) {
                Some(base + c as u32)
            } else {
                replaced_codes.insert(categorical.len());
                violations.push(Violation {
                    row,
                    field: field.name.clone(),
                    expected: format!("a code within its {n} categories"),
                    got: format!("code {c}"),
                });
                None
            });
        }
        dictionary.extend(categories.iter().cloned());
    }
    // Missing values where a field may not be missing, found here in one
    // pass: per-row scoring then never needs a round per hundred bad rows
    // (an error lists only the first 100), which would make a table of
    // many bad rows cost more than linear time.
    let not_missing = |field: &Field, expected: &str, row: usize| Violation {
        row,
        field: field.name.clone(),
        expected: expected.into(),
        got: "a missing value (this field may not be missing)".into(),
    };
    for &m in &numeric_missing {
        let (k, row) = (m as usize / rows.max(1), m as usize % rows.max(1));
        if let Some(field) = numeric_fields.get(k).filter(|f| !f.nullable)
            && !replaced.contains(&(m as usize))
        {
            violations.push(not_missing(field, "a number", row));
        }
    }
    for (position, code) in categorical.iter().enumerate() {
        let (k, row) = (position / rows.max(1), position % rows.max(1));
        if code.is_none()
            && !replaced_codes.contains(&position)
            && let Some(field) = categorical_fields.get(k).filter(|f| !f.nullable)
        {
            violations.push(not_missing(field, "a string", row));
        }
    }
    violations.sort_by_key(|v| v.row);
    if !lenient && !violations.is_empty() {
        return Err(Error::InvalidInput {
            model: info.name.clone(),
            violations: violations.into(),
        });
    }
    let batch = Batch {
        rows: rows as u32,
        numeric,
        numeric_missing,
        dictionary,
        categorical,
    };
    Ok((batch, violations))
}

/// The rows `keep` of `batch`, in order.
fn select_rows(info: &ModelInfo, batch: &Batch, keep: &[usize]) -> Batch {
    let rows = batch.rows as usize;
    let numeric_count = info
        .inputs
        .iter()
        .filter(|f| f.kind == FeatureKind::Numeric)
        .count();
    let categorical_count = info.inputs.len() - numeric_count;
    let missing: std::collections::HashSet<u32> = batch.numeric_missing.iter().copied().collect();
    let mut out = Batch {
        rows: keep.len() as u32,
        numeric: Vec::with_capacity(keep.len() * numeric_count),
        numeric_missing: Vec::new(),
        dictionary: batch.dictionary.clone(),
        categorical: Vec::with_capacity(keep.len() * categorical_count),
    };
    for k in 0..numeric_count {
        for &r in keep {
            let at = k * rows + r;
            if missing.contains(&(at as u32)) {
                out.numeric_missing.push(out.numeric.len() as u32);
            }
            out.numeric.push(batch.numeric[at]);
        }
    }
    for k in 0..categorical_count {
        for &r in keep {
            out.categorical.push(batch.categorical[k * rows + r]);
        }
    }
    out
}

/// Answers laid out for numpy: one entry per row of the call, rows that
/// were refused holding NaN (values, probabilities) or -1 (labels).
struct Answers {
    labels: Option<Vec<i64>>,
    /// Probabilities or decision scores, row-major, `width` per row.
    matrix: Option<(Vec<f64>, usize, &'static str)>,
    values: Option<Vec<f64>>,
    errors: Vec<(usize, String)>,
}

impl Answers {
    fn empty(info: &ModelInfo, rows: usize) -> Answers {
        match &info.outputs {
            Outputs::Classes(c) => Answers {
                labels: Some(vec![-1; rows]),
                matrix: Some((vec![f64::NAN; rows * c.len()], c.len(), "proba")),
                values: None,
                errors: Vec::new(),
            },
            Outputs::DecisionClasses(c) => {
                let width = batch::decision_width(c.len());
                Answers {
                    labels: Some(vec![-1; rows]),
                    matrix: Some((vec![f64::NAN; rows * width], width, "decision")),
                    values: None,
                    errors: Vec::new(),
                }
            }
            Outputs::Target(_) => Answers {
                labels: None,
                matrix: None,
                values: Some(vec![f64::NAN; rows]),
                errors: Vec::new(),
            },
        }
    }

    /// Puts the answers `scores` for the rows `at` (in order) in place.
    fn fill(&mut self, scores: &Scores, at: &[usize]) {
        let (labels, matrix) = match scores {
            Scores::Classification(c) => (&c.labels, &c.probabilities),
            Scores::Decision(d) => (&d.labels, &d.scores),
            Scores::Regression(v) => {
                if let Some(values) = &mut self.values {
                    for (i, &r) in at.iter().enumerate() {
                        values[r] = v[i];
                    }
                }
                return;
            }
        };
        if let Some(l) = &mut self.labels {
            for (i, &r) in at.iter().enumerate() {
                l[r] = i64::from(labels[i]);
            }
        }
        if let Some((m, width, _)) = &mut self.matrix {
            let w = *width;
            for (i, &r) in at.iter().enumerate() {
                m[r * w..(r + 1) * w].copy_from_slice(&matrix[i * w..(i + 1) * w]);
            }
        }
    }

    fn into_dict(self, py: Python<'_>, rows: usize) -> PyResult<Bound<'_, PyDict>> {
        let d = PyDict::new(py);
        if let Some(l) = self.labels {
            d.set_item("labels", PyArray1::from_vec(py, l))?;
        }
        if let Some((m, width, name)) = self.matrix {
            let a = PyArray1::from_vec(py, m);
            d.set_item(name, a.reshape([rows, width])?)?;
        }
        if let Some(v) = self.values {
            d.set_item("values", PyArray1::from_vec(py, v))?;
        }
        let errors = PyList::empty(py);
        for (row, message) in self.errors {
            errors.append((row, message))?;
        }
        d.set_item("errors", errors)?;
        Ok(d)
    }
}

/// Scores `batch`. With `per_row`, a row the contract refuses, or whose
/// answer breaks the model's declaration, gets an error of its own and the
/// other rows are still scored; any other failure (a trap, a deadline) is
/// the error of every row of the call. Without, the first problem raises.
/// `refused` are rows already refused (by the caller's own checks).
fn score_batch(
    model: &glassbox::Model,
    batch: Batch,
    per_row: bool,
    mut refused: HashMap<usize, String>,
) -> Result<Answers, Error> {
    let info = model.info();
    let rows = batch.rows as usize;
    let mut answers = Answers::empty(info, rows);
    if !per_row {
        let scores = model.score(&batch)?;
        if let Some((row, problem)) = batch::bad_answers(info, &scores).into_iter().next() {
            return Err(Error::BadOutput {
                model: info.name.clone(),
                problem: format!("row {row}: {problem}"),
            });
        }
        let all: Vec<usize> = (0..rows).collect();
        answers.fill(&scores, &all);
        return Ok(answers);
    }
    let mut keep: Vec<usize> = (0..rows).filter(|r| !refused.contains_key(r)).collect();
    let mut current = if keep.len() == rows {
        batch
    } else {
        select_rows(info, &batch, &keep)
    };
    // Each round drops at least one row the contract refused, so this ends;
    // an error lists up to 100 violations, so a batch of n bad rows takes
    // about n / 100 rounds.
    loop {
        if keep.is_empty() {
            break;
        }
        match model.score(&current) {
            Ok(scores) => {
                for (row, problem) in batch::bad_answers(info, &scores) {
                    refused.entry(keep[row]).or_insert(problem);
                }
                answers.fill(&scores, &keep);
                break;
            }
            Err(Error::InvalidInput { violations, .. }) if !violations.is_empty() => {
                let mut drop = std::collections::BTreeSet::new();
                for v in violations.iter() {
                    if v.row < keep.len() {
                        refused.entry(keep[v.row]).or_insert_with(|| row_problem(v));
                        drop.insert(v.row);
                    }
                }
                if drop.is_empty() {
                    // A problem of the whole batch, not of a row.
                    let message = violations
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ");
                    for &r in &keep {
                        refused.entry(r).or_insert_with(|| message.clone());
                    }
                    break;
                }
                let left: Vec<usize> = (0..keep.len()).filter(|i| !drop.contains(i)).collect();
                current = select_rows(info, &current, &left);
                keep = left.into_iter().map(|i| keep[i]).collect();
            }
            Err(e) => {
                let message = e.to_string();
                for &r in &keep {
                    refused.entry(r).or_insert_with(|| message.clone());
                }
                break;
            }
        }
    }
    let mut errors: Vec<(usize, String)> = refused.into_iter().collect();
    errors.sort_by_key(|(r, _)| *r);
    // A refused row's answer, if the model gave one, is not to be used.
    for (r, _) in &errors {
        let (r, width) = (*r, answers.matrix.as_ref().map_or(0, |m| m.1));
        if let Some(l) = &mut answers.labels {
            l[r] = -1;
        }
        if let Some((m, _, _)) = &mut answers.matrix {
            m[r * width..(r + 1) * width].fill(f64::NAN);
        }
        if let Some(v) = &mut answers.values {
            v[r] = f64::NAN;
        }
    }
    answers.errors = errors;
    Ok(answers)
}

#[pymethods]
impl NativeModel {
    /// The model's description as JSON (`glassbox inspect --json`).
    fn describe(&self) -> String {
        glassbox::describe(&self.model).to_string()
    }

    /// Scores `rows` rows. See the module documentation for the columns.
    /// `refused` are values the Python side found unusable already (a
    /// value of the wrong type): `(row, field, expected, got)`. Their rows
    /// are not scored; without `per_row` they are reported with every
    /// other violation of the call.
    #[pyo3(signature = (rows, numeric, categorical, per_row=false, refused=Vec::new()))]
    #[allow(
        clippy::too_many_arguments,
        reason = "one keyword argument each, as the Python side passes them"
    )]
    fn score<'py>(
        &self,
        py: Python<'py>,
        rows: usize,
        numeric: Option<PyReadonlyArray2<'py, f64>>,
        categorical: Vec<(PyReadonlyArray1<'py, i64>, Vec<String>)>,
        per_row: bool,
        refused: Vec<(usize, String, String, String)>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let cols = Columns {
            rows,
            numeric: numeric.as_ref(),
            categorical: &categorical,
        };
        let info = self.model.info();
        let (batch, bad) = build_batch(info, &cols, true).map_err(|e| py_error(py, e))?;
        drop(categorical);
        drop(numeric);
        // The Python side's findings first: a value of the wrong type is
        // what to report, not the missing value it stands in for.
        let mut bad: Vec<Violation> = refused
            .into_iter()
            .filter(|r| r.0 < rows)
            .map(|(row, field, expected, got)| Violation {
                row,
                field,
                expected,
                got,
            })
            .chain(bad)
            .collect();
        bad.sort_by(|a, b| (a.row, &a.field).cmp(&(b.row, &b.field)));
        bad.dedup_by(|a, b| a.row == b.row && a.field == b.field);
        let model = &self.model;
        let answers = py.detach(|| {
            if per_row || bad.is_empty() {
                let mut refused: HashMap<usize, String> = HashMap::new();
                for v in &bad {
                    refused.entry(v.row).or_insert_with(|| row_problem(v));
                }
                return score_batch(model, batch, per_row, refused);
            }
            // Report these with whatever else the contract finds in the
            // call (the batch holds them as missing values meanwhile).
            let mut all = bad;
            if let Err(Error::InvalidInput { violations, .. }) = model.score(&batch) {
                all.extend(violations.iter().cloned());
            }
            all.sort_by(|a, b| (a.row, &a.field).cmp(&(b.row, &b.field)));
            all.dedup_by(|a, b| a.row == b.row && a.field == b.field);
            Err(Error::InvalidInput {
                model: info.name.clone(),
                violations: all.into(),
            })
        });
        answers.map_err(|e| py_error(py, e))?.into_dict(py, rows)
    }

    /// Scores rows given as a JSON array of objects keyed by field name,
    /// exactly as `glassbox serve` takes them.
    #[pyo3(signature = (rows_json, per_row=false))]
    fn score_json<'py>(
        &self,
        py: Python<'py>,
        rows_json: &str,
        per_row: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let rows: Vec<glassbox::Row> = serde_json::from_str(rows_json)
            .map_err(|e| value_error(format!("rows must be objects keyed by field name: {e}")))?;
        let info = self.model.info();
        let n = rows.len();
        let model = &self.model;
        let result = py.detach(|| {
            if !per_row {
                let batch = batch::from_rows(info, &rows).map_err(|v| model.refuse(n, v))?;
                return score_batch(model, batch, false, HashMap::new());
            }
            // Row by row, so that every bad row is found (an error lists
            // only the first 100 violations); then the good ones at once.
            let mut refused = HashMap::new();
            let mut good = Vec::with_capacity(n);
            let mut at = Vec::with_capacity(n);
            for (r, row) in rows.iter().enumerate() {
                match batch::from_rows(info, std::slice::from_ref(row)) {
                    Ok(_) => {
                        good.push(row.clone());
                        at.push(r);
                    }
                    Err(v) => {
                        refused.insert(r, v.iter().next().map(row_problem).unwrap_or_default());
                    }
                }
            }
            let mut full = Answers::empty(info, n);
            if !good.is_empty() {
                let batch = batch::from_rows(info, &good).map_err(|v| model.refuse(n, v))?;
                full.merge(score_batch(model, batch, true, HashMap::new())?, &at);
            }
            full.errors.extend(refused);
            full.errors.sort_by_key(|(r, _)| *r);
            Ok(full)
        });
        result.map_err(|e| py_error(py, e))?.into_dict(py, n)
    }

    /// Scores the rows and compares them with the training profile: the
    /// drift report as JSON and the dashboard's HTML view of it.
    #[pyo3(signature = (rows, numeric, categorical, min_rows, title))]
    fn monitor<'py>(
        &self,
        py: Python<'py>,
        rows: usize,
        numeric: Option<PyReadonlyArray2<'py, f64>>,
        categorical: Vec<(PyReadonlyArray1<'py, i64>, Vec<String>)>,
        min_rows: u64,
        title: &str,
    ) -> PyResult<(String, String)> {
        let cols = Columns {
            rows,
            numeric: numeric.as_ref(),
            categorical: &categorical,
        };
        let info = self.model.info();
        let (batch, _) = build_batch(info, &cols, false).map_err(|e| py_error(py, e))?;
        let monitor = self.new_monitor(py, min_rows)?;
        let model = &self.model;
        let scores = py
            .detach(|| model.score(&batch))
            .map_err(|e| py_error(py, e))?;
        monitor.observe(&batch, &scores);
        let report = monitor.report();
        let json = serde_json::to_string(&report).map_err(|e| value_error(e.to_string()))?;
        Ok((json, glassbox::serve::report_page(model, &report, title)))
    }

    /// The drift report over prediction logs written by `glassbox serve
    /// --log-predictions`, as `glassbox report` gives it: the report as
    /// JSON, its HTML view, and the count of lines of other models skipped.
    fn report(
        &self,
        py: Python<'_>,
        logs: Vec<PathBuf>,
        min_rows: u64,
    ) -> PyResult<(String, String, u64)> {
        let info = self.model.info();
        let monitor = self.new_monitor(py, min_rows)?;
        let logged = py
            .detach(|| glassbox::monitor::predlog::read(&logs, info))
            .map_err(|e| py_error(py, e))?;
        if logged.rows == 0 {
            return Err(value_error(format!(
                "no logged rows of {} {} in {} ({} lines of other models or versions)",
                info.name,
                info.version,
                logs.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                logged.other
            )));
        }
        for (batch, scores) in &logged.batches {
            monitor.observe(batch, scores);
        }
        let report = monitor.report();
        let title = format!("report on {} logged rows", report.rows);
        let json = serde_json::to_string(&report).map_err(|e| value_error(e.to_string()))?;
        Ok((
            json,
            glassbox::serve::report_page(&self.model, &report, &title),
            logged.other,
        ))
    }
}

impl NativeModel {
    /// A monitor with one window over everything it is shown.
    fn new_monitor(&self, py: Python<'_>, min_rows: u64) -> PyResult<Monitor> {
        Monitor::for_model(&self.model, MonitorConfig::whole(min_rows)).ok_or_else(|| {
            py_error(
                py,
                Error::InvalidInfo {
                    model: self.model.name().to_string(),
                    problem: "it carries no training profile to compare with (compile it with \
                              its training data)"
                        .into(),
                },
            )
        })
    }
}

impl Answers {
    /// Places `scored` (answers for the rows `at` of this call) in place,
    /// errors included.
    fn merge(&mut self, scored: Answers, at: &[usize]) {
        if let (Some(dst), Some(src)) = (&mut self.labels, &scored.labels) {
            for (i, &r) in at.iter().enumerate() {
                dst[r] = src[i];
            }
        }
        if let (Some((dst, w, _)), Some((src, _, _))) = (&mut self.matrix, &scored.matrix) {
            let w = *w;
            for (i, &r) in at.iter().enumerate() {
                dst[r * w..(r + 1) * w].copy_from_slice(&src[i * w..(i + 1) * w]);
            }
        }
        if let (Some(dst), Some(src)) = (&mut self.values, &scored.values) {
            for (i, &r) in at.iter().enumerate() {
                dst[r] = src[i];
            }
        }
        self.errors
            .extend(scored.errors.into_iter().map(|(i, m)| (at[i], m)));
    }
}

/// Loads a component under the given limits, requiring a signature by one
/// of `trusted_keys` (PEM texts) when any are given.
#[pyfunction]
#[pyo3(signature = (component, label, deadline_ms=None, memory_mib=None, trusted_keys=Vec::new(), reuse_instances=false))]
fn load(
    py: Python<'_>,
    component: PyBackedBytes,
    label: &str,
    deadline_ms: Option<u64>,
    memory_mib: Option<u64>,
    trusted_keys: Vec<String>,
    reuse_instances: bool,
) -> PyResult<NativeModel> {
    let mut limits = Limits::default();
    if let Some(ms) = deadline_ms {
        if ms == 0 {
            return Err(value_error("deadline_ms must be at least 1".into()));
        }
        limits.deadline = Duration::from_millis(ms);
    }
    if let Some(mib) = memory_mib {
        if mib == 0 || mib > 4096 {
            return Err(value_error(format!(
                "memory_mib must be within 1..=4096 (a wasm32 memory holds at most 4 GiB), got {mib}"
            )));
        }
        limits.memory_bytes = (mib as usize) << 20;
    }
    limits.reuse_instances = reuse_instances;
    if !trusted_keys.is_empty() {
        glassbox::artifact::sign::TrustedKeys::from_pems(trusted_keys.iter().map(String::as_str))
            .map_err(|e| value_error(format!("trusted_keys: {e}")))?;
    }
    let result = py.detach(|| {
        let engine = engine(limits, trusted_keys)?;
        engine.load_named(label, &component)
    });
    result
        .map(|model| NativeModel { model })
        .map_err(|e| py_error(py, e))
}

/// Compiles an ONNX pipeline with its training columns into a component:
/// returns its bytes and the compile summary as JSON.
#[pyfunction]
#[pyo3(signature = (onnx, names, categorical_names, nullable, numeric, categorical, name, version, expectations=None, trees="auto", progress=None))]
#[allow(
    clippy::too_many_arguments,
    reason = "one keyword argument each, as the Python side passes them"
)]
fn compile<'py>(
    py: Python<'py>,
    onnx: PyBackedBytes,
    names: Vec<String>,
    categorical_names: Vec<String>,
    nullable: Vec<bool>,
    numeric: Option<PyReadonlyArray2<'py, f64>>,
    categorical: Vec<(PyReadonlyArray1<'py, i64>, Vec<String>)>,
    name: String,
    version: String,
    expectations: Option<String>,
    trees: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Bound<'py, PyBytes>, String)> {
    let trees = match trees {
        "auto" => TreeMode::Auto,
        "code" => TreeMode::Code,
        "walk" => TreeMode::Walk,
        other => {
            return Err(value_error(format!(
                "trees must be \"auto\", \"code\" or \"walk\", got {other:?}"
            )));
        }
    };
    if nullable.len() != names.len() {
        return Err(value_error("one nullable flag per column".into()));
    }
    // The training rows as the compile reads them from a file: objects
    // keyed by column name.
    let numeric_view = numeric.as_ref().map(|m| m.as_array());
    let rows = numeric_view
        .as_ref()
        .map(|v| v.nrows())
        .or_else(|| categorical.first().map(|(c, _)| c.len()))
        .unwrap_or(0);
    let mut fields = Vec::with_capacity(names.len());
    let mut columns: Vec<Vec<Value>> = Vec::with_capacity(names.len());
    let (mut next_numeric, mut next_categorical) = (0, 0);
    for (name, &null) in names.iter().zip(&nullable) {
        if categorical_names.contains(name) {
            let (codes, categories) = categorical
                .get(next_categorical)
                .ok_or_else(|| value_error(format!("no codes for categorical column `{name}`")))?;
            next_categorical += 1;
            let codes = codes.as_array();
            if codes.len() != rows {
                return Err(value_error(format!(
                    "column `{name}` has {} values, the others {rows}",
                    codes.len()
                )));
            }
            let mut seen: Vec<String> = Vec::new();
            let mut used = vec![false; categories.len()];
            let mut column = Vec::with_capacity(rows);
            for &c in codes.iter() {
                match usize::try_from(c).ok().filter(|&c| c < categories.len()) {
                    Some(c) => {
                        used[c] = true;
                        column.push(Value::String(categories[c].clone()));
                    }
                    None => column.push(Value::Null),
                }
            }
            for (c, u) in categories.iter().zip(&used) {
                if *u {
                    seen.push(c.clone());
                }
            }
            seen.sort();
            let has_missing = column.iter().any(Value::is_null);
            fields.push(Field {
                name: name.clone(),
                kind: FeatureKind::Categorical,
                nullable: null || has_missing,
                categories: seen,
            });
            columns.push(column);
        } else {
            let view = numeric_view
                .as_ref()
                .ok_or_else(|| value_error("no numeric columns given".into()))?;
            if next_numeric >= view.ncols() {
                return Err(value_error(format!(
                    "no values for numeric column `{name}`"
                )));
            }
            let column: Vec<Value> = view
                .column(next_numeric)
                .iter()
                .map(|&v| {
                    serde_json::Number::from_f64(v)
                        .map(Value::Number)
                        .unwrap_or(Value::Null)
                })
                .collect();
            next_numeric += 1;
            let has_missing = column.iter().any(Value::is_null);
            fields.push(Field {
                name: name.clone(),
                kind: FeatureKind::Numeric,
                nullable: null || has_missing,
                categories: Vec::new(),
            });
            columns.push(column);
        }
    }
    if rows == 0 {
        return Err(value_error("the training data has no rows".into()));
    }
    let train_rows: Vec<glassbox::Row> = (0..rows)
        .map(|r| {
            names
                .iter()
                .zip(&columns)
                .map(|(n, c)| (n.clone(), c[r].clone()))
                .collect::<Map<String, Value>>()
        })
        .collect();
    let train = TrainingData {
        fields,
        rows: train_rows,
    };
    drop(numeric);
    drop(categorical);
    let expectations = expectations
        .map(|text| glassbox::artifact::expect::Expectations::from_toml(&text))
        .transpose()
        .map_err(|e| py_error(py, e))?;
    let result = py.detach(|| {
        let report = |step: &str| {
            if let Some(p) = &progress {
                Python::attach(|py| {
                    // A progress callback that fails must not fail the compile.
                    let _ = p.call1(py, (step,));
                });
            }
        };
        let mut opts = CompileOptions::new(name);
        opts.version = version;
        opts.expectations = expectations;
        opts.trees = trees;
        opts.progress = Some(&report);
        compile_onnx(&onnx, &train, &opts)
    });
    let compiled = result.map_err(|e| py_error(py, e))?;
    let s = &compiled.summary;
    let summary = serde_json::json!({
        "nodes": s.nodes,
        "steps": s.steps,
        "trees": s.trees,
        "tree_nodes": s.tree_nodes,
        "tree_code": s.tree_code,
        "tree_code_bytes": s.tree_code_bytes,
        "snapshot_bytes": s.snapshot_bytes,
        "memory_bytes": s.memory_bytes,
        "seconds": s.elapsed.as_secs_f64(),
        "bytes": compiled.component.len(),
    });
    Ok((PyBytes::new(py, &compiled.component), summary.to_string()))
}

/// The native half of the `glassbox` package.
#[pymodule]
fn _glassbox(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeModel>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(compile, m)?)?;
    m.add("CONTRACT", "glassbox:model@0.2.0")?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
