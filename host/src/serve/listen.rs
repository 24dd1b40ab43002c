//! The server's front door: accepting TCP connections and speaking HTTP/1.1
//! on them, within bounds a hostile client cannot move.
//!
//! `axum::serve` accepts every connection and waits on each for as long as
//! the client likes: a thousand connections that send half a header and
//! wait took every file descriptor and locked every client out. Here:
//! - a client has `header_timeout_ms` to send a request's headers, and an
//!   idle keep-alive connection is closed after as long (hyper's header
//!   timer starts when the connection waits for a request, idle or not);
//! - at most `max_connections` are open; one more is answered `503` with a
//!   JSON body and closed at once, without reading it, so a flood costs
//!   the host a write per connection, not a task and a buffer each;
//! - the soft limit of open files is raised to the hard one first, and the
//!   connection cap kept below it, so that the process never runs out of
//!   descriptors for its own files (models, logs, the code cache);
//! - on shutdown, it stops accepting and lets open connections finish the
//!   request they are on (the caller bounds how long).
//!
//! Bodies are bounded by the router's middleware (see `routes`): by size
//! before they are read, by the bytes in flight over all connections, and
//! by time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Descriptors kept back from the connection cap for the process's own
/// files: model files, the code cache, logs, the exporters' sockets.
const RESERVED_FILES: u64 = 256;
/// Refusals being written at once; past this, a connection over the cap is
/// closed without a word.
const MAX_REFUSING: usize = 256;
/// How long writing a refusal may take.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);

/// The bounds of the front door.
#[derive(Clone, Debug)]
pub(crate) struct FrontLimits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Time to send a request's headers; idle time of a kept-alive connection.
    pub header_timeout: Duration,
}

/// Raises the soft limit of open files to the hard one and returns the
/// soft limit in force, if the system tells it.
pub(crate) fn raise_open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes into the struct it is given, which lives
    // on this stack frame for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above; `setrlimit` only reads the struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Some(limit.rlim_cur)
}

/// The connection cap in force: the configured one, kept below what the
/// process may open.
pub(crate) fn connection_cap(configured: usize, open_files: Option<u64>) -> usize {
    match open_files {
        Some(files) => {
            let room = files.saturating_sub(RESERVED_FILES).max(1);
            configured.min(usize::try_from(room).unwrap_or(usize::MAX))
        }
        None => configured,
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and waits for the open connections to finish their requests.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: FrontLimits,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let service = TowerToHyperService::new(router);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut accept_errors = 0u64;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of descriptors or memory for a moment: wait a little
                // rather than spin, and say so once in a while.
                accept_errors += 1;
                if accept_errors.is_power_of_two() {
                    tracing::warn!(
                        "accepting a connection failed ({accept_errors} times so far): {e}"
                    );
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let Ok(permit) = open.clone().try_acquire_owned() else {
            if let Ok(slot) = refusing.clone().try_acquire_owned() {
                let cap = limits.max_connections;
                tokio::spawn(async move {
                    refuse(tcp, cap).await;
                    drop(slot);
                });
            }
            continue;
        };
        let connection = graceful.watch(http.serve_connection(TokioIo::new(tcp), service.clone()));
        tokio::spawn(async move {
            // A client that goes away, or is timed out, is no error of ours.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Answers a connection over the cap with a 503 and closes it, without
/// reading what the client sent.
async fn refuse(mut tcp: TcpStream, cap: usize) {
    let body = format!(
        "{{\"error\":\"the server has its maximum of {cap} connections open \
         (limits.max_connections); retry later\"}}"
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_WRITE, async {
        let _ = tcp.write_all(response.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_open_files_limit() {
        assert_eq!(connection_cap(10_000, Some(1024)), 768);
        assert_eq!(connection_cap(100, Some(1 << 20)), 100);
        assert_eq!(connection_cap(100, None), 100);
        assert_eq!(connection_cap(100, Some(10)), 1);
    }
}
