//! TreeEnsembleClassifier and TreeEnsembleRegressor.
//!
//! The trees are flattened into one array of 16-byte nodes, children by
//! index, and checked at build time: every child exists, every tree is a
//! tree (no cycles, one root), every feature index is known. Scoring takes
//! the batch in blocks of rows and walks each block through the trees in
//! order; each row sums its trees in tree order, which keeps float32 sums
//! identical to onnxruntime's.

use std::collections::{BTreeSet, HashMap};

use super::{Labels, PostTransform, probit, tensor};
use crate::graph::{Attrs, Compare, Kernel, TreeNode, Trees};
use crate::tensor::{Data, Tensor, Value};

type R<T> = Result<T, String>;

const LEAF: u32 = 0;
const LEQ: u32 = 1;
const LT: u32 = 2;
const GTE: u32 = 3;
const GT: u32 = 4;
const EQ: u32 = 5;
const NEQ: u32 = 6;
/// Set membership (opset 5), only while reading: packed as a chain of EQ.
const MEMBER: u32 = 7;
const FEATURE_BITS: u32 = 24;
const MISSING_TRUE: u32 = 1 << 27;

/// One node. `meta` packs the feature index (low 24 bits), the
/// missing-goes-true flag (bit 27) and the mode (bits 28–31). For a leaf,
/// `yes` is the first of its weights and `no` how many there are.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Node {
    threshold: f32,
    meta: u32,
    yes: u32,
    no: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

#[derive(Clone, Debug)]
struct Ensemble {
    nodes: Vec<Node>,
    /// Thresholds in double precision, kept only when the file gave them as
    /// a double tensor; double inputs otherwise compare against the float
    /// thresholds widened, as onnxruntime does.
    thresholds64: Option<Vec<f64>>,
    roots: Vec<u32>,
    /// Per root, the branches on its longest path to a leaf: a lockstep
    /// walk of a shallow tree takes exactly that many steps.
    depths: Vec<u32>,
    /// Leaf weights: (target or class index, weight).
    weights: Vec<(u32, f32)>,
    targets: usize,
    features: usize,
    aggregate: Aggregate,
    base: Vec<f32>,
    post: PostTransform,
    /// The branch mode shared by every branch node, if there is one (as in
    /// every ensemble skl2onnx writes: all BRANCH_LEQ). Float rows then take
    /// the lockstep walk of [`Ensemble::leaves8`].
    uniform: Option<u32>,
    /// For the lockstep walk: per node, its feature (bit 31 set when a
    /// missing value goes the true way), threshold and children; a leaf's
    /// children are the leaf itself.
    steps: Vec<Step>,
    /// The generated function that scores float rows, by its index in the
    /// component's function table; 0 for none (see [`Kernel::trees`]).
    code: u32,
}

/// One node for the lockstep walk: 16 bytes, the children of a leaf are the
/// leaf itself so that walking on from a leaf stays there.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Step {
    threshold: f32,
    feature: u32,
    yes: u32,
    no: u32,
}

/// Rows walked through a tree together. A tree walk is a chain of
/// dependent loads (node, then feature, then the next node); walking eight
/// rows in lockstep gives the CPU eight independent chains to overlap, and a
/// branch-free step (a select instead of a jump) takes the mispredicted
/// branches out. Natively, side by side on the same build: synth_rf_large
/// 1.55×, friedman's single tree 1.25×, bc_gbc's 150 stumps-like trees 1.1×.
const LANES: usize = 8;

/// Trees up to this deep walk in lockstep for exactly their depth; deeper
/// ones (unbounded forests) check for leaves every four rounds, which
/// stops early when the eight paths are short.
const EXACT_DEPTH: u32 = 16;

#[derive(Clone, Debug)]
struct Classifier {
    ensemble: Ensemble,
    labels: Labels,
    /// Only one class ever receives weights while there are two labels:
    /// onnxruntime's "binary case".
    binary: bool,
    all_positive: bool,
}

#[derive(Clone, Debug)]
struct Regressor {
    ensemble: Ensemble,
    /// Opset 5's `TreeEnsemble` answers in its input's type (double for
    /// double rows); the legacy regressor always in float.
    typed: bool,
}

/// A tree ensemble as a file describes it, before it is packed for walking:
/// nodes by position, children by position. Both encodings (the legacy
/// `TreeEnsembleClassifier`/`Regressor` and opset 5's `TreeEnsemble`) are
/// read into this, and one function checks and packs it.
struct Raw {
    nodes: Vec<RawNode>,
    roots: Vec<u32>,
    /// How errors name node `i`: `node 3 of tree 0`, `interior node 7`.
    names: Vec<String>,
}

enum RawNode {
    Leaf(Vec<(u32, f32)>),
    Branch {
        mode: u32,
        feature: usize,
        threshold: f64,
        yes: u32,
        no: u32,
        missing_true: bool,
    },
}

/// The post-transform, aggregation and classes of an ensemble.
struct Head {
    targets: usize,
    aggregate: Aggregate,
    base: Vec<f32>,
    post: PostTransform,
    labels: Option<Labels>,
}

/// `TreeEnsembleClassifier` (`classifier`) or `TreeEnsembleRegressor`.
pub(super) fn build(a: &Attrs<'_>, classifier: bool) -> R<Box<dyn Kernel>> {
    let tree_ids = a.ints("nodes_treeids");
    let node_ids = a.ints("nodes_nodeids");
    let feature_ids = a.ints("nodes_featureids");
    let modes = a.strings("nodes_modes");
    let values = a.floats_or_tensor("nodes_values")?;
    let yes_ids = a.ints("nodes_truenodeids");
    let no_ids = a.ints("nodes_falsenodeids");
    let missing = a.ints("nodes_missing_value_tracks_true");
    // Hit rates are a hint for reordering; they do not change results.
    a.ignore(&["nodes_hitrates", "nodes_hitrates_as_tensor"]);
    let n = node_ids.len();
    for (name, len) in [
        ("nodes_treeids", tree_ids.len()),
        ("nodes_featureids", feature_ids.len()),
        ("nodes_modes", modes.len()),
        ("nodes_values", values.len()),
        ("nodes_truenodeids", yes_ids.len()),
        ("nodes_falsenodeids", no_ids.len()),
    ] {
        if len != n {
            return Err(format!("{name} has {len} entries, nodes_nodeids {n}"));
        }
    }
    if !missing.is_empty() && missing.len() != n {
        return Err(format!(
            "nodes_missing_value_tracks_true has {} entries for {n} nodes",
            missing.len()
        ));
    }
    let prefix = if classifier { "class" } else { "target" };
    let w_trees = a.ints(&format!("{prefix}_treeids"));
    let w_nodes = a.ints(&format!("{prefix}_nodeids"));
    let w_ids = a.ints(&format!("{prefix}_ids"));
    let w_values = a.floats_or_tensor(&format!("{prefix}_weights"))?;
    if [w_nodes.len(), w_ids.len(), w_values.len()]
        .iter()
        .any(|&l| l != w_trees.len())
    {
        return Err(format!(
            "{prefix}_treeids, _nodeids, _ids and _weights differ in length"
        ));
    }
    let base: Vec<f32> = a
        .floats_or_tensor("base_values")?
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let post = PostTransform::parse(a)?;

    let (targets, aggregate, labels) = if classifier {
        let labels = Labels::parse(a, "classlabels_int64s", "classlabels_strings")?;
        (labels.len(), Aggregate::Sum, Some(labels))
    } else {
        let t = a.int("n_targets").unwrap_or(1);
        let agg = match a.string("aggregate_function").as_deref().unwrap_or("SUM") {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            other => {
                return Err(format!(
                    "aggregate_function `{other}` is not SUM, AVERAGE, MIN or MAX"
                ));
            }
        };
        (
            usize::try_from(t).map_err(|_| "n_targets must be positive")?,
            agg,
            None,
        )
    };
    if targets == 0 {
        return Err("the ensemble has no classes or targets".into());
    }
    if !base.is_empty() && base.len() != targets && !(classifier && targets == 2 && base.len() == 1)
    {
        return Err(format!(
            "{} base_values for {targets} classes or targets",
            base.len()
        ));
    }

    // (tree, node id) → position.
    let mut index: HashMap<(i64, i64), u32> = HashMap::with_capacity(n);
    for i in 0..n {
        if index.insert((tree_ids[i], node_ids[i]), i as u32).is_some() {
            return Err(format!(
                "tree {} has node id {} twice",
                tree_ids[i], node_ids[i]
            ));
        }
    }
    let mut leaf_weights: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
    for k in 0..w_trees.len() {
        let at = *index.get(&(w_trees[k], w_nodes[k])).ok_or_else(|| {
            format!(
                "a weight names node {} of tree {}, which does not exist",
                w_nodes[k], w_trees[k]
            )
        })?;
        let id = usize::try_from(w_ids[k])
            .ok()
            .filter(|&id| id < targets)
            .ok_or_else(|| format!("{prefix}_ids has {}, outside 0..{targets}", w_ids[k]))?;
        leaf_weights[at as usize].push((id as u32, w_values[k] as f32));
    }
    let mut nodes = Vec::with_capacity(n);
    let mut is_child = vec![false; n];
    for i in 0..n {
        let mode = match modes[i].as_str() {
            "LEAF" => LEAF,
            "BRANCH_LEQ" => LEQ,
            "BRANCH_LT" => LT,
            "BRANCH_GTE" => GTE,
            "BRANCH_GT" => GT,
            "BRANCH_EQ" => EQ,
            "BRANCH_NEQ" => NEQ,
            other => return Err(format!("node mode `{other}` is not supported")),
        };
        if mode == LEAF {
            nodes.push(RawNode::Leaf(std::mem::take(&mut leaf_weights[i])));
            continue;
        }
        if !leaf_weights[i].is_empty() {
            return Err(format!(
                "node {} of tree {} is a branch but has leaf weights",
                node_ids[i], tree_ids[i]
            ));
        }
        let child = |id: i64| {
            index.get(&(tree_ids[i], id)).copied().ok_or_else(|| {
                format!(
                    "node {} of tree {} points to node {id}, which does not exist",
                    node_ids[i], tree_ids[i]
                )
            })
        };
        let (yes, no) = (child(yes_ids[i])?, child(no_ids[i])?);
        is_child[yes as usize] = true;
        is_child[no as usize] = true;
        nodes.push(RawNode::Branch {
            mode,
            feature: feature(feature_ids[i])?,
            threshold: values[i],
            yes,
            no,
            missing_true: missing.get(i).copied().unwrap_or(0) != 0,
        });
    }
    // One root per tree, in order of first appearance: the one node of the
    // tree that no node points to.
    let mut seen = BTreeSet::new();
    let mut roots = Vec::new();
    for &t in &tree_ids {
        if !seen.insert(t) {
            continue;
        }
        let candidates: Vec<u32> = (0..n)
            .filter(|&i| tree_ids[i] == t && !is_child[i])
            .map(|i| i as u32)
            .collect();
        match candidates.as_slice() {
            [r] => roots.push(*r),
            [] => return Err(format!("tree {t} has no root (its nodes form a cycle)")),
            _ => return Err(format!("tree {t} has {} roots", candidates.len())),
        }
    }
    let names = (0..n)
        .map(|i| format!("node {} of tree {}", node_ids[i], tree_ids[i]))
        .collect();
    let raw = Raw {
        nodes,
        roots,
        names,
    };
    assemble(
        raw,
        Head {
            targets,
            aggregate,
            base,
            post,
            labels,
        },
        false,
    )
}

/// `ai.onnx.ml` opset 5's `TreeEnsemble`: interior nodes and leaves in
/// separate lists, explicit roots, modes as a byte tensor, set membership.
/// It answers `[N, n_targets]` scores like a regressor (a classifier is this
/// followed by ArgMax in the graph).
pub(super) fn build_unified(a: &Attrs<'_>) -> R<Box<dyn Kernel>> {
    let feature_ids = a.ints("nodes_featureids");
    let yes_ids = a.ints("nodes_truenodeids");
    let no_ids = a.ints("nodes_falsenodeids");
    let yes_leaf = a.ints("nodes_trueleafs");
    let no_leaf = a.ints("nodes_falseleafs");
    let missing = a.ints("nodes_missing_value_tracks_true");
    let roots = a.ints("tree_roots");
    let leaf_targets = a.ints("leaf_targetids");
    a.ignore(&["nodes_hitrates"]);
    let modes: Vec<u32> = match a.tensor("nodes_modes")? {
        Some(t) => t
            .data
            .to_f64()
            .iter()
            .map(|&m| match m as i64 {
                0 => Ok(LEQ),
                1 => Ok(LT),
                2 => Ok(GTE),
                3 => Ok(GT),
                4 => Ok(EQ),
                5 => Ok(NEQ),
                6 => Ok(MEMBER),
                other => Err(format!("node mode {other} is not one of 0..=6")),
            })
            .collect::<R<_>>()?,
        None => return Err("needs `nodes_modes`".into()),
    };
    let splits = tensor_f64(a, "nodes_splits")?;
    let weights = tensor_f64(a, "leaf_weights")?;
    let members = match a.tensor("membership_values")? {
        Some(_) => tensor_f64(a, "membership_values")?,
        None => Vec::new(),
    };
    let n = modes.len();
    for (name, len) in [
        ("nodes_featureids", feature_ids.len()),
        ("nodes_splits", splits.len()),
        ("nodes_truenodeids", yes_ids.len()),
        ("nodes_falsenodeids", no_ids.len()),
        ("nodes_trueleafs", yes_leaf.len()),
        ("nodes_falseleafs", no_leaf.len()),
    ] {
        if len != n {
            return Err(format!("{name} has {len} entries, nodes_modes {n}"));
        }
    }
    if !missing.is_empty() && missing.len() != n {
        return Err(format!(
            "nodes_missing_value_tracks_true has {} entries for {n} nodes",
            missing.len()
        ));
    }
    if leaf_targets.len() != weights.len() {
        return Err(format!(
            "leaf_targetids has {} entries, leaf_weights {}",
            leaf_targets.len(),
            weights.len()
        ));
    }
    let targets = usize::try_from(a.int("n_targets").unwrap_or(1))
        .ok()
        .filter(|&t| t > 0)
        .ok_or("n_targets must be positive")?;
    let aggregate = match a.int("aggregate_function").unwrap_or(1) {
        0 => Aggregate::Average,
        1 => Aggregate::Sum,
        2 => Aggregate::Min,
        3 => Aggregate::Max,
        other => return Err(format!("aggregate_function {other} is not one of 0..=3")),
    };
    // The specification numbers SOFTMAX 1 and LOGISTIC 2; onnxruntime
    // (1.32) reads 1 as LOGISTIC and 2 as SOFTMAX, its own enum's order.
    // Models are validated against onnxruntime, so its reading wins; the
    // operator tests pin it (tests/data/ops, treeensemble5_*).
    let post = match a.int("post_transform").unwrap_or(0) {
        0 => PostTransform::None,
        1 => PostTransform::Logistic,
        2 => PostTransform::Softmax,
        3 => PostTransform::SoftmaxZero,
        4 => PostTransform::Probit,
        other => return Err(format!("post_transform {other} is not one of 0..=4")),
    };
    // Interior nodes first, then the leaves, then the extra branches that
    // spell out set memberships.
    let leaves = weights.len();
    let mut nodes = Vec::with_capacity(n + leaves);
    let mut names: Vec<String> = (0..n).map(|i| format!("interior node {i}")).collect();
    let position = |i: usize, id: i64, leaf: i64| -> R<u32> {
        let (limit, offset, what) = match leaf {
            0 => (n, 0, "interior node"),
            1 => (leaves, n, "leaf"),
            other => {
                return Err(format!(
                    "nodes_trueleafs/falseleafs has {other}, not 0 or 1"
                ));
            }
        };
        usize::try_from(id)
            .ok()
            .filter(|&id| id < limit)
            .map(|id| (id + offset) as u32)
            .ok_or_else(|| format!("interior node {i} points to {what} {id}, which does not exist"))
    };
    let mut sets = members.split(|v| v.is_nan());
    let mut extra: Vec<RawNode> = Vec::new();
    for i in 0..n {
        let yes = position(i, yes_ids[i], yes_leaf[i])?;
        let no = position(i, no_ids[i], no_leaf[i])?;
        let feature = feature(feature_ids[i])?;
        let missing_true = missing.get(i).copied().unwrap_or(0) != 0;
        if modes[i] != MEMBER {
            nodes.push(RawNode::Branch {
                mode: modes[i],
                feature,
                threshold: splits[i],
                yes,
                no,
                missing_true,
            });
            continue;
        }
        // x ∈ {a, b, c} as the chain x == a ? yes : x == b ? yes : …,
        // every link sharing the `yes` subtree (the same shape LightGBM's
        // converters write by hand). NaN is in no set; it goes `yes` only
        // when the node says missing values do.
        let set = sets.next().unwrap_or(&[]);
        if set.is_empty() {
            return Err(format!(
                "interior node {i} is a BRANCH_MEMBER node without its set in membership_values"
            ));
        }
        let first_extra = (n + leaves + extra.len()) as u32;
        for (k, &v) in set.iter().enumerate() {
            let next = if k + 1 == set.len() {
                no
            } else {
                first_extra + k as u32
            };
            let link = RawNode::Branch {
                mode: EQ,
                feature,
                threshold: v,
                yes,
                no: next,
                missing_true,
            };
            if k == 0 {
                nodes.push(link);
            } else {
                extra.push(link);
            }
        }
    }
    for (k, (&t, &w)) in leaf_targets.iter().zip(&weights).enumerate() {
        let t = usize::try_from(t)
            .ok()
            .filter(|&t| t < targets)
            .ok_or_else(|| format!("leaf {k} targets {t}, outside 0..{targets}"))?;
        nodes.push(RawNode::Leaf(vec![(t as u32, w as f32)]));
        names.push(format!("leaf {k}"));
    }
    for k in 0..extra.len() {
        names.push(format!("set-membership link {k}"));
    }
    nodes.extend(extra);
    let roots = roots
        .iter()
        .map(|&r| {
            usize::try_from(r)
                .ok()
                .filter(|&r| r < n)
                .map(|r| r as u32)
                .ok_or_else(|| format!("tree_roots has {r}, which is not an interior node"))
        })
        .collect::<R<Vec<u32>>>()?;
    if roots.is_empty() {
        return Err("tree_roots is empty".into());
    }
    assemble(
        Raw {
            nodes,
            roots,
            names,
        },
        Head {
            targets,
            aggregate,
            base: Vec::new(),
            post,
            labels: None,
        },
        true,
    )
}

/// A tensor attribute's values as doubles.
fn tensor_f64(a: &Attrs<'_>, name: &str) -> R<Vec<f64>> {
    match a.tensor(name)? {
        Some(t) => match &t.data {
            Data::F32(_) | Data::F64(_) => Ok(t.data.to_f64()),
            other => Err(format!(
                "attribute `{name}` must be float or double, got {}",
                other.elem_type()
            )),
        },
        None => Err(format!("needs `{name}`")),
    }
}

fn feature(id: i64) -> R<usize> {
    usize::try_from(id)
        .ok()
        .filter(|&f| f < (1 << FEATURE_BITS))
        .ok_or_else(|| format!("feature id {id} is out of range"))
}

/// The longest path from each root to a leaf, checking on the way that no
/// walk can loop. A node may be reached from several parents (a tree is a
/// DAG: converters share a subtree between the links of a category set);
/// each node is visited once, so this is linear in the nodes.
fn depths(nodes: &[Node], roots: &[u32], names: &[String]) -> R<Vec<u32>> {
    const NEW: u8 = 0;
    const OPEN: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; nodes.len()];
    let mut depth = vec![0u32; nodes.len()];
    let children = |i: usize| {
        let node = nodes[i];
        (node.meta >> 28 != LEAF).then_some([node.yes as usize, node.no as usize])
    };
    let cycle = |i: usize| {
        format!(
            "{} is reached from itself: the trees have a cycle",
            names[i]
        )
    };
    for &r in roots {
        let mut stack = vec![(r as usize, false)];
        while let Some((i, closing)) = stack.pop() {
            if closing {
                depth[i] = children(i).map_or(0, |[y, n]| 1 + depth[y].max(depth[n]));
                state[i] = DONE;
                continue;
            }
            match state[i] {
                DONE => continue,
                // An entry pushed after `i` was opened, i.e. by a node
                // below it: `i` reaches itself.
                OPEN => return Err(cycle(i)),
                _ => {}
            }
            state[i] = OPEN;
            stack.push((i, true));
            for c in children(i).into_iter().flatten() {
                match state[c] {
                    NEW => stack.push((c, false)),
                    OPEN => return Err(cycle(c)),
                    _ => {}
                }
            }
        }
    }
    Ok(roots.iter().map(|&r| depth[r as usize]).collect())
}

/// Checks and packs a read ensemble.
fn assemble(raw: Raw, head: Head, typed_output: bool) -> R<Box<dyn Kernel>> {
    let Head {
        targets,
        aggregate,
        base,
        post,
        labels,
    } = head;
    let n = raw.nodes.len();
    if n >= 1 << 31 {
        return Err(format!("{n} tree nodes are more than an ensemble may have"));
    }
    let mut nodes = Vec::with_capacity(n);
    let mut weights = Vec::new();
    let mut features = 0usize;
    let mut thresholds = Vec::with_capacity(n);
    for node in &raw.nodes {
        match node {
            RawNode::Leaf(w) => {
                let start = weights.len() as u32;
                weights.extend(w);
                nodes.push(Node {
                    threshold: 0.0,
                    meta: LEAF << 28,
                    yes: start,
                    no: w.len() as u32,
                });
                thresholds.push(0.0);
            }
            &RawNode::Branch {
                mode,
                feature,
                threshold,
                yes,
                no,
                missing_true,
            } => {
                features = features.max(feature + 1);
                let mut meta = (mode << 28) | feature as u32;
                if missing_true {
                    meta |= MISSING_TRUE;
                }
                nodes.push(Node {
                    threshold: threshold as f32,
                    meta,
                    yes,
                    no,
                });
                thresholds.push(threshold);
            }
        }
    }
    let roots = raw.roots;
    let depths = depths(&nodes, &roots, &raw.names)?;
    let thresholds64 = thresholds
        .iter()
        .any(|&v| f64::from(v as f32) != v)
        .then_some(thresholds);
    let branch_modes: BTreeSet<u32> = nodes
        .iter()
        .map(|n| n.meta >> 28)
        .filter(|&m| m != LEAF)
        .collect();
    let uniform = match branch_modes.len() {
        0 => Some(LEQ),
        1 => branch_modes.first().copied(),
        _ => None,
    };
    let steps = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if n.meta >> 28 == LEAF {
                let me = i as u32;
                Step {
                    threshold: 0.0,
                    feature: 0,
                    yes: me,
                    no: me,
                }
            } else {
                Step {
                    threshold: n.threshold,
                    feature: (n.meta & ((1 << FEATURE_BITS) - 1))
                        | if n.meta & MISSING_TRUE != 0 {
                            1 << 31
                        } else {
                            0
                        },
                    yes: n.yes,
                    no: n.no,
                }
            }
        })
        .collect();
    let ensemble = Ensemble {
        uniform,
        steps,
        nodes,
        thresholds64,
        roots,
        depths,
        weights,
        targets,
        features,
        aggregate,
        base,
        post,
        code: 0,
    };
    Ok(match labels {
        Some(labels) => {
            let used: BTreeSet<u32> = ensemble.weights.iter().map(|w| w.0).collect();
            Box::new(Classifier {
                binary: labels.len() == 2 && used.len() == 1,
                all_positive: ensemble.weights.iter().all(|w| w.1 >= 0.0),
                ensemble,
                labels,
            })
        }
        None => Box::new(Regressor {
            ensemble,
            typed: typed_output,
        }),
    })
}

impl Ensemble {
    /// The trees for code generation; only ensembles that add their leaves
    /// up, which is what generated code computes.
    fn trees(&self) -> Option<Trees> {
        if !matches!(self.aggregate, Aggregate::Sum | Aggregate::Average) {
            return None;
        }
        let nodes = self
            .nodes
            .iter()
            .map(|n| match n.meta >> 28 {
                LEAF => TreeNode::Leaf {
                    first: n.yes,
                    count: n.no,
                },
                mode => TreeNode::Branch {
                    compare: match mode {
                        LEQ => Compare::Leq,
                        LT => Compare::Lt,
                        GTE => Compare::Gte,
                        GT => Compare::Gt,
                        EQ => Compare::Eq,
                        _ => Compare::Neq,
                    },
                    feature: n.meta & ((1 << FEATURE_BITS) - 1),
                    threshold: n.threshold,
                    missing_true: n.meta & MISSING_TRUE != 0,
                    yes: n.yes,
                    no: n.no,
                },
            })
            .collect();
        Some(Trees {
            nodes,
            roots: self.roots.clone(),
            depths: self.depths.clone(),
            weights: self.weights.clone(),
            targets: self.targets,
            features: self.features,
        })
    }

    /// The leaf tree `root` sends a float `row` to.
    #[inline]
    fn leaf(&self, root: u32, row: &[f32]) -> Node {
        self.walk(root, row, |_, node| node.threshold)
    }

    /// The leaf for a double `row`: compared with the double thresholds if
    /// the file gave them, else with the float ones widened (onnxruntime's
    /// rule).
    #[inline]
    fn leaf64(&self, root: u32, row: &[f64]) -> Node {
        self.walk(root, row, |at, node| {
            self.thresholds64
                .as_ref()
                .map_or(f64::from(node.threshold), |v| v[at])
        })
    }

    #[inline(always)]
    fn walk<X: Copy + PartialOrd>(
        &self,
        root: u32,
        row: &[X],
        threshold: impl Fn(usize, &Node) -> X,
    ) -> Node {
        let mut at = root as usize;
        loop {
            let node = self.nodes[at];
            let mode = node.meta >> 28;
            if mode == LEAF {
                return node;
            }
            let x = row[(node.meta & ((1 << FEATURE_BITS) - 1)) as usize];
            let t = threshold(at, &node);
            #[allow(clippy::eq_op, reason = "x != x is the NaN test for any float type")]
            let nan = x != x;
            let yes = match mode {
                LEQ => x <= t,
                LT => x < t,
                GTE => x >= t,
                GT => x > t,
                EQ => x == t,
                _ => x != t,
            } || (node.meta & MISSING_TRUE != 0 && nan);
            at = if yes { node.yes } else { node.no } as usize;
        }
    }

    /// The leaves tree `root` sends eight consecutive float rows to, the
    /// first starting at `xs[at]`.
    #[inline(always)]
    fn leaves8<const MODE: u32>(
        &self,
        root: u32,
        depth: u32,
        xs: &[f32],
        at: usize,
        cols: usize,
    ) -> [u32; LANES] {
        self.lockstep::<MODE>([root; LANES], depth, xs, |lane| at + lane * cols)
    }

    /// Eight walks in lockstep, lane `i` from node `node[i]` over the row
    /// starting at `xs[row_at(i)]`: every lane takes one step per round,
    /// exactly `depth` rounds (the tree's longest path) up to
    /// [`EXACT_DEPTH`], else four at a time until all eight stand on
    /// leaves. Without the leaf checks and the rounding up to four, boosted
    /// trees of depth 3 went from 590 k to 660 k rows/s in wasm, and
    /// churn's forest of depth 10 from 300 k to 328 k.
    /// A step is a select, not a jump, so a lane's path costs no branch
    /// mispredictions, and the eight lanes' loads overlap.
    #[inline(always)]
    fn lockstep<const MODE: u32>(
        &self,
        mut node: [u32; LANES],
        depth: u32,
        xs: &[f32],
        row_at: impl Fn(usize) -> usize,
    ) -> [u32; LANES] {
        let steps = &self.steps[..];
        // Callers pass rows that hold `self.features` values from each
        // `row_at(lane)` (`scores` checks the matrix's length), and roots of
        // this ensemble.
        debug_assert!((0..LANES).all(|lane| row_at(lane) + self.features <= xs.len()));
        debug_assert!(node.iter().all(|&n| (n as usize) < steps.len()));
        let round = |node: &mut [u32; LANES]| {
            for (lane, n) in node.iter_mut().enumerate() {
                // SAFETY: `*n` is a root or a child index, and children
                // were resolved to indices of `steps` when the ensemble
                // was built (a leaf's are its own); a feature index is
                // below `self.features` (which counts them), and the row
                // holds that many values from `row_at(lane)` (see the
                // assertion above; `scores` checks the length). The
                // two bounds checks were a fifth of a step: batches in
                // wasm went from 170 k to 222 k rows/s (synth_rf_large),
                // 248 k to 298 k (churn), 31 M to 36 M (friedman).
                let s = unsafe { *steps.get_unchecked(*n as usize) };
                let x =
                    unsafe { *xs.get_unchecked(row_at(lane) + (s.feature & 0x7fff_ffff) as usize) };
                let yes = match MODE {
                    LEQ => x <= s.threshold,
                    LT => x < s.threshold,
                    GTE => x >= s.threshold,
                    GT => x > s.threshold,
                    EQ => x == s.threshold,
                    _ => x != s.threshold,
                } | (s.feature >> 31 != 0 && x.is_nan());
                *n = if yes { s.yes } else { s.no };
            }
        };
        if depth <= EXACT_DEPTH {
            for _ in 0..depth {
                round(&mut node);
            }
            return node;
        }
        loop {
            for _ in 0..4 {
                round(&mut node);
            }
            if node.iter().all(|&n| steps[n as usize].yes == n) {
                return node;
            }
        }
    }

    /// The leaves of eight trees (`roots`) for the one row at `xs[at]`:
    /// the lanes are trees rather than rows. For the rows a batch has
    /// fewer than eight of (a one-row call has nothing else), where a
    /// plain walk mispredicts about every other branch.
    fn trees8_any(
        &self,
        mode: u32,
        roots: [u32; LANES],
        depth: u32,
        xs: &[f32],
        at: usize,
    ) -> [u32; LANES] {
        match mode {
            LEQ => self.lockstep::<LEQ>(roots, depth, xs, |_| at),
            LT => self.lockstep::<LT>(roots, depth, xs, |_| at),
            GTE => self.lockstep::<GTE>(roots, depth, xs, |_| at),
            GT => self.lockstep::<GT>(roots, depth, xs, |_| at),
            EQ => self.lockstep::<EQ>(roots, depth, xs, |_| at),
            _ => self.lockstep::<NEQ>(roots, depth, xs, |_| at),
        }
    }

    /// [`Ensemble::leaves8`] for the mode of this ensemble.
    fn leaves8_any(
        &self,
        mode: u32,
        root: u32,
        depth: u32,
        xs: &[f32],
        at: usize,
        cols: usize,
    ) -> [u32; LANES] {
        match mode {
            LEQ => self.leaves8::<LEQ>(root, depth, xs, at, cols),
            LT => self.leaves8::<LT>(root, depth, xs, at, cols),
            GTE => self.leaves8::<GTE>(root, depth, xs, at, cols),
            GT => self.leaves8::<GT>(root, depth, xs, at, cols),
            EQ => self.leaves8::<EQ>(root, depth, xs, at, cols),
            _ => self.leaves8::<NEQ>(root, depth, xs, at, cols),
        }
    }

    /// Raw aggregated scores `[rows × targets]` and which were scored.
    fn scores(&self, x: &Tensor) -> R<(usize, Vec<f32>, Vec<bool>)> {
        let (rows, cols) = x.as_matrix();
        if cols < self.features {
            return Err(format!(
                "X has {cols} features, the trees use {}",
                self.features
            ));
        }
        let xs: std::borrow::Cow<'_, [f32]> = match &x.data {
            Data::F32(v) => std::borrow::Cow::Borrowed(v),
            Data::I64(_) => std::borrow::Cow::Owned(x.data.to_f32()),
            Data::F64(_) => std::borrow::Cow::Borrowed(&[]),
            _ => return Err(format!("X must be numeric, got {}", x.elem_type())),
        };
        let x64 = match &x.data {
            Data::F64(v) => Some(v),
            _ => None,
        };
        // The lockstep walks read without bounds checks and rely on this.
        if x64.is_none() && xs.len() < rows * cols {
            return Err(format!(
                "X has {} values for shape [{rows}, {cols}]",
                xs.len()
            ));
        }
        let t = self.targets;
        let mut scores = vec![0f32; rows * t];
        let mut has = vec![false; rows * t];
        // Natively the data walk answers even a plan given code: the same
        // bits (the compile's check relies on it).
        if cfg!(target_arch = "wasm32") && self.code != 0 && x64.is_none() {
            generated(self.code, &xs, rows, cols, &mut scores, &mut has);
            if self.aggregate == Aggregate::Average {
                let n = self.roots.len() as f32;
                scores.iter_mut().for_each(|s| *s /= n);
            }
            return Ok((rows, scores, has));
        }
        // Blocks of rows, each through every tree in order: a tree's nodes
        // stay in cache while the block's rows pass through it, and each row
        // still adds its trees up in tree order. Large blocks: with 64 rows
        // a 200-tree forest ran at less than half the speed (every tree
        // fetched from memory once per 64 rows).
        const BLOCK: usize = 4096;
        let mut add = |r: usize, leaf: Node| {
            let ws = &self.weights[leaf.yes as usize..(leaf.yes + leaf.no) as usize];
            for &(k, w) in ws {
                let at = r * t + k as usize;
                let s = &mut scores[at];
                *s = match self.aggregate {
                    Aggregate::Sum | Aggregate::Average => *s + w,
                    Aggregate::Min if has[at] => s.min(w),
                    Aggregate::Max if has[at] => s.max(w),
                    _ => w,
                };
                has[at] = true;
            }
        };
        let lockstep = self.uniform.filter(|_| x64.is_none());
        for r0 in (0..rows).step_by(BLOCK) {
            let r1 = (r0 + BLOCK).min(rows);
            // With lockstep walks, whole groups of eight rows go through
            // each tree together, and the rows left over go through eight
            // trees at a time below. Either way a row adds its trees up in
            // tree order, so the sums do not depend on the batch's size.
            let grouped = match lockstep {
                Some(_) => r0 + (r1 - r0) / LANES * LANES,
                None => r0,
            };
            for (&root, &depth) in self.roots.iter().zip(&self.depths) {
                if let Some(mode) = lockstep {
                    for r in (r0..grouped).step_by(LANES) {
                        let leaves = self.leaves8_any(mode, root, depth, &xs, r * cols, cols);
                        for (lane, &leaf) in leaves.iter().enumerate() {
                            add(r + lane, self.nodes[leaf as usize]);
                        }
                    }
                    continue;
                }
                for r in r0..r1 {
                    let leaf = match x64 {
                        Some(v) => self.leaf64(root, &v[r * cols..(r + 1) * cols]),
                        None => self.leaf(root, &xs[r * cols..(r + 1) * cols]),
                    };
                    add(r, leaf);
                }
            }
            // Eight lanes for fewer than four trees would mostly walk the
            // padding: a single tree is faster walked plainly.
            let lanes = lockstep.filter(|_| self.roots.len() >= 4);
            if lockstep.is_some() && lanes.is_none() {
                for &root in &self.roots {
                    for r in grouped..r1 {
                        add(r, self.leaf(root, &xs[r * cols..(r + 1) * cols]));
                    }
                }
            }
            if let Some(mode) = lanes {
                for r in grouped..r1 {
                    for (trees, depths) in self.roots.chunks(LANES).zip(self.depths.chunks(LANES)) {
                        // A short last group repeats its first tree in the
                        // spare lanes, whose leaves are not added.
                        let mut roots = [trees[0]; LANES];
                        roots[..trees.len()].copy_from_slice(trees);
                        let depth = depths.iter().copied().max().unwrap_or(0);
                        let leaves = self.trees8_any(mode, roots, depth, &xs, r * cols);
                        for &leaf in &leaves[..trees.len()] {
                            add(r, self.nodes[leaf as usize]);
                        }
                    }
                }
            }
        }
        if self.aggregate == Aggregate::Average {
            let n = self.roots.len() as f32;
            scores.iter_mut().for_each(|s| *s /= n);
        }
        Ok((rows, scores, has))
    }
}

/// Scores `rows` float rows by the component's generated function at table
/// index `code` (see [`Trees`]). Only a wasm build has such functions.
#[cfg(target_arch = "wasm32")]
fn generated(code: u32, xs: &[f32], rows: usize, cols: usize, sums: &mut [f32], hit: &mut [bool]) {
    type Walk = unsafe extern "C" fn(*const f32, usize, usize, *mut f32, *mut bool);
    debug_assert!(xs.len() >= rows * cols && sums.len() == hit.len());
    // SAFETY: in wasm a function pointer is an index into the function
    // table, and `glassbox compile` put a function of exactly this type at
    // `code` (the plan holds only indices it handed out). The function
    // reads `rows × cols` floats from `xs` (`scores` checked the length)
    // and writes `rows × targets` entries of `sums` and `hit`, which
    // `scores` allocated at that size; it writes `hit` as 0 or 1 only.
    unsafe {
        let walk = std::mem::transmute::<usize, Walk>(code as usize);
        walk(xs.as_ptr(), rows, cols, sums.as_mut_ptr(), hit.as_mut_ptr());
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn generated(_: u32, _: &[f32], _: usize, _: usize, _: &mut [f32], _: &mut [bool]) {
    unreachable!("natively the data walk answers")
}

impl Kernel for Regressor {
    fn trees(&self) -> Option<Trees> {
        self.ensemble.trees()
    }

    fn with_tree_code(&self, index: u32) -> Option<Box<dyn Kernel>> {
        let mut coded = self.clone();
        coded.ensemble.code = index;
        Some(Box::new(coded))
    }

    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let e = &self.ensemble;
        let x = tensor(inputs, 0, "X")?;
        let (rows, mut scores, _) = e.scores(x)?;
        if !e.base.is_empty() {
            for row in scores.chunks_mut(e.targets) {
                row.iter_mut().zip(&e.base).for_each(|(s, b)| *s += b);
            }
        }
        if e.targets > 1 {
            e.post.apply_rows(&mut scores, e.targets);
        } else if e.post == PostTransform::Probit {
            scores.iter_mut().for_each(|s| *s = probit(*s));
        }
        let mut y = Tensor::f32(vec![rows, e.targets], scores);
        if self.typed && matches!(x.data, Data::F64(_)) {
            y = Tensor {
                shape: y.shape,
                data: Data::F64(y.data.to_f64()),
            };
        }
        Ok(vec![y.into()])
    }
}

impl Kernel for Classifier {
    fn trees(&self) -> Option<Trees> {
        self.ensemble.trees()
    }

    fn with_tree_code(&self, index: u32) -> Option<Box<dyn Kernel>> {
        let mut coded = self.clone();
        coded.ensemble.code = index;
        Some(Box::new(coded))
    }

    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let e = &self.ensemble;
        let (rows, scores, has) = e.scores(tensor(inputs, 0, "X")?)?;
        let n = e.targets;
        let mut picks = Vec::with_capacity(rows);
        let mut out = Vec::with_capacity(rows * n.max(2));
        // A row's scores and flags, in buffers reused from row to row
        // rather than two allocations per row.
        let (mut s, mut h) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for r in 0..rows {
            s.clear();
            s.extend_from_slice(&scores[r * n..(r + 1) * n]);
            h.clear();
            h.extend_from_slice(&has[r * n..(r + 1) * n]);
            if n > 2 {
                for (k, b) in e.base.iter().enumerate() {
                    s[k] += b;
                    h[k] = true;
                }
                // First class with the highest score among those scored.
                let mut best: Option<usize> = None;
                for k in 0..n {
                    if h[k] && best.is_none_or(|b| s[k] > s[b]) {
                        best = Some(k);
                    }
                }
                picks.push(best.unwrap_or(0));
                e.post.apply_row(&mut s);
                out.extend_from_slice(&s);
                continue;
            }
            // Two labels: what onnxruntime does, case by case.
            let mut extra = -1;
            let mut one = false; // only one score survives, to be expanded
            match e.base.len() {
                2 => {
                    if h[1] {
                        // onnxruntime: score1 = base1 + score0; score0 = −score1.
                        s[1] = e.base[1] + s[0];
                        s[0] = -s[1];
                    } else {
                        s[1] += e.base[1];
                        s[0] += e.base[0];
                    }
                }
                1 => {
                    s[0] += e.base[0];
                    one = !h[1];
                }
                _ => {
                    extra = 3;
                    one = !h[1];
                }
            }
            let pos = if h[1] {
                s[1]
            } else if h[0] {
                s[0]
            } else {
                0.0
            };
            let positive = if self.binary {
                if self.all_positive {
                    extra = if pos > 0.5 { 0 } else { 1 };
                    pos > 0.5
                } else {
                    extra = if pos > 0.0 { 2 } else { 3 };
                    pos > 0.0
                }
            } else {
                pos > 0.0
            };
            picks.push(usize::from(positive));
            if !one {
                e.post.apply_row(&mut s);
                out.extend_from_slice(&s);
                continue;
            }
            let v = s[0];
            let pair = if e.post == PostTransform::Probit {
                // onnxruntime writes one probit column and leaves the second
                // unset; we write 0 there rather than garbage.
                [probit(v), 0.0]
            } else {
                match extra {
                    0 | 1 => [1.0 - v, v],
                    _ if e.post == PostTransform::Logistic => {
                        [super::logistic(-v), super::logistic(v)]
                    }
                    _ => [-v, v],
                }
            };
            out.extend(pair);
        }
        let width = n.max(2);
        Ok(vec![
            self.labels.tensor(&picks).into(),
            Tensor::f32(vec![rows, width], out).into(),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{AttributeProto, NodeProto};

    fn ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            ints: v.to_vec(),
            ..Default::default()
        }
    }

    fn floats(name: &str, v: &[f32]) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            floats: v.to_vec(),
            ..Default::default()
        }
    }

    fn strings(name: &str, v: &[&str]) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ..Default::default()
        }
    }

    /// One stump, x0 <= 1 → 10 else 20, with `missing` telling where NaN goes.
    fn stump(missing: i64) -> Box<dyn Kernel> {
        let node = NodeProto {
            attribute: vec![
                ints("nodes_treeids", &[0, 0, 0]),
                ints("nodes_nodeids", &[0, 1, 2]),
                ints("nodes_featureids", &[0, 0, 0]),
                strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF"]),
                floats("nodes_values", &[1.0, 0.0, 0.0]),
                ints("nodes_truenodeids", &[1, 0, 0]),
                ints("nodes_falsenodeids", &[2, 0, 0]),
                ints("nodes_missing_value_tracks_true", &[missing, 0, 0]),
                ints("target_treeids", &[0, 0]),
                ints("target_nodeids", &[1, 2]),
                ints("target_ids", &[0, 0]),
                floats("target_weights", &[10.0, 20.0]),
            ],
            ..Default::default()
        };
        build(&Attrs::of(&node), false).unwrap()
    }

    fn run(k: &dyn Kernel, x: &[f32]) -> Vec<f32> {
        let v: Value = Tensor::f32(vec![x.len(), 1], x.to_vec()).into();
        match k.run(&[Some(&v)]).unwrap().remove(0) {
            Value::Tensor(t) => t.as_f32().unwrap().to_vec(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nan_follows_the_missing_track_or_fails_the_comparison() {
        // NaN <= 1 is false: without a missing track NaN goes right.
        assert_eq!(
            run(&*stump(0), &[0.5, 1.0, 2.0, f32::NAN]),
            [10.0, 10.0, 20.0, 20.0]
        );
        // With the track set, NaN goes left (true).
        assert_eq!(run(&*stump(1), &[f32::NAN, 2.0]), [10.0, 20.0]);
    }

    /// `trees` copies of a chain of `depth` branches on x0: branch i sends
    /// x0 <= i + 0.5 to a leaf of weight i + 1, else on; past the last, a
    /// leaf of weight depth + 1. So x0 = v scores trees × (min(v, depth) + 1).
    fn chains(trees: usize, depth: usize) -> Box<dyn Kernel> {
        let (mut t, mut id, mut modes, mut values, mut yes, mut no) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        let (mut wt, mut wn, mut ww) = (vec![], vec![], vec![]);
        for tree in 0..trees as i64 {
            let d = depth as i64;
            for i in 0..=2 * d {
                t.push(tree);
                id.push(i);
                let branch = i < d;
                modes.push(if branch { "BRANCH_LEQ" } else { "LEAF" });
                values.push(if branch { i as f32 + 0.5 } else { 0.0 });
                yes.push(if branch { d + i } else { 0 });
                no.push(if !branch {
                    0
                } else if i + 1 < d {
                    i + 1
                } else {
                    2 * d
                });
                if !branch {
                    wt.push(tree);
                    wn.push(i);
                    ww.push((i - d + 1) as f32);
                }
            }
        }
        let node = NodeProto {
            attribute: vec![
                ints("nodes_treeids", &t),
                ints("nodes_nodeids", &id),
                ints("nodes_featureids", &vec![0; t.len()]),
                strings("nodes_modes", &modes),
                floats("nodes_values", &values),
                ints("nodes_truenodeids", &yes),
                ints("nodes_falsenodeids", &no),
                ints("target_treeids", &wt),
                ints("target_nodeids", &wn),
                ints("target_ids", &vec![0; wt.len()]),
                floats("target_weights", &ww),
            ],
            ..Default::default()
        };
        build(&Attrs::of(&node), false).unwrap()
    }

    /// Every walk reaches the right leaf: shallow trees (walked for exactly
    /// their depth) and deep ones (checked for leaves every four rounds),
    /// rows in groups of eight and the rows left over (eight trees at a
    /// time when there are four or more, else one by one).
    #[test]
    fn lockstep_walks_reach_the_leaves_of_shallow_and_deep_trees() {
        for (trees, depth) in [(5, 3), (5, 20), (1, 20), (9, 16), (9, 17)] {
            let k = chains(trees, depth);
            let x: Vec<f32> = (0..=depth as i32 + 1).map(|v| v as f32).collect();
            let want: Vec<f32> = x
                .iter()
                .map(|&v| (trees * ((v as usize).min(depth) + 1)) as f32)
                .collect();
            assert_eq!(run(&*k, &x), want, "{trees} trees of depth {depth}");
            for one in &x {
                let got = run(&*k, std::slice::from_ref(one));
                assert_eq!(got[0], (trees * ((*one as usize).min(depth) + 1)) as f32);
            }
        }
    }

    /// Two nodes of one tree pointing at each other: a walk would never
    /// end, so the build refuses it, naming the node.
    #[test]
    fn a_cycle_is_a_build_error_and_a_shared_subtree_is_not() {
        let tree = |yes: &[i64], no: &[i64]| NodeProto {
            attribute: vec![
                ints("nodes_treeids", &[0, 0, 0, 0]),
                ints("nodes_nodeids", &[0, 1, 2, 3]),
                ints("nodes_featureids", &[0, 0, 0, 0]),
                strings(
                    "nodes_modes",
                    &["BRANCH_LEQ", "BRANCH_LEQ", "BRANCH_LEQ", "LEAF"],
                ),
                floats("nodes_values", &[1.0, 2.0, 3.0, 0.0]),
                ints("nodes_truenodeids", yes),
                ints("nodes_falsenodeids", no),
                ints("target_treeids", &[0]),
                ints("target_nodeids", &[3]),
                ints("target_ids", &[0]),
                floats("target_weights", &[7.0]),
            ],
            ..Default::default()
        };
        // 0 → 1 → 2 → 1: a cycle below the root.
        let err = build(&Attrs::of(&tree(&[1, 2, 1, 0], &[3, 3, 3, 0])), false).unwrap_err();
        assert!(err.contains("reached from itself"), "{err}");
        // 0 → (1, 2), 1 → (2, 3), 2 → (3, 3): node 2 and leaf 3 shared.
        let k = build(&Attrs::of(&tree(&[1, 2, 3, 0], &[2, 3, 3, 0])), false).unwrap();
        assert_eq!(run(&*k, &[0.0, 5.0]), [7.0, 7.0]);
    }

    #[test]
    fn a_child_that_does_not_exist_is_a_build_error() {
        let node = NodeProto {
            attribute: vec![
                ints("nodes_treeids", &[0]),
                ints("nodes_nodeids", &[0]),
                ints("nodes_featureids", &[0]),
                strings("nodes_modes", &["BRANCH_LEQ"]),
                floats("nodes_values", &[1.0]),
                ints("nodes_truenodeids", &[0]),
                ints("nodes_falsenodeids", &[7]),
            ],
            ..Default::default()
        };
        let err = build(&Attrs::of(&node), false).unwrap_err();
        assert!(err.contains("points to node 7"), "{err}");
    }
}
