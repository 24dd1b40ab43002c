//! Reading ONNX models, the format skl2onnx exports scikit-learn pipelines to.
//!
//! This is the first stage of compiling a pipeline into a component: decode
//! the protobuf, and describe what is in it (operators, inputs, outputs,
//! constants) so that later stages can check and plan it. Nothing here runs a
//! model.
//!
//! ```no_run
//! let bytes = std::fs::read("pipeline.onnx").unwrap();
//! let model = glassbox::onnx::OnnxModel::decode(&bytes)?;
//! for op in model.operators() {
//!     println!("{op}"); // e.g. "ai.onnx.ml:TreeEnsembleClassifier"
//! }
//! # Ok::<_, glassbox::Error>(())
//! ```

pub mod proto;

use prost::Message;

use crate::error::{Error, Result};
use proto::{DataType, GraphProto, ModelProto, TensorProto, TypeProto};

/// A decoded ONNX model.
#[derive(Clone, Debug)]
pub struct OnnxModel {
    proto: ModelProto,
}

/// The element type and shape of a graph input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueType {
    /// The value's name.
    pub name: String,
    /// Its element type, or `None` when it is not a tensor (a ZipMap's
    /// sequence of maps, for one).
    pub elem_type: Option<DataType>,
    /// Its dimensions: `Some(n)` for a fixed size, `None` for a symbolic or
    /// unknown one (typically the batch size).
    pub shape: Vec<Option<i64>>,
}

impl OnnxModel {
    /// Decodes a model from the bytes of a `.onnx` file.
    pub fn decode(bytes: &[u8]) -> Result<OnnxModel> {
        let proto = ModelProto::decode(bytes)
            .map_err(|e| Error::InvalidOnnx(format!("not a valid ONNX protobuf: {e}")))?;
        if proto.graph.is_none() {
            return Err(Error::InvalidOnnx("the model has no graph".into()));
        }
        Ok(OnnxModel { proto })
    }

    /// The decoded protobuf.
    pub fn proto(&self) -> &ModelProto {
        &self.proto
    }

    /// The graph (checked present by [`OnnxModel::decode`]).
    pub fn graph(&self) -> &GraphProto {
        static EMPTY: std::sync::OnceLock<GraphProto> = std::sync::OnceLock::new();
        self.proto
            .graph
            .as_ref()
            .unwrap_or_else(|| EMPTY.get_or_init(GraphProto::default))
    }

    /// The operator set version imported for `domain` (`""` for the core
    /// operators, `"ai.onnx.ml"` for the classical-ML ones).
    pub fn opset(&self, domain: &str) -> Option<i64> {
        self.proto
            .opset_import
            .iter()
            .find(|o| {
                canonical_domain(o.domain.as_deref().unwrap_or("")) == canonical_domain(domain)
            })
            .and_then(|o| o.version)
    }

    /// The distinct operators of the graph as `domain:op_type`, sorted, with
    /// the core domain written `ai.onnx`.
    pub fn operators(&self) -> Vec<String> {
        let mut ops: Vec<String> = self
            .graph()
            .node
            .iter()
            .map(|n| {
                format!(
                    "{}:{}",
                    canonical_domain(n.domain.as_deref().unwrap_or("")),
                    n.op_type.as_deref().unwrap_or("")
                )
            })
            .collect();
        ops.sort();
        ops.dedup();
        ops
    }

    /// The graph's inputs that are not initializers (the data it is fed).
    pub fn inputs(&self) -> Vec<ValueType> {
        let graph = self.graph();
        graph
            .input
            .iter()
            .filter(|i| !graph.initializer.iter().any(|t| t.name == i.name))
            .map(|i| value_type(i.name.as_deref(), i.r#type.as_ref()))
            .collect()
    }

    /// The graph's outputs.
    pub fn outputs(&self) -> Vec<ValueType> {
        self.graph()
            .output
            .iter()
            .map(|o| value_type(o.name.as_deref(), o.r#type.as_ref()))
            .collect()
    }
}

/// `""` and `"ai.onnx"` name the same domain.
fn canonical_domain(domain: &str) -> &str {
    if domain.is_empty() { "ai.onnx" } else { domain }
}

fn value_type(name: Option<&str>, ty: Option<&TypeProto>) -> ValueType {
    let tensor = ty.and_then(|t| t.tensor_type.as_ref());
    ValueType {
        name: name.unwrap_or_default().to_string(),
        elem_type: tensor
            .and_then(|t| t.elem_type)
            .and_then(|e| DataType::try_from(e).ok()),
        shape: tensor
            .and_then(|t| t.shape.as_ref())
            .map(|s| s.dim.iter().map(|d| d.dim_value).collect())
            .unwrap_or_default(),
    }
}

impl TensorProto {
    /// The tensor's name, for messages.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("(unnamed tensor)")
    }

    fn elements(&self) -> Result<usize> {
        self.dims.iter().try_fold(1usize, |n, &d| {
            usize::try_from(d)
                .ok()
                .and_then(|d| n.checked_mul(d))
                .ok_or_else(|| {
                    Error::InvalidOnnx(format!(
                        "tensor `{}` has a bad shape {:?}",
                        self.label(),
                        self.dims
                    ))
                })
        })
    }

    fn check_inline(&self) -> Result<()> {
        if self.data_location == Some(1) {
            return Err(Error::InvalidOnnx(format!(
                "tensor `{}` keeps its data in an external file; export with the data inline",
                self.label()
            )));
        }
        Ok(())
    }

    /// The elements of a float tensor, from whichever field holds them.
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        self.check_inline()?;
        let data = match (
            self.data_type.and_then(|d| DataType::try_from(d).ok()),
            &self.raw_data,
        ) {
            (Some(DataType::Float), Some(raw)) => {
                raw_le::<4, f32>(raw, self.label(), f32::from_le_bytes)?
            }
            (Some(DataType::Float), None) => self.float_data.clone(),
            (Some(DataType::Double), Some(raw)) => {
                raw_le::<8, f64>(raw, self.label(), f64::from_le_bytes)?
                    .into_iter()
                    .map(|v| v as f32)
                    .collect()
            }
            (Some(DataType::Double), None) => self.double_data.iter().map(|v| *v as f32).collect(),
            (other, _) => {
                return Err(Error::InvalidOnnx(format!(
                    "tensor `{}` is {other:?}, expected float",
                    self.label()
                )));
            }
        };
        self.check_len(data.len())?;
        Ok(data)
    }

    /// The elements of an integer tensor (int64, int32 and narrower), as i64.
    pub fn to_i64(&self) -> Result<Vec<i64>> {
        self.check_inline()?;
        let ty = self.data_type.and_then(|d| DataType::try_from(d).ok());
        let data = match (ty, &self.raw_data) {
            (Some(DataType::Int64), Some(raw)) => {
                raw_le::<8, i64>(raw, self.label(), i64::from_le_bytes)?
            }
            (Some(DataType::Int64), None) => self.int64_data.clone(),
            (Some(DataType::Int32), Some(raw)) => {
                raw_le::<4, i32>(raw, self.label(), i32::from_le_bytes)?
                    .into_iter()
                    .map(i64::from)
                    .collect()
            }
            (
                Some(
                    DataType::Int32
                    | DataType::Int16
                    | DataType::Int8
                    | DataType::Uint8
                    | DataType::Uint16
                    | DataType::Bool,
                ),
                None,
            ) => self.int32_data.iter().map(|v| i64::from(*v)).collect(),
            (other, _) => {
                return Err(Error::InvalidOnnx(format!(
                    "tensor `{}` is {other:?}, expected an integer type",
                    self.label()
                )));
            }
        };
        self.check_len(data.len())?;
        Ok(data)
    }

    /// The elements of a string tensor.
    pub fn to_strings(&self) -> Result<Vec<String>> {
        if self.data_type != Some(DataType::String as i32) {
            return Err(Error::InvalidOnnx(format!(
                "tensor `{}` is not a string tensor",
                self.label()
            )));
        }
        let data: Vec<String> = self
            .string_data
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        self.check_len(data.len())?;
        Ok(data)
    }

    fn check_len(&self, len: usize) -> Result<()> {
        let expected = self.elements()?;
        if len != expected {
            return Err(Error::InvalidOnnx(format!(
                "tensor `{}` of shape {:?} holds {len} elements, not {expected}",
                self.label(),
                self.dims
            )));
        }
        Ok(())
    }
}

/// Decodes little-endian fixed-size elements from `raw_data`.
fn raw_le<const N: usize, T>(raw: &[u8], name: &str, from: fn([u8; N]) -> T) -> Result<Vec<T>> {
    if !raw.len().is_multiple_of(N) {
        return Err(Error::InvalidOnnx(format!(
            "tensor `{name}` has {} bytes of raw data, not a multiple of {N}",
            raw.len()
        )));
    }
    Ok(raw
        .chunks_exact(N)
        .map(|c| {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            from(b)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let err = OnnxModel::decode(b"\xff\xff\xff\xff").unwrap_err();
        assert!(
            err.to_string().contains("not a valid ONNX protobuf"),
            "{err}"
        );
        // A valid but empty protobuf has no graph.
        let err = OnnxModel::decode(b"").unwrap_err();
        assert!(err.to_string().contains("no graph"), "{err}");
    }

    #[test]
    fn tensors_decode_from_raw_and_typed_fields() {
        let raw = TensorProto {
            dims: vec![2],
            data_type: Some(DataType::Float as i32),
            raw_data: Some([1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()),
            ..Default::default()
        };
        assert_eq!(raw.to_f32().unwrap(), vec![1.5, -2.0]);
        let typed = TensorProto {
            dims: vec![3],
            data_type: Some(DataType::Int64 as i32),
            int64_data: vec![1, 2, 3],
            ..Default::default()
        };
        assert_eq!(typed.to_i64().unwrap(), vec![1, 2, 3]);
        let short = TensorProto {
            dims: vec![4],
            ..typed.clone()
        };
        assert!(
            short
                .to_i64()
                .unwrap_err()
                .to_string()
                .contains("holds 3 elements, not 4")
        );
        assert!(
            typed
                .to_f32()
                .unwrap_err()
                .to_string()
                .contains("expected float")
        );
    }
}
