//! Builds every guest fixture in `fixtures/` and writes `fixtures.rs`, with
//! one constant per fixture holding the path of its component.
//!
//! Fixtures are named for the behaviour they trigger. All but one build for
//! wasm32-unknown-unknown and are componentized here; `imports-wasi` builds
//! for wasm32-wasip2 with std, which is what makes it import WASI.

include!("../host/build_guests.rs");

const FIXTURES: [&str; 10] = [
    "echo",
    "loops-forever",
    "grows-memory",
    "deep-recursion",
    "traps",
    "bad-output",
    "schema-bomb",
    "floods-errors",
    "leaks-between-calls",
    "abuses-linalg",
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest.parent().unwrap().to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    rerun_if_guest_sources_change(&workspace, &["tests/fixtures"]);

    let mut consts = String::new();
    let packages: Vec<String> = FIXTURES.iter().map(|f| format!("fixture-{f}")).collect();
    let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
    let modules = build_guests(&workspace, "wasm32-unknown-unknown", &packages);
    for (name, module) in FIXTURES.iter().zip(modules) {
        let path = out.join(format!("{name}.wasm"));
        componentize_file(&module, &path);
        consts += &constant(name, &path);
        if *name == "echo" {
            // The core module too, to test `glassbox componentize`.
            consts += &constant("echo-module", &module);
        }
    }
    let wasi = build_guests(&workspace, "wasm32-wasip2", &["fixture-imports-wasi"]);
    consts += &constant("imports-wasi", &wasi[0]);
    std::fs::write(out.join("fixtures.rs"), consts).unwrap();
}

fn constant(name: &str, path: &Path) -> String {
    format!(
        "/// Path of the `{name}` fixture component.\npub const {}: &str = {:?};\n",
        name.to_uppercase().replace('-', "_"),
        path.display().to_string()
    )
}
