//! Empty on purpose: it makes cargo resolve the build-dependencies, whose
//! features are the point of this crate (see `Cargo.toml`).

fn main() {}
