//! Helpers shared by the test modules.

use std::net::SocketAddr;
use std::time::Duration;

use glassbox::serve::{Config, ServeError, Server, Service};
use glassbox::{Engine, Limits, Model, Row};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// An engine with a short deadline and a small memory cap, so hostile
/// fixtures fail fast.
pub fn engine() -> Engine {
    Engine::builder()
        .limits(Limits {
            deadline: Duration::from_millis(500),
            memory_bytes: 32 << 20,
            ..Limits::default()
        })
        .build()
        .expect("engine")
}

/// Loads a fixture by path.
pub fn load(path: &str) -> Model {
    engine().load_file(path).expect("fixture loads")
}

/// Parses JSON objects into rows.
pub fn rows(values: &[serde_json::Value]) -> Vec<Row> {
    values
        .iter()
        .map(|v| v.as_object().expect("object").clone())
        .collect()
}

/// Reads a JSON-lines file.
pub fn jsonl(path: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("read jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

/// A server on a free loopback port, stopped when dropped.
pub struct TestServer {
    pub base: String,
    pub service: Service,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    pub async fn start(config: Config) -> TestServer {
        Self::try_start(config).await.expect("server starts")
    }

    /// [`TestServer::start`], or the error `Server::bind` gave.
    pub async fn try_start(config: Config) -> Result<TestServer, ServeError> {
        let config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..config
        };
        let server = Server::bind(config).await?;
        // Watched directories load in the background: wait for their first
        // scan (a compile bomb among them would hold this up to its budget).
        let registry = server.service().registry().clone();
        let started = std::time::Instant::now();
        while registry.is_loading_any() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the models did not load"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let base = format!("http://{}", server.local_addr());
        let service = server.service().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Ok(TestServer {
            base,
            service,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET answered");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let r = self.post_raw(path, body.to_string()).await;
        let status = r.status();
        (status, r.json().await.expect("a JSON body"))
    }

    pub async fn post_raw(&self, path: &str, body: String) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST answered")
    }

    /// Stops accepting, drains, and returns what `run` returned.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        let _ = self.stop.take().expect("running").send(());
        self.task.take().expect("running").await.expect("no panic")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The values of the test-service variables `keys` (set by
/// `scripts/test-services.sh start`), or `None` with a note when one is
/// missing; with `GLASSBOX_REQUIRE_SERVICES=1` a missing one fails the test.
pub fn service_vars<const N: usize>(what: &str, keys: [&str; N]) -> Option<[String; N]> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let required = var("GLASSBOX_REQUIRE_SERVICES").is_some_and(|v| v == "1");
    let values = keys.map(var);
    if let Some(i) = values.iter().position(Option::is_none) {
        assert!(
            !required,
            "GLASSBOX_REQUIRE_SERVICES=1 but {} is not set: \
             run `eval \"$(scripts/test-services.sh start)\"` first",
            keys[i]
        );
        eprintln!("skipped: no {what} (run `eval \"$(scripts/test-services.sh start)\"`)");
        return None;
    }
    Some(values.map(Option::unwrap))
}
