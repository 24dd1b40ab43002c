//! Turning a core module built with glassbox-guest into a component.

use crate::error::{Error, Result};

/// Wraps a core wasm module built for `wasm32-unknown-unknown` with
/// glassbox-guest into a component.
///
/// The guest SDK's bindings embed the `glassbox:model` world in a custom
/// section of the module; this reads it and adds the component layer around
/// the module, validating the result.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    if wasmparser::Parser::is_component(module) {
        return Ok(module.to_vec());
    }
    if !wasmparser::Parser::is_core_wasm(module) {
        return Err(Error::NotAComponent(
            "expected a core WebAssembly module to componentize".into(),
        ));
    }
    wit_component::ComponentEncoder::default()
        .module(module)
        .and_then(|e| e.validate(true).encode())
        .map_err(|e| {
            Error::NotAComponent(format!(
                "cannot componentize the module (was it built with glassbox-guest's export_model!?): {e:#}"
            ))
        })
}
