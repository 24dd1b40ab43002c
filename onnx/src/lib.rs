//! Run scikit-learn pipelines exported to ONNX (by skl2onnx) as Glassbox
//! models.
//!
//! [`Program::new`] reads an ONNX file, checks every operator and attribute
//! against what this module implements (the ONNX-ML operators and the
//! ai.onnx operators skl2onnx emits), folds constant subgraphs, and binds
//! the graph's inputs and outputs to a model's fields and scores.
//! [`Program::score`] then runs whole batches.
//!
//! `glassbox compile` does this inside a generic runner component, once, at
//! compile time, and snapshots the result: a compiled model never parses
//! ONNX again. The same code runs natively in the host, which is how the
//! compile computes the training predictions' profile and checks that the
//! component agrees with it.
//!
//! ```
//! use glassbox_onnx::proto::*;
//! use glassbox_onnx::Program;
//! use glassbox_guest::{Field, testing, Value};
//!
//! // y = 2·x, as a one-node graph.
//! let model = ModelProto {
//!     opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
//!     graph: Some(GraphProto {
//!         node: vec![NodeProto {
//!             input: vec!["x".into(), "two".into()],
//!             output: vec!["y".into()],
//!             op_type: Some("Mul".into()),
//!             ..Default::default()
//!         }],
//!         initializer: vec![TensorProto {
//!             name: Some("two".into()),
//!             data_type: Some(DataType::Float as i32),
//!             float_data: vec![2.0],
//!             ..Default::default()
//!         }],
//!         input: vec![ValueInfoProto::tensor("x", DataType::Float, &[None, Some(1)])],
//!         output: vec![ValueInfoProto::tensor("y", DataType::Float, &[None, Some(1)])],
//!         ..Default::default()
//!     }),
//!     ..Default::default()
//! };
//! let program = Program::from_proto(&model, &[Field::numeric("x")]).unwrap();
//! let batch = testing::batch(&[Field::numeric("x")], &[vec![Value::Num(1.5)]]).unwrap();
//! let scores = program.score(&glassbox_guest::Batch::new(&batch, &[Field::numeric("x")])).unwrap();
//! assert_eq!(scores, glassbox_guest::Scores::Regression(vec![3.0]));
//! ```

/// The smallest product (multiply-adds per row, `k × n`) handed to the
/// host's linear algebra. Below it the host call costs more than the
/// product in wasm; see docs/BENCHMARKS.md for the measurement.
pub const HOST_LINALG_MIN_MACS: usize = 512;

pub mod graph;
mod ops;
pub mod proto;
pub mod tensor;

use std::fmt;

use prost::Message;

use glassbox_guest::{
    Batch, ClassScores, DecisionScores, FeatureKind, Field, ModelError, Scores, Task,
};
use graph::{Graph, InputType, Port};
use proto::{AttributeProto, ModelProto, NodeProto};
use tensor::{Data, ElemType, Tensor, Value};

/// Why a model cannot be compiled: names the node and operator where there
/// is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnnxError {
    /// `node `name` (domain:Op)`, or empty for whole-model problems.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl OnnxError {
    fn model(message: impl Into<String>) -> Self {
        OnnxError {
            location: String::new(),
            message: message.into(),
        }
    }

    fn node(label: &str, domain: &str, op: &str, message: String) -> Self {
        OnnxError {
            location: format!("node {label} ({domain}:{op})"),
            message,
        }
    }
}

impl fmt::Display for OnnxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.location, self.message)
        }
    }
}

impl std::error::Error for OnnxError {}

/// How batch columns become graph inputs.
#[derive(Clone, Debug)]
enum Feed {
    /// One `[N, F]` tensor of all (numeric) fields, in field order.
    Matrix { elem: ElemType },
    /// One `[N, 1]` (or `[N]`) tensor per field; `order[i]` is the field
    /// feeding graph input `i`.
    Columns {
        order: Vec<usize>,
        elems: Vec<ElemType>,
        flat: Vec<bool>,
    },
}

/// How graph outputs become scores.
#[derive(Clone, Debug)]
enum Read {
    Regression,
    Classification {
        classes: Vec<String>,
        /// Each label's class position, sorted by label for a binary
        /// search: one lookup per row, where hashing (SipHash, in a
        /// `HashMap`) was 5 % of a binary classifier's batch.
        index: Vec<(String, u32)>,
        /// The same for integer labels, looked up without formatting them.
        int_index: Vec<(i64, u32)>,
    },
}

/// What a classifier's second graph output holds, and so what the model
/// answers. The graph alone does not say (a linear classifier without a
/// post-transform writes margins where a logistic one writes
/// probabilities): `glassbox compile` decides from the training rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Answers {
    /// Probabilities, one per class.
    #[default]
    Probabilities,
    /// Decision scores, one column per class.
    Scores,
    /// Two classes, one decision score per row: column `column` of the
    /// output, negated when `negate` (converters write `[-d, d]`, `[d, -d]`
    /// or `[d]`).
    BinaryScore {
        /// The column holding the score.
        column: u8,
        /// Whether that column holds the score's opposite.
        negate: bool,
    },
}

impl Answers {
    /// One byte, for the compile's package handed to the runner.
    pub fn to_byte(self) -> u8 {
        match self {
            Answers::Probabilities => 0,
            Answers::Scores => 1,
            Answers::BinaryScore { column, negate } => 2 + (column.min(63) << 1) + u8::from(negate),
        }
    }

    /// The inverse of [`Answers::to_byte`].
    pub fn from_byte(b: u8) -> Answers {
        match b {
            0 => Answers::Probabilities,
            1 => Answers::Scores,
            b => Answers::BinaryScore {
                column: (b - 2) >> 1,
                negate: (b - 2) & 1 == 1,
            },
        }
    }
}

/// A classifier's raw answers, before [`Answers`] reads them: for
/// `glassbox compile` to decide what the second output holds.
#[derive(Clone, Debug, PartialEq)]
pub struct RawClasses {
    /// Per row, the predicted label as the graph gives it.
    pub labels: Vec<String>,
    /// The second output, row-major, `width` values per row.
    pub values: Vec<f64>,
    /// Values per row.
    pub width: usize,
}

/// A planned ONNX model bound to a model's fields.
#[derive(Clone, Debug)]
pub struct Program {
    graph: Graph,
    fields: Vec<Field>,
    feed: Feed,
    read: Read,
    /// Which graph outputs are read, in order: the prediction, or the
    /// label and the probabilities or scores. Usually the first one or
    /// two; a graph with extra outputs (a transformer's features exposed
    /// beside the classifier's) names them `label` and `probabilities`.
    picks: Vec<usize>,
    answers: Answers,
    stats: Stats,
}

/// What a compiled program contains, for the compile summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Nodes in the file.
    pub nodes: usize,
    /// Nodes left to run per call after constant folding.
    pub steps: usize,
    /// Distinct operators, as `domain:Op`.
    pub operators: Vec<String>,
    /// Trees over all tree ensembles.
    pub trees: usize,
    /// Tree nodes over all tree ensembles.
    pub tree_nodes: usize,
}

impl Program {
    /// Reads, checks and plans an ONNX file for a model with `fields`.
    pub fn new(onnx: &[u8], fields: &[Field]) -> Result<Program, OnnxError> {
        let model = ModelProto::decode(onnx)
            .map_err(|e| OnnxError::model(format!("not a valid ONNX protobuf: {e}")))?;
        Self::from_proto(&model, fields)
    }

    /// [`Program::new`] from a decoded model.
    pub fn from_proto(model: &ModelProto, fields: &[Field]) -> Result<Program, OnnxError> {
        let mut graph = Graph::build(model)?;
        let feed = bind_inputs(&graph, fields)?;
        let (read, picks) = bind_outputs(&graph)?;
        // A compiled model's memory is snapshotted: keep only what runs.
        graph.release_sources();
        let nodes = model.graph.as_ref().map_or(0, |g| g.node.len());
        let mut stats = Stats {
            nodes,
            steps: graph.steps(),
            operators: graph.operators().map(str::to_string).collect(),
            ..Stats::default()
        };
        for node in model.graph.iter().flat_map(|g| &g.node) {
            if matches!(
                node.op_type.as_deref(),
                Some("TreeEnsembleClassifier" | "TreeEnsembleRegressor")
            ) {
                let ids = ints(node, "nodes_treeids");
                let mut distinct = ids.to_vec();
                distinct.sort_unstable();
                distinct.dedup();
                stats.trees += distinct.len();
                stats.tree_nodes += ids.len();
            }
        }
        Ok(Program {
            graph,
            fields: fields.to_vec(),
            feed,
            read,
            picks,
            answers: Answers::Probabilities,
            stats,
        })
    }

    /// The constant matrices whose products go to the host's linear
    /// algebra (`glassbox:model/linalg`), as `(k, n, k × n row-major
    /// values)`: what `glassbox compile` writes into the component's
    /// `glassbox:weights` section, in the order
    /// [`Program::with_host_linalg`] numbers them.
    pub fn host_weights(&self) -> Vec<(usize, usize, Vec<f32>)> {
        self.graph
            .host_products(HOST_LINALG_MIN_MACS)
            .into_iter()
            .map(|p| (p.k, p.n, p.weights))
            .collect()
    }

    /// Hands the products of [`Program::host_weights`] to the host: the
    /// plan a compiled component runs. Its answers are then the host's
    /// fused multiply-adds (see `glassbox_guest::linalg`), the same bits for
    /// any number of rows.
    pub fn with_host_linalg(mut self) -> Program {
        let products = self.graph.host_products(HOST_LINALG_MIN_MACS);
        self.graph.offload(products);
        self
    }

    /// The tree ensembles `glassbox compile` may generate code for, in
    /// step order (see [`graph::Trees`]).
    pub fn tree_ensembles(&self) -> Vec<graph::Trees> {
        self.graph.tree_ensembles()
    }

    /// Has the `i`-th ensemble of [`Program::tree_ensembles`] scored by the
    /// component's generated function at table index `codes[i]` where that
    /// is `Some`. Only a wasm build calls the code; natively the data walk
    /// answers, with the same bits.
    pub fn with_tree_code(mut self, codes: &[Option<u32>]) -> Program {
        self.graph.with_tree_code(codes);
        self
    }

    /// Classification or regression, as the graph's outputs say.
    pub fn task(&self) -> Task {
        match self.read {
            Read::Regression => Task::Regression,
            Read::Classification { .. } => Task::Classification,
        }
    }

    /// Sets the class list of a classifier whose graph computes its labels
    /// without naming them ([`Program::classes`] is then empty): the
    /// compile infers it from the labels predicted for the training rows.
    pub fn with_classes(mut self, classes: Vec<String>) -> Program {
        if matches!(self.read, Read::Classification { .. }) {
            self.read = classification(classes);
        }
        self
    }

    /// The class labels in probability-column order (classifiers only;
    /// empty when the graph does not name them).
    pub fn classes(&self) -> Option<&[String]> {
        match &self.read {
            Read::Classification { classes, .. } => Some(classes),
            Read::Regression => None,
        }
    }

    /// The fields the program was bound to.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// What the program contains.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The planned graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Reads a classifier's second output as `answers` from now on.
    pub fn with_answers(mut self, answers: Answers) -> Program {
        self.answers = answers;
        self
    }

    /// What the program answers.
    pub fn answers(&self) -> Answers {
        self.answers
    }

    /// Scores a batch (already checked against the fields by the host).
    pub fn score(&self, batch: &Batch<'_>) -> Result<Scores, ModelError> {
        let inputs = self.feed(batch)?;
        self.run(batch.rows(), inputs)
    }

    /// Whether the graph takes one float32 matrix of every field: then the
    /// model should declare [`glassbox_guest::NumericLayout::F32Rows`] and
    /// be scored with [`Program::score_f32_rows`], which computes on the
    /// host's matrix as it arrives.
    pub fn takes_f32_rows(&self) -> bool {
        matches!(
            self.feed,
            Feed::Matrix {
                elem: ElemType::F32
            }
        )
    }

    /// Scores `rows` float32 rows (row-major, NaN where missing), taking the
    /// matrix as the graph's input without copying it. Only for graphs that
    /// [take float32 rows](Program::takes_f32_rows).
    pub fn score_f32_rows(&self, rows: usize, values: Vec<f32>) -> Result<Scores, ModelError> {
        let f = self.fields.len();
        if !self.takes_f32_rows() {
            return Err(ModelError::internal(
                "this graph does not take one float32 matrix; send it float64 columns",
            ));
        }
        if values.len() != rows * f {
            return Err(ModelError::internal(format!(
                "{} float32 values for {rows} rows of {f} fields",
                values.len()
            )));
        }
        self.run(rows, vec![Tensor::f32(vec![rows, f], values).into()])
    }

    fn run(&self, rows: usize, inputs: Vec<Value>) -> Result<Scores, ModelError> {
        let outputs = self.pick(self.graph.run(inputs).map_err(ModelError::Internal)?);
        self.read(rows, outputs).map_err(ModelError::Internal)
    }

    /// A classifier's labels and second output as the graph gives them, for
    /// deciding what that output holds (`None` for a regressor).
    pub fn score_raw(&self, batch: &Batch<'_>) -> Result<Option<RawClasses>, ModelError> {
        let rows = batch.rows();
        let inputs = self.feed(batch)?;
        let outputs = self.pick(self.graph.run(inputs).map_err(ModelError::Internal)?);
        if matches!(self.read, Read::Regression) {
            return Ok(None);
        }
        let t = outputs[0].tensor().map_err(ModelError::Internal)?;
        let labels: Vec<String> = match &t.data {
            Data::I64(v) => v.iter().map(i64::to_string).collect(),
            Data::Str(v) => v.clone(),
            d => {
                return Err(ModelError::Internal(format!(
                    "labels are {}, not integers or strings",
                    d.elem_type()
                )));
            }
        };
        if labels.len() != rows {
            return Err(ModelError::Internal(format!(
                "the graph returned {} labels for {rows} rows",
                labels.len()
            )));
        }
        let values = match (&outputs[1], &self.read) {
            (Value::Tensor(t), _) => t.data.to_f64(),
            (Value::Maps(maps), Read::Classification { classes, index, .. }) => {
                zipmap_matrix(maps, rows, classes.len(), index).map_err(ModelError::Internal)?
            }
            _ => return Err(ModelError::internal("the second output is not a tensor")),
        };
        let width = values.len().checked_div(rows).unwrap_or(0);
        Ok(Some(RawClasses {
            labels,
            values,
            width,
        }))
    }

    fn feed(&self, batch: &Batch<'_>) -> Result<Vec<Value>, ModelError> {
        let rows = batch.rows();
        match &self.feed {
            Feed::Matrix {
                elem: ElemType::F32,
            } => {
                // The common case, straight into float32 rows. Every field
                // is numeric here (checked when binding), so the flat list
                // is the columns in schema order, and a missing value's
                // index in it is `column × rows + row`. Read that way rather
                // than through per-column views: on a one-row call the views
                // (a range search in the missing list per column) cost more
                // than the transposition.
                let f = self.fields.len();
                if let Some(values) = batch.f32_rows() {
                    if values.len() != rows * f {
                        return Err(ModelError::internal("float32 rows do not match the schema"));
                    }
                    return Ok(vec![Tensor::f32(vec![rows, f], values.to_vec()).into()]);
                }
                let raw = batch.raw().ok_or_else(|| {
                    ModelError::internal("the batch has neither columns nor float32 rows")
                })?;
                if raw.numeric.len() != rows * f {
                    return Err(ModelError::internal(
                        "numeric values do not match the schema",
                    ));
                }
                let mut m = match rows {
                    0 => Vec::new(),
                    // One row: the flat list is the row.
                    1 => raw.numeric.iter().map(|&v| v as f32).collect(),
                    _ => {
                        let values: Vec<&[f64]> = raw.numeric.chunks_exact(rows).collect();
                        rows_f32(&values, rows)
                    }
                };
                for &i in &raw.numeric_missing {
                    let (c, r) = (i as usize / rows, i as usize % rows);
                    if let Some(v) = m.get_mut(r * f + c) {
                        *v = f32::NAN;
                    }
                }
                Ok(vec![Tensor::f32(vec![rows, f], m).into()])
            }
            Feed::Matrix { elem } => {
                let f = self.fields.len();
                let mut m = vec![0f64; rows * f];
                for (c, col) in batch.numeric_columns()?.iter().enumerate() {
                    let values = col.values();
                    for r in 0..rows {
                        m[r * f + c] = values[r];
                    }
                    for r in col.missing_rows() {
                        m[r * f + c] = f64::NAN;
                    }
                }
                let t = Tensor {
                    shape: vec![rows, f],
                    data: Data::F64(m),
                };
                Ok(vec![ops_cast(&t, *elem).into()])
            }
            Feed::Columns { order, elems, flat } => {
                let mut out = Vec::with_capacity(order.len());
                for ((&field, &elem), &flat) in order.iter().zip(elems).zip(flat) {
                    let shape = if flat { vec![rows] } else { vec![rows, 1] };
                    let t = match self.fields[field].kind {
                        FeatureKind::Numeric => {
                            let col = batch.numeric_at(field)?;
                            let mut v = col.values().to_vec();
                            for r in col.missing_rows() {
                                v[r] = f64::NAN;
                            }
                            ops_cast(
                                &Tensor {
                                    shape,
                                    data: Data::F64(v),
                                },
                                elem,
                            )
                        }
                        FeatureKind::Categorical => {
                            let col = batch.categorical_at(field)?;
                            // skl2onnx pipelines mark missing strings as "".
                            let v = (0..rows)
                                .map(|r| col.get(r).unwrap_or("").to_string())
                                .collect();
                            Tensor {
                                shape,
                                data: Data::Str(v),
                            }
                        }
                    };
                    out.push(t.into());
                }
                Ok(out)
            }
        }
    }

    /// The predicted classes' positions, from the label output.
    fn labels(&self, rows: usize, outputs: &[Value]) -> Result<Vec<u32>, String> {
        let Read::Classification {
            index, int_index, ..
        } = &self.read
        else {
            return Err("not a classifier".into());
        };
        let labels = outputs[0].tensor()?;
        if labels.len() != rows {
            return Err(format!(
                "the graph returned {} labels for {rows} rows",
                labels.len()
            ));
        }
        let unknown = |k: &dyn fmt::Display| {
            format!("the graph predicted `{k}`, which is not one of the classes")
        };
        let labels = match &labels.data {
            Data::I64(v) => v
                .iter()
                .map(|k| {
                    int_index
                        .binary_search_by_key(k, |e| e.0)
                        .map(|at| int_index[at].1)
                        .map_err(|_| unknown(k))
                })
                .collect::<Result<Vec<u32>, String>>()?,
            Data::Str(v) => v
                .iter()
                .map(|k| {
                    index
                        .binary_search_by(|e| e.0.as_str().cmp(k))
                        .map(|at| index[at].1)
                        .map_err(|_| unknown(k))
                })
                .collect::<Result<Vec<u32>, String>>()?,
            d => {
                return Err(format!(
                    "labels are {}, not integers or strings",
                    d.elem_type()
                ));
            }
        };
        Ok(labels)
    }

    /// The outputs that are read, in reading order.
    fn pick(&self, mut outputs: Vec<Value>) -> Vec<Value> {
        if self.picks.iter().enumerate().all(|(i, &p)| i == p) {
            outputs.truncate(self.picks.len());
            return outputs;
        }
        self.picks
            .iter()
            .map(|&i| {
                std::mem::replace(&mut outputs[i], Value::Tensor(Tensor::f32(vec![0], vec![])))
            })
            .collect()
    }

    fn read(&self, rows: usize, outputs: Vec<Value>) -> Result<Scores, String> {
        match &self.read {
            Read::Regression => {
                let t = outputs[0].tensor()?;
                if t.len() != rows {
                    return Err(format!(
                        "the graph returned {} values for {rows} rows; Glassbox predicts one value per row (multi-target regression is not supported)",
                        t.len()
                    ));
                }
                match &t.data {
                    Data::F32(_) | Data::F64(_) => Ok(Scores::Regression(t.data.to_f64())),
                    d => Err(format!("the prediction is {}, not a number", d.elem_type())),
                }
            }
            Read::Classification { classes, index, .. } => {
                let labels = self.labels(rows, &outputs)?;
                match self.answers {
                    Answers::Probabilities => {}
                    Answers::Scores => {
                        let t = outputs[1].tensor()?;
                        if t.len() != rows * classes.len() {
                            return Err(format!(
                                "the graph returned scores of shape {:?} for {rows} rows and {} classes",
                                t.shape,
                                classes.len()
                            ));
                        }
                        return Ok(Scores::Decision(DecisionScores {
                            labels,
                            scores: t.data.to_f64(),
                        }));
                    }
                    Answers::BinaryScore { column, negate } => {
                        let t = outputs[1].tensor()?;
                        let column = usize::from(column);
                        let width = t.len().checked_div(rows).unwrap_or(0);
                        if width * rows != t.len() || column >= width {
                            return Err(format!(
                                "the graph returned scores of shape {:?} for {rows} rows; the score is column {column}",
                                t.shape
                            ));
                        }
                        let sign = if negate { -1.0 } else { 1.0 };
                        let v = t.data.to_f64();
                        let scores = (0..rows).map(|r| sign * v[r * width + column]).collect();
                        return Ok(Scores::Decision(DecisionScores { labels, scores }));
                    }
                }
                let probabilities = match &outputs[1] {
                    Value::Tensor(t) => {
                        if t.len() != rows * classes.len() {
                            return Err(format!(
                                "the graph returned probabilities of shape {:?} for {rows} rows and {} classes",
                                t.shape,
                                classes.len()
                            ));
                        }
                        t.data.to_f64()
                    }
                    Value::Maps(maps) => zipmap_matrix(maps, rows, classes.len(), index)?,
                    Value::Map(_) => return Err("probabilities came back as a single map".into()),
                };
                // Float32 sums can land a hair outside [0, 1] (an average of
                // tree votes at 1.0000001): the contract promises [0, 1].
                let probabilities = probabilities
                    .into_iter()
                    .map(|p| {
                        if (-1e-5..0.0).contains(&p) {
                            0.0
                        } else if p > 1.0 && p <= 1.0 + 1e-5 {
                            1.0
                        } else {
                            p
                        }
                    })
                    .collect();
                Ok(Scores::Classification(ClassScores {
                    labels,
                    probabilities,
                }))
            }
        }
    }
}

/// Column-major float64 columns to a row-major float32 matrix.
///
/// In blocks of rows small enough that the block being written stays in
/// cache (a plain column-by-column scatter missed it on every write); in
/// wasm, 4×4 tiles are converted and transposed in SIMD registers.
fn rows_f32(columns: &[&[f64]], rows: usize) -> Vec<f32> {
    const BLOCK: usize = 32;
    let f = columns.len();

    let mut m = vec![0f32; rows * f];
    for (b, block) in m.chunks_mut(BLOCK * f.max(1)).enumerate() {
        let r0 = b * BLOCK;
        let n = block.len() / f;
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let done = simd_tiles(columns, r0, n, block);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        let done = (0, 0);
        // What the tiles did not cover: the last rows of the block (all
        // columns), and the last columns of the tiled rows.
        for (c, col) in columns.iter().enumerate() {
            let first = if c < done.1 { done.0 } else { 0 };
            let src = &col[r0 + first..r0 + n];
            // Iterators, not indexing: no bounds check per value.
            for (dst, v) in block[first * f..].iter_mut().skip(c).step_by(f).zip(src) {
                *dst = *v as f32;
            }
        }
    }
    m
}

/// Converts and transposes whole 4×4 tiles of a block; returns how many
/// rows and columns the tiles covered.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn simd_tiles(columns: &[&[f64]], r0: usize, n: usize, block: &mut [f32]) -> (usize, usize) {
    use core::arch::wasm32::*;
    let f = columns.len();
    let (rows4, cols4) = (n / 4 * 4, f / 4 * 4);
    // Four rows of one column as float32.
    let load = |c: usize, r: usize| -> v128 {
        let col = &columns[c][r0 + r..r0 + r + 4];
        // SAFETY: `col` has four f64s; wasm loads need no alignment.
        let (lo, hi) = unsafe {
            let p = col.as_ptr();
            (
                v128_load(p.cast::<v128>()),
                v128_load(p.add(2).cast::<v128>()),
            )
        };
        i32x4_shuffle::<0, 1, 4, 5>(f32x4_demote_f64x2_zero(lo), f32x4_demote_f64x2_zero(hi))
    };
    for r in (0..rows4).step_by(4) {
        for c in (0..cols4).step_by(4) {
            let (c0, c1, c2, c3) = (load(c, r), load(c + 1, r), load(c + 2, r), load(c + 3, r));
            let t0 = i32x4_shuffle::<0, 4, 1, 5>(c0, c1);
            let t1 = i32x4_shuffle::<2, 6, 3, 7>(c0, c1);
            let t2 = i32x4_shuffle::<0, 4, 1, 5>(c2, c3);
            let t3 = i32x4_shuffle::<2, 6, 3, 7>(c2, c3);
            let out = [
                i32x4_shuffle::<0, 1, 4, 5>(t0, t2),
                i32x4_shuffle::<2, 3, 6, 7>(t0, t2),
                i32x4_shuffle::<0, 1, 4, 5>(t1, t3),
                i32x4_shuffle::<2, 3, 6, 7>(t1, t3),
            ];
            for (i, v) in out.iter().enumerate() {
                let dst = &mut block[(r + i) * f + c..(r + i) * f + c + 4];
                // SAFETY: `dst` has four f32s; wasm stores need no alignment.
                unsafe { v128_store(dst.as_mut_ptr().cast::<v128>(), *v) };
            }
        }
    }
    (rows4, cols4)
}

fn ops_cast(t: &Tensor, to: ElemType) -> Tensor {
    ops::cast(t, to)
}

fn ints<'a>(node: &'a NodeProto, name: &str) -> &'a [i64] {
    node.attribute
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
        .map_or(&[], |a: &AttributeProto| &a.ints)
}

fn bind_inputs(graph: &Graph, fields: &[Field]) -> Result<Feed, OnnxError> {
    let inputs: Vec<&Port> = graph.inputs().collect();
    let tensor_of = |p: &Port| match &p.ty {
        InputType::Tensor { elem, shape } => Ok((*elem, shape.clone())),
        InputType::Other(what) => Err(OnnxError::model(format!(
            "graph input `{}` is a {what}; Glassbox feeds tensors",
            p.name
        ))),
    };
    if inputs.is_empty() {
        return Err(OnnxError::model("the graph has no inputs"));
    }
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    let one_column = |p: &Port| match &p.ty {
        InputType::Tensor { shape, .. } => {
            shape.len() == 1 || (shape.len() == 2 && shape[1] == Some(1))
        }
        InputType::Other(_) => false,
    };
    let single_by_name = inputs.len() == 1
        && fields.len() == 1
        && fields[0].name == inputs[0].name
        && one_column(inputs[0]);
    if inputs.len() == 1 && !single_by_name {
        // One matrix of every feature, in the training file's column order.
        let (elem, shape) = tensor_of(inputs[0])?;
        if shape.len() != 2 {
            return Err(OnnxError::model(format!(
                "graph input `{}` has shape {shape:?}; a single input must be a [N, features] matrix",
                inputs[0].name
            )));
        }
        if let Some(n) = shape[1]
            && n != fields.len()
        {
            return Err(OnnxError::model(format!(
                "graph input `{}` has {n} columns but the training data has {} ({})",
                inputs[0].name,
                fields.len(),
                names.join(", ")
            )));
        }
        let text: Vec<&str> = fields
            .iter()
            .filter(|f| f.kind == FeatureKind::Categorical)
            .map(|f| f.name.as_str())
            .collect();
        if !matches!(elem, ElemType::F32 | ElemType::F64 | ElemType::I64) {
            return Err(OnnxError::model(format!(
                "graph input `{}` is a {elem} matrix; Glassbox feeds one matrix only when it is numeric",
                inputs[0].name
            )));
        }
        if !text.is_empty() {
            return Err(OnnxError::model(format!(
                "graph input `{}` is one {elem} matrix, but column(s) {} of the training data hold text",
                inputs[0].name,
                text.join(", ")
            )));
        }
        if elem == ElemType::I64 && fields.iter().any(|f| f.nullable) {
            return Err(OnnxError::model(format!(
                "graph input `{}` is int64, which cannot hold the missing values in the training data",
                inputs[0].name
            )));
        }
        return Ok(Feed::Matrix { elem });
    }
    // One input per column: names must agree.
    let graph_names: Vec<&str> = inputs.iter().map(|p| p.name.as_str()).collect();
    let missing: Vec<&str> = graph_names
        .iter()
        .filter(|n| !names.contains(n))
        .copied()
        .collect();
    let extra: Vec<&str> = names
        .iter()
        .filter(|n| !graph_names.contains(n))
        .copied()
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        let mut msg = String::from("the training data's columns do not match the graph's inputs:");
        if !missing.is_empty() {
            msg += &format!(" missing {}", missing.join(", "));
        }
        if !extra.is_empty() {
            if !missing.is_empty() {
                msg += ";";
            }
            msg += &format!(" extra {}", extra.join(", "));
        }
        return Err(OnnxError::model(msg));
    }
    let mut order = Vec::new();
    let mut elems = Vec::new();
    let mut flat = Vec::new();
    for p in &inputs {
        let (elem, shape) = tensor_of(p)?;
        let field = names.iter().position(|n| *n == p.name).unwrap_or(0);
        let f = &fields[field];
        if shape.len() > 2 || (shape.len() == 2 && shape[1].is_some_and(|d| d != 1)) {
            return Err(OnnxError::model(format!(
                "graph input `{}` has shape {shape:?}; one column is [N, 1] or [N]",
                p.name
            )));
        }
        match (f.kind, elem) {
            (FeatureKind::Numeric, ElemType::F32 | ElemType::F64 | ElemType::I64) => {}
            (FeatureKind::Categorical, ElemType::Str) => {}
            (kind, elem) => {
                return Err(OnnxError::model(format!(
                    "column `{}` is {} in the training data but the graph takes {elem}",
                    p.name,
                    if kind == FeatureKind::Numeric {
                        "numeric"
                    } else {
                        "text"
                    }
                )));
            }
        }
        if elem == ElemType::I64 && f.nullable {
            return Err(OnnxError::model(format!(
                "column `{}` has missing values but the graph takes it as int64, which cannot hold them",
                p.name
            )));
        }
        order.push(field);
        elems.push(elem);
        flat.push(shape.len() == 1);
    }
    Ok(Feed::Columns { order, elems, flat })
}

fn bind_outputs(graph: &Graph) -> Result<(Read, Vec<usize>), OnnxError> {
    let outputs: Vec<&Port> = graph.outputs().collect();
    // skl2onnx names a classifier's outputs `label` and `probabilities`
    // (`output_label` and `output_probability` with a ZipMap): with more
    // than two outputs, those are the ones read.
    let named = |names: &[&str]| {
        outputs
            .iter()
            .position(|p| names.contains(&p.name.as_str()))
    };
    let picks = match outputs.len() {
        1 => vec![0],
        2 => vec![0, 1],
        n => match (
            named(&["label", "output_label"]),
            named(&["probabilities", "output_probability", "scores"]),
        ) {
            (Some(l), Some(p)) => vec![l, p],
            _ => {
                return Err(OnnxError::model(format!(
                    "the graph has {n} outputs; Glassbox reads one (a regressor's prediction) or two (a classifier's label and probabilities), or `label` and `probabilities` among more"
                )));
            }
        },
    };
    if picks.len() == 1 {
        // The declared shape is not trusted (converters declare a
        // regressor's [N, 1] as [N, features]); the values per row are
        // checked on every call, so a multi-target graph fails its
        // training rows at compile time.
        return match &outputs[0].ty {
            InputType::Tensor {
                elem: ElemType::F32 | ElemType::F64,
                ..
            } => Ok((Read::Regression, picks)),
            other => Err(OnnxError::model(format!(
                "the single output `{}` ({other:?}) is not a float prediction",
                outputs[0].name
            ))),
        };
    }
    // Labels computed by the graph (a clusterer's ArgMin, an outlier
    // detector's Where) name no class list: the classes are then set from
    // outside, see `Program::with_classes`.
    let classes = trace_classes(graph, &outputs[picks[0]].name).unwrap_or_default();
    Ok((classification(classes), picks))
}

/// A ZipMap's output (one map per row, keyed by class) as a row-major
/// `rows × classes` matrix in class order.
fn zipmap_matrix(
    maps: &[tensor::Map],
    rows: usize,
    classes: usize,
    index: &[(String, u32)],
) -> Result<Vec<f64>, String> {
    let mut p = vec![0f64; rows * classes];
    for (r, m) in maps.iter().enumerate().take(rows) {
        let keys: Vec<String> = match &m.keys {
            Data::I64(v) => v.iter().map(i64::to_string).collect(),
            Data::Str(v) => v.clone(),
            _ => return Err("ZipMap keys are not labels".into()),
        };
        for (k, v) in keys.iter().zip(m.values.to_f64()) {
            if let Ok(at) = index.binary_search_by(|e| e.0.cmp(k)) {
                p[r * classes + index[at].1 as usize] = v;
            }
        }
    }
    Ok(p)
}

/// The read of a classifier with `classes`.
fn classification(classes: Vec<String>) -> Read {
    // Sorted by label; of repeated labels the last position is
    // kept, as the map these replaced kept its last insertion.
    fn sorted<K: Ord>(mut v: Vec<(K, u32)>) -> Vec<(K, u32)> {
        v.sort_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)));
        v.dedup_by(|later, kept| later.0 == kept.0);
        v
    }
    let index = sorted(
        classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i as u32))
            .collect(),
    );
    let int_index = sorted(
        classes
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.parse::<i64>().ok().map(|v| (v, i as u32)))
            .collect(),
    );
    Read::Classification {
        classes,
        index,
        int_index,
    }
}

/// Follows the label output back to where its values are chosen.
fn trace_classes<'a>(graph: &'a Graph, mut value: &'a str) -> Option<Vec<String>> {
    for _ in 0..64 {
        let (node, _) = graph.producer(value)?;
        let op = node.op_type.as_deref().unwrap_or("");
        let attr = |n: &str| node.attribute.iter().find(|a| a.name.as_deref() == Some(n));
        match op {
            "Identity" | "Cast" | "Reshape" | "Squeeze" | "Unsqueeze" | "Flatten" => {
                value = node.input.first()?;
            }
            "LinearClassifier" | "SVMClassifier" | "TreeEnsembleClassifier" => {
                let ints = attr("classlabels_ints")
                    .or_else(|| attr("classlabels_int64s"))
                    .map(|a| a.ints.clone())
                    .unwrap_or_default();
                if !ints.is_empty() {
                    return Some(ints.iter().map(i64::to_string).collect());
                }
                let strings = attr("classlabels_strings")?;
                return Some(
                    strings
                        .strings
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                );
            }
            "ArrayFeatureExtractor" => {
                let t = graph.constant(node.input.first()?)?.tensor().ok()?;
                return Some(match &t.data {
                    Data::I64(v) => v.iter().map(i64::to_string).collect(),
                    Data::Str(v) => v.clone(),
                    _ => return None,
                });
            }
            _ => return None,
        }
    }
    None
}

impl proto::ValueInfoProto {
    /// A tensor-typed graph input or output (for building graphs by hand).
    pub fn tensor(name: &str, elem: proto::DataType, shape: &[Option<i64>]) -> Self {
        use proto::tensor_shape_proto::dimension::Value as Dim;
        proto::ValueInfoProto {
            name: Some(name.to_string()),
            r#type: Some(proto::TypeProto {
                value: Some(proto::type_proto::Value::TensorType(
                    proto::type_proto::Tensor {
                        elem_type: Some(elem as i32),
                        shape: Some(proto::TensorShapeProto {
                            dim: shape
                                .iter()
                                .map(|d| proto::Dimension {
                                    value: Some(match d {
                                        Some(v) => Dim::DimValue(*v),
                                        None => Dim::DimParam("N".to_string()),
                                    }),
                                    ..Default::default()
                                })
                                .collect(),
                        }),
                    },
                )),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn answers_survive_their_byte() {
        use super::Answers;
        let all = [
            Answers::Probabilities,
            Answers::Scores,
            Answers::BinaryScore {
                column: 0,
                negate: false,
            },
            Answers::BinaryScore {
                column: 1,
                negate: true,
            },
            Answers::BinaryScore {
                column: 5,
                negate: false,
            },
        ];
        for a in all {
            assert_eq!(Answers::from_byte(a.to_byte()), a);
        }
    }

    use super::*;

    #[test]
    fn columns_become_float32_rows() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [10.0, 20.0, 30.0, 40.0, 50.0];
        let c = [0.1, 0.2, 0.3, 0.4, 0.5];
        let m = rows_f32(&[&a, &b, &c], 5);
        assert_eq!(m.len(), 15);
        assert_eq!(&m[..3], &[1.0, 10.0, 0.1]);
        assert_eq!(&m[12..], &[5.0, 50.0, 0.5]);
    }
}
