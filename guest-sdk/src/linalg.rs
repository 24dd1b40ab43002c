//! Matrix products computed by the host (`glassbox:model/linalg`).
//!
//! wasm SIMD has no fused multiply-add and four lanes, so a model whose
//! work is matrix products (a neural network) runs several times faster
//! when the host multiplies natively. The host grants nothing else through
//! this interface: no I/O, no clock, no state shared between instances.
//!
//! Every element of a product is the same bits whatever the number of rows:
//! a chain of float32 fused multiply-adds over the shared dimension, in
//! order, from zero, in blocks of 512 whose sums are added in order. Outside
//! wasm (native unit tests) this module computes exactly that, so a model's
//! tests see the answers the host gives.
//!
//! ```
//! use glassbox_guest::linalg::Matrix;
//!
//! // y = x · w for two rows of three features and two outputs.
//! let w = Matrix::new(3, 2, &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]).unwrap();
//! let y = w.left_multiply(2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
//! assert_eq!(y, vec![4.0, 5.0, 10.0, 11.0]);
//! ```

use crate::ModelError;

/// A float32 matrix the host holds for this instance.
#[derive(Debug)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    #[cfg(target_arch = "wasm32")]
    handle: crate::bindings::glassbox::model::linalg::Matrix,
    #[cfg(not(target_arch = "wasm32"))]
    values: Vec<f32>,
}

impl Matrix {
    /// Copies `values` (`rows × cols`, row after row) to the host.
    pub fn new(rows: usize, cols: usize, values: &[f32]) -> Result<Matrix, ModelError> {
        let dims = |n: usize| {
            u32::try_from(n)
                .map_err(|_| ModelError::internal(format!("dimension {n} is too large")))
        };
        let (r, c) = (dims(rows)?, dims(cols)?);
        #[cfg(target_arch = "wasm32")]
        {
            let handle = crate::bindings::glassbox::model::linalg::Matrix::create(r, c, values)
                .map_err(ModelError::Internal)?;
            Ok(Matrix { rows, cols, handle })
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = (r, c);
            if rows == 0 || cols == 0 || rows.checked_mul(cols) != Some(values.len()) {
                return Err(ModelError::internal(format!(
                    "{} values do not make a {rows} × {cols} matrix",
                    values.len()
                )));
            }
            Ok(Matrix {
                rows,
                cols,
                values: values.to_vec(),
            })
        }
    }

    /// The `index`-th constant matrix of the component (its
    /// `glassbox:weights` section, which `glassbox compile` writes): no
    /// copy is made. Natively, the matrices given to [`set_constants`].
    pub fn constant(index: u32) -> Result<Matrix, ModelError> {
        #[cfg(target_arch = "wasm32")]
        {
            let handle = crate::bindings::glassbox::model::linalg::Matrix::constant(index)
                .map_err(ModelError::Internal)?;
            let (rows, cols) = (handle.rows() as usize, handle.cols() as usize);
            Ok(Matrix { rows, cols, handle })
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            native::CONSTANTS.with(|c| {
                let c = c.borrow();
                let (rows, cols, values) = c.get(index as usize).ok_or_else(|| {
                    ModelError::internal(format!("there is no constant matrix {index}"))
                })?;
                Matrix::new(*rows, *cols, values)
            })
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `a · self`, for `a` of `m` rows of [`Matrix::rows`] values; the
    /// answer has `m` rows of [`Matrix::cols`] values.
    pub fn left_multiply(&self, m: usize, a: &[f32]) -> Result<Vec<f32>, ModelError> {
        if m.checked_mul(self.rows) != Some(a.len()) {
            return Err(ModelError::internal(format!(
                "{} values do not make {m} rows of {}",
                a.len(),
                self.rows
            )));
        }
        #[cfg(target_arch = "wasm32")]
        {
            let m = u32::try_from(m)
                .map_err(|_| ModelError::internal(format!("{m} rows are too many")))?;
            self.handle
                .left_multiply(m, a)
                .map_err(ModelError::Internal)
        }
        #[cfg(not(target_arch = "wasm32"))]
        Ok(native::product(a, m, self.rows, &self.values, self.cols))
    }
}

/// Natively, the constant matrices [`Matrix::constant`] reads (the host
/// reads them from the component): `(rows, cols, values)` each. Per thread.
#[cfg(not(target_arch = "wasm32"))]
pub fn set_constants(matrices: Vec<(usize, usize, Vec<f32>)>) {
    native::CONSTANTS.with(|c| *c.borrow_mut() = matrices);
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::cell::RefCell;

    pub(super) type Constants = Vec<(usize, usize, Vec<f32>)>;

    thread_local! {
        pub(super) static CONSTANTS: RefCell<Constants> = const { RefCell::new(Vec::new()) };
    }

    const BLOCK_K: usize = 512;

    /// The host's product, element by element.
    pub(super) fn product(a: &[f32], m: usize, k: usize, b: &[f32], n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(m * n);
        for i in 0..m {
            let row = &a[i * k..(i + 1) * k];
            for j in 0..n {
                let mut total = 0f32;
                for (p0, block) in row.chunks(BLOCK_K).enumerate() {
                    let mut s = 0f32;
                    for (p, &x) in block.iter().enumerate() {
                        s = x.mul_add(b[(p0 * BLOCK_K + p) * n + j], s);
                    }
                    total = if p0 == 0 { s } else { total + s };
                }
                out.push(total);
            }
        }
        out
    }
}
