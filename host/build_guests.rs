// Builds guest crates of this workspace to wasm components. Shared by the
// host's build.rs (bundled examples) and the tests' build.rs (fixtures) with
// `include!`, because a build script cannot depend on a workspace crate
// without compiling it (and wasmtime) a second time for the build host.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds `packages` for `target` in release mode, in a target directory of
/// its own (the outer cargo holds the lock on ours), and returns the path of
/// each package's `.wasm`.
fn build_guests(workspace: &Path, target: &str, packages: &[&str]) -> Vec<PathBuf> {
    ensure_target(target);
    let target_dir = workspace.join("target").join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--release", "--locked", "--target", target])
        .arg("--target-dir")
        .arg(&target_dir)
        // Guests ship small and fast: no debug info, symbols stripped, and
        // one LTO'd codegen unit so the SDK's building blocks inline into
        // the model's loops.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        // GLASSBOX_GUEST_SYMBOLS=1 keeps function names, so that `perf`
        // (with GLASSBOX_PERF_MAP=1) names the guests' own functions.
        .env(
            "CARGO_PROFILE_RELEASE_STRIP",
            if std::env::var_os("GLASSBOX_GUEST_SYMBOLS").is_some_and(|v| v == "1") {
                "false"
            } else {
                "true"
            },
        )
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        // What the outer build sets for its own target must not leak in
        // (clippy's wrapper, host rustflags, coverage instrumentation).
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR");
    for p in packages {
        cmd.args(["-p", p]);
    }
    let status = cmd.status().expect("run cargo to build guests");
    assert!(
        status.success(),
        "building {packages:?} for {target} failed; is the target installed? \
         (`rustup target add {target}`)"
    );
    packages
        .iter()
        .map(|p| {
            target_dir
                .join(target)
                .join("release")
                .join(format!("{}.wasm", p.replace('-', "_")))
        })
        .collect()
}

/// Installs the wasm target with rustup when the toolchain lacks it.
///
/// rust-toolchain.toml lists the targets, but rustup adds them only when it
/// installs the toolchain itself, not to a toolchain that is already there.
/// Doing it here keeps `cargo run`/`cargo test` working on a fresh machine.
fn ensure_target(target: &str) {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.is_some_and(|s| s.join("lib/rustlib").join(target).exists());
    if installed {
        return;
    }
    println!("cargo:warning=installing the {target} target with rustup (see rust-toolchain.toml)");
    let ok = Command::new("rustup")
        .args(["target", "add", target])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the {target} target is missing and `rustup target add {target}` failed; install it and rebuild"
    );
}

/// Wraps a core module in a component, the way `glassbox componentize` does.
fn componentize_file(module: &Path, out: &Path) {
    let bytes = std::fs::read(module).expect("read guest module");
    let component = wit_component::ComponentEncoder::default()
        .module(&bytes)
        .and_then(|e| e.validate(true).encode())
        .unwrap_or_else(|e| panic!("componentize {}: {e:#}", module.display()));
    std::fs::write(out, component).expect("write component");
}

/// Reruns the build script when anything a guest is built from changes.
fn rerun_if_guest_sources_change(workspace: &Path, dirs: &[&str]) {
    println!("cargo:rerun-if-env-changed=GLASSBOX_GUEST_SYMBOLS");
    for dir in ["wit", "guest-sdk", "Cargo.lock"].iter().chain(dirs) {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
}
