//! Loading a component and calling it: the [`Engine`] (wasmtime, configured
//! once), the [`Model`] (a checked component and its pool of instances),
//! the [`Limits`] every call runs under, the conversion of rows to
//! [`crate::Batch`]es and back ([`batch`]), the owner's hard
//! expectations checked on every batch (`rules`), and the linear algebra a
//! model may ask of the host ([`linalg`]).
//!
//! Nothing here compiles pipelines: what a component carries is read
//! through [`crate::artifact`].

pub mod batch;
#[cfg(feature = "compiler")]
pub mod compiler;
mod describe;
mod engine;
mod limits;
pub mod linalg;
pub mod model;
pub(crate) mod rules;

pub use describe::describe;
pub use engine::{CodeSource, DEFAULT_EPOCH_TICK, Engine, EngineBuilder};
pub use limits::{Limits, info as info_limits};
pub use model::{LogSink, Model};
