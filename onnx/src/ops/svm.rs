//! SVMClassifier and SVMRegressor (libsvm's model, as skl2onnx writes it).
//!
//! Multiclass SVC is one-vs-one: a decision value per pair of classes, a
//! vote per pair, and — when the model carries Platt parameters (`prob_a`,
//! `prob_b`) — pairwise probabilities coupled into class probabilities by
//! the iterative method of Wu, Lin and Weng (2004), as libsvm does.

use super::{Labels, PostTransform, logistic, probit, tensor};
use crate::graph::{Attrs, Kernel};
use crate::tensor::{Data, Tensor, Value};

type R<T> = Result<T, String>;

#[derive(Clone, Copy, Debug, PartialEq)]
enum KernelFn {
    Linear,
    Poly { gamma: f32, coef0: f32, degree: f32 },
    Rbf { gamma: f32 },
    Sigmoid { gamma: f32, coef0: f32 },
}

impl KernelFn {
    fn parse(a: &Attrs<'_>) -> R<KernelFn> {
        let p = a.floats("kernel_params");
        let (gamma, coef0, degree) = (
            p.first().copied().unwrap_or(0.0),
            p.get(1).copied().unwrap_or(0.0),
            p.get(2).copied().unwrap_or(0.0),
        );
        Ok(
            match a.string("kernel_type").as_deref().unwrap_or("LINEAR") {
                "LINEAR" => KernelFn::Linear,
                "POLY" => KernelFn::Poly {
                    gamma,
                    coef0,
                    degree,
                },
                "RBF" => KernelFn::Rbf { gamma },
                "SIGMOID" => KernelFn::Sigmoid { gamma, coef0 },
                other => {
                    return Err(format!(
                        "kernel_type `{other}` is not LINEAR, POLY, RBF or SIGMOID"
                    ));
                }
            },
        )
    }

    #[inline]
    fn eval(self, x: &[f32], sv: &[f32]) -> f32 {
        match self {
            KernelFn::Linear => glassbox_guest::ops::dot32(x, sv),
            KernelFn::Poly {
                gamma,
                coef0,
                degree,
            } => (gamma * glassbox_guest::ops::dot32(x, sv) + coef0).powf(degree),
            KernelFn::Rbf { gamma } => {
                let d: f32 = x.iter().zip(sv).map(|(a, b)| (a - b) * (a - b)).sum();
                super::exp32(-gamma * d)
            }
            KernelFn::Sigmoid { gamma, coef0 } => {
                (gamma * glassbox_guest::ops::dot32(x, sv) + coef0).tanh()
            }
        }
    }
}

fn input(x: &Tensor, features: usize) -> R<(usize, Vec<f32>)> {
    let (rows, cols) = x.as_matrix();
    if cols != features {
        return Err(format!("X has {cols} features, the model {features}"));
    }
    match &x.data {
        Data::F32(_) | Data::F64(_) | Data::I64(_) => Ok((rows, x.data.to_f32())),
        _ => Err(format!("X must be numeric, got {}", x.elem_type())),
    }
}

#[derive(Clone, Debug)]
struct Classifier {
    kernel: KernelFn,
    labels: Labels,
    /// Support vectors `[vectors × features]` (empty in linear mode).
    vectors: Vec<f32>,
    per_class: Vec<usize>,
    starts: Vec<usize>,
    coefficients: Vec<f32>,
    rho: Vec<f32>,
    prob_a: Vec<f32>,
    prob_b: Vec<f32>,
    features: usize,
    post: PostTransform,
    all_positive: bool,
}

pub(super) fn build_classifier(a: &Attrs<'_>) -> R<Box<dyn Kernel>> {
    let labels = Labels::parse(a, "classlabels_ints", "classlabels_strings")?;
    let classes = labels.len();
    let per_class: Vec<usize> = a
        .ints("vectors_per_class")
        .into_iter()
        .map(|v| usize::try_from(v).map_err(|_| "negative vectors_per_class".to_string()))
        .collect::<R<_>>()?;
    let vectors = a.floats("support_vectors");
    let coefficients = a.floats("coefficients");
    let rho = a.floats("rho");
    let prob_a = a.floats("prob_a");
    let prob_b = a.floats("prob_b");
    let mut kernel = KernelFn::parse(a)?;
    if coefficients.is_empty() || rho.is_empty() {
        return Err("needs coefficients and rho".into());
    }
    if prob_a.len() != prob_b.len() {
        return Err("prob_a and prob_b differ in length".into());
    }
    let total: usize = per_class.iter().sum();
    let pairs = classes * classes.saturating_sub(1) / 2;
    let features = if total > 0 {
        if per_class.len() != classes {
            return Err(format!(
                "vectors_per_class has {} entries for {classes} classes",
                per_class.len()
            ));
        }
        if !vectors.len().is_multiple_of(total) {
            return Err(format!(
                "{} support vector values do not split into {total} vectors",
                vectors.len()
            ));
        }
        if coefficients.len() < (classes - 1) * total || rho.len() < pairs {
            return Err(format!(
                "{} coefficients and {} rho for {classes} classes and {total} vectors (need {} and {pairs})",
                coefficients.len(),
                rho.len(),
                (classes - 1) * total
            ));
        }
        if !prob_a.is_empty() && prob_a.len() < pairs {
            return Err(format!("{} prob_a values for {pairs} pairs", prob_a.len()));
        }
        vectors.len() / total
    } else {
        // liblinear mode: one row of coefficients per class, linear kernel.
        kernel = KernelFn::Linear;
        if classes == 0 || !coefficients.len().is_multiple_of(classes) {
            return Err(format!(
                "{} coefficients do not split into {classes} classes",
                coefficients.len()
            ));
        }
        coefficients.len() / classes
    };
    let mut starts = Vec::with_capacity(per_class.len());
    let mut acc = 0;
    for &v in &per_class {
        starts.push(acc);
        acc += v;
    }
    Ok(Box::new(Classifier {
        kernel,
        labels,
        all_positive: coefficients.iter().all(|&c| c >= 0.0),
        vectors,
        per_class,
        starts,
        coefficients,
        rho,
        prob_a,
        prob_b,
        features,
        post: PostTransform::parse(a)?,
    }))
}

/// Couples pairwise probabilities `r[i][j]` (row-major `k × k`) into class
/// probabilities, by the fixed-point iteration of libsvm's
/// `multiclass_probability`, in float32 like onnxruntime.
fn couple(k: usize, r: &[f32], p: &mut [f32]) {
    let mut q = vec![0f32; k * k];
    let mut qp = vec![0f32; k];
    let eps = 0.005 / k as f32;
    for i in 0..k {
        p[i] = 1.0 / k as f32;
        for j in 0..i {
            q[i * k + i] += r[j * k + i] * r[j * k + i];
            q[i * k + j] = q[j * k + i];
        }
        for j in i + 1..k {
            q[i * k + i] += r[j * k + i] * r[j * k + i];
            q[i * k + j] = -r[j * k + i] * r[i * k + j];
        }
    }
    for _ in 0..100 {
        let mut pqp = 0.0;
        for i in 0..k {
            qp[i] = (0..k).map(|j| q[i * k + j] * p[j]).sum();
            pqp += p[i] * qp[i];
        }
        let max_error = (0..k).map(|i| (qp[i] - pqp).abs()).fold(0.0, f32::max);
        if max_error < eps {
            break;
        }
        for i in 0..k {
            let diff = (-qp[i] + pqp) / q[i * k + i];
            p[i] += diff;
            pqp = (pqp + diff * (diff * q[i * k + i] + 2.0 * qp[i])) / (1.0 + diff) / (1.0 + diff);
            for j in 0..k {
                qp[j] = (qp[j] + diff * q[i * k + j]) / (1.0 + diff);
                p[j] /= 1.0 + diff;
            }
        }
    }
}

impl Kernel for Classifier {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let (rows, x) = input(tensor(inputs, 0, "X")?, self.features)?;
        let k = self.labels.len();
        let f = self.features;
        let mut picks = Vec::with_capacity(rows);
        let mut out = Vec::new();
        let mut width = k;
        if self.vectors.is_empty() {
            // Linear mode: a score per class, plus rho[0].
            for r in 0..rows {
                let row = &x[r * f..(r + 1) * f];
                let mut s: Vec<f32> = (0..k)
                    .map(|c| {
                        glassbox_guest::ops::dot32(row, &self.coefficients[c * f..(c + 1) * f])
                            + self.rho[0]
                    })
                    .collect();
                let mut best = 0;
                for c in 1..k {
                    if s[c] > s[best] {
                        best = c;
                    }
                }
                let max = s[best];
                if k == 2 {
                    best = if (self.all_positive && max >= 0.5) || (!self.all_positive && max > 0.0)
                    {
                        1
                    } else {
                        best
                    };
                }
                picks.push(best);
                if k > 1 {
                    self.post.apply_row(&mut s);
                }
                out.extend(s);
            }
        } else {
            let pairs = k * (k - 1) / 2;
            let proba = !self.prob_a.is_empty();
            if !proba {
                width = if k > 2 { pairs } else { 2 };
            }
            let nv = self.vectors.len() / f;
            let mut kern = vec![0f32; nv];
            let mut decisions = vec![0f32; pairs];
            for r in 0..rows {
                let row = &x[r * f..(r + 1) * f];
                for (v, kv) in kern.iter_mut().enumerate() {
                    *kv = self.kernel.eval(row, &self.vectors[v * f..(v + 1) * f]);
                }
                let mut votes = vec![0u32; k];
                let mut p = 0;
                for i in 0..k.saturating_sub(1) {
                    for j in i + 1..k {
                        let (si, ni) = (self.starts[i], self.per_class[i]);
                        let (sj, nj) = (self.starts[j], self.per_class[j]);
                        let ci = &self.coefficients[(j - 1) * nv + si..(j - 1) * nv + si + ni];
                        let cj = &self.coefficients[i * nv + sj..i * nv + sj + nj];
                        let mut sum = 0f64;
                        for (c, kv) in ci.iter().zip(&kern[si..si + ni]) {
                            sum += f64::from(c * kv);
                        }
                        for (c, kv) in cj.iter().zip(&kern[sj..sj + nj]) {
                            sum += f64::from(c * kv);
                        }
                        sum += f64::from(self.rho[p]);
                        decisions[p] = sum as f32;
                        votes[if sum > 0.0 { i } else { j }] += 1;
                        p += 1;
                    }
                }
                // The label is the most voted class (first on ties).
                let mut best = 0;
                for c in 1..k {
                    if votes[c] > votes[best] {
                        best = c;
                    }
                }
                picks.push(best);
                if proba {
                    let mut pair = vec![0f32; k * k];
                    let mut p = 0;
                    for i in 0..k - 1 {
                        for j in i + 1..k {
                            let v = 1.0 - logistic(decisions[p] * self.prob_a[p] + self.prob_b[p]);
                            let v = v.clamp(1e-7, 1.0 - 1e-7);
                            pair[i * k + j] = v;
                            pair[j * k + i] = 1.0 - v;
                            p += 1;
                        }
                    }
                    let mut probs = vec![0f32; k];
                    couple(k, &pair, &mut probs);
                    self.post.apply_row(&mut probs);
                    out.extend(probs);
                } else if k > 2 {
                    let mut s = decisions.clone();
                    self.post.apply_row(&mut s);
                    out.extend(s);
                } else {
                    let s = decisions[0];
                    out.extend(match self.post {
                        PostTransform::None => [-s, s],
                        PostTransform::Probit => [probit(s), 0.0],
                        _ => [1.0 - s, s],
                    });
                }
            }
        }
        Ok(vec![
            self.labels.tensor(&picks).into(),
            Tensor::f32(vec![rows, width], out).into(),
        ])
    }
}

#[derive(Clone, Debug)]
struct Regressor {
    kernel: KernelFn,
    vectors: Vec<f32>,
    coefficients: Vec<f32>,
    rho: f32,
    features: usize,
    one_class: bool,
    post: PostTransform,
}

pub(super) fn build_regressor(a: &Attrs<'_>) -> R<Box<dyn Kernel>> {
    let n = usize::try_from(a.int("n_supports").unwrap_or(0)).map_err(|_| "bad n_supports")?;
    let vectors = a.floats("support_vectors");
    let coefficients = a.floats("coefficients");
    let rho = a.floats("rho");
    let mut kernel = KernelFn::parse(a)?;
    let rho = *rho.first().ok_or("needs rho")?;
    let features = if n > 0 {
        if !vectors.len().is_multiple_of(n) || coefficients.len() < n {
            return Err(format!(
                "{} support vector values and {} coefficients for {n} supports",
                vectors.len(),
                coefficients.len()
            ));
        }
        vectors.len() / n
    } else {
        kernel = KernelFn::Linear;
        coefficients.len()
    };
    Ok(Box::new(Regressor {
        kernel,
        vectors,
        coefficients,
        rho,
        features,
        one_class: a.int("one_class").unwrap_or(0) != 0,
        post: PostTransform::parse(a)?,
    }))
}

impl Kernel for Regressor {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let (rows, x) = input(tensor(inputs, 0, "X")?, self.features)?;
        let f = self.features;
        let mut out = Vec::with_capacity(rows);
        for r in 0..rows {
            let row = &x[r * f..(r + 1) * f];
            let mut s = if self.vectors.is_empty() {
                glassbox_guest::ops::dot32(row, &self.coefficients) + self.rho
            } else {
                let mut sum = 0f32;
                for (v, c) in self
                    .coefficients
                    .iter()
                    .enumerate()
                    .take(self.vectors.len() / f)
                {
                    sum += c * self.kernel.eval(row, &self.vectors[v * f..(v + 1) * f]);
                }
                sum + self.rho
            };
            if self.one_class {
                s = if s > 0.0 { 1.0 } else { -1.0 };
            }
            if self.post == PostTransform::Probit {
                s = probit(s);
            }
            out.push(s);
        }
        Ok(vec![Tensor::f32(vec![rows, 1], out).into()])
    }
}
