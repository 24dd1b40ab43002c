//! The slow lane: low-priority threads for the calls of models that were
//! caught being slow.
//!
//! A guest call is bounded by its deadline, but within it a model may spin.
//! Run on an async worker, a spinning call stalls every request that worker
//! holds; run on the blocking pool, spinning calls on every CPU take the CPU
//! time well-behaved models need. So a model whose call overran (a timeout,
//! or far more time than its rows explain; see `Deployed`) is demoted for a
//! while: its calls run here, on threads of the lowest scheduling priority
//! (nice 19), which get the CPU only when the normal threads leave it. It
//! costs that model's own callers their latency, not anyone else's.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of low-priority threads taking jobs from one bounded queue.
pub(crate) struct SlowLane {
    jobs: SyncSender<Job>,
}

impl std::fmt::Debug for SlowLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlowLane")
    }
}

impl SlowLane {
    /// Starts `threads` threads with a queue of `queue` jobs.
    pub(crate) fn start(threads: usize, queue: usize) -> std::io::Result<SlowLane> {
        let (jobs, taken) = std::sync::mpsc::sync_channel::<Job>(queue);
        let taken = Arc::new(Mutex::new(taken));
        for i in 0..threads.max(1) {
            let taken = taken.clone();
            std::thread::Builder::new()
                .name(format!("glassbox-slow-{i}"))
                .spawn(move || work(&taken))?;
        }
        Ok(SlowLane { jobs })
    }

    /// Runs `f` on the lane and returns its result, or fails at once when
    /// the queue is full.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Full> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => return Err(Full),
        }
        // A job always answers unless its thread panicked.
        answer.await.map_err(|_| Full)
    }
}

/// The lane's queue is full (or its threads are gone).
#[derive(Debug)]
pub(crate) struct Full;

fn work(taken: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = {
            let Ok(taken) = taken.lock() else { return };
            match taken.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // A panicking job must not take the thread with it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Gives the calling thread the lowest priority of normal scheduling. On
/// Linux a thread has its own nice value, and `setpriority` with id 0 sets
/// the calling thread's.
///
/// Not `SCHED_IDLE`, which was tried: a thread that gets no CPU at all
/// while it holds one of wasmtime's locks (the pooling allocator's, say)
/// stalls every model behind it; measured, a neighbour's p99 went from 3.5
/// to 176 ms. At nice 19 it still progresses, slowly.
fn lower_priority() {
    // SAFETY: `setpriority` takes plain integers and changes only this
    // thread's scheduling; a failure (not permitted) leaves it as it was.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_low_priority_threads() {
        let lane = SlowLane::start(1, 4).unwrap();
        // SAFETY: `getpriority` reads this thread's nice value.
        let nice = lane
            .run(|| unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) })
            .await
            .unwrap();
        assert_eq!(nice, 19);
        let name = lane
            .run(|| std::thread::current().name().map(str::to_string))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("glassbox-slow-0"));
    }
}
