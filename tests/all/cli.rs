//! The `glassbox` binary, run as a user would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use glassbox_fixtures as fx;

fn glassbox(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .arg("--no-cache")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run glassbox");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn score_with_no_rows_uses_the_bundled_sample() {
    let out = glassbox(&["score", "digits-logreg"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = lines(&out);
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["label"], "0");
    assert_eq!(lines[0]["probabilities"].as_array().unwrap().len(), 10);
}

#[test]
fn a_bad_row_gets_an_error_line_and_the_others_are_scored() {
    let rows = concat!(
        r#"{"x": 1, "y": 2, "color": "red"}"#,
        "\n",
        r#"{"x": "one", "y": 2, "color": "red"}"#,
        "\n",
        "not json\n",
        "\n",
        r#"{"x": 3, "y": null, "color": "green"}"#,
        "\n",
    );
    let out = glassbox(&["score", fx::ECHO, "-"], Some(rows));
    assert_eq!(out.status.code(), Some(1));
    let lines = lines(&out);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], serde_json::json!({"value": 3.0}));
    assert_eq!(lines[1]["row"], 1);
    let error = lines[1]["error"].as_str().unwrap();
    assert!(
        error.contains("row 1, field `x`: expected a number"),
        "{error}"
    );
    assert_eq!(lines[2]["row"], 2);
    assert!(
        lines[2]["error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    assert_eq!(lines[3], serde_json::json!({"value": 104.0}));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("scored 2 rows, 2 with errors"), "{stderr}");
}

#[test]
fn a_trapping_model_fails_its_rows_not_the_process() {
    let rows = "{\"x\": 1}\n";
    let out = glassbox(&["score", fx::TRAPS, "--batch-size", "1"], Some(rows));
    assert_eq!(out.status.code(), Some(1));
    let lines = lines(&out);
    assert!(lines[0]["error"].as_str().unwrap().contains("trapped"));
}

#[test]
fn inspect_prints_the_contract() {
    let out = glassbox(&["inspect", fx::ECHO], None);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "name:     echo",
        "version:  1.2.3",
        "task:     regression",
        "digest:   sha256:",
        "color",
        "categorical [red, green], may be missing",
        "profile:  training profile included",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }

    let out = glassbox(&["inspect", "--json", "friedman-tree"], None);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["task"], "regression");
    assert_eq!(json["inputs"].as_array().unwrap().len(), 10);
}

#[test]
fn refused_models_exit_with_a_clear_message() {
    let out = glassbox(&["inspect", fx::IMPORTS_WASI], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("glassbox grants no capabilities"),
        "{stderr}"
    );

    let out = glassbox(&["score", "no-such-model.wasm"], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a bundled example"), "{stderr}");

    // A component wasmtime cannot compile: its reason once, naming the file
    // given, not the compiling process's scratch file.
    let cut = std::env::temp_dir().join(format!("cut-{}.wasm", std::process::id()));
    let echo = std::fs::read(fx::ECHO).unwrap();
    std::fs::write(&cut, &echo[..echo.len() / 2]).unwrap();
    let out = glassbox(&["inspect", cut.to_str().unwrap()], None);
    let _ = std::fs::remove_file(&cut);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("could not be loaded").count(), 1, "{stderr}");
    assert!(stderr.contains("failed to parse WebAssembly"), "{stderr}");
    assert!(!stderr.contains("glassbox-compile-"), "{stderr}");
}

#[test]
fn componentize_turns_a_guest_module_into_a_loadable_component() {
    let out_path = std::env::temp_dir().join(format!("echo-{}.wasm", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["componentize", fx::ECHO_MODULE, "-o"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = crate::util::engine().load_file(&out_path).unwrap();
    assert_eq!(model.name(), "echo");
    let _ = std::fs::remove_file(out_path);
}

/// `glassbox compile` then `glassbox score`, as a data scientist would: the
/// scored file reproduces onnxruntime's answers, and `inspect` shows what
/// the compile embedded.
#[test]
fn compile_then_score_reproduces_the_expected_answers() {
    let dir = std::env::temp_dir().join(format!("glassbox-cli-compile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in crate::compile::REFERENCE {
        let out = dir.join(format!("{name}.wasm"));
        let out = out.to_str().unwrap();
        // One model goes through the CLI's compile; the others reuse the
        // library's (same code, and compiling them all twice is slow).
        if name == "churn_coltrans_rf" {
            // Soft expectations only: they are counted, not enforced, so
            // every row still scores.
            let expect = dir.join("expect.toml");
            std::fs::write(
                &expect,
                "owner = \"churn-team\"\ncontact = \"churn@example.com\"\n\
                 [features.age]\nmin = 18\nmax = 60\n\
                 [features.device]\ncategories = [\"ios\", \"android\", \"web\"]\n\
                 [outputs.share.churn]\nmax = 0.5\n",
            )
            .unwrap();
            let compiled = Command::new(env!("CARGO_BIN_EXE_glassbox"))
                .args(["compile", &format!("{}/{name}.onnx", fx::SKLEARN)])
                .args(["--train", &format!("{}/{name}.train.jsonl", fx::SKLEARN)])
                .args(["--expect", expect.to_str().unwrap()])
                .args(["-o", out, "--name", "churn", "--version", "2.1.0"])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&compiled.stderr);
            assert!(compiled.status.success(), "{stderr}");
            assert!(stderr.contains("trees:     100 trees"), "{stderr}");
            assert!(stderr.contains("wrote "), "{stderr}");
            assert!(
                stderr.contains("expects:   3 rule(s), owner churn-team <churn@example.com>"),
                "{stderr}"
            );
        } else {
            std::fs::write(out, crate::compile::compiled(fx::SKLEARN, name)).unwrap();
        }
        let inputs =
            std::fs::read_to_string(format!("{}/{name}.inputs.jsonl", fx::SKLEARN)).unwrap();
        let scored = glassbox(&["score", out], Some(&inputs));
        assert!(
            scored.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&scored.stderr)
        );
        let got = lines(&scored);
        let want = crate::util::jsonl(&format!("{}/{name}.expected.jsonl", fx::SKLEARN));
        assert_eq!(got.len(), want.len(), "{name}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            if let Some(value) = g.get("value") {
                let (v, o) = (
                    value.as_f64().unwrap(),
                    w["onnxruntime_value"].as_f64().unwrap(),
                );
                assert!(
                    (v - o).abs() <= 1e-5 * o.abs().max(1.0),
                    "{name} row {i}: {v} vs {o}"
                );
                continue;
            }
            let label = match &w["onnxruntime_label"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(g["label"], label, "{name} row {i}");
            let p: Vec<f64> = serde_json::from_value(g["probabilities"].clone()).unwrap();
            let o: Vec<f64> = serde_json::from_value(w["onnxruntime_proba"].clone()).unwrap();
            assert!(
                p.iter().zip(&o).all(|(a, b)| (a - b).abs() <= 1e-5),
                "{name} row {i}: {p:?} vs {o:?}"
            );
        }
    }
    let churn = dir.join("churn_coltrans_rf.wasm");
    let inspected = glassbox(&["inspect", "--json", churn.to_str().unwrap()], None);
    assert!(inspected.status.success());
    let d: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(d["name"], "churn");
    assert_eq!(d["version"], "2.1.0");
    assert_eq!(d["inputs"][5]["name"], "plan");
    assert_eq!(d["inputs"][5]["kind"], "categorical");
    assert_eq!(d["inputs"][1]["nullable"], true);
    assert_eq!(d["profile"]["features"].as_array().unwrap().len(), 8);
    assert!(d["profile"]["features"][0]["numeric"]["histogram"]["edges"].is_array());
    assert_eq!(d["source"]["producer"], "skl2onnx 1.20.0");
    assert_eq!(d["source"]["onnx_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(d["expectations"]["owner"], "churn-team");
    assert_eq!(d["expectations"]["features"]["age"]["max"], 60.0);
    let text = glassbox(&["inspect", churn.to_str().unwrap()], None);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("source:   ONNX sha256:"), "{text}");
    assert!(
        text.contains("owner:    churn-team <churn@example.com>"),
        "{text}"
    );
    assert!(text.contains("  age: within [18, 60] (soft)"), "{text}");
    assert!(
        text.contains("  share of class churn: at most 0.5 (soft)"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compile_errors_name_the_problem() {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["compile", &format!("{}/bc_gbc.onnx", fx::SKLEARN)])
        .args([
            "--train",
            &format!("{}/churn_coltrans_rf.train.jsonl", fx::SKLEARN),
        ])
        .args(["-o", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("graph input `input` has 30 columns but the training data has 8"),
        "{stderr}"
    );
}

#[test]
fn expectations_that_do_not_fit_the_model_are_refused_before_compiling() {
    let dir = std::env::temp_dir().join(format!("glassbox-cli-expect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let expect = dir.join("expect.toml");
    std::fs::write(
        &expect,
        "owner = \"t\"\ncontact = \"c\"\n[features.agee]\nmax = 3\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args([
            "compile",
            &format!("{}/churn_coltrans_rf.onnx", fx::SKLEARN),
        ])
        .args([
            "--train",
            &format!("{}/churn_coltrans_rf.train.jsonl", fx::SKLEARN),
        ])
        .args(["--expect", expect.to_str().unwrap(), "-o", "/dev/null"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("features.agee: the model has no feature `agee`; its features are age, "),
        "{stderr}"
    );
    assert!(
        !stderr.contains("scoring and profiling"),
        "refused before the long steps: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn score_isolates_a_row_whose_answer_is_unusable() {
    let row = |v: f64| {
        let map: serde_json::Map<String, serde_json::Value> = (0..8)
            .flat_map(|r| (0..8).map(move |c| (format!("pixel_{r}_{c}"), serde_json::json!(v))))
            .collect();
        serde_json::to_string(&map).unwrap()
    };
    let input = format!("{}\n{}\n{}\n", row(1.0), row(1.7e308), row(2.0));
    let out = glassbox(&["score", "digits-logreg", "-"], Some(&input));
    assert_eq!(out.status.code(), Some(1));
    let lines = lines(&out);
    assert_eq!(lines.len(), 3);
    assert!(lines[0]["label"].is_string(), "{}", lines[0]);
    assert_eq!(lines[1]["row"], 1);
    let error = lines[1]["error"].as_str().unwrap();
    assert!(
        error.starts_with("row 1: the model's answer is unusable"),
        "{error}"
    );
    assert!(lines[2]["label"].is_string(), "{}", lines[2]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("scored 2 rows, 1 with errors"), "{stderr}");
}

/// `--check-against` with scikit-learn's own answers: a converter that
/// silently changed the model (skl2onnx's HistGradientBoosting with
/// categorical features) is caught and nothing is written; a faithful
/// conversion passes.
#[test]
fn compile_checks_against_the_fitted_models_answers() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/coverage");
    let dir = std::env::temp_dir().join(format!("glassbox-cli-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |name: &str| {
        let inputs = crate::util::jsonl(&format!("{corpus}/{name}.inputs.jsonl"));
        let expected = crate::util::jsonl(&format!("{corpus}/{name}.expected.jsonl"));
        let check: String = inputs
            .iter()
            .zip(&expected)
            .map(|(i, e)| {
                let mut line = serde_json::json!({"input": i, "label": e["label"]});
                if let Some(p) = e.get("proba") {
                    line["probabilities"] = p.clone();
                }
                format!("{line}\n")
            })
            .collect();
        let check_path = dir.join(format!("{name}.check.jsonl"));
        std::fs::write(&check_path, check).unwrap();
        let out_path = dir.join(format!("{name}.wasm"));
        let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
            .args(["compile", &format!("{corpus}/{name}.onnx")])
            .args(["--train", &format!("{corpus}/{name}.train.jsonl")])
            .args(["--check-against", check_path.to_str().unwrap()])
            .args(["-o", out_path.to_str().unwrap()])
            .output()
            .unwrap();
        (out, out_path.exists())
    };
    let (out, written) = run("hist_gradient_boosting_classifier_categorical");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("disagrees with the fitted model"),
        "{stderr}"
    );
    assert!(stderr.contains("probabilities["), "{stderr}");
    assert!(!written);

    let (out, written) = run("logistic_regression");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("agrees with the fitted model on all 40 rows"),
        "{stderr}"
    );
    assert!(written);
    let _ = std::fs::remove_dir_all(&dir);
}
