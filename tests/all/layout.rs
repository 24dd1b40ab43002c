//! The map of `host/src` in CONTRIBUTING.md, as a test: each folder imports
//! only from the folders before it in `LAYERS` (and from the crate-wide
//! `error`, `contract` and `examples`), so no two modules import each other
//! and running a model never imports the compiler.

use std::path::{Path, PathBuf};

/// The folders of `host/src`, lowest first, as CONTRIBUTING.md lists them.
const LAYERS: [&str; 7] = [
    "artifact",
    "ship",
    "telemetry",
    "runtime",
    "monitor",
    "compile",
    "serve",
];

/// What the crate root re-exports, by the folder it comes from: a `use
/// crate::Model` is a dependency on `runtime` all the same.
fn home_of(name: &str) -> &str {
    match name {
        "Engine" | "EngineBuilder" | "Model" | "Limits" | "LogSink" | "CodeSource"
        | "DEFAULT_EPOCH_TICK" | "describe" | "Prediction" | "Row" => "runtime",
        "componentize" => "compile",
        "Error" | "Result" | "Violation" | "SignatureError" => "error",
        n if n.starts_with(|c: char| c.is_ascii_uppercase()) => "contract",
        n => n,
    }
}

/// The first path segment of every `crate::…` path in `code`, comments
/// left out, including each item of a `crate::{…}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let code: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            found.push(first_segment(rest));
            continue;
        };
        // A group, maybe over several lines: split at top-level commas, up
        // to its closing brace.
        let mut depth = 1;
        let mut item = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => {
                    found.push(first_segment(&item));
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        found.push(first_segment(&item));
    }
    found.retain(|s| !s.is_empty());
    found
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn folders_import_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    for (rank, layer) in LAYERS.iter().enumerate() {
        let dir = src.join(layer);
        assert!(
            dir.is_dir(),
            "{} is in the map but not in host/src",
            dir.display()
        );
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        for file in files {
            let code = std::fs::read_to_string(&file).unwrap();
            for path in crate_paths(&code) {
                let home = home_of(&path);
                let allowed = matches!(home, "error" | "contract" | "examples")
                    || LAYERS[..=rank].contains(&home);
                if !allowed {
                    problems.push(format!(
                        "{} uses crate::{path} (from `{home}`), above `{layer}`",
                        file.strip_prefix(&src).unwrap().display()
                    ));
                }
            }
        }
    }
    // The crate-wide pieces depend on nothing but each other's basics.
    for (file, may) in [("error.rs", &["contract"][..]), ("contract.rs", &[][..])] {
        let code = std::fs::read_to_string(src.join(file)).unwrap();
        for path in crate_paths(&code) {
            if !may.contains(&home_of(&path)) {
                problems.push(format!("{file} uses crate::{path}"));
            }
        }
    }
    // Every folder of host/src is on the map.
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !LAYERS.contains(&name.as_str()) {
                problems.push(format!("host/src/{name} is not on the map"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scanner_sees_groups_and_plain_paths() {
    let code = "use crate::{Model, monitor::{drift, Monitor}, serve};\nuse crate::{\n    Batch,\n    ship::oci,\n};\nlet x = crate::compile::compile(a);\n// crate::ship in a comment\n";
    assert_eq!(
        crate_paths(code),
        ["Model", "monitor", "serve", "Batch", "ship", "compile"].map(String::from)
    );
}
