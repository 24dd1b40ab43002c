//! The edge node: precompiled models, the runtime-only build, and aarch64
//! under qemu-user (docs/DISTRIBUTE.md).
//!
//! The library tests run everywhere. The builds' tests need the binaries
//! `scripts/test.sh` makes before `cargo test` (scripts/edge.sh):
//! `GLASSBOX_EDGE_RUNTIME`, the runtime-only build for this machine, and
//! `GLASSBOX_EDGE_AARCH64`, the runtime-only build for
//! aarch64-unknown-linux-gnu, run under `qemu-aarch64` with
//! `QEMU_LD_PREFIX` pointing at Debian's aarch64 libraries.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use glassbox::artifact::precompiled;
use glassbox::artifact::sign::{self, SignatureError};
use glassbox::{CodeSource, Engine, EngineBuilder, Error, Limits};
use glassbox_fixtures as fx;

use crate::compile::{REFERENCE, compiled};
use crate::signing::engine_trusting;
use crate::util;

const AARCH64: &str = "aarch64-unknown-linux-gnu";

/// A private directory for one test, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("glassbox-edge-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The answers as `glassbox score` prints them: shortest round-trip
/// decimals, so equal text is equal bits.
fn as_text(predictions: &[glassbox::Prediction]) -> Vec<String> {
    predictions
        .iter()
        .map(|p| serde_json::to_string(p).unwrap())
        .collect()
}

fn inputs(name: &str) -> Vec<serde_json::Value> {
    util::jsonl(&format!("{}/{name}.inputs.jsonl", fx::SKLEARN))
}

/// Precompiled for this host, a model answers with the very bits of the
/// one compiled at load: every reference pipeline, every held-out row.
#[test]
fn precompiled_models_answer_the_same_bits_as_compiled_ones() {
    let (secret, public) = sign::keygen();
    let node = engine_trusting(&public);
    let compiler = Engine::new().unwrap();
    for name in REFERENCE {
        let component = compiled(fx::SKLEARN, name);
        let rows = util::rows(&inputs(name));
        let want = as_text(
            &compiler
                .load(&component)
                .unwrap()
                .score_rows(&rows)
                .unwrap(),
        );
        let code = EngineBuilder::default()
            .precompile(&component, None)
            .unwrap();
        let signed = sign::sign(&code, &secret).unwrap();
        let model = node.load_named(name, &signed).unwrap();
        assert_eq!(model.code_source(), CodeSource::Precompiled);
        assert_eq!(
            model.digest(),
            glassbox::artifact::digest(&component)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "{name}: a precompiled model keeps its component's identity"
        );
        assert_eq!(
            model.signer().unwrap().key_id,
            sign::key_id_of(&public).unwrap()
        );
        assert!(model.info().profile.is_some(), "{name}: profile kept");
        let got = as_text(&model.score_rows(&rows).unwrap());
        assert_eq!(got, want, "{name}: precompiled answers differ");
    }
}

/// Native code loads only when a trusted key signed it, for this target
/// and this engine; everything else is refused with the reason.
#[test]
fn precompiled_models_load_only_when_a_trusted_key_signed_them() {
    let (secret, public) = sign::keygen();
    let (other, _) = sign::keygen();
    let component = glassbox::examples::FRIEDMAN_TREE.component;
    let code = EngineBuilder::default()
        .precompile(component, None)
        .unwrap();
    let signed = sign::sign(&code, &secret).unwrap();
    let node = engine_trusting(&public);
    node.load(&signed).unwrap();

    // No trusted keys at all: refused, however it is signed.
    let err = Engine::new()
        .unwrap()
        .load(&signed)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("it is native code, which loads only when a trusted key signed it")
            && err.contains("--trusted-key, GLASSBOX_TRUSTED_KEYS"),
        "{err}"
    );
    // Unsigned, or signed by another key.
    assert!(matches!(
        node.load(&code),
        Err(Error::Signature {
            reason: SignatureError::Unsigned,
            ..
        })
    ));
    let by_other = sign::sign(&code, &other).unwrap();
    assert!(matches!(
        node.load(&by_other),
        Err(Error::Signature {
            reason: SignatureError::Untrusted { .. },
            ..
        })
    ));
    // A byte of the native code, or of the header naming the component,
    // changed after signing.
    let header_at = signed.windows(9).position(|w| w == b"component").unwrap();
    for at in [signed.len() - 100, signed.len() / 2, header_at] {
        let mut tampered = signed.clone();
        tampered[at] ^= 1;
        assert!(
            matches!(
                node.load(&tampered),
                Err(Error::Signature {
                    reason: SignatureError::Tampered { .. },
                    ..
                })
            ),
            "byte {at} changed and it was not refused as tampered"
        );
    }
    // Another target, signed and all.
    let arm = sign::sign(
        &EngineBuilder::default()
            .precompile(component, Some(AARCH64))
            .unwrap(),
        &secret,
    )
    .unwrap();
    if precompiled::host_target() != AARCH64 {
        let err = node.load(&arm).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "it is precompiled for {AARCH64}, and this host is"
            )) && err.contains("precompile it with --target"),
            "{err}"
        );
    }
    // Code for an engine with other settings (no deadline checks).
    let loose = sign::sign(
        &EngineBuilder::default()
            .interruptible(false)
            .precompile(component, None)
            .unwrap(),
        &secret,
    )
    .unwrap();
    let err = node.load(&loose).unwrap_err().to_string();
    assert!(err.contains("its code does not fit this engine"), "{err}");
    // wasmtime's own serialised code (what a node's cache holds) is not a
    // precompiled model, nor a component.
    let raw = precompiled::read(&code).unwrap().code.to_vec();
    assert!(matches!(node.load(&raw), Err(Error::NotAComponent(_))));
    // Precompiling what is already precompiled is refused.
    let err = EngineBuilder::default()
        .precompile(&signed, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("already precompiled"), "{err}");
}

fn glassbox(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .env_remove("GLASSBOX_TRUSTED_KEYS")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `glassbox precompile` as a build machine runs it, and the commands
/// that load models honouring the trusted keys from a flag or from
/// GLASSBOX_TRUSTED_KEYS.
#[test]
fn the_cli_precompiles_signs_and_loads_only_with_trusted_keys() {
    let dir = Dir::new("cli");
    let component = dir.write(
        "friedman-tree.wasm",
        glassbox::examples::FRIEDMAN_TREE.component,
    );
    let rows = dir.write(
        "rows.jsonl",
        glassbox::examples::FRIEDMAN_TREE.sample_rows.as_bytes(),
    );
    let prefix = dir.path("fleet");
    let (ok, _, err) = glassbox(&["keygen", "--out", prefix.to_str().unwrap()], &[]);
    assert!(ok, "{err}");
    let key = dir.path("fleet.key");
    let public = dir.path("fleet.pub");
    let (key, public) = (key.to_str().unwrap(), public.to_str().unwrap());
    let cwasm = dir.path("friedman-tree.cwasm");
    let cwasm = cwasm.to_str().unwrap();
    let (ok, _, err) = glassbox(&["precompile", &component, "-o", cwasm, "--key", key], &[]);
    assert!(ok, "{err}");
    assert!(err.contains("signed by key"), "{err}");

    let (ok, want, _) = glassbox(&["score", &component, &rows, "--no-cache"], &[]);
    assert!(ok);
    // Without a key: refused, naming the ways to give one.
    let (ok, _, err) = glassbox(&["score", cwasm, &rows], &[]);
    assert!(!ok && err.contains("no trusted key is configured"), "{err}");
    // With the flag, or the variable: the same answers as the component.
    let (ok, got, err) = glassbox(&["score", cwasm, &rows, "--trusted-key", public], &[]);
    assert!(ok, "{err}");
    assert_eq!(got, want);
    let (ok, got, err) = glassbox(
        &["score", cwasm, &rows],
        &[("GLASSBOX_TRUSTED_KEYS", public)],
    );
    assert!(ok, "{err}");
    assert_eq!(got, want);
    // The variable binds the component too: unsigned, it is refused.
    let (ok, _, err) = glassbox(
        &["score", &component, &rows],
        &[("GLASSBOX_TRUSTED_KEYS", public)],
    );
    assert!(!ok && err.contains("it is not signed"), "{err}");
    let (ok, out, err) = glassbox(&["inspect", cwasm, "--key", public], &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "code:     precompiled for {}",
            precompiled::host_target()
        )) && out.contains(", verified"),
        "{out}"
    );
    // Unsigned output says how to sign it; `glassbox sign` then makes it
    // loadable, and `verify` accepts it.
    let bare = dir.path("bare.cwasm");
    let bare = bare.to_str().unwrap();
    let (ok, _, err) = glassbox(&["precompile", &component, "-o", bare], &[]);
    assert!(ok && err.contains("NOT signed"), "{err}");
    let (ok, _, err) = glassbox(&["score", bare, &rows, "--trusted-key", public], &[]);
    assert!(!ok && err.contains("it is not signed"), "{err}");
    let (ok, _, err) = glassbox(&["sign", "--key", key, bare], &[]);
    assert!(ok, "{err}");
    let (ok, out, _) = glassbox(&["verify", "--key", public, bare], &[]);
    assert!(ok && out.contains("verified"), "{out}");
    let (ok, got, err) = glassbox(&["score", bare, &rows, "--trusted-key", public], &[]);
    assert!(ok, "{err}");
    assert_eq!(got, want);
    // A bad target is named.
    let (ok, _, err) = glassbox(
        &[
            "precompile",
            &component,
            "-o",
            bare,
            "--target",
            "vax-dec-ultrix",
        ],
        &[],
    );
    assert!(!ok && err.contains("vax-dec-ultrix"), "{err}");
}

/// Whether the edge builds are at hand (`GLASSBOX_REQUIRE_SERVICES=1`
/// makes their absence a failure, as for the other services).
fn edge_binary(var: &str) -> Option<String> {
    util::service_vars("edge build (scripts/edge.sh)", [var]).map(|[v]| v)
}

/// The command that runs the aarch64 runtime: qemu-user, with Debian's
/// aarch64 libraries as the root of its dynamic loader.
///
/// With 8 instance slots (`GLASSBOX_MAX_INSTANCES`, `--max-instances`)
/// rather than 256: qemu-user keeps the guest's page flags itself, page by
/// page, and the pool's terabyte of reserved address space took it 15 s
/// to map at every start (0.4 s with 8); hardware maps it at once.
fn aarch64(binary: &str) -> Command {
    let mut c = Command::new("qemu-aarch64");
    c.env(
        "QEMU_LD_PREFIX",
        std::env::var("QEMU_LD_PREFIX").unwrap_or_else(|_| "/usr/aarch64-linux-gnu".into()),
    )
    .env("GLASSBOX_MAX_INSTANCES", "8")
    .arg(binary);
    c
}

fn native(binary: &str) -> Command {
    Command::new(binary)
}

/// Runs `score` through `command`, returning success, stdout and stderr.
fn score_with(mut command: Command, args: &[&str]) -> (bool, String, String) {
    let out = command
        .arg("score")
        .args(["--max-instances", "8"])
        .args(args)
        .env_remove("GLASSBOX_TRUSTED_KEYS")
        .env("GLASSBOX_CACHE_DIR", "/nonexistent/glassbox-edge")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every reference pipeline, precompiled for `target` and scored by the
/// runtime build `run` through `glassbox score`: the same bits as this
/// machine's compiled answers, and scikit-learn's labels.
fn reference_answers_match(run: impl Fn() -> Command, target: &str, what: &str) {
    let dir = Dir::new(&format!("ref-{target}"));
    let (secret, public) = sign::keygen();
    let public = dir.write("fleet.pub", public.as_bytes());
    let node = Engine::new().unwrap();
    for name in REFERENCE {
        let component = compiled(fx::SKLEARN, name);
        let rows = inputs(name);
        let want = as_text(
            &node
                .load(&component)
                .unwrap()
                .score_rows(&util::rows(&rows))
                .unwrap(),
        );
        let code = EngineBuilder::default()
            .precompile(&component, Some(target))
            .unwrap();
        let cwasm = dir.write(
            &format!("{name}.cwasm"),
            &sign::sign(&code, &secret).unwrap(),
        );
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        let rows_file = dir.write(&format!("{name}.jsonl"), text.as_bytes());
        let (ok, out, err) = score_with(run(), &[&cwasm, &rows_file, "--trusted-key", &public]);
        assert!(ok, "{what}, {name}: {err}");
        let got: Vec<String> = out.lines().map(str::to_string).collect();
        assert_eq!(got.len(), want.len(), "{what}, {name}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g, w,
                "{what}, {name}, row {i}: not the same bits as x86-64 native"
            );
        }
        // And scikit-learn's labels, the conformance check's strictest part.
        let expected = util::jsonl(&format!("{}/{name}.expected.jsonl", fx::SKLEARN));
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            let g: serde_json::Value = serde_json::from_str(g).unwrap();
            // (churn_coltrans_rf's labels may flip near 0.5: see compile.rs.)
            if let (Some(gl), Some(el)) = (g.get("label"), e.get("label"))
                && name != "churn_coltrans_rf"
            {
                assert_eq!(
                    gl.to_string().trim_matches('"'),
                    el.to_string().trim_matches('"'),
                    "{what}, {name}, row {i}: label differs from scikit-learn"
                );
            }
        }
    }
}

/// The sandbox's limits, on `run`: a loop meets its deadline, a memory hog
/// its cap, runaway recursion the stack limit and a trap fails its row;
/// each costs its row, the next row is answered, the process exits 1.
fn limits_hold(run: impl Fn() -> Command, target: &str, what: &str) {
    let dir = Dir::new(&format!("limits-{target}"));
    let (secret, public) = sign::keygen();
    let public = dir.write("fleet.pub", public.as_bytes());
    let rows = dir.write("rows.jsonl", b"{\"x\": 1.0}\n{\"x\": 0.0}\n");
    let cases = [
        (
            fx::LOOPS_FOREVER,
            "did not finish within its 300ms deadline",
        ),
        (fx::GROWS_MEMORY, "the limit is 33554432 bytes"),
        (fx::DEEP_RECURSION, "overflowed its stack"),
        (fx::TRAPS, "trapped"),
    ];
    for (fixture, says) in cases {
        let component = std::fs::read(fixture).unwrap();
        let code = EngineBuilder::default()
            .limits(Limits::default())
            .precompile(&component, Some(target))
            .unwrap();
        let name = Path::new(fixture).file_stem().unwrap().to_str().unwrap();
        let cwasm = dir.write(
            &format!("{name}.cwasm"),
            &sign::sign(&code, &secret).unwrap(),
        );
        let started = Instant::now();
        let (ok, out, err) = score_with(
            run(),
            &[
                &cwasm,
                &rows,
                // One row per call: the hostile row's call fails alone.
                "--batch-size",
                "1",
                "--trusted-key",
                &public,
                "--deadline-ms",
                "300",
                "--memory-mib",
                "32",
            ],
        );
        assert!(!ok, "{what}, {name}: the failed row sets the exit status");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{what}, {name}: {out}{err}");
        assert!(
            lines[0].contains("\"error\"") && lines[0].contains(says),
            "{what}, {name}: {}",
            lines[0]
        );
        assert_eq!(lines[1], "{\"value\":0.0}", "{what}, {name}: the next row");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}, {name}: took {:?}",
            started.elapsed()
        );
    }
}

/// `glassbox serve` of the runtime build `run` over loopback: a directory
/// of precompiled models, a request answered with the native bits, and a
/// component (which it cannot compile) refused with the reason.
fn serve_smoke(run: impl Fn() -> Command, target: &str, what: &str) {
    let dir = Dir::new(&format!("serve-{target}"));
    let models = dir.path("models");
    std::fs::create_dir_all(&models).unwrap();
    let (secret, public) = sign::keygen();
    let public = dir.write("fleet.pub", public.as_bytes());
    let component = glassbox::examples::FRIEDMAN_TREE.component;
    let code = EngineBuilder::default()
        .precompile(component, Some(target))
        .unwrap();
    std::fs::write(
        models.join("friedman-tree.cwasm"),
        sign::sign(&code, &secret).unwrap(),
    )
    .unwrap();
    let mut child = run()
        .args(["serve", models.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(["--trusted-key", &public])
        .env("GLASSBOX_CACHE_DIR", dir.path("cache"))
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    // Held open to the end: a server whose stdout closes fails its next
    // line.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let child = Kill(child);
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .split("listening on http://")
        .nth(1)
        .unwrap_or_else(|| panic!("{what}: {first}"))
        .trim()
        .to_string();
    let row = glassbox::examples::FRIEDMAN_TREE
        .sample_rows
        .lines()
        .next()
        .unwrap();
    let row: serde_json::Map<String, serde_json::Value> = serde_json::from_str(row).unwrap();
    let want = Engine::new()
        .unwrap()
        .load(component)
        .unwrap()
        .score_rows(std::slice::from_ref(&row))
        .unwrap();
    let want = match &want[0] {
        glassbox::Prediction::Value { value } => *value,
        other => panic!("{other:?}"),
    };
    let body = serde_json::json!({ "instances": [row] }).to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "POST /v1/models/friedman-tree:predict HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{what}: {answer}");
    drop(stdout);
    let json: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        json["predictions"][0]["value"]
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: {json}"))
            .to_bits(),
        want.to_bits(),
        "{what}: {json}"
    );
    drop(child);

    // A component: the runtime has no compiler, and says what to do.
    let wasm = dir.write(
        "friedman-tree.wasm",
        &sign::sign(component, &secret).unwrap(),
    );
    let (ok, _, err) = score_with(run(), &[&wasm, "--trusted-key", &public]);
    assert!(
        !ok && err.contains("runtime-only build, which has no compiler")
            && err.contains("glassbox precompile"),
        "{what}: {err}"
    );
}

#[test]
fn the_runtime_build_answers_with_the_same_bits() {
    let Some(bin) = edge_binary("GLASSBOX_EDGE_RUNTIME") else {
        return;
    };
    let target = precompiled::host_target();
    reference_answers_match(|| native(&bin), target, "runtime build");
    limits_hold(|| native(&bin), target, "runtime build");
    serve_smoke(|| native(&bin), target, "runtime build");
}

#[test]
fn aarch64_under_qemu_answers_with_the_same_bits() {
    let Some(bin) = edge_binary("GLASSBOX_EDGE_AARCH64") else {
        return;
    };
    reference_answers_match(|| aarch64(&bin), AARCH64, "aarch64 under qemu");
}

#[test]
fn aarch64_under_qemu_keeps_the_sandbox_limits() {
    let Some(bin) = edge_binary("GLASSBOX_EDGE_AARCH64") else {
        return;
    };
    limits_hold(|| aarch64(&bin), AARCH64, "aarch64 under qemu");
}

#[test]
fn aarch64_under_qemu_serves_over_loopback() {
    let Some(bin) = edge_binary("GLASSBOX_EDGE_AARCH64") else {
        return;
    };
    serve_smoke(|| aarch64(&bin), AARCH64, "aarch64 under qemu");
}
