//! Builds the example models in `examples/models/` into components that the
//! `glassbox` binary and library embed (see `src/examples.rs`), so that
//! `glassbox score digits-logreg` works on a fresh machine with no files.

include!("build_guests.rs");

const EXAMPLES: [&str; 2] = ["digits-logreg", "friedman-tree"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest.parent().unwrap().to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    rerun_if_guest_sources_change(&workspace, &["examples/models"]);
    let packages: Vec<String> = EXAMPLES
        .iter()
        .map(|e| format!("example-model-{e}"))
        .collect();
    let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
    let modules = build_guests(&workspace, "wasm32-unknown-unknown", &packages);
    for (name, module) in EXAMPLES.iter().zip(modules) {
        componentize_file(&module, &out.join(format!("{name}.wasm")));
    }
}
