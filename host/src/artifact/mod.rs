//! What a component file carries, read from its bytes alone: the header,
//! the digest, the custom sections Glassbox writes (where it came from,
//! what its owner expects, who signed it) and the interface it imports and
//! exports.
//!
//! Both sides use it: [`crate::compile`] writes the sections, the
//! [`crate::runtime`] reads them when it loads a model. Neither reaches
//! into the other.

use sha2::{Digest as _, Sha256};
use wasm_encoder::Encode as _;

use crate::error::{Error, Result};

pub mod expect;
pub mod precompiled;
pub mod sign;
mod source;

pub use source::{SOURCE_SECTION, Source};

/// The SHA-256 of a component's bytes: its identity in the code cache, in
/// traces (`glassbox.model.digest`) and in registries.
pub fn digest(component: &[u8]) -> [u8; 32] {
    Sha256::digest(component).into()
}

/// The names a compiled component imports and exports, as its type says
/// (for `glassbox:model` components: interface names with versions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interface {
    /// Import names, e.g. `glassbox:model/host@0.2.0`.
    pub imports: Vec<String>,
    /// Export names, e.g. `glassbox:model/scorer@0.2.0`.
    pub exports: Vec<String>,
}

impl Interface {
    /// The interface of `component`, compiled by `engine`.
    pub(crate) fn of(
        engine: &wasmtime::Engine,
        component: &wasmtime::component::Component,
    ) -> Self {
        let ty = component.component_type();
        Interface {
            imports: ty
                .imports(engine)
                .map(|(name, _)| name.to_string())
                .collect(),
            exports: ty
                .exports(engine)
                .map(|(name, _)| name.to_string())
                .collect(),
        }
    }
}

/// The data of the outer component's custom section `name`, if it has one.
pub(crate) fn custom_section<'a>(component: &'a [u8], name: &str) -> Option<&'a [u8]> {
    // `parse_all` walks into nested modules and components too; their
    // sections are not the outer component's, so count the nesting.
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload.ok()? {
            wasmparser::Payload::CustomSection(c) if depth == 0 && c.name() == name => {
                return Some(c.data());
            }
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.checked_sub(1)?,
            _ => {}
        }
    }
    None
}

/// Appends a custom section (id 0: size, name, data) to a component; a
/// component's sections run to the end of the file, so appending is enough.
pub(crate) fn append_custom_section(component: &mut Vec<u8>, name: &str, data: &[u8]) {
    let mut body = Vec::new();
    name.encode(&mut body);
    body.extend_from_slice(data);
    component.push(0);
    body.len().encode(component);
    component.extend_from_slice(&body);
}

/// Tells apart components, core modules and garbage before wasmtime sees them.
pub(crate) fn check_header(bytes: &[u8]) -> Result<()> {
    if wasmparser::Parser::is_component(bytes) {
        return Ok(());
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Err(Error::NotAComponent(
            "this is a core WebAssembly module; build a component (see `glassbox componentize`)"
                .into(),
        ));
    }
    let shown = hex::encode(&bytes[..bytes.len().min(8)]);
    Err(Error::NotAComponent(format!(
        "the file does not start with the WebAssembly magic number \\0asm (first bytes: {})",
        if shown.is_empty() {
            "none, it is empty".into()
        } else {
            shown
        }
    )))
}
