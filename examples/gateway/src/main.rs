//! Run with
//!
//! ```sh
//! cargo run -p example-gateway -- http://127.0.0.1:9000 [MODEL.wasm]
//! ```
//!
//! A gateway on 127.0.0.1:8081 that scores every JSON request body with a
//! model (default: the bundled `friedman-tree`), adds the score as an
//! `x-model-score` header and proxies the request to the upstream URL. The
//! model's own OIP/v1 routes are mounted under `/models`. Scoring never blocks
//! traffic: a body the model cannot score goes through with `x-model-error`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use glassbox::serve::{ServeLimits, Service};
use glassbox::{Engine, Prediction};

#[derive(Clone)]
struct Gateway {
    scoring: Service,
    model: String,
    upstream: String,
    client: reqwest::Client,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let upstream = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:9000".into());
    let engine = Engine::new()?;
    let model = match args.next() {
        Some(path) => engine.load_file(path)?,
        None => engine.load(glassbox::examples::FRIEDMAN_TREE.component)?,
    };
    let scoring = Service::new(engine, ServeLimits::default());
    let name = model.name().to_string();
    scoring.deploy(model);
    let gateway = Gateway {
        scoring: scoring.clone(),
        model: name,
        upstream,
        client: reqwest::Client::new(),
    };
    let app = Router::new()
        .nest_service("/models", scoring.router())
        .fallback(proxy)
        .with_state(gateway);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    println!("gateway on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(glassbox::serve::shutdown_signal())
        .await?;
    Ok(())
}

async fn proxy(State(g): State<Gateway>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body over 1 MiB").into_response();
    };
    let mut headers = parts.headers.clone();
    match score(&g, &body).await {
        Ok(score) => headers.insert("x-model-score", score),
        Err(why) => headers.insert(
            "x-model-error",
            HeaderValue::from_str(&why.replace('\n', " "))
                .unwrap_or(HeaderValue::from_static("unscorable")),
        ),
    };
    headers.remove(axum::http::header::HOST);
    let url = format!(
        "{}{}",
        g.upstream,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    match g
        .client
        .request(parts.method, url)
        .headers(headers)
        .body(body)
        .send()
        .await
    {
        Ok(r) => {
            let (status, headers): (StatusCode, HeaderMap) = (r.status(), r.headers().clone());
            (status, headers, r.bytes().await.unwrap_or_default()).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("upstream: {e}")).into_response(),
    }
}

/// The body's fields that are model features, scored as one row.
async fn score(g: &Gateway, body: &Bytes) -> Result<HeaderValue, String> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|_| "body is not JSON")?;
    let deployed = g
        .scoring
        .registry()
        .get(&g.model, None)
        .ok_or("model not loaded")?;
    let row = deployed
        .model()
        .info()
        .inputs
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                json.get(&f.name).cloned().unwrap_or_default(),
            )
        })
        .collect();
    let prediction = g
        .scoring
        .predict(&g.model, None, &[row])
        .await
        .map_err(|e| e.message)?;
    let score = match prediction.first() {
        Some(Prediction::Value { value }) => value.to_string(),
        Some(Prediction::Class { label, .. } | Prediction::Scores { label, .. }) => label.clone(),
        Some(Prediction::Invalid { error }) => return Err(error.clone()),
        None => return Err("no prediction".into()),
    };
    HeaderValue::from_str(&score).map_err(|e| e.to_string())
}
