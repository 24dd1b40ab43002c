//! Operators that pick, reorder or test elements: Transpose, Slice, TopK,
//! IsNaN, IsInf, LpNormalization. Converters emit them around
//! one-vs-rest classifiers (Slice, LpNormalization), nearest neighbours
//! (TopK, Transpose) and missing-value indicators (IsNaN).
//!
//! None of them creates more elements than its input holds (TopK's `k` is
//! bounded by the axis), so a hostile shape cannot make them allocate more
//! than the graph already did.

use super::core::axis;
use super::{opt_tensor, tensor};
use crate::graph::{Attrs, Kernel};
use crate::tensor::{Data, Tensor, Value};

type R<T> = Result<T, String>;

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The flat indices of every element of the product of `picks` (one list
/// of positions per axis) in a tensor with `strides`, row-major.
fn product_indices(picks: &[Vec<usize>], strides: &[usize]) -> Vec<usize> {
    let mut out = vec![0usize];
    for (p, &s) in picks.iter().zip(strides) {
        let mut next = Vec::with_capacity(out.len() * p.len());
        for base in &out {
            next.extend(p.iter().map(|&i| base + i * s));
        }
        out = next;
    }
    out
}

#[derive(Clone, Debug)]
pub(super) struct Transpose {
    perm: Option<Vec<i64>>,
}

pub(super) fn transpose(a: &Attrs<'_>) -> Box<dyn Kernel> {
    Box::new(Transpose {
        perm: a.has("perm").then(|| a.ints("perm")),
    })
}

impl Kernel for Transpose {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "data")?;
        let rank = t.shape.len();
        let perm: Vec<usize> = match &self.perm {
            None => (0..rank).rev().collect(),
            Some(p) => {
                if p.len() != rank {
                    return Err(format!(
                        "perm has {} axes for a tensor of rank {rank}",
                        p.len()
                    ));
                }
                let p: Vec<usize> = p.iter().map(|&a| axis(a, rank)).collect::<R<_>>()?;
                let mut seen = vec![false; rank];
                for &a in &p {
                    if std::mem::replace(&mut seen[a], true) {
                        return Err(format!("perm names axis {a} twice"));
                    }
                }
                p
            }
        };
        let st = strides(&t.shape);
        let shape: Vec<usize> = perm.iter().map(|&a| t.shape[a]).collect();
        let picks: Vec<Vec<usize>> = shape.iter().map(|&n| (0..n).collect()).collect();
        let pst: Vec<usize> = perm.iter().map(|&a| st[a]).collect();
        let idx = product_indices(&picks, &pst);
        Ok(vec![
            Tensor {
                shape,
                data: t.data.gather(&idx),
            }
            .into(),
        ])
    }
}

/// Starts, ends and (optional) axes.
type Bounds = (Vec<i64>, Vec<i64>, Option<Vec<i64>>);

#[derive(Clone, Debug)]
pub(super) struct Slice {
    /// Before opset 10 the bounds are attributes.
    attrs: Option<Bounds>,
}

pub(super) fn slice(a: &Attrs<'_>, opset: i64) -> Box<dyn Kernel> {
    Box::new(Slice {
        attrs: (opset < 10).then(|| {
            (
                a.ints("starts"),
                a.ints("ends"),
                a.has("axes").then(|| a.ints("axes")),
            )
        }),
    })
}

impl Kernel for Slice {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "data")?;
        let rank = t.shape.len();
        let ints = |i: usize, what: &str| -> R<Option<Vec<i64>>> {
            Ok(opt_tensor(inputs, i, what)?.map(|t| t.data.to_i64()))
        };
        let (starts, ends, axes, steps) = match &self.attrs {
            Some((s, e, a)) => (s.clone(), e.clone(), a.clone(), None),
            None => (
                ints(1, "starts")?.ok_or("input 1 (starts) is missing")?,
                ints(2, "ends")?.ok_or("input 2 (ends) is missing")?,
                ints(3, "axes")?,
                ints(4, "steps")?,
            ),
        };
        if starts.len() != ends.len() {
            return Err(format!(
                "starts has {} entries, ends {}",
                starts.len(),
                ends.len()
            ));
        }
        let axes: Vec<usize> = match axes {
            Some(a) => a.iter().map(|&x| axis(x, rank)).collect::<R<_>>()?,
            None => (0..starts.len()).collect(),
        };
        if axes.len() != starts.len() {
            return Err(format!(
                "axes has {} entries, starts {}",
                axes.len(),
                starts.len()
            ));
        }
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if steps.len() != starts.len() {
            return Err(format!(
                "steps has {} entries, starts {}",
                steps.len(),
                starts.len()
            ));
        }
        let mut picks: Vec<Vec<usize>> = t.shape.iter().map(|&n| (0..n).collect()).collect();
        let mut seen = vec![false; rank];
        for k in 0..axes.len() {
            let ax = axes[k];
            if std::mem::replace(&mut seen[ax], true) {
                return Err(format!("axis {ax} is sliced twice"));
            }
            let n = t.shape[ax] as i64;
            let step = steps[k];
            if step == 0 {
                return Err("a step of 0".into());
            }
            // The ONNX rules: negative bounds count from the end, then
            // clamp to [0, n] going forwards and [-1, n-1] going backwards.
            let fix = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
            let (lo, hi) = if step > 0 { (0, n) } else { (-1, n - 1) };
            let start = fix(starts[k]).clamp(lo, hi);
            let end = fix(ends[k]).clamp(lo, hi);
            let mut p = Vec::new();
            let mut i = start;
            while (step > 0 && i < end) || (step < 0 && i > end) {
                p.push(i as usize);
                // A step of i64::MAX must end the loop, not overflow.
                i = i.saturating_add(step);
            }
            picks[ax] = p;
        }
        let shape: Vec<usize> = picks.iter().map(Vec::len).collect();
        let idx = product_indices(&picks, &strides(&t.shape));
        Ok(vec![
            Tensor {
                shape,
                data: t.data.gather(&idx),
            }
            .into(),
        ])
    }
}

#[derive(Clone, Debug)]
pub(super) struct TopK {
    axis: i64,
    largest: bool,
    /// Before opset 10, `k` is an attribute.
    k: Option<i64>,
}

pub(super) fn top_k(a: &Attrs<'_>, opset: i64) -> R<Box<dyn Kernel>> {
    // Unsorted output may come in any order; sorted is one such order,
    // and the one onnxruntime produces too.
    let _ = a.int("sorted");
    Ok(Box::new(TopK {
        axis: a.int("axis").unwrap_or(-1),
        largest: a.int("largest").unwrap_or(1) != 0,
        k: if opset < 10 {
            Some(a.int("k").ok_or("needs attribute `k`")?)
        } else {
            None
        },
    }))
}

impl Kernel for TopK {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "X")?;
        let k = match self.k {
            Some(k) => k,
            None => {
                let kt = tensor(inputs, 1, "K")?.data.to_i64();
                *kt.first().ok_or("input 1 (K) is empty")?
            }
        };
        let ax = axis(self.axis, t.shape.len())?;
        let n = t.shape.get(ax).copied().unwrap_or(1);
        let k = usize::try_from(k)
            .ok()
            .filter(|&k| k <= n)
            .ok_or_else(|| format!("K = {k} is outside 0..={n}, the size of axis {ax}"))?;
        let outer: usize = t.shape[..ax].iter().product();
        let inner: usize = t.shape[ax + 1..].iter().product();
        let values = t.data.to_f64();
        let mut idx_out = Vec::with_capacity(outer * k * inner);
        let mut elems = Vec::with_capacity(outer * k * inner);
        let mut order: Vec<usize> = Vec::with_capacity(n);
        let mut picked = vec![0usize; k * inner];
        for o in 0..outer {
            for i in 0..inner {
                order.clear();
                order.extend(0..n);
                let at = |j: usize| values[(o * n + j) * inner + i];
                // Ties go to the lower index, as in onnxruntime; NaN sorts
                // as the largest value (numpy's and onnxruntime's order).
                order.sort_by(|&a, &b| {
                    use std::cmp::Ordering::*;
                    let (x, y) = (at(a), at(b));
                    let c = match (x.is_nan(), y.is_nan()) {
                        (true, true) => Equal,
                        (true, false) => Greater,
                        (false, true) => Less,
                        _ => x.partial_cmp(&y).unwrap_or(Equal),
                    };
                    let c = if self.largest { c.reverse() } else { c };
                    c.then(a.cmp(&b))
                });
                for (r, &j) in order[..k].iter().enumerate() {
                    picked[r * inner + i] = j;
                }
            }
            for (p, &j) in picked.iter().enumerate() {
                let i = p % inner;
                idx_out.push(j as i64);
                elems.push((o * n + j) * inner + i);
            }
        }
        let mut shape = t.shape.clone();
        if let Some(s) = shape.get_mut(ax) {
            *s = k;
        }
        Ok(vec![
            Tensor {
                shape: shape.clone(),
                data: t.data.gather(&elems),
            }
            .into(),
            Tensor::i64(shape, idx_out).into(),
        ])
    }
}

/// IsNaN (`inf` is None) or IsInf (which infinities to detect).
#[derive(Clone, Debug)]
pub(super) struct Test {
    inf: Option<(bool, bool)>,
}

pub(super) fn is_nan() -> Box<dyn Kernel> {
    Box::new(Test { inf: None })
}

pub(super) fn is_inf(a: &Attrs<'_>) -> Box<dyn Kernel> {
    Box::new(Test {
        inf: Some((
            a.int("detect_negative").unwrap_or(1) != 0,
            a.int("detect_positive").unwrap_or(1) != 0,
        )),
    })
}

impl Kernel for Test {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "X")?;
        let test = |x: f64| match self.inf {
            None => x.is_nan(),
            Some((neg, pos)) => (neg && x == f64::NEG_INFINITY) || (pos && x == f64::INFINITY),
        };
        let out = match &t.data {
            Data::F32(v) => v.iter().map(|&x| test(f64::from(x))).collect(),
            Data::F64(v) => v.iter().map(|&x| test(x)).collect(),
            d => return Err(format!("X must be float or double, got {}", d.elem_type())),
        };
        Ok(vec![
            Tensor {
                shape: t.shape.clone(),
                data: Data::Bool(out),
            }
            .into(),
        ])
    }
}

#[derive(Clone, Debug)]
pub(super) struct LpNormalization {
    axis: i64,
    p: i64,
}

pub(super) fn lp_normalization(a: &Attrs<'_>) -> R<Box<dyn Kernel>> {
    let p = a.int("p").unwrap_or(2);
    if p != 1 && p != 2 {
        return Err(format!("p = {p}; LpNormalization takes 1 or 2"));
    }
    Ok(Box::new(LpNormalization {
        axis: a.int("axis").unwrap_or(-1),
        p,
    }))
}

impl Kernel for LpNormalization {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "input")?;
        let ax = axis(self.axis, t.shape.len())?;
        let n = t.shape.get(ax).copied().unwrap_or(1);
        let outer: usize = t.shape[..ax.min(t.shape.len())].iter().product();
        let inner: usize = t.shape.get(ax + 1..).map_or(1, |s| s.iter().product());
        macro_rules! go {
            ($v:expr, $t:ty) => {{
                let mut v = $v.clone();
                for o in 0..outer {
                    for i in 0..inner {
                        let at = |j: usize| (o * n + j) * inner + i;
                        let mut norm: $t = 0.0;
                        for j in 0..n {
                            let x = v[at(j)];
                            norm += if self.p == 1 { x.abs() } else { x * x };
                        }
                        if self.p == 2 {
                            norm = norm.sqrt();
                        }
                        // A zero vector stays zero (onnxruntime leaves it
                        // as it is rather than dividing by zero).
                        if norm != 0.0 {
                            for j in 0..n {
                                v[at(j)] /= norm;
                            }
                        }
                    }
                }
                v
            }};
        }
        let data = match &t.data {
            Data::F32(v) => Data::F32(go!(v, f32)),
            Data::F64(v) => Data::F64(go!(v, f64)),
            d => {
                return Err(format!(
                    "input must be float or double, got {}",
                    d.elem_type()
                ));
            }
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
pub(super) struct CumSum {
    exclusive: bool,
    reverse: bool,
}

pub(super) fn cum_sum(a: &Attrs<'_>) -> Box<dyn Kernel> {
    Box::new(CumSum {
        exclusive: a.int("exclusive").unwrap_or(0) != 0,
        reverse: a.int("reverse").unwrap_or(0) != 0,
    })
}

impl Kernel for CumSum {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "x")?;
        let ax = tensor(inputs, 1, "axis")?.data.to_i64();
        let ax = axis(*ax.first().ok_or("input 1 (axis) is empty")?, t.shape.len())?;
        let n = t.shape.get(ax).copied().unwrap_or(1);
        let outer: usize = t.shape[..ax.min(t.shape.len())].iter().product();
        let inner: usize = t.shape.get(ax + 1..).map_or(1, |s| s.iter().product());
        macro_rules! go {
            ($v:expr, $zero:expr, $add:expr) => {{
                let v = $v;
                let mut out = v.clone();
                for o in 0..outer {
                    for i in 0..inner {
                        let mut acc = $zero;
                        for step in 0..n {
                            let j = if self.reverse { n - 1 - step } else { step };
                            let at = (o * n + j) * inner + i;
                            if self.exclusive {
                                out[at] = acc;
                                acc = $add(acc, v[at]);
                            } else {
                                acc = $add(acc, v[at]);
                                out[at] = acc;
                            }
                        }
                    }
                }
                out
            }};
        }
        let data = match &t.data {
            Data::F32(v) => Data::F32(go!(v, 0f32, |a: f32, b| a + b)),
            Data::F64(v) => Data::F64(go!(v, 0f64, |a: f64, b| a + b)),
            // Integers wrap, as in onnxruntime, rather than overflow.
            Data::I64(v) => Data::I64(go!(v, 0i64, i64::wrapping_add)),
            d => return Err(format!("x must be numeric, got {}", d.elem_type())),
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
pub(super) struct GatherElements {
    axis: i64,
}

pub(super) fn gather_elements(a: &Attrs<'_>) -> Box<dyn Kernel> {
    Box::new(GatherElements {
        axis: a.int("axis").unwrap_or(0),
    })
}

impl Kernel for GatherElements {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let t = tensor(inputs, 0, "data")?;
        let idx = tensor(inputs, 1, "indices")?;
        let rank = t.shape.len();
        if idx.shape.len() != rank {
            return Err(format!(
                "indices have rank {}, data rank {rank}",
                idx.shape.len()
            ));
        }
        let ax = axis(self.axis, rank)?;
        if idx
            .shape
            .iter()
            .zip(&t.shape)
            .enumerate()
            .any(|(d, (&i, &s))| d != ax && i > s)
        {
            return Err(format!(
                "indices of shape {:?} do not fit data of shape {:?}",
                idx.shape, t.shape
            ));
        }
        let st = strides(&t.shape);
        let ist = strides(&idx.shape);
        let n = t.shape[ax] as i64;
        let values = idx.data.to_i64();
        let mut elems = Vec::with_capacity(values.len());
        for (flat, &k) in values.iter().enumerate() {
            let k = if k < 0 { k + n } else { k };
            if !(0..n).contains(&k) {
                return Err(format!("index {k} is out of range for axis of size {n}"));
            }
            // The element's position in `indices`, with axis `ax` replaced.
            let mut at = 0;
            let mut rest = flat;
            for d in 0..rank {
                let coord = rest / ist[d];
                rest %= ist[d];
                at += if d == ax { k as usize } else { coord } * st[d];
            }
            elems.push(at);
        }
        Ok(vec![
            Tensor {
                shape: idx.shape.clone(),
                data: t.data.gather(&elems),
            }
            .into(),
        ])
    }
}
