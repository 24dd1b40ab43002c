//! The `glassbox-source` section: where a compiled component came from
//! (the ONNX file's digest, its operators, the tool that wrote it), written
//! by `glassbox compile` and shown by `glassbox inspect`.

use serde::{Deserialize, Serialize};

/// Name of the custom section that records where a component came from.
pub const SOURCE_SECTION: &str = "glassbox-source";

/// Where a compiled component came from, stored in its `glassbox-source`
/// custom section and shown by `glassbox inspect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// SHA-256 of the ONNX file, hex.
    pub onnx_sha256: String,
    /// The ONNX file's size in bytes.
    pub onnx_bytes: u64,
    /// The ONNX operators the pipeline uses, as `domain:Op`.
    pub operators: Vec<String>,
    /// The tool that produced the ONNX file, e.g. `skl2onnx 1.20.0`.
    pub producer: String,
    /// The glassbox version that compiled it.
    pub compiled_by: String,
    /// Training rows the profile was computed from.
    pub training_rows: u64,
}

impl Source {
    /// Reads the `glassbox-source` section of a component, if it has one
    /// that parses.
    pub fn read(component: &[u8]) -> Option<Source> {
        serde_json::from_slice(super::custom_section(component, SOURCE_SECTION)?).ok()
    }

    /// Appends this source as the component's `glassbox-source` section.
    #[cfg(feature = "compiler")]
    pub(crate) fn write(&self, component: &mut Vec<u8>) {
        super::append_custom_section(
            component,
            SOURCE_SECTION,
            &serde_json::to_vec(self).expect("a Source always serialises"),
        );
    }
}
