//! Signed components: a signed model loads where its key is trusted, and
//! anything else is refused (tests/all/signing.rs; docs/DISTRIBUTE.md).

use std::process::Command;

use glassbox::artifact::sign::{self, SignatureError, TrustedKeys};
use glassbox::{Engine, Error, examples};

pub fn engine_trusting(public: &str) -> Engine {
    Engine::builder()
        .trusted_keys(TrustedKeys::from_pems([public]).unwrap())
        .build()
        .unwrap()
}

#[test]
fn a_signed_component_loads_and_any_changed_byte_is_refused() {
    let (secret, public) = sign::keygen();
    let signed = sign::sign(examples::FRIEDMAN_TREE.component, &secret).unwrap();
    let engine = engine_trusting(&public);
    let model = engine.load(&signed).unwrap();
    assert_eq!(
        model.signer().unwrap().key_id,
        sign::key_id_of(&public).unwrap()
    );
    // One byte changed, at ~300 places spread over the file, the preamble
    // and the signature section included: every one is refused.
    let step = signed.len() / 300;
    let places: Vec<usize> = (0..64)
        .chain((64..signed.len()).step_by(step))
        .chain(signed.len() - 8..signed.len())
        .collect();
    let mut tampered = 0;
    for &at in &places {
        let mut bytes = signed.clone();
        bytes[at] ^= 0x20;
        match engine.load(&bytes) {
            Ok(_) => panic!("byte {at} of {} changed, and it loaded", signed.len()),
            Err(Error::Signature {
                reason: SignatureError::Tampered { .. },
                ..
            }) => tampered += 1,
            Err(_) => {}
        }
    }
    assert!(
        tampered > places.len() * 3 / 4,
        "most are caught by the signature itself: {tampered} of {}",
        places.len()
    );
}

#[test]
fn another_signer_or_no_signature_is_refused_with_the_reason() {
    let (_, public) = sign::keygen();
    let (other, _) = sign::keygen();
    let engine = engine_trusting(&public);
    let by_other = sign::sign(examples::FRIEDMAN_TREE.component, &other).unwrap();
    let err = engine.load(&by_other).unwrap_err().to_string();
    assert!(
        err.starts_with("model `(bytes)` refused: it is signed by key ")
            && err.ends_with(", which is not a trusted key"),
        "{err}"
    );
    let err = engine
        .load(examples::FRIEDMAN_TREE.component)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "model `(bytes)` refused: it is not signed, and a trusted key is required"
    );
    // Without trusted keys, signed and unsigned components load alike.
    let plain = Engine::new().unwrap();
    assert!(plain.load(&by_other).is_ok());
    assert!(plain.load(examples::FRIEDMAN_TREE.component).is_ok());
}

fn glassbox(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// keygen, sign, verify and inspect as an operator runs them.
#[test]
fn the_cli_signs_verifies_and_shows_the_signer() {
    let dir = std::env::temp_dir().join(format!("glassbox-sign-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("team");
    let p = |s: &str| dir.join(s).to_str().unwrap().to_string();
    let (ok, out) = glassbox(&["keygen", "--out", prefix.to_str().unwrap()]);
    assert!(ok, "{out}");
    let public = std::fs::read_to_string(p("team.pub")).unwrap();
    let id = sign::key_id_of(&public).unwrap();
    assert!(out.contains(&format!("key id {id}")), "{out}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(p("team.key")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the secret key is private");
    let (ok, out) = glassbox(&["keygen", "--out", prefix.to_str().unwrap()]);
    assert!(!ok && out.contains("exists; use --force"), "{out}");

    std::fs::write(p("m.wasm"), examples::FRIEDMAN_TREE.component).unwrap();
    let (ok, out) = glassbox(&["sign", "--key", &p("team.key"), &p("m.wasm")]);
    assert!(ok, "{out}");
    let (ok, out) = glassbox(&["verify", "--key", &p("team.pub"), &p("m.wasm")]);
    assert!(
        ok && out.contains(&format!("signed by key {id}, verified")),
        "{out}"
    );
    let (ok, out) = glassbox(&["inspect", &p("m.wasm"), "--key", &p("team.pub")]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("signature: signed by key {id}, verified")),
        "{out}"
    );
    let (_, out) = glassbox(&["inspect", &p("m.wasm")]);
    assert!(out.contains("(not checked: give --key PUB)"), "{out}");

    let mut bytes = std::fs::read(p("m.wasm")).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(p("bad.wasm"), &bytes).unwrap();
    let (ok, out) = glassbox(&[
        "verify",
        "--key",
        &p("team.pub"),
        &p("m.wasm"),
        &p("bad.wasm"),
    ]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "bad.wasm: refused: its bytes changed after it was signed by key {id}"
        )),
        "{out}"
    );
    let (ok, out) = glassbox(&["verify", "--key", &p("m.wasm"), &p("m.wasm")]);
    assert!(!ok && out.contains("not an Ed25519 public key"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `glassbox serve --trusted-key`: a tampered replacement is refused with a
/// log line and a metric, and the signed version keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_keeps_the_signed_version_when_a_tampered_one_arrives() {
    use glassbox::serve::Config;
    let dir = std::env::temp_dir().join(format!("glassbox-sign-serve-{}", std::process::id()));
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    let (secret, public) = sign::keygen();
    std::fs::write(dir.join("team.pub"), &public).unwrap();
    let signed = sign::sign(examples::FRIEDMAN_TREE.component, &secret).unwrap();
    std::fs::write(models.join("friedman-tree.wasm"), &signed).unwrap();
    let server = crate::util::TestServer::start(Config {
        models: vec![models.clone()],
        watch_interval_ms: 50,
        trusted_keys: vec![dir.join("team.pub")],
        ..Config::default()
    })
    .await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let ready = client
        .get(format!("{base}/v2/models/friedman-tree/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    // A replacement with one byte changed after signing.
    let mut tampered = signed.clone();
    let at = tampered.len() - 100;
    tampered[at] ^= 1;
    let tmp = models.join(".friedman.tmp");
    std::fs::write(&tmp, &tampered).unwrap();
    std::fs::rename(&tmp, models.join("friedman-tree.wasm")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let metrics = loop {
        let m = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if m.contains("glassbox_model_refusals_total{") {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal counted: {m}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let line = metrics
        .lines()
        .find(|l| l.starts_with("glassbox_model_refusals_total{"))
        .unwrap();
    assert!(
        line.contains("glassbox_refusal_reason=\"signature\"")
            && line.contains("friedman-tree.wasm"),
        "{line}"
    );
    // The signed version still answers.
    let r = client
        .post(format!("{base}/v1/models/friedman-tree:predict"))
        .json(&serde_json::json!({"instances": [{
            "x0": 0.5, "x1": 0.5, "x2": 0.5, "x3": 0.5, "x4": 0.5,
            "x5": 0.5, "x6": 0.5, "x7": 0.5, "x8": 0.5, "x9": 0.5}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
