//! `glassbox serve` on real sockets: every route, every error status, the
//! limits and back-pressure, hot swap in a watched directory, graceful
//! shutdown, and the binary started as users start it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use glassbox::compile::training::TrainingData;
use glassbox::compile::{CompileOptions, compile};
use glassbox::serve::{Config, ServeLimits, Service};
use glassbox::{Limits, examples};
use glassbox_fixtures as fx;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::util::TestServer;

impl TestServer {
    /// Starts a v1 call of the `loops-forever` fixture in the background:
    /// it holds its model's slot until the deadline.
    fn spawn_looping_call(&self) -> JoinHandle<reqwest::Result<reqwest::Response>> {
        let request = self
            .client
            .post(format!("{}/v1/models/loops-forever:predict", self.base))
            .body(json!({"instances": [{"x": 1}]}).to_string());
        tokio::spawn(request.send())
    }
}

/// Small limits so that hostile fixtures fail fast and engines stay small.
fn config(models: &[&str]) -> Config {
    Config {
        models: models.iter().map(PathBuf::from).collect(),
        model_limits: Limits {
            deadline: Duration::from_millis(500),
            memory_bytes: 32 << 20,
            max_instances: 32,
            ..Limits::default()
        },
        ..Config::default()
    }
}

/// The first sample row of a bundled example.
fn sample_row(example: &str) -> serde_json::Map<String, Value> {
    let e = examples::find(example).unwrap();
    let line = e.sample_rows.lines().next().unwrap();
    serde_json::from_str(line).unwrap()
}

/// One OIP tensor per feature of `rows`, in the row's key order.
fn tensors(rows: &[serde_json::Map<String, Value>], datatype: &str) -> Vec<Value> {
    rows[0]
        .keys()
        .map(|k| {
            json!({"name": k, "datatype": datatype, "shape": [rows.len()],
                   "data": rows.iter().map(|r| r[k].clone()).collect::<Vec<_>>()})
        })
        .collect()
}

/// What the library answers for the same rows, as `glassbox score` prints it.
fn expected(example: &str, rows: &[serde_json::Map<String, Value>]) -> Vec<Value> {
    let model = glassbox::Engine::new()
        .unwrap()
        .load(examples::find(example).unwrap().component)
        .unwrap();
    model
        .score_rows(rows)
        .unwrap()
        .iter()
        .map(|p| serde_json::to_value(p).unwrap())
        .collect()
}

/// JSON equality, numbers within 1e-12 relative: the client's JSON parser
/// (serde_json without `float_roundtrip`) may be one ulp off the server's
/// shortest representation.
#[track_caller]
fn assert_same(got: &Value, want: &Value) {
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1e-300)
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, a)| y.get(k).is_some_and(|b| same(a, b)))
            }
            _ => a == b,
        }
    }
    assert!(same(got, want), "got {got}\nwant {want}");
}

/// Polls `check` every 20 ms until it holds, for at most `within`.
async fn eventually<F: std::future::Future<Output = bool>>(
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_health_and_model_metadata() {
    let s = TestServer::start(config(&[])).await;
    let (status, v2) = s.get("/v2").await;
    assert_eq!(status, 200);
    assert_eq!(v2["name"], "glassbox");
    assert_eq!(
        s.get("/v2/health/live").await,
        (StatusCode::OK, json!({"live": true}))
    );
    assert_eq!(
        s.get("/v2/health/ready").await,
        (StatusCode::OK, json!({"ready": true}))
    );

    let (status, meta) = s.get("/v2/models/digits-logreg").await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["name"], "digits-logreg");
    assert_eq!(meta["platform"], "glassbox");
    assert_eq!(meta["versions"].as_array().unwrap().len(), 1);
    let inputs = meta["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 64);
    assert_eq!(
        inputs[0],
        json!({"name": "pixel_0_0", "datatype": "FP64", "shape": [-1]})
    );
    assert_eq!(
        meta["outputs"],
        json!([{"name": "label", "datatype": "BYTES", "shape": [-1]},
               {"name": "probabilities", "datatype": "FP64", "shape": [-1, 10]}])
    );
    let version = meta["versions"][0].as_str().unwrap().to_string();
    let (status, meta) = s
        .get(&format!("/v2/models/digits-logreg/versions/{version}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(meta["versions"], json!([version]));
    let (_, tree) = s.get("/v2/models/friedman-tree").await;
    assert_eq!(
        tree["outputs"],
        json!([{"name": "value", "datatype": "FP64", "shape": [-1]}])
    );

    let (status, ready) = s.get("/v2/models/friedman-tree/ready").await;
    assert_eq!(
        (status, ready["ready"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (status, _) = s
        .get(&format!(
            "/v2/models/digits-logreg/versions/{version}/ready"
        ))
        .await;
    assert_eq!(status, 200);
    let (status, v1) = s.get("/v1/models/friedman-tree").await;
    assert_eq!((status, v1["ready"].clone()), (StatusCode::OK, json!(true)));

    // The page is the dashboard; its data lists both models.
    let page = s
        .client
        .get(format!("{}/", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<title>glassbox serve</title>"), "{page}");
    let (status, data) = s.get("/dashboard.json").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = data["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["digits-logreg", "friedman-tree"]);
    // The examples carry no training profile: not monitored.
    assert_eq!(data["models"][0]["health"], serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_infer_classifier_and_regressor() {
    let s = TestServer::start(config(&[])).await;
    let digits = vec![sample_row("digits-logreg")];
    let want = expected("digits-logreg", &digits);
    let (status, out) = s
        .post(
            "/v2/models/digits-logreg/infer",
            &json!({"id": "req-42", "inputs": tensors(&digits, "FP64")}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["id"], "req-42");
    assert_eq!(out["model_name"], "digits-logreg");
    assert_eq!(out["outputs"][0]["name"], "label");
    assert_eq!(out["outputs"][0]["shape"], json!([1]));
    assert_eq!(out["outputs"][0]["data"], json!([want[0]["label"]]));
    assert_eq!(out["outputs"][1]["name"], "probabilities");
    assert_eq!(out["outputs"][1]["shape"], json!([1, 10]));
    assert_same(&out["outputs"][1]["data"], &want[0]["probabilities"]);

    // A regressor, two rows, FP32 tensors of shape [N, 1] with nested data,
    // asking for the one output by name.
    let rows: Vec<_> = examples::FRIEDMAN_TREE
        .sample_rows
        .lines()
        .take(2)
        .map(|l| serde_json::from_str::<serde_json::Map<String, Value>>(l).unwrap())
        .collect();
    let want = expected("friedman-tree", &rows);
    let inputs: Vec<Value> = rows[0]
        .keys()
        .map(|k| {
            json!({"name": k, "datatype": "FP32", "shape": [2, 1],
                   "data": [[rows[0][k]], [rows[1][k]]]})
        })
        .collect();
    let (status, out) = s
        .post(
            "/v2/models/friedman-tree/infer",
            &json!({"inputs": inputs, "outputs": [{"name": "value"}]}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert!(out.get("id").is_none(), "no id asked, none echoed: {out}");
    assert_eq!(out["outputs"][0]["name"], "value");
    assert_eq!(out["outputs"][0]["shape"], json!([2]));
    assert_same(
        &out["outputs"][0]["data"],
        &json!([want[0]["value"], want[1]["value"]]),
    );
    // By version, too.
    let version = &out["model_version"].as_str().unwrap();
    let (status, _) = s
        .post(
            &format!("/v2/models/friedman-tree/versions/{version}/infer"),
            &json!({"inputs": inputs}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_predict_answers_as_glassbox_score_prints() {
    let s = TestServer::start(config(&[])).await;
    let rows: Vec<_> = examples::DIGITS_LOGREG
        .sample_rows
        .lines()
        .take(3)
        .map(|l| serde_json::from_str::<serde_json::Map<String, Value>>(l).unwrap())
        .collect();
    let (status, out) = s
        .post(
            "/v1/models/digits-logreg:predict",
            &json!({"instances": rows}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_same(
        &out,
        &json!({"predictions": expected("digits-logreg", &rows)}),
    );
    // Arrays of values in schema order work too.
    let tree = sample_row("friedman-tree");
    let values: Vec<Value> = tree.values().cloned().collect();
    let (status, out) = s
        .post(
            "/v1/models/friedman-tree:predict",
            &json!({"instances": [values]}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_same(
        &out["predictions"],
        &json!(expected("friedman-tree", &[tree])),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categorical_and_missing_values() {
    // echo answers x + (y, or 100 when missing) + code(color): red 0, green
    // 1, unknown 10, missing 20.
    let s = TestServer::start(config(&[fx::ECHO])).await;
    let (_, meta) = s.get("/v2/models/echo").await;
    assert_eq!(
        meta["inputs"][2],
        json!({"name": "color", "datatype": "BYTES", "shape": [-1]})
    );
    let (status, out) = s
        .post(
            "/v2/models/echo/infer",
            &json!({"inputs": [
                {"name": "x", "datatype": "INT64", "shape": [3], "data": [1, 2, 3]},
                {"name": "y", "datatype": "FP64", "shape": [3], "data": [2.5, null, 0]},
                {"name": "color", "datatype": "BYTES", "shape": [3], "data": ["green", null, "blue"]},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["outputs"][0]["data"], json!([4.5, 122.0, 13.0]));
    let (status, out) = s
        .post(
            "/v1/models/echo:predict",
            &json!({"instances": [{"x": 1, "y": null, "color": "red"}]}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out, json!({"predictions": [{"value": 101.0}]}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_violations_are_400_with_every_problem_listed() {
    let s = TestServer::start(config(&[fx::ECHO])).await;
    let (status, out) = s
        .post(
            "/v2/models/echo/infer",
            &json!({"inputs": [
                // x: a string in a numeric tensor, and null where not nullable.
                {"name": "x", "datatype": "FP64", "shape": [2], "data": ["high", null]},
                // y: wrong shape.
                {"name": "y", "datatype": "FP64", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]},
                // color is missing; z does not exist.
                {"name": "z", "datatype": "FP64", "shape": [2], "data": [1, 2]},
            ]}),
        )
        .await;
    assert_eq!(status, 400, "{out}");
    let problems = out["problems"].as_array().unwrap();
    let fields: Vec<(&Value, &str)> = problems
        .iter()
        .map(|p| (&p["row"], p["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            (&Value::Null, "z"),
            (&Value::Null, "y"),
            (&Value::Null, "color"),
            (&json!(0), "x"),
            (&json!(1), "x"),
        ],
        "{out}"
    );
    let message = out["error"].as_str().unwrap();
    assert!(message.contains("model `echo` (5 problems)"), "{message}");
    assert!(
        message.contains("row 0, field `x`: expected a number, got the string \"high\""),
        "{message}"
    );
    assert!(
        message.contains("input `y`: expected shape [2] or [2, 1]"),
        "{message}"
    );

    // Wrong datatype for a categorical feature.
    let (status, out) = s
        .post(
            "/v2/models/echo/infer",
            &json!({"inputs": [
                {"name": "x", "datatype": "FP64", "shape": [1], "data": [1]},
                {"name": "y", "datatype": "FP64", "shape": [1], "data": [1]},
                {"name": "color", "datatype": "FP32", "shape": [1], "data": [1]},
            ]}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("expected datatype BYTES"),
        "{out}"
    );

    // v1: every row's problems.
    let (status, out) = s
        .post(
            "/v1/models/echo:predict",
            &json!({"instances": [{"x": 1, "y": 2, "color": "red"}, {"y": "two", "color": 3}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(out["problems"].as_array().unwrap().len(), 3, "{out}");

    // Bad JSON, and JSON of the wrong shape.
    let r = s
        .post_raw("/v2/models/echo/infer", "{not json".into())
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not a valid request"),
        "{body}"
    );
    let (status, out) = s
        .post("/v1/models/echo:predict", &json!({"rows": []}))
        .await;
    assert_eq!(status, 400, "{out}");
    assert!(
        out["error"].as_str().unwrap().contains("instances"),
        "{out}"
    );
    // An output the model does not have.
    let (status, out) = s
        .post(
            "/v2/models/echo/infer",
            &json!({"inputs": [], "outputs": [{"name": "label"}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        out["error"].as_str().unwrap().contains("no output `label`"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_models_versions_and_routes_are_404() {
    let s = TestServer::start(config(&[fx::ECHO])).await;
    let (status, out) = s.get("/v2/models/nope").await;
    assert_eq!(status, 404);
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("no model named `nope`; served models: echo"),
        "{out}"
    );
    let (status, out) = s.get("/v2/models/echo/versions/9.9.9/ready").await;
    assert_eq!(status, 404);
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("served versions: 1.2.3"),
        "{out}"
    );
    let (status, _) = s
        .post("/v2/models/nope/infer", &json!({"inputs": []}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .post("/v1/models/nope:predict", &json!({"instances": []}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .post("/v1/models/echo:explain", &json!({"instances": []}))
        .await;
    assert_eq!(status, 404);
    let (status, out) = s.get("/v3/anything").await;
    assert_eq!(status, 404);
    assert!(out["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_and_too_many_rows_are_413() {
    let s = TestServer::start(Config {
        limits: ServeLimits {
            max_body_bytes: 4096,
            max_rows: 3,
            ..ServeLimits::default()
        },
        ..config(&[fx::ECHO])
    })
    .await;
    let big = json!({"instances": [{"x": 1, "y": 1, "color": "x".repeat(5000)}]});
    let (status, out) = s.post("/v1/models/echo:predict", &big).await;
    assert_eq!(status, 413, "{out}");
    assert!(
        out["error"].as_str().unwrap().contains("max_body_bytes"),
        "{out}"
    );

    let rows = |n: usize| json!({"instances": vec![json!({"x": 1, "y": 1, "color": "red"}); n]});
    assert_eq!(s.post("/v1/models/echo:predict", &rows(3)).await.0, 200);
    let (status, out) = s.post("/v1/models/echo:predict", &rows(4)).await;
    assert_eq!(status, 413);
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("4 rows in one request; the limit is 3"),
        "{out}"
    );
    let tensor = |name: &str, n: usize| json!({"name": name, "datatype": "FP64", "shape": [n], "data": vec![1.0; n]});
    let (status, _) = s
        .post(
            "/v2/models/echo/infer",
            &json!({"inputs": [tensor("x", 4), tensor("y", 4)]}),
        )
        .await;
    assert_eq!(status, 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_model_is_500_naming_it_and_recovers() {
    let s = TestServer::start(config(&[fx::TRAPS])).await;
    let (status, out) = s
        .post(
            "/v1/models/traps:predict",
            &json!({"instances": [{"x": 1}]}),
        )
        .await;
    assert_eq!(status, 500, "{out}");
    let message = out["error"].as_str().unwrap();
    assert!(message.contains("model `traps` trapped"), "{message}");
    assert!(message.contains("model bug: x = 1"), "{message}");
    let (status, out) = s
        .post(
            "/v1/models/traps:predict",
            &json!({"instances": [{"x": 0}]}),
        )
        .await;
    assert_eq!(
        (status, out),
        (StatusCode::OK, json!({"predictions": [{"value": 0.0}]}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_model_answers_429_and_a_looping_one_504() {
    let s = TestServer::start(Config {
        limits: ServeLimits {
            max_concurrent_requests: 1,
            retry_after_s: 2,
            // On the blocking pool: a one-row call inline would hold an
            // async worker for its whole deadline, and this test's task,
            // waiting in that worker's queue, might not see it admitted.
            inline_rows: 0,
            ..ServeLimits::default()
        },
        ..config(&[fx::LOOPS_FOREVER])
    })
    .await;
    let spinning = {
        let call = s.spawn_looping_call();
        tokio::spawn(async move {
            let r = call.await.unwrap().expect("answered, not dropped");
            (r.status(), r.json::<Value>().await.unwrap())
        })
    };
    let deployed = s.service.registry().get("loops-forever", None).unwrap();
    let started = Instant::now();
    while deployed.in_flight() != 1 {
        if spinning.is_finished() {
            panic!(
                "the looping call ended before it was seen admitted: {:?}",
                spinning.await
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for the looping call to be admitted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = s
        .post_raw(
            "/v1/models/loops-forever:predict",
            json!({"instances": [{"x": 0}]}).to_string(),
        )
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("is busy"),
        "{body}"
    );

    let (status, out) = spinning.await.unwrap();
    assert_eq!(status, 504, "{out}");
    let message = out["error"].as_str().unwrap();
    assert!(
        message.contains("model `loops-forever` did not finish within its 500ms deadline"),
        "{message}"
    );
    // The permit is back: the next call is admitted and succeeds.
    let (status, _) = s
        .post(
            "/v1/models/loops-forever:predict",
            &json!({"instances": [{"x": 0}]}),
        )
        .await;
    assert_eq!(status, 200);
}

/// Compiles the small diabetes regression as `name` at `version`.
fn diabetes(version: &str) -> Vec<u8> {
    let dir = fx::SKLEARN;
    let onnx = std::fs::read(format!("{dir}/diabetes_linreg.onnx")).unwrap();
    let train = TrainingData::read(format!("{dir}/diabetes_linreg.train.jsonl")).unwrap();
    let opts = CompileOptions {
        version: version.into(),
        ..CompileOptions::new("diabetes")
    };
    compile(&onnx, &train, &opts).unwrap().component
}

/// Writes a file the way a deployment should: beside it, then renamed.
fn put(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_directory_loads_swaps_refuses_and_retires_without_failing_a_request() {
    let v1 = diabetes("1.0.0");
    let v2 = diabetes("2.0.0");
    let dir = std::env::temp_dir().join(format!("glassbox-serve-watch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let s = TestServer::start(Config {
        watch_interval_ms: 25,
        ..config(&[dir.to_str().unwrap()])
    })
    .await;
    let within = Duration::from_secs(20);
    assert_eq!(s.get("/v2/models/diabetes").await.0, 404, "nothing yet");

    // Add: the model appears.
    put(&dir, "diabetes.wasm", &v1);
    eventually(within, "diabetes 1.0.0 to load", || async {
        s.get("/v2/models/diabetes/ready").await.0 == 200
    })
    .await;
    let row = json!({"instances": [
        TrainingData::read(format!("{}/diabetes_linreg.train.jsonl", fx::SKLEARN)).unwrap().rows[0].clone()
    ]});

    // Replace with a new version under a stream of requests: none fails.
    let stream = {
        let (client, url, body) = (
            s.client.clone(),
            format!("{}/v2/models/diabetes", s.base),
            row.to_string(),
        );
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let (mut ok, mut failed, mut versions) =
                (0, Vec::new(), std::collections::BTreeSet::new());
            let predict = url.replace("/v2/models/diabetes", "/v1/models/diabetes:predict");
            while stopped.try_recv().is_err() {
                let meta = client.get(&url).send().await;
                let predicted = client.post(&predict).body(body.clone()).send().await;
                match (meta, predicted) {
                    (Ok(m), Ok(p)) if m.status() == 200 && p.status() == 200 => {
                        let m: Value = m.json().await.unwrap();
                        versions.insert(m["versions"].to_string());
                        ok += 1;
                    }
                    (m, p) => failed.push(format!("{m:?} {p:?}")),
                }
            }
            (ok, failed, versions)
        });
        (stop, task)
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    put(&dir, "diabetes.wasm", &v2);
    eventually(within, "the swap to 2.0.0", || async {
        s.get("/v2/models/diabetes").await.1["versions"] == json!(["2.0.0"])
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = stream.0.send(());
    let (ok, failed, versions) = stream.1.await.unwrap();
    assert!(
        failed.is_empty(),
        "{} requests failed: {failed:?}",
        failed.len()
    );
    assert!(ok > 2, "the stream ran ({ok} requests)");
    assert!(
        versions.contains("[\"1.0.0\"]") && versions.contains("[\"2.0.0\"]"),
        "{versions:?}"
    );
    assert_eq!(
        s.get("/v2/models/diabetes/versions/1.0.0").await.0,
        404,
        "retired"
    );

    // A second file with another version of the same model: requests
    // without a version get the newest.
    put(&dir, "diabetes@old.wasm", &v1);
    eventually(within, "1.0.0 beside 2.0.0", || async {
        s.get("/v2/models/diabetes").await.1["versions"] == json!(["1.0.0", "2.0.0"])
    })
    .await;
    let (_, out) = s.post("/v1/models/diabetes:predict", &row).await;
    assert!(out["predictions"][0]["value"].is_number(), "{out}");
    let (_, meta) = s
        .post("/v2/models/diabetes/infer", &json!({"inputs": []}))
        .await;
    assert!(
        meta["error"].as_str().unwrap().contains("diabetes"),
        "{meta}"
    );

    // A broken file is refused and the version it replaced keeps serving.
    put(&dir, "diabetes.wasm", b"\0asm broken");
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        assert_eq!(
            s.get("/v2/models/diabetes/versions/2.0.0/ready").await.0,
            200
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // Remove: the versions are retired, the model disappears.
    std::fs::remove_file(dir.join("diabetes.wasm")).unwrap();
    std::fs::remove_file(dir.join("diabetes@old.wasm")).unwrap();
    eventually(within, "diabetes to be retired", || async {
        s.get("/v2/models/diabetes").await.0 == 404
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_the_request_in_flight() {
    let s = TestServer::start(Config {
        // On the blocking pool (see the test above).
        limits: ServeLimits {
            inline_rows: 0,
            ..ServeLimits::default()
        },
        ..config(&[fx::LOOPS_FOREVER])
    })
    .await;
    let in_flight = {
        let call = s.spawn_looping_call();
        tokio::spawn(async move {
            let r = call
                .await
                .unwrap()
                .expect("answered during shutdown, not dropped");
            r.status()
        })
    };
    let deployed = s.service.registry().get("loops-forever", None).unwrap();
    // Generous: other tests may be compiling on every CPU meanwhile.
    eventually(Duration::from_secs(20), "the call to be admitted", || {
        let d = deployed.clone();
        async move { d.in_flight() == 1 }
    })
    .await;
    let base = s.base.clone();
    let started = Instant::now();
    s.shutdown().await.expect("clean shutdown");
    // It waited for the call (which runs to its 500 ms deadline).
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(in_flight.await.unwrap(), 504);
    assert!(
        reqwest::get(format!("{base}/v2/health/live"))
            .await
            .is_err(),
        "no longer listening"
    );
}

/// `glassbox serve` with no arguments serves the bundled examples, prints
/// where, and stops cleanly on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_the_examples_and_stops_on_sigterm() {
    /// Kills the server if an assertion fails before the SIGTERM.
    struct KillOnDrop(Option<std::process::Child>);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if let Some(child) = &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let mut guard = KillOnDrop(Some(
        Command::new(env!("CARGO_BIN_EXE_glassbox"))
            .args(["serve", "--listen", "127.0.0.1:0", "--no-cache"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let child = guard.0.as_mut().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    for _ in 0..4 {
        stdout.read_line(&mut banner).unwrap();
    }
    let addr = banner
        .split("listening on http://")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .to_string();
    assert!(
        banner.contains(&format!("open:  http://{addr}/")),
        "{banner}"
    );
    assert!(banner.contains("curl -s http://"), "{banner}");
    assert!(
        banner.contains("/v1/models/digits-logreg:predict -d '{\"instances\": [{"),
        "{banner}"
    );
    let client = reqwest::Client::new();
    let ready: Value = client
        .get(format!("http://{addr}/v2/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready, json!({"ready": true}));
    let row = sample_row("digits-logreg");
    let out: Value = client
        .post(format!("http://{addr}/v1/models/digits-logreg:predict"))
        .body(json!({"instances": [row]}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_same(
        &out["predictions"],
        &json!(expected("digits-logreg", &[row])),
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = guard.0.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("glassbox serve: stopped"), "{stderr}");
}

/// The router in process, as a gateway mounts it (no socket): one request
/// per error case the contract names, each with its status and a message
/// that says what was wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_in_process_answers_every_error_case() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    let engine = glassbox::Engine::new().unwrap();
    let limits = ServeLimits {
        max_body_bytes: 64 << 10,
        max_rows: 4,
        ..ServeLimits::default()
    };
    let service = Service::new(engine.clone(), limits);
    service.deploy(engine.load(examples::FRIEDMAN_TREE.component).unwrap());
    let router = service.router();
    let call = |path: &str, body: String| {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            (status, text)
        }
    };
    let good_row = sample_row("friedman-tree");
    let tensors_for = |n: usize, skip: Option<&str>, datatype: &str, shape: Value| {
        let inputs: Vec<Value> = good_row
            .iter()
            .filter(|(k, _)| Some(k.as_str()) != skip)
            .map(|(k, v)| {
                json!({"name": k, "datatype": datatype, "shape": shape,
                       "data": vec![v.clone(); n]})
            })
            .collect();
        json!({ "inputs": inputs }).to_string()
    };
    let infer = "/v2/models/friedman-tree/infer";

    // The good case first, so that the errors below are the request's fault.
    let (status, text) = call(infer, tensors_for(1, None, "FP64", json!([1]))).await;
    assert_eq!(status, 200, "{text}");

    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "/v2/models/nope/infer",
            tensors_for(1, None, "FP64", json!([1])),
            404,
            "nope",
        ),
        (infer, "{\"inputs\": [".into(), 400, "not a valid request"),
        (
            infer,
            tensors_for(1, None, "BYTES", json!([1])),
            400,
            "BYTES",
        ),
        (
            infer,
            tensors_for(1, None, "FP64", json!([1, 2])),
            400,
            "shape",
        ),
        (
            infer,
            tensors_for(1, Some("x3"), "FP64", json!([1])),
            400,
            "x3",
        ),
        (infer, tensors_for(5, None, "FP64", json!([5])), 413, "rows"),
        (infer, " ".repeat(100 << 10), 413, ""),
    ];
    for (path, body, want, mentions) in cases {
        let (status, text) = call(path, body).await;
        assert_eq!(status, want, "{path}: {text}");
        let error: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
        let message = error["error"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{path}: no error message: {text}");
        assert!(message.contains(mentions), "{path}: {message}");
    }
}

/// v1 answers every row it can and marks the one it cannot; OIP v2, whose
/// answer is one tensor per output, fails the request naming the row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_answer_is_unusable_is_named() {
    let s = TestServer::start(config(&[])).await;
    let row = |v: f64| {
        (0..8)
            .flat_map(|r| (0..8).map(move |c| (format!("pixel_{r}_{c}"), json!(v))))
            .collect::<serde_json::Map<String, Value>>()
    };
    let (status, out) = s
        .post(
            "/v1/models/digits-logreg:predict",
            &json!({"instances": [row(1.0), row(1.7e308)]}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert!(out["predictions"][0]["label"].is_string(), "{out}");
    let error = out["predictions"][1]["error"].as_str().unwrap();
    assert!(error.contains("not a number in [0, 1]"), "{out}");

    let rows = [row(1.0), row(1.7e308)];
    let (status, out) = s
        .post(
            "/v2/models/digits-logreg/infer",
            &json!({"inputs": tensors(&rows, "FP64")}),
        )
        .await;
    assert_eq!(status, 500, "{out}");
    let error = out["error"].as_str().unwrap();
    assert!(error.contains("answer for row 1 is unusable"), "{error}");
}

/// A classifier without probabilities, served: metadata declares `scores`
/// (one per row for two classes), v2 answers it, v1 answers `"scores"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_score_classifier_answers_scores_on_both_apis() {
    let extra = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/extra");
    let onnx = std::fs::read(format!("{extra}/svc_linear_binary.onnx")).unwrap();
    let train = TrainingData::read(format!("{extra}/svc_linear_binary.train.jsonl")).unwrap();
    let component = compile(&onnx, &train, &CompileOptions::new("svc"))
        .unwrap()
        .component;
    let path = std::env::temp_dir().join(format!("glassbox-serve-svc-{}.wasm", std::process::id()));
    std::fs::write(&path, component).unwrap();
    let s = TestServer::start(config(&[path.to_str().unwrap()])).await;

    let (status, meta) = s.get("/v2/models/svc").await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(
        meta["outputs"],
        json!([{"name": "label", "datatype": "BYTES", "shape": [-1]},
               {"name": "scores", "datatype": "FP64", "shape": [-1, 1]}])
    );
    let rows: Vec<serde_json::Map<String, Value>> =
        crate::util::jsonl(&format!("{extra}/svc_linear_binary.inputs.jsonl"))
            .into_iter()
            .take(2)
            .map(|v| v.as_object().unwrap().clone())
            .collect();
    let (status, v2) = s
        .post(
            "/v2/models/svc/infer",
            &json!({"inputs": tensors(&rows, "FP64")}),
        )
        .await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["outputs"][1]["name"], "scores");
    assert_eq!(v2["outputs"][1]["shape"], json!([2, 1]));
    let (status, v1) = s
        .post("/v1/models/svc:predict", &json!({"instances": rows}))
        .await;
    assert_eq!(status, 200, "{v1}");
    for (i, p) in v1["predictions"].as_array().unwrap().iter().enumerate() {
        let score = p["scores"][0].as_f64().unwrap();
        // Positive means the second class, as scikit-learn's decision_function.
        assert_eq!(
            p["label"],
            if score > 0.0 { "1" } else { "0" },
            "row {i}: {p}"
        );
        assert_eq!(v2["outputs"][1]["data"][i].as_f64().unwrap(), score);
    }
    let _ = std::fs::remove_file(&path);
}
