//! `glassbox compile`: an ONNX pipeline and its training data become one
//! self-contained component.
//!
//! The steps:
//!
//! 1. Read the training file: its columns are the model's fields, in order.
//! 2. Plan the graph natively with the guest SDK's ONNX engine — every
//!    operator and attribute checked, constants folded, inputs bound to the
//!    fields, class labels found. An unsupported node fails here, by name.
//! 3. Score the training rows natively and profile the fields and the
//!    predictions.
//! 4. Instantiate the runner guest (built into this binary), hand it the
//!    ONNX bytes and the model description, and let it plan the graph in its
//!    own memory. Snapshot that memory into the data segments of a copy of
//!    the runner module, minus the initialisation export. The planned model
//!    thus lives in the component's data: instantiating it is a
//!    copy-on-write mapping, and no call ever parses ONNX.
//! 5. Wrap the module into a component and add a `glassbox-source` custom
//!    section naming the ONNX file's digest.
//! 6. Load the component like any model and score the training rows again:
//!    the answers must be the native plan's, or the compile fails.
//!
//! ```no_run
//! use glassbox::compile::{CompileOptions, compile};
//! use glassbox::compile::training::TrainingData;
//!
//! let onnx = std::fs::read("pipeline.onnx").unwrap();
//! let train = TrainingData::read("train.jsonl")?;
//! let compiled = compile(&onnx, &train, &CompileOptions::new("churn"))?;
//! std::fs::write("churn.wasm", &compiled.component).unwrap();
//! # Ok::<_, glassbox::Error>(())
//! ```

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::Engine;
use crate::artifact::Source;
use crate::artifact::expect::Expectations;
use crate::contract::{ModelInfo, NumericLayout, Outputs, Scores, Task, TrainingProfile};
use crate::error::{Error, Result};
use crate::runtime::batch::{self, Prediction, Row};

pub mod check;
pub mod componentize;
pub mod onnx;
pub mod profile;
pub mod training;
pub mod trees;

use glassbox_onnx::Answers;
use training::TrainingData;

/// The runner guest, a core module built by `build.rs`.
const RUNNER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/runner.wasm"));

/// Rows per native or component call while profiling and verifying.
const CHUNK: usize = 4096;

/// What `compile` is asked to do.
pub struct CompileOptions<'a> {
    /// The model's name.
    pub name: String,
    /// The model's version.
    pub version: String,
    /// What the model's owner expects of its inputs and outputs; checked
    /// against the schema and embedded (see [`crate::artifact::expect`]).
    pub expectations: Option<Expectations>,
    /// Called as each step starts, with a short description (for progress
    /// output on long compiles).
    pub progress: Option<&'a dyn Fn(&str)>,
    /// Which tree ensembles become code ([`trees`]).
    pub trees: trees::TreeMode,
}

impl<'a> CompileOptions<'a> {
    /// Options with `name`, version `1.0.0` and no progress output.
    pub fn new(name: impl Into<String>) -> Self {
        CompileOptions {
            name: name.into(),
            version: "1.0.0".into(),
            expectations: None,
            progress: None,
            trees: trees::TreeMode::Auto,
        }
    }

    fn step(&self, what: &str) {
        if let Some(p) = self.progress {
            p(what);
        }
    }
}

/// A compiled model and what went into it.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The component's bytes.
    pub component: Vec<u8>,
    /// The description the component returns from `info()`.
    pub info: ModelInfo,
    /// Provenance (also embedded in the component).
    pub source: Source,
    /// Figures for the compile summary.
    pub summary: Summary,
}

/// Sizes and times of a compile.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Nodes in the ONNX graph.
    pub nodes: usize,
    /// Nodes left to run per call after constant folding.
    pub steps: usize,
    /// Trees over all tree ensembles.
    pub trees: usize,
    /// Tree nodes over all tree ensembles.
    pub tree_nodes: usize,
    /// Tree ensembles compiled to code (the others keep the data walk).
    pub tree_code: usize,
    /// Bytes of wasm generated for them.
    pub tree_code_bytes: usize,
    /// Bytes of linear memory the snapshot keeps (the planned model).
    pub snapshot_bytes: usize,
    /// Data segments written.
    pub segments: usize,
    /// The component's initial linear memory (stack, plan and allocator).
    pub memory_bytes: usize,
    /// Total time.
    pub elapsed: Duration,
}

/// Compiles an ONNX pipeline, with the data it was trained on, into a
/// component. See the module documentation for the steps.
pub fn compile(onnx: &[u8], train: &TrainingData, opts: &CompileOptions<'_>) -> Result<Compiled> {
    let started = Instant::now();
    opts.step("planning the graph");
    let decoded = onnx::OnnxModel::decode(onnx)?;
    let guest_fields: Vec<glassbox_guest::Field> = convert(&train.fields)?;
    let program = contained(|| glassbox_onnx::Program::from_proto(decoded.proto(), &guest_fields))?
        .map_err(|e| Error::InvalidOnnx(e.to_string()))?;
    let stats = program.stats().clone();
    let (program, answers) = match program.classes() {
        Some(classes) => {
            let (classes, answers) = decide_answers(&program, classes, train, &guest_fields)?;
            if answers != Answers::Probabilities {
                opts.step("the classifier answers decision scores, not probabilities");
            }
            (program.with_classes(classes), answers)
        }
        None => (program, Answers::Probabilities),
    };
    // The products the component hands to the host, and the native plan
    // that computes them with the host's arithmetic (fused multiply-adds),
    // so that the check below compares like with like.
    let weights = program.host_weights();
    let program = program.with_answers(answers).with_host_linalg();

    let outputs = match program.classes() {
        Some(classes) if answers == Answers::Probabilities => Outputs::Classes(classes.to_vec()),
        Some(classes) => Outputs::DecisionClasses(classes.to_vec()),
        None => Outputs::Target(
            decoded
                .outputs()
                .first()
                .map_or_else(|| "prediction".into(), |o| o.name.clone()),
        ),
    };
    let mut info = ModelInfo {
        name: opts.name.clone(),
        version: opts.version.clone(),
        task: match program.task() {
            glassbox_guest::Task::Classification => Task::Classification,
            glassbox_guest::Task::Regression => Task::Regression,
        },
        inputs: train.fields.clone(),
        outputs,
        profile: None,
        // A graph on one float32 matrix gets it built by the host.
        layout: if program.takes_f32_rows() {
            NumericLayout::F32Rows
        } else {
            NumericLayout::F64Columns
        },
    };
    // Before the long steps: a typo in the expectations fails at once.
    if let Some(e) = &opts.expectations {
        e.check(&info)?;
    }

    opts.step(&format!(
        "scoring and profiling {} training rows",
        train.rows.len()
    ));
    let mut native = Vec::with_capacity(train.rows.len());
    for rows in train.rows.chunks(CHUNK) {
        let batch = batch::from_rows(&info, rows).map_err(|v| {
            Error::Training(format!(
                "the training rows do not fit their own schema: {}",
                v.first().map(ToString::to_string).unwrap_or_default()
            ))
        })?;
        let raw: glassbox_guest::RawBatch = convert(&batch)?;
        let scores = contained(|| program.score(&glassbox_guest::Batch::new(&raw, &guest_fields)))?
            .map_err(|e| Error::InvalidOnnx(format!("scoring the training rows failed: {e:?}")))?;
        let scores: Scores = convert(&scores)?;
        let at = native.len();
        native.extend(batch::predictions(&info, scores));
        // A model that answers its own training rows with NaN would fail
        // those rows in production: refuse it now.
        if let Some((row, Prediction::Invalid { error })) =
            native[at..].iter().enumerate().find(|(_, p)| !p.is_valid())
        {
            return Err(Error::InvalidOnnx(format!(
                "the graph's answer for training row {} is unusable: {error}",
                at + row
            )));
        }
    }
    let features = profile::profile_rows(&info, &train.rows).map_err(|v| {
        Error::Training(format!("{} rows break the schema, e.g. {}", v.len(), v[0]))
    })?;
    info.profile = Some(TrainingProfile {
        features,
        predictions: profile::prediction_profile(&info, &native),
    });

    // Tree ensembles within the budget become functions appended to the
    // runner: their table slots follow the runner's own, and the plan the
    // runner makes below holds them.
    let ensembles = program.tree_ensembles();
    let chosen = trees::choose(&ensembles, opts.trees);
    let layout = Layout::read(RUNNER)?;
    let coded: Vec<&glassbox_onnx::graph::Trees> = ensembles
        .iter()
        .zip(&chosen)
        .filter_map(|(t, &c)| c.then_some(t))
        .collect();
    if !coded.is_empty() {
        let nodes: u64 = coded.iter().map(|t| trees::expanded_nodes(t)).sum();
        opts.step(&format!(
            "generating code for {} tree ensemble{} ({nodes} nodes)",
            coded.len(),
            if coded.len() == 1 { "" } else { "s" }
        ));
    }
    let generated = trees::generate(&coded, layout.functions, layout.types);
    let mut slots = (layout.table..).zip(&generated.entries);
    let codes: Vec<u32> = chosen
        .iter()
        .map(|&c| {
            if c {
                slots.next().map_or(0, |(slot, _)| slot)
            } else {
                0
            }
        })
        .collect();

    opts.step("planning the graph inside the runner and snapshotting it");
    let mut package = Vec::new();
    let described = postcard::to_allocvec(&info)
        .map_err(|e| Error::InvalidOnnx(format!("cannot encode the model description: {e}")))?;
    package.extend_from_slice(&(described.len() as u32).to_le_bytes());
    package.extend_from_slice(&described);
    package.push(answers.to_byte());
    package.extend_from_slice(&(codes.len() as u32).to_le_bytes());
    for c in &codes {
        package.extend_from_slice(&c.to_le_bytes());
    }
    package.extend_from_slice(onnx);
    let tree_code_bytes = generated.code_bytes;
    let (module, snapshot_bytes, segments, memory_bytes) = snapshot(&package, &generated)?;

    opts.step("building the component");
    let mut component = componentize::componentize(&module)?;
    let source = Source {
        onnx_sha256: hex::encode(crate::artifact::digest(onnx)),
        onnx_bytes: onnx.len() as u64,
        operators: stats.operators.clone(),
        producer: format!(
            "{} {}",
            decoded
                .proto()
                .producer_name
                .as_deref()
                .unwrap_or("unknown"),
            decoded.proto().producer_version.as_deref().unwrap_or("")
        )
        .trim()
        .to_string(),
        compiled_by: format!("glassbox {}", env!("CARGO_PKG_VERSION")),
        training_rows: train.rows.len() as u64,
    };
    source.write(&mut component);
    if !weights.is_empty() {
        opts.step(&format!(
            "handing {} matrix product{} to the host's linear algebra",
            weights.len(),
            if weights.len() == 1 { "" } else { "s" }
        ));
        crate::artifact::append_custom_section(
            &mut component,
            crate::runtime::linalg::WEIGHTS_SECTION,
            &crate::runtime::linalg::encode_constants(&weights),
        );
    }

    opts.step("checking the component against the native plan");
    verify(&component, &info, &train.rows, &native)?;
    // After the check: hard expectations may well reject training rows
    // (that can be the point of them), which the check scores.
    if let Some(e) = &opts.expectations {
        e.write(&mut component);
    }

    Ok(Compiled {
        component,
        info,
        source,
        summary: Summary {
            nodes: stats.nodes,
            steps: stats.steps,
            trees: stats.trees,
            tree_nodes: stats.tree_nodes,
            tree_code: coded.len(),
            tree_code_bytes,
            snapshot_bytes,
            segments,
            memory_bytes,
            elapsed: started.elapsed(),
        },
    })
}

/// The most classes inferred from training predictions: past this the
/// "labels" are more likely values than classes.
const MAX_INFERRED_CLASSES: usize = 1000;

/// Decides what a classifier's second output holds, from its answers on the
/// training rows: probabilities when every row is a valid distribution over
/// the classes; otherwise decision scores, one column per class, or for two
/// classes the one column (possibly negated) whose sign agrees with every
/// label (converters write `[-d, d]`, `[d, -d]` or `[d]`).
///
/// A graph that computes its labels without naming a class list (a
/// clusterer, an outlier detector, one-vs-one voting) gets the labels it
/// predicts for the training rows as its classes, in numeric order when
/// they are integers.
fn decide_answers(
    program: &glassbox_onnx::Program,
    named: &[String],
    train: &TrainingData,
    guest_fields: &[glassbox_guest::Field],
) -> Result<(Vec<String>, Answers)> {
    let probe = ModelInfo {
        name: String::new(),
        version: String::new(),
        task: Task::Classification,
        inputs: train.fields.clone(),
        outputs: Outputs::Classes(Vec::new()),
        profile: None,
        layout: NumericLayout::F64Columns,
    };
    let (mut labels, mut values, mut width) = (Vec::new(), Vec::new(), None);
    for rows in train.rows.chunks(CHUNK) {
        let batch = batch::from_rows(&probe, rows).map_err(|v| {
            Error::Training(format!(
                "the training rows do not fit their own schema: {}",
                v.first().map(ToString::to_string).unwrap_or_default()
            ))
        })?;
        let raw: glassbox_guest::RawBatch = convert(&batch)?;
        let got = contained(|| program.score_raw(&glassbox_guest::Batch::new(&raw, guest_fields)))?
            .map_err(|e| Error::InvalidOnnx(format!("scoring the training rows failed: {e:?}")))?;
        let Some(got) = got else {
            return Ok((named.to_vec(), Answers::Probabilities));
        };
        if *width.get_or_insert(got.width) != got.width {
            return Err(Error::InvalidOnnx(
                "the classifier's second output changes width from batch to batch".into(),
            ));
        }
        labels.extend(got.labels);
        values.extend(got.values);
    }
    // Integer labels that index the second output's columns (a mixture's
    // components, a clusterer's centres) are those columns, including any
    // the training rows never predicted.
    let columns = width.filter(|&w| {
        w >= 2
            && labels
                .iter()
                .all(|l| l.parse::<usize>().is_ok_and(|i| i < w))
    });
    let classes: Vec<String> = if let (true, Some(w)) = (named.is_empty(), columns) {
        (0..w).map(|i| i.to_string()).collect()
    } else if named.is_empty() {
        let mut seen: Vec<&String> = labels.iter().collect();
        seen.sort_by(|a, b| match (a.parse::<i64>(), b.parse::<i64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.cmp(b),
        });
        seen.dedup();
        if seen.len() > MAX_INFERRED_CLASSES {
            return Err(Error::InvalidOnnx(format!(
                "the graph names no class list and predicts {} distinct labels for the \
                 training rows; more than {MAX_INFERRED_CLASSES} look like values, not classes",
                seen.len()
            )));
        }
        seen.into_iter().cloned().collect()
    } else {
        named.to_vec()
    };
    let labels: Vec<usize> = labels
        .iter()
        .map(|l| classes.iter().position(|c| c == l).unwrap_or(usize::MAX))
        .collect();
    let answers = decide(&labels, &values, width, classes.len())?;
    Ok((classes, answers))
}

/// [`decide_answers`] once the labels are class positions.
fn decide(
    labels: &[usize],
    values: &[f64],
    width: Option<usize>,
    classes: usize,
) -> Result<Answers> {
    let width = width.unwrap_or(classes);
    let tolerance = crate::runtime::model::probability_sum_tolerance(classes);
    let probabilities = width == classes
        && values.chunks(width.max(1)).all(|row| {
            let sum: f64 = row.iter().sum();
            // The read clamps what float32 sums leave a hair outside [0, 1].
            row.iter().all(|v| (-1e-5..=1.0 + 1e-5).contains(v)) && (sum - 1.0).abs() <= tolerance
        });
    if probabilities {
        return Ok(Answers::Probabilities);
    }
    if classes == 2 && (1..=2).contains(&width) {
        let candidates = [(width - 1, false), (0, false), (width - 1, true), (0, true)];
        for (column, negate) in candidates {
            let agrees = labels.iter().enumerate().all(|(r, &label)| {
                let v = values[r * width + column];
                let s = if negate { -v } else { v };
                s == 0.0 || (s > 0.0) == (label == 1)
            });
            if agrees {
                return Ok(Answers::BinaryScore {
                    column: column as u8,
                    negate,
                });
            }
        }
    } else if width == classes {
        return Ok(Answers::Scores);
    }
    let row: Vec<f64> = values.iter().take(width).copied().collect();
    Err(Error::InvalidOnnx(format!(
        "the classifier's second output is neither probabilities nor decision scores that agree \
         with its labels ({width} values per row for {classes} classes; training row 0: {row:?})"
    )))
}

/// Runs native planning or scoring so that a bug a crafted file could
/// trigger (a panic in a kernel) is an error for that file, not a crash of
/// the process. In the component the same panic is a trap, one failed call.
fn contained<T>(f: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let what = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into());
        Error::InvalidOnnx(format!("internal error while planning the graph: {what}"))
    })
}

/// Between the host's and the guest's copies of the contract's types,
/// which are generated from the same WIT and so encode alike.
fn convert<A: Serialize, B: for<'de> Deserialize<'de>>(value: &A) -> Result<B> {
    postcard::to_allocvec(value)
        .ok()
        .and_then(|b| postcard::from_bytes(&b).ok())
        .ok_or_else(|| Error::InvalidOnnx("internal: the host and guest types disagree".into()))
}

/// Runs the runner's initialisation on `package` and returns a module whose
/// data segments hold the resulting memory, with the size of that memory
/// in use, the number of segments and the memory's initial size.
fn snapshot(package: &[u8], code: &trees::Generated) -> Result<(Vec<u8>, usize, usize, usize)> {
    use wasmtime::{Config, Engine, Extern, Func, Instance, Module, Store};
    let fail = |what: &str, e: wasmtime::Error| {
        Error::InvalidOnnx(format!("the runner failed while {what}: {e:#}"))
    };
    let mut config = Config::new();
    config.cranelift_opt_level(wasmtime::OptLevel::None);
    let engine = Engine::new(&config).map_err(|e| fail("starting", e))?;
    let module = Module::new(&engine, RUNNER).map_err(|e| fail("compiling", e))?;
    let mut store = Store::new(&engine, ());
    // The runner imports only the host's log function; it is not called
    // while planning, and a no-op answers it if it is.
    let mut imports = Vec::new();
    for import in module.imports() {
        match import.ty() {
            wasmtime::ExternType::Func(ty) => {
                imports.push(Extern::Func(Func::new(&mut store, ty, |_, _, _| Ok(()))));
            }
            other => {
                return Err(Error::InvalidOnnx(format!(
                    "internal: the runner imports {}::{} of type {other:?}",
                    import.module(),
                    import.name()
                )));
            }
        }
    }
    let instance =
        Instance::new(&mut store, &module, &imports).map_err(|e| fail("instantiating", e))?;
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or_else(|| Error::InvalidOnnx("internal: the runner exports no memory".into()))?;
    let realloc = instance
        .get_typed_func::<(u32, u32, u32, u32), u32>(&mut store, "cabi_realloc")
        .map_err(|e| fail("looking up cabi_realloc", e))?;
    let init = instance
        .get_typed_func::<(u32, u32), u32>(&mut store, "glassbox_init")
        .map_err(|e| fail("looking up glassbox_init", e))?;
    let len = u32::try_from(package.len())
        .map_err(|_| Error::InvalidOnnx("the ONNX file is larger than 4 GiB".into()))?;
    let ptr = realloc
        .call(&mut store, (0, 0, 1, len))
        .map_err(|e| fail("allocating", e))?;
    memory
        .write(&mut store, ptr as usize, package)
        .map_err(|e| Error::InvalidOnnx(format!("internal: writing the package: {e}")))?;
    let err = init
        .call(&mut store, (ptr, len))
        .map_err(|e| fail("planning the graph", e))?;
    if err != 0 {
        let data = memory.data(&store);
        let at = err as usize;
        let n = data
            .get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let message = data
            .get(at + 4..at + 4 + n)
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .unwrap_or_else(|| "(unreadable error)".into());
        return Err(Error::InvalidOnnx(message));
    }
    let heap_end = instance
        .get_typed_func::<(), u32>(&mut store, "glassbox_heap_end")
        .and_then(|f| f.call(&mut store, ()))
        .map_err(|e| fail("reporting its heap", e))? as usize;
    let data = memory.data(&store);
    // Cut memory just above the plan: the runner's arena holds nothing
    // live beyond `heap_end`, and what lies there is zero.
    let last = data.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let used = if heap_end == 0 {
        data.len()
    } else {
        heap_end.max(last)
    };
    const PAGE: usize = 65536;
    let pages = used.div_ceil(PAGE) as u64;
    let data = &data[..(pages as usize * PAGE).min(data.len())];
    let segments = nonzero_runs(data);
    let kept: usize = segments.iter().map(|(s, e)| e - s).sum();
    let module = rewrite(RUNNER, data, &segments, pages, code)?;
    Ok((module, kept, segments.len(), data.len()))
}

/// The nonzero stretches of `memory`, merging stretches less than 64 bytes
/// apart (a segment header costs about that much).
fn nonzero_runs(memory: &[u8]) -> Vec<(usize, usize)> {
    const GAP: usize = 64;
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < memory.len() {
        if memory[i] == 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < memory.len() && memory[i] != 0 {
            i += 1;
        }
        match runs.last_mut() {
            Some(last) if start - last.1 < GAP => last.1 = i,
            _ => runs.push((start, i)),
        }
    }
    runs
}

/// Where generated functions go in the runner module: after its types, its
/// functions (imported and defined) and its function table's slots.
struct Layout {
    types: u32,
    functions: u32,
    table: u32,
}

impl Layout {
    fn read(module: &[u8]) -> Result<Layout> {
        use wasmparser::{Parser, Payload, TypeRef};
        let bad = |e: &dyn std::fmt::Display| {
            Error::InvalidOnnx(format!("internal: reading the runner: {e}"))
        };
        let (mut types, mut functions, mut table) = (0, 0, None);
        for payload in Parser::new(0).parse_all(module) {
            match payload.map_err(|e| bad(&e))? {
                Payload::TypeSection(r) => {
                    for group in r {
                        types += group.map_err(|e| bad(&e))?.types().len() as u32;
                    }
                }
                Payload::ImportSection(r) => {
                    for import in r.into_imports() {
                        if matches!(import.map_err(|e| bad(&e))?.ty, TypeRef::Func(_)) {
                            functions += 1;
                        }
                    }
                }
                Payload::FunctionSection(r) => functions += r.count(),
                Payload::TableSection(r) => {
                    if r.count() != 1 {
                        return Err(bad(&"the runner has more than one table"));
                    }
                    let t = r
                        .into_iter()
                        .next()
                        .ok_or_else(|| bad(&"an empty table section"))?
                        .map_err(|e| bad(&e))?;
                    table = Some(u32::try_from(t.ty.initial).map_err(|e| bad(&e))?);
                }
                _ => {}
            }
        }
        let table = table.ok_or_else(|| bad(&"the runner has no function table"))?;
        Ok(Layout {
            types,
            functions,
            table,
        })
    }
}

/// Copies the runner module with its memory minimum set to `pages`, its
/// data segments replaced by `runs` of `memory`, the initialisation
/// exports removed, and the generated tree functions `code` appended, their
/// entries in new slots of the function table (see [`Layout`]).
fn rewrite(
    runner: &[u8],
    memory: &[u8],
    runs: &[(usize, usize)],
    pages: u64,
    code: &trees::Generated,
) -> Result<Vec<u8>> {
    use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
    use wasm_encoder::{
        CodeSection, ConstExpr, DataCountSection, DataSection, ElementSection, Elements,
        ExportSection, FunctionSection, MemorySection, MemoryType, Module, RawSection,
        TableSection, TypeSection,
    };
    use wasmparser::{Parser, Payload};
    let bad = |e: &dyn std::fmt::Display| {
        Error::InvalidOnnx(format!("internal: rewriting the runner: {e}"))
    };
    let mut re = RoundtripReencoder;
    let extra = code.entries.len() as u64;
    let mut out = Module::new();
    let mut mutable_globals = 0;
    let mut table_start = None;
    // The code section arrives one body at a time.
    let mut bodies: Option<(u32, CodeSection)> = None;
    let data_section = || {
        let mut d = DataSection::new();
        for &(s, e) in runs {
            d.active(
                0,
                &ConstExpr::i32_const(s as i32),
                memory[s..e].iter().copied(),
            );
        }
        d
    };
    for payload in Parser::new(0).parse_all(runner) {
        let payload = payload.map_err(|e| bad(&e))?;
        match payload {
            Payload::Version { .. } | Payload::End(_) => {}
            Payload::TypeSection(reader) => {
                let mut s = TypeSection::new();
                re.parse_type_section(&mut s, reader).map_err(|e| bad(&e))?;
                for (params, results) in trees::types() {
                    s.ty().function(params, results);
                }
                out.section(&s);
            }
            Payload::FunctionSection(reader) => {
                let mut s = FunctionSection::new();
                re.parse_function_section(&mut s, reader)
                    .map_err(|e| bad(&e))?;
                for (ty, _) in &code.functions {
                    s.function(*ty);
                }
                out.section(&s);
            }
            Payload::TableSection(reader) => {
                let mut s = TableSection::new();
                for t in reader {
                    let t = t.map_err(|e| bad(&e))?;
                    let mut ty = re.table_type(t.ty).map_err(|e| bad(&e))?;
                    table_start = Some(ty.minimum);
                    ty.minimum += extra;
                    ty.maximum = ty.maximum.map(|m| m.max(ty.minimum));
                    s.table(ty);
                }
                out.section(&s);
            }
            Payload::ElementSection(reader) => {
                let mut s = ElementSection::new();
                re.parse_element_section(&mut s, reader)
                    .map_err(|e| bad(&e))?;
                if !code.entries.is_empty() {
                    let at = table_start.ok_or_else(|| bad(&"no table before the elements"))?;
                    s.active(
                        None,
                        &ConstExpr::i32_const(at as i32),
                        Elements::Functions(code.entries.as_slice().into()),
                    );
                }
                out.section(&s);
            }
            Payload::CodeSectionStart { count, .. } => {
                bodies = Some((count, CodeSection::new()));
                if count == 0 {
                    return Err(bad(&"the runner has no code"));
                }
            }
            Payload::CodeSectionEntry(body) => {
                let (left, section) = bodies
                    .as_mut()
                    .ok_or_else(|| bad(&"a function body outside the code section"))?;
                section.raw(&runner[body.range().start as usize..body.range().end as usize]);
                *left -= 1;
                if *left == 0 {
                    for (_, f) in &code.functions {
                        section.function(f);
                    }
                    out.section(section);
                }
            }
            Payload::MemorySection(reader) => {
                let mut s = MemorySection::new();
                for m in reader {
                    let m = m.map_err(|e| bad(&e))?;
                    s.memory(MemoryType {
                        minimum: pages,
                        maximum: m.maximum.map(|max| max.max(pages)),
                        memory64: m.memory64,
                        shared: m.shared,
                        page_size_log2: m.page_size_log2,
                    });
                }
                out.section(&s);
            }
            Payload::GlobalSection(reader) => {
                for g in reader.clone() {
                    if g.map_err(|e| bad(&e))?.ty.mutable {
                        mutable_globals += 1;
                    }
                }
                out.section(&RawSection {
                    id: 6,
                    data: &runner[reader.range().start as usize..reader.range().end as usize],
                });
            }
            Payload::ExportSection(reader) => {
                let mut s = ExportSection::new();
                for e in reader {
                    let e = e.map_err(|e| bad(&e))?;
                    if e.name == "glassbox_init" || e.name == "glassbox_heap_end" {
                        continue;
                    }
                    let kind = match e.kind {
                        wasmparser::ExternalKind::Func => wasm_encoder::ExportKind::Func,
                        wasmparser::ExternalKind::Table => wasm_encoder::ExportKind::Table,
                        wasmparser::ExternalKind::Memory => wasm_encoder::ExportKind::Memory,
                        wasmparser::ExternalKind::Global => wasm_encoder::ExportKind::Global,
                        wasmparser::ExternalKind::Tag => wasm_encoder::ExportKind::Tag,
                        other => return Err(bad(&format!("export kind {other:?}"))),
                    };
                    s.export(e.name, kind, e.index);
                }
                out.section(&s);
            }
            Payload::DataCountSection { .. } => {
                out.section(&DataCountSection {
                    count: runs.len() as u32,
                });
            }
            Payload::DataSection(reader) => {
                for d in reader {
                    if !matches!(
                        d.map_err(|e| bad(&e))?.kind,
                        wasmparser::DataKind::Active { .. }
                    ) {
                        return Err(bad(&"the runner has passive data segments"));
                    }
                }
                out.section(&data_section());
            }
            Payload::CustomSection(c) => {
                out.section(&wasm_encoder::CustomSection {
                    name: c.name().into(),
                    data: c.data().into(),
                });
            }
            other => {
                if let Some((id, range)) = other.as_section() {
                    out.section(&RawSection {
                        id,
                        data: &runner[range.start as usize..range.end as usize],
                    });
                }
            }
        }
    }
    // Only the stack pointer may change while planning, and a call leaves
    // it where it found it: anything else would be lost by the snapshot.
    if mutable_globals > 1 {
        return Err(bad(&format!(
            "the runner has {mutable_globals} mutable globals; only the stack pointer is expected"
        )));
    }
    Ok(out.finish())
}

/// How far the component may be from the native plan: float32 math is the
/// same code in both, but `exp`, `ln` and `pow` come from different libm
/// implementations (the platform's natively, Rust's in wasm), which differ
/// in the last bit; an SVM sums hundreds of such terms. The conformance
/// tolerance of the reference data, so that anything beyond it is a bug.
const TOLERANCE: f64 = 1e-5;

/// Loads the component and checks that it answers as the native plan did.
fn verify(component: &[u8], info: &ModelInfo, rows: &[Row], native: &[Prediction]) -> Result<()> {
    let engine = Engine::builder().build()?;
    let model = engine.load(component)?;
    let described = |i: &ModelInfo| postcard::to_allocvec(i).unwrap_or_default();
    if described(model.info()) != described(info) {
        return Err(Error::InvalidOnnx(
            "internal: the component describes itself differently from what was compiled".into(),
        ));
    }
    let mut at = 0;
    for chunk in rows.chunks(CHUNK) {
        let got = model.score_rows(chunk)?;
        for (g, n) in got.iter().zip(&native[at..]) {
            let same = match (g, n) {
                (
                    Prediction::Class {
                        label: a,
                        probabilities: pa,
                    },
                    Prediction::Class {
                        label: b,
                        probabilities: pb,
                    },
                ) => a == b && pa.iter().zip(pb).all(|(x, y)| (x - y).abs() <= TOLERANCE),
                (
                    Prediction::Scores {
                        label: a,
                        scores: sa,
                    },
                    Prediction::Scores {
                        label: b,
                        scores: sb,
                    },
                ) => {
                    a == b
                        && sa.len() == sb.len()
                        && sa
                            .iter()
                            .zip(sb)
                            .all(|(x, y)| (x - y).abs() <= TOLERANCE * y.abs().max(1.0))
                }
                (Prediction::Value { value: a }, Prediction::Value { value: b }) => {
                    (a - b).abs() <= TOLERANCE * b.abs().max(1.0)
                }
                _ => false,
            };
            if !same {
                return Err(Error::InvalidOnnx(format!(
                    "internal: for training row {at} the component answers {} and the native plan {}",
                    serde_json::to_string(g).unwrap_or_default(),
                    serde_json::to_string(n).unwrap_or_default()
                )));
            }
            at += 1;
        }
    }
    Ok(())
}
