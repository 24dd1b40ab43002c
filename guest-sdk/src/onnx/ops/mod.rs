//! Operator kernels, from the ONNX and ONNX-ML operator specifications.
//!
//! Where a specification leaves a case open (the binary forms of the ML
//! classifiers, mostly) the kernels do what onnxruntime does, because that is
//! what exported pipelines were validated against; each such place says so.

mod core;

pub(crate) use core::cast;
mod ml;
mod svm;
mod tree;

use super::graph::{Attrs, Kernel, Opsets};
use super::tensor::{Tensor, Value};

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
            "SVMClassifier" => svm::build_classifier(attrs),
            "SVMRegressor" => svm::build_regressor(attrs),
            _ => ml::build(op, attrs, opsets.ml),
        },
        other => Err(format!("domain `{other}` is not supported")),
    }
}

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

/// The logistic function, computed on |x| so that it never overflows.
pub(crate) fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
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
pub(crate) fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::MIN, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// SOFTMAX_ZERO: softmax in which exact zeros stay zero.
pub(crate) fn softmax_zero_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::MIN, f32::max);
    let exp_neg_max = (-max).exp();
    let mut sum = 0.0;
    for v in row.iter_mut() {
        if v.abs() > 1e-7 {
            *v = (*v - max).exp();
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
