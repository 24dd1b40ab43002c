//! KServe's Open Inference Protocol (v2, REST): request and response types,
//! with Triton's binary tensor data extension.
//!
//! Inputs are one tensor per feature, named like the feature, or one
//! `[N, F]` tensor of every feature in schema order (see [`super::tensors`],
//! which decodes them into a column-major [`crate::Batch`]). Their values
//! are JSON `data` (flat or nested; `null` is a missing value), or binary:
//! with an `Inference-Header-Content-Length` header, the body is that many
//! bytes of JSON and then the binary data of each input whose `parameters`
//! give a `binary_data_size`, in order, little-endian. The response holds
//! `label` (`BYTES`, `[N]`) and `probabilities` (`FP64`, `[N, classes]`, in
//! the order of the metadata's class list) for a classifier, `value`
//! (`FP64`, `[N]`) for a regressor; in binary too when the request asks
//! (`binary_data_output`, or an output's `binary_data`).
//!
//! Requests are decoded into typed structs whose tensor data is a flat list
//! of [`Elem`]s, not a tree of `serde_json::Value`s: names and datatypes
//! borrow from the body, and each tensor costs one allocation.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use smallvec::SmallVec;

use super::tensors::{self, Tensor, Values};
use crate::{FeatureKind, ModelInfo, Outputs, Scores};

pub use super::tensors::{DecodeError, Problem};

/// The header that announces binary data: the length of the JSON before it.
pub const BINARY_HEADER: &str = "inference-header-content-length";

/// An inference request.
#[derive(Debug, Deserialize)]
pub struct InferRequest<'a> {
    /// Echoed in the response.
    #[serde(default)]
    pub id: Option<String>,
    /// `binary_data_output`; others are accepted and ignored.
    #[serde(default)]
    pub parameters: Option<RequestParameters>,
    /// One tensor per feature, or one `[N, F]` tensor.
    #[serde(borrow)]
    pub inputs: Vec<InputTensor<'a>>,
    /// Which outputs to return; all when absent.
    #[serde(default, borrow)]
    pub outputs: Option<Vec<RequestedOutput<'a>>>,
}

/// A request's parameters that mean something here.
#[derive(Debug, Default, Deserialize)]
pub struct RequestParameters {
    /// Every output in binary.
    #[serde(default)]
    pub binary_data_output: bool,
}

/// A tensor's parameters that mean something here.
#[derive(Debug, Default, Deserialize)]
pub struct TensorParameters {
    /// The input's values are this many bytes of the binary data.
    #[serde(default)]
    pub binary_data_size: Option<u64>,
    /// The output is wanted in binary.
    #[serde(default)]
    pub binary_data: Option<bool>,
    /// Triton's shared memory, which a sandboxed server does not read.
    #[serde(default)]
    pub shared_memory_region: Option<IgnoredAny>,
}

/// One input tensor.
#[derive(Debug, Deserialize)]
pub struct InputTensor<'a> {
    /// The feature's name.
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// `[N]`, `[N, 1]` or `[N, F]` (inline: no allocation).
    pub shape: SmallVec<[i64; 2]>,
    /// `FP64`, `FP32`, `INT64`, … or `BYTES`.
    #[serde(borrow)]
    pub datatype: Cow<'a, str>,
    /// `binary_data_size`; others are accepted and ignored.
    #[serde(default)]
    pub parameters: Option<TensorParameters>,
    /// The values, row-major; absent when they are binary.
    #[serde(default)]
    pub data: Option<Elems>,
}

/// An output the client asks for.
#[derive(Debug, Deserialize)]
pub struct RequestedOutput<'a> {
    /// `label`, `probabilities` or `value`.
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// `binary_data`; others are accepted and ignored.
    #[serde(default)]
    pub parameters: Option<TensorParameters>,
}

/// The input tensors of `request` as [`Tensor`]s, their binary data cut
/// from `binary` (what followed the JSON); a problem with the binary data's
/// layout otherwise.
pub fn tensors<'a>(
    request: &'a InferRequest<'a>,
    binary: &'a [u8],
) -> Result<Vec<Tensor<'a>>, Problem> {
    static EMPTY: Elems = Elems(SmallVec::new_const());
    let mut rest = binary;
    let mut out = Vec::with_capacity(request.inputs.len());
    for t in &request.inputs {
        let problem = |expected: &str, got: String| Problem {
            row: None,
            field: t.name.to_string(),
            expected: expected.into(),
            got,
        };
        let parameters = t.parameters.as_ref();
        if parameters.is_some_and(|p| p.shared_memory_region.is_some()) {
            return Err(problem(
                "values in `data` or binary data",
                "a shared memory region (not supported: the server reads only the request)".into(),
            ));
        }
        let values = match (parameters.and_then(|p| p.binary_data_size), &t.data) {
            (Some(_), Some(data)) if !data.0.is_empty() => {
                return Err(problem(
                    "values in `data` or a `binary_data_size`, not both",
                    "both".into(),
                ));
            }
            (Some(size), _) => {
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                if size > rest.len() {
                    return Err(problem(
                        &format!("{size} bytes of binary data (its binary_data_size)"),
                        format!("{} bytes left after the JSON", rest.len()),
                    ));
                }
                let (mine, after) = rest.split_at(size);
                rest = after;
                Values::Raw(mine)
            }
            (None, Some(data)) => Values::Json(&data.0),
            (None, None) => Values::Json(&EMPTY.0),
        };
        out.push(Tensor {
            name: &t.name,
            datatype: &t.datatype,
            shape: &t.shape,
            values,
        });
    }
    if !rest.is_empty() {
        return Err(Problem {
            row: None,
            field: "(binary data)".into(),
            expected: "as many bytes after the JSON as the inputs' binary_data_size add up to"
                .into(),
            got: format!("{} bytes more", rest.len()),
        });
    }
    Ok(out)
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
    /// `binary_data_size` when the values are binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<BinarySize>,
    /// The values, row-major; none when they are binary.
    #[serde(skip_serializing_if = "OutputData::is_binary")]
    pub data: OutputData<'a>,
}

/// An output tensor's `parameters` when its values are binary.
#[derive(Debug, Serialize)]
pub struct BinarySize {
    /// How many bytes of the binary data are this output's.
    pub binary_data_size: usize,
}

/// An output tensor's values.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum OutputData<'a> {
    /// Numbers.
    Numbers(Vec<f64>),
    /// Strings (class labels).
    Strings(Vec<&'a str>),
    /// Sent as binary data after the JSON.
    Binary,
}

impl OutputData<'_> {
    fn is_binary(&self) -> bool {
        matches!(self, OutputData::Binary)
    }
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
                parameters: None,
                data: OutputData::Strings(labels),
            });
        }
        if keep(name) {
            out.push(OutputTensor {
                name,
                datatype: "FP64",
                shape: vec![n, width],
                parameters: None,
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
                parameters: None,
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
    /// The other form of input the model takes: `inputs_2d`, one tensor of
    /// shape `[-1, F]` holding every input in the order of `inputs`.
    pub parameters: MetadataParameters,
}

/// [`ModelMetadata::parameters`].
#[derive(Debug, Serialize)]
pub struct MetadataParameters {
    /// The `[N, F]` form: any name (`input-0` here); `FP64` (or any
    /// numeric type) when every input is numeric, else `BYTES`.
    pub inputs_2d: MetadataTensor,
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
        let (datatype, width) = tensors::two_d_form(info);
        ModelMetadata {
            name: info.name.clone(),
            versions,
            platform: "glassbox",
            inputs,
            outputs,
            parameters: MetadataParameters {
                inputs_2d: MetadataTensor {
                    name: "input-0".into(),
                    datatype,
                    shape: vec![-1, width as i64],
                },
            },
        }
    }
}
