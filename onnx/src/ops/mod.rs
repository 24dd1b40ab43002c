//! Operator kernels, from the ONNX and ONNX-ML operator specifications.
//!
//! Where a specification leaves a case open (the binary forms of the ML
//! classifiers, mostly) the kernels do what onnxruntime does, because that is
//! what exported pipelines were validated against; each such place says so.

mod core;

pub(crate) use core::{cast, host_product};
mod ml;
pub(crate) mod scan;
mod shape;
mod svm;
mod tree;

use super::graph::{Attrs, Kernel, Opsets};
use super::tensor::{Tensor, Value};

thread_local! {
    /// The host matrices this instance has asked for, by index: one
    /// `constant` call per matrix and instance, not per call.
    static MATRICES: std::cell::RefCell<Vec<Option<std::rc::Rc<glassbox_guest::linalg::Matrix>>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// `a · W` (`a` of `m` rows, `W` the `k × n` weights) as the host computes
/// it: in wasm, the host's constant matrix `index`; natively (the compile's
/// check, unit tests), the SDK's implementation of the same arithmetic on
/// `weights`, which the native plan keeps for the purpose.
pub(crate) fn host_multiply(
    index: u32,
    k: usize,
    n: usize,
    weights: &[f32],
    m: usize,
    a: &[f32],
) -> Result<Vec<f32>, String> {
    #[cfg(target_arch = "wasm32")]
    let product = {
        let _ = weights;
        host_matrix(index, k, n)?.left_multiply(m, a)
    };
    #[cfg(not(target_arch = "wasm32"))]
    let product = {
        let _ = index;
        glassbox_guest::linalg::Matrix::new(k, n, weights).and_then(|w| w.left_multiply(m, a))
    };
    product.map_err(|e| format!("the host's product: {e:?}"))
}

/// Whether a plan keeps the weights it hands to the host: natively, where
/// [`host_multiply`] computes with them; not in wasm, where the host holds
/// them and a compiled model's memory should not.
pub(crate) const KEEP_HOST_WEIGHTS: bool = !cfg!(target_arch = "wasm32");

/// The host's constant matrix `index`, which the plan expects `k × n`.
#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "natively, products use the kept weights")
)]
pub(crate) fn host_matrix(
    index: u32,
    k: usize,
    n: usize,
) -> Result<std::rc::Rc<glassbox_guest::linalg::Matrix>, String> {
    let i = index as usize;
    if let Some(Some(m)) = MATRICES.with(|c| c.borrow().get(i).cloned()) {
        return Ok(m);
    }
    let m = glassbox_guest::linalg::Matrix::constant(index)
        .map_err(|e| format!("the host's matrix {index}: {e:?}"))?;
    if (m.rows(), m.cols()) != (k, n) {
        return Err(format!(
            "the host's matrix {index} is {} × {}, the plan's {k} × {n}",
            m.rows(),
            m.cols()
        ));
    }
    let m = std::rc::Rc::new(m);
    MATRICES.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() <= i {
            c.resize(i + 1, None);
        }
        c[i] = Some(m.clone());
    });
    Ok(m)
}

/// Builds the kernel of one node, or says why it cannot be run.
pub fn build(
    domain: &str,
    op: &str,
    attrs: &Attrs<'_>,
    opsets: Opsets,
) -> Result<Box<dyn Kernel>, String> {
    match domain {
        "ai.onnx" => core::build(op, attrs, opsets.core),
        "ai.onnx.ml" => match op {
            "TreeEnsembleClassifier" => tree::build(attrs, true),
            "TreeEnsembleRegressor" => tree::build(attrs, false),
            "TreeEnsemble" => tree::build_unified(attrs),
            "SVMClassifier" => svm::build_classifier(attrs),
            "SVMRegressor" => svm::build_regressor(attrs),
            _ => ml::build(op, attrs, opsets.ml),
        },
        other => Err(format!(
            "operator `{op}` of domain `{other}` is not supported (Glassbox implements the ai.onnx and ai.onnx.ml domains)"
        )),
    }
}

/// The most elements an operator may create from a shape it is given
/// (ConstantOfShape, CastMap): 256 Mi, a gigabyte of floats. A file asking
/// for more gets an error, not an allocation that takes the process down.
pub(crate) const MAX_ELEMENTS: usize = 1 << 28;

/// Input `i` as a tensor; `what` names it in errors.
pub(crate) fn tensor<'a>(
    inputs: &[Option<&'a Value>],
    i: usize,
    what: &str,
) -> Result<&'a Tensor, String> {
    match inputs.get(i).copied().flatten() {
        Some(v) => v.tensor().map_err(|e| format!("input {i} ({what}): {e}")),
        None => Err(format!("input {i} ({what}) is missing")),
    }
}

/// Optional input `i` as a tensor.
pub(crate) fn opt_tensor<'a>(
    inputs: &[Option<&'a Value>],
    i: usize,
    what: &str,
) -> Result<Option<&'a Tensor>, String> {
    match inputs.get(i).copied().flatten() {
        Some(v) => v
            .tensor()
            .map(Some)
            .map_err(|e| format!("input {i} ({what}): {e}")),
        None => Ok(None),
    }
}

/// The post-transforms of the ONNX-ML classifiers and regressors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PostTransform {
    None,
    Softmax,
    Logistic,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    pub(crate) fn parse(attrs: &Attrs<'_>) -> Result<Self, String> {
        Ok(
            match attrs.string("post_transform").as_deref().unwrap_or("NONE") {
                "NONE" => PostTransform::None,
                "SOFTMAX" => PostTransform::Softmax,
                "LOGISTIC" => PostTransform::Logistic,
                "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
                "PROBIT" => PostTransform::Probit,
                other => {
                    return Err(format!(
                        "post_transform `{other}` is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT"
                    ));
                }
            },
        )
    }

    /// Applies the transform to one row of two or more scores.
    /// Applies the transform to each row of `width` values of `scores`;
    /// the element-wise ones in one pass over the whole buffer (it
    /// vectorises, where ten-value rows mostly did not).
    pub(crate) fn apply_rows(self, scores: &mut [f32], width: usize) {
        match self {
            PostTransform::None => {}
            PostTransform::Logistic => scores.iter_mut().for_each(|v| *v = logistic(*v)),
            PostTransform::Probit => scores.iter_mut().for_each(|v| *v = probit(*v)),
            PostTransform::Softmax => {
                // The same operations as `softmax_in_place` row by row, but
                // the exponentials in one pass over the whole buffer, which
                // vectorises (rows of ten did not, and the per-row loops'
                // headers each carry a deadline check in wasm).
                let width = width.max(1);
                for row in scores.chunks_mut(width) {
                    let max = row_max(row);
                    row.iter_mut().for_each(|v| *v -= max);
                }
                scores.iter_mut().for_each(|v| *v = v.fexp());
                for row in scores.chunks_mut(width) {
                    let sum = row.iter().fold(0.0, |s, v| s + v);
                    row.iter_mut().for_each(|v| *v /= sum);
                }
            }
            PostTransform::SoftmaxZero => scores
                .chunks_mut(width.max(1))
                .for_each(softmax_zero_in_place),
        }
    }

    pub(crate) fn apply_row(self, row: &mut [f32]) {
        match self {
            PostTransform::None => {}
            PostTransform::Logistic => row.iter_mut().for_each(|v| *v = logistic(*v)),
            PostTransform::Probit => row.iter_mut().for_each(|v| *v = probit(*v)),
            PostTransform::Softmax => softmax_in_place(row),
            PostTransform::SoftmaxZero => softmax_zero_in_place(row),
        }
    }
}

/// `exp` for the kernels: in single precision a polynomial that compiles to
/// straight-line code (and vectorises), in double precision the standard
/// library's.
///
/// In wasm the standard `f32::exp` is a software routine full of branches;
/// logistic and softmax post-transforms call it for every class of every
/// row, and it was the largest single cost of a 10-class logistic
/// regression. This one is within 2 ulp of the exact value over the whole
/// float range (a unit test sweeps it), far inside the 1e-5 the
/// conformance tests allow, and about what onnxruntime's own vectorised
/// exp gives.
pub(crate) trait Exp {
    fn fexp(self) -> Self;
}

impl Exp for f32 {
    #[inline]
    fn fexp(self) -> f32 {
        exp32(self)
    }
}

impl Exp for f64 {
    #[inline]
    fn fexp(self) -> f64 {
        self.exp()
    }
}

/// e^x in single precision: x = n·ln2 + r with |r| ≤ ln2/2 (ln 2 split in
/// two parts so that the reduction is exact), e^r by a degree-6 minimax
/// polynomial (the classic Cephes `expf` coefficients), and 2^n put straight
/// into the exponent bits.
#[inline]
pub(crate) fn exp32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const HI: f32 = 88.722_83;
    // Below the smallest normal result: onnxruntime flushes to zero too.
    const LO: f32 = -87.336_54;
    // No early returns: the special cases are selects at the end, so that
    // loops over slices vectorise. `clamp` compares (where `max`/`min`
    // are calls into libm in wasm, for their NaN rules) and lets a NaN
    // through; it is put back below.
    let xc = x.clamp(LO, HI);
    // Ties to even: one instruction in wasm (`f32.nearest`), where `round`
    // is a call into libm. Either rounding leaves |r| ≤ ln2/2.
    let n = (xc * LOG2E).round_ties_even();
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let er = p * r * r + r + 1.0;
    // n is in [-126, 128]; 2^128 overflows f32, so scale in two steps.
    let n = n as i32;
    let half = n / 2;
    let s1 = f32::from_bits(((half + 127) as u32) << 23);
    let s2 = f32::from_bits(((n - half + 127) as u32) << 23);
    let y = er * s1 * s2;
    let y = if x > HI { f32::INFINITY } else { y };
    let y = if x < LO { 0.0 } else { y };
    if x.is_nan() { x } else { y }
}

/// The logistic function, computed on |x| so that it never overflows.
pub(crate) fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).fexp());
    if x < 0.0 { 1.0 - v } else { v }
}

/// `√2 · erfinv(2x − 1)`, the inverse of the standard normal CDF. Uses the
/// same closed-form approximation of erfinv as onnxruntime (Winitzki's, with
/// a = 0.147), so PROBIT outputs agree with it to float precision.
pub(crate) fn probit(x: f32) -> f32 {
    let y = 2.0 * x - 1.0;
    let sgn = if y < 0.0 { -1.0 } else { 1.0 };
    let w = (1.0 - y) * (1.0 + y);
    let ln = w.ln();
    let a = 2.0 / (std::f32::consts::PI * 0.147) + 0.5 * ln;
    let b = ln / 0.147;
    let erfinv = sgn * (-a + (a * a - b).sqrt()).sqrt();
    std::f32::consts::SQRT_2 * erfinv
}

/// Softmax over a row, shifted by its maximum for stability.
/// The largest value of a row (a plain comparison: `f32::max` is a libm
/// call in wasm).
fn row_max(row: &[f32]) -> f32 {
    row.iter()
        .copied()
        .fold(f32::MIN, |m, v| if v > m { v } else { m })
}

pub(crate) fn softmax_in_place(row: &mut [f32]) {
    let max = row_max(row);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).fexp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// SOFTMAX_ZERO: softmax in which exact zeros stay zero.
pub(crate) fn softmax_zero_in_place(row: &mut [f32]) {
    let max = row_max(row);
    let exp_neg_max = (-max).fexp();
    let mut sum = 0.0;
    for v in row.iter_mut() {
        if v.abs() > 1e-7 {
            *v = (*v - max).fexp();
            sum += *v;
        } else {
            *v *= exp_neg_max;
        }
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// Class labels of an ONNX-ML classifier: integers or strings.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Labels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

impl Labels {
    pub(crate) fn parse(attrs: &Attrs<'_>, ints: &str, strings: &str) -> Result<Self, String> {
        let i = attrs.ints(ints);
        let s = attrs.strings(strings);
        match (i.is_empty(), s.is_empty()) {
            (false, true) => Ok(Labels::Ints(i)),
            (true, false) => Ok(Labels::Strings(s)),
            (true, true) => Err(format!("needs `{ints}` or `{strings}`")),
            (false, false) => Err(format!(
                "has both `{ints}` and `{strings}`; it must have one"
            )),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Labels::Ints(v) => v.len(),
            Labels::Strings(v) => v.len(),
        }
    }

    /// The label tensor for `picks`, indices into the labels.
    pub(crate) fn tensor(&self, picks: &[usize]) -> Tensor {
        use super::tensor::Data;
        let n = picks.len();
        match self {
            Labels::Ints(v) => Tensor::i64(vec![n], picks.iter().map(|&i| v[i]).collect()),
            Labels::Strings(v) => Tensor {
                shape: vec![n],
                data: Data::Str(picks.iter().map(|&i| v[i].clone()).collect()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp32_is_within_two_ulp_everywhere() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.5 {
            let exact = f64::from(x).exp();
            let got = f64::from(exp32(x));
            let ulp = f64::from(f32::EPSILON) * exact;
            worst = worst.max((got - exact).abs() / ulp);
            x += 0.000_37;
        }
        assert!(worst <= 2.0, "{worst} ulp");
        assert_eq!(exp32(0.0), 1.0);
        assert_eq!(exp32(100.0), f32::INFINITY);
        assert_eq!(exp32(-100.0), 0.0);
        assert!(exp32(f32::NAN).is_nan());
    }
}
