//! KServe's Open Inference Protocol (v2, REST): request and response types,
//! and the decoding of input tensors straight into a column-major [`Batch`].
//!
//! One input tensor per feature, named like the feature, with shape `[N]`
//! or `[N, 1]` (`data` flat or nested one level): numeric features accept
//! `FP64`, `FP32` and `INT64` (and the other integer and float types),
//! categorical ones `BYTES` holding strings. A missing value is JSON `null`
//! in `data`, accepted where the feature is nullable. The response holds
//! `label` (`BYTES`, `[N]`) and `probabilities` (`FP64`, `[N, classes]`, in
//! the order of the metadata's class list) for a classifier, `value`
//! (`FP64`, `[N]`) for a regressor.
//!
//! Requests are decoded into typed structs whose tensor data is a flat list
//! of [`Elem`]s, not a tree of `serde_json::Value`s: names and datatypes
//! borrow from the body, and each tensor costs one allocation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use smallvec::SmallVec;

use crate::{Batch, FeatureKind, ModelInfo, Outputs, Scores};

/// An inference request.
#[derive(Debug, Deserialize)]
pub struct InferRequest<'a> {
    /// Echoed in the response.
    #[serde(default)]
    pub id: Option<String>,
    /// Accepted and ignored.
    #[serde(default)]
    pub parameters: Option<IgnoredAny>,
    /// One tensor per feature.
    #[serde(borrow)]
    pub inputs: Vec<InputTensor<'a>>,
    /// Which outputs to return; all when absent.
    #[serde(default, borrow)]
    pub outputs: Option<Vec<RequestedOutput<'a>>>,
}

/// One input tensor.
#[derive(Debug, Deserialize)]
pub struct InputTensor<'a> {
    /// The feature's name.
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// `[N]` or `[N, 1]` (inline: no allocation).
    pub shape: SmallVec<[i64; 2]>,
    /// `FP64`, `FP32`, `INT64`, … or `BYTES`.
    #[serde(borrow)]
    pub datatype: Cow<'a, str>,
    /// Accepted and ignored.
    #[serde(default)]
    pub parameters: Option<IgnoredAny>,
    /// The values, row-major.
    pub data: Elems,
}

/// An output the client asks for.
#[derive(Debug, Deserialize)]
pub struct RequestedOutput<'a> {
    /// `label`, `probabilities` or `value`.
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// Accepted and ignored.
    #[serde(default)]
    pub parameters: Option<IgnoredAny>,
}

/// One element of a tensor's `data`.
#[derive(Debug, Clone, PartialEq)]
pub enum Elem {
    /// A JSON integer.
    Int(i64),
    /// Any other JSON number.
    Num(f64),
    /// A string.
    Str(String),
    /// `null`: a missing value.
    Null,
    /// A boolean.
    Bool(bool),
    /// An object, which no datatype allows.
    Object,
}

/// A tensor's `data`, flattened (nested arrays are read row-major). One
/// value, the one-row case, is stored inline: a one-row request of a
/// 64-feature model has 64 tensors, and their allocations (data and shape)
/// were a measurable share of serving it.
#[derive(Debug, Default)]
pub struct Elems(pub SmallVec<[Elem; 1]>);

impl<'de> Deserialize<'de> for Elems {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = SmallVec::new();
        Flatten(&mut out).deserialize(d)?;
        Ok(Elems(out))
    }
}

/// Pushes a value, or each element of a (nested) array, onto the list.
struct Flatten<'v>(&'v mut SmallVec<[Elem; 1]>);

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of tensor values")
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push(Elem::Int(v));
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0
            .push(i64::try_from(v).map_or(Elem::Num(v as f64), Elem::Int));
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.push(Elem::Num(v));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push(Elem::Str(v.to_string()));
        Ok(())
    }
    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.0.push(Elem::Str(v));
        Ok(())
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push(Elem::Bool(v));
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.push(Elem::Null);
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.0.push(Elem::Null);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Flatten(self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.0.push(Elem::Object);
        Ok(())
    }
}

/// One problem with a request: a row's value (`row` set) or a whole tensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The row, when the problem is one value's.
    pub row: Option<usize>,
    /// The feature (tensor) name.
    pub field: String,
    /// What the contract wants.
    pub expected: String,
    /// What arrived.
    pub got: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.row {
            Some(row) => write!(f, "row {row}, field `{}`", self.field)?,
            None => write!(f, "input `{}`", self.field)?,
        }
        write!(f, ": expected {}, got {}", self.expected, self.got)
    }
}

impl From<crate::Violation> for Problem {
    fn from(v: crate::Violation) -> Self {
        Problem {
            row: Some(v.row),
            field: v.field,
            expected: v.expected,
            got: v.got,
        }
    }
}

impl From<&Problem> for crate::Violation {
    /// A whole tensor's problem is row 0's, as in the library's own checks.
    fn from(p: &Problem) -> Self {
        crate::Violation {
            row: p.row.unwrap_or(0),
            field: p.field.clone(),
            expected: p.expected.clone(),
            got: p.got.clone(),
        }
    }
}

/// Why a request could not be turned into a batch.
#[derive(Debug)]
pub enum DecodeError {
    /// The tensors break the contract; every problem found.
    Problems(Vec<Problem>),
    /// More rows than the server's limit.
    TooManyRows(usize),
}

const NUMERIC_TYPES: [&str; 11] = [
    "FP64", "FP32", "FP16", "INT64", "INT32", "INT16", "INT8", "UINT64", "UINT32", "UINT16",
    "UINT8",
];

/// Decodes the input tensors into a batch for `info`, checking them all
/// and reporting every problem at once.
pub fn decode(
    info: &ModelInfo,
    inputs: &[InputTensor<'_>],
    max_rows: usize,
) -> Result<Batch, DecodeError> {
    let mut problems = Vec::new();
    let tensor_problem = |field: &str, expected: String, got: String| Problem {
        row: None,
        field: field.to_string(),
        expected,
        got,
    };
    // Which tensor feeds which field.
    let mut by_field: Vec<Option<&InputTensor>> = vec![None; info.inputs.len()];
    // Clients mostly send the tensors in schema order: try the field at the
    // same position first, and build the name index only for the others
    // (hashing 64 names per one-row request was a measurable share of it).
    let mut index: Option<HashMap<&str, usize>> = None;
    for (at, t) in inputs.iter().enumerate() {
        let found = match info.inputs.get(at) {
            Some(f) if f.name == t.name => Some(at),
            _ => index
                .get_or_insert_with(|| {
                    info.inputs
                        .iter()
                        .enumerate()
                        .map(|(i, f)| (f.name.as_str(), i))
                        .collect()
                })
                .get(t.name.as_ref())
                .copied(),
        };
        match found.as_ref() {
            None => problems.push(tensor_problem(
                &t.name,
                "no such input (the model has no feature by that name)".into(),
                format!("a {} tensor", t.datatype),
            )),
            Some(&i) if by_field[i].is_some() => problems.push(tensor_problem(
                &t.name,
                "one tensor per feature".into(),
                "a second tensor of that name".into(),
            )),
            Some(&i) => by_field[i] = Some(t),
        }
    }
    // The number of rows: the first well-shaped tensor's.
    let well_shaped = |t: &InputTensor| matches!(t.shape.as_slice(), [n] | [n, 1] if *n >= 0);
    let rows = by_field
        .iter()
        .flatten()
        .find(|t| well_shaped(t))
        .map_or(0, |t| t.shape[0] as usize);
    if rows > max_rows {
        return Err(DecodeError::TooManyRows(rows));
    }
    let mut numeric = Vec::with_capacity(rows * info.inputs.len());
    let mut numeric_missing = Vec::new();
    let mut dictionary: Vec<String> = Vec::new();
    let mut codes: HashMap<String, u32> = HashMap::new();
    let mut categorical = Vec::new();
    for (field, tensor) in info.inputs.iter().zip(&by_field) {
        let numeric_field = field.kind == FeatureKind::Numeric;
        let Some(t) = tensor else {
            problems.push(tensor_problem(
                &field.name,
                format!(
                    "an input tensor named `{}` ({})",
                    field.name,
                    if numeric_field {
                        "FP64, FP32 or INT64"
                    } else {
                        "BYTES"
                    }
                ),
                "none".into(),
            ));
            continue;
        };
        let before = problems.len();
        if !well_shaped(t) || t.shape[0] as usize != rows {
            problems.push(tensor_problem(
                &field.name,
                format!("shape [{rows}] or [{rows}, 1] (one value per row, {rows} rows like the other inputs)"),
                format!("shape {:?}", t.shape),
            ));
        } else if t.data.0.len() != rows {
            problems.push(tensor_problem(
                &field.name,
                format!("{rows} values (shape {:?})", t.shape),
                format!("{} values", t.data.0.len()),
            ));
        }
        let datatype = t.datatype.as_ref();
        let integer = datatype.contains("INT");
        if numeric_field && !NUMERIC_TYPES.contains(&datatype) {
            problems.push(tensor_problem(
                &field.name,
                "datatype FP64, FP32 or INT64 (a numeric feature)".into(),
                format!("datatype {datatype}"),
            ));
        } else if !numeric_field && datatype != "BYTES" {
            problems.push(tensor_problem(
                &field.name,
                "datatype BYTES (a categorical feature)".into(),
                format!("datatype {datatype}"),
            ));
        }
        if problems.len() > before {
            continue;
        }
        let mut value_problem = |row: usize, expected: &str, got: String| {
            problems.push(Problem {
                row: Some(row),
                field: field.name.clone(),
                expected: expected.into(),
                got,
            })
        };
        for (row, e) in t.data.0.iter().enumerate() {
            if numeric_field {
                let v = match e {
                    Elem::Int(i) => *i as f64,
                    Elem::Num(x) if integer && x.fract() != 0.0 => {
                        value_problem(row, "an integer (the tensor is INT)", format!("{x}"));
                        f64::NAN
                    }
                    Elem::Num(x) => *x,
                    Elem::Null => {
                        if !field.nullable {
                            value_problem(row, "a number", NULL_NOT_ALLOWED.into());
                        }
                        numeric_missing.push(numeric.len() as u32);
                        f64::NAN
                    }
                    other => {
                        value_problem(row, "a number", describe(other));
                        f64::NAN
                    }
                };
                numeric.push(v);
            } else {
                let code = match e {
                    Elem::Str(s) => Some(match codes.get(s.as_str()) {
                        Some(c) => *c,
                        None => {
                            let c = dictionary.len() as u32;
                            dictionary.push(s.clone());
                            codes.insert(s.clone(), c);
                            c
                        }
                    }),
                    Elem::Null => {
                        if !field.nullable {
                            value_problem(row, "a string", NULL_NOT_ALLOWED.into());
                        }
                        None
                    }
                    other => {
                        value_problem(row, "a string", describe(other));
                        None
                    }
                };
                categorical.push(code);
            }
        }
    }
    if !problems.is_empty() {
        // Whole-tensor problems first, then by row.
        problems.sort_by_key(|p| p.row.map_or(0, |r| r + 1));
        return Err(DecodeError::Problems(problems));
    }
    Ok(Batch {
        rows: rows as u32,
        numeric,
        numeric_missing,
        dictionary,
        categorical,
    })
}

const NULL_NOT_ALLOWED: &str = "null (this feature may not be missing)";

fn describe(e: &Elem) -> String {
    match e {
        Elem::Int(i) => format!("the number {i}"),
        Elem::Num(x) => format!("the number {x}"),
        Elem::Str(s) if s.len() > 40 => format!("a string ({} bytes)", s.len()),
        Elem::Str(s) => format!("the string {s:?}"),
        Elem::Null => "null".into(),
        Elem::Bool(b) => format!("the boolean {b}"),
        Elem::Object => "an object".into(),
    }
}

/// An inference response.
#[derive(Debug, Serialize)]
pub struct InferResponse<'a> {
    /// The model's name.
    pub model_name: &'a str,
    /// The version that answered.
    pub model_version: &'a str,
    /// The request's `id`, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `label` and `probabilities`, or `value`.
    pub outputs: Vec<OutputTensor<'a>>,
}

/// One output tensor.
#[derive(Debug, Serialize)]
pub struct OutputTensor<'a> {
    /// Its name.
    pub name: &'static str,
    /// `BYTES` or `FP64`.
    pub datatype: &'static str,
    /// `[N]` or `[N, classes]`.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: OutputData<'a>,
}

/// An output tensor's values.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum OutputData<'a> {
    /// Numbers.
    Numbers(Vec<f64>),
    /// Strings (class labels).
    Strings(Vec<&'a str>),
}

/// The output names a model of this kind has.
pub fn output_names(info: &ModelInfo) -> &'static [&'static str] {
    match info.outputs {
        Outputs::Classes(_) => &["label", "probabilities"],
        Outputs::DecisionClasses(_) => &["label", "scores"],
        Outputs::Target(_) => &["value"],
    }
}

/// Turns scores into output tensors, keeping those `wanted` (all when `None`).
pub fn encode<'a>(
    info: &'a ModelInfo,
    scores: Scores,
    wanted: Option<&[&str]>,
) -> Vec<OutputTensor<'a>> {
    let keep = |name: &str| wanted.is_none_or(|w| w.contains(&name));
    // A classifier's two outputs: its labels, then its probabilities or
    // decision scores (`width` per row).
    let classifier = |labels: &[u32],
                      classes: &'a [String],
                      name: &'static str,
                      values: Vec<f64>,
                      width: usize| {
        let n = labels.len();
        let mut out = Vec::new();
        if keep("label") {
            let labels = labels
                .iter()
                .map(|&l| classes.get(l as usize).map_or("", String::as_str))
                .collect();
            out.push(OutputTensor {
                name: "label",
                datatype: "BYTES",
                shape: vec![n],
                data: OutputData::Strings(labels),
            });
        }
        if keep(name) {
            out.push(OutputTensor {
                name,
                datatype: "FP64",
                shape: vec![n, width],
                data: OutputData::Numbers(values),
            });
        }
        out
    };
    let mut out = Vec::new();
    match (scores, &info.outputs) {
        (Scores::Classification(c), Outputs::Classes(classes)) => {
            out = classifier(
                &c.labels,
                classes,
                "probabilities",
                c.probabilities,
                classes.len(),
            );
        }
        (Scores::Decision(d), Outputs::DecisionClasses(classes)) => {
            let width = crate::runtime::batch::decision_width(classes.len());
            out = classifier(&d.labels, classes, "scores", d.scores, width);
        }
        (Scores::Regression(values), _) if keep("value") => {
            out.push(OutputTensor {
                name: "value",
                datatype: "FP64",
                shape: vec![values.len()],
                data: OutputData::Numbers(values),
            });
        }
        // Not wanted, or of the wrong kind (which `Model::score` has
        // already refused).
        _ => {}
    }
    out
}

/// A tensor in model metadata.
#[derive(Debug, Serialize)]
pub struct MetadataTensor {
    /// The feature or output name.
    pub name: String,
    /// Its datatype.
    pub datatype: &'static str,
    /// `-1` for the batch dimension.
    pub shape: Vec<i64>,
}

/// `GET /v2/models/{name}[/versions/{v}]`.
#[derive(Debug, Serialize)]
pub struct ModelMetadata {
    /// The model's name.
    pub name: String,
    /// The versions served.
    pub versions: Vec<String>,
    /// Always `glassbox`.
    pub platform: &'static str,
    /// One tensor per feature: `FP64` numeric, `BYTES` categorical, shape `[-1]`.
    pub inputs: Vec<MetadataTensor>,
    /// `label` and `probabilities`, or `value`.
    pub outputs: Vec<MetadataTensor>,
}

impl ModelMetadata {
    /// The metadata of `info`, served in `versions`.
    pub fn new(info: &ModelInfo, versions: Vec<String>) -> Self {
        let inputs = info
            .inputs
            .iter()
            .map(|f| MetadataTensor {
                name: f.name.clone(),
                datatype: match f.kind {
                    FeatureKind::Numeric => "FP64",
                    FeatureKind::Categorical => "BYTES",
                },
                shape: vec![-1],
            })
            .collect();
        let outputs = match &info.outputs {
            Outputs::Classes(c) => vec![
                MetadataTensor {
                    name: "label".into(),
                    datatype: "BYTES",
                    shape: vec![-1],
                },
                MetadataTensor {
                    name: "probabilities".into(),
                    datatype: "FP64",
                    shape: vec![-1, c.len() as i64],
                },
            ],
            Outputs::DecisionClasses(c) => vec![
                MetadataTensor {
                    name: "label".into(),
                    datatype: "BYTES",
                    shape: vec![-1],
                },
                MetadataTensor {
                    name: "scores".into(),
                    datatype: "FP64",
                    shape: vec![-1, crate::runtime::batch::decision_width(c.len()) as i64],
                },
            ],
            Outputs::Target(_) => vec![MetadataTensor {
                name: "value".into(),
                datatype: "FP64",
                shape: vec![-1],
            }],
        };
        ModelMetadata {
            name: info.name.clone(),
            versions,
            platform: "glassbox",
            inputs,
            outputs,
        }
    }
}
