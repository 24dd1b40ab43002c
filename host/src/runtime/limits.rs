//! Per-call resource limits.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The resources one scoring call may use. A call that goes past a limit fails
/// with an error naming the model and the limit; the instance it ran in is
/// thrown away and the next call gets a fresh one.
///
/// The defaults suit a tabular model on an edge node: generous for real
/// models (the largest reference forest needs about 10 MiB and well under a
/// millisecond per row), tight enough that a runaway guest cannot hurt its
/// neighbours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock time one call may take. Enforced by epoch interruption, so
    /// the effective resolution is [`crate::EngineBuilder::epoch_tick`]
    /// (10 ms by default). Default: 1 s.
    #[serde(with = "millis", rename = "deadline_ms")]
    pub deadline: Duration,
    /// Linear memory one instance may grow to, in bytes. Default: 256 MiB.
    pub memory_bytes: usize,
    /// Wasm stack one call may use, in bytes. Default: 512 KiB.
    pub stack_bytes: usize,
    /// Rows in one batch. Default: 100,000.
    pub max_rows: usize,
    /// Size of one batch as sent to the guest (8 bytes per number, string
    /// lengths for categories), in bytes. Default: 64 MiB.
    pub max_input_bytes: usize,
    /// Instances of all models alive at once; each needs one slot of the
    /// pooling allocator. Calls beyond this fail instead of queueing.
    /// Default: 256.
    pub max_instances: u32,
    /// Whether a call may run in an instance an earlier call used. Off by
    /// default: every call gets a fresh instance, so nothing one call leaves
    /// in the guest's memory (a client's inputs, say) can reach the answer to
    /// another. On, an instance is kept after a successful call and reused,
    /// which saves the instantiation (a few microseconds) but lets a model
    /// carry data from one client's call to the next: turn it on only for
    /// models you trust not to. Default: false.
    pub reuse_instances: bool,
    /// Linear memory all live instances of all models may hold together, in
    /// bytes. Each instance may grow to `memory_bytes`; this bounds what N
    /// parallel calls cost together. A growth past it fails that call
    /// ([`crate::Error::MemoryBudget`]), never the process. Default: half
    /// of the machine's memory (4 GiB when it cannot be read).
    pub memory_budget_bytes: usize,
    /// Time compiling one component may take, when compiles run in a child
    /// process ([`crate::EngineBuilder::compile_with`], which the `glassbox`
    /// commands use). Default: 60 s.
    #[serde(with = "millis", rename = "compile_timeout_ms")]
    pub compile_timeout: Duration,
    /// Resident memory the compiling process may reach, likewise. Default:
    /// 2 GiB, or a quarter of the machine's memory when that is less.
    pub compile_memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(1),
            memory_bytes: 256 << 20,
            stack_bytes: 512 << 10,
            max_rows: 100_000,
            max_input_bytes: 64 << 20,
            max_instances: 256,
            reuse_instances: false,
            memory_budget_bytes: half_of_physical_memory(),
            compile_timeout: Duration::from_secs(60),
            compile_memory_bytes: default_compile_memory(),
        }
    }
}

/// The machine's physical memory in bytes, if the system tells it.
pub(crate) fn physical_memory() -> Option<usize> {
    // SAFETY: `sysconf` takes a constant and returns a number (or -1).
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    match (usize::try_from(pages), usize::try_from(page)) {
        (Ok(pages), Ok(page)) if pages > 0 && page > 0 => Some(pages.saturating_mul(page)),
        _ => None,
    }
}

/// Half the machine's physical memory (4 GiB when it cannot be read).
fn half_of_physical_memory() -> usize {
    physical_memory().map_or(4 << 30, |m| m / 2)
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// What a model's `info()` may declare. A description is data from an
/// untrusted file: it is printed, logged, sent on every dashboard refresh
/// and walked for every request, so each part of it is bounded, and a model
/// that declares more is refused at load with an error naming the bound.
/// With these bounds, what one request costs depends on the request (its
/// rows and values), never on a schema grown to hurt.
///
/// The bounds are far above what real tabular models declare (the widest
/// reference pipeline has 64 fields; the largest categorical vocabularies
/// seen have a few thousand words) and far below what would hurt a host.
pub mod info {
    /// Bytes of a model's name. Names are ASCII letters, digits, `-`, `_`
    /// and `.`, starting with a letter or digit: they appear in URLs, file
    /// names, metric labels and log lines.
    pub const NAME_BYTES: usize = 128;
    /// Bytes of a version. Versions use letters, digits, `.`, `-`, `+`, `_`.
    pub const VERSION_BYTES: usize = 64;
    /// Input fields.
    pub const FIELDS: usize = 10_000;
    /// Bytes of a field name, a category, a class label or the target's
    /// name; none may hold control characters.
    pub const TEXT_BYTES: usize = 256;
    /// Categories of one categorical field (and entries of its profile).
    pub const CATEGORIES: usize = 65_536;
    /// Classes of a classifier.
    pub const CLASSES: usize = 10_000;
    /// Histogram bins, and quantiles, of one numeric profile.
    pub const PROFILE_POINTS: usize = 1_024;
    /// Everything the description holds, as the host stores it (strings,
    /// numbers and list entries), in bytes.
    pub const TOTAL_BYTES: usize = 16 << 20;
}

/// The default memory budget of a compile: 2 GiB, or a quarter of the
/// machine's memory when that is less.
fn default_compile_memory() -> u64 {
    let quarter = physical_memory().map_or(u64::MAX, |m| m as u64 / 4);
    quarter.min(2 << 30)
}
