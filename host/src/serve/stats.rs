//! What the dashboard shows of each deployment's traffic: calls by
//! outcome, a latency histogram, the call rate over the last minute, and
//! the latest contract violations.
//!
//! These duplicate part of the OpenTelemetry metrics on purpose: the OTel
//! SDK offers no way to read its aggregates back in-process, and the
//! dashboard must work with telemetry off. Counting is a few relaxed
//! atomic increments per call; only a refused call takes a lock, to keep
//! its violations.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::{Value, json};

use crate::Violation;

/// The outcomes counted, as [`crate::Error::outcome`] names them, plus
/// `busy` for requests refused by admission control.
const OUTCOMES: [&str; 9] = [
    "ok",
    "invalid_input",
    "guest_error",
    "trap",
    "timeout",
    "out_of_memory",
    "bad_output",
    "busy",
    "other",
];

/// Upper bounds of the latency buckets: 50 µs doubling up to ~13 s, then
/// everything above.
const BUCKETS: usize = 19;

/// Seconds of call-rate history.
const RATE_WINDOW: usize = 60;

/// Violations kept per deployment.
const RECENT: usize = 20;

/// One recent contract violation.
#[derive(Clone, Debug, Serialize)]
pub struct RecentViolation {
    /// When (Unix seconds).
    pub time: f64,
    /// The row within its request.
    pub row: usize,
    /// The field.
    pub field: String,
    /// What the contract wants.
    pub expected: String,
    /// What came.
    pub got: String,
}

/// Traffic of one deployment.
#[derive(Debug)]
pub struct Stats {
    started: Instant,
    outcomes: [AtomicU64; OUTCOMES.len()],
    rows: AtomicU64,
    latency: [AtomicU64; BUCKETS],
    /// Per second (modulo the window): which second, and its calls.
    rate: [(AtomicU64, AtomicU64); RATE_WINDOW],
    violations: Mutex<VecDeque<RecentViolation>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            outcomes: Default::default(),
            rows: AtomicU64::new(0),
            latency: Default::default(),
            rate: std::array::from_fn(|_| (AtomicU64::new(u64::MAX), AtomicU64::new(0))),
            violations: Mutex::new(VecDeque::new()),
        }
    }
}

fn bucket_bound(i: usize) -> f64 {
    50e-6 * f64::from(1u32 << i)
}

impl Stats {
    /// Counts one call of `rows` rows that took `elapsed` and ended as
    /// `outcome`.
    pub fn record(&self, outcome: &str, rows: usize, elapsed: Duration) {
        let o = OUTCOMES
            .iter()
            .position(|&n| n == outcome)
            .unwrap_or(OUTCOMES.len() - 1);
        self.outcomes[o].fetch_add(1, Relaxed);
        self.rows.fetch_add(rows as u64, Relaxed);
        let seconds = elapsed.as_secs_f64();
        let b = (0..BUCKETS - 1)
            .find(|&i| seconds <= bucket_bound(i))
            .unwrap_or(BUCKETS - 1);
        self.latency[b].fetch_add(1, Relaxed);
        let now = self.started.elapsed().as_secs();
        let (second, count) = &self.rate[now as usize % RATE_WINDOW];
        // The first call of a new second claims the slot and resets it;
        // a call racing it at the boundary may be lost, which a rate on a
        // dashboard can afford.
        let seen = second.load(Relaxed);
        if seen != now && second.compare_exchange(seen, now, Relaxed, Relaxed).is_ok() {
            count.store(0, Relaxed);
        }
        count.fetch_add(1, Relaxed);
    }

    /// Keeps the violations of a refused call (the newest [`RECENT`]).
    pub fn violations(&self, violations: &[Violation]) {
        if violations.is_empty() {
            return;
        }
        let time = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut recent = self
            .violations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for v in violations.iter().take(RECENT) {
            if recent.len() == RECENT {
                recent.pop_back();
            }
            recent.push_front(RecentViolation {
                time,
                row: v.row,
                field: v.field.clone(),
                expected: v.expected.clone(),
                got: v.got.clone(),
            });
        }
    }

    /// The figures as JSON: `calls`, `rows`, `outcomes`,
    /// `calls_per_second` (over the last minute) and `latency_seconds`
    /// (`p50`, `p99`: the upper bound of the bucket holding them).
    pub fn json(&self) -> Value {
        let counts: Vec<u64> = self.outcomes.iter().map(|c| c.load(Relaxed)).collect();
        let calls: u64 = counts.iter().sum();
        let outcomes: serde_json::Map<String, Value> = OUTCOMES
            .iter()
            .zip(&counts)
            .filter(|(_, n)| **n > 0)
            .map(|(o, n)| (o.to_string(), json!(n)))
            .collect();
        let latency: Vec<u64> = self.latency.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = latency.iter().sum();
        let quantile = |q: f64| {
            let target = (q * total as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, n) in latency.iter().enumerate() {
                seen += n;
                if seen >= target {
                    return bucket_bound(i);
                }
            }
            bucket_bound(BUCKETS - 1)
        };
        // The last minute, the second now filling included, over the time
        // it spans (less while the deployment is younger than a minute).
        let elapsed = self.started.elapsed().as_secs_f64();
        let now = elapsed as u64;
        let recent: u64 = self
            .rate
            .iter()
            .filter(|(s, _)| {
                let s = s.load(Relaxed);
                s != u64::MAX && s <= now && now - s < RATE_WINDOW as u64
            })
            .map(|(_, c)| c.load(Relaxed))
            .sum();
        let span = elapsed
            .min((RATE_WINDOW - 1) as f64 + elapsed.fract())
            .max(1e-3);
        let violations: Vec<RecentViolation> = self
            .violations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        json!({
            "calls": calls,
            "rows": self.rows.load(Relaxed),
            "outcomes": outcomes,
            "calls_per_second": recent as f64 / span,
            "latency_seconds": if total == 0 {
                Value::Null
            } else {
                json!({"p50": quantile(0.5), "p99": quantile(0.99)})
            },
            "violations": violations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outcomes_latency_and_violations() {
        let s = Stats::default();
        for _ in 0..98 {
            s.record("ok", 2, Duration::from_micros(80));
        }
        s.record("invalid_input", 1, Duration::from_micros(10));
        s.record("something new", 1, Duration::from_secs(100));
        s.violations(&[Violation {
            row: 3,
            field: "x".into(),
            expected: "a number".into(),
            got: "\"a\"".into(),
        }]);
        let j = s.json();
        assert_eq!(j["calls"], 100);
        assert_eq!(j["rows"], 198);
        assert_eq!(j["outcomes"]["ok"], 98);
        assert_eq!(j["outcomes"]["other"], 1);
        assert_eq!(j["latency_seconds"]["p50"], 100e-6, "80 µs is in (50, 100]");
        assert_eq!(j["latency_seconds"]["p99"], 100e-6);
        assert_eq!(j["violations"][0]["field"], "x");
        assert_eq!(j["violations"][0]["row"], 3);
    }
}
