//! What clients of other model servers send: one `[N, F]` tensor, Triton's
//! binary tensor data over HTTP, and OIP v2 over gRPC on the REST port,
//! with the generated client over a real HTTP/2 connection. (The Python
//! clients themselves, tritonclient and KServe's, are in tests/clients.)

use std::time::Duration;

use glassbox::serve::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use glassbox::serve::grpc::proto::model_infer_request::{
    InferInputTensor, InferRequestedOutputTensor,
};
use glassbox::serve::grpc::proto::{
    InferTensorContents, ModelInferRequest, ModelInferResponse, ModelMetadataRequest,
    ModelReadyRequest, ServerLiveRequest, ServerMetadataRequest, ServerReadyRequest,
};
use glassbox::serve::{Config, ServeLimits};
use glassbox::{Limits, examples};
use glassbox_fixtures as fx;
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::util::TestServer;

fn config(models: &[&str]) -> Config {
    Config {
        models: models.iter().map(Into::into).collect(),
        model_limits: Limits {
            deadline: Duration::from_millis(500),
            memory_bytes: 32 << 20,
            max_instances: 32,
            ..Limits::default()
        },
        ..Config::default()
    }
}

/// The bundled example's sample rows as values in schema order.
fn digits_rows(n: usize) -> (Vec<String>, Vec<Vec<f64>>) {
    let e = examples::find("digits-logreg").unwrap();
    let rows: Vec<serde_json::Map<String, Value>> = e
        .sample_rows
        .lines()
        .cycle()
        .take(n)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<String> = rows[0].keys().cloned().collect();
    let values = rows
        .iter()
        .map(|r| names.iter().map(|k| r[k].as_f64().unwrap()).collect())
        .collect();
    (names, values)
}

/// One OIP tensor per feature of `rows` (values in `names`' order).
fn per_feature(names: &[String], rows: &[Vec<f64>], datatype: &str) -> Vec<Value> {
    names
        .iter()
        .enumerate()
        .map(|(c, name)| {
            json!({"name": name, "datatype": datatype, "shape": [rows.len()],
                   "data": rows.iter().map(|r| r[c]).collect::<Vec<_>>()})
        })
        .collect()
}

/// Probabilities of a JSON answer, as bits.
fn proba_bits(out: &Value) -> Vec<u64> {
    out["outputs"][1]["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{out}"))
        .iter()
        .map(|v| v.as_f64().unwrap().to_bits())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_d_tensor_answers_like_one_tensor_per_feature() {
    let s = TestServer::start(config(&[])).await;
    let (names, rows) = digits_rows(3);
    let per_feature = per_feature(&names, &rows, "FP64");
    let (status, want) = s
        .post(
            "/v2/models/digits-logreg/infer",
            &json!({"inputs": per_feature}),
        )
        .await;
    assert_eq!(status, 200, "{want}");
    // Row-major, flat and nested, FP32 and FP64 (the digits are small
    // integers: the same in both).
    for (datatype, data) in [
        ("FP32", json!(rows.concat())),
        ("FP64", json!(rows)),
        ("INT64", json!(rows.concat())),
    ] {
        let (status, out) = s
            .post(
                "/v2/models/digits-logreg/infer",
                &json!({"inputs": [{"name": "input-0", "datatype": datatype,
                                    "shape": [3, 64], "data": data}]}),
            )
            .await;
        assert_eq!(status, 200, "{datatype}: {out}");
        assert_eq!(out["outputs"][0], want["outputs"][0], "{datatype}");
        assert_eq!(proba_bits(&out), proba_bits(&want), "{datatype}");
    }
    // The metadata names the form.
    let (_, meta) = s.get("/v2/models/digits-logreg").await;
    assert_eq!(
        meta["parameters"]["inputs_2d"],
        json!({"name": "input-0", "datatype": "FP64", "shape": [-1, 64]})
    );
    // A wrong width names the tensor and the shape wanted.
    let (status, out) = s
        .post(
            "/v2/models/digits-logreg/infer",
            &json!({"inputs": [{"name": "input-0", "datatype": "FP32",
                                "shape": [1, 63], "data": vec![0.0; 63]}]}),
        )
        .await;
    assert_eq!(status, 400, "{out}");
    let error = out["error"].as_str().unwrap();
    assert!(
        error.contains("input `input-0`") && error.contains("shape [N, 64]"),
        "{error}"
    );
    // Too few values for the shape.
    let (status, out) = s
        .post(
            "/v2/models/digits-logreg/infer",
            &json!({"inputs": [{"name": "input-0", "datatype": "FP32",
                                "shape": [2, 64], "data": vec![0.0; 100]}]}),
        )
        .await;
    assert_eq!(status, 400, "{out}");
    assert!(
        out["error"].as_str().unwrap().contains("128 values"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_with_categorical_inputs_takes_a_bytes_two_d_tensor() {
    // echo: x (INT), y (nullable number), color (nullable category); it
    // answers x + (y, or 100 when missing) + code(color): red 0, green 1,
    // unknown 10, missing 20.
    let s = TestServer::start(config(&[fx::ECHO])).await;
    let (_, meta) = s.get("/v2/models/echo").await;
    assert_eq!(
        meta["parameters"]["inputs_2d"],
        json!({"name": "input-0", "datatype": "BYTES", "shape": [-1, 3]})
    );
    let (status, out) = s
        .post(
            "/v2/models/echo/infer",
            &json!({"inputs": [{"name": "input__0", "datatype": "BYTES", "shape": [3, 3],
                                "data": [["1", "2.5", "green"], [2, null, null], ["3", "nan", "blue"]]}]}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["outputs"][0]["data"], json!([4.5, 122.0, 113.0]));
    // A numeric tensor cannot carry the category: the error says which
    // inputs are categorical.
    let (status, out) = s
        .post(
            "/v2/models/echo/infer",
            &json!({"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 3],
                                "data": [1, 2, 3]}]}),
        )
        .await;
    assert_eq!(status, 400, "{out}");
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("datatype BYTES (the model has categorical inputs: color)"),
        "{out}"
    );
    // Text that is no number is named with its row and field.
    let (status, out) = s
        .post(
            "/v2/models/echo/infer",
            &json!({"inputs": [{"name": "input-0", "datatype": "BYTES", "shape": [2, 3],
                                "data": ["1", "2", "red", "one", "2", "red"]}]}),
        )
        .await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(
        out["problems"],
        json!([{"row": 1, "field": "x", "expected": "a number (as decimal text)",
                "got": "the string \"one\""}])
    );
    // A table of bad values: every one counted, the first hundred listed,
    // and the server keeps no more than a thousand descriptions meanwhile.
    let rows = 3000;
    let data: Vec<&str> = std::iter::repeat_n(["x", "y", "red"], rows)
        .flatten()
        .collect();
    let (status, out) = s
        .post(
            "/v2/models/echo/infer",
            &json!({"inputs": [{"name": "input-0", "datatype": "BYTES",
                                "shape": [rows, 3], "data": data}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(out["problems_total"], 2 * rows);
    assert_eq!(out["problems"].as_array().unwrap().len(), 100);
}

/// A Triton binary-data request: the JSON header, then the inputs' bytes.
fn binary_request(header: &Value, data: &[&[u8]]) -> (Vec<u8>, usize) {
    let mut body = header.to_string().into_bytes();
    let json_len = body.len();
    for d in data {
        body.extend_from_slice(d);
    }
    (body, json_len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triton_binary_tensor_data_in_and_out() {
    let s = TestServer::start(config(&[fx::ECHO])).await;
    let (_, server) = s.get("/v2").await;
    assert_eq!(server["extensions"], json!(["binary_tensor_data"]));
    let x: Vec<u8> = [1i64, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
    let y: Vec<u8> = [2.5f32, f32::NAN]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut color = Vec::new();
    for c in ["green", "red"] {
        color.extend_from_slice(&(c.len() as u32).to_le_bytes());
        color.extend_from_slice(c.as_bytes());
    }
    let header = json!({
        "inputs": [
            {"name": "x", "datatype": "INT64", "shape": [2], "parameters": {"binary_data_size": x.len()}},
            {"name": "y", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": y.len()}},
            {"name": "color", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": color.len()}},
        ],
        "parameters": {"binary_data_output": true},
    });
    let (body, json_len) = binary_request(&header, &[&x, &y, &color]);
    let r = s
        .client
        .post(format!("{}/v2/models/echo/infer", s.base))
        .header("inference-header-content-length", json_len)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let header_len: usize = r.headers()["inference-header-content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    let out: Value = serde_json::from_slice(&bytes[..header_len]).unwrap();
    assert_eq!(
        out["outputs"][0],
        json!({"name": "value", "datatype": "FP64", "shape": [2],
               "parameters": {"binary_data_size": 16}})
    );
    let values: Vec<f64> = bytes[header_len..]
        .chunks(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    // NaN is a missing value: y is nullable.
    assert_eq!(values, [4.5, 102.0]);

    // Binary in, JSON out; one byte short names the input.
    let (mut body, json_len) = binary_request(&header, &[&x, &y, &color]);
    body.pop();
    let r = s
        .client
        .post(format!("{}/v2/models/echo/infer", s.base))
        .header("inference-header-content-length", json_len)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let out: Value = r.json().await.unwrap();
    assert!(
        out["error"].as_str().unwrap().contains("input `color`"),
        "{out}"
    );
    // A header longer than the body.
    let r = s
        .client
        .post(format!("{}/v2/models/echo/infer", s.base))
        .header("inference-header-content-length", "999999")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let out: Value = r.json().await.unwrap();
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("inference-header-content-length"),
        "{out}"
    );
}

async fn grpc(s: &TestServer) -> GrpcInferenceServiceClient<Channel> {
    let channel = tonic::transport::Endpoint::from_shared(s.base.clone())
        .unwrap()
        .connect()
        .await
        .expect("an HTTP/2 connection to the REST port");
    GrpcInferenceServiceClient::new(channel)
}

fn digits_request(rows: &[Vec<f64>], raw: bool) -> ModelInferRequest {
    let n = rows.len() as i64;
    let values: Vec<f32> = rows.concat().iter().map(|&v| v as f32).collect();
    let mut request = ModelInferRequest {
        model_name: "digits-logreg".into(),
        id: "call-1".into(),
        inputs: vec![InferInputTensor {
            name: "input__0".into(),
            datatype: "FP32".into(),
            shape: vec![n, 64],
            ..Default::default()
        }],
        ..Default::default()
    };
    if raw {
        request
            .raw_input_contents
            .push(values.iter().flat_map(|v| v.to_le_bytes()).collect());
    } else {
        request.inputs[0].contents = Some(InferTensorContents {
            fp32_contents: values,
            ..Default::default()
        });
    }
    request
}

fn raw_f64(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_on_the_rest_port_answers_like_rest() {
    let s = TestServer::start(config(&[])).await;
    let mut client = grpc(&s).await;
    assert!(
        client
            .server_live(ServerLiveRequest {})
            .await
            .unwrap()
            .into_inner()
            .live
    );
    assert!(
        client
            .server_ready(ServerReadyRequest {})
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    let meta = client
        .server_metadata(ServerMetadataRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.name, "glassbox");
    let ready = |name: &str| ModelReadyRequest {
        name: name.into(),
        version: String::new(),
    };
    assert!(
        client
            .model_ready(ready("digits-logreg"))
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    assert!(
        !client
            .model_ready(ready("nope"))
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    let meta = client
        .model_metadata(ModelMetadataRequest {
            name: "digits-logreg".into(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.inputs.len(), 64);
    assert_eq!(meta.outputs[1].name, "probabilities");
    assert_eq!(meta.outputs[1].shape, [-1, 10]);

    // The same rows over REST, for the answer to match bit for bit.
    let (names, rows) = digits_rows(4);
    let per_feature = per_feature(&names, &rows, "FP32");
    let (_, want) = s
        .post(
            "/v2/models/digits-logreg/infer",
            &json!({"inputs": per_feature}),
        )
        .await;
    let want_labels: Vec<&str> = want["outputs"][0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();

    // Typed contents in, typed out.
    let out: ModelInferResponse = client
        .model_infer(digits_request(&rows, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.id, "call-1");
    assert!(out.raw_output_contents.is_empty());
    let contents = |i: usize| out.outputs[i].contents.clone().unwrap();
    let labels: Vec<String> = contents(0)
        .bytes_contents
        .into_iter()
        .map(|b| String::from_utf8(b).unwrap())
        .collect();
    assert_eq!(labels, want_labels);
    assert_eq!(out.outputs[1].shape, [4, 10]);
    let typed: Vec<f64> = contents(1).fp64_contents;
    // The REST answer went through JSON text, which serde_json (without
    // `float_roundtrip`) may parse one ulp off.
    for (got, want) in typed.iter().zip(proba_bits(&want)) {
        let want = f64::from_bits(want);
        assert!((got - want).abs() <= 1e-12 * want.abs(), "{got} {want}");
    }
    let bits: Vec<u64> = typed.iter().map(|v| v.to_bits()).collect();

    // Raw in, raw out (what tritonclient sends), asking for one output.
    let mut request = digits_request(&rows, true);
    request.outputs.push(InferRequestedOutputTensor {
        name: "probabilities".into(),
        ..Default::default()
    });
    let out = client.model_infer(request).await.unwrap().into_inner();
    assert_eq!(out.outputs.len(), 1);
    assert!(out.outputs[0].contents.is_none());
    assert_eq!(raw_f64(&out.raw_output_contents[0]), bits);

    // Errors: the REST message, as a gRPC status.
    let mut request = digits_request(&rows, false);
    request.model_name = "nope".into();
    let e = client.model_infer(request).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(e.message().contains("no model named `nope`"), "{e}");
    let mut request = digits_request(&rows, true);
    request.raw_input_contents[0].pop();
    let e = client.model_infer(request).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(
        e.message().contains("input `input__0`") && e.message().contains("1024 bytes"),
        "{e}"
    );
    let mut request = digits_request(&rows, false);
    request.inputs[0].contents.as_mut().unwrap().fp32_contents[70] = f32::INFINITY;
    let e = client.model_infer(request).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(
        e.message().contains("row 1, field `")
            && e.message().contains("expected a finite number, got inf"),
        "{e}"
    );

    // HTTP/1 clients still share the port.
    let (status, _) = s.get("/v2/health/ready").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_refusals_are_statuses_and_bounded() {
    // Two admitted requests at most, and messages of 4 KiB.
    let s = TestServer::start(Config {
        limits: ServeLimits {
            max_body_bytes: 4096,
            max_concurrent_requests: 2,
            ..ServeLimits::default()
        },
        ..config(&[fx::LOOPS_FOREVER])
    })
    .await;
    let mut client = grpc(&s).await;
    let (_, rows) = digits_rows(20);
    let e = client
        .model_infer(digits_request(&rows, true))
        .await
        .unwrap_err();
    // The message-size check, before the model is looked up.
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e}");
    assert!(e.message().contains("limits.max_body_bytes"), "{e}");
    // A looping model runs to its deadline: DEADLINE_EXCEEDED. Two more
    // calls meanwhile fill the model's admissions: RESOURCE_EXHAUSTED.
    let looping = || ModelInferRequest {
        model_name: "loops-forever".into(),
        inputs: vec![InferInputTensor {
            name: "x".into(),
            datatype: "FP64".into(),
            shape: vec![1],
            contents: Some(InferTensorContents {
                fp64_contents: vec![1.0],
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let mut client = client.clone();
            let request = looping();
            tokio::spawn(async move { client.model_infer(request).await })
        })
        .collect();
    let mut codes = Vec::new();
    for call in calls {
        codes.push(call.await.unwrap().unwrap_err().code());
    }
    codes.sort_by_key(|c| *c as i32);
    assert_eq!(
        codes,
        [
            tonic::Code::DeadlineExceeded,
            tonic::Code::DeadlineExceeded,
            tonic::Code::ResourceExhausted
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_and_a_silent_one_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start(Config {
        limits: ServeLimits {
            header_timeout_ms: 300,
            ..ServeLimits::default()
        },
        ..config(&[])
    })
    .await;
    let addr = s.base.trim_start_matches("http://").to_string();
    // A client that connects and sends nothing is dropped after the
    // header timeout.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(3), silent.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    // An HTTP/2 connection with no request in flight gets a GOAWAY and is
    // closed.
    let mut h2 = tokio::net::TcpStream::connect(&addr).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), h2.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the idle HTTP/2 connection was not closed"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    // A GOAWAY frame (type 7) is among what the server sent.
    let mut at = 0;
    let mut frames = Vec::new();
    while at + 9 <= got.len() {
        let len = u32::from_be_bytes([0, got[at], got[at + 1], got[at + 2]]) as usize;
        frames.push(got[at + 3]);
        at += 9 + len;
    }
    assert!(frames.contains(&7), "frames {frames:?}");
}
