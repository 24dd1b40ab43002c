//! Hostile clients on real sockets (the security issue's HTTP items): half
//! sent headers, idle connections, connection floods, oversized and
//! stalled uploads, requests that break the contract a million times, paths
//! that do not decode. Each is bounded in time and memory and answered in
//! JSON where an answer is possible.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use glassbox::serve::{Config, ServeLimits};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::TestServer;

fn config(limits: ServeLimits) -> Config {
    Config {
        limits,
        ..Config::default()
    }
}

fn addr(server: &TestServer) -> SocketAddr {
    server
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("a socket address")
}

/// Reads what the server sends until it closes the connection, or `wait`
/// passes (then `None`).
async fn until_closed(tcp: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(wait, tcp.read_to_end(&mut got)).await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&got).into_owned()),
        Err(_) => None,
    }
}

/// The JSON body of a raw HTTP/1.1 response.
fn json_body(response: &str) -> Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {response:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_and_idle_connections_are_closed_after_the_header_timeout() {
    let server = TestServer::start(config(ServeLimits {
        header_timeout_ms: 300,
        ..ServeLimits::default()
    }))
    .await;
    // A request line and half a header, then nothing.
    let mut slow = TcpStream::connect(addr(&server)).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nX: ").await.unwrap();
    let started = Instant::now();
    let closed = until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(
        closed.is_some(),
        "the half-sent request is still open after 5 s"
    );
    println!("half-sent headers: closed after {:?}", started.elapsed());

    // A kept-alive connection that goes quiet after one request.
    let mut idle = TcpStream::connect(addr(&server)).await.unwrap();
    idle.write_all(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answered = until_closed(&mut idle, Duration::from_secs(5))
        .await
        .expect("the idle connection is closed");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    println!("idle keep-alive: closed after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_the_cap_is_refused_at_once_in_json() {
    let server = TestServer::start(config(ServeLimits {
        max_connections: 4,
        ..ServeLimits::default()
    }))
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(addr(&server)).await.unwrap());
    }
    // Let the server accept them before the fifth arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = TcpStream::connect(addr(&server)).await.unwrap();
    let started = Instant::now();
    let answer = until_closed(&mut fifth, Duration::from_secs(2))
        .await
        .expect("refused and closed at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        json_body(&answer)["error"]
            .as_str()
            .unwrap()
            .contains("limits.max_connections")
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    // Once one closes, a new client gets in.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = server.get("/v2/health/live").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_upload_is_refused_before_its_body_is_read() {
    let server = TestServer::start(config(ServeLimits {
        max_body_bytes: 4096,
        ..ServeLimits::default()
    }))
    .await;
    let mut tcp = TcpStream::connect(addr(&server)).await.unwrap();
    tcp.write_all(
        b"POST /v2/models/digits-logreg/infer HTTP/1.1\r\nhost: x\r\n\
          content-type: application/json\r\ncontent-length: 104857600\r\n\
          expect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let mut first = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut first))
        .await
        .expect("answered without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "no 100 Continue, a 413: {answer}"
    );
    assert!(
        json_body(&answer)["error"]
            .as_str()
            .unwrap()
            .contains("limits.max_body_bytes")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_hold_a_bounded_number_of_bytes_and_time_out() {
    let server = TestServer::start(config(ServeLimits {
        max_body_bytes: 8 << 10,
        max_body_bytes_in_flight: 12 << 10,
        header_timeout_ms: 800,
        ..ServeLimits::default()
    }))
    .await;
    let head = |length: usize| {
        format!(
            "POST /v2/models/digits-logreg/infer HTTP/1.1\r\nhost: x\r\n\
             content-type: application/json\r\ncontent-length: {length}\r\n\r\n{{\"inputs\":"
        )
    };
    // The first upload takes 8 KiB of the 12 KiB budget and stalls.
    let mut first = TcpStream::connect(addr(&server)).await.unwrap();
    first.write_all(head(8 << 10).as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The second would pass the budget: refused at once.
    let mut second = TcpStream::connect(addr(&server)).await.unwrap();
    second.write_all(head(8 << 10).as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), second.read(&mut buf))
        .await
        .expect("refused at once")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    assert!(
        json_body(&answer)["error"]
            .as_str()
            .unwrap()
            .contains("limits.max_body_bytes_in_flight")
    );
    // The stalled one times out with a 408, and frees its bytes.
    let n = tokio::time::timeout(Duration::from_secs(5), first.read(&mut buf))
        .await
        .expect("the stalled upload is timed out")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let (status, _) = server
        .post(
            "/v1/models/friedman-tree:predict",
            &json!({"instances": [[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]]}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_bad_rows_get_a_short_answer_with_the_total() {
    let server = TestServer::start(config(ServeLimits::default())).await;
    // Every row misses all 64 fields and names one that does not exist.
    let rows: Vec<Value> = (0..10_000).map(|i| json!({"nope": i})).collect();
    let body = json!({ "instances": rows }).to_string();
    let response = server
        .post_raw("/v1/models/digits-logreg:predict", body.clone())
        .await;
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    println!(
        "{} bad rows in a {} byte request: a {} byte answer",
        10_000,
        body.len(),
        text.len()
    );
    assert!(text.len() < 64 << 10, "{} bytes", text.len());
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["problems"].as_array().unwrap().len(), 100);
    assert_eq!(answer["problems_total"], 10_000 * 65);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_does_not_decode_is_answered_in_json() {
    let server = TestServer::start(config(ServeLimits::default())).await;
    for path in [
        "/v2/models/%FF/infer",
        "/v2/models/%FF",
        "/v2/models/%FF/ready",
        "/v1/models/%FF:predict",
    ] {
        let post = path.ends_with("infer") || path.ends_with("predict");
        let request = if post {
            server
                .client
                .post(format!("{}{path}", server.base))
                .body("{}")
        } else {
            server.client.get(format!("{}{path}", server.base))
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(kind.starts_with("application/json"), "{path}: {kind}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("cannot be decoded"),
            "{path}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_spins_to_its_deadline_is_demoted_to_the_slow_lane() {
    let server = TestServer::start(Config {
        models: vec![glassbox_fixtures::LOOPS_FOREVER.into()],
        model_limits: glassbox::Limits {
            deadline: Duration::from_millis(200),
            ..glassbox::Limits::default()
        },
        ..Config::default()
    })
    .await;
    let deployed = server
        .service
        .registry()
        .get("loops-forever", None)
        .unwrap();
    let (status, _) = server
        .post(
            "/v1/models/loops-forever:predict",
            &json!({"instances": [{"x": 0}]}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(!deployed.demoted(), "a fast call demotes nobody");
    // One spin to the deadline...
    let (status, _) = server
        .post(
            "/v1/models/loops-forever:predict",
            &json!({"instances": [{"x": 1}]}),
        )
        .await;
    assert_eq!(status, 504);
    // ...and its calls leave the async workers and the normal pool: they
    // still answer, at low priority.
    assert!(deployed.demoted());
    for x in [1, 0] {
        let (status, _) = server
            .post(
                "/v1/models/loops-forever:predict",
                &json!({"instances": [{"x": x}]}),
            )
            .await;
        assert_eq!(status, if x == 0 { 200 } else { 504 });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_file_cannot_take_over_another_models_route() {
    use glassbox::compile::training::TrainingData;
    use glassbox::compile::{CompileOptions, compile};
    let dir = std::env::temp_dir().join(format!("glassbox-hijack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("friedman-tree.wasm"),
        glassbox::examples::FRIEDMAN_TREE.component,
    )
    .unwrap();
    let server = TestServer::start(Config {
        models: vec![dir.clone()],
        watch_interval_ms: 50,
        ..Config::default()
    })
    .await;
    // Another pipeline that claims the name, with a higher version.
    let sk = glassbox_fixtures::SKLEARN;
    let onnx = std::fs::read(format!("{sk}/diabetes_linreg.onnx")).unwrap();
    let train = TrainingData::read(format!("{sk}/diabetes_linreg.train.jsonl")).unwrap();
    let impostor = compile(
        &onnx,
        &train,
        &CompileOptions {
            version: "9.0.0".into(),
            ..CompileOptions::new("friedman-tree")
        },
    )
    .unwrap()
    .component;
    let tmp = dir.join(".innocent.tmp");
    std::fs::write(&tmp, &impostor).unwrap();
    std::fs::rename(&tmp, dir.join("innocent.wasm")).unwrap();
    // Let the watcher see it (it scans every 50 ms).
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, meta) = server.get("/v2/models/friedman-tree").await;
    assert_eq!(status, 200);
    assert_eq!(meta["versions"], json!(["1.0.0"]), "{meta}");
    // Named for the model, the same file is a new version of it.
    std::fs::rename(dir.join("innocent.wasm"), dir.join("friedman-tree@9.wasm")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, meta) = server.get("/v2/models/friedman-tree").await;
        if meta["versions"] == json!(["1.0.0", "9.0.0"]) {
            break;
        }
        assert!(Instant::now() < deadline, "{meta}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_bomb_in_the_folder_keeps_no_other_model_offline() {
    use glassbox::serve::Server;
    let dir = std::env::temp_dir().join(format!("glassbox-bomb-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bomb.wasm"),
        crate::hostile::compile_bomb(20_000, 100),
    )
    .unwrap();
    std::fs::write(
        dir.join("friedman-tree.wasm"),
        glassbox::examples::FRIEDMAN_TREE.component,
    )
    .unwrap();
    let started = Instant::now();
    let server = Server::bind(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        models: vec![dir.clone()],
        compile_helper: Some(env!("CARGO_BIN_EXE_glassbox").into()),
        model_limits: glassbox::Limits {
            compile_timeout: Duration::from_secs(8),
            ..glassbox::Limits::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let bound = started.elapsed();
    let base = format!("http://{}", server.local_addr());
    let registry = server.service().registry().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        async move {
            let r = client.get(path).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // The other model serves while the bomb compiles...
    loop {
        let (status, _) = get(format!("{base}/v2/models/friedman-tree/ready")).await;
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "friedman-tree never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let serving = started.elapsed();
    assert!(registry.is_loading("bomb"), "the bomb is still compiling");
    let (status, body) = get(format!("{base}/v2/models/bomb/ready")).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("model `bomb` is still loading"),
        "{body}"
    );
    let (status, _) = get(format!("{base}/v2/health/ready")).await;
    assert_eq!(
        status, 503,
        "not ready until every file has loaded or been refused"
    );
    // ...and is refused at its budget; then the server is ready.
    while registry.is_loading_any() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the bomb was never stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = get(format!("{base}/v2/models/bomb/ready")).await;
    assert_eq!(status, 404);
    let (status, _) = get(format!("{base}/v2/health/ready")).await;
    assert_eq!(status, 200);
    println!(
        "bound in {bound:?}, friedman-tree served after {serving:?}, the bomb refused after {:?}",
        started.elapsed()
    );
    let _ = stop.send(());
    let _ = task.await;
    let _ = std::fs::remove_dir_all(&dir);
}
