//! Training profiles: what a model's inputs and predictions looked like on
//! the data it was fitted on, to compare live traffic against.
//!
//! The statistics follow numpy's conventions, so that a profile computed here
//! agrees with one a data scientist computes in Python from the same rows:
//! population standard deviation (`ddof=0`), quantiles by linear
//! interpolation (numpy's default method), and [`HISTOGRAM_BINS`] equal-width
//! bins over `[min, max]`, the last one closed (`numpy.histogram`), widened
//! to `[v - 0.5, v + 0.5]` when every value is `v`.
//!
//! ```
//! use glassbox::compile::profile::numeric_profile;
//! let p = numeric_profile([Some(1.0), None, Some(3.0)]);
//! assert_eq!((p.count, p.missing, p.mean), (3, 1, 2.0));
//! ```

use std::collections::HashMap;

use crate::contract::{
    CategoricalProfile, CategoryCount, FeatureKind, FeatureProfile, Histogram, ModelInfo,
    NumericProfile, Outputs, PredictionProfile, Quantile,
};
use crate::error::Violations;
use crate::runtime::batch::{self, Prediction, Row};

/// The quantile levels every numeric profile records.
pub const QUANTILE_LEVELS: [f64; 15] = [
    0.01, 0.05, 0.10, 0.20, 0.25, 0.30, 0.40, 0.50, 0.60, 0.70, 0.75, 0.80, 0.90, 0.95, 0.99,
];

/// Bins of every histogram.
pub const HISTOGRAM_BINS: usize = 10;

/// Profiles one numeric column; `None` is a missing value. NaN counts as
/// missing too.
pub fn numeric_profile(values: impl IntoIterator<Item = Option<f64>>) -> NumericProfile {
    let mut count = 0u64;
    let mut present: Vec<f64> = Vec::new();
    for v in values {
        count += 1;
        if let Some(v) = v.filter(|v| !v.is_nan()) {
            present.push(v);
        }
    }
    let missing = count - present.len() as u64;
    if present.is_empty() {
        return NumericProfile {
            count,
            missing,
            mean: f64::NAN,
            std: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
            quantiles: Vec::new(),
            histogram: Histogram {
                edges: Vec::new(),
                counts: Vec::new(),
            },
        };
    }
    let n = present.len() as f64;
    // Two passes: the mean first, then squared deviations from it, which
    // keeps the variance accurate for values far from zero.
    let mean = present.iter().sum::<f64>() / n;
    let std = (present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    present.sort_by(f64::total_cmp);
    let (min, max) = (present[0], present[present.len() - 1]);
    let quantiles = QUANTILE_LEVELS
        .iter()
        .map(|&level| Quantile {
            level,
            value: quantile_sorted(&present, level),
        })
        .collect();
    NumericProfile {
        count,
        missing,
        mean,
        std,
        min,
        max,
        quantiles,
        histogram: histogram(&present, min, max),
    }
}

/// numpy's default (`linear`) quantile of sorted, non-empty values.
fn quantile_sorted(sorted: &[f64], level: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * level;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// `numpy.histogram(values, HISTOGRAM_BINS)`.
fn histogram(values: &[f64], min: f64, max: f64) -> Histogram {
    let (first, last) = if min == max {
        (min - 0.5, max + 0.5)
    } else {
        (min, max)
    };
    let width = (last - first) / HISTOGRAM_BINS as f64;
    let mut edges: Vec<f64> = (0..=HISTOGRAM_BINS)
        .map(|i| first + i as f64 * width)
        .collect();
    edges[HISTOGRAM_BINS] = last;
    let mut counts = vec![0u64; HISTOGRAM_BINS];
    for &v in values {
        // The arithmetic guess, corrected against the edges themselves so
        // that a value exactly on an edge lands where numpy puts it.
        let mut i = (((v - first) / width) as usize).min(HISTOGRAM_BINS - 1);
        if i > 0 && v < edges[i] {
            i -= 1;
        } else if i + 1 < HISTOGRAM_BINS && v >= edges[i + 1] {
            i += 1;
        }
        counts[i] += 1;
    }
    Histogram { edges, counts }
}

/// Profiles one categorical column; `None` is a missing value. Categories
/// are listed by descending count, ties by name.
pub fn categorical_profile<'a>(
    values: impl IntoIterator<Item = Option<&'a str>>,
) -> CategoricalProfile {
    let mut count = 0u64;
    let mut missing = 0u64;
    let mut seen: HashMap<&str, u64> = HashMap::new();
    for v in values {
        count += 1;
        match v {
            Some(s) => *seen.entry(s).or_default() += 1,
            None => missing += 1,
        }
    }
    let mut frequencies: Vec<CategoryCount> = seen
        .into_iter()
        .map(|(category, count)| CategoryCount {
            category: category.to_string(),
            count,
        })
        .collect();
    frequencies.sort_by(|a, b| b.count.cmp(&a.count).then(a.category.cmp(&b.category)));
    CategoricalProfile {
        count,
        missing,
        frequencies,
    }
}

/// Profiles every input field over `rows`, in schema order. The rows are
/// checked against the schema first, like rows to score.
pub fn profile_rows(info: &ModelInfo, rows: &[Row]) -> Result<Vec<FeatureProfile>, Violations> {
    let batch = batch::from_rows(info, rows)?;
    let n = rows.len();
    let (mut k_num, mut k_cat) = (0, 0);
    let mut out = Vec::with_capacity(info.inputs.len());
    for field in &info.inputs {
        match field.kind {
            FeatureKind::Numeric => {
                let base = k_num * n;
                let missing = &batch.numeric_missing;
                let column = batch.numeric[base..base + n]
                    .iter()
                    .enumerate()
                    .map(|(r, v)| {
                        missing
                            .binary_search(&((base + r) as u32))
                            .is_err()
                            .then_some(*v)
                    });
                out.push(FeatureProfile::Numeric(numeric_profile(column)));
                k_num += 1;
            }
            FeatureKind::Categorical => {
                let base = k_cat * n;
                let column = batch.categorical[base..base + n]
                    .iter()
                    .map(|c| c.map(|c| batch.dictionary[c as usize].as_str()));
                out.push(FeatureProfile::Categorical(categorical_profile(column)));
                k_cat += 1;
            }
        }
    }
    Ok(out)
}

/// Profiles a model's own predictions: rows per class for a classifier, the
/// distribution of values for a regressor.
pub fn prediction_profile(info: &ModelInfo, predictions: &[Prediction]) -> PredictionProfile {
    match &info.outputs {
        Outputs::Classes(classes) | Outputs::DecisionClasses(classes) => {
            let mut counts = vec![0u64; classes.len()];
            for p in predictions {
                if let Prediction::Class { label, .. } | Prediction::Scores { label, .. } = p
                    && let Some(i) = classes.iter().position(|c| c == label)
                {
                    counts[i] += 1;
                }
            }
            PredictionProfile::Classification(counts)
        }
        Outputs::Target(_) => {
            PredictionProfile::Regression(numeric_profile(predictions.iter().map(|p| match p {
                Prediction::Value { value } => Some(*value),
                Prediction::Class { .. }
                | Prediction::Scores { .. }
                | Prediction::Invalid { .. } => None,
            })))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        // numpy.quantile([1, 2, 3, 4], 0.25) == 1.75
        assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.25), 1.75);
        assert_eq!(quantile_sorted(&[5.0], 0.99), 5.0);
    }

    #[test]
    fn histogram_closes_the_last_bin_and_widens_a_constant_column() {
        let h = histogram(&[0.0, 10.0, 5.0, 1.0], 0.0, 10.0);
        assert_eq!(h.counts, vec![1, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
        let h = histogram(&[3.0, 3.0], 3.0, 3.0);
        assert_eq!(h.edges[0], 2.5);
        assert_eq!(h.edges[10], 3.5);
        assert_eq!(h.counts[5], 2);
    }

    #[test]
    fn all_missing_is_described_not_invented() {
        let p = numeric_profile([None, Some(f64::NAN)]);
        assert_eq!((p.count, p.missing), (2, 2));
        assert!(p.mean.is_nan() && p.quantiles.is_empty());
    }

    #[test]
    fn categories_by_count_then_name() {
        let p = categorical_profile([Some("b"), Some("a"), None, Some("b"), Some("c")]);
        let order: Vec<(&str, u64)> = p
            .frequencies
            .iter()
            .map(|f| (f.category.as_str(), f.count))
            .collect();
        assert_eq!(order, vec![("b", 2), ("a", 1), ("c", 1)]);
        assert_eq!((p.count, p.missing), (5, 1));
    }
}
