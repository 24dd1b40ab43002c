//! The host side of `glassbox:model/linalg`: float32 matrix products
//! computed natively for a guest.
//!
//! wasm SIMD has four lanes and no fused multiply-add, so a neural network
//! inside the sandbox runs at a fraction of what this CPU does natively.
//! A model may therefore hand its matrix products to the host. The
//! interface grants nothing but arithmetic (see SECURITY.md):
//!
//! - An answer depends on the arguments only: each element of a product is
//!   a chain of float32 fused multiply-adds over the shared dimension, in
//!   order, from zero, in blocks of [`BLOCK_K`] whose sums are added in
//!   order. The same bits whatever the number of rows, which keeps a
//!   model's answers independent of how rows are batched.
//! - Every size comes from the guest and is checked before any work:
//!   dimensions against the lists' lengths (overflow-checked), matrices per
//!   instance, the answer's size against the instance's memory cap. Matrices
//!   the guest creates, and answers while they are computed, count against
//!   the instance's memory cap and the process's guest-memory budget.
//! - Work runs in chunks of at most [`CHUNK_MACS`] multiply-adds, and the
//!   call's deadline is checked between chunks: a product past the deadline
//!   fails the call like a guest loop would.
//! - Constant weights come from the component itself (the
//!   [`WEIGHTS_SECTION`] custom section, read once at load): instances
//!   share them read-only, so a one-row call copies no weights and no
//!   instance can write where another reads.

use std::sync::Arc;

/// The custom section holding a component's constant matrices:
/// `[u32 count]`, then per matrix `[u32 rows][u32 cols]` and `rows × cols`
/// float32 values, all little-endian.
pub const WEIGHTS_SECTION: &str = "glassbox:weights";

/// Constant matrices one component may carry.
pub const MAX_CONSTANTS: usize = 4096;
/// Matrix handles one instance may hold at once (constants included).
pub const MAX_HANDLES: usize = 4096;
/// The shared dimension is summed in blocks of this many products.
pub const BLOCK_K: usize = 512;
/// Multiply-adds between two checks of the deadline (a few milliseconds at
/// worst on a slow core).
pub const CHUNK_MACS: usize = 1 << 22;

pub use crate::contract::HostMatrix;

/// Reads the constant matrices of a component's [`WEIGHTS_SECTION`]
/// (none without one). Every count and length is checked against the bytes
/// that are there, so the cost is linear in the section.
pub(crate) fn read_constants(component: &[u8]) -> Result<Vec<HostMatrix>, String> {
    let Some(mut data) = crate::artifact::custom_section(component, WEIGHTS_SECTION) else {
        return Ok(Vec::new());
    };
    fn u32_at(data: &mut &[u8], what: &str) -> Result<usize, String> {
        let (head, rest) = data
            .split_first_chunk::<4>()
            .ok_or_else(|| format!("the {WEIGHTS_SECTION} section ends inside {what}"))?;
        *data = rest;
        Ok(u32::from_le_bytes(*head) as usize)
    }
    let count = u32_at(&mut data, "its count")?;
    if count > MAX_CONSTANTS {
        return Err(format!(
            "the {WEIGHTS_SECTION} section declares {count} matrices; the limit is {MAX_CONSTANTS}"
        ));
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let rows = u32_at(&mut data, "a matrix's rows")?;
        let cols = u32_at(&mut data, "a matrix's columns")?;
        let bytes = rows.checked_mul(cols).and_then(|n| n.checked_mul(4));
        let bytes = match bytes {
            Some(b) if b <= data.len() => b,
            _ => {
                return Err(format!(
                    "matrix {i} of the {WEIGHTS_SECTION} section is {rows} × {cols}, more than the section holds"
                ));
            }
        };
        let (raw, rest) = data.split_at(bytes);
        data = rest;
        let values: Arc<[f32]> = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.push(
            HostMatrix::new(rows, cols, values)
                .map_err(|e| format!("matrix {i} of the {WEIGHTS_SECTION} section: {e}"))?,
        );
    }
    if !data.is_empty() {
        return Err(format!(
            "the {WEIGHTS_SECTION} section has {} bytes after its last matrix",
            data.len()
        ));
    }
    Ok(out)
}

/// Encodes matrices as a [`WEIGHTS_SECTION`] (what `glassbox compile`
/// writes): `(rows, cols, values)` each.
#[cfg(any(feature = "compiler", test))]
pub(crate) fn encode_constants(matrices: &[(usize, usize, Vec<f32>)]) -> Vec<u8> {
    let mut out = (matrices.len() as u32).to_le_bytes().to_vec();
    for (rows, cols, values) in matrices {
        out.extend_from_slice(&(*rows as u32).to_le_bytes());
        out.extend_from_slice(&(*cols as u32).to_le_bytes());
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Why a product stopped.
#[derive(Debug, PartialEq)]
pub(crate) enum Stop {
    /// The arguments are wrong: the guest gets this message.
    Invalid(String),
    /// The call's deadline passed between two chunks.
    Deadline,
}

/// `a · b` for `a` of `m` rows, checking `deadline_passed` between chunks of
/// at most [`CHUNK_MACS`] multiply-adds. The caller has bounded the
/// answer's size.
pub(crate) fn left_multiply(
    b: &HostMatrix,
    m: usize,
    a: &[f32],
    mut deadline_passed: impl FnMut() -> bool,
) -> Result<Vec<f32>, Stop> {
    let (k, n) = (b.rows, b.cols);
    if m.checked_mul(k) != Some(a.len()) {
        return Err(Stop::Invalid(format!(
            "{} values do not make {m} rows of {k}",
            a.len()
        )));
    }
    let mut out = vec![0f32; m * n];
    let rows_per_chunk = (CHUNK_MACS / (k * n).max(1)).max(1);
    for (i, (a, out)) in a
        .chunks(rows_per_chunk * k)
        .zip(out.chunks_mut(rows_per_chunk * n))
        .enumerate()
    {
        if i > 0 && deadline_passed() {
            return Err(Stop::Deadline);
        }
        product(a, out.len() / n, k, &b.values, n, out);
    }
    Ok(out)
}

/// `out[m×n] = a[m×k] · b[k×n]`, as the module's documentation specifies.
fn product(a: &[f32], m: usize, k: usize, b: &[f32], n: usize, out: &mut [f32]) {
    if m == 0 {
        return;
    }
    if n == 1 {
        // gemm sums a one-column product as a dot product in lanes, another
        // order: this is the chain itself.
        for (o, row) in out.iter_mut().zip(a.chunks_exact(k)) {
            *o = chain(row, b, 1);
        }
        return;
    }
    // Each block of k is summed from zero into `block`, then added: gemm
    // reading `out` instead continues the chain on some paths (one row)
    // and adds a separate sum on others, which would make the bits depend
    // on the number of rows.
    let mut block = if k > BLOCK_K {
        vec![0f32; m * n]
    } else {
        Vec::new()
    };
    for k0 in (0..k).step_by(BLOCK_K) {
        let kb = BLOCK_K.min(k - k0);
        let dst: &mut [f32] = if k0 == 0 { out } else { &mut block };
        // SAFETY: `a` is m × k with row stride k, read from column k0 for kb
        // columns; `b` is k × n with row stride n, read from row k0 for kb
        // rows; `dst` is m × n with row stride n and overlaps neither.
        // Strides are in elements.
        unsafe {
            gemm::gemm(
                m,
                n,
                kb,
                dst.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr().add(k0),
                1,
                k as isize,
                b.as_ptr().add(k0 * n),
                1,
                n as isize,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        if k0 > 0 {
            for (o, s) in out.iter_mut().zip(&block) {
                *o += s;
            }
        }
    }
}

/// One element of a product, the reference: `row` times column `j` of `b`
/// (row stride `n`), as chains of fused multiply-adds in blocks.
fn chain(row: &[f32], b: &[f32], n: usize) -> f32 {
    let mut total = 0f32;
    for (p0, block) in row.chunks(BLOCK_K).enumerate() {
        let mut s = 0f32;
        for (p, &x) in block.iter().enumerate() {
            s = x.mul_add(b[(p0 * BLOCK_K + p) * n], s);
        }
        total = if p0 == 0 { s } else { total + s };
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(len: usize, seed: &mut u64) -> Vec<f32> {
        (0..len)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 6.0 - 3.0
            })
            .collect()
    }

    /// The specification, element by element.
    fn reference(a: &[f32], m: usize, k: usize, b: &[f32], n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(m * n);
        for i in 0..m {
            for j in 0..n {
                out.push(chain(&a[i * k..(i + 1) * k], &b[j..], n));
            }
        }
        out
    }

    #[test]
    fn products_are_the_specified_bits_whatever_the_rows() {
        let mut seed = 7;
        for &(k, n) in &[
            (64, 128),
            (128, 64),
            (64, 10),
            (10, 2),
            (64, 1),
            (1, 5),
            (300, 3),
            (512, 8),
            (513, 7),
            (1100, 16),
        ] {
            let b = HostMatrix::new(k, n, random(k * n, &mut seed).into()).unwrap();
            let m = 37;
            let a = random(m * k, &mut seed);
            let expected = reference(&a, m, k, &b.values, n);
            let whole = left_multiply(&b, m, &a, || false).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&whole), bits(&expected), "{m}×{k}·{k}×{n}");
            for rows in [1, 3, 4, 8, 17] {
                let mut parts = Vec::new();
                for chunk in a.chunks(rows * k) {
                    parts.extend(left_multiply(&b, chunk.len() / k, chunk, || false).unwrap());
                }
                assert_eq!(bits(&parts), bits(&expected), "{k}×{n} by {rows} rows");
            }
        }
    }

    #[test]
    fn bad_arguments_are_errors_before_any_work() {
        assert!(HostMatrix::new(0, 3, Vec::new().into()).is_err());
        assert!(HostMatrix::new(2, 3, vec![0.0; 5].into()).is_err());
        assert!(HostMatrix::new(usize::MAX, 2, vec![0.0; 2].into()).is_err());
        let b = HostMatrix::new(2, 2, vec![1.0; 4].into()).unwrap();
        assert!(matches!(
            left_multiply(&b, 3, &[1.0; 5], || false),
            Err(Stop::Invalid(_))
        ));
        assert!(matches!(
            left_multiply(&b, usize::MAX, &[1.0; 4], || false),
            Err(Stop::Invalid(_))
        ));
        // NaN is a value like any other: it propagates, nothing fails.
        let out = left_multiply(&b, 1, &[f32::NAN, 1.0], || false).unwrap();
        assert!(out.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn a_long_product_stops_at_the_deadline() {
        let b = HostMatrix::new(1024, 1024, vec![1.0; 1 << 20].into()).unwrap();
        let a = vec![1.0; 64 * 1024];
        let mut checks = 0;
        let r = left_multiply(&b, 64, &a, || {
            checks += 1;
            true
        });
        assert_eq!(r, Err(Stop::Deadline));
        assert_eq!(checks, 1);
    }

    #[test]
    fn constants_round_trip_and_truncated_sections_are_refused() {
        let section = encode_constants(&[(2, 3, vec![1.0; 6]), (1, 1, vec![2.0])]);
        let mut component = wasm_encoder::Component::new().finish();
        crate::artifact::append_custom_section(&mut component, WEIGHTS_SECTION, &section);
        let read = read_constants(&component).unwrap();
        assert_eq!((read[0].rows, read[0].cols, read[1].values[0]), (2, 3, 2.0));
        for cut in [3, 9, section.len() - 1] {
            let mut component = wasm_encoder::Component::new().finish();
            crate::artifact::append_custom_section(
                &mut component,
                WEIGHTS_SECTION,
                &section[..cut],
            );
            assert!(read_constants(&component).is_err(), "cut at {cut}");
        }
        // A count or dimensions that promise more than the bytes: refused
        // without allocating what they promise.
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(&[0; 8]);
        let mut component = wasm_encoder::Component::new().finish();
        crate::artifact::append_custom_section(&mut component, WEIGHTS_SECTION, &huge);
        assert!(read_constants(&component).is_err());
        let mut big = 1u32.to_le_bytes().to_vec();
        big.extend_from_slice(&u32::MAX.to_le_bytes());
        big.extend_from_slice(&u32::MAX.to_le_bytes());
        let mut component = wasm_encoder::Component::new().finish();
        crate::artifact::append_custom_section(&mut component, WEIGHTS_SECTION, &big);
        assert!(read_constants(&component).is_err());
    }
}
