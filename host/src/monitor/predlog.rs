//! The prediction log: a sampled, durable record of what models were asked
//! and what they answered, for data scientists to load into a notebook and
//! for `glassbox report` to judge offline.
//!
//! Files are JSON Lines, one scored row per line, so that one line of
//! pandas loads them (`pd.read_json(path, lines=True)`):
//!
//! ```json
//! {"time":"2026-12-02T20:14:18.123456Z","model":"churn","version":"1.0.0","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","inputs":{"age":42.0,"device":"ios"},"label":"stay","probabilities":[0.2,0.8]}
//! ```
//!
//! (`value` instead of `label` and `probabilities` for a regressor;
//! `trace_id` is `null` when the call was not traced.)
//!
//! Writing happens on a thread of its own: the scoring path samples (a
//! counter, no randomness: exactly `sample_rate` of the calls, evenly
//! spread), moves the batch and a copy of the answers into a bounded
//! queue, and goes on; the writer takes what the queue holds every 20 ms. The writer turns them into lines, flushes and
//! `fsync`s every `flush_seconds`, and starts a new file when one reaches
//! `max_file_bytes`. A clean shutdown ([`PredictionLog::close`]) writes
//! everything queued; a crash loses at most the last flush interval. When
//! the disk cannot keep up and the queue is full, calls are not held up:
//! the entry is dropped and counted ([`PredictionLog::dropped`]).

use std::fs::File;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contract::{
    Batch, ClassScores, DecisionScores, FeatureKind, ModelInfo, Outputs, Scores,
};
use crate::error::{Error, Result};

/// How often the writer takes what the queue holds.
const DRAIN: Duration = Duration::from_millis(20);

/// Where and how much to log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PredictionLogConfig {
    /// Directory for the files; no log when unset (the default).
    pub dir: Option<PathBuf>,
    /// Share of calls logged, in [0, 1]. Default 1.
    pub sample_rate: f64,
    /// A file is closed and a new one started past this size. Default 64 MiB.
    pub max_file_bytes: u64,
    /// How often written lines are flushed to disk. Default 1 s.
    pub flush_seconds: f64,
    /// Calls waiting for the writer at most; more are dropped and counted.
    /// Default 65,536.
    pub queue: usize,
}

impl Default for PredictionLogConfig {
    fn default() -> Self {
        PredictionLogConfig {
            dir: None,
            sample_rate: 1.0,
            max_file_bytes: 64 << 20,
            flush_seconds: 1.0,
            queue: 65_536,
        }
    }
}

/// A model as the log writes it: its description, and the pieces of JSON
/// that are the same on each of its lines, made once.
#[derive(Debug)]
pub struct LoggedModel {
    info: ModelInfo,
    /// `"model":"…","version":"…"`.
    head: Vec<u8>,
    /// `"name":` of each input, in schema order.
    keys: Vec<Vec<u8>>,
}

impl LoggedModel {
    /// What the log needs of the model `info` describes.
    pub fn new(info: &ModelInfo) -> Arc<LoggedModel> {
        let json = |s: &str| serde_json::to_vec(s).expect("a string always serialises");
        let mut head = b"\"model\":".to_vec();
        head.extend(json(&info.name));
        head.extend_from_slice(b",\"version\":");
        head.extend(json(&info.version));
        let keys = info
            .inputs
            .iter()
            .map(|f| {
                let mut k = json(&f.name);
                k.push(b':');
                k
            })
            .collect();
        Arc::new(LoggedModel {
            info: info.clone(),
            head,
            keys,
        })
    }
}

/// One logged call, on its way to the writer.
struct Entry {
    time: SystemTime,
    model: Arc<LoggedModel>,
    trace_id: Option<String>,
    batch: Batch,
    scores: Scores,
}

/// A running prediction log. Cheap to share behind an `Arc`.
pub struct PredictionLog {
    sender: Mutex<Option<SyncSender<Entry>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    sample_rate: f64,
    calls: AtomicU64,
    dropped: Arc<AtomicU64>,
    dir: PathBuf,
}

impl std::fmt::Debug for PredictionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictionLog")
            .field("dir", &self.dir)
            .finish()
    }
}

impl PredictionLog {
    /// Starts the writer, or `None` when `config.dir` is unset. The
    /// directory is created; an error names it.
    pub fn start(config: &PredictionLogConfig) -> Result<Option<PredictionLog>> {
        let Some(dir) = &config.dir else {
            return Ok(None);
        };
        let bad = |what: String| Error::Io {
            path: dir.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, what),
        };
        if !(0.0..=1.0).contains(&config.sample_rate) {
            return Err(bad(format!(
                "prediction_log.sample_rate must be in [0, 1], not {}",
                config.sample_rate
            )));
        }
        if !(config.flush_seconds > 0.0 && config.flush_seconds.is_finite()) {
            return Err(bad(format!(
                "prediction_log.flush_seconds must be a positive number of seconds, not {}",
                config.flush_seconds
            )));
        }
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(config.queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            dir: dir.clone(),
            max_file_bytes: config.max_file_bytes.max(1),
            flush: Duration::from_secs_f64(config.flush_seconds),
            file: None,
            written: 0,
            sequence: 0,
            dropped: dropped.clone(),
        };
        let writer = std::thread::Builder::new()
            .name("glassbox-predlog".into())
            .spawn(move || writer.run(receiver))
            .map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
        Ok(Some(PredictionLog {
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            sample_rate: config.sample_rate,
            calls: AtomicU64::new(0),
            dropped,
            dir: dir.clone(),
        }))
    }

    /// The directory written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the next call is to be logged: exactly `sample_rate` of
    /// them, evenly spread.
    pub fn sample(&self) -> bool {
        if self.sample_rate >= 1.0 {
            return true;
        }
        let n = self.calls.fetch_add(1, Relaxed) as f64;
        ((n + 1.0) * self.sample_rate).floor() > (n * self.sample_rate).floor()
    }

    /// Queues a scored call (call [`Self::sample`] first). Never blocks:
    /// with the queue full, the entry is dropped and counted.
    pub fn record(
        &self,
        model: &Arc<LoggedModel>,
        trace_id: Option<String>,
        batch: Batch,
        scores: Scores,
    ) {
        let rows = u64::from(batch.rows);
        let entry = Entry {
            time: SystemTime::now(),
            model: model.clone(),
            trace_id,
            batch,
            scores,
        };
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let sent = match sender.as_ref() {
            Some(s) => match s.try_send(entry) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            self.dropped.fetch_add(rows, Relaxed);
        }
    }

    /// Rows that could not be logged: queue full, or the disk failed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Writes everything queued, flushes and syncs, and stops the writer.
    /// Later records are dropped (and counted).
    pub fn close(&self) {
        drop(self.sender.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

impl Drop for PredictionLog {
    fn drop(&mut self) {
        self.close();
    }
}

struct Writer {
    dir: PathBuf,
    max_file_bytes: u64,
    flush: Duration,
    file: Option<BufWriter<File>>,
    written: u64,
    sequence: u64,
    dropped: Arc<AtomicU64>,
}

impl Writer {
    /// Drains the queue every [`DRAIN`] rather than waking for each
    /// entry: a wake-up per call (a futex on each side) cost more than
    /// writing a sampled call's line.
    fn run(mut self, receiver: Receiver<Entry>) {
        let mut last_flush = Instant::now();
        let mut line = Vec::with_capacity(1024);
        loop {
            let open = loop {
                match receiver.try_recv() {
                    Ok(entry) => {
                        if let Err(e) = self.write(&entry, &mut line) {
                            tracing::error!("prediction log in {}: {e}", self.dir.display());
                            self.dropped.fetch_add(u64::from(entry.batch.rows), Relaxed);
                            // Start afresh with the next entry.
                            self.file = None;
                        }
                    }
                    Err(TryRecvError::Empty) => break true,
                    Err(TryRecvError::Disconnected) => break false,
                }
            };
            if !open {
                break;
            }
            if last_flush.elapsed() >= self.flush {
                self.sync();
                last_flush = Instant::now();
            }
            std::thread::sleep(DRAIN.min(self.flush));
        }
        self.sync();
    }

    fn sync(&mut self) {
        if let Some(file) = &mut self.file {
            let result = file.flush().and_then(|()| file.get_ref().sync_data());
            if let Err(e) = result {
                tracing::error!("prediction log in {}: {e}", self.dir.display());
            }
        }
    }

    /// Writes `entry`'s rows, one line each. The JSON is put together by
    /// hand from pieces made once per model ([`LoggedModel`]): through
    /// serde, a row of 64 features cost 64 key strings and a map, and the
    /// writer thread was the log's whole cost.
    fn write(&mut self, entry: &Entry, line: &mut Vec<u8>) -> std::io::Result<()> {
        let time = rfc3339(entry.time);
        let m = &*entry.model;
        let info = &m.info;
        let batch = &entry.batch;
        let rows = batch.rows as usize;
        for row in 0..rows {
            line.clear();
            line.extend_from_slice(b"{\"time\":\"");
            line.extend_from_slice(time.as_bytes());
            line.extend_from_slice(b"\",");
            line.extend_from_slice(&m.head);
            line.extend_from_slice(b",\"trace_id\":");
            match &entry.trace_id {
                Some(t) => serde_json::to_writer(&mut *line, t)?,
                None => line.extend_from_slice(b"null"),
            }
            line.extend_from_slice(b",\"inputs\":{");
            let (mut numeric, mut categorical) = (0, 0);
            for (i, (field, key)) in info.inputs.iter().zip(&m.keys).enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                line.extend_from_slice(key);
                match field.kind {
                    FeatureKind::Numeric => {
                        let at = numeric * rows + row;
                        numeric += 1;
                        let missing = !batch.numeric_missing.is_empty()
                            && batch.numeric_missing.binary_search(&(at as u32)).is_ok();
                        match batch.numeric.get(at) {
                            Some(v) if !missing && v.is_finite() => {
                                serde_json::to_writer(&mut *line, v)?;
                            }
                            _ => line.extend_from_slice(b"null"),
                        }
                    }
                    FeatureKind::Categorical => {
                        let at = categorical * rows + row;
                        categorical += 1;
                        let word = batch
                            .categorical
                            .get(at)
                            .copied()
                            .flatten()
                            .and_then(|c| batch.dictionary.get(c as usize));
                        match word {
                            Some(w) => serde_json::to_writer(&mut *line, w)?,
                            None => line.extend_from_slice(b"null"),
                        }
                    }
                }
            }
            line.push(b'}');
            match (&entry.scores, &info.outputs) {
                (Scores::Classification(c), Outputs::Classes(classes)) => {
                    let k = classes.len();
                    let label = c.labels.get(row).and_then(|&l| classes.get(l as usize));
                    if let Some(label) = label {
                        line.extend_from_slice(b",\"label\":");
                        serde_json::to_writer(&mut *line, label)?;
                    }
                    if let Some(p) = c.probabilities.get(row * k..(row + 1) * k) {
                        line.extend_from_slice(b",\"probabilities\":");
                        serde_json::to_writer(&mut *line, p)?;
                    }
                }
                (Scores::Decision(d), Outputs::DecisionClasses(classes)) => {
                    let w = crate::runtime::batch::decision_width(classes.len());
                    let label = d.labels.get(row).and_then(|&l| classes.get(l as usize));
                    if let Some(label) = label {
                        line.extend_from_slice(b",\"label\":");
                        serde_json::to_writer(&mut *line, label)?;
                    }
                    if let Some(s) = d.scores.get(row * w..(row + 1) * w) {
                        line.extend_from_slice(b",\"scores\":");
                        serde_json::to_writer(&mut *line, s)?;
                    }
                }
                (Scores::Regression(values), _) => {
                    if let Some(v) = values.get(row).filter(|v| v.is_finite()) {
                        line.extend_from_slice(b",\"value\":");
                        serde_json::to_writer(&mut *line, v)?;
                    }
                }
                _ => {}
            }
            line.extend_from_slice(b"}\n");
            if self.file.is_none() || self.written >= self.max_file_bytes {
                self.rotate()?;
            }
            let file = self.file.as_mut().expect("opened just above");
            file.write_all(line)?;
            self.written += line.len() as u64;
        }
        Ok(())
    }

    /// Closes the current file (flushed and synced) and opens the next.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.sync();
        let stamp = rfc3339(SystemTime::now()).replace([':', '-'], "");
        // A name that sorts in writing order: the start time, then a
        // sequence number for files started within the same microsecond.
        let path = self.dir.join(format!(
            "predictions-{}-{:04}.jsonl",
            stamp.trim_end_matches('Z'),
            self.sequence
        ));
        self.sequence += 1;
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)?;
        self.file = Some(BufWriter::with_capacity(256 << 10, file));
        self.written = 0;
        Ok(())
    }
}

/// One line of the log, as read back: what a report needs.
#[derive(Deserialize)]
struct Logline {
    model: String,
    version: String,
    inputs: Map<String, Value>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    value: Option<f64>,
}

/// `2026-12-02T20:14:18.123456Z`.
fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// What [`read`] found for one model: its rows and answers, in batches.
#[derive(Debug, Default)]
pub struct Logged {
    /// Batches of logged rows with the answers given, in file order.
    pub batches: Vec<(Batch, Scores)>,
    /// Rows read for the model.
    pub rows: u64,
    /// Lines for other models or versions, skipped.
    pub other: u64,
}

/// Reads the log files `paths` (files, or directories whose `.jsonl` files
/// are read in name order) and keeps the lines of `info`'s model and
/// version. A line that is not a log record is an error naming the file
/// and line.
pub fn read(paths: &[PathBuf], info: &ModelInfo) -> Result<Logged> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(path.clone());
        }
    }
    const CHUNK: usize = 1024;
    let mut logged = Logged::default();
    let mut rows: Vec<crate::Row> = Vec::with_capacity(CHUNK);
    let mut answers: Vec<(Option<String>, Option<f64>)> = Vec::with_capacity(CHUNK);
    let flush = |rows: &mut Vec<crate::Row>,
                 answers: &mut Vec<(Option<String>, Option<f64>)>,
                 logged: &mut Logged,
                 at: &str|
     -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = crate::runtime::batch::from_rows(info, rows).map_err(|v| {
            Error::Training(format!(
                "{at}: logged inputs do not fit the model: {}",
                v.first().map(ToString::to_string).unwrap_or_default()
            ))
        })?;
        let labels = |classes: &[String]| -> Vec<u32> {
            answers
                .iter()
                .map(|(label, _)| {
                    label
                        .as_ref()
                        .and_then(|l| classes.iter().position(|c| c == l))
                        .map_or(u32::MAX, |i| i as u32)
                })
                .collect()
        };
        // The log keeps labels, not probabilities or scores.
        let scores = match &info.outputs {
            Outputs::Classes(classes) => Scores::Classification(ClassScores {
                labels: labels(classes),
                probabilities: Vec::new(),
            }),
            Outputs::DecisionClasses(classes) => Scores::Decision(DecisionScores {
                labels: labels(classes),
                scores: Vec::new(),
            }),
            Outputs::Target(_) => {
                Scores::Regression(answers.iter().map(|(_, v)| v.unwrap_or(f64::NAN)).collect())
            }
        };
        logged.batches.push((batch, scores));
        rows.clear();
        answers.clear();
        Ok(())
    };
    for file in &files {
        let f = File::open(file).map_err(|source| Error::Io {
            path: file.clone(),
            source,
        })?;
        let name = file.display().to_string();
        for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
            let at = format!("{name}:{}", i + 1);
            let line = line.map_err(|source| Error::Io {
                path: file.clone(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            // A crash can leave the last line cut short; say where.
            let record: Logline = serde_json::from_str(&line)
                .map_err(|e| Error::Training(format!("{at}: not a prediction log line: {e}")))?;
            if record.model != info.name || record.version != info.version {
                logged.other += 1;
                continue;
            }
            rows.push(record.inputs);
            answers.push((record.label, record.value));
            logged.rows += 1;
            if rows.len() == CHUNK {
                flush(&mut rows, &mut answers, &mut logged, &at)?;
            }
        }
        flush(&mut rows, &mut answers, &mut logged, &name)?;
    }
    Ok(logged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_242_132_472_674);
        assert_eq!(rfc3339(t), "2026-12-02T20:08:52.472674Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000Z"
        );
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn sampling_takes_exactly_the_rate() {
        let dir = std::env::temp_dir().join(format!("glassbox-predlog-s-{}", std::process::id()));
        let log = PredictionLog::start(&PredictionLogConfig {
            dir: Some(dir.clone()),
            sample_rate: 0.1,
            ..PredictionLogConfig::default()
        })
        .unwrap()
        .unwrap();
        let taken = (0..1000).filter(|_| log.sample()).count();
        assert_eq!(taken, 100);
        log.close();
        let _ = std::fs::remove_dir_all(dir);
    }
}
