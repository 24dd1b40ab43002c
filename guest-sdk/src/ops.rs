//! Building blocks of scikit-learn-style pipelines, in plain Rust.
//!
//! Each block works on one row at a time (a `&[f64]` slice, missing values as
//! NaN) and writes into caller-provided buffers, so a model can score a whole
//! batch with a handful of allocations made up front. With the `serde`
//! feature (on by default) every block deserializes from JSON, which is how
//! the examples vendor parameters extracted from fitted scikit-learn models.
//!
//! Parameter names follow scikit-learn's attributes (`mean_`, `scale_`,
//! `coef_`, …) where a block has a direct counterpart there.

#[cfg(feature = "serde")]
use serde::Deserialize;

/// Standardisation: `(x - offset) * factor`.
///
/// scikit-learn's `StandardScaler` has `offset = mean_` and
/// `factor = 1 / scale_`; the ONNX `Scaler` operator stores exactly these
/// two vectors (`offset`, `scale`).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Deserialize))]
pub struct StandardScaler {
    /// Subtracted from each feature.
    pub offset: Vec<f64>,
    /// Multiplies each centred feature.
    pub factor: Vec<f64>,
}

impl StandardScaler {
    /// From scikit-learn's `mean_` and `scale_` (the standard deviations).
    /// A zero scale is treated as 1, as scikit-learn does.
    pub fn from_mean_std(mean: Vec<f64>, std: &[f64]) -> Self {
        let factor = std
            .iter()
            .map(|&s| if s == 0.0 { 1.0 } else { 1.0 / s })
            .collect();
        StandardScaler {
            offset: mean,
            factor,
        }
    }

    /// Scales `row` in place; NaN stays NaN.
    #[inline]
    pub fn transform(&self, row: &mut [f64]) {
        zip3(row, &self.offset, &self.factor, |x, o, f| (x - o) * f);
    }
}

/// Applies `f(x, a, b)` to each `x` of `row` with the matching `a` and `b`,
/// sixteen elements per loop iteration (see [`dot`] for why).
#[inline]
fn zip3(row: &mut [f64], a: &[f64], b: &[f64], f: impl Fn(f64, f64, f64) -> f64) {
    const LANES: usize = 16;
    let n = row.len().min(a.len()).min(b.len());
    let (row, a, b) = (&mut row[..n], &a[..n], &b[..n]);
    let mut rc = row.chunks_exact_mut(LANES);
    let (mut ac, mut bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for ((x, a), b) in (&mut rc).zip(&mut ac).zip(&mut bc) {
        for k in 0..LANES {
            x[k] = f(x[k], a[k], b[k]);
        }
    }
    for ((x, a), b) in rc
        .into_remainder()
        .iter_mut()
        .zip(ac.remainder())
        .zip(bc.remainder())
    {
        *x = f(*x, *a, *b);
    }
}

/// Min-max scaling as scikit-learn's `MinMaxScaler`: `x * scale + min`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Deserialize))]
pub struct MinMaxScaler {
    /// scikit-learn's `scale_`.
    pub scale: Vec<f64>,
    /// scikit-learn's `min_`.
    pub min: Vec<f64>,
}

impl MinMaxScaler {
    /// Scales `row` in place.
    #[inline]
    pub fn transform(&self, row: &mut [f64]) {
        zip3(row, &self.scale, &self.min, |x, s, m| x * s + m);
    }
}

/// Replaces missing values (NaN) by a per-feature constant, as scikit-learn's
/// `SimpleImputer` does once fitted (the mean, median or most frequent value).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Deserialize))]
pub struct SimpleImputer {
    /// scikit-learn's `statistics_`: the fill value per feature.
    pub statistics: Vec<f64>,
}

impl SimpleImputer {
    /// Fills the NaNs of `row` in place.
    #[inline]
    pub fn transform(&self, row: &mut [f64]) {
        for (x, fill) in row.iter_mut().zip(&self.statistics) {
            if x.is_nan() {
                *x = *fill;
            }
        }
    }
}

/// One-hot encoding of one categorical feature, unknown categories encoded as
/// all zeros (scikit-learn's `handle_unknown="ignore"`).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Deserialize))]
pub struct OneHotEncoder {
    /// The known categories, in output order (scikit-learn's `categories_[i]`).
    pub categories: Vec<String>,
}

impl OneHotEncoder {
    /// Width of the encoding.
    pub fn width(&self) -> usize {
        self.categories.len()
    }

    /// Maps a batch dictionary to category positions, once per batch, so that
    /// encoding a row is an index lookup rather than a string comparison.
    pub fn lookup(&self, dictionary: &[String]) -> Vec<Option<usize>> {
        dictionary
            .iter()
            .map(|s| self.categories.iter().position(|c| c == s))
            .collect()
    }

    /// Writes the encoding of a value already mapped by [`OneHotEncoder::lookup`].
    /// `out` must be [`OneHotEncoder::width`] long.
    #[inline]
    pub fn encode(&self, position: Option<usize>, out: &mut [f64]) {
        out.fill(0.0);
        if let Some(slot) = position.and_then(|p| out.get_mut(p)) {
            *slot = 1.0;
        }
    }
}

/// A linear map `y = W·x + b` with `W` of shape `outputs × inputs`, row-major.
///
/// It is the core of `LinearRegression`, `Ridge`, `LogisticRegression`,
/// `SGDClassifier` and friends.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Deserialize))]
pub struct Linear {
    /// Row-major weights, `outputs × inputs` (scikit-learn's `coef_`, flattened).
    pub coef: Vec<f64>,
    /// One bias per output (scikit-learn's `intercept_`).
    pub intercept: Vec<f64>,
}

impl Linear {
    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.intercept.len()
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.coef.len().checked_div(self.outputs()).unwrap_or(0)
    }

    /// Writes `W·x + b` into `out` (length [`Linear::outputs`]).
    #[inline]
    pub fn apply(&self, x: &[f64], out: &mut [f64]) {
        let n = self.inputs();
        for ((o, w), b) in out
            .iter_mut()
            .zip(self.coef.chunks_exact(n.max(1)))
            .zip(&self.intercept)
        {
            *o = dot(w, x) + b;
        }
    }
}

/// Dot product, written so that the compiler vectorises it.
///
/// Sixteen independent accumulators break the dependency chain of a single
/// running sum and give each loop iteration a lot of work. The latter
/// matters in wasm: the host checks its deadline at every loop header, so a
/// loop of one multiply-add per iteration would spend much of its time on
/// those checks. Results differ from a naive loop only in the last bits.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    dot_lanes(a, b)
}

/// [`dot`] in single precision, for ONNX graphs (which compute in float32).
#[inline]
pub fn dot32(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b)
}

#[inline(always)]
fn dot_lanes<T>(a: &[T], b: &[T]) -> T
where
    T: Copy + Default + std::ops::Add<Output = T> + std::ops::Mul<Output = T>,
{
    const LANES: usize = 16;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [T::default(); LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] = acc[k] + x[k] * y[k];
        }
    }
    let mut sum = T::default();
    for (&x, &y) in ra.iter().zip(rb) {
        sum = sum + x * y;
    }
    // Pairwise reduction of the accumulators.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            acc[k] = acc[k] + acc[k + width];
        }
    }
    acc[0] + sum
}

/// The logistic function.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Softmax in place, stable for large inputs.
#[inline]
pub fn softmax(v: &mut [f64]) {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in v.iter_mut() {
        *x /= sum;
    }
}

/// Index of the largest value; the first one on ties, as numpy's `argmax`.
#[inline]
pub fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// How a logistic model turns decision values into probabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Logistic {
    /// Softmax over the classes (scikit-learn's multinomial `LogisticRegression`).
    Multinomial,
    /// One sigmoid per class, normalised to sum to one (one-vs-rest).
    OneVsRest,
    /// A single decision value for the positive class of a binary problem.
    Binary,
}

/// Logistic regression: a [`Linear`] map followed by a link to probabilities.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Deserialize))]
pub struct LogisticRegression {
    /// Decision function; one output per class, or one for [`Logistic::Binary`].
    pub linear: Linear,
    /// The link.
    pub link: Logistic,
}

impl LogisticRegression {
    /// Number of classes.
    pub fn classes(&self) -> usize {
        match self.link {
            Logistic::Binary => 2,
            _ => self.linear.outputs(),
        }
    }

    /// Writes class probabilities for `x` into `out` (length [`LogisticRegression::classes`]).
    #[inline]
    pub fn predict_proba(&self, x: &[f64], out: &mut [f64]) {
        match self.link {
            Logistic::Binary => {
                let mut z = [0.0];
                self.linear.apply(x, &mut z);
                let p = sigmoid(z[0]);
                out[0] = 1.0 - p;
                out[1] = p;
            }
            Logistic::Multinomial => {
                self.linear.apply(x, out);
                softmax(out);
            }
            Logistic::OneVsRest => {
                self.linear.apply(x, out);
                let mut sum = 0.0;
                for v in out.iter_mut() {
                    *v = sigmoid(*v);
                    sum += *v;
                }
                if sum > 0.0 {
                    out.iter_mut().for_each(|v| *v /= sum);
                }
            }
        }
    }
}

/// One node of a [`DecisionTree`].
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Node {
    /// Go to `left` when `x[feature] <= threshold`, else to `right`.
    Split {
        /// Feature index in the row.
        feature: usize,
        /// Threshold, in `f32`: scikit-learn evaluates trees on `float32`
        /// inputs, so the comparison is made on `x as f32`.
        threshold: f32,
        /// Node index when the test holds.
        left: usize,
        /// Node index when it does not.
        right: usize,
        /// Where a missing (NaN) value goes; `false` sends it right.
        #[cfg_attr(feature = "serde", serde(default))]
        missing_left: bool,
    },
    /// A leaf holding the values at `values[offset..offset + outputs]`.
    Leaf {
        /// Start of this leaf's values in [`DecisionTree::values`].
        offset: usize,
    },
}

/// A binary decision tree with vector-valued leaves.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Deserialize))]
pub struct DecisionTree {
    /// Nodes; node 0 is the root.
    pub nodes: Vec<Node>,
    /// Leaf values, `outputs` per leaf.
    pub values: Vec<f64>,
    /// Values per leaf: 1 for regression, the class count for classification.
    pub outputs: usize,
}

impl DecisionTree {
    /// The leaf values for row `x`. A malformed tree (a child index out of
    /// range, or a cycle longer than the node count) yields an empty slice
    /// rather than a panic or an endless loop.
    #[inline]
    pub fn leaf(&self, x: &[f64]) -> &[f64] {
        let mut i = 0;
        for _ in 0..=self.nodes.len() {
            match self.nodes.get(i) {
                Some(Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    missing_left,
                }) => {
                    let v = x.get(*feature).copied().unwrap_or(f64::NAN);
                    let go_left = if v.is_nan() {
                        *missing_left
                    } else {
                        (v as f32) <= *threshold
                    };
                    i = if go_left { *left } else { *right };
                }
                Some(Node::Leaf { offset }) => {
                    return self
                        .values
                        .get(*offset..offset + self.outputs)
                        .unwrap_or(&[]);
                }
                None => return &[],
            }
        }
        &[]
    }
}

/// How an ensemble combines its trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Aggregate {
    /// Sum of the leaves (gradient boosting; a single tree).
    Sum,
    /// Mean of the leaves (random forests).
    Average,
}

/// A set of trees whose leaves are summed or averaged, plus a base value.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Deserialize))]
pub struct TreeEnsemble {
    /// The trees; all have the same `outputs`.
    pub trees: Vec<DecisionTree>,
    /// How leaves combine.
    pub aggregate: Aggregate,
    /// Added to the combined leaves (gradient boosting's initial estimate).
    #[cfg_attr(feature = "serde", serde(default))]
    pub base: Vec<f64>,
}

impl TreeEnsemble {
    /// Values per row.
    pub fn outputs(&self) -> usize {
        self.trees.first().map_or(self.base.len(), |t| t.outputs)
    }

    /// Writes the ensemble's raw output for `x` into `out` (length [`TreeEnsemble::outputs`]).
    #[inline]
    pub fn predict(&self, x: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for tree in &self.trees {
            for (o, v) in out.iter_mut().zip(tree.leaf(x)) {
                *o += v;
            }
        }
        if self.aggregate == Aggregate::Average && !self.trees.is_empty() {
            let n = self.trees.len() as f64;
            out.iter_mut().for_each(|o| *o /= n);
        }
        for (o, b) in out.iter_mut().zip(&self.base) {
            *o += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_survives_large_inputs() {
        let mut v = [1000.0, 1001.0, 1002.0];
        softmax(&mut v);
        assert!((v.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(v[2] > v[1] && v[1] > v[0]);
    }

    #[test]
    fn tree_follows_thresholds_and_missing_direction() {
        let tree = DecisionTree {
            nodes: vec![
                Node::Split {
                    feature: 0,
                    threshold: 0.5,
                    left: 1,
                    right: 2,
                    missing_left: false,
                },
                Node::Leaf { offset: 0 },
                Node::Leaf { offset: 1 },
            ],
            values: vec![10.0, 20.0],
            outputs: 1,
        };
        assert_eq!(tree.leaf(&[0.5]), &[10.0]);
        assert_eq!(tree.leaf(&[0.6]), &[20.0]);
        assert_eq!(tree.leaf(&[f64::NAN]), &[20.0]);
    }

    #[test]
    fn malformed_tree_yields_nothing_instead_of_looping() {
        let tree = DecisionTree {
            nodes: vec![Node::Split {
                feature: 0,
                threshold: 0.0,
                left: 0,
                right: 0,
                missing_left: true,
            }],
            values: vec![],
            outputs: 1,
        };
        assert!(tree.leaf(&[1.0]).is_empty());
    }

    #[test]
    fn one_hot_ignores_unknown_categories() {
        let enc = OneHotEncoder {
            categories: vec!["a".into(), "b".into()],
        };
        let map = enc.lookup(&["b".into(), "zzz".into()]);
        let mut out = [9.0; 2];
        enc.encode(map[0], &mut out);
        assert_eq!(out, [0.0, 1.0]);
        enc.encode(map[1], &mut out);
        assert_eq!(out, [0.0, 0.0]);
    }

    #[test]
    fn logistic_binary_and_ovr_give_distributions() {
        let lr = LogisticRegression {
            linear: Linear {
                coef: vec![1.0, -1.0],
                intercept: vec![0.0],
            },
            link: Logistic::Binary,
        };
        let mut p = [0.0; 2];
        lr.predict_proba(&[2.0, 2.0], &mut p);
        assert!((p[0] - 0.5).abs() < 1e-12 && (p[1] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn scalers_and_imputer() {
        let s = StandardScaler::from_mean_std(vec![1.0, 2.0], &[2.0, 0.0]);
        let mut row = [3.0, 5.0];
        s.transform(&mut row);
        assert_eq!(row, [1.0, 3.0]);
        let mm = MinMaxScaler {
            scale: vec![0.5],
            min: vec![-1.0],
        };
        let mut row = [4.0];
        mm.transform(&mut row);
        assert_eq!(row, [1.0]);
        let imp = SimpleImputer {
            statistics: vec![7.0, 8.0],
        };
        let mut row = [f64::NAN, 1.0];
        imp.transform(&mut row);
        assert_eq!(row, [7.0, 1.0]);
    }
}
