//! A planned graph: every node's operator checked and its attributes parsed
//! once, values addressed by slot number, constants folded, and each
//! intermediate freed after its last use.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use super::proto::{AttributeProto, AttributeType, GraphProto, ModelProto, NodeProto, TypeProto};
use super::tensor::{Data, ElemType, Tensor, Value};
use super::{OnnxError, ops};

/// What an operator does at run time, given its inputs (`None` for omitted
/// optional ones). Built once per node by [`ops::build`].
pub trait Kernel: KernelClone + fmt::Debug + Send + Sync {
    /// Computes the node's outputs.
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String>;

    /// For MatMul and Gemm: what the node computes, so that the product can
    /// be handed to the host's linear algebra (see [`Graph::host_products`]).
    fn product(&self) -> Option<Product> {
        None
    }

    /// For kernels that multiply by a constant matrix of their own (linear
    /// models): that matrix, `(k, n, k × n row-major)`.
    fn own_product(&self) -> Option<(usize, usize, Vec<f32>)> {
        None
    }

    /// The kernel of [`Kernel::own_product`] with that product done by the
    /// host's constant matrix `index`.
    fn with_host_product(&self, _index: u32) -> Option<Box<dyn Kernel>> {
        None
    }

    /// For tree ensembles that add their leaves up (sum or average): the
    /// trees, for `glassbox compile` to generate code from (see
    /// [`Trees`]).
    fn trees(&self) -> Option<Trees> {
        None
    }

    /// The kernel of [`Kernel::trees`] with its float rows scored by the
    /// generated function at `index` of the component's function table.
    fn with_tree_code(&self, _index: u32) -> Option<Box<dyn Kernel>> {
        None
    }
}

/// A tree ensemble as code is generated from it. The generated function
/// takes `(rows: *const f32, n: usize, cols: usize, sums: *mut f32, hit:
/// *mut bool)`: `n` rows of `cols` floats, row-major; for row `r` and target
/// `k` it writes to `sums[r × targets + k]` the float32 sum, starting from
/// 0 and in tree order then weight order, of the weights for `k` of the
/// leaves the row reaches, and to `hit[r × targets + k]` whether any of
/// those leaves has a weight for `k`. That is what the data walk computes,
/// addition for addition, so the answers are the same bits.
#[derive(Clone, Debug, PartialEq)]
pub struct Trees {
    /// Every tree's nodes, children by index into this list.
    pub nodes: Vec<TreeNode>,
    /// Each tree's first node, in the order their leaves are added up.
    pub roots: Vec<u32>,
    /// Per tree, the branches on its longest path.
    pub depths: Vec<u32>,
    /// Leaf weights: (target, weight).
    pub weights: Vec<(u32, f32)>,
    /// Scores per row.
    pub targets: usize,
    /// Values a row must hold: one more than the highest feature read.
    pub features: usize,
}

/// One node of [`Trees`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TreeNode {
    /// A leaf: weights `first .. first + count` of [`Trees::weights`].
    Leaf {
        /// Its first weight.
        first: u32,
        /// How many weights it has.
        count: u32,
    },
    /// A branch: to `yes` when `row[feature] compare threshold` holds, or
    /// when the value is missing (NaN) and `missing_true`; else to `no`.
    Branch {
        /// The comparison.
        compare: Compare,
        /// The feature compared.
        feature: u32,
        /// What it is compared with.
        threshold: f32,
        /// A missing value goes to `yes`.
        missing_true: bool,
        /// The node when the comparison holds.
        yes: u32,
        /// The node otherwise.
        no: u32,
    },
}

/// How a branch compares a feature with its threshold (`feature op
/// threshold`); any comparison with NaN is false except `Neq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// `<=`
    Leq,
    /// `<`
    Lt,
    /// `>=`
    Gte,
    /// `>`
    Gt,
    /// `==`
    Eq,
    /// `!=`
    Neq,
}

/// A matrix-product node: `alpha · A · B + beta · C` (Gemm) or `A · B`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Product {
    /// Gemm's `alpha` (1 for MatMul).
    pub alpha: f32,
    /// Gemm's `beta` (1 for MatMul, which has no `C`).
    pub beta: f32,
    /// Gemm's `transA`.
    pub trans_a: bool,
    /// Gemm's `transB`.
    pub trans_b: bool,
}

/// A product whose right operand is a constant matrix, as handed to the
/// host: `k × n` row-major weights (transposed already where `transB`).
#[derive(Clone, Debug)]
pub struct HostProduct {
    /// Which step computes it.
    step: usize,
    /// A MatMul or Gemm node's computation; `None` for a kernel's own
    /// product ([`Kernel::own_product`]).
    pub product: Option<Product>,
    /// Rows of the weights (the shared dimension).
    pub k: usize,
    /// Columns of the weights (outputs per row).
    pub n: usize,
    /// The weights, `k × n` row-major.
    pub weights: Vec<f32>,
}

/// Cloning boxed kernels, so that a planned graph can be copied (the
/// compile's runner moves the plan into compact memory before it is
/// snapshotted).
pub trait KernelClone {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn Kernel>;
}

impl<T: Kernel + Clone + 'static> KernelClone for T {
    fn clone_box(&self) -> Box<dyn Kernel> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn Kernel> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// The declared type of a graph input.
#[derive(Clone, Debug, PartialEq)]
pub enum InputType {
    /// A tensor of this element type; `shape` has `None` for symbolic sizes.
    Tensor {
        /// Element type.
        elem: ElemType,
        /// Dimensions, `None` where symbolic (the batch size).
        shape: Vec<Option<usize>>,
    },
    /// Anything else (maps, sequences): named in errors.
    Other(String),
}

/// A graph input or output.
#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    /// Its name in the graph.
    pub name: String,
    /// Its type.
    pub ty: InputType,
}

#[derive(Clone, Debug)]
struct Step {
    kernel: Box<dyn Kernel>,
    inputs: Vec<Option<usize>>,
    outputs: Vec<usize>,
    /// Slots whose last reader is this step.
    frees: Vec<usize>,
    label: String,
}

/// An ONNX graph ready to run.
#[derive(Clone, Debug)]
pub struct Graph {
    slots: usize,
    constants: Vec<(usize, Value)>,
    /// For each slot, its index in `constants`, if it holds one.
    constant_at: Vec<Option<u32>>,
    inputs: Vec<(Port, usize)>,
    outputs: Vec<(Port, usize)>,
    steps: Vec<Step>,
    operators: BTreeSet<String>,
    /// The producer of each slot (node index) and which output it is, for
    /// tracing values back to the operator that made them.
    producers: HashMap<String, (usize, usize)>,
    nodes: Vec<NodeProto>,
    constant_values: HashMap<String, Value>,
}

/// The operator sets a model imports.
#[derive(Clone, Copy, Debug)]
pub struct Opsets {
    /// `ai.onnx` version.
    pub core: i64,
    /// `ai.onnx.ml` version.
    pub ml: i64,
}

impl Graph {
    /// Plans a model: checks every operator and attribute, folds constant
    /// subgraphs. Errors name the node and operator.
    pub fn build(model: &ModelProto) -> Result<Graph, OnnxError> {
        let graph = model
            .graph
            .as_ref()
            .ok_or_else(|| OnnxError::model("the model has no graph"))?;
        let mut opsets = Opsets { core: 1, ml: 1 };
        for o in &model.opset_import {
            match o.domain.as_deref().unwrap_or("") {
                "" | "ai.onnx" => opsets.core = o.version.unwrap_or(1),
                "ai.onnx.ml" => opsets.ml = o.version.unwrap_or(1),
                // Nodes of other domains are refused one by one, by name.
                _ => {}
            }
        }
        Self::build_graph(graph, opsets, &HashMap::new(), 0)
    }

    /// Plans a subgraph (a `Scan` body): like [`Graph::build`], and the body
    /// may read the enclosing graph's constants (`outer`) by name.
    pub(crate) fn build_subgraph(
        graph: &GraphProto,
        opsets: Opsets,
        outer: &HashMap<String, Value>,
        depth: usize,
    ) -> Result<Graph, OnnxError> {
        Self::build_graph(graph, opsets, outer, depth)
    }

    fn build_graph(
        graph: &GraphProto,
        opsets: Opsets,
        outer: &HashMap<String, Value>,
        depth: usize,
    ) -> Result<Graph, OnnxError> {
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        let mut constants: Vec<(usize, Value)> = Vec::new();
        let mut constant_values: HashMap<String, Value> = HashMap::new();
        let mut next = 0usize;
        let mut new_slot = |name: &str, slot_of: &mut HashMap<String, usize>| {
            let s = next;
            next += 1;
            slot_of.insert(name.to_string(), s);
            s
        };

        for init in &graph.initializer {
            let name = init.name.clone().unwrap_or_default();
            let t = Tensor::from_proto(init).map_err(OnnxError::model)?;
            let s = new_slot(&name, &mut slot_of);
            constants.push((s, Value::Tensor(t.clone())));
            constant_values.insert(name, Value::Tensor(t));
        }
        let mut inputs = Vec::new();
        for i in &graph.input {
            let name = i.name.clone().unwrap_or_default();
            if slot_of.contains_key(&name) {
                continue; // an initializer listed as an input: a default we keep
            }
            let s = new_slot(&name, &mut slot_of);
            inputs.push((
                Port {
                    name: name.clone(),
                    ty: port_type(i.r#type.as_ref()),
                },
                s,
            ));
        }

        let mut steps: Vec<Step> = Vec::new();
        let mut refused: Vec<OnnxError> = Vec::new();
        let mut producers = HashMap::new();
        let mut operators = BTreeSet::new();
        for (index, node) in graph.node.iter().enumerate() {
            let op = node.op_type.as_deref().unwrap_or("");
            let domain = match node.domain.as_deref().unwrap_or("") {
                "" | "ai.onnx" => "ai.onnx",
                d => d,
            };
            let label = node_label(node, index);
            operators.insert(format!("{domain}:{op}"));
            let err = |m: String| OnnxError::node(&label, domain, op, m);
            let attrs = Attrs::new(node);
            let built = if domain == "ai.onnx" && op == "Scan" {
                ops::scan::build(&attrs, opsets, &constant_values, depth)
            } else {
                ops::build(domain, op, &attrs, opsets)
            };
            let kernel = match built.and_then(|k| attrs.check_all_used().map(|()| k)) {
                Ok(k) => k,
                Err(m) => {
                    // Go on, so that one error lists every node that cannot
                    // run: a user fixing a conversion wants the whole list,
                    // not one node per attempt. The outputs get slots so
                    // that the nodes reading them are not reported as
                    // reading nothing.
                    refused.push(err(m));
                    for name in &node.output {
                        new_slot(name, &mut slot_of);
                    }
                    continue;
                }
            };

            let mut in_slots = Vec::with_capacity(node.input.len());
            for name in &node.input {
                if name.is_empty() {
                    in_slots.push(None);
                    continue;
                }
                if !slot_of.contains_key(name)
                    && let Some(v) = outer.get(name)
                {
                    // A constant of the enclosing graph, read by a subgraph.
                    let s = new_slot(name, &mut slot_of);
                    constants.push((s, v.clone()));
                    constant_values.insert(name.clone(), v.clone());
                }
                let s = *slot_of.get(name).ok_or_else(|| {
                    err(format!(
                        "input `{name}` is not produced by any earlier node, initializer or graph input{}",
                        if depth > 0 {
                            " (a subgraph may read only constants of the graph around it)"
                        } else {
                            ""
                        }
                    ))
                })?;
                in_slots.push(Some(s));
            }
            // Fold: a node whose inputs are all constants runs now, once.
            let all_const = in_slots
                .iter()
                .all(|s| s.is_none_or(|s| constants.iter().any(|(c, _)| *c == s)));
            if all_const {
                let vals: Vec<Option<&Value>> = in_slots
                    .iter()
                    .map(|s| {
                        s.and_then(|s| constants.iter().find(|(c, _)| *c == s).map(|(_, v)| v))
                    })
                    .collect();
                let outs = kernel.run(&vals).map_err(err)?;
                let outs: Vec<Value> = outs.into_iter().collect();
                for (k, name) in node.output.iter().enumerate() {
                    if name.is_empty() {
                        continue;
                    }
                    let v = outs
                        .get(k)
                        .cloned()
                        .ok_or_else(|| err(format!("produced no output #{k}")))?;
                    let s = new_slot(name, &mut slot_of);
                    producers.insert(name.clone(), (index, k));
                    constant_values.insert(name.clone(), v.clone());
                    constants.push((s, v));
                }
                continue;
            }
            let mut out_slots = Vec::new();
            for (k, name) in node.output.iter().enumerate() {
                let s = new_slot(if name.is_empty() { "" } else { name }, &mut slot_of);
                if !name.is_empty() {
                    producers.insert(name.clone(), (index, k));
                }
                out_slots.push(s);
            }
            steps.push(Step {
                kernel,
                inputs: in_slots,
                outputs: out_slots,
                frees: Vec::new(),
                label: format!("{label} ({domain}:{op})"),
            });
        }

        match refused.len() {
            0 => {}
            1 => return Err(refused.remove(0)),
            n => {
                // A hostile file may have a million such nodes: the first
                // few tell the story.
                const SHOWN: usize = 20;
                let mut list: Vec<String> = refused
                    .iter()
                    .take(SHOWN)
                    .map(|e| format!("  {e}"))
                    .collect();
                if n > SHOWN {
                    list.push(format!("  … and {} more", n - SHOWN));
                }
                return Err(OnnxError::model(format!(
                    "{n} nodes cannot be compiled:\n{}",
                    list.join("\n")
                )));
            }
        }
        let mut outputs = Vec::new();
        for o in &graph.output {
            let name = o.name.clone().unwrap_or_default();
            let s = *slot_of.get(&name).ok_or_else(|| {
                OnnxError::model(format!("graph output `{name}` is never produced"))
            })?;
            outputs.push((
                Port {
                    name,
                    ty: port_type(o.r#type.as_ref()),
                },
                s,
            ));
        }

        // Free each computed slot after its last reader, unless it is an output.
        let keep: BTreeSet<usize> = outputs
            .iter()
            .map(|(_, s)| *s)
            .chain(constants.iter().map(|(s, _)| *s))
            .collect();
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (i, step) in steps.iter().enumerate() {
            for s in step.inputs.iter().flatten() {
                last_use.insert(*s, i);
            }
            for s in &step.outputs {
                last_use.entry(*s).or_insert(i);
            }
        }
        for (s, i) in last_use {
            if !keep.contains(&s) {
                steps[i].frees.push(s);
            }
        }

        let mut constant_at = vec![None; next];
        for (i, (s, _)) in constants.iter().enumerate() {
            constant_at[*s] = Some(i as u32);
        }
        Ok(Graph {
            slots: next,
            constant_at,
            constants,
            inputs,
            outputs,
            steps,
            operators,
            producers,
            nodes: graph.node.clone(),
            constant_values,
        })
    }

    /// The inputs the graph must be fed (initializers excluded).
    pub fn inputs(&self) -> impl ExactSizeIterator<Item = &Port> {
        self.inputs.iter().map(|(p, _)| p)
    }

    /// The graph outputs.
    pub fn outputs(&self) -> impl ExactSizeIterator<Item = &Port> {
        self.outputs.iter().map(|(p, _)| p)
    }

    /// The distinct operators, as `domain:Op`.
    pub fn operators(&self) -> impl Iterator<Item = &str> {
        self.operators.iter().map(String::as_str)
    }

    /// How many nodes run per call (after constant folding).
    pub fn steps(&self) -> usize {
        self.steps.len()
    }

    /// The products worth handing to the host: MatMul and Gemm nodes
    /// (without `transA`) whose right operand is a constant float32 matrix
    /// of at least two columns and `min_macs` multiply-adds per row, in
    /// step order. The order is the weights' order in a compiled
    /// component, so the host's plan and the runner's must come from here.
    pub fn host_products(&self, min_macs: usize) -> Vec<HostProduct> {
        let mut out = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            if let Some((k, n, weights)) = step.kernel.own_product() {
                if n >= 2 && k > 0 && k.saturating_mul(n) >= min_macs {
                    out.push(HostProduct {
                        step: i,
                        product: None,
                        k,
                        n,
                        weights,
                    });
                }
                continue;
            }
            let Some(product) = step.kernel.product() else {
                continue;
            };
            let Some(Some(b)) = step.inputs.get(1) else {
                continue;
            };
            let Some(Value::Tensor(b)) =
                self.constant_at[*b].map(|c| &self.constants[c as usize].1)
            else {
                continue;
            };
            let (Data::F32(values), &[rows, cols]) = (&b.data, &b.shape[..]) else {
                continue;
            };
            let (k, n) = if product.trans_b {
                (cols, rows)
            } else {
                (rows, cols)
            };
            if product.trans_a || n < 2 || k == 0 || k.saturating_mul(n) < min_macs {
                continue;
            }
            let weights = if product.trans_b {
                (0..k * n).map(|x| values[(x % n) * cols + x / n]).collect()
            } else {
                values.clone()
            };
            out.push(HostProduct {
                step: i,
                product: Some(product),
                k,
                n,
                weights,
            });
        }
        out
    }

    /// The tree ensembles code can be generated for ([`Kernel::trees`]), in
    /// step order.
    pub fn tree_ensembles(&self) -> Vec<Trees> {
        self.steps.iter().filter_map(|s| s.kernel.trees()).collect()
    }

    /// Has the `i`-th ensemble of [`Graph::tree_ensembles`] scored by the
    /// generated function at table index `codes[i]`, where that is `Some`.
    pub fn with_tree_code(&mut self, codes: &[Option<u32>]) {
        let ensembles = self.steps.iter_mut().filter(|s| s.kernel.trees().is_some());
        for (step, code) in ensembles.zip(codes) {
            if let Some(kernel) = code.and_then(|index| step.kernel.with_tree_code(index)) {
                step.kernel = kernel;
            }
        }
    }

    /// Replaces the steps of `products` (from [`Graph::host_products`])
    /// with kernels that call the host, the `i`-th using constant matrix
    /// `i`. The weights stay out of the plan: the host holds them.
    pub fn offload(&mut self, products: Vec<HostProduct>) {
        for (index, p) in products.into_iter().enumerate() {
            let step = &mut self.steps[p.step];
            let index = index as u32;
            let kernel = match p.product {
                Some(product) => Some(ops::host_product(
                    index,
                    p.k,
                    p.n,
                    product,
                    step.kernel.clone(),
                    if ops::KEEP_HOST_WEIGHTS {
                        p.weights
                    } else {
                        Vec::new()
                    },
                )),
                None => step.kernel.with_host_product(index),
            };
            if let Some(kernel) = kernel {
                step.kernel = kernel;
            }
        }
    }

    /// The node that produces `value`, and which of its outputs it is.
    pub fn producer(&self, value: &str) -> Option<(&NodeProto, usize)> {
        self.producers.get(value).map(|&(i, k)| (&self.nodes[i], k))
    }

    /// Drops what only planning needs (the nodes' protobufs, the producer
    /// and constant indexes), keeping what runs. After this,
    /// [`Graph::producer`] and [`Graph::constant`] find nothing.
    pub fn release_sources(&mut self) {
        self.nodes = Vec::new();
        self.producers = HashMap::new();
        self.constant_values = HashMap::new();
    }

    /// The value of `name` if it is an initializer or folded constant.
    pub fn constant(&self, name: &str) -> Option<&Value> {
        self.constant_values.get(name)
    }

    /// Runs the graph on `inputs` (in [`Graph::inputs`] order) and returns
    /// its outputs in [`Graph::outputs`] order.
    pub fn run(&self, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
        if inputs.len() != self.inputs.len() {
            return Err(format!(
                "the graph takes {} inputs, got {}",
                self.inputs.len(),
                inputs.len()
            ));
        }
        let mut slots: Vec<Option<Value>> = vec![None; self.slots];
        for (v, (_, s)) in inputs.into_iter().zip(&self.inputs) {
            slots[*s] = Some(v);
        }
        // Constants are borrowed, not copied into the slot table.
        let constant = |s: usize| self.constant_at[s].map(|i| &self.constants[i as usize].1);
        for step in &self.steps {
            let outs = {
                let arg =
                    |s: &Option<usize>| s.and_then(|s| slots[s].as_ref().or_else(|| constant(s)));
                // Up to eight arguments on the stack: an allocation per node
                // is a measurable share of a one-row call in wasm.
                let mut few = [None; 8];
                let many: Vec<Option<&Value>>;
                let args = if step.inputs.len() <= few.len() {
                    for (a, s) in few.iter_mut().zip(&step.inputs) {
                        *a = arg(s);
                    }
                    &few[..step.inputs.len()]
                } else {
                    many = step.inputs.iter().map(arg).collect();
                    &many[..]
                };
                step.kernel
                    .run(args)
                    .map_err(|e| format!("node {}: {e}", step.label))?
            };
            for (slot, v) in step.outputs.iter().zip(outs) {
                slots[*slot] = Some(v);
            }
            for s in &step.frees {
                slots[*s] = None;
            }
        }
        self.outputs
            .iter()
            .map(|(p, s)| {
                slots[*s]
                    .take()
                    .or_else(|| constant(*s).cloned())
                    .ok_or_else(|| format!("output `{}` was not computed", p.name))
            })
            .collect()
    }
}

fn node_label(node: &NodeProto, index: usize) -> String {
    match node.name.as_deref() {
        Some(n) if !n.is_empty() => format!("`{n}`"),
        _ => format!("#{index}"),
    }
}

fn port_type(ty: Option<&TypeProto>) -> InputType {
    let Some(ty) = ty else {
        return InputType::Other("untyped".into());
    };
    use super::proto::tensor_shape_proto::dimension::Value as Dim;
    use super::proto::type_proto::Value as Type;
    match &ty.value {
        Some(Type::TensorType(t)) => {
            let Some(elem) = t.elem_type.and_then(ElemType::from_onnx) else {
                return InputType::Other(format!("tensor of element type {:?}", t.elem_type));
            };
            let shape = t
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match d.value {
                            Some(Dim::DimValue(v)) => usize::try_from(v).ok(),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            InputType::Tensor { elem, shape }
        }
        Some(Type::MapType(_)) => InputType::Other("map".into()),
        Some(Type::SequenceType(_)) => InputType::Other("sequence".into()),
        _ => InputType::Other("unknown type".into()),
    }
}

/// A node's attributes, with a record of which were read: an attribute no
/// operator builder asked for is unsupported, and reported as such.
pub struct Attrs<'a> {
    node: &'a NodeProto,
    used: RefCell<BTreeSet<String>>,
}

impl<'a> Attrs<'a> {
    fn new(node: &'a NodeProto) -> Self {
        Attrs {
            node,
            used: RefCell::new(BTreeSet::new()),
        }
    }

    /// An `Attrs` for a node built by hand (tests).
    pub fn of(node: &'a NodeProto) -> Self {
        Self::new(node)
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        let a = self
            .node
            .attribute
            .iter()
            .find(|a| a.name.as_deref() == Some(name))?;
        self.used.borrow_mut().insert(name.to_string());
        Some(a)
    }

    /// Whether the attribute is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Marks attributes as understood without reading them (hints such as
    /// `nodes_hitrates` that do not change the result).
    pub fn ignore(&self, names: &[&str]) {
        for n in names {
            let _ = self.get(n);
        }
    }

    /// A float attribute.
    pub fn float(&self, name: &str) -> Option<f32> {
        let a = self.get(name)?;
        a.f.or_else(|| a.i.map(|i| i as f32))
    }

    /// An integer attribute.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name)?.i
    }

    /// A string attribute.
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name)?
            .s
            .as_ref()
            .map(|s| String::from_utf8_lossy(s).into_owned())
    }

    /// A list of floats; absent is empty.
    pub fn floats(&self, name: &str) -> Vec<f32> {
        self.get(name).map(|a| a.floats.clone()).unwrap_or_default()
    }

    /// A list of integers; absent is empty.
    pub fn ints(&self, name: &str) -> Vec<i64> {
        self.get(name).map(|a| a.ints.clone()).unwrap_or_default()
    }

    /// A list of strings; absent is empty.
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|a| {
                a.strings
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A graph attribute (a subgraph, such as a `Scan` body).
    pub fn graph(&self, name: &str) -> Option<&'a GraphProto> {
        self.get(name)?.g.as_ref()
    }

    /// A tensor attribute.
    pub fn tensor(&self, name: &str) -> Result<Option<Tensor>, String> {
        match self.get(name).and_then(|a| a.t.as_ref()) {
            Some(t) => Tensor::from_proto(t)
                .map(Some)
                .map_err(|e| format!("attribute `{name}`: {e}")),
            None => Ok(None),
        }
    }

    /// Floats from either `name` (a list) or `name_as_tensor` (ai.onnx.ml
    /// opset 3 stores some lists as tensors to keep double precision).
    pub fn floats_or_tensor(&self, name: &str) -> Result<Vec<f64>, String> {
        let as_tensor = format!("{name}_as_tensor");
        if let Some(t) = self.tensor(&as_tensor)? {
            return match t.data {
                Data::F32(v) => Ok(v.into_iter().map(f64::from).collect()),
                Data::F64(v) => Ok(v),
                other => Err(format!(
                    "attribute `{as_tensor}` must be float or double, got {}",
                    other.elem_type()
                )),
            };
        }
        Ok(self.floats(name).into_iter().map(f64::from).collect())
    }

    /// The attribute's type code, for messages.
    pub fn kind(&self, name: &str) -> Option<AttributeType> {
        self.get(name)
            .and_then(|a| a.r#type)
            .and_then(|t| AttributeType::try_from(t).ok())
    }

    fn check_all_used(&self) -> Result<(), String> {
        let used = self.used.borrow();
        let unknown: Vec<&str> = self
            .node
            .attribute
            .iter()
            .filter_map(|a| a.name.as_deref())
            .filter(|n| !used.contains(*n))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "attribute(s) {} not supported",
                unknown
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
}
