//! Live input and prediction profiles, compared with the training profile
//! the model carries.
//!
//! A [`Monitor`] belongs to one model version. Every successful call is
//! counted into a sliding window ([`MonitorConfig`]: the last
//! `window_rows` rows, and no older than `window_seconds`), per feature on
//! the training profile's own bins: a numeric feature's histogram edges
//! (values outside them count as out of range, in the outer bin), a
//! categorical feature's training categories plus one bin for unseen
//! ones (shown and counted as a rate, but left out of the drift test:
//! training has none by definition), and for both a bin for missing
//! values. [`Monitor::report`] scores
//! every feature and the predictions with [`drift`] and gives the
//! model's health with its reasons.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::artifact::expect::Bounds;
use crate::contract::{
    Batch, ClassScores, DecisionScores, FeatureKind, FeatureProfile, ModelInfo, Outputs,
    PredictionProfile, Scores,
};
use crate::runtime::Model;
use crate::runtime::rules::Rules;

pub mod drift;
pub mod predlog;

use drift::{Level, Score, Thresholds};

/// The window and the thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Keep live profiles at all. Default: true.
    pub enabled: bool,
    /// The window holds at most this many of the latest rows. Default 10,000.
    pub window_rows: u64,
    /// … and none older than this. Default 3600 s.
    pub window_seconds: u64,
    /// How often `glassbox serve` checks each model's health, to report
    /// changes (a log line and a span event naming the owner). Default 10 s.
    pub check_seconds: u64,
    /// When a feature counts as drifted.
    pub thresholds: Thresholds,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            enabled: true,
            window_rows: 10_000,
            window_seconds: 3600,
            check_seconds: 10,
            thresholds: Thresholds::default(),
        }
    }
}

impl MonitorConfig {
    /// One window over everything the monitor is shown, no row too old and
    /// none too many, judging columns from `min_rows` rows on: what an
    /// offline report (`glassbox report`, Python's `monitor` and `report`)
    /// wants.
    pub fn whole(min_rows: u64) -> MonitorConfig {
        let mut config = MonitorConfig {
            window_rows: u64::MAX,
            window_seconds: u64::MAX / 2,
            ..MonitorConfig::default()
        };
        config.thresholds.min_rows = min_rows;
        config
    }
}

/// The window moves in steps of a tenth of its size: old rows leave a
/// segment at a time, so the window holds between 90 % and 100 % of its
/// rows, and counting a row costs no more than an increment.
const SEGMENTS: u64 = 10;

/// How one column is binned: the reference counts and how to bin a value.
#[derive(Clone, Debug)]
enum Bins {
    /// Histogram edges; bins: the histogram's, then missing.
    Numeric { edges: Vec<f64> },
    /// Training categories; bins: one per category, unseen, missing.
    Categorical { index: HashMap<String, usize> },
    /// Class indices; bins: one per class.
    Classes,
}

/// One column (a feature or the predictions) with its reference counts.
#[derive(Clone, Debug)]
struct Column {
    name: String,
    bins: Bins,
    reference: Vec<u64>,
}

/// Counts of one segment of the window.
#[derive(Clone, Debug)]
struct Segment {
    started: Instant,
    rows: u64,
    /// Per column, its bins' counts.
    counts: Vec<Vec<u64>>,
    /// Per column: values outside the training range (numeric) or unseen
    /// categories (categorical).
    outside: Vec<u64>,
    /// Per soft expectation on a feature: rows breaking it.
    broken: Vec<u64>,
    /// Sum of a regressor's predictions (for an expected mean).
    prediction_sum: f64,
}

#[derive(Debug, Default)]
struct Window {
    segments: VecDeque<Segment>,
}

/// One thread's share of the counting. Calls on different cores would
/// otherwise fight over one lock and one set of counters (a one-row call
/// of 64 features took 600 ns alone and 1.7 µs with a second core
/// counting too); each thread counts into its own shard, and a report
/// merges them. Aligned so that two shards never share a cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(Mutex<Window>);

/// The shard of the calling thread: threads take shards in turn, once.
fn shard_index(shards: usize) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static MINE: usize = NEXT.fetch_add(1, Relaxed));
    MINE.with(|m| *m % shards)
}

/// The live profile of one model version.
#[derive(Debug)]
pub struct Monitor {
    config: MonitorConfig,
    /// The features in schema order, then the predictions.
    columns: Vec<Column>,
    /// Schema position → position among the numeric (or categorical)
    /// columns of a batch.
    kinds: Vec<(FeatureKind, usize)>,
    /// The owner's expectations, when the model carries some.
    rules: Option<Arc<Rules>>,
    /// Class labels of a classifier, to find the classes an expected
    /// share names.
    classes: Vec<String>,
    shards: Box<[Shard]>,
    /// When each column's level last changed, and to what.
    since: Mutex<Vec<(Level, SystemTime)>>,
    /// The health at the last [`Monitor::check`].
    checked: Mutex<Level>,
}

/// One of the owner's soft expectations in a [`Report`].
#[derive(Clone, Debug, Serialize)]
pub struct ExpectationReport {
    /// The feature, or `(prediction)`.
    pub field: String,
    /// The rule, e.g. `within [18, 100]` or `share of class yes at most 0.4`.
    pub rule: String,
    /// Always `soft`: rows breaking a hard one never get this far.
    pub severity: crate::artifact::expect::Severity,
    /// Rows in the window that broke it (features only).
    pub violations: Option<u64>,
    /// Their share of the window's rows (features only).
    pub rate: Option<f64>,
    /// The window's share of the class or mean prediction (outputs only;
    /// absent below the minimum rows).
    pub observed: Option<f64>,
    /// The verdict.
    pub level: Level,
}

/// One column in a [`Report`].
#[derive(Clone, Debug, Serialize)]
pub struct ColumnReport {
    /// The feature's name, or `(prediction)`.
    pub name: String,
    /// Share of live rows with the value missing.
    pub missing_rate: f64,
    /// Share of live rows outside the training min/max (numeric features,
    /// regression predictions).
    pub out_of_range_rate: f64,
    /// Share of live rows with a category unseen in training.
    pub unseen_rate: f64,
    /// The bins' labels, e.g. `[0.5, 1.2)`, `red`, `(unseen)`, `(missing)`.
    pub bins: Vec<String>,
    /// Training counts per bin.
    pub training: Vec<u64>,
    /// Live counts per bin.
    pub live: Vec<u64>,
    /// The drift score.
    pub drift: Score,
    /// When the current level was reached (Unix seconds in JSON).
    #[serde(serialize_with = "unix_seconds")]
    pub since: SystemTime,
}

/// What [`Monitor::report`] says.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Rows in the window.
    pub rows: u64,
    /// The worst level of any column.
    pub health: Level,
    /// One line per column at warn or alert, worst first.
    pub reasons: Vec<String>,
    /// The features in schema order, then the predictions.
    pub columns: Vec<ColumnReport>,
    /// The owner's soft expectations, when the model carries some.
    pub expectations: Vec<ExpectationReport>,
    /// The model's owning team, from its expectations.
    pub owner: Option<String>,
    /// Whom to call about it, from its expectations.
    pub contact: Option<String>,
}

impl Monitor {
    /// A monitor for `info`'s model, or `None` when it carries no training
    /// profile (there is nothing to compare with) or monitoring is off.
    pub fn new(info: &ModelInfo, config: MonitorConfig) -> Option<Monitor> {
        Self::build(info, None, config)
    }

    /// A monitor for `model`, which also counts the soft expectations the
    /// model carries (see [`crate::artifact::expect`]).
    pub fn for_model(model: &Model, config: MonitorConfig) -> Option<Monitor> {
        Self::build(model.info(), model.rules().cloned(), config)
    }

    fn build(
        info: &ModelInfo,
        rules: Option<Arc<Rules>>,
        config: MonitorConfig,
    ) -> Option<Monitor> {
        if !config.enabled {
            return None;
        }
        let profile = info.profile.as_ref()?;
        let mut columns = Vec::new();
        let mut kinds = Vec::new();
        let (mut numeric, mut categorical) = (0, 0);
        for (field, feature) in info.inputs.iter().zip(&profile.features) {
            match (field.kind, feature) {
                (FeatureKind::Numeric, FeatureProfile::Numeric(p)) => {
                    let mut reference = p.histogram.counts.clone();
                    reference.push(p.missing);
                    columns.push(Column {
                        name: field.name.clone(),
                        bins: Bins::Numeric {
                            edges: p.histogram.edges.clone(),
                        },
                        reference,
                    });
                    kinds.push((FeatureKind::Numeric, numeric));
                    numeric += 1;
                }
                (FeatureKind::Categorical, FeatureProfile::Categorical(p)) => {
                    let mut reference: Vec<u64> = p.frequencies.iter().map(|c| c.count).collect();
                    reference.push(0);
                    reference.push(p.missing);
                    columns.push(Column {
                        name: field.name.clone(),
                        bins: Bins::Categorical {
                            index: p
                                .frequencies
                                .iter()
                                .enumerate()
                                .map(|(i, c)| (c.category.clone(), i))
                                .collect(),
                        },
                        reference,
                    });
                    kinds.push((FeatureKind::Categorical, categorical));
                    categorical += 1;
                }
                // A profile that does not match its field: no monitoring
                // rather than wrong monitoring.
                _ => return None,
            }
        }
        columns.push(match &profile.predictions {
            PredictionProfile::Classification(counts) => Column {
                name: "(prediction)".into(),
                bins: Bins::Classes,
                reference: counts.clone(),
            },
            PredictionProfile::Regression(p) => {
                let mut reference = p.histogram.counts.clone();
                reference.push(p.missing);
                Column {
                    name: "(prediction)".into(),
                    bins: Bins::Numeric {
                        edges: p.histogram.edges.clone(),
                    },
                    reference,
                }
            }
        });
        let since = vec![(Level::Ok, SystemTime::now()); columns.len()];
        Some(Monitor {
            config,
            columns,
            kinds,
            rules,
            classes: match &info.outputs {
                Outputs::Classes(c) | Outputs::DecisionClasses(c) => c.clone(),
                Outputs::Target(_) => Vec::new(),
            },
            shards: (0..std::thread::available_parallelism().map_or(1, |n| n.get().min(16)))
                .map(|_| Shard::default())
                .collect(),
            since: Mutex::new(since),
            checked: Mutex::new(Level::Ok),
        })
    }

    /// Counts a scored batch into the window.
    ///
    /// Counting happens under the window's lock, straight into the current
    /// segment: for a one-row call that is one increment per feature, far
    /// cheaper than the allocations of counting aside and merging.
    pub fn observe(&self, batch: &Batch, scores: &Scores) {
        let rows = batch.rows as usize;
        if rows == 0 {
            return;
        }
        let now = Instant::now();
        let shard = &self.shards[shard_index(self.shards.len())];
        let mut window = shard.0.lock().unwrap_or_else(|e| e.into_inner());
        let segment = self.current_segment(&mut window, now);
        segment.rows += rows as u64;
        // `numeric_missing` is ascending: walk it alongside the values.
        let mut missing = batch.numeric_missing.iter().map(|&m| m as usize).peekable();
        for (c, (column, &(kind, k))) in self.columns.iter().zip(&self.kinds).enumerate() {
            let (counts, outside) = (&mut segment.counts[c], &mut segment.outside[c]);
            match (&column.bins, kind) {
                (Bins::Numeric { edges }, FeatureKind::Numeric) => {
                    let first = k * rows;
                    let values = batch.numeric.get(first..first + rows).unwrap_or(&[]);
                    for (i, &v) in values.iter().enumerate() {
                        while missing.next_if(|&m| m < first + i).is_some() {}
                        if missing.next_if_eq(&(first + i)).is_some() || v.is_nan() {
                            *counts.last_mut().expect("a missing bin") += 1;
                        } else {
                            let (bin, out) = numeric_bin(edges, v);
                            counts[bin] += 1;
                            *outside += u64::from(out);
                        }
                    }
                }
                (Bins::Categorical { index }, FeatureKind::Categorical) => {
                    let codes = batch
                        .categorical
                        .get(k * rows..(k + 1) * rows)
                        .unwrap_or(&[]);
                    let n = counts.len();
                    for code in codes {
                        let word = code.and_then(|c| batch.dictionary.get(c as usize));
                        match word {
                            Some(word) => {
                                let bin = index.get(word).copied().unwrap_or(n - 2);
                                counts[bin] += 1;
                                *outside += u64::from(bin == n - 2);
                            }
                            None => counts[n - 1] += 1,
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(rules) = &self.rules {
            for (slot, rule) in segment.broken.iter_mut().zip(rules.soft()) {
                *slot += rule.count(batch);
            }
        }
        let p = self.columns.len() - 1;
        match (&self.columns[p].bins, scores) {
            (Bins::Classes, Scores::Classification(ClassScores { labels, .. }))
            | (Bins::Classes, Scores::Decision(DecisionScores { labels, .. })) => {
                for &label in labels {
                    if let Some(slot) = segment.counts[p].get_mut(label as usize) {
                        *slot += 1;
                    }
                }
            }
            (Bins::Numeric { edges }, Scores::Regression(values)) => {
                segment.prediction_sum += values.iter().sum::<f64>();
                for &v in values {
                    let (bin, out) = numeric_bin(edges, v);
                    segment.counts[p][bin] += 1;
                    segment.outside[p] += u64::from(out);
                }
            }
            _ => {}
        }
    }

    /// The segment new rows go to: the newest, unless it is full or old.
    fn current_segment<'w>(&self, window: &'w mut Window, now: Instant) -> &'w mut Segment {
        let segment_rows = (self.config.window_rows / SEGMENTS).max(1);
        let segment_age = Duration::from_secs(self.config.window_seconds) / SEGMENTS as u32;
        let fresh = match window.segments.back() {
            Some(s) => s.rows >= segment_rows || now.duration_since(s.started) >= segment_age,
            None => true,
        };
        if fresh {
            window.segments.push_back(Segment {
                started: now,
                rows: 0,
                counts: self
                    .columns
                    .iter()
                    .map(|c| vec![0; c.reference.len()])
                    .collect(),
                outside: vec![0; self.columns.len()],
                broken: vec![0; self.rules.as_ref().map_or(0, |r| r.soft().len())],
                prediction_sum: 0.0,
            });
            Self::expire(window, &self.config, now, 1);
        }
        window.segments.back_mut().expect("pushed above")
    }

    /// Drops the segments that fell out of the window; `keep` of the
    /// newest stay regardless (the one being filled).
    fn expire(window: &mut Window, config: &MonitorConfig, now: Instant, keep: usize) {
        let max_age = Duration::from_secs(config.window_seconds);
        while window.segments.len() > keep {
            let oldest = window.segments.front().expect("more than `keep`");
            let rows: u64 = window.segments.iter().map(|s| s.rows).sum();
            let too_many = rows - oldest.rows >= config.window_rows;
            if too_many || now.duration_since(oldest.started) > max_age {
                window.segments.pop_front();
            } else {
                break;
            }
        }
    }

    /// The report, and the health at the previous check when it has
    /// changed since (every model starts at ok).
    pub fn check(&self) -> (Report, Option<Level>) {
        let report = self.report();
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        let before = std::mem::replace(&mut *checked, report.health);
        let changed = (before != report.health).then_some(before);
        (report, changed)
    }

    /// The window: the newest segments of all shards, up to `window_rows`
    /// rows (by the same rule as one shard's: the oldest segment stays
    /// while the newer ones hold fewer rows).
    fn merged(&self) -> Window {
        let now = Instant::now();
        let mut all: Vec<Segment> = Vec::new();
        for shard in &self.shards {
            let mut window = shard.0.lock().unwrap_or_else(|e| e.into_inner());
            Self::expire(&mut window, &self.config, now, 0);
            all.extend(window.segments.iter().cloned());
        }
        all.sort_by_key(|s| std::cmp::Reverse(s.started));
        let mut rows = 0;
        let mut segments = VecDeque::new();
        for s in all {
            if rows >= self.config.window_rows {
                break;
            }
            rows += s.rows;
            segments.push_front(s);
        }
        Window { segments }
    }

    /// Scores the window against the training profile.
    pub fn report(&self) -> Report {
        let window = self.merged();
        let rows: u64 = window.segments.iter().map(|s| s.rows).sum();
        let live: Vec<Vec<u64>> = (0..self.columns.len())
            .map(|c| {
                let mut total = vec![0u64; self.columns[c].reference.len()];
                for s in &window.segments {
                    for (t, v) in total.iter_mut().zip(&s.counts[c]) {
                        *t += v;
                    }
                }
                total
            })
            .collect();
        let outside: Vec<u64> = (0..self.columns.len())
            .map(|c| window.segments.iter().map(|s| s.outside[c]).sum())
            .collect();
        // The features are tested as one family; the predictions apart
        // (they follow from the features, not another hypothesis).
        let features = self.columns.len() - 1;
        // Unseen categories are reported as a rate, not tested: training
        // has none by definition, so any at all would read as certain
        // drift, and held-out data routinely has a few.
        let tested: Vec<(Vec<u64>, Vec<u64>)> = (0..features)
            .map(|c| {
                let column = &self.columns[c];
                let (mut reference, mut counts) = (column.reference.clone(), live[c].clone());
                if let Bins::Categorical { .. } = column.bins {
                    let unseen = reference.len() - 2;
                    reference.remove(unseen);
                    counts.remove(unseen);
                }
                (reference, counts)
            })
            .collect();
        let pairs: Vec<(&[u64], &[u64])> = tested
            .iter()
            .map(|(r, l)| (r.as_slice(), l.as_slice()))
            .collect();
        let mut scores = drift::score_all(&pairs, rows, &self.config.thresholds);
        scores.extend(drift::score_all(
            &[(&self.columns[features].reference, &live[features])],
            rows,
            &self.config.thresholds,
        ));
        let now = SystemTime::now();
        let mut since = self.since.lock().unwrap_or_else(|e| e.into_inner());
        let mut columns = Vec::new();
        let mut reasons: Vec<(Level, String)> = Vec::new();
        for (c, (column, score)) in self.columns.iter().zip(scores).enumerate() {
            if since[c].0 != score.level {
                since[c] = (score.level, now);
            }
            let share = |n: u64| {
                if rows == 0 {
                    0.0
                } else {
                    n as f64 / rows as f64
                }
            };
            let (missing, out_of_range, unseen) = match &column.bins {
                Bins::Numeric { .. } => (*live[c].last().unwrap_or(&0), outside[c], 0),
                Bins::Categorical { .. } => (*live[c].last().unwrap_or(&0), 0, outside[c]),
                Bins::Classes => (0, 0, 0),
            };
            if score.level != Level::Ok {
                reasons.push((
                    score.level,
                    format!(
                        "{} `{}`: PSI {:.3}, p {:.1e} after correction, over {} values",
                        level_word(score.level),
                        column.name,
                        score.psi,
                        score.p_adjusted,
                        score.rows
                    ),
                ));
            }
            columns.push(ColumnReport {
                name: column.name.clone(),
                missing_rate: share(missing),
                out_of_range_rate: share(out_of_range),
                unseen_rate: share(unseen),
                bins: labels(column, &self.classes),
                training: column.reference.clone(),
                live: live[c].clone(),
                drift: score,
                since: since[c].1,
            });
        }
        let expectations = self.expectations(&window, rows, &live, &mut reasons);
        reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
        Report {
            rows,
            health: reasons.first().map_or(Level::Ok, |r| r.0),
            reasons: reasons.into_iter().map(|r| r.1).collect(),
            columns,
            expectations,
            owner: self.rules.as_ref().map(|r| r.expectations.owner.clone()),
            contact: self.rules.as_ref().map(|r| r.expectations.contact.clone()),
        }
    }

    /// Judges the owner's soft expectations over the window: a feature's
    /// warns at its first breaking row and alerts at
    /// `expectation_alert_rate` of the rows; an output's alerts when the
    /// window (of at least `min_rows`) is outside its bounds.
    fn expectations(
        &self,
        window: &Window,
        rows: u64,
        live: &[Vec<u64>],
        reasons: &mut Vec<(Level, String)>,
    ) -> Vec<ExpectationReport> {
        let Some(rules) = &self.rules else {
            return Vec::new();
        };
        let thresholds = &self.config.thresholds;
        let owner = &rules.expectations.owner;
        let mut out = Vec::new();
        for (i, rule) in rules.soft().iter().enumerate() {
            let broken: u64 = window.segments.iter().map(|s| s.broken[i]).sum();
            let rate = if rows == 0 {
                0.0
            } else {
                broken as f64 / rows as f64
            };
            let level = if broken == 0 {
                Level::Ok
            } else if rate >= thresholds.expectation_alert_rate {
                Level::Alert
            } else {
                Level::Warn
            };
            if level != Level::Ok {
                reasons.push((
                    level,
                    format!(
                        "{} `{}`: {broken} of {rows} rows ({:.1} %) break the expectation {} (owner {owner})",
                        level_word(level),
                        rule.field,
                        rate * 100.0,
                        rule.text()
                    ),
                ));
            }
            out.push(ExpectationReport {
                field: rule.field.clone(),
                rule: rule.text(),
                severity: rule.severity,
                violations: Some(broken),
                rate: Some(rate),
                observed: None,
                level,
            });
        }
        let Some(outputs) = &rules.expectations.outputs else {
            return out;
        };
        let enough = rows >= thresholds.min_rows && rows > 0;
        let predictions = &live[self.columns.len() - 1];
        let mut judge = |rule: String, bounds: &Bounds, observed: f64| {
            let level = if enough && !bounds.contains(observed) {
                Level::Alert
            } else {
                Level::Ok
            };
            if level != Level::Ok {
                reasons.push((
                    level,
                    format!(
                        "alert `(prediction)`: {rule} is {observed:.4} over {rows} rows, expected {bounds} (owner {owner})"
                    ),
                ));
            }
            out.push(ExpectationReport {
                field: "(prediction)".into(),
                rule: format!("{rule} {bounds}"),
                severity: outputs.severity,
                violations: None,
                rate: None,
                observed: enough.then_some(observed),
                level,
            });
        };
        for (class, bounds) in &outputs.share {
            let Some(k) = self.classes.iter().position(|c| c == class) else {
                continue;
            };
            let share = predictions.get(k).copied().unwrap_or(0) as f64 / rows.max(1) as f64;
            judge(format!("the share of class {class}"), bounds, share);
        }
        if let Some(bounds) = &outputs.mean {
            let sum: f64 = window.segments.iter().map(|s| s.prediction_sum).sum();
            judge(
                "the mean prediction".into(),
                bounds,
                sum / rows.max(1) as f64,
            );
        }
        out
    }
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Alert => "alert",
        Level::Warn => "warn",
        Level::Ok => "ok",
    }
}

fn unix_seconds<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    )
}

/// The bin of `v` among `edges` (the last bin closed, as numpy's), and
/// whether it lies outside them (then it counts in the outer bin).
fn numeric_bin(edges: &[f64], v: f64) -> (usize, bool) {
    let bins = edges.len().saturating_sub(1).max(1);
    let (Some(&lo), Some(&hi)) = (edges.first(), edges.last()) else {
        return (0, false);
    };
    if v < lo {
        return (0, true);
    }
    if v > hi {
        return (bins - 1, true);
    }
    // Training histograms have equal widths (numpy's): guess the bin by
    // arithmetic and confirm it against the edges, which also covers
    // rounding at a boundary; search only when the guess is wrong.
    let guess = (((v - lo) / (hi - lo) * bins as f64) as usize).min(bins - 1);
    if edges[guess] <= v && (v < edges[guess + 1] || guess == bins - 1) {
        return (guess, false);
    }
    let above = edges.partition_point(|&e| e <= v);
    (above.saturating_sub(1).min(bins - 1), false)
}

fn labels(column: &Column, classes: &[String]) -> Vec<String> {
    match &column.bins {
        Bins::Numeric { edges } => edges
            .windows(2)
            .map(|w| format!("[{:.4}, {:.4})", w[0], w[1]))
            .chain(std::iter::once("(missing)".to_string()))
            .collect(),
        Bins::Categorical { index } => {
            let mut names = vec![String::new(); index.len()];
            for (name, &i) in index {
                names[i] = name.clone();
            }
            names.push("(unseen)".into());
            names.push("(missing)".into());
            names
        }
        Bins::Classes => (0..column.reference.len())
            .map(|i| {
                classes
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("class {i}"))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Field, Histogram, NumericProfile, Outputs, Task, TrainingProfile};

    fn profile() -> NumericProfile {
        NumericProfile {
            count: 100,
            missing: 0,
            mean: 1.0,
            std: 0.5,
            min: 0.0,
            max: 2.0,
            quantiles: vec![],
            histogram: Histogram {
                edges: vec![0.0, 1.0, 2.0],
                counts: vec![50, 50],
            },
        }
    }

    /// One numeric feature `x` on [0, 2], a regressor predicting the same.
    fn info() -> ModelInfo {
        ModelInfo {
            name: "m".into(),
            version: "1".into(),
            task: Task::Regression,
            inputs: vec![Field {
                name: "x".into(),
                kind: FeatureKind::Numeric,
                nullable: true,
                categories: vec![],
            }],
            outputs: Outputs::Target("y".into()),
            profile: Some(TrainingProfile {
                features: vec![FeatureProfile::Numeric(profile())],
                predictions: PredictionProfile::Regression(profile()),
            }),
            layout: crate::contract::NumericLayout::F64Columns,
        }
    }

    fn batch(values: &[f64], missing: &[u32]) -> (Batch, Scores) {
        let batch = Batch {
            rows: values.len() as u32,
            numeric: values.to_vec(),
            numeric_missing: missing.to_vec(),
            dictionary: vec![],
            categorical: vec![],
        };
        (
            batch,
            Scores::Regression(values.iter().map(|v| v.abs()).collect()),
        )
    }

    #[test]
    fn the_window_keeps_the_latest_rows_and_counts_what_it_sees() {
        let config = MonitorConfig {
            window_rows: 100,
            ..MonitorConfig::default()
        };
        let monitor = Monitor::new(&info(), config).unwrap();
        let (b, s) = batch(&[0.5, 1.5, 2.5, -1.0, 0.0], &[4]);
        monitor.observe(&b, &s);
        let r = monitor.report();
        assert_eq!(r.rows, 5);
        let x = &r.columns[0];
        assert_eq!(
            x.live,
            [2, 2, 1],
            "two per bin (out of range in the outer ones), one missing"
        );
        assert!((x.out_of_range_rate - 0.4).abs() < 1e-12);
        assert!((x.missing_rate - 0.2).abs() < 1e-12);
        assert_eq!(r.health, Level::Ok, "5 rows are too few for a verdict");
        // 30 batches of 10: the window keeps between 90 and 100 rows.
        for _ in 0..30 {
            let (b, s) = batch(&[1.5; 10], &[]);
            monitor.observe(&b, &s);
        }
        let r = monitor.report();
        assert!((90..=100).contains(&r.rows), "{}", r.rows);
        assert_eq!(
            r.columns[0].live,
            [0, r.rows, 0],
            "the first batch has left"
        );
    }

    #[test]
    fn threads_count_apart_and_the_window_holds_the_newest_rows_of_all() {
        let config = MonitorConfig {
            window_rows: 100,
            ..MonitorConfig::default()
        };
        let monitor = Monitor::new(&info(), config).unwrap();
        std::thread::scope(|s| {
            for value in [0.5, 1.5] {
                let monitor = &monitor;
                s.spawn(move || {
                    for _ in 0..20 {
                        let (b, sc) = batch(&[value; 10], &[]);
                        monitor.observe(&b, &sc);
                    }
                });
            }
        });
        let r = monitor.report();
        assert!((100..110).contains(&r.rows), "{}", r.rows);
        let x = &r.columns[0];
        assert_eq!(x.live.iter().sum::<u64>(), r.rows);
    }

    #[test]
    fn old_rows_leave_the_window() {
        let config = MonitorConfig {
            window_seconds: 0,
            ..MonitorConfig::default()
        };
        let monitor = Monitor::new(&info(), config).unwrap();
        let (b, s) = batch(&[0.5; 10], &[]);
        monitor.observe(&b, &s);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(monitor.report().rows, 0);
    }

    #[test]
    fn a_shifted_feature_alerts_with_its_reason() {
        let monitor = Monitor::new(&info(), MonitorConfig::default()).unwrap();
        let (b, s) = batch(&[1.5; 300], &[]);
        monitor.observe(&b, &s);
        let r = monitor.report();
        assert_eq!(r.health, Level::Alert);
        assert!(
            r.reasons[0].starts_with("alert `x`: PSI"),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn values_fall_in_numpys_bins() {
        let edges = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(numeric_bin(&edges, 0.0), (0, false));
        assert_eq!(numeric_bin(&edges, 0.999), (0, false));
        assert_eq!(numeric_bin(&edges, 1.0), (1, false));
        assert_eq!(
            numeric_bin(&edges, 3.0),
            (2, false),
            "the last bin is closed"
        );
        assert_eq!(numeric_bin(&edges, 3.5), (2, true));
        assert_eq!(numeric_bin(&edges, -1.0), (0, true));
        // Unequal widths take the search.
        let uneven = [0.0, 0.1, 2.0, 3.0];
        assert_eq!(numeric_bin(&uneven, 0.5), (1, false));
        assert_eq!(numeric_bin(&uneven, 2.0), (2, false));
        assert_eq!(numeric_bin(&uneven, 0.05), (0, false));
    }
}
