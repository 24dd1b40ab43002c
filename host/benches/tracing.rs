//! What tracing every call costs `glassbox serve`, as the server's CPU time
//! per request at a fixed request rate: untraced, and traced at 100 %
//! through the lean span path to a real collector over OTLP/gRPC and
//! HTTP/protobuf, with one span per request (the default) or a server span
//! and a scoring span. `scripts/bench_telemetry.sh` starts the collector and
//! runs this.
//!
//! ```text
//! cargo bench -p glassbox --bench tracing -- --otlp-grpc http://127.0.0.1:4317 \
//!     --otlp-http http://127.0.0.1:4318 [--rate 2000] [--seconds 10] [--rounds 3]
//!     [--server-cpu 0] [--glassbox PATH] [--sides off,grpc,http,grpc-separate]
//! ```
//!
//! A fixed rate (not a closed loop) makes every side do the same work, so
//! the difference in CPU per request is what tracing costs, whatever the
//! machine's speed. The sides alternate within each round, so drift hits
//! them alike. The server's CPU time comes from `/proc/PID/stat` (all its
//! threads, the exporter's included); the exporter thread's own, from its
//! `/proc/PID/task/TID/schedstat` in nanoseconds. `--server-cpu` pins the
//! server to one CPU (run this program and the collector on another).

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

struct Args {
    glassbox: PathBuf,
    otlp_grpc: Option<String>,
    otlp_http: Option<String>,
    rate: f64,
    seconds: f64,
    rounds: usize,
    connections: usize,
    server_cpu: Option<usize>,
    sides: Vec<String>,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        glassbox: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/glassbox"),
        otlp_grpc: None,
        otlp_http: None,
        rate: 2000.0,
        seconds: 10.0,
        rounds: 3,
        connections: 4,
        server_cpu: None,
        sides: ["off", "grpc", "http", "grpc-separate"]
            .map(String::from)
            .to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--glassbox" => args.glassbox = value()?.into(),
            "--otlp-grpc" => args.otlp_grpc = Some(value()?),
            "--otlp-http" => args.otlp_http = Some(value()?),
            "--rate" => args.rate = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--rounds" => args.rounds = value()?.parse()?,
            "--connections" => args.connections = value()?.parse()?,
            "--server-cpu" => args.server_cpu = Some(value()?.parse()?),
            "--sides" => args.sides = value()?.split(',').map(String::from).collect(),
            "--quick" => {
                args.seconds = 3.0;
                args.rounds = 1;
            }
            // cargo bench passes --bench.
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    if args.rate <= 0.0 || args.connections == 0 {
        bail!("--rate and --connections must be positive");
    }
    Ok(args)
}

/// A `glassbox serve` with the bundled examples, traced as `side` says.
struct Served {
    child: Child,
    addr: String,
}

impl Served {
    fn start(args: &Args, side: &str) -> anyhow::Result<Served> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut command = match args.server_cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &cpu.to_string()]).arg(&args.glassbox);
                c
            }
            None => Command::new(&args.glassbox),
        };
        command
            .args(["serve", "--listen", &addr, "--no-cache"])
            .env("GLASSBOX_LOG", "warn")
            .env("OTEL_METRICS_EXPORTER", "none")
            .stdout(Stdio::null());
        for (k, _) in std::env::vars() {
            if k.starts_with("OTEL_") || k == "GLASSBOX_SERVER_SPANS" {
                command.env_remove(k);
            }
        }
        let (protocol, spans) = match side {
            "off" => (None, None),
            "grpc" => (Some("grpc"), "merged".into()),
            "http" => (Some("http/protobuf"), "merged".into()),
            "grpc-separate" => (Some("grpc"), "separate".into()),
            "http-separate" => (Some("http/protobuf"), "separate".into()),
            other => bail!("unknown side {other}"),
        };
        if let (Some(protocol), Some(spans)) = (protocol, spans) {
            let endpoint = match protocol {
                "grpc" => args.otlp_grpc.as_ref().context("--otlp-grpc")?,
                _ => args.otlp_http.as_ref().context("--otlp-http")?,
            };
            command
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
                .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
                .env("GLASSBOX_SERVER_SPANS", spans);
        }
        let child = command
            .spawn()
            .with_context(|| format!("start {}", args.glassbox.display()))?;
        Ok(Served { child, addr })
    }

    /// The server's user and system CPU time so far, all threads.
    fn cpu(&self) -> anyhow::Result<Duration> {
        common::process_cpu(self.child.id())
    }

    /// The exporter thread's CPU time so far (zero when there is none).
    fn exporter_cpu(&self) -> anyhow::Result<Duration> {
        let mut total = 0u64;
        for task in std::fs::read_dir(format!("/proc/{}/task", self.child.id()))? {
            let task = task?.path();
            let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
            if name.trim() == "glassbox-spans" {
                let schedstat = std::fs::read_to_string(task.join("schedstat"))?;
                total += schedstat
                    .split_whitespace()
                    .next()
                    .context("schedstat")?
                    .parse::<u64>()?;
            }
        }
        Ok(Duration::from_nanos(total))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `body` on one connection every `every` until `until`; the number
/// of answers.
async fn connection(
    addr: String,
    body: Bytes,
    every: Duration,
    until: Instant,
) -> anyhow::Result<u64> {
    let tcp = tokio::net::TcpStream::connect(&addr).await?;
    tcp.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::task::spawn_local(conn);
    let uri = format!("http://{addr}/v2/models/digits-logreg/infer");
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut answered = 0;
    while Instant::now() < until {
        tick.tick().await;
        let request = hyper::Request::post(&uri)
            .header("host", &addr)
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let answer = response.into_body().collect().await?.to_bytes();
        if status != 200 {
            bail!("{status}: {}", String::from_utf8_lossy(&answer));
        }
        answered += 1;
    }
    Ok(answered)
}

/// Spans the server dropped, from its `/metrics`.
async fn dropped(addr: &str) -> anyhow::Result<f64> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("glassbox_telemetry_spans_dropped_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

struct Measured {
    cpu_us: f64,
    exporter_us: f64,
    rate: f64,
    dropped: f64,
}

async fn measure(args: &Args, side: &str, body: &Bytes) -> anyhow::Result<Measured> {
    let served = Served::start(args, side)?;
    let started = Instant::now();
    loop {
        let ready = reqwest::get(format!("http://{}/v2/health/ready", served.addr)).await;
        if ready.is_ok_and(|r| r.status() == 200) {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("glassbox serve did not answer within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let every = Duration::from_secs_f64(args.connections as f64 / args.rate);
    let run = |secs: f64| {
        let until = Instant::now() + Duration::from_secs_f64(secs);
        let tasks: Vec<_> = (0..args.connections)
            .map(|_| {
                tokio::task::spawn_local(connection(
                    served.addr.clone(),
                    body.clone(),
                    every,
                    until,
                ))
            })
            .collect();
        async move {
            let mut n = 0;
            for t in tasks {
                n += t.await??;
            }
            anyhow::Ok(n)
        }
    };
    // Warm-up: every thread has scored, the exporter has sent.
    run(2.0).await?;
    let (cpu, exporter) = (served.cpu()?, served.exporter_cpu()?);
    let t0 = Instant::now();
    let n = run(args.seconds).await?;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = served.cpu()? - cpu;
    let exporter = served.exporter_cpu()? - exporter;
    Ok(Measured {
        cpu_us: cpu.as_secs_f64() * 1e6 / n as f64,
        exporter_us: exporter.as_secs_f64() * 1e6 / n as f64,
        rate: n as f64 / elapsed,
        dropped: dropped(&served.addr).await?,
    })
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    let example = glassbox::examples::find("digits-logreg").context("the example")?;
    let row: serde_json::Map<String, Value> =
        serde_json::from_str(example.sample_rows.lines().next().context("a sample row")?)?;
    let inputs: Vec<Value> = row
        .iter()
        .map(|(k, v)| json!({"name": k, "datatype": "FP64", "shape": [1], "data": [v]}))
        .collect();
    let body = Bytes::from(serde_json::to_vec(&json!({ "inputs": inputs }))?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    eprintln!(
        "digits-logreg, one row per request (OIP v2 JSON), {} req/s over {} connections, {} rounds of {} s per side",
        args.rate, args.connections, args.rounds, args.seconds
    );
    let mut results: Vec<(String, Vec<Measured>)> =
        args.sides.iter().map(|s| (s.clone(), Vec::new())).collect();
    local.block_on(&runtime, async {
        for round in 0..args.rounds {
            for (side, got) in &mut results {
                let m = measure(&args, side, &body).await?;
                eprintln!(
                    "round {} {side:<14} {:>7.0} req/s  server CPU {:>6.2} µs/req  (exporter thread {:>5.2} µs)  spans dropped {}",
                    round + 1,
                    m.rate,
                    m.cpu_us,
                    m.exporter_us,
                    m.dropped
                );
                got.push(m);
            }
        }
        anyhow::Ok(())
    })?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let off: Option<Vec<f64>> = results
        .iter()
        .find(|(s, _)| s == "off")
        .map(|(_, m)| m.iter().map(|m| m.cpu_us).collect());
    for (side, got) in &results {
        let cpu: Vec<f64> = got.iter().map(|m| m.cpu_us).collect();
        let exporter: Vec<f64> = got.iter().map(|m| m.exporter_us).collect();
        let mut line = format!(
            "{side:<14} server CPU {:.2} µs/req, exporter thread {:.2} µs/req",
            mean(&cpu),
            mean(&exporter)
        );
        if let Some(off) = off.as_ref().filter(|_| side != "off") {
            // Round by round: each traced side against the untraced side
            // of its own round.
            let deltas: Vec<f64> = cpu.iter().zip(off).map(|(c, o)| c - o).collect();
            let lo = deltas.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = deltas.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            line.push_str(&format!(
                "; traced − untraced {:+.2} µs/req (rounds {lo:+.2} … {hi:+.2})",
                mean(&deltas)
            ));
        }
        println!("{line}");
    }
    println!(
        "machine: {} CPUs, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| c
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string()))
            .unwrap_or_default()
    );
    Ok(())
}
