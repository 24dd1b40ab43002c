//! Models in a real OCI registry (Debian's docker-registry, the CNCF
//! distribution server, started on loopback by scripts/test-services.sh):
//! round trips, interoperability with the `oras` Python SDK, and
//! `glassbox serve` pulling `oci://` sources and falling back on its cache.

use std::path::Path;
use std::process::Command;

use glassbox::examples;

/// The registry (`HOST:PORT`) and a Python with `oras`, or `None` (with a
/// note) when they are not running and not required.
fn registry() -> Option<(String, String)> {
    let [x, y] = crate::util::service_vars(
        "registry",
        ["GLASSBOX_TEST_REGISTRY", "GLASSBOX_TEST_PYTHON"],
    )?;
    Some((x, y))
}

fn glassbox(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "glassbox {args:?}: {text}");
    text
}

fn python(python: &str, script: &str) -> String {
    let out = Command::new(python).args(["-c", script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script}\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("glassbox-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What goes up comes down byte for byte, and the manifest has the Wasm
/// OCI artifact layout.
#[test]
fn push_then_pull_gives_back_the_same_bytes_in_the_wasm_layout() {
    let Some((registry, _)) = registry() else {
        return;
    };
    let dir = temp("oci-roundtrip");
    let file = dir.join("digits.wasm");
    std::fs::write(&file, examples::DIGITS_LOGREG.component).unwrap();
    let reference = format!("{registry}/glassbox/digits:1.0.0");
    let out = glassbox(&["push", file.to_str().unwrap(), &reference, "--insecure"]);
    assert!(out.contains("pushed "), "{out}");
    let back = dir.join("back.wasm");
    glassbox(&[
        "pull",
        &reference,
        "-o",
        back.to_str().unwrap(),
        "--insecure",
    ]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        examples::DIGITS_LOGREG.component
    );

    let manifest: serde_json::Value = get_json(&format!(
        "http://{registry}/v2/glassbox/digits/manifests/1.0.0"
    ));
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    assert_eq!(
        layers[0]["annotations"]["org.opencontainers.image.title"],
        "digits.wasm"
    );
    let config: serde_json::Value = get_json(&format!(
        "http://{registry}/v2/glassbox/digits/blobs/{}",
        manifest["config"]["digest"].as_str().unwrap()
    ));
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"][0], layers[0]["digest"]);
    assert_eq!(
        config["component"]["exports"][0],
        "glassbox:model/scorer@0.2.0"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What glassbox pushes, the oras SDK pulls; what oras pushes in the same
/// layout, glassbox pulls.
#[test]
fn oras_and_glassbox_read_each_others_artifacts() {
    let Some((registry, py)) = registry() else {
        return;
    };
    let dir = temp("oci-oras");
    let file = dir.join("friedman.wasm");
    std::fs::write(&file, examples::FRIEDMAN_TREE.component).unwrap();
    let ours = format!("{registry}/glassbox/friedman:from-glassbox");
    glassbox(&["push", file.to_str().unwrap(), &ours, "--insecure"]);
    let out = dir.join("oras-out");
    let pulled = python(
        &py,
        &format!(
            "import oras.client\n\
             c = oras.client.OrasClient(hostname='{registry}', insecure=True)\n\
             print('\\n'.join(c.pull(target='{ours}', outdir='{}')))",
            out.display()
        ),
    );
    let got = std::fs::read(out.join("friedman.wasm")).unwrap_or_else(|e| panic!("{pulled}: {e}"));
    assert_eq!(got, examples::FRIEDMAN_TREE.component);

    // oras pushes the component with a config of the layout's media type.
    let theirs = format!("{registry}/glassbox/friedman:from-oras");
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"architecture":"wasm","os":"wasip2","layerDigests":[],"component":{"exports":[],"imports":[]}}"#,
    )
    .unwrap();
    python(
        &py,
        &format!(
            "import os, oras.client\n\
             os.chdir('{dir}')\n\
             c = oras.client.OrasClient(hostname='{registry}', insecure=True)\n\
             r = c.push(target='{theirs}', files=['friedman.wasm:application/wasm'],\n\
                        manifest_config='config.json:application/vnd.wasm.config.v0+json')\n\
             r.raise_for_status()",
            dir = dir.display()
        ),
    );
    let back = dir.join("back.wasm");
    glassbox(&["pull", &theirs, "-o", back.to_str().unwrap(), "--insecure"]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        examples::FRIEDMAN_TREE.component
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Forwards connections from a loopback port to `target` until dropped:
/// a registry that can be made unreachable without stopping the real one.
struct Proxy {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy { port, task }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_once(reference: &str, host: &str, cache: &Path) -> Result<String, String> {
    use glassbox::serve::Config;
    let server = crate::util::TestServer::try_start(Config {
        models: vec![reference.into()],
        insecure_registries: vec![host.to_string()],
        registry_cache: Some(cache.to_path_buf()),
        ..Config::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let base = server.base.clone();
    let answer = reqwest::Client::new()
        .post(format!("{base}/v1/models/friedman-tree:predict"))
        .json(&serde_json::json!({"instances": [{
            "x0": 0.5, "x1": 0.5, "x2": 0.5, "x3": 0.5, "x4": 0.5,
            "x5": 0.5, "x6": 0.5, "x7": 0.5, "x8": 0.5, "x9": 0.5}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    server.shutdown().await.unwrap();
    Ok(answer)
}

/// `glassbox serve oci://…` pulls at start, caches by digest, and starts
/// from the cache when the registry cannot be reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_pulls_oci_sources_and_keeps_serving_from_the_cache() {
    let Some((registry, _)) = registry() else {
        return;
    };
    let dir = temp("oci-serve");
    let file = dir.join("friedman.wasm");
    std::fs::write(&file, examples::FRIEDMAN_TREE.component).unwrap();
    let upstream = format!("{registry}/glassbox/friedman:serve");
    let pushed = tokio::task::spawn_blocking(move || {
        glassbox(&["push", file.to_str().unwrap(), &upstream, "--insecure"])
    })
    .await
    .unwrap();
    assert!(pushed.contains("pushed"), "{pushed}");

    let proxy = Proxy::start(registry.clone()).await;
    let host = format!("127.0.0.1:{}", proxy.port);
    let reference = format!("oci://{host}/glassbox/friedman:serve");
    let cache = dir.join("cache");
    let first = serve_once(&reference, &host, &cache).await.unwrap();
    assert!(first.contains("predictions"), "{first}");
    let digest = format!("sha256-{}", sha256_hex(examples::FRIEDMAN_TREE.component));
    assert!(
        cache.join("blobs").join(format!("{digest}.wasm")).exists(),
        "cached by digest"
    );

    drop(proxy);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let second = serve_once(&reference, &host, &cache).await.unwrap();
    assert_eq!(second, first, "the same model, from the cache");

    let err = serve_once(&reference, &host, &dir.join("empty-cache"))
        .await
        .unwrap_err();
    assert!(err.contains("no cached copy"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One artifact carries the component and its precompiled forms: push
/// with `--precompiled`, pull either form back byte for byte, and `serve`
/// with trusted keys loads the form for its own target (no compile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_carries_precompiled_forms_per_target() {
    let Some((registry, _)) = registry() else {
        return;
    };
    let dir = temp("oci-precompiled");
    let (secret, public) = glassbox::artifact::sign::keygen();
    let public_file = dir.join("fleet.pub");
    std::fs::write(&public_file, &public).unwrap();
    let component = examples::FRIEDMAN_TREE.component;
    let file = dir.join("friedman.wasm");
    std::fs::write(&file, component).unwrap();
    let host = glassbox::artifact::precompiled::host_target();
    let mut forms = Vec::new();
    for target in [host, "aarch64-unknown-linux-gnu"] {
        let code = glassbox::EngineBuilder::default()
            .precompile(component, Some(target))
            .unwrap();
        let signed = glassbox::artifact::sign::sign(&code, &secret).unwrap();
        let path = dir.join(format!("friedman.{target}.cwasm"));
        std::fs::write(&path, &signed).unwrap();
        forms.push((target, path, signed));
    }
    let reference = format!("{registry}/glassbox/friedman:precompiled");
    let (file_, reference_) = (file.clone(), reference.clone());
    let paths: Vec<String> = forms
        .iter()
        .map(|(_, p, _)| p.to_str().unwrap().to_string())
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        let mut args = vec!["push", file_.to_str().unwrap(), &reference_, "--insecure"];
        for p in &paths {
            args.extend(["--precompiled", p.as_str()]);
        }
        glassbox(&args)
    })
    .await
    .unwrap();
    assert!(out.contains("and 2 precompiled form(s)"), "{out}");

    let url = format!("http://{registry}/v2/glassbox/friedman/manifests/precompiled");
    let manifest = tokio::task::spawn_blocking(move || get_json(&url))
        .await
        .unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "{manifest}");
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    for (layer, (target, _, _)) in layers[1..].iter().zip(&forms) {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.glassbox.precompiled.v1"
        );
        assert_eq!(layer["annotations"]["dev.glassbox.target"], *target);
    }

    let (reference_, dir_) = (reference.clone(), dir.clone());
    let pulled = tokio::task::spawn_blocking(move || {
        let get = |target: Option<&str>, name: &str| {
            let out = dir_.join(name);
            let mut args = vec![
                "pull",
                &reference_,
                "-o",
                out.to_str().unwrap(),
                "--insecure",
            ];
            if let Some(t) = target {
                args.extend(["--target", t]);
            }
            glassbox(&args);
            std::fs::read(out).unwrap()
        };
        (
            get(None, "back.wasm"),
            get(Some("native"), "back-native.cwasm"),
            get(Some("aarch64-unknown-linux-gnu"), "back-arm.cwasm"),
        )
    })
    .await
    .unwrap();
    assert_eq!(pulled.0, component);
    assert_eq!(pulled.1, forms[0].2);
    assert_eq!(pulled.2, forms[1].2);

    // A form made from another component is refused at push.
    let other = dir.join("digits.wasm");
    std::fs::write(&other, examples::DIGITS_LOGREG.component).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["push", other.to_str().unwrap(), &reference, "--insecure"])
        .args(["--precompiled", forms[0].1.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not from this one"),
        "{err}"
    );

    // serve, trusting the key: the form for this host, from the cache.
    let cache = dir.join("cache");
    let server = crate::util::TestServer::try_start(glassbox::serve::Config {
        models: vec![format!("oci://{reference}").into()],
        insecure_registries: vec![registry.clone()],
        registry_cache: Some(cache.clone()),
        trusted_keys: vec![public_file.clone()],
        ..glassbox::serve::Config::default()
    })
    .await
    .unwrap();
    let models: serde_json::Value =
        reqwest::get(format!("{}/v2/models/friedman-tree", server.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(models["name"], "friedman-tree", "{models}");
    server.shutdown().await.unwrap();
    let digest = format!("sha256-{}", sha256_hex(&forms[0].2));
    assert!(
        cache.join("blobs").join(format!("{digest}.cwasm")).exists(),
        "the precompiled form is what was kept and loaded"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// GETs JSON (an OCI manifest or blob) from the registry.
fn get_json(url: &str) -> serde_json::Value {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            reqwest::Client::new()
                .get(url)
                .header("Accept", "application/vnd.oci.image.manifest.v1+json")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        })
}

/// The serve.toml inside the Kubernetes example's ConfigMaps is a config
/// `glassbox serve` accepts (the manifests themselves are checked against
/// the Kubernetes schemas by `.ci/run`).
#[test]
fn the_kubernetes_example_configs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kubernetes");
    let mut found = 0;
    for name in ["glassbox.yaml", "canary.yaml", "edge.yaml"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if line.trim() != "serve.toml: |" {
                continue;
            }
            let indent = line.len() - line.trim_start().len() + 2;
            let block: Vec<&str> = lines
                .by_ref()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent)
                .map(|l| l.get(indent..).unwrap_or(""))
                .collect();
            let config = glassbox::serve::Config::from_toml(&block.join("\n"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            // The edge example serves what its init containers pulled.
            let from = if name == "edge.yaml" {
                "/var/lib/"
            } else {
                "oci://"
            };
            assert!(
                config
                    .models
                    .iter()
                    .all(|m| m.to_str().unwrap().starts_with(from)),
                "{name}"
            );
            assert_eq!(config.trusted_keys.len(), 1, "{name}");
            found += 1;
        }
    }
    assert_eq!(found, 3);
}
