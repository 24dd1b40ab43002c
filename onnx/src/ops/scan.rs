//! `Scan`: a subgraph run once per slice of its scan inputs, carrying state
//! from one iteration to the next. skl2onnx writes nearest neighbours'
//! pairwise distances this way (one iteration per training point).
//!
//! The body is planned once, like the main graph, and may read the
//! enclosing graph's constants. Each iteration's cost is the body's, so a
//! call costs iterations × body: linear in the scanned input.

use std::collections::HashMap;

use super::core::axis;
use super::tensor;
use crate::graph::{Attrs, Graph, Kernel, Opsets};
use crate::tensor::{Tensor, Value};

type R<T> = Result<T, String>;

/// Scans nested deeper than this are refused: real converters nest none,
/// and planning recurses once per level.
const MAX_DEPTH: usize = 4;

#[derive(Clone, Debug)]
pub(crate) struct Scan {
    body: Graph,
    scans: usize,
    in_axes: Vec<i64>,
    in_reverse: Vec<bool>,
    out_axes: Vec<i64>,
    out_reverse: Vec<bool>,
}

pub(crate) fn build(
    a: &Attrs<'_>,
    opsets: Opsets,
    outer: &HashMap<String, Value>,
    depth: usize,
) -> R<Box<dyn Kernel>> {
    if opsets.core < 9 {
        return Err(format!(
            "Scan before opset 9 (here {}) has a sequence-length input and batch axis; it is not supported",
            opsets.core
        ));
    }
    if depth >= MAX_DEPTH {
        return Err(format!("Scan nested more than {MAX_DEPTH} deep"));
    }
    let scans = usize::try_from(a.int("num_scan_inputs").ok_or("needs `num_scan_inputs`")?)
        .ok()
        .filter(|&m| m > 0)
        .ok_or("num_scan_inputs must be positive")?;
    let graph = a
        .graph("body")
        .ok_or("needs the subgraph attribute `body`")?;
    let body = Graph::build_subgraph(graph, opsets, outer, depth + 1)
        .map_err(|e| format!("in its body: {e}"))?;
    let flags = |name: &str| -> R<Vec<bool>> {
        a.ints(name)
            .iter()
            .map(|&d| match d {
                0 => Ok(false),
                1 => Ok(true),
                other => Err(format!("{name} has {other}, not 0 or 1")),
            })
            .collect()
    };
    Ok(Box::new(Scan {
        body,
        scans,
        in_axes: a.ints("scan_input_axes"),
        in_reverse: flags("scan_input_directions")?,
        out_axes: a.ints("scan_output_axes"),
        out_reverse: flags("scan_output_directions")?,
    }))
}

impl Kernel for Scan {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let m = self.scans;
        let n = inputs
            .len()
            .checked_sub(m)
            .ok_or_else(|| format!("{} inputs for {m} scan inputs", inputs.len()))?;
        if self.body.inputs().len() != n + m {
            return Err(format!(
                "the body takes {} inputs; the node gives {n} states and {m} scan inputs",
                self.body.inputs().len()
            ));
        }
        let k = self
            .body
            .outputs()
            .len()
            .checked_sub(n)
            .ok_or("the body returns fewer outputs than there are states")?;
        let mut states: Vec<Value> = (0..n)
            .map(|i| tensor(inputs, i, "initial state").map(|t| t.clone().into()))
            .collect::<R<_>>()?;
        let mut scanned = Vec::with_capacity(m);
        let mut iterations = None;
        for j in 0..m {
            let t = tensor(inputs, n + j, "scan input")?;
            let ax = axis(self.in_axes.get(j).copied().unwrap_or(0), t.shape.len())?;
            let len = *t.shape.get(ax).ok_or("a scan input of rank 0")?;
            match iterations {
                None => iterations = Some(len),
                Some(l) if l != len => {
                    return Err(format!(
                        "scan inputs disagree on the number of iterations: {l} and {len}"
                    ));
                }
                _ => {}
            }
            scanned.push((t, ax, self.in_reverse.get(j).copied().unwrap_or(false)));
        }
        let iterations = iterations.unwrap_or(0);
        let mut per_output: Vec<Vec<Tensor>> = vec![Vec::with_capacity(iterations); k];
        for it in 0..iterations {
            let mut feed = Vec::with_capacity(n + m);
            feed.append(&mut states);
            for &(t, ax, reverse) in &scanned {
                let at = if reverse { iterations - 1 - it } else { it };
                feed.push(slice_at(t, ax, at).into());
            }
            let mut outs = self.body.run(feed)?;
            let rest = outs.split_off(n);
            states = outs;
            for (o, v) in per_output.iter_mut().zip(rest) {
                o.push(v.tensor()?.clone());
            }
        }
        let mut out: Vec<Value> = states;
        for (j, mut parts) in per_output.into_iter().enumerate() {
            if self.out_reverse.get(j).copied().unwrap_or(false) {
                parts.reverse();
            }
            out.push(stack(&parts, self.out_axes.get(j).copied().unwrap_or(0))?.into());
        }
        Ok(out)
    }
}

/// Element `at` of `t` along `ax`, with that axis removed.
fn slice_at(t: &Tensor, ax: usize, at: usize) -> Tensor {
    let outer: usize = t.shape[..ax].iter().product();
    let len = t.shape[ax];
    let inner: usize = t.shape[ax + 1..].iter().product();
    let mut data = t.data.empty_like(outer * inner);
    for o in 0..outer {
        let start = (o * len + at) * inner;
        data.extend_from(&t.data, start..start + inner);
    }
    let mut shape = t.shape.clone();
    shape.remove(ax);
    Tensor { shape, data }
}

/// The tensors of one scan output, stacked along a new axis `ax`.
fn stack(parts: &[Tensor], ax: i64) -> R<Tensor> {
    let Some(first) = parts.first() else {
        return Ok(Tensor::f32(vec![0], Vec::new()));
    };
    if parts
        .iter()
        .any(|p| p.shape != first.shape || p.elem_type() != first.elem_type())
    {
        return Err("a scan output changes shape or type between iterations".into());
    }
    let ax = axis(ax, first.shape.len() + 1)?;
    let outer: usize = first.shape[..ax].iter().product();
    let chunk: usize = first.shape[ax..].iter().product();
    let mut data = first.data.empty_like(parts.len() * first.len());
    for o in 0..outer {
        for p in parts {
            data.extend_from(&p.data, o * chunk..(o + 1) * chunk);
        }
    }
    let mut shape = first.shape.clone();
    shape.insert(ax, parts.len());
    Ok(Tensor { shape, data })
}
