//! Values that flow through a graph: dense tensors of one element type, and
//! the maps and sequences of maps that a few ONNX-ML operators consume or
//! produce.

use std::fmt;

use super::proto::{DataType, TensorProto};

/// The element types the engine computes with.
///
/// Narrower integer types of a file (int8 … int32, unsigned) are widened to
/// `I64` when read, and `Cast` to them wraps values into their range first,
/// so results agree with runtimes that keep the narrow type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemType {
    /// 32-bit float, what scikit-learn graphs compute in.
    F32,
    /// 64-bit float.
    F64,
    /// Integers.
    I64,
    /// UTF-8 strings.
    Str,
    /// Booleans.
    Bool,
}

impl ElemType {
    /// The engine type for an ONNX `DataType` code, or `None` for types it
    /// does not compute with (float16, bfloat16, complex …).
    pub fn from_onnx(code: i32) -> Option<ElemType> {
        Some(match DataType::try_from(code).ok()? {
            DataType::Float => ElemType::F32,
            DataType::Double => ElemType::F64,
            DataType::Int64
            | DataType::Int32
            | DataType::Int16
            | DataType::Int8
            | DataType::Uint8
            | DataType::Uint16
            | DataType::Uint32
            | DataType::Uint64 => ElemType::I64,
            DataType::String => ElemType::Str,
            DataType::Bool => ElemType::Bool,
            _ => return None,
        })
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ElemType::F32 => "float",
            ElemType::F64 => "double",
            ElemType::I64 => "int64",
            ElemType::Str => "string",
            ElemType::Bool => "bool",
        })
    }
}

/// The elements of a tensor, row-major.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// float
    F32(Vec<f32>),
    /// double
    F64(Vec<f64>),
    /// integers
    I64(Vec<i64>),
    /// strings
    Str(Vec<String>),
    /// booleans
    Bool(Vec<bool>),
}

impl Data {
    /// The element type.
    pub fn elem_type(&self) -> ElemType {
        match self {
            Data::F32(_) => ElemType::F32,
            Data::F64(_) => ElemType::F64,
            Data::I64(_) => ElemType::I64,
            Data::Str(_) => ElemType::Str,
            Data::Bool(_) => ElemType::Bool,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::Str(v) => v.len(),
            Data::Bool(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements at `indices`, in that order.
    pub fn gather(&self, indices: &[usize]) -> Data {
        fn pick<T: Clone>(v: &[T], idx: &[usize]) -> Vec<T> {
            idx.iter().map(|&i| v[i].clone()).collect()
        }
        match self {
            Data::F32(v) => Data::F32(pick(v, indices)),
            Data::F64(v) => Data::F64(pick(v, indices)),
            Data::I64(v) => Data::I64(pick(v, indices)),
            Data::Str(v) => Data::Str(pick(v, indices)),
            Data::Bool(v) => Data::Bool(pick(v, indices)),
        }
    }

    /// An empty vector of the same element type.
    pub fn empty_like(&self, capacity: usize) -> Data {
        match self {
            Data::F32(_) => Data::F32(Vec::with_capacity(capacity)),
            Data::F64(_) => Data::F64(Vec::with_capacity(capacity)),
            Data::I64(_) => Data::I64(Vec::with_capacity(capacity)),
            Data::Str(_) => Data::Str(Vec::with_capacity(capacity)),
            Data::Bool(_) => Data::Bool(Vec::with_capacity(capacity)),
        }
    }

    /// Appends `other[range]`; both must have the same element type.
    pub fn extend_from(&mut self, other: &Data, range: std::ops::Range<usize>) {
        match (self, other) {
            (Data::F32(a), Data::F32(b)) => a.extend_from_slice(&b[range]),
            (Data::F64(a), Data::F64(b)) => a.extend_from_slice(&b[range]),
            (Data::I64(a), Data::I64(b)) => a.extend_from_slice(&b[range]),
            (Data::Str(a), Data::Str(b)) => a.extend_from_slice(&b[range]),
            (Data::Bool(a), Data::Bool(b)) => a.extend_from_slice(&b[range]),
            _ => unreachable!("extend_from on mismatched element types"),
        }
    }

    /// Every element converted to `f32` (strings parse, failures are NaN).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            Data::F32(v) => v.clone(),
            Data::F64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::Str(v) => v.iter().map(|s| parse_float(s) as f32).collect(),
            Data::Bool(v) => v.iter().map(|&b| f32::from(u8::from(b))).collect(),
        }
    }

    /// Every element converted to `f64` (strings parse, failures are NaN).
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            Data::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::F64(v) => v.clone(),
            Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
            Data::Str(v) => v.iter().map(|s| parse_float(s)).collect(),
            Data::Bool(v) => v.iter().map(|&b| f64::from(u8::from(b))).collect(),
        }
    }

    /// Every element converted to `i64`: floats truncate toward zero.
    pub fn to_i64(&self) -> Vec<i64> {
        match self {
            Data::F32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::F64(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I64(v) => v.clone(),
            Data::Str(v) => v
                .iter()
                .map(|s| {
                    s.trim()
                        .parse::<i64>()
                        .unwrap_or_else(|_| parse_float(s) as i64)
                })
                .collect(),
            Data::Bool(v) => v.iter().map(|&b| i64::from(b)).collect(),
        }
    }
}

/// Parses a number the way `strtod` would accept it, NaN when it does not.
fn parse_float(s: &str) -> f64 {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => t.parse().unwrap_or(f64::NAN),
    }
}

/// A dense tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dimensions; empty for a scalar.
    pub shape: Vec<usize>,
    /// Elements, row-major; `shape.iter().product()` of them.
    pub data: Data,
}

impl Tensor {
    /// A tensor from a shape and matching data.
    pub fn new(shape: Vec<usize>, data: Data) -> Result<Tensor, String> {
        // Checked: the dimensions may come from a hostile file.
        let Some(n) = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) else {
            return Err(format!(
                "shape {shape:?} has more elements than can be counted"
            ));
        };
        if n != data.len() {
            return Err(format!(
                "shape {shape:?} needs {n} elements, got {}",
                data.len()
            ));
        }
        Ok(Tensor { shape, data })
    }

    /// A float tensor.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor {
            shape,
            data: Data::F32(data),
        }
    }

    /// An integer tensor.
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Tensor {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor {
            shape,
            data: Data::I64(data),
        }
    }

    /// The element type.
    pub fn elem_type(&self) -> ElemType {
        self.data.elem_type()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The shape as `[rows, columns]`: a 1-D tensor is one row, higher ranks
    /// fold every leading dimension into rows (how the ONNX-ML operators read
    /// their input).
    pub fn as_matrix(&self) -> (usize, usize) {
        match self.shape.len() {
            0 => (1, 1),
            1 => (1, self.shape[0]),
            _ => {
                let cols = *self.shape.last().unwrap_or(&1);
                let rows = self
                    .len()
                    .checked_div(cols)
                    .unwrap_or_else(|| self.shape[..self.shape.len() - 1].iter().product());
                (rows, cols)
            }
        }
    }

    /// The float elements, if this is a float tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The integer elements, if this is an integer tensor.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            Data::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The string elements, if this is a string tensor.
    pub fn as_str(&self) -> Option<&[String]> {
        match &self.data {
            Data::Str(v) => Some(v),
            _ => None,
        }
    }

    /// Reads a tensor from its protobuf form, whichever field holds the data.
    pub fn from_proto(t: &TensorProto) -> Result<Tensor, String> {
        let name = t.name.as_deref().unwrap_or("(unnamed)");
        if t.data_location == Some(1) {
            return Err(format!(
                "tensor `{name}` keeps its data in an external file; export with the data inline"
            ));
        }
        let mut shape = Vec::with_capacity(t.dims.len());
        for &d in &t.dims {
            shape.push(
                usize::try_from(d)
                    .map_err(|_| format!("tensor `{name}` has a negative dimension {d}"))?,
            );
        }
        let code = t.data_type.unwrap_or(0);
        let raw = t.raw_data.as_deref();
        let ty = DataType::try_from(code)
            .map_err(|_| format!("tensor `{name}` has unknown element type {code}"))?;
        let data = match ty {
            DataType::Float => Data::F32(match raw {
                Some(r) => le::<4, _>(r, name, f32::from_le_bytes)?,
                None => t.float_data.clone(),
            }),
            DataType::Double => Data::F64(match raw {
                Some(r) => le::<8, _>(r, name, f64::from_le_bytes)?,
                None => t.double_data.clone(),
            }),
            DataType::Int64 => Data::I64(match raw {
                Some(r) => le::<8, _>(r, name, i64::from_le_bytes)?,
                None => t.int64_data.clone(),
            }),
            DataType::Int32 => Data::I64(match raw {
                Some(r) => le::<4, _>(r, name, |b| i64::from(i32::from_le_bytes(b)))?,
                None => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
            }),
            DataType::Int16 => Data::I64(match raw {
                Some(r) => le::<2, _>(r, name, |b| i64::from(i16::from_le_bytes(b)))?,
                None => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
            }),
            DataType::Uint16 => Data::I64(match raw {
                Some(r) => le::<2, _>(r, name, |b| i64::from(u16::from_le_bytes(b)))?,
                None => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
            }),
            DataType::Int8 => Data::I64(match raw {
                Some(r) => r.iter().map(|&b| i64::from(b as i8)).collect(),
                None => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
            }),
            DataType::Uint8 => Data::I64(match raw {
                Some(r) => r.iter().map(|&b| i64::from(b)).collect(),
                None => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
            }),
            DataType::Uint32 => Data::I64(match raw {
                Some(r) => le::<4, _>(r, name, |b| i64::from(u32::from_le_bytes(b)))?,
                None => t.uint64_data.iter().map(|&v| v as i64).collect(),
            }),
            DataType::Uint64 => Data::I64(match raw {
                Some(r) => le::<8, _>(r, name, |b| u64::from_le_bytes(b) as i64)?,
                None => t.uint64_data.iter().map(|&v| v as i64).collect(),
            }),
            DataType::Bool => Data::Bool(match raw {
                Some(r) => r.iter().map(|&b| b != 0).collect(),
                None => t.int32_data.iter().map(|&v| v != 0).collect(),
            }),
            DataType::String => Data::Str(
                t.string_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect(),
            ),
            _ => {
                return Err(format!(
                    "tensor `{name}` is of type {ty:?}, which Glassbox does not support"
                ));
            }
        };
        Tensor::new(shape, data).map_err(|e| format!("tensor `{name}`: {e}"))
    }
}

/// Decodes little-endian fixed-size elements.
fn le<const N: usize, T>(
    raw: &[u8],
    name: &str,
    from: impl Fn([u8; N]) -> T,
) -> Result<Vec<T>, String> {
    if !raw.len().is_multiple_of(N) {
        return Err(format!(
            "tensor `{name}` has {} bytes of raw data, not a multiple of {N}",
            raw.len()
        ));
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

/// One map: keys and values of equal length (ONNX `map(K, V)`).
#[derive(Clone, Debug, PartialEq)]
pub struct Map {
    /// The keys: integers or strings.
    pub keys: Data,
    /// The values, one per key.
    pub values: Data,
}

/// A value in a graph.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A tensor.
    Tensor(Tensor),
    /// A single map (`DictVectorizer` and `CastMap` inputs).
    Map(Map),
    /// A sequence of maps (`ZipMap` outputs).
    Maps(Vec<Map>),
}

impl Value {
    /// The tensor, or an error naming what the value is instead.
    pub fn tensor(&self) -> Result<&Tensor, String> {
        match self {
            Value::Tensor(t) => Ok(t),
            Value::Map(_) => Err("expected a tensor, got a map".into()),
            Value::Maps(_) => Err("expected a tensor, got a sequence of maps".into()),
        }
    }
}

impl From<Tensor> for Value {
    fn from(t: Tensor) -> Value {
        Value::Tensor(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_typed_fields_decode_alike() {
        let raw = TensorProto {
            dims: vec![2],
            data_type: Some(DataType::Float as i32),
            raw_data: Some([1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()),
            ..Default::default()
        };
        assert_eq!(
            Tensor::from_proto(&raw).unwrap(),
            Tensor::f32(vec![2], vec![1.5, -2.0])
        );
        let typed = TensorProto {
            dims: vec![3],
            data_type: Some(DataType::Int32 as i32),
            int32_data: vec![1, -2, 3],
            ..Default::default()
        };
        assert_eq!(
            Tensor::from_proto(&typed).unwrap(),
            Tensor::i64(vec![3], vec![1, -2, 3])
        );
        let short = TensorProto {
            dims: vec![4],
            ..typed
        };
        let err = Tensor::from_proto(&short).unwrap_err();
        assert!(err.contains("needs 4 elements, got 3"), "{err}");
    }

    #[test]
    fn matrices_fold_leading_dimensions() {
        assert_eq!(Tensor::f32(vec![5], vec![0.0; 5]).as_matrix(), (1, 5));
        assert_eq!(
            Tensor::f32(vec![2, 3, 4], vec![0.0; 24]).as_matrix(),
            (6, 4)
        );
    }
}
