//! Compiling untrusted components under a budget they cannot escape.
//!
//! Cranelift's time and memory grow faster than the code it compiles: a
//! 194 KB component with one never-called function (20,000 locals in 100
//! nested loops) compiled for almost 7 minutes at 2.4 GB. No size limit
//! checked before compiling provably bounds that, so the compile runs in a
//! child process (the `glassbox` binary itself, run as `glassbox
//! __compile`), which this process watches: past the time budget, or past
//! the memory budget (its resident memory, read every 20 ms), it is killed
//! and the component refused with an error naming the budget. The child
//! builds an engine from the same [`Limits`], so the code it returns is
//! what this engine would have compiled; wasmtime checks that before
//! loading it.
//!
//! The `glassbox` commands always compile this way; embedding programs opt
//! in with [`crate::EngineBuilder::compile_with`], pointing at a `glassbox`
//! binary. Without it, compiles run in process, unbounded.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Limits;

/// Why a compile under a budget did not produce code.
#[derive(Debug)]
pub(crate) enum Failed {
    /// It ran past the time budget.
    Timeout(Duration),
    /// It ran past the memory budget.
    Memory(u64),
    /// The child failed (the component does not compile, say), with what it
    /// printed.
    Child(String),
    /// The child could not be run.
    Spawn(std::io::Error),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Timeout(t) => write!(
                f,
                "compiling it took longer than the {} s compile budget (limits.compile_timeout_ms); \
                 it was stopped",
                t.as_secs_f64()
            ),
            Failed::Memory(m) => write!(
                f,
                "compiling it needed more than the {} MiB compile budget (limits.compile_memory_bytes); \
                 it was stopped",
                m >> 20
            ),
            Failed::Child(message) => f.write_str(message),
            Failed::Spawn(e) => write!(f, "the compiling process could not be started: {e}"),
        }
    }
}

/// Compiles `component` in a child process under `budget`, for an engine
/// built from `limits` (`interruptible` as the engine is) on `target` (this
/// host when `None`), and returns the serialized code.
pub(crate) fn compile_in_child(
    helper: &Path,
    limits: &Limits,
    interruptible: bool,
    target: Option<&str>,
    component: &[u8],
) -> Result<Vec<u8>, Failed> {
    let dir = private_dir().map_err(Failed::Spawn)?;
    let input = dir.path.join("component.wasm");
    let output = dir.path.join("component.cwasm");
    std::fs::write(&input, component).map_err(Failed::Spawn)?;
    let limits_json = serde_json::to_string(limits).expect("limits always serialise");
    let mut command = Command::new(helper);
    command.arg("__compile");
    if let Some(target) = target {
        command.arg("--target").arg(target);
    }
    let mut child = command
        .arg("--limits")
        .arg(&limits_json)
        .arg("--interruptible")
        .arg(if interruptible { "true" } else { "false" })
        .arg(&input)
        .arg(&output)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Failed::Spawn)?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(Failed::Spawn)? {
            break status;
        }
        if started.elapsed() > limits.compile_timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failed::Timeout(limits.compile_timeout));
        }
        if resident(child.id()).is_some_and(|rss| rss > limits.compile_memory_bytes) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failed::Memory(limits.compile_memory_bytes));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !status.success() {
        let mut said = String::new();
        if let Some(mut err) = child.stderr.take() {
            use std::io::Read as _;
            let _ = (&mut err).take(64 << 10).read_to_string(&mut said);
        }
        let said = said.trim().trim_start_matches("error: ").to_string();
        return Err(Failed::Child(if said.is_empty() {
            format!("the compiling process failed ({status})")
        } else {
            said
        }));
    }
    std::fs::read(&output).map_err(Failed::Spawn)
}

/// The resident memory of process `pid`, in bytes (Linux).
fn resident(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

/// A directory only this user can read, removed when dropped.
struct PrivateDir {
    path: PathBuf,
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn private_dir() -> std::io::Result<PrivateDir> {
    use std::os::unix::fs::DirBuilderExt as _;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("glassbox-compile-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::DirBuilder::new().mode(0o700).create(&path)?;
    Ok(PrivateDir { path })
}

/// The child's side (`glassbox __compile`): compiles `input` for an engine
/// built from `limits` and writes the serialized code to `output`. Its
/// error is the message the parent passes on, so it names no file of its
/// own.
pub fn compile_command(
    limits: Limits,
    interruptible: bool,
    target: Option<&str>,
    input: &Path,
    output: &Path,
) -> std::io::Result<()> {
    // Compiling untrusted code must not take the CPU from serving: the
    // child runs at a low priority (nice 10).
    // SAFETY: `setpriority` takes plain integers and changes only this
    // process's scheduling; a failure leaves it as it was.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    let builder = crate::EngineBuilder::default()
        .limits(limits)
        .interruptible(interruptible);
    let bytes = std::fs::read(input)?;
    let code = match target {
        Some(target) => builder
            .target_engine(target)
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .precompile_component(&bytes),
        None => builder
            .build()
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .wasmtime()
            .precompile_component(&bytes),
    }
    .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    std::fs::File::create(output)?.write_all(&code)
}
