//! The server's front door: accepting TCP connections and speaking HTTP/1.1
//! or HTTP/2 (REST and gRPC) on them, within bounds a hostile client cannot
//! move.
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

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
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

/// The first bytes of every HTTP/2 connection (RFC 9113, 3.4): how a
/// cleartext HTTP/2 client (gRPC, or REST with prior knowledge) is told
/// from an HTTP/1 one on the same port.
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Streams one HTTP/2 connection may have open at once.
const HTTP2_MAX_STREAMS: u32 = 256;
/// Bytes of headers one HTTP/2 request may send.
const HTTP2_MAX_HEADER_BYTES: u32 = 64 << 10;

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and waits for the open connections to finish their requests.
///
/// Each connection is HTTP/1.1, or HTTP/2 when it opens with the HTTP/2
/// preface: the client has `header_timeout` to send its first bytes. An
/// HTTP/2 connection is bounded like an HTTP/1 one: at most
/// [`HTTP2_MAX_STREAMS`] streams at once, 64 KiB of headers per request,
/// and closed (GOAWAY, letting its streams finish) once it has had no
/// request in flight for `header_timeout`; hyper's own limits stand
/// against rapid resets and floods of control frames.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: FrontLimits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(HTTP2_MAX_STREAMS)
        .max_header_list_size(HTTP2_MAX_HEADER_BYTES)
        // A peer that stops answering pings is gone.
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout);
    let protocols = Arc::new((http1, http2));
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
        let (router, protocols, stopping) = (router.clone(), protocols.clone(), stopping.clone());
        let idle = limits.header_timeout;
        tokio::spawn(async move {
            // A client that goes away, or is timed out, is no error of ours.
            let _ = connection(tcp, router, &protocols, stopping, idle).await;
            drop(permit);
        });
    }
    drop(listener);
    // Every connection finishes the requests it has and closes; each holds
    // a permit until then.
    let _ = stop.send(true);
    let _ = open.acquire_many(limits.max_connections as u32).await;
}

type Protocols = (
    hyper::server::conn::http1::Builder,
    hyper::server::conn::http2::Builder<TokioExecutor>,
);

/// Serves one connection until it closes, or until `stopping` turns true
/// and its requests in flight are answered.
async fn connection(
    tcp: TcpStream,
    router: axum::Router,
    (http1, http2): &Protocols,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    idle: Duration,
) -> Option<()> {
    let http2_client = detect_http2(&tcp, idle).await?;
    let activity = Arc::new(Activity::default());
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let working = Working::new(&activity);
            let response = tower::ServiceExt::oneshot(router.clone(), request);
            async move {
                let response = response.await;
                drop(working);
                response
            }
        })
    };
    let io = TokioIo::new(tcp);
    if http2_client {
        let connection = http2.serve_connection(io, service);
        drive(connection, &mut stopping, Some((&activity, idle)), |c| {
            c.graceful_shutdown()
        })
        .await;
    } else {
        let connection = http1.serve_connection(io, service);
        // HTTP/1's idle connections are hyper's header timer's.
        drive(connection, &mut stopping, None, |c| c.graceful_shutdown()).await;
    }
    Some(())
}

/// Polls `connection` to its end; shuts it down gracefully when the server
/// stops, or when it has been idle (no request in flight) for `idle`.
async fn drive<C: Future>(
    connection: C,
    stopping: &mut tokio::sync::watch::Receiver<bool>,
    idle: Option<(&Activity, Duration)>,
    graceful_shutdown: impl Fn(std::pin::Pin<&mut C>),
) {
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        let check = match idle {
            Some((_, every)) if !closing => every,
            // Nothing to check: wait for the end or the stop.
            _ => Duration::from_secs(3600),
        };
        tokio::select! {
            _ = connection.as_mut() => return,
            changed = stopping.wait_for(|stop| *stop), if !closing => {
                let _ = changed;
                graceful_shutdown(connection.as_mut());
                closing = true;
            }
            () = tokio::time::sleep(check) => {
                if let Some((activity, every)) = idle
                    && !closing
                    && activity.idle_for() >= every
                {
                    graceful_shutdown(connection.as_mut());
                    closing = true;
                }
            }
        }
    }
}

/// Whether the connection opens with the HTTP/2 preface, read without
/// consuming it; `None` when the client closes or sends nothing within
/// `timeout`.
async fn detect_http2(tcp: &TcpStream, timeout: Duration) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; HTTP2_PREFACE.len()];
    loop {
        let n = tokio::time::timeout_at(deadline, tcp.peek(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        if buf[..n] != HTTP2_PREFACE[..n] {
            return Some(false);
        }
        if n == HTTP2_PREFACE.len() {
            return Some(true);
        }
        // Part of the preface: `peek` would return it again at once, so
        // wait a little for the rest (clients send it in one segment).
        tokio::time::sleep_until(
            (tokio::time::Instant::now() + Duration::from_millis(2)).min(deadline),
        )
        .await;
    }
}

/// A connection's requests in flight, and when it last had none.
#[derive(Debug)]
struct Activity {
    in_flight: std::sync::atomic::AtomicUsize,
    since: std::sync::Mutex<std::time::Instant>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            in_flight: Default::default(),
            since: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }
}

impl Activity {
    /// How long the connection has had no request in flight (zero while
    /// it has one).
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(std::sync::atomic::Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        self.since.lock().map_or(Duration::ZERO, |t| t.elapsed())
    }
}

/// A request in flight on a connection, for as long as it lives.
struct Working(Arc<Activity>);

impl Working {
    fn new(activity: &Arc<Activity>) -> Self {
        activity
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Working(activity.clone())
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        if let Ok(mut since) = self.0.since.lock() {
            *since = std::time::Instant::now();
        }
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
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
