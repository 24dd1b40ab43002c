//! Empty on purpose: see `Cargo.toml` for why this crate exists.
