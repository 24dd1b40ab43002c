//! One-row calls to `glassbox serve` over each protocol it speaks, side by
//! side: REST with one tensor per feature, REST with one `[1, 64]` tensor
//! (JSON, and Triton's binary data as tritonclient sends it), and OIP gRPC
//! (raw contents as tritonclient.grpc sends them, and one tensor per
//! feature). The model is a 64-feature digits classifier: by default the
//! bundled example `digits-logreg`; scripts/bench.sh gives the reference
//! pipeline compiled (`--model target/bench/models/digits_logreg.wasm`
//! `--rows tests/data/sklearn/digits_logreg.inputs.jsonl`).
//!
//! ```text
//! cargo bench -p glassbox --bench protocols -- [--quick] [--glassbox PATH]
//!     [--model FILE --rows JSONL] [--connections N] [--seconds S] [--json FILE]
//! ```
//!
//! Closed loop: `N` connections (default 4), each sending its next request
//! when the answer to the last arrives, for `S` seconds per form after a
//! second of warm-up. The load generator is one thread (a current-thread
//! runtime) and the server has the rest of the machine; on 2 cores they
//! share it, so besides requests per second and latency percentiles it
//! reports the server's CPU time per request, from `/proc/PID/stat`: the
//! figure that does not depend on how fast the client is.

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use glassbox::serve::grpc::proto::model_infer_request::InferInputTensor;
use glassbox::serve::grpc::proto::{InferTensorContents, ModelInferRequest};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

struct Args {
    glassbox: PathBuf,
    model: Option<(PathBuf, PathBuf)>,
    connections: usize,
    seconds: f64,
    json: Option<PathBuf>,
    /// Only the forms whose name contains this.
    only: Option<String>,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        glassbox: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/glassbox"),
        model: None,
        connections: 4,
        seconds: 5.0,
        json: None,
        only: None,
    };
    let (mut model, mut rows) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => args.seconds = 2.0,
            "--glassbox" => args.glassbox = value()?.into(),
            "--model" => model = Some(PathBuf::from(value()?)),
            "--rows" => rows = Some(PathBuf::from(value()?)),
            "--connections" => args.connections = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--json" => args.json = Some(value()?.into()),
            "--only" => args.only = Some(value()?),
            // cargo bench passes --bench.
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    args.model = match (model, rows) {
        (Some(m), Some(r)) => Some((m, r)),
        (None, None) => None,
        _ => bail!("--model and --rows go together"),
    };
    Ok(args)
}

/// `glassbox serve` with the bundled examples on a free loopback port.
struct Served {
    child: Child,
    addr: String,
}

impl Served {
    fn start(glassbox: &PathBuf, model: Option<&PathBuf>) -> anyhow::Result<Served> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(glassbox)
            .args(["serve", "--listen", &addr])
            .args(model)
            .env("GLASSBOX_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", glassbox.display()))?;
        eprintln!("glassbox serve: pid {}", child.id());
        Ok(Served { child, addr })
    }

    /// The server's user and system CPU time so far.
    fn cpu(&self) -> anyhow::Result<Duration> {
        common::process_cpu(self.child.id())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One form of request.
#[derive(Clone)]
enum Form {
    Rest {
        path: String,
        body: Bytes,
        binary_header: Option<usize>,
    },
    Grpc(ModelInferRequest),
}

fn forms(model: &str, row: &[(String, f64)]) -> Vec<(&'static str, Form)> {
    let per_feature: Vec<Value> = row
        .iter()
        .map(|(k, v)| json!({"name": k, "datatype": "FP64", "shape": [1], "data": [v]}))
        .collect();
    let values: Vec<f32> = row.iter().map(|(_, v)| *v as f32).collect();
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let header = json!({
        "inputs": [{"name": "input__0", "datatype": "FP32", "shape": [1, row.len()],
                    "parameters": {"binary_data_size": raw.len()}}],
        "parameters": {"binary_data_output": true},
    })
    .to_string();
    let mut binary = header.clone().into_bytes();
    binary.extend_from_slice(&raw);
    let grpc_2d = ModelInferRequest {
        model_name: model.into(),
        inputs: vec![InferInputTensor {
            name: "input__0".into(),
            datatype: "FP32".into(),
            shape: vec![1, row.len() as i64],
            ..Default::default()
        }],
        raw_input_contents: vec![raw],
        ..Default::default()
    };
    let path = format!("/v2/models/{model}/infer");
    let grpc_per_feature = ModelInferRequest {
        model_name: model.into(),
        inputs: row
            .iter()
            .map(|(k, v)| InferInputTensor {
                name: k.clone(),
                datatype: "FP64".into(),
                shape: vec![1],
                contents: Some(InferTensorContents {
                    fp64_contents: vec![*v],
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    vec![
        (
            "REST, one tensor per feature (JSON)",
            Form::Rest {
                path: path.clone(),
                body: json!({"inputs": per_feature}).to_string().into(),
                binary_header: None,
            },
        ),
        (
            "REST, one [1, 64] tensor (JSON)",
            Form::Rest {
                path: path.clone(),
                body: json!({"inputs": [{"name": "input-0", "datatype": "FP32",
                                         "shape": [1, row.len()], "data": values}]})
                .to_string()
                .into(),
                binary_header: None,
            },
        ),
        (
            "REST, one [1, 64] tensor (binary data, as tritonclient)",
            Form::Rest {
                path,
                body: binary.into(),
                binary_header: Some(header.len()),
            },
        ),
        (
            "gRPC, one [1, 64] tensor (raw, as tritonclient)",
            Form::Grpc(grpc_2d),
        ),
        (
            "gRPC, one tensor per feature (typed contents)",
            Form::Grpc(grpc_per_feature),
        ),
    ]
}

/// Sends `form` in a closed loop on one connection until `until`; the
/// latency of each answer, in microseconds.
async fn connection(addr: String, form: Form, until: Instant) -> anyhow::Result<Vec<u32>> {
    let mut latencies = Vec::new();
    match form {
        Form::Rest {
            path,
            body,
            binary_header,
        } => {
            let tcp = tokio::net::TcpStream::connect(&addr).await?;
            tcp.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::task::spawn_local(conn);
            let uri = format!("http://{addr}{path}");
            while Instant::now() < until {
                let mut request = hyper::Request::post(&uri)
                    .header("host", &addr)
                    .header("content-type", "application/json");
                if let Some(n) = binary_header {
                    request = request.header("inference-header-content-length", n);
                }
                let request = request.body(Full::new(body.clone()))?;
                let started = Instant::now();
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                let answer = response.into_body().collect().await?.to_bytes();
                if status != 200 {
                    bail!("{status}: {}", String::from_utf8_lossy(&answer));
                }
                latencies.push(started.elapsed().as_micros() as u32);
            }
        }
        Form::Grpc(request) => {
            // gRPC by hand over hyper's HTTP/2 client, as light a client as
            // the REST one (tonic's channel costs the shared CPUs more): the
            // message framed once (a flag byte and a 4-byte length), the
            // status read from the trailers.
            let message = prost::Message::encode_to_vec(&request);
            let mut framed = Vec::with_capacity(message.len() + 5);
            framed.push(0);
            framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
            framed.extend_from_slice(&message);
            let framed = Bytes::from(framed);
            let tcp = tokio::net::TcpStream::connect(&addr).await?;
            tcp.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                    .await?;
            tokio::task::spawn_local(conn);
            let uri = format!("http://{addr}{}ModelInfer", glassbox::serve::grpc::PATH);
            while Instant::now() < until {
                let request = hyper::Request::post(&uri)
                    .header("content-type", "application/grpc")
                    .header("te", "trailers")
                    .body(Full::new(framed.clone()))?;
                let started = Instant::now();
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let mut status = response
                    .headers()
                    .get("grpc-status")
                    .map(|v| v.as_bytes().to_vec());
                let collected = response.into_body().collect().await?;
                if let Some(trailers) = collected.trailers() {
                    status = status.or(trailers.get("grpc-status").map(|v| v.as_bytes().to_vec()));
                }
                if status.as_deref() != Some(b"0") {
                    bail!("gRPC status {:?}", status.map(String::from_utf8));
                }
                latencies.push(started.elapsed().as_micros() as u32);
            }
        }
    }
    Ok(latencies)
}

struct Measured {
    rps: f64,
    p50_us: u32,
    p99_us: u32,
    server_cpu_us: f64,
}

async fn measure(
    served: &Served,
    form: &Form,
    connections: usize,
    seconds: f64,
) -> anyhow::Result<Measured> {
    let run = |secs: f64| {
        let until = Instant::now() + Duration::from_secs_f64(secs);
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::task::spawn_local(connection(served.addr.clone(), form.clone(), until)))
            .collect();
        async move {
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await??);
            }
            anyhow::Ok(all)
        }
    };
    run(1.0).await?;
    let cpu = served.cpu()?;
    let started = Instant::now();
    let mut latencies = run(seconds).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = served.cpu()? - cpu;
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Ok(Measured {
        rps: latencies.len() as f64 / elapsed,
        p50_us: at(0.5),
        p99_us: at(0.99),
        server_cpu_us: cpu.as_secs_f64() * 1e6 / latencies.len() as f64,
    })
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    // The model's name, and its first row in schema order.
    let (model, row): (String, Vec<(String, f64)>) = match &args.model {
        None => {
            let example = glassbox::examples::find("digits-logreg").context("the example")?;
            let first: serde_json::Map<String, Value> =
                serde_json::from_str(example.sample_rows.lines().next().context("a sample row")?)?;
            let row = first
                .iter()
                .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(0.0)))
                .collect();
            (example.name.to_string(), row)
        }
        Some((file, rows)) => {
            let loaded = glassbox::Engine::new()?.load_file(file)?;
            let text = std::fs::read_to_string(rows)?;
            let first: serde_json::Map<String, Value> =
                serde_json::from_str(text.lines().next().context("a row")?)?;
            let row = loaded
                .info()
                .inputs
                .iter()
                .map(|f| (f.name.clone(), first[&f.name].as_f64().unwrap_or(0.0)))
                .collect();
            (loaded.name().to_string(), row)
        }
    };
    let served = Served::start(&args.glassbox, args.model.as_ref().map(|(m, _)| m))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let results = local.block_on(&runtime, async {
        // Ready once the examples are loaded.
        let started = Instant::now();
        loop {
            let ok = tokio::net::TcpStream::connect(&served.addr).await.is_ok();
            if ok {
                let probe = connection(
                    served.addr.clone(),
                    forms(&model, &row)[0].1.clone(),
                    Instant::now() + Duration::from_millis(1),
                )
                .await;
                if probe.is_ok() {
                    break;
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("glassbox serve did not answer within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut results = Vec::new();
        for (name, form) in forms(&model, &row) {
            if args
                .only
                .as_ref()
                .is_some_and(|o| !name.contains(o.as_str()))
            {
                continue;
            }
            let m = measure(&served, &form, args.connections, args.seconds).await?;
            eprintln!(
                "{name:<58} {:>8.0} req/s  p50 {:>5} µs  p99 {:>5} µs  server CPU {:>5.1} µs/req",
                m.rps, m.p50_us, m.p99_us, m.server_cpu_us
            );
            results.push((name, m));
        }
        anyhow::Ok(results)
    })?;
    let rps = |i: usize| results[i].1.rps;
    if results.len() == 5 {
        eprintln!(
            "gRPC (raw, 2-D) ÷ REST (JSON, per feature): {:.2}× req/s; REST 2-D ÷ REST per feature: {:.2}× (JSON), {:.2}× (binary)",
            rps(3) / rps(0),
            rps(1) / rps(0),
            rps(2) / rps(0)
        );
    }
    if let Some(path) = &args.json {
        let out = json!({
            "model": model,
            "connections": args.connections,
            "seconds": args.seconds,
            "forms": results.iter().map(|(name, m)| json!({
                "form": name, "rps": m.rps, "p50_us": m.p50_us, "p99_us": m.p99_us,
                "server_cpu_us": m.server_cpu_us,
            })).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&out)?)?;
    }
    Ok(())
}
