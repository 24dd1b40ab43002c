use glassbox::{CodeSource, Engine, Error};
use glassbox_fixtures as fx;

use crate::util;

#[test]
fn garbage_bytes_are_not_a_component() {
    let err = util::engine().load(b"hello, world").unwrap_err();
    assert!(matches!(err, Error::NotAComponent(_)), "{err}");
    assert!(err.to_string().contains("magic number"), "{err}");
}

#[test]
fn empty_file_is_not_a_component() {
    let err = util::engine().load(b"").unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn core_module_is_refused_with_a_hint() {
    // The smallest valid core module: magic number and version 1.
    let err = util::engine().load(b"\0asm\x01\0\0\0").unwrap_err();
    assert!(matches!(err, Error::NotAComponent(_)), "{err}");
    assert!(err.to_string().contains("core WebAssembly module"), "{err}");
    assert!(err.to_string().contains("componentize"), "{err}");
}

#[test]
fn component_of_another_world_is_refused() {
    // A valid, empty component: it exports nothing.
    let err = util::engine().load(b"\0asm\x0d\0\x01\0").unwrap_err();
    assert!(matches!(err, Error::WrongWorld { .. }), "{err}");
    assert!(err.to_string().contains("exports: nothing"), "{err}");
}

#[test]
fn component_of_another_contract_version_is_refused() {
    // Rename every `@0.2.0` of the echo fixture to `@0.1.0`: same length, so
    // the binary stays valid, but it now speaks the old glassbox:model@0.1.0.
    let mut bytes = std::fs::read(fx::ECHO).unwrap();
    let (from, to) = (b"@0.2.0", b"@0.1.0");
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
        }
        i += 1;
    }
    let err = util::engine().load(&bytes).unwrap_err();
    assert!(matches!(err, Error::WrongVersion { .. }), "{err}");
    assert!(err.to_string().contains("@0.1.0"), "{err}");
    assert!(err.to_string().contains("glassbox:model@0.2.0"), "{err}");
    assert!(err.to_string().contains("glassbox compile"), "{err}");
}

#[test]
fn wasi_imports_are_named_and_refused() {
    let err = util::engine().load_file(fx::IMPORTS_WASI).unwrap_err();
    let Error::ForbiddenImports { imports } = &err else {
        panic!("expected ForbiddenImports, got {err}");
    };
    let message = err.to_string();
    assert!(
        imports.iter().any(|i| i.starts_with("wasi:filesystem/")),
        "{imports:?}"
    );
    assert!(
        imports.iter().any(|i| i.starts_with("wasi:sockets/")),
        "{imports:?}"
    );
    assert!(
        message.contains("glassbox grants no capabilities"),
        "{message}"
    );
}

#[test]
fn the_engine_stays_usable_after_refusals() {
    let engine = util::engine();
    for bad in [&b"junk"[..], b"\0asm\x01\0\0\0", b"\0asm\x0d\0\x01\0"] {
        assert!(engine.load(bad).is_err());
    }
    assert!(engine.load_file(fx::IMPORTS_WASI).is_err());
    let model = engine.load_file(fx::ECHO).unwrap();
    assert_eq!(model.name(), "echo");
}

#[test]
fn missing_file_names_the_path() {
    let err = util::engine()
        .load_file("/nonexistent/model.wasm")
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/model.wasm"), "{err}");
}

#[test]
fn compiled_code_is_cached_and_reused() {
    let dir = std::env::temp_dir().join(format!("glassbox-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let engine = || Engine::builder().cache_dir(&dir).build().unwrap();

    let first = engine().load_file(fx::ECHO).unwrap();
    assert_eq!(first.code_source(), CodeSource::Compiled);
    let cached: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(cached.len(), 1, "one compiled artifact in the cache");

    // A new engine, as after a restart: no compilation.
    let second = engine().load_file(fx::ECHO).unwrap();
    assert_eq!(second.code_source(), CodeSource::Cache);
    let row = util::rows(&[serde_json::json!({"x": 1.0, "y": 2.0, "color": "red"})]);
    assert_eq!(
        second.score_rows(&row).unwrap(),
        first.score_rows(&row).unwrap()
    );

    // A corrupt cache entry is recompiled, not trusted.
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&entry, b"not compiled code").unwrap();
    let third = engine().load_file(fx::ECHO).unwrap();
    assert_eq!(third.code_source(), CodeSource::Compiled);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn describe_lists_what_inspect_shows() {
    let model = util::load(fx::ECHO);
    let d = glassbox::describe(&model);
    assert_eq!(d["name"], "echo");
    assert_eq!(d["version"], "1.2.3");
    assert_eq!(d["task"], "regression");
    assert_eq!(d["outputs"]["target"], "sum");
    assert_eq!(
        d["inputs"][2]["categories"],
        serde_json::json!(["red", "green"])
    );
    assert_eq!(d["inputs"][1]["nullable"], true);
    assert!(d["digest"].as_str().unwrap().starts_with("sha256:"));
    // The training profile crosses the boundary intact.
    let profile = &d["profile"];
    assert_eq!(profile["features"][0]["numeric"]["mean"], 1.0);
    assert_eq!(
        profile["features"][1]["numeric"]["histogram"]["counts"],
        serde_json::json!([4, 5])
    );
    assert_eq!(
        profile["features"][2]["categorical"]["frequencies"]["green"],
        3
    );
    assert_eq!(
        profile["predictions"]["values"]["quantiles"],
        serde_json::json!([[0.5, 104.0]])
    );
    assert_eq!(
        d["size_bytes"].as_u64().unwrap(),
        std::fs::metadata(fx::ECHO).unwrap().len()
    );
}
