//! Tree ensembles as code: each ensemble that fits a size budget becomes
//! wasm functions, its thresholds and leaf weights immediates, which
//! Cranelift compiles like the rest of the component.
//!
//! The runner's data walk reads a node (feature, threshold, children) from
//! memory at every step; generated code has them in its instructions, so a
//! step is a load of the feature and a compare. A branch whose two sides
//! are leaves of one weight for the same target (about half the branches of
//! a boosted ensemble) becomes a `select` rather than a jump, as do small
//! subtrees of such leaves: no mispredicted branch for the last levels.
//!
//! Past the budget the code no longer fits the instruction cache and the
//! data walk's lockstep rows win (see [`BUDGET`]); those ensembles keep it.
//!
//! What a generated function computes is specified by
//! [`glassbox_onnx::graph::Trees`]: the same float32 additions in the same
//! order as the data walk, so the answers are the same bits.

use std::collections::{BTreeMap, BTreeSet};

use glassbox_onnx::graph::{Compare, TreeNode, Trees};
use wasm_encoder::{BlockType, Function, Instruction, MemArg, ValType};

/// Tree nodes (counted with every shared subtree repeated, as code repeats
/// it) up to which an ensemble may become code under [`TreeMode::Auto`]:
/// past it the code outgrows the instruction cache. Measured on this
/// machine (docs/BENCHMARKS.md, "Trees as code"): churn's 46,946-node
/// forest ran at 0.85 of the walk's speed as code, synth_rf_large's 114,866
/// nodes at 0.37.
pub const BUDGET: u64 = 32_768;

/// The deepest a leaf may be on average for an ensemble to become code
/// under [`TreeMode::Auto`]. Code takes a branch per level above the last
/// few (which are selects), and deep trees split evenly mispredict about
/// every other one; the walk steps eight rows in lockstep without
/// branches. Measured: boosted trees of mean leaf depth 3.0 (bc_gbc) ran
/// 2.4 times as fast as code, LightGBM's of 6.8 (synth_lgbm) 1.5 times,
/// friedman's tree of 7.7 1.1 times; the first 10 trees of synth_rf_large
/// (9.4, 5,838 nodes) 0.87 times.
pub const MAX_MEAN_DEPTH: f64 = 8.0;

/// The most nodes an ensemble may have as code even when asked for
/// ([`TreeMode::Code`]): about 20 MB of wasm, a minute of Cranelift.
pub const MAX_NODES: u64 = 1 << 20;

/// Deeper trees keep the walk: code nests one block per level, and
/// generating it recurses once per level.
pub const MAX_DEPTH: u32 = 64;

/// Ensembles with more scores per row keep the walk: code keeps one
/// accumulator per score in a local.
pub const MAX_TARGETS: usize = 64;

/// The most nodes one tree may have as code: a tree is one function's
/// worth, and its function keeps two locals per feature it compares
/// (wasm allows 50,000 locals).
pub const MAX_TREE_NODES: u64 = 1 << 14;

/// Nodes per generated function: one function per group of trees keeps
/// Cranelift's work per function (and its memory) bounded.
const GROUP_NODES: u64 = 4096;

/// Subtrees up to this many levels whose leaves all hold one weight for the
/// same target are computed without branches: every compare, then selects.
const SELECT_LEVELS: u32 = 3;

/// Which ensembles become code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TreeMode {
    /// Those within [`BUDGET`]: the default.
    #[default]
    Auto,
    /// Every ensemble that code can express, up to [`MAX_NODES`].
    Code,
    /// None: every ensemble keeps the data walk.
    Walk,
}

/// Which of `ensembles` to generate code for under `mode`.
pub fn choose(ensembles: &[Trees], mode: TreeMode) -> Vec<bool> {
    ensembles
        .iter()
        .map(|t| {
            let limit = match mode {
                TreeMode::Walk => return false,
                TreeMode::Auto => BUDGET,
                TreeMode::Code => MAX_NODES,
            };
            expressible(t)
                && expanded_nodes(t) <= limit
                && (mode == TreeMode::Code || mean_leaf_depth(t) <= MAX_MEAN_DEPTH)
        })
        .collect()
}

/// The mean depth of the leaves, over every tree's leaves (shared
/// subtrees counted once per use). Only for ensembles within the budget:
/// the walk visits every expanded node.
fn mean_leaf_depth(t: &Trees) -> f64 {
    let (mut leaves, mut depths) = (0u64, 0u64);
    let mut stack: Vec<(u32, u64)> = t.roots.iter().map(|&r| (r, 0)).collect();
    while let Some((at, depth)) = stack.pop() {
        match t.nodes[at as usize] {
            TreeNode::Leaf { .. } => {
                leaves += 1;
                depths += depth;
            }
            TreeNode::Branch { yes, no, .. } => {
                stack.extend([(yes, depth + 1), (no, depth + 1)]);
            }
        }
    }
    depths as f64 / leaves.max(1) as f64
}

/// Whether code can express `trees` at all.
fn expressible(t: &Trees) -> bool {
    let mut memo = vec![0u64; t.nodes.len()];
    t.targets >= 1
        && t.targets <= MAX_TARGETS
        && t.depths.iter().all(|&d| d <= MAX_DEPTH)
        && t.weights.iter().all(|&(k, _)| (k as usize) < t.targets)
        && t.roots
            .iter()
            .all(|&r| size(t, r, &mut memo) <= MAX_TREE_NODES)
}

/// Nodes over all trees with shared subtrees counted once per use
/// (saturating: a crafted file can share its way to 2^depth).
pub fn expanded_nodes(t: &Trees) -> u64 {
    let mut memo = vec![0u64; t.nodes.len()];
    t.roots
        .iter()
        .fold(0u64, |sum, &r| sum.saturating_add(size(t, r, &mut memo)))
}

fn size(t: &Trees, at: u32, memo: &mut [u64]) -> u64 {
    let i = at as usize;
    if memo[i] != 0 {
        return memo[i];
    }
    // Depth is bounded by MAX_DEPTH for the ensembles sized (`choose`
    // checks it first), so this recursion is too.
    let n = match t.nodes[i] {
        TreeNode::Leaf { .. } => 1,
        TreeNode::Branch { yes, no, .. } => 1u64
            .saturating_add(size(t, yes, memo))
            .saturating_add(size(t, no, memo)),
    };
    memo[i] = n;
    n
}

/// The generated functions of one module.
pub struct Generated {
    /// `(type, body)` of each function, to be appended in this order after
    /// the module's own functions.
    pub functions: Vec<(u32, Function)>,
    /// Per ensemble given code, its entry function's index.
    pub entries: Vec<u32>,
    /// Bytes of the function bodies.
    pub code_bytes: usize,
}

/// The types the generated functions use, appended to the module's types:
/// the entry `(rows, n, cols, sums, hit)` and a group `(row, sums, hit)`.
pub fn types() -> [(Vec<ValType>, Vec<ValType>); 2] {
    [
        (vec![ValType::I32; 5], vec![]),
        (vec![ValType::I32; 3], vec![]),
    ]
}

/// Generates the functions for `ensembles`, the first to be function
/// `first_function` of the module, whose types [`types`] start at
/// `first_type`. `choose` must have accepted every ensemble.
pub fn generate(ensembles: &[&Trees], first_function: u32, first_type: u32) -> Generated {
    let (entry_type, group_type) = (first_type, first_type + 1);
    let mut out = Generated {
        functions: Vec::new(),
        entries: Vec::new(),
        code_bytes: 0,
    };
    for t in ensembles {
        let mut memo = vec![0u64; t.nodes.len()];
        // Trees in groups of about GROUP_NODES, in order.
        let mut groups: Vec<Vec<u32>> = vec![Vec::new()];
        let mut in_group = 0u64;
        for &root in &t.roots {
            let n = size(t, root, &mut memo);
            if in_group > 0 && in_group.saturating_add(n) > GROUP_NODES {
                groups.push(Vec::new());
                in_group = 0;
            }
            groups.last_mut().expect("a group").push(root);
            in_group = in_group.saturating_add(n);
        }
        let first_group = first_function + out.functions.len() as u32 + 1;
        let entry = entry(t.targets, first_group, groups.len() as u32);
        out.entries
            .push(first_function + out.functions.len() as u32);
        out.functions.push((entry_type, entry));
        for roots in &groups {
            out.functions.push((group_type, group(t, roots)));
        }
    }
    out.code_bytes = out.functions.iter().map(|(_, f)| f.byte_len()).sum();
    out
}

/// The entry: for each of `n` rows, the groups in order on that row.
fn entry(targets: usize, first_group: u32, groups: u32) -> Function {
    // Locals after the five parameters: the row's size in bytes.
    let (rows, n, cols, sums, hit, stride) = (0, 1, 2, 3, 4, 5);
    let mut f = Function::new([(1, ValType::I32)]);
    let mut s = f.instructions();
    s.local_get(cols).i32_const(2).i32_shl().local_set(stride);
    s.block(BlockType::Empty);
    s.local_get(n).i32_eqz().br_if(0);
    s.loop_(BlockType::Empty);
    for g in 0..groups {
        s.local_get(rows)
            .local_get(sums)
            .local_get(hit)
            .call(first_group + g);
    }
    s.local_get(rows)
        .local_get(stride)
        .i32_add()
        .local_set(rows);
    s.local_get(sums)
        .i32_const((targets * 4) as i32)
        .i32_add()
        .local_set(sums);
    s.local_get(hit)
        .i32_const(targets as i32)
        .i32_add()
        .local_set(hit);
    s.local_get(n).i32_const(1).i32_sub().local_tee(n).br_if(0);
    s.end();
    s.end();
    s.end();
    f
}

/// Locals of a group function.
struct Locals {
    /// The row's address (parameter 0).
    row: u32,
    /// First of the per-target float accumulators.
    acc: u32,
    /// First of the per-target hit flags.
    hit: u32,
    /// A float scratch local.
    x: u32,
    /// An integer scratch local.
    nan: u32,
    /// Per feature the group compares by order, its locals: the key with a
    /// missing value above every threshold, and the key with it below.
    keys: BTreeMap<u32, u32>,
}

/// A float's bits as an integer that orders like the float: for numbers
/// (not NaN) `a <= b` exactly when `key(a) <= key(b)`, with -0 and +0 one
/// key. Comparing keys with thresholds' keys as immediates takes one
/// integer compare where a float compare takes the threshold built in a
/// register first (two instructions) and the compare: about a third fewer
/// instructions per branch, and branches are most of a tree's code.
fn key(x: f32) -> i32 {
    let bits = x.to_bits() as i32;
    let magnitude = bits & 0x7fff_ffff;
    if bits < 0 { -magnitude } else { magnitude }
}

/// A group: loads the row's sums and flags, adds `roots`' trees, stores
/// them back.
fn group(t: &Trees, roots: &[u32]) -> Function {
    let k = t.targets as u32;
    // The features the group's ordered comparisons read, each once.
    let mut keyed = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<u32> = roots.to_vec();
    while let Some(at) = stack.pop() {
        if !seen.insert(at) {
            continue;
        }
        if let TreeNode::Branch {
            yes, no, feature, ..
        } = t.nodes[at as usize]
        {
            if by_key(t, at) {
                keyed.insert(feature);
            }
            stack.extend([yes, no]);
        }
    }
    let first_key = 3 + 2 * k + 1;
    let l = Locals {
        row: 0,
        acc: 3,
        hit: 3 + k,
        x: 3 + 2 * k,
        nan: first_key + 2 * keyed.len() as u32,
        keys: keyed
            .iter()
            .enumerate()
            .map(|(i, &f)| (f, first_key + 2 * i as u32))
            .collect(),
    };
    let (sums, hit) = (1, 2);
    let mut f = Function::new([
        (k, ValType::F32),
        (k, ValType::I32),
        (1, ValType::F32),
        (2 * keyed.len() as u32 + 1, ValType::I32),
    ]);
    let body = &mut f;
    for i in 0..k {
        body.instruction(&Instruction::LocalGet(sums));
        body.instruction(&Instruction::F32Load(mem(u64::from(i) * 4, 2)));
        body.instruction(&Instruction::LocalSet(l.acc + i));
        body.instruction(&Instruction::LocalGet(hit));
        body.instruction(&Instruction::I32Load8U(mem(u64::from(i), 0)));
        body.instruction(&Instruction::LocalSet(l.hit + i));
    }
    // The keys: the magnitude's bits negated for negative numbers (see
    // `key`), and a NaN above (first key) or below (second key) every
    // number. The second key's local holds the bits meanwhile.
    for (&feature, &at) in &l.keys {
        let bits = Instruction::I32Load(mem(u64::from(feature) * 4, 2));
        // magnitude, conditionally negated: (m ^ s) - s with s = bits >> 31
        body.instruction(&Instruction::LocalGet(l.row));
        body.instruction(&bits);
        body.instruction(&Instruction::LocalTee(at + 1));
        body.instruction(&Instruction::I32Const(0x7fff_ffff));
        body.instruction(&Instruction::I32And);
        body.instruction(&Instruction::LocalGet(at + 1));
        body.instruction(&Instruction::I32Const(31));
        body.instruction(&Instruction::I32ShrS);
        body.instruction(&Instruction::I32Xor);
        body.instruction(&Instruction::LocalGet(at + 1));
        body.instruction(&Instruction::I32Const(31));
        body.instruction(&Instruction::I32ShrS);
        body.instruction(&Instruction::I32Sub);
        body.instruction(&Instruction::LocalSet(at));
        // is NaN: the magnitude's bits above infinity's
        // above = nan ? MAX : key; below = nan ? MIN : key
        body.instruction(&Instruction::I32Const(i32::MAX));
        body.instruction(&Instruction::LocalGet(at));
        body.instruction(&Instruction::LocalGet(at + 1));
        body.instruction(&Instruction::I32Const(0x7fff_ffff));
        body.instruction(&Instruction::I32And);
        body.instruction(&Instruction::I32Const(0x7f80_0000));
        body.instruction(&Instruction::I32GtU);
        body.instruction(&Instruction::LocalTee(l.nan));
        body.instruction(&Instruction::Select);
        body.instruction(&Instruction::I32Const(i32::MIN));
        body.instruction(&Instruction::LocalGet(at));
        body.instruction(&Instruction::LocalGet(l.nan));
        body.instruction(&Instruction::Select);
        body.instruction(&Instruction::LocalSet(at + 1));
        body.instruction(&Instruction::LocalSet(at));
    }
    for &root in roots {
        node(t, &l, root, body);
    }
    for i in 0..k {
        body.instruction(&Instruction::LocalGet(sums));
        body.instruction(&Instruction::LocalGet(l.acc + i));
        body.instruction(&Instruction::F32Store(mem(u64::from(i) * 4, 2)));
        body.instruction(&Instruction::LocalGet(hit));
        body.instruction(&Instruction::LocalGet(l.hit + i));
        body.instruction(&Instruction::I32Store8(mem(u64::from(i), 0)));
    }
    body.instruction(&Instruction::End);
    f
}

/// Whether branch `at` compares by keys: an ordered comparison with a
/// number (not NaN).
fn by_key(t: &Trees, at: u32) -> bool {
    matches!(
        t.nodes[at as usize],
        TreeNode::Branch {
            compare: Compare::Leq | Compare::Lt | Compare::Gte | Compare::Gt,
            threshold,
            ..
        } if !threshold.is_nan()
    )
}

fn mem(offset: u64, align: u32) -> MemArg {
    MemArg {
        offset,
        align,
        target: wasm_encoder::MemArgTarget::Memory(0),
        ordering: None,
    }
}

/// The code for the subtree at `at`: its leaf's weights added to the
/// accumulators.
fn node(t: &Trees, l: &Locals, at: u32, out: &mut Function) {
    match t.nodes[at as usize] {
        TreeNode::Leaf { first, count } => {
            for &(k, w) in &t.weights[first as usize..(first + count) as usize] {
                add(l, k, out, |out| {
                    out.instruction(&Instruction::F32Const(w.into()));
                });
            }
        }
        TreeNode::Branch { yes, no, .. } => {
            if let Some(k) = selectable(t, at, SELECT_LEVELS) {
                add(l, k, out, |out| {
                    value(t, l, at, out);
                    out.instruction(&Instruction::F32ReinterpretI32);
                });
                return;
            }
            condition(t, l, at, out);
            out.instruction(&Instruction::If(BlockType::Empty));
            node(t, l, yes, out);
            out.instruction(&Instruction::Else);
            node(t, l, no, out);
            out.instruction(&Instruction::End);
        }
    }
}

/// `acc[k] += (what `push` leaves on the stack)`; the row has hit `k`.
fn add(l: &Locals, k: u32, out: &mut Function, push: impl FnOnce(&mut Function)) {
    out.instruction(&Instruction::LocalGet(l.acc + k));
    push(out);
    out.instruction(&Instruction::F32Add);
    out.instruction(&Instruction::LocalSet(l.acc + k));
    out.instruction(&Instruction::I32Const(1));
    out.instruction(&Instruction::LocalSet(l.hit + k));
}

/// The target of every leaf under `at` when the subtree is at most
/// `levels` branches deep and each of its leaves holds exactly one weight,
/// for that same target.
fn selectable(t: &Trees, at: u32, levels: u32) -> Option<u32> {
    match t.nodes[at as usize] {
        TreeNode::Leaf { first, count: 1 } => Some(t.weights[first as usize].0),
        TreeNode::Leaf { .. } => None,
        TreeNode::Branch { yes, no, .. } if levels > 0 => {
            let a = selectable(t, yes, levels - 1)?;
            (selectable(t, no, levels - 1)? == a).then_some(a)
        }
        TreeNode::Branch { .. } => None,
    }
}

/// Pushes the bits of the weight of the leaf the row reaches under `at` (a
/// [`selectable`] subtree), by selects: both sides are computed. Integer
/// selects, because Cranelift turns an integer select into a conditional
/// move but a float one into a jump over a move: a branch again.
fn value(t: &Trees, l: &Locals, at: u32, out: &mut Function) {
    match t.nodes[at as usize] {
        TreeNode::Leaf { first, .. } => {
            let bits = t.weights[first as usize].1.to_bits();
            out.instruction(&Instruction::I32Const(bits as i32));
        }
        TreeNode::Branch { yes, no, .. } => {
            value(t, l, yes, out);
            value(t, l, no, out);
            condition(t, l, at, out);
            out.instruction(&Instruction::Select);
        }
    }
}

/// Pushes whether the row goes the `yes` way at branch `at`.
fn condition(t: &Trees, l: &Locals, at: u32, out: &mut Function) {
    let TreeNode::Branch {
        compare,
        feature,
        threshold,
        missing_true,
        ..
    } = t.nodes[at as usize]
    else {
        unreachable!("a condition is asked of branches only");
    };
    if by_key(t, at) {
        // A missing value must fail the comparison (or pass it, with
        // `missing_true`): the key that puts NaN on the right side.
        let above = matches!(
            (compare, missing_true),
            (Compare::Leq | Compare::Lt, false) | (Compare::Gte | Compare::Gt, true)
        );
        let local = l.keys[&feature] + u32::from(!above);
        out.instruction(&Instruction::LocalGet(local));
        out.instruction(&Instruction::I32Const(key(threshold)));
        out.instruction(&match compare {
            Compare::Leq => Instruction::I32LeS,
            Compare::Lt => Instruction::I32LtS,
            Compare::Gte => Instruction::I32GeS,
            _ => Instruction::I32GtS,
        });
        return;
    }
    out.instruction(&Instruction::LocalGet(l.row));
    out.instruction(&Instruction::F32Load(mem(u64::from(feature) * 4, 2)));
    let threshold = Instruction::F32Const(threshold.into());
    // With a missing value going the `yes` way, an ordered comparison is
    // the negation of its opposite (which NaN fails): `x <= t || x is NaN`
    // is `!(x > t)`.
    let (op, negate) = match (compare, missing_true) {
        (Compare::Leq, false) => (Instruction::F32Le, false),
        (Compare::Leq, true) => (Instruction::F32Gt, true),
        (Compare::Lt, false) => (Instruction::F32Lt, false),
        (Compare::Lt, true) => (Instruction::F32Ge, true),
        (Compare::Gte, false) => (Instruction::F32Ge, false),
        (Compare::Gte, true) => (Instruction::F32Lt, true),
        (Compare::Gt, false) => (Instruction::F32Gt, false),
        (Compare::Gt, true) => (Instruction::F32Le, true),
        (Compare::Eq, false) => (Instruction::F32Eq, false),
        (Compare::Eq, true) => {
            // x == t || x != x
            out.instruction(&Instruction::LocalTee(l.x));
            out.instruction(&threshold);
            out.instruction(&Instruction::F32Eq);
            out.instruction(&Instruction::LocalGet(l.x));
            out.instruction(&Instruction::LocalGet(l.x));
            out.instruction(&Instruction::F32Ne);
            out.instruction(&Instruction::I32Or);
            return;
        }
        // NaN is unequal to anything: the missing flag changes nothing.
        (Compare::Neq, _) => (Instruction::F32Ne, false),
    };
    out.instruction(&threshold);
    out.instruction(&op);
    if negate {
        out.instruction(&Instruction::I32Eqz);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(depth: u32) -> Trees {
        // Node i branches to i + 1 both ways: 2^depth paths through
        // depth + 1 nodes.
        let mut nodes: Vec<TreeNode> = (0..depth)
            .map(|i| TreeNode::Branch {
                compare: Compare::Leq,
                feature: 0,
                threshold: 0.5,
                missing_true: false,
                yes: i + 1,
                no: i + 1,
            })
            .collect();
        nodes.push(TreeNode::Leaf { first: 0, count: 1 });
        Trees {
            nodes,
            roots: vec![0],
            depths: vec![depth],
            weights: vec![(0, 1.0)],
            targets: 1,
            features: 1,
        }
    }

    #[test]
    fn keys_order_numbers_as_floats_do() {
        let mut values: Vec<f32> = vec![
            0.0,
            -0.0,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            f32::from_bits(1),
            -f32::from_bits(1),
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            1.0,
            -1.0,
        ];
        // A spread of magnitudes and their neighbours.
        let mut x = 1.0e-30f32;
        while x < 1.0e30 {
            values.extend([x, -x, x.next_up(), (-x).next_down()]);
            x *= 7.3;
        }
        for &a in &values {
            for &b in &values {
                assert_eq!(a <= b, key(a) <= key(b), "{a} <= {b}");
                assert_eq!(a < b, key(a) < key(b), "{a} < {b}");
            }
        }
    }

    #[test]
    fn shared_subtrees_count_once_per_use_and_saturate() {
        assert_eq!(expanded_nodes(&chain(3)), 15);
        assert_eq!(expanded_nodes(&chain(60)), (1u64 << 61) - 1);
        // A crafted DAG is refused by size, not expanded.
        assert_eq!(choose(&[chain(40)], TreeMode::Code), vec![false]);
        assert_eq!(choose(&[chain(6)], TreeMode::Auto), vec![true]);
        // Deep on average: the walk's lockstep is faster.
        assert_eq!(choose(&[chain(10)], TreeMode::Auto), vec![false]);
        assert_eq!(choose(&[chain(10)], TreeMode::Code), vec![true]);
        assert_eq!(choose(&[chain(10)], TreeMode::Walk), vec![false]);
        assert_eq!(choose(&[chain(MAX_DEPTH + 1)], TreeMode::Code), vec![false]);
        // One tree past a function's worth.
        assert_eq!(choose(&[chain(14)], TreeMode::Code), vec![false]);
        assert_eq!(choose(&[chain(13)], TreeMode::Code), vec![true]);
    }
}
