//! Builds the example models in `examples/models/` into components that the
//! `glassbox` binary and library embed (see `src/examples.rs`), so that
//! `glassbox score digits-logreg` works on a fresh machine with no files;
//! and the runner guest (`runner/`), the core module `glassbox compile`
//! initialises with a pipeline and snapshots.

include!("build_guests.rs");

const EXAMPLES: [&str; 2] = ["digits-logreg", "friedman-tree"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest.parent().unwrap().to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    rerun_if_guest_sources_change(&workspace, &["examples/models", "host/runner", "onnx"]);
    let mut packages: Vec<String> = EXAMPLES
        .iter()
        .map(|e| format!("example-model-{e}"))
        .collect();
    packages.push("glassbox-runner".into());
    let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
    // One nested cargo for all guests: they share the SDK's build.
    let mut modules = build_guests(&workspace, "wasm32-unknown-unknown", &packages);
    let runner = modules.pop().expect("runner module");
    std::fs::copy(&runner, out.join("runner.wasm")).expect("copy the runner module");
    for (name, module) in EXAMPLES.iter().zip(modules) {
        componentize_file(&module, &out.join(format!("{name}.wasm")));
    }
}
