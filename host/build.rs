//! Builds the example models in `examples/models/` into components that the
//! `glassbox` binary and library embed (see `src/examples.rs`), so that
//! `glassbox score digits-logreg` works on a fresh machine with no files;
//! and the runner guest (`runner/`), the core module `glassbox compile`
//! initialises with a pipeline and snapshots; and the OIP gRPC service.

include!("build_guests.rs");

const EXAMPLES: [&str; 2] = ["digits-logreg", "friedman-tree"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest.parent().unwrap().to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // The triple `glassbox precompile` names this host by, and a precompiled
    // model's header is checked against.
    println!(
        "cargo:rustc-env=GLASSBOX_TARGET={}",
        std::env::var("TARGET").unwrap()
    );
    generate_grpc(&manifest);
    // The runtime-only build has no compiler, so neither the runner (what
    // `glassbox compile` snapshots) nor the example components it could not
    // load.
    if std::env::var_os("CARGO_FEATURE_COMPILER").is_none() {
        return;
    }
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

/// The Open Inference Protocol's gRPC messages and service (`serve::grpc`)
/// from the vendored `proto/grpc_predict_v2.proto`: protox parses it in
/// pure Rust, so building needs no `protoc`. The client is generated too,
/// without a transport of its own: tests and benchmarks use it over a
/// channel they bring.
fn generate_grpc(manifest: &std::path::Path) {
    let proto = manifest.join("proto/grpc_predict_v2.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let descriptors = protox::compile([&proto], [manifest.join("proto")])
        .unwrap_or_else(|e| panic!("parse {}: {e}", proto.display()));
    tonic_prost_build::configure()
        .build_transport(false)
        // The comments are the specification's prose.
        .disable_comments(["."])
        .compile_fds(descriptors)
        .unwrap_or_else(|e| panic!("generate the gRPC service from {}: {e}", proto.display()));
}
