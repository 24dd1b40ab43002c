//! The ai.onnx operators that skl2onnx emits for common pipelines.

use super::{Exp, opt_tensor, tensor};
use crate::graph::{Attrs, Kernel, Product};
use crate::tensor::{Data, ElemType, Tensor, Value};

type R<T> = Result<T, String>;

pub(super) fn build(op: &str, a: &Attrs<'_>, opset: i64) -> R<Box<dyn Kernel>> {
    Ok(match op {
        "Identity" => Box::new(Identity),
        "Add" => Box::new(Binary(Bin::Add)),
        "Sub" => Box::new(Binary(Bin::Sub)),
        "Mul" => Box::new(Binary(Bin::Mul)),
        "Div" => Box::new(Binary(Bin::Div)),
        "Pow" => Box::new(Binary(Bin::Pow)),
        "Equal" => Box::new(Binary(Bin::Equal)),
        "Less" => Box::new(Binary(Bin::Less)),
        "Greater" => Box::new(Binary(Bin::Greater)),
        "LessOrEqual" => Box::new(Binary(Bin::LessOrEqual)),
        "GreaterOrEqual" => Box::new(Binary(Bin::GreaterOrEqual)),
        "And" => Box::new(Logical(op.to_string())),
        "Or" => Box::new(Logical(op.to_string())),
        "Xor" => Box::new(Logical(op.to_string())),
        "Max" => Box::new(Variadic(Var::Max)),
        "Min" => Box::new(Variadic(Var::Min)),
        "Sum" => Box::new(Variadic(Var::Sum)),
        "Mean" => Box::new(Variadic(Var::Mean)),
        "Sqrt" => Box::new(Unary(Un::Sqrt)),
        "Exp" => Box::new(Unary(Un::Exp)),
        "Log" => Box::new(Unary(Un::Log)),
        "Abs" => Box::new(Unary(Un::Abs)),
        "Neg" => Box::new(Unary(Un::Neg)),
        "Reciprocal" => Box::new(Unary(Un::Reciprocal)),
        "Sign" => Box::new(Unary(Un::Sign)),
        "Relu" => Box::new(Unary(Un::Relu)),
        "Sigmoid" => Box::new(Unary(Un::Sigmoid)),
        "Tanh" => Box::new(Unary(Un::Tanh)),
        "Not" => Box::new(Unary(Un::Not)),
        "MatMul" => Box::new(MatMul),
        "Gemm" => Box::new(Gemm {
            alpha: a.float("alpha").unwrap_or(1.0),
            beta: a.float("beta").unwrap_or(1.0),
            trans_a: a.int("transA").unwrap_or(0) != 0,
            trans_b: a.int("transB").unwrap_or(0) != 0,
        }),
        "Softmax" => Box::new(Softmax {
            axis: a.int("axis").unwrap_or(if opset >= 13 { -1 } else { 1 }),
            legacy: opset < 13,
        }),
        "ArgMax" | "ArgMin" => Box::new(ArgExt {
            max: op == "ArgMax",
            axis: a.int("axis").unwrap_or(0),
            keepdims: a.int("keepdims").unwrap_or(1) != 0,
            last: a.int("select_last_index").unwrap_or(0) != 0,
        }),
        "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceProd"
        | "ReduceLogSumExp" | "ReduceSumSquare" | "ReduceL1" | "ReduceL2" | "ReduceLogSum" => {
            let kind = match op {
                "ReduceSum" => Red::Sum,
                "ReduceProd" => Red::Prod,
                "ReduceMean" => Red::Mean,
                "ReduceMax" => Red::Max,
                "ReduceMin" => Red::Min,
                "ReduceSumSquare" => Red::SumSquare,
                "ReduceL1" => Red::L1,
                "ReduceL2" => Red::L2,
                "ReduceLogSum" => Red::LogSum,
                _ => Red::LogSumExp,
            };
            // ReduceSum takes its axes as an input from opset 13, the others from 18.
            let axes_input = if kind == Red::Sum {
                opset >= 13
            } else {
                opset >= 18
            };
            let axes = if axes_input {
                None
            } else {
                a.has("axes").then(|| a.ints("axes"))
            };
            Box::new(Reduce {
                kind,
                axes,
                keepdims: a.int("keepdims").unwrap_or(1) != 0,
                noop_empty: a.int("noop_with_empty_axes").unwrap_or(0) != 0,
            })
        }
        "Cast" => {
            let to = a.int("to").ok_or("needs attribute `to`")?;
            let _ = a.int("saturate"); // only affects float8 types, which we do not have
            let elem = ElemType::from_onnx(to as i32)
                .ok_or_else(|| format!("casting to element type {to} is not supported"))?;
            Box::new(Cast {
                to: elem,
                wrap: Wrap::of(to as i32),
            })
        }
        "Concat" => Box::new(Concat {
            axis: a.int("axis").ok_or("needs attribute `axis`")?,
        }),
        "Reshape" => Box::new(Reshape {
            allowzero: a.int("allowzero").unwrap_or(0) != 0,
        }),
        "Flatten" => Box::new(Flatten {
            axis: a.int("axis").unwrap_or(1),
        }),
        "Squeeze" => Box::new(Squeeze {
            axes: (opset < 13 && a.has("axes")).then(|| a.ints("axes")),
        }),
        "Unsqueeze" => Box::new(Unsqueeze {
            axes: if opset < 13 {
                Some(a.ints("axes"))
            } else {
                None
            },
        }),
        "Gather" => Box::new(Gather {
            axis: a.int("axis").unwrap_or(0),
        }),
        "Where" => Box::new(Where),
        "Clip" => Box::new(Clip {
            min: (opset < 11).then(|| a.float("min")).flatten(),
            max: (opset < 11).then(|| a.float("max")).flatten(),
        }),
        "Shape" => Box::new(ShapeOp {
            start: a.int("start").unwrap_or(0),
            end: a.int("end"),
        }),
        "Constant" => Box::new(Constant(constant_value(a)?)),
        "ConstantOfShape" => {
            let value = match a.tensor("value")? {
                Some(t) if t.len() == 1 => t,
                Some(t) => {
                    return Err(format!(
                        "attribute `value` must hold one element, it holds {}",
                        t.len()
                    ));
                }
                None => Tensor::f32(vec![1], vec![0.0]),
            };
            Box::new(ConstantOfShape(value))
        }
        "Transpose" => super::shape::transpose(a),
        "CumSum" => super::shape::cum_sum(a),
        "GatherElements" => super::shape::gather_elements(a),
        "Slice" => super::shape::slice(a, opset),
        "TopK" => super::shape::top_k(a, opset)?,
        "IsNaN" => super::shape::is_nan(),
        "IsInf" => super::shape::is_inf(a),
        "LpNormalization" => super::shape::lp_normalization(a)?,
        other => return Err(format!("operator ai.onnx:{other} is not supported")),
    })
}

fn constant_value(a: &Attrs<'_>) -> R<Tensor> {
    if a.has("sparse_value") {
        return Err("attribute `sparse_value` (sparse tensors) is not supported".into());
    }
    if let Some(t) = a.tensor("value")? {
        return Ok(t);
    }
    if let Some(f) = a.float("value_float") {
        return Ok(Tensor::f32(vec![], vec![f]));
    }
    if a.has("value_floats") {
        let v = a.floats("value_floats");
        return Ok(Tensor::f32(vec![v.len()], v));
    }
    if let Some(i) = a.int("value_int") {
        return Ok(Tensor::i64(vec![], vec![i]));
    }
    if a.has("value_ints") {
        let v = a.ints("value_ints");
        return Ok(Tensor::i64(vec![v.len()], v));
    }
    if let Some(s) = a.string("value_string") {
        return Ok(Tensor {
            shape: vec![],
            data: Data::Str(vec![s]),
        });
    }
    if a.has("value_strings") {
        let v = a.strings("value_strings");
        return Ok(Tensor {
            shape: vec![v.len()],
            data: Data::Str(v),
        });
    }
    Err("needs one of the attributes value, value_float(s), value_int(s), value_string(s)".into())
}

/// Resolves a possibly negative axis against a rank.
pub(crate) fn axis(axis: i64, rank: usize) -> R<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r.max(1)).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {axis} is out of range for rank {rank}"))
    }
}

fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let n = shape.get(axis).copied().unwrap_or(1);
    let inner = shape.get(axis + 1..).map_or(1, |s| s.iter().product());
    (outer, n, inner)
}

// ---------------------------------------------------------------- broadcasting

/// The multidirectional (numpy) broadcast of `shapes`.
pub(crate) fn broadcast_shape(shapes: &[&[usize]]) -> R<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[off + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(format!("shapes {shapes:?} cannot be broadcast together"));
            }
        }
    }
    Ok(out)
}

/// Maps an output element index to an input element index.
enum Ix {
    Same,
    Scalar,
    /// The input's shape is a suffix of the output's: index modulo its size.
    Suffix(usize),
    General(Vec<usize>),
}

impl Ix {
    fn new(out: &[usize], shape: &[usize]) -> Ix {
        let n: usize = shape.iter().product();
        if shape == out {
            return Ix::Same;
        }
        if n == 1 {
            return Ix::Scalar;
        }
        let trimmed: &[usize] = {
            let first = shape.iter().position(|&d| d != 1).unwrap_or(shape.len());
            &shape[first..]
        };
        if out.ends_with(trimmed) {
            return Ix::Suffix(n);
        }
        // General case: walk the output, carrying an input offset.
        let rank = out.len();
        let off = rank - shape.len();
        let mut strides = vec![0usize; rank];
        let mut s = 1;
        for i in (0..shape.len()).rev() {
            strides[off + i] = if shape[i] == 1 { 0 } else { s };
            s *= shape[i];
        }
        let total: usize = out.iter().product();
        let mut idx = vec![0usize; rank];
        let mut map = Vec::with_capacity(total);
        for _ in 0..total {
            map.push(idx.iter().zip(&strides).map(|(i, s)| i * s).sum());
            for d in (0..rank).rev() {
                idx[d] += 1;
                if idx[d] < out[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ix::General(map)
    }

    #[inline]
    fn at(&self, i: usize) -> usize {
        match self {
            Ix::Same => i,
            Ix::Scalar => 0,
            Ix::Suffix(n) => i % n,
            Ix::General(m) => m[i],
        }
    }
}

/// The first `m` values of `v` repeated to at least 256 values (a whole
/// number of repeats), for a matrix of `n` values; not repeated when the
/// matrix is no longer than that (building the repeats cost a one-row call
/// a third of its time).
pub(crate) fn tiled<T: Copy>(v: &[T], m: usize, n: usize) -> std::borrow::Cow<'_, [T]> {
    let times = 256usize.div_ceil(m);
    if times <= 1 || n <= m * times {
        return std::borrow::Cow::Borrowed(&v[..m]);
    }
    std::borrow::Cow::Owned(v[..m].iter().copied().cycle().take(m * times).collect())
}

fn zip_with<A: Copy, B: Copy, O>(
    a: &[A],
    ash: &[usize],
    b: &[B],
    bsh: &[usize],
    f: impl Fn(A, B) -> O,
) -> R<(Vec<usize>, Vec<O>)> {
    let out = broadcast_shape(&[ash, bsh])?;
    let n: usize = out.iter().product();
    let (ia, ib) = (Ix::new(&out, ash), Ix::new(&out, bsh));
    // The shapes pipelines produce (same shape, a scalar, a row vector
    // against a matrix) get loops without per-element index arithmetic.
    let mut v = Vec::with_capacity(n);
    match (&ia, &ib) {
        (Ix::Same, Ix::Same) => v.extend(a.iter().zip(b).map(|(&x, &y)| f(x, y))),
        (Ix::Same, Ix::Scalar) => v.extend(a.iter().map(|&x| f(x, b[0]))),
        (Ix::Scalar, Ix::Same) => v.extend(b.iter().map(|&y| f(a[0], y))),
        // A row vector against a matrix: the vector repeated to about 256
        // values first, so that the inner loop is long enough to vectorise
        // (rows of ten were all loop overhead).
        (Ix::Same, Ix::Suffix(m)) if *m > 0 => {
            let bt = tiled(b, *m, a.len());
            for chunk in a.chunks(bt.len()) {
                v.extend(chunk.iter().zip(&bt[..]).map(|(&x, &y)| f(x, y)));
            }
        }
        (Ix::Suffix(m), Ix::Same) if *m > 0 => {
            let at = tiled(a, *m, b.len());
            for chunk in b.chunks(at.len()) {
                v.extend(at.iter().zip(chunk).map(|(&x, &y)| f(x, y)));
            }
        }
        _ => v.extend((0..n).map(|i| f(a[ia.at(i)], b[ib.at(i)]))),
    }
    Ok((out, v))
}

// ---------------------------------------------------------------- elementwise

#[derive(Clone, Debug)]
struct Identity;

impl Kernel for Identity {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        match inputs.first().copied().flatten() {
            Some(v) => Ok(vec![v.clone()]),
            None => Err("input 0 is missing".into()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Equal,
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
}

#[derive(Clone, Debug)]
struct Binary(Bin);

macro_rules! arith {
    ($op:expr, $a:expr, $ash:expr, $b:expr, $bsh:expr, $ctor:path) => {{
        let (shape, v) = match $op {
            Bin::Add => zip_with($a, $ash, $b, $bsh, |x, y| x + y)?,
            Bin::Sub => zip_with($a, $ash, $b, $bsh, |x, y| x - y)?,
            Bin::Mul => zip_with($a, $ash, $b, $bsh, |x, y| x * y)?,
            Bin::Div => zip_with($a, $ash, $b, $bsh, |x, y| x / y)?,
            _ => unreachable!(),
        };
        Tensor {
            shape,
            data: $ctor(v),
        }
    }};
}

macro_rules! compare {
    ($op:expr, $a:expr, $ash:expr, $b:expr, $bsh:expr) => {{
        let (shape, v) = match $op {
            Bin::Equal => zip_with($a, $ash, $b, $bsh, |x, y| x == y)?,
            Bin::Less => zip_with($a, $ash, $b, $bsh, |x, y| x < y)?,
            Bin::Greater => zip_with($a, $ash, $b, $bsh, |x, y| x > y)?,
            Bin::LessOrEqual => zip_with($a, $ash, $b, $bsh, |x, y| x <= y)?,
            Bin::GreaterOrEqual => zip_with($a, $ash, $b, $bsh, |x, y| x >= y)?,
            _ => unreachable!(),
        };
        Tensor {
            shape,
            data: Data::Bool(v),
        }
    }};
}

impl Kernel for Binary {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let a = tensor(inputs, 0, "A")?;
        let b = tensor(inputs, 1, "B")?;
        let (ash, bsh) = (&a.shape[..], &b.shape[..]);
        let out = match self.0 {
            Bin::Pow => pow(a, b)?,
            Bin::Add | Bin::Sub | Bin::Mul | Bin::Div => match (&a.data, &b.data) {
                (Data::F32(x), Data::F32(y)) => arith!(self.0, x, ash, y, bsh, Data::F32),
                (Data::F64(x), Data::F64(y)) => arith!(self.0, x, ash, y, bsh, Data::F64),
                (Data::I64(x), Data::I64(y)) => {
                    if self.0 == Bin::Div && y.contains(&0) {
                        return Err("integer division by zero".into());
                    }
                    let (shape, v) = match self.0 {
                        Bin::Add => zip_with(x, ash, y, bsh, i64::wrapping_add)?,
                        Bin::Sub => zip_with(x, ash, y, bsh, i64::wrapping_sub)?,
                        Bin::Mul => zip_with(x, ash, y, bsh, i64::wrapping_mul)?,
                        _ => zip_with(x, ash, y, bsh, i64::wrapping_div)?,
                    };
                    Tensor {
                        shape,
                        data: Data::I64(v),
                    }
                }
                _ => return Err(type_mismatch(a, b)),
            },
            op => match (&a.data, &b.data) {
                (Data::F32(x), Data::F32(y)) => compare!(op, x, ash, y, bsh),
                (Data::F64(x), Data::F64(y)) => compare!(op, x, ash, y, bsh),
                (Data::I64(x), Data::I64(y)) => compare!(op, x, ash, y, bsh),
                (Data::Bool(x), Data::Bool(y)) if op == Bin::Equal => {
                    compare!(op, x, ash, y, bsh)
                }
                (Data::Str(x), Data::Str(y)) if op == Bin::Equal => {
                    let out = broadcast_shape(&[ash, bsh])?;
                    let (ia, ib) = (Ix::new(&out, ash), Ix::new(&out, bsh));
                    let n: usize = out.iter().product();
                    Tensor {
                        data: Data::Bool((0..n).map(|i| x[ia.at(i)] == y[ib.at(i)]).collect()),
                        shape: out,
                    }
                }
                _ => return Err(type_mismatch(a, b)),
            },
        };
        Ok(vec![out.into()])
    }
}

fn type_mismatch(a: &Tensor, b: &Tensor) -> String {
    format!(
        "inputs of types {} and {} are not supported together",
        a.elem_type(),
        b.elem_type()
    )
}

/// `Pow`: the result has the base's type; the exponent may be any number type.
fn pow(a: &Tensor, b: &Tensor) -> R<Tensor> {
    let (ash, bsh) = (&a.shape[..], &b.shape[..]);
    let (shape, data) = match &a.data {
        Data::F32(x) => {
            let y = b.data.to_f32();
            let (s, v) = zip_with(x, ash, &y, bsh, f32::powf)?;
            (s, Data::F32(v))
        }
        Data::F64(x) => {
            let y = b.data.to_f64();
            let (s, v) = zip_with(x, ash, &y, bsh, f64::powf)?;
            (s, Data::F64(v))
        }
        Data::I64(x) => {
            let y = b.data.to_f64();
            let (s, v) = zip_with(x, ash, &y, bsh, |x, y| (x as f64).powf(y) as i64)?;
            (s, Data::I64(v))
        }
        _ => return Err(format!("Pow of a {} tensor", a.elem_type())),
    };
    Ok(Tensor { shape, data })
}

/// And, Or, Xor on booleans, with broadcasting.
#[derive(Clone, Debug)]
struct Logical(String);

impl Kernel for Logical {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let a = tensor(inputs, 0, "A")?;
        let b = tensor(inputs, 1, "B")?;
        let (Data::Bool(x), Data::Bool(y)) = (&a.data, &b.data) else {
            return Err(type_mismatch(a, b));
        };
        let f: fn(bool, bool) -> bool = match self.0.as_str() {
            "And" => |p, q| p && q,
            "Or" => |p, q| p || q,
            _ => |p, q| p ^ q,
        };
        let (shape, v) = zip_with(x, &a.shape, y, &b.shape, f)?;
        Ok(vec![
            Tensor {
                shape,
                data: Data::Bool(v),
            }
            .into(),
        ])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Var {
    Max,
    Min,
    Sum,
    Mean,
}

/// Max, Min, Sum and Mean over any number of broadcast inputs, folded left
/// to right as onnxruntime does (so float sums round the same way).
#[derive(Clone, Copy, Debug)]
struct Variadic(Var);

impl Variadic {
    fn f32(self, a: f32, b: f32) -> f32 {
        match self.0 {
            // NaN propagates, as in onnxruntime.
            Var::Max | Var::Min if a.is_nan() || b.is_nan() => f32::NAN,
            Var::Max => a.max(b),
            Var::Min => a.min(b),
            Var::Sum | Var::Mean => a + b,
        }
    }

    fn f64(self, a: f64, b: f64) -> f64 {
        match self.0 {
            Var::Max | Var::Min if a.is_nan() || b.is_nan() => f64::NAN,
            Var::Max => a.max(b),
            Var::Min => a.min(b),
            Var::Sum | Var::Mean => a + b,
        }
    }

    fn i64(self, a: i64, b: i64) -> i64 {
        match self.0 {
            Var::Max => a.max(b),
            Var::Min => a.min(b),
            Var::Sum | Var::Mean => a.wrapping_add(b),
        }
    }
}

impl Kernel for Variadic {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let mut acc = tensor(inputs, 0, "data_0")?.clone();
        for i in 1..inputs.len() {
            let t = tensor(inputs, i, "data")?;
            let (ash, bsh) = (&acc.shape[..], &t.shape[..]);
            acc = match (&acc.data, &t.data) {
                (Data::F32(x), Data::F32(y)) => {
                    let (shape, v) = zip_with(x, ash, y, bsh, |a, b| self.f32(a, b))?;
                    Tensor::f32(shape, v)
                }
                (Data::F64(x), Data::F64(y)) => {
                    let (shape, v) = zip_with(x, ash, y, bsh, |a, b| self.f64(a, b))?;
                    Tensor {
                        shape,
                        data: Data::F64(v),
                    }
                }
                (Data::I64(x), Data::I64(y)) if self.0 != Var::Mean => {
                    let (shape, v) = zip_with(x, ash, y, bsh, |a, b| self.i64(a, b))?;
                    Tensor::i64(shape, v)
                }
                _ => return Err(type_mismatch(&acc, t)),
            };
        }
        if self.0 == Var::Mean {
            let n = inputs.len();
            match &mut acc.data {
                Data::F32(v) => v.iter_mut().for_each(|x| *x /= n as f32),
                Data::F64(v) => v.iter_mut().for_each(|x| *x /= n as f64),
                d => return Err(format!("Mean of {} is not supported", d.elem_type())),
            }
        }
        Ok(vec![acc.into()])
    }
}

#[derive(Clone, Copy, Debug)]
enum Un {
    Sign,
    Sqrt,
    Exp,
    Log,
    Abs,
    Neg,
    Reciprocal,
    Relu,
    Sigmoid,
    Tanh,
    Not,
}

#[derive(Clone, Debug)]
struct Unary(Un);

/// One float unary operator over a slice; the match is outside the loop so
/// that each loop is a tight, vectorisable map.
macro_rules! float_unary {
    ($op:expr, $v:expr, $t:ty) => {{
        let v: &[$t] = $v;
        match $op {
            Un::Sqrt => v.iter().map(|x| x.sqrt()).collect(),
            Un::Exp => v.iter().map(|x| x.fexp()).collect(),
            Un::Log => v.iter().map(|x| x.ln()).collect(),
            Un::Abs => v.iter().map(|x| x.abs()).collect(),
            Un::Neg => v.iter().map(|x| -x).collect(),
            Un::Reciprocal => v.iter().map(|x| 1.0 / x).collect(),
            // -1, 0 or 1; NaN stays NaN (onnxruntime's and numpy's rule).
            Un::Sign => v
                .iter()
                .map(|&x| {
                    if x > 0.0 {
                        1.0
                    } else if x < 0.0 {
                        -1.0
                    } else {
                        x
                    }
                })
                .collect(),
            // NaN stays NaN (max would drop it).
            Un::Relu => v
                .iter()
                .map(|&x| if x > 0.0 || x.is_nan() { x } else { 0.0 })
                .collect(),
            Un::Sigmoid => v
                .iter()
                .map(|&x| {
                    if x >= 0.0 {
                        1.0 / (1.0 + (-x).fexp())
                    } else {
                        let e = x.fexp();
                        e / (1.0 + e)
                    }
                })
                .collect(),
            Un::Tanh => v.iter().map(|x| x.tanh()).collect(),
            Un::Not => unreachable!("Not is handled before"),
        }
    }};
}

impl Kernel for Unary {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "X")?;
        let data = match (&t.data, self.0) {
            (Data::Bool(v), Un::Not) => Data::Bool(v.iter().map(|b| !b).collect()),
            (_, Un::Not) => return Err(format!("Not of a {} tensor", t.elem_type())),
            (Data::F32(v), op) => Data::F32(float_unary!(op, v, f32)),
            (Data::F64(v), op) => Data::F64(float_unary!(op, v, f64)),
            (Data::I64(v), Un::Abs) => Data::I64(v.iter().map(|x| x.wrapping_abs()).collect()),
            (Data::I64(v), Un::Neg) => Data::I64(v.iter().map(|x| x.wrapping_neg()).collect()),
            (Data::I64(v), Un::Relu) => Data::I64(v.iter().map(|&x| x.max(0)).collect()),
            (Data::I64(v), Un::Sign) => Data::I64(v.iter().map(|x| x.signum()).collect()),
            (d, op) => return Err(format!("{op:?} of a {} tensor", d.elem_type())),
        };
        Ok(vec![
            Tensor {
                shape: t.shape.clone(),
                data,
            }
            .into(),
        ])
    }
}

// ---------------------------------------------------------------- linear algebra

/// `out[m×n] += a[m×k] · b[k×n]`.
///
/// Four rows of `a` at a time: each row of `b` is loaded once for the four
/// (a quarter of the memory traffic of a row-at-a-time loop), the four
/// output rows stay in cache, and the inner loop over `n` vectorises.
fn gemm_into<T>(a: &[T], b: &[T], out: &mut [T], m: usize, k: usize, n: usize)
where
    T: Copy + std::ops::Add<Output = T> + std::ops::Mul<Output = T>,
{
    let mut i = 0;
    while i + 4 <= m {
        let (o0, rest) = out[i * n..(i + 4) * n].split_at_mut(n);
        let (o1, rest) = rest.split_at_mut(n);
        let (o2, o3) = rest.split_at_mut(n);
        for p in 0..k {
            let brow = &b[p * n..(p + 1) * n];
            let (a0, a1, a2, a3) = (
                a[i * k + p],
                a[(i + 1) * k + p],
                a[(i + 2) * k + p],
                a[(i + 3) * k + p],
            );
            for j in 0..n {
                let bv = brow[j];
                o0[j] = o0[j] + a0 * bv;
                o1[j] = o1[j] + a1 * bv;
                o2[j] = o2[j] + a2 * bv;
                o3[j] = o3[j] + a3 * bv;
            }
        }
        i += 4;
    }
    for i in i..m {
        let orow = &mut out[i * n..(i + 1) * n];
        for p in 0..k {
            let av = a[i * k + p];
            let brow = &b[p * n..(p + 1) * n];
            for (o, &bv) in orow.iter_mut().zip(brow) {
                *o = *o + av * bv;
            }
        }
    }
}

/// `out[m×n] += a[m×k] · b[k×n]` in float32, with the wasm SIMD kernel
/// where there is one.
pub(crate) fn gemm_f32(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    if n == 1 {
        // One output column (a binary linear model as MatMul): a dot product
        // per row, in lanes; the tiled loops below would run a one-wide
        // inner loop.
        for (o, row) in out.iter_mut().zip(a.chunks_exact(k.max(1))).take(m) {
            *o += glassbox_guest::ops::dot32(row, &b[..k]);
        }
        return;
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::gemm(a, b, out, m, k, n);
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    gemm_into(a, b, out, m, k, n);
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    /// Calls `step` for 0..k in order, two steps per loop iteration: the
    /// host checks its deadline at every loop header, and in the GEMM's
    /// inner loop, the hottest of a neural network, that check was a large
    /// share of a step (with the unchecked loads of `a`: digits_mlp batches
    /// 330 k -> 450 k rows/s; four steps measured no better).
    #[inline(always)]
    fn by_two(k: usize, mut step: impl FnMut(usize)) {
        let mut p = 0;
        while p + 2 <= k {
            step(p);
            step(p + 1);
            p += 2;
        }
        if p < k {
            step(p);
        }
    }

    /// A register-blocked float32 GEMM for wasm SIMD: tiles of 4 rows × 8
    /// columns of `out` are kept in eight vector registers while `k` runs,
    /// so each element of `b` is loaded once per four rows and each
    /// accumulator is written once per tile (the plain loop loaded and
    /// stored a row of `out` for every element of `a`). Each output still
    /// sums its products in `k` order, as the portable loop does.
    pub(super) fn gemm(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
        assert!(a.len() >= m * k && b.len() >= k * n && out.len() >= m * n);
        let n8 = n / 8 * 8;
        let mut i = 0;
        while i + 4 <= m {
            let mut j = 0;
            while j < n8 {
                let mut acc = [f32x4_splat(0.0); 8];
                // One step of `k` for the tile.
                let step = |acc: &mut [v128; 8], p: usize| {
                    // SAFETY: p < k, j + 8 <= n, so p·n + j + 8 <= k·n <=
                    // b.len(), and (i + 3)·k + p < m·k <= a.len() (both
                    // asserted); wasm loads need no alignment.
                    let (b0, b1) = unsafe {
                        let bp = b.as_ptr().add(p * n + j);
                        (
                            v128_load(bp.cast::<v128>()),
                            v128_load(bp.add(4).cast::<v128>()),
                        )
                    };
                    for r in 0..4 {
                        let av = f32x4_splat(unsafe { *a.as_ptr().add((i + r) * k + p) });
                        acc[2 * r] = f32x4_add(acc[2 * r], f32x4_mul(av, b0));
                        acc[2 * r + 1] = f32x4_add(acc[2 * r + 1], f32x4_mul(av, b1));
                    }
                };
                by_two(k, |p| step(&mut acc, p));
                for r in 0..4 {
                    let o = &mut out[(i + r) * n + j..(i + r) * n + j + 8];
                    // SAFETY: `o` has 8 elements; wasm loads and stores need
                    // no alignment.
                    unsafe {
                        let op = o.as_mut_ptr();
                        let o0 = v128_load(op.cast::<v128>());
                        let o1 = v128_load(op.add(4).cast::<v128>());
                        v128_store(op.cast::<v128>(), f32x4_add(o0, acc[2 * r]));
                        v128_store(op.add(4).cast::<v128>(), f32x4_add(o1, acc[2 * r + 1]));
                    }
                }
                j += 8;
            }
            // Four more columns in one register each (a 10-class linear
            // model has 8 + 2 columns, and the scalar loop below took as
            // long for its two columns as the vector loop for eight).
            if j + 4 <= n {
                let mut acc = [f32x4_splat(0.0); 4];
                for p in 0..k {
                    let bv = &b[p * n + j..p * n + j + 4];
                    // SAFETY: `bv` has four f32s; wasm loads need no alignment.
                    let bv = unsafe { v128_load(bv.as_ptr().cast::<v128>()) };
                    for (r, acc) in acc.iter_mut().enumerate() {
                        *acc = f32x4_add(*acc, f32x4_mul(f32x4_splat(a[(i + r) * k + p]), bv));
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    let o = &mut out[(i + r) * n + j..(i + r) * n + j + 4];
                    // SAFETY: `o` has four f32s; wasm loads and stores need
                    // no alignment.
                    unsafe {
                        let op = o.as_mut_ptr().cast::<v128>();
                        v128_store(op, f32x4_add(v128_load(op), *acc));
                    }
                }
                j += 4;
            }
            for r in i..i + 4 {
                for jj in j..n {
                    let mut s = 0.0;
                    for p in 0..k {
                        s += a[r * k + p] * b[p * n + jj];
                    }
                    out[r * n + jj] += s;
                }
            }
            i += 4;
        }
        // The rows left over (all of a one-row call), one at a time but the
        // way the tiles sum: each output's products added up from zero in
        // `k` order, then added to `out`. So a row's answer does not depend
        // on whether it fell in a tile, and the loop over `k` takes two
        // steps per iteration with no load or store of `out` (the portable
        // loop took one step and stored a row of `out` per step: digits_mlp
        // one row 9.3 µs).
        for r in i..m {
            let arow = &a[r * k..(r + 1) * k];
            let mut j = 0;
            while j + 4 <= n {
                let wide = j + 8 <= n;
                let mut acc = [f32x4_splat(0.0); 2];
                let step = |acc: &mut [v128; 2], p: usize| {
                    let av = f32x4_splat(arow[p]);
                    // SAFETY: p < k and j + 4 <= n (j + 8 <= n when `wide`),
                    // so the loads end within k·n <= b.len() (asserted);
                    // wasm loads need no alignment.
                    unsafe {
                        let bp = b.as_ptr().add(p * n + j);
                        acc[0] = f32x4_add(acc[0], f32x4_mul(av, v128_load(bp.cast::<v128>())));
                        if wide {
                            let b1 = v128_load(bp.add(4).cast::<v128>());
                            acc[1] = f32x4_add(acc[1], f32x4_mul(av, b1));
                        }
                    }
                };
                by_two(k, |p| step(&mut acc, p));
                let width = if wide { 8 } else { 4 };
                let o = &mut out[r * n + j..r * n + j + width];
                // SAFETY: `o` has `width` f32s; wasm loads and stores need
                // no alignment.
                unsafe {
                    let op = o.as_mut_ptr();
                    v128_store(
                        op.cast::<v128>(),
                        f32x4_add(v128_load(op.cast::<v128>()), acc[0]),
                    );
                    if wide {
                        let o1 = op.add(4).cast::<v128>();
                        v128_store(o1, f32x4_add(v128_load(o1), acc[1]));
                    }
                }
                j += width;
            }
            for jj in j..n {
                let mut s = 0.0;
                for p in 0..k {
                    s += arow[p] * b[p * n + jj];
                }
                out[r * n + jj] += s;
            }
        }
    }
}

/// A MatMul or Gemm whose constant right operand the host holds (constant
/// matrix `index` of the component, `k × n`): `A · B` by the host, then
/// Gemm's `alpha` and `C` here, as [`Gemm`] applies them. Inputs it was not
/// planned for (not a float32 matrix of `k` columns) go to the node's own
/// kernel.
pub(crate) fn host_product(
    index: u32,
    k: usize,
    n: usize,
    product: Product,
    fallback: Box<dyn Kernel>,
    weights: Vec<f32>,
) -> Box<dyn Kernel> {
    Box::new(HostGemm {
        index,
        k,
        n,
        product,
        fallback,
        weights,
    })
}

#[derive(Clone, Debug)]
struct HostGemm {
    index: u32,
    k: usize,
    n: usize,
    product: Product,
    fallback: Box<dyn Kernel>,
    /// The weights, natively only (see [`super::host_multiply`]).
    weights: Vec<f32>,
}

impl Kernel for HostGemm {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let a = tensor(inputs, 0, "A")?;
        let (Data::F32(x), &[m, k]) = (&a.data, &a.shape[..]) else {
            return self.fallback.run(inputs);
        };
        if k != self.k {
            return self.fallback.run(inputs);
        }
        let n = self.n;
        let mut out = super::host_multiply(self.index, self.k, n, &self.weights, m, x)?;
        let Product { alpha, beta, .. } = self.product;
        if alpha != 1.0 {
            out.iter_mut().for_each(|v| *v *= alpha);
        }
        if let Some(c) = opt_tensor(inputs, 2, "C")? {
            let cv: Vec<f32> = match &c.data {
                Data::F32(v) => v.clone(),
                Data::F64(v) => v.iter().map(|&x| x as f32).collect(),
                Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
                _ => return Err("C must be numeric".into()),
            };
            add_c(&mut out, m, n, beta, &cv, &c.shape)?;
        }
        Ok(vec![Tensor::f32(vec![m, n], out).into()])
    }
}

/// Gemm's `out[m×n] += beta · C`, `C` (values `cv` of shape `c_shape`)
/// broadcast to `[m, n]`.
fn add_c<T>(out: &mut [T], m: usize, n: usize, beta: T, cv: &[T], c_shape: &[usize]) -> R<()>
where
    T: Copy + std::ops::AddAssign + std::ops::Mul<Output = T>,
{
    let shape = [m, n];
    broadcast_shape(&[&shape, c_shape])
        .ok()
        .filter(|s| s[..] == shape)
        .ok_or_else(|| format!("C of shape {c_shape:?} does not broadcast to [{m}, {n}]"))?;
    let ic = Ix::new(&shape, c_shape);
    for (i, o) in out.iter_mut().enumerate() {
        *o += beta * cv[ic.at(i)];
    }
    Ok(())
}

#[derive(Clone, Debug)]
struct MatMul;

impl Kernel for MatMul {
    fn product(&self) -> Option<Product> {
        Some(Product {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: false,
        })
    }

    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let a = tensor(inputs, 0, "A")?;
        let b = tensor(inputs, 1, "B")?;
        // Promote 1-D operands as numpy does, and drop the added dimension after.
        let (mut ash, mut bsh) = (a.shape.clone(), b.shape.clone());
        if ash.is_empty() || bsh.is_empty() {
            return Err("MatMul needs operands of rank 1 or more".into());
        }
        let a1 = ash.len() == 1;
        let b1 = bsh.len() == 1;
        if a1 {
            ash.insert(0, 1);
        }
        if b1 {
            bsh.push(1);
        }
        let (m, k) = (ash[ash.len() - 2], ash[ash.len() - 1]);
        let (k2, n) = (bsh[bsh.len() - 2], bsh[bsh.len() - 1]);
        if k != k2 {
            return Err(format!(
                "shapes {:?} and {:?} do not chain (inner dimensions {k} and {k2})",
                a.shape, b.shape
            ));
        }
        let abatch = &ash[..ash.len() - 2];
        let bbatch = &bsh[..bsh.len() - 2];
        let batch = broadcast_shape(&[abatch, bbatch])?;
        let nb: usize = batch.iter().product();
        let (ia, ib) = (Ix::new(&batch, abatch), Ix::new(&batch, bbatch));
        let mut shape = batch.clone();
        if !a1 {
            shape.push(m);
        }
        if !b1 {
            shape.push(n);
        }
        macro_rules! go {
            ($x:expr, $y:expr, $zero:expr, $ctor:path) => {{
                let mut out = vec![$zero; nb * m * n];
                for i in 0..nb {
                    let (oa, ob) = (ia.at(i) * m * k, ib.at(i) * k * n);
                    gemm_into(
                        &$x[oa..oa + m * k],
                        &$y[ob..ob + k * n],
                        &mut out[i * m * n..(i + 1) * m * n],
                        m,
                        k,
                        n,
                    );
                }
                $ctor(out)
            }};
        }
        let data = match (&a.data, &b.data) {
            (Data::F32(x), Data::F32(y)) => {
                let mut out = vec![0f32; nb * m * n];
                for i in 0..nb {
                    let (oa, ob) = (ia.at(i) * m * k, ib.at(i) * k * n);
                    gemm_f32(
                        &x[oa..oa + m * k],
                        &y[ob..ob + k * n],
                        &mut out[i * m * n..(i + 1) * m * n],
                        m,
                        k,
                        n,
                    );
                }
                Data::F32(out)
            }
            (Data::F64(x), Data::F64(y)) => go!(x, y, 0f64, Data::F64),
            (Data::I64(x), Data::I64(y)) => go!(x, y, 0i64, Data::I64),
            _ => return Err(type_mismatch(a, b)),
        };
        Ok(vec![Tensor { shape, data }.into()])
    }
}

#[derive(Clone, Debug)]
struct Gemm {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
}

fn transpose<T: Copy>(v: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    for c in 0..cols {
        for r in 0..rows {
            out.push(v[r * cols + c]);
        }
    }
    out
}

impl Kernel for Gemm {
    fn product(&self) -> Option<Product> {
        Some(Product {
            alpha: self.alpha,
            beta: self.beta,
            trans_a: self.trans_a,
            trans_b: self.trans_b,
        })
    }

    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let a = tensor(inputs, 0, "A")?;
        let b = tensor(inputs, 1, "B")?;
        let c = opt_tensor(inputs, 2, "C")?;
        if a.shape.len() != 2 || b.shape.len() != 2 {
            return Err(format!(
                "Gemm needs 2-D A and B, got {:?} and {:?}",
                a.shape, b.shape
            ));
        }
        let (m, k) = if self.trans_a {
            (a.shape[1], a.shape[0])
        } else {
            (a.shape[0], a.shape[1])
        };
        let (k2, n) = if self.trans_b {
            (b.shape[1], b.shape[0])
        } else {
            (b.shape[0], b.shape[1])
        };
        if k != k2 {
            return Err(format!(
                "A {:?} and B {:?} do not chain after transposition",
                a.shape, b.shape
            ));
        }
        macro_rules! go {
            ($x:expr, $y:expr, $t:ty, $ctor:path) => {{
                let x: Vec<$t> = if self.trans_a {
                    transpose($x, a.shape[0], a.shape[1])
                } else {
                    $x.to_vec()
                };
                let y: Vec<$t> = if self.trans_b {
                    transpose($y, b.shape[0], b.shape[1])
                } else {
                    $y.to_vec()
                };
                let mut out = vec![0 as $t; m * n];
                gemm_into(&x, &y, &mut out, m, k, n);
                let alpha = self.alpha as $t;
                out.iter_mut().for_each(|v| *v *= alpha);
                if let Some(c) = c {
                    let cv: Vec<$t> = match &c.data {
                        Data::F32(v) => v.iter().map(|&x| x as $t).collect(),
                        Data::F64(v) => v.iter().map(|&x| x as $t).collect(),
                        Data::I64(v) => v.iter().map(|&x| x as $t).collect(),
                        _ => return Err("C must be numeric".into()),
                    };
                    add_c(&mut out, m, n, self.beta as $t, &cv, &c.shape)?;
                }
                $ctor(out)
            }};
        }
        let data = match (&a.data, &b.data) {
            (Data::F32(x), Data::F32(y)) => go!(x, y, f32, Data::F32),
            (Data::F64(x), Data::F64(y)) => go!(x, y, f64, Data::F64),
            (Data::I64(x), Data::I64(y)) => go!(x, y, i64, Data::I64),
            _ => return Err(type_mismatch(a, b)),
        };
        Ok(vec![
            Tensor {
                shape: vec![m, n],
                data,
            }
            .into(),
        ])
    }
}

// ---------------------------------------------------------------- along an axis

#[derive(Clone, Debug)]
struct Softmax {
    axis: i64,
    legacy: bool,
}

impl Kernel for Softmax {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "input")?;
        let ax = axis(self.axis, t.shape.len())?;
        let (outer, n, inner) = if self.legacy {
            // Before opset 13 the input is read as a matrix split at `axis`.
            let rows = t.shape[..ax].iter().product();
            (rows, t.shape[ax..].iter().product(), 1)
        } else {
            split(&t.shape, ax)
        };
        macro_rules! go {
            ($v:expr, $t:ty) => {{
                let mut out = $v.clone();
                for o in 0..outer {
                    for i in 0..inner {
                        let at = |k: usize| o * n * inner + k * inner + i;
                        let max = (0..n).map(|k| out[at(k)]).fold(<$t>::MIN, <$t>::max);
                        let mut sum = 0.0;
                        for k in 0..n {
                            let e = (out[at(k)] - max).fexp();
                            out[at(k)] = e;
                            sum += e;
                        }
                        for k in 0..n {
                            out[at(k)] /= sum;
                        }
                    }
                }
                out
            }};
        }
        let data = match &t.data {
            Data::F32(v) => Data::F32(go!(v, f32)),
            Data::F64(v) => Data::F64(go!(v, f64)),
            _ => return Err(format!("Softmax of a {} tensor", t.elem_type())),
        };
        Ok(vec![
            Tensor {
                shape: t.shape.clone(),
                data,
            }
            .into(),
        ])
    }
}

#[derive(Clone, Debug)]
struct ArgExt {
    max: bool,
    axis: i64,
    keepdims: bool,
    last: bool,
}

impl Kernel for ArgExt {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "data")?;
        let ax = axis(self.axis, t.shape.len())?;
        let (outer, n, inner) = split(&t.shape, ax);
        if n == 0 {
            return Err("ArgMax/ArgMin over an empty axis".into());
        }
        let v = t.data.to_f64();
        if matches!(t.data, Data::Str(_) | Data::Bool(_)) {
            return Err(format!("ArgMax/ArgMin of a {} tensor", t.elem_type()));
        }
        let mut out = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let mut best = 0usize;
                let mut bv = v[o * n * inner + i];
                for k in 1..n {
                    let x = v[o * n * inner + k * inner + i];
                    let better = if self.max { x > bv } else { x < bv };
                    // Ties go to the first index, or the last with select_last_index.
                    if better || (self.last && x == bv) {
                        best = k;
                        bv = x;
                    }
                }
                out.push(best as i64);
            }
        }
        let mut shape = t.shape.clone();
        if self.keepdims {
            shape[ax] = 1;
        } else {
            shape.remove(ax);
        }
        Ok(vec![Tensor::i64(shape, out).into()])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Red {
    Sum,
    Prod,
    Mean,
    Max,
    Min,
    LogSumExp,
    SumSquare,
    L1,
    L2,
    LogSum,
}

#[derive(Clone, Debug)]
struct Reduce {
    kind: Red,
    /// From the attribute (older opsets); `None` means from input 1.
    axes: Option<Vec<i64>>,
    keepdims: bool,
    noop_empty: bool,
}

impl Kernel for Reduce {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "data")?;
        let rank = t.shape.len();
        let axes: Vec<i64> = match &self.axes {
            Some(a) => a.clone(),
            None => match opt_tensor(inputs, 1, "axes")? {
                Some(a) => a.data.to_i64(),
                None => Vec::new(),
            },
        };
        if axes.is_empty() && self.noop_empty {
            return Ok(vec![t.clone().into()]);
        }
        let mut reduced = vec![axes.is_empty(); rank];
        for a in &axes {
            reduced[axis(*a, rank)?] = true;
        }
        let v = match &t.data {
            Data::F32(_) | Data::F64(_) | Data::I64(_) => t.data.to_f64(),
            _ => return Err(format!("reducing a {} tensor", t.elem_type())),
        };
        // Output strides, zero on reduced axes.
        let out_dims: Vec<usize> = t
            .shape
            .iter()
            .zip(&reduced)
            .map(|(&d, &r)| if r { 1 } else { d })
            .collect();
        let out_n: usize = out_dims.iter().product();
        let mut strides = vec![0usize; rank];
        let mut s = 1;
        for d in (0..rank).rev() {
            strides[d] = if reduced[d] { 0 } else { s };
            s *= out_dims[d];
        }
        let target: Vec<usize> = {
            let mut idx = vec![0usize; rank];
            let mut m = Vec::with_capacity(v.len());
            for _ in 0..v.len() {
                m.push(idx.iter().zip(&strides).map(|(i, s)| i * s).sum());
                for d in (0..rank).rev() {
                    idx[d] += 1;
                    if idx[d] < t.shape[d] {
                        break;
                    }
                    idx[d] = 0;
                }
            }
            m
        };
        let count = v.len().checked_div(out_n).unwrap_or(0);
        let mut out = match self.kind {
            Red::Max | Red::LogSumExp => vec![f64::NEG_INFINITY; out_n],
            Red::Min => vec![f64::INFINITY; out_n],
            Red::Prod => vec![1.0; out_n],
            _ => vec![0.0; out_n],
        };
        match self.kind {
            Red::Sum | Red::Mean | Red::LogSum => {
                v.iter().zip(&target).for_each(|(x, &o)| out[o] += x)
            }
            Red::SumSquare | Red::L2 => v.iter().zip(&target).for_each(|(x, &o)| out[o] += x * x),
            Red::L1 => v.iter().zip(&target).for_each(|(x, &o)| out[o] += x.abs()),
            Red::Prod => v.iter().zip(&target).for_each(|(x, &o)| out[o] *= x),
            Red::Max => v
                .iter()
                .zip(&target)
                .for_each(|(&x, &o)| out[o] = if x.is_nan() { x } else { out[o].max(x) }),
            Red::Min => v
                .iter()
                .zip(&target)
                .for_each(|(&x, &o)| out[o] = if x.is_nan() { x } else { out[o].min(x) }),
            // In float32 for a float32 tensor, as onnxruntime computes it:
            // in double precision the answers of a naive Bayes classifier
            // over 64 features drifted 2e-5 from onnxruntime's.
            Red::LogSumExp if matches!(t.data, Data::F32(_)) => {
                let mut max = vec![f32::NEG_INFINITY; out_n];
                let v32 = t.data.to_f32();
                v32.iter()
                    .zip(&target)
                    .for_each(|(&x, &o)| max[o] = if x > max[o] { x } else { max[o] });
                let mut sum = vec![0f32; out_n];
                v32.iter()
                    .zip(&target)
                    .for_each(|(&x, &o)| sum[o] += (x - max[o]).exp());
                for o in 0..out_n {
                    out[o] = f64::from(sum[o].ln() + max[o]);
                }
            }
            Red::LogSumExp => {
                let mut max = vec![f64::NEG_INFINITY; out_n];
                v.iter()
                    .zip(&target)
                    .for_each(|(&x, &o)| max[o] = max[o].max(x));
                let mut sum = vec![0.0; out_n];
                v.iter()
                    .zip(&target)
                    .for_each(|(&x, &o)| sum[o] += (x - max[o]).exp());
                for o in 0..out_n {
                    out[o] = sum[o].ln() + max[o];
                }
            }
        }
        match self.kind {
            Red::Mean => out.iter_mut().for_each(|x| *x /= count as f64),
            Red::L2 => out.iter_mut().for_each(|x| *x = x.sqrt()),
            Red::LogSum => out.iter_mut().for_each(|x| *x = x.ln()),
            _ => {}
        }
        let shape: Vec<usize> = if self.keepdims {
            out_dims
        } else {
            t.shape
                .iter()
                .zip(&reduced)
                .filter(|(_, r)| !**r)
                .map(|(d, _)| *d)
                .collect()
        };
        let data = match t.data {
            Data::F32(_) => Data::F32(out.iter().map(|&x| x as f32).collect()),
            Data::I64(_) => Data::I64(out.iter().map(|&x| x as i64).collect()),
            _ => Data::F64(out),
        };
        Ok(vec![Tensor { shape, data }.into()])
    }
}

// ---------------------------------------------------------------- types

/// Integer types narrower than 64 bits: values wrap into their range on Cast.
#[derive(Clone, Copy, Debug)]
enum Wrap {
    None,
    I32,
    I16,
    I8,
    U8,
    U16,
    U32,
}

impl Wrap {
    fn of(code: i32) -> Wrap {
        use crate::proto::DataType as D;
        match D::try_from(code) {
            Ok(D::Int32) => Wrap::I32,
            Ok(D::Int16) => Wrap::I16,
            Ok(D::Int8) => Wrap::I8,
            Ok(D::Uint8) => Wrap::U8,
            Ok(D::Uint16) => Wrap::U16,
            Ok(D::Uint32) => Wrap::U32,
            _ => Wrap::None,
        }
    }

    fn apply(self, v: i64) -> i64 {
        match self {
            Wrap::None => v,
            Wrap::I32 => i64::from(v as i32),
            Wrap::I16 => i64::from(v as i16),
            Wrap::I8 => i64::from(v as i8),
            Wrap::U8 => i64::from(v as u8),
            Wrap::U16 => i64::from(v as u16),
            Wrap::U32 => i64::from(v as u32),
        }
    }
}

#[derive(Clone, Debug)]
struct Cast {
    to: ElemType,
    wrap: Wrap,
}

/// How a float is written when cast to a string: the shortest form that
/// reads back to the same value; NaN and infinities as onnxruntime spells them.
fn float_to_string(x: f64, single: bool) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "INF".into() } else { "-INF".into() }
    } else {
        printf_g(x, if single { 8 } else { 17 })
    }
}

/// C's `%.{precision}g`: the shorter of fixed and scientific notation for
/// `precision` significant digits, trailing zeros removed.
fn printf_g(x: f64, precision: usize) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{:.*e}", precision - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= precision as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        trim(&format!("{x:.decimals$}"))
    }
}

pub(crate) fn cast(t: &Tensor, to: ElemType) -> Tensor {
    let data = match to {
        ElemType::F32 => Data::F32(t.data.to_f32()),
        ElemType::F64 => Data::F64(t.data.to_f64()),
        ElemType::I64 => Data::I64(t.data.to_i64()),
        ElemType::Bool => Data::Bool(match &t.data {
            Data::Str(v) => v
                .iter()
                .map(|s| {
                    let f = s.trim().parse::<f64>().unwrap_or(f64::NAN);
                    f != 0.0
                })
                .collect(),
            Data::Bool(v) => v.clone(),
            d => d.to_f64().iter().map(|&x| x != 0.0).collect(),
        }),
        ElemType::Str => Data::Str(match &t.data {
            Data::Str(v) => v.clone(),
            Data::F32(v) => v
                .iter()
                .map(|&x| float_to_string(f64::from(x), true))
                .collect(),
            Data::F64(v) => v.iter().map(|&x| float_to_string(x, false)).collect(),
            Data::I64(v) => v.iter().map(|x| x.to_string()).collect(),
            Data::Bool(v) => v.iter().map(|&b| (u8::from(b)).to_string()).collect(),
        }),
    };
    Tensor {
        shape: t.shape.clone(),
        data,
    }
}

impl Kernel for Cast {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "input")?;
        let mut out = cast(t, self.to);
        if let Data::I64(v) = &mut out.data {
            v.iter_mut().for_each(|x| *x = self.wrap.apply(*x));
        }
        Ok(vec![out.into()])
    }
}

// ---------------------------------------------------------------- shapes

#[derive(Clone, Debug)]
struct Concat {
    axis: i64,
}

impl Kernel for Concat {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let parts: Vec<&Tensor> = (0..inputs.len())
            .map(|i| tensor(inputs, i, "inputs"))
            .collect::<R<_>>()?;
        let first = parts.first().ok_or("Concat of no inputs")?;
        let rank = first.shape.len();
        let ax = axis(self.axis, rank)?;
        let mut shape = first.shape.clone();
        shape[ax] = 0;
        for p in &parts {
            if p.shape.len() != rank
                || p.elem_type() != first.elem_type()
                || p.shape
                    .iter()
                    .enumerate()
                    .any(|(i, &d)| i != ax && d != first.shape[i])
            {
                return Err(format!(
                    "cannot concatenate {} {:?} with {} {:?} on axis {ax}",
                    first.elem_type(),
                    first.shape,
                    p.elem_type(),
                    p.shape
                ));
            }
            shape[ax] += p.shape[ax];
        }
        let outer: usize = first.shape[..ax].iter().product();
        let total: usize = shape.iter().product();
        let mut data = first.data.empty_like(total);
        for o in 0..outer {
            for p in &parts {
                let chunk: usize = p.shape[ax..].iter().product();
                data.extend_from(&p.data, o * chunk..(o + 1) * chunk);
            }
        }
        Ok(vec![Tensor { shape, data }.into()])
    }
}

fn shape_input(inputs: &[Option<&Value>], i: usize, what: &str) -> R<Vec<i64>> {
    let t = tensor(inputs, i, what)?;
    match &t.data {
        Data::I64(v) => Ok(v.clone()),
        _ => Err(format!(
            "input `{what}` must be int64, got {}",
            t.elem_type()
        )),
    }
}

/// The same elements under a new shape (Reshape, Flatten, Squeeze,
/// Unsqueeze).
fn reshaped(t: &Tensor, shape: Vec<usize>) -> R<Vec<Value>> {
    Ok(vec![
        Tensor {
            shape,
            data: t.data.clone(),
        }
        .into(),
    ])
}

#[derive(Clone, Debug)]
struct Reshape {
    allowzero: bool,
}

impl Kernel for Reshape {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "data")?;
        let spec = shape_input(inputs, 1, "shape")?;
        let mut shape = Vec::with_capacity(spec.len());
        let mut infer = None;
        for (i, &d) in spec.iter().enumerate() {
            match d {
                -1 if infer.is_none() => {
                    infer = Some(i);
                    shape.push(1);
                }
                0 if !self.allowzero => shape.push(
                    *t.shape
                        .get(i)
                        .ok_or_else(|| format!("shape {spec:?}: no dimension {i} to copy"))?,
                ),
                d if d >= 0 => shape.push(d as usize),
                _ => return Err(format!("invalid target shape {spec:?}")),
            }
        }
        if let Some(i) = infer {
            let known: usize = shape.iter().product();
            if known == 0 || !t.len().is_multiple_of(known) {
                return Err(format!(
                    "cannot reshape {:?} ({} elements) to {spec:?}",
                    t.shape,
                    t.len()
                ));
            }
            shape[i] = t.len() / known;
        }
        if shape.iter().product::<usize>() != t.len() {
            return Err(format!("cannot reshape {:?} to {spec:?}", t.shape));
        }
        reshaped(t, shape)
    }
}

#[derive(Clone, Debug)]
struct Flatten {
    axis: i64,
}

impl Kernel for Flatten {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "input")?;
        let rank = t.shape.len() as i64;
        let a = if self.axis < 0 {
            self.axis + rank
        } else {
            self.axis
        };
        if !(0..=rank).contains(&a) {
            return Err(format!("axis {} out of range for rank {rank}", self.axis));
        }
        let a = a as usize;
        let shape = vec![t.shape[..a].iter().product(), t.shape[a..].iter().product()];
        reshaped(t, shape)
    }
}

#[derive(Clone, Debug)]
struct Squeeze {
    axes: Option<Vec<i64>>,
}

impl Kernel for Squeeze {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "data")?;
        let axes = match &self.axes {
            Some(a) => Some(a.clone()),
            None => opt_tensor(inputs, 1, "axes")?.map(|a| a.data.to_i64()),
        };
        let rank = t.shape.len();
        let mut drop = vec![false; rank];
        match axes {
            Some(axes) => {
                for a in axes {
                    let a = axis(a, rank)?;
                    if t.shape[a] != 1 {
                        return Err(format!("cannot squeeze axis {a} of size {}", t.shape[a]));
                    }
                    drop[a] = true;
                }
            }
            None => drop
                .iter_mut()
                .zip(&t.shape)
                .for_each(|(d, &s)| *d = s == 1),
        }
        let shape = t
            .shape
            .iter()
            .zip(&drop)
            .filter(|(_, d)| !**d)
            .map(|(s, _)| *s)
            .collect();
        reshaped(t, shape)
    }
}

#[derive(Clone, Debug)]
struct Unsqueeze {
    axes: Option<Vec<i64>>,
}

impl Kernel for Unsqueeze {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "data")?;
        let axes = match &self.axes {
            Some(a) => a.clone(),
            None => shape_input(inputs, 1, "axes")?,
        };
        let rank = t.shape.len() + axes.len();
        let mut at: Vec<usize> = axes.iter().map(|&a| axis(a, rank)).collect::<R<_>>()?;
        at.sort_unstable();
        if at.windows(2).any(|w| w[0] == w[1]) {
            return Err(format!("axes {axes:?} repeat"));
        }
        let mut shape = t.shape.clone();
        for a in at {
            shape.insert(a, 1);
        }
        reshaped(t, shape)
    }
}

#[derive(Clone, Debug)]
struct Gather {
    axis: i64,
}

impl Kernel for Gather {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "data")?;
        let idx = tensor(inputs, 1, "indices")?;
        let ax = axis(self.axis, t.shape.len())?;
        let (outer, n, inner) = split(&t.shape, ax);
        let picks: Vec<usize> = idx
            .data
            .to_i64()
            .into_iter()
            .map(|i| {
                let j = if i < 0 { i + n as i64 } else { i };
                if (0..n as i64).contains(&j) {
                    Ok(j as usize)
                } else {
                    Err(format!("index {i} is out of range for axis of size {n}"))
                }
            })
            .collect::<R<_>>()?;
        let mut elems = Vec::with_capacity(outer * picks.len() * inner);
        for o in 0..outer {
            for &p in &picks {
                let base = (o * n + p) * inner;
                elems.extend(base..base + inner);
            }
        }
        let mut shape = t.shape[..ax].to_vec();
        shape.extend(&idx.shape);
        shape.extend(&t.shape[ax + 1..]);
        Ok(vec![
            Tensor {
                shape,
                data: t.data.gather(&elems),
            }
            .into(),
        ])
    }
}

#[derive(Clone, Debug)]
struct Where;

impl Kernel for Where {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let c = tensor(inputs, 0, "condition")?;
        let x = tensor(inputs, 1, "X")?;
        let y = tensor(inputs, 2, "Y")?;
        let Data::Bool(cond) = &c.data else {
            return Err(format!("condition must be bool, got {}", c.elem_type()));
        };
        if x.elem_type() != y.elem_type() {
            return Err(type_mismatch(x, y));
        }
        let out = broadcast_shape(&[&c.shape, &x.shape, &y.shape])?;
        let n: usize = out.iter().product();
        let (ic, ix, iy) = (
            Ix::new(&out, &c.shape),
            Ix::new(&out, &x.shape),
            Ix::new(&out, &y.shape),
        );
        // Pick element indices from a concatenation of X and Y.
        let xn = x.len();
        let picks: Vec<usize> = (0..n)
            .map(|i| {
                if cond[ic.at(i)] {
                    ix.at(i)
                } else {
                    xn + iy.at(i)
                }
            })
            .collect();
        let mut both = x.data.empty_like(xn + y.len());
        both.extend_from(&x.data, 0..xn);
        both.extend_from(&y.data, 0..y.len());
        Ok(vec![
            Tensor {
                shape: out,
                data: both.gather(&picks),
            }
            .into(),
        ])
    }
}

#[derive(Clone, Debug)]
struct Clip {
    min: Option<f32>,
    max: Option<f32>,
}

impl Kernel for Clip {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "input")?;
        let lo = match opt_tensor(inputs, 1, "min")? {
            Some(m) => m.data.to_f64().first().copied(),
            None => self.min.map(f64::from),
        };
        let hi = match opt_tensor(inputs, 2, "max")? {
            Some(m) => m.data.to_f64().first().copied(),
            None => self.max.map(f64::from),
        };
        // Absent bounds are the type's extremes (as in onnxruntime), so
        // infinities clip to the largest finite value; NaN stays NaN.
        let clip = |x: f64, min: f64, max: f64| {
            let (l, h) = (lo.unwrap_or(min), hi.unwrap_or(max));
            if x < l {
                l
            } else if x > h {
                h
            } else {
                x
            }
        };
        let (f32min, f32max) = (f64::from(f32::MIN), f64::from(f32::MAX));
        let data = match &t.data {
            Data::F32(v) => Data::F32(
                v.iter()
                    .map(|&x| clip(f64::from(x), f32min, f32max) as f32)
                    .collect(),
            ),
            Data::F64(v) => Data::F64(v.iter().map(|&x| clip(x, f64::MIN, f64::MAX)).collect()),
            Data::I64(v) => Data::I64(
                v.iter()
                    .map(|&x| clip(x as f64, i64::MIN as f64, i64::MAX as f64) as i64)
                    .collect(),
            ),
            _ => return Err(format!("Clip of a {} tensor", t.elem_type())),
        };
        Ok(vec![
            Tensor {
                shape: t.shape.clone(),
                data,
            }
            .into(),
        ])
    }
}

#[derive(Clone, Debug)]
struct ShapeOp {
    start: i64,
    end: Option<i64>,
}

impl Kernel for ShapeOp {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "data")?;
        let r = t.shape.len() as i64;
        let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let (s, e) = (clamp(self.start), clamp(self.end.unwrap_or(r)));
        let dims: Vec<i64> = if s < e {
            t.shape[s..e].iter().map(|&d| d as i64).collect()
        } else {
            Vec::new()
        };
        Ok(vec![Tensor::i64(vec![dims.len()], dims).into()])
    }
}

#[derive(Clone, Debug)]
struct Constant(Tensor);

impl Kernel for Constant {
    fn run(&self, _: &[Option<&Value>]) -> R<Vec<Value>> {
        Ok(vec![self.0.clone().into()])
    }
}

#[derive(Clone, Debug)]
struct ConstantOfShape(Tensor);

impl Kernel for ConstantOfShape {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let dims = shape_input(inputs, 0, "input")?;
        let shape: Vec<usize> = dims
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
            .collect::<R<_>>()?;
        let n = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|&n| n <= super::MAX_ELEMENTS)
            .ok_or_else(|| format!("shape {dims:?} is larger than Glassbox allows"))?;
        Ok(vec![
            Tensor {
                shape,
                data: self.0.data.gather(&vec![0; n]),
            }
            .into(),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(shape: &[usize], v: &[f32]) -> Value {
        Tensor::f32(shape.to_vec(), v.to_vec()).into()
    }

    fn run1(k: &dyn Kernel, ins: &[&Value]) -> Tensor {
        let args: Vec<Option<&Value>> = ins.iter().map(|v| Some(*v)).collect();
        match k.run(&args).unwrap().remove(0) {
            Value::Tensor(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn add_broadcasts_rows_and_columns() {
        let a = f(&[2, 1], &[1.0, 2.0]);
        let b = f(&[1, 3], &[10.0, 20.0, 30.0]);
        let out = run1(&Binary(Bin::Add), &[&a, &b]);
        assert_eq!(out.shape, vec![2, 3]);
        assert_eq!(out.as_f32().unwrap(), &[11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
        let bad = f(&[2], &[1.0, 2.0]);
        let err = Binary(Bin::Add).run(&[Some(&b), Some(&bad)]).unwrap_err();
        assert!(err.contains("cannot be broadcast"), "{err}");
    }

    #[test]
    fn argmax_ties_take_the_first_index_unless_asked_for_the_last() {
        let x = f(&[2, 3], &[1.0, 3.0, 3.0, 2.0, 2.0, 2.0]);
        let first = ArgExt {
            max: true,
            axis: 1,
            keepdims: false,
            last: false,
        };
        assert_eq!(run1(&first, &[&x]).as_i64().unwrap(), &[1, 0]);
        let last = ArgExt {
            last: true,
            ..first
        };
        assert_eq!(run1(&last, &[&x]).as_i64().unwrap(), &[2, 2]);
    }

    #[test]
    fn softmax_rows_sum_to_one() {
        let x = f(&[2, 2], &[0.0, 0.0, 1000.0, 0.0]);
        let out = run1(
            &Softmax {
                axis: -1,
                legacy: false,
            },
            &[&x],
        );
        assert_eq!(out.as_f32().unwrap(), &[0.5, 0.5, 1.0, 0.0]);
    }

    #[test]
    fn matmul_chains_and_reports_mismatches() {
        let a = f(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = f(&[2, 1], &[1.0, 1.0]);
        assert_eq!(run1(&MatMul, &[&a, &b]).as_f32().unwrap(), &[3.0, 7.0]);
        let err = MatMul.run(&[Some(&b), Some(&b)]).unwrap_err();
        assert!(err.contains("do not chain"), "{err}");
    }

    #[test]
    fn gather_accepts_negative_indices() {
        let x = f(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let i: Value = Tensor::i64(vec![1], vec![-1]).into();
        let out = run1(&Gather { axis: 1 }, &[&x, &i]);
        assert_eq!(out.shape, vec![2, 1]);
        assert_eq!(out.as_f32().unwrap(), &[3.0, 6.0]);
    }

    #[test]
    fn reshape_copies_zero_and_infers_minus_one() {
        let x = f(&[2, 3], &[0.0; 6]);
        let s: Value = Tensor::i64(vec![2], vec![0, -1]).into();
        assert_eq!(
            run1(&Reshape { allowzero: false }, &[&x, &s]).shape,
            vec![2, 3]
        );
    }

    #[test]
    fn a_huge_constant_is_an_error_not_an_allocation() {
        let k = ConstantOfShape(Tensor::f32(vec![1], vec![0.0]));
        let shape: Value = Tensor::i64(vec![2], vec![1 << 20, 1 << 20]).into();
        let err = k.run(&[Some(&shape)]).unwrap_err();
        assert!(err.contains("larger than Glassbox allows"), "{err}");
    }

    #[test]
    fn reduce_log_sum_exp_is_stable() {
        let x = f(&[1, 2], &[1000.0, 1000.0]);
        let k = Reduce {
            kind: Red::LogSumExp,
            axes: Some(vec![1]),
            keepdims: false,
            noop_empty: false,
        };
        let out = run1(&k, &[&x]);
        assert!((out.as_f32().unwrap()[0] - (1000.0 + 2f32.ln())).abs() < 1e-3);
    }
}
