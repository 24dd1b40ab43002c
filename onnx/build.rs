//! Generates the ONNX protobuf types from `proto/onnx.proto`, the official
//! schema of ONNX v1.22.0 (see `proto/README.md`), with prost. protox parses
//! the file in pure Rust, so building needs no `protoc`.

fn main() {
    let proto = "proto/onnx.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors =
        protox::compile([proto], ["proto"]).unwrap_or_else(|e| panic!("parse {proto}: {e}"));
    prost_build::Config::new()
        // The schema's comments are prose, some with indented examples
        // that rustdoc would take for doctests.
        .disable_comments(["."])
        .compile_fds(descriptors)
        .unwrap_or_else(|e| panic!("generate the ONNX types from {proto}: {e}"));
}
