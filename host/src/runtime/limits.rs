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
        }
    }
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
