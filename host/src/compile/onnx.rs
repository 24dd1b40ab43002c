//! Reading ONNX models, the format skl2onnx exports scikit-learn pipelines to.
//!
//! This is the first stage of compiling a pipeline into a component: decode
//! the protobuf, and describe what is in it (operators, inputs, outputs,
//! constants) so that later stages can check and plan it. Nothing here runs a
//! model.
//!
//! ```no_run
//! let bytes = std::fs::read("pipeline.onnx").unwrap();
//! let model = glassbox::compile::onnx::OnnxModel::decode(&bytes)?;
//! for op in model.operators() {
//!     println!("{op}"); // e.g. "ai.onnx.ml:TreeEnsembleClassifier"
//! }
//! # Ok::<_, glassbox::Error>(())
//! ```

/// The protobuf messages, shared with the guest SDK that runs the graphs.
pub use glassbox_onnx::proto;

use prost::Message;

use crate::error::{Error, Result};
use proto::{DataType, GraphProto, ModelProto, TypeProto};

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
    use proto::tensor_shape_proto::dimension::Value as Dim;
    use proto::type_proto::Value as Type;
    let tensor = ty.and_then(|t| match &t.value {
        Some(Type::TensorType(t)) => Some(t),
        _ => None,
    });
    ValueType {
        name: name.unwrap_or_default().to_string(),
        elem_type: tensor
            .and_then(|t| t.elem_type)
            .and_then(|e| DataType::try_from(e).ok()),
        shape: tensor
            .and_then(|t| t.shape.as_ref())
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| match d.value {
                        Some(Dim::DimValue(v)) => Some(v),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
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
}
