//! Precompiled models (`.cwasm`): a component's native code for one
//! target, made on a build machine by `glassbox precompile` so that a node
//! loads it without compiling.
//!
//! Native code is not checked the way WebAssembly is: wasmtime maps it and
//! jumps into it. So the file is only as safe as whoever made it, and the
//! engine loads one only when a trusted key signed it (see
//! [`crate::EngineBuilder::trusted_keys`]); without trusted keys it is
//! refused. A node's own code cache is the only other source of native
//! code it runs.
//!
//! The file is shaped like a component that holds nothing but custom
//! sections, so that the signature format, tools and checks of
//! [`super::sign`] apply unchanged: the Ed25519 signature covers every
//! section, and with them the native code and the source component's
//! digest. Its sections, in order:
//!
//! 1. `signature`, once signed (placed first by the signer);
//! 2. [`HEADER_SECTION`]: JSON [`Header`], the target, the versions that
//!    made it and the source component's digest and size;
//! 3. the source component's own top-level custom sections (where it came
//!    from, what its owner expects, its constant matrices, its training
//!    profile), which the host reads at load as it would from the
//!    component;
//! 4. [`CODE_SECTION`]: the code wasmtime serialised for the target.
//!
//! Anything else (another kind of section, a header that is not first, two
//! code sections) is refused as malformed.

use serde::{Deserialize, Serialize};

/// The section holding the JSON [`Header`].
pub const HEADER_SECTION: &str = "glassbox:precompiled";
/// The section holding the native code.
pub const CODE_SECTION: &str = "glassbox:native-code";
/// The format this host writes and reads.
pub const FORMAT: u32 = 1;
/// The largest header accepted: it is a few hundred bytes of JSON.
const MAX_HEADER_BYTES: usize = 64 << 10;

/// The component preamble (magic, version 0x0d, layer 1).
const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// What a precompiled model says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The file format, [`FORMAT`].
    pub format: u32,
    /// The target triple the code is for, e.g. `aarch64-unknown-linux-gnu`.
    pub target: String,
    /// The glassbox version that made it.
    pub glassbox: String,
    /// The source component's SHA-256, hex: the model's identity, as if the
    /// component itself had been loaded.
    pub component_sha256: String,
    /// The source component's size in bytes.
    pub component_bytes: u64,
}

impl Header {
    /// The source component's digest.
    pub fn component_digest(&self) -> Result<[u8; 32], String> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.component_sha256, &mut out)
            .map_err(|_| "its header's component_sha256 is not 64 hex digits".to_string())?;
        Ok(out)
    }
}

/// A precompiled model's parts, borrowed from its bytes.
#[derive(Debug)]
pub struct Precompiled<'a> {
    /// Its header.
    pub header: Header,
    /// The serialised native code.
    pub code: &'a [u8],
}

/// Whether `bytes` claim to be a precompiled model: a component preamble
/// followed (after any signature) by the [`HEADER_SECTION`]. Only the first
/// sections are looked at; [`read`] checks the rest.
pub fn is_precompiled(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&COMPONENT_PREAMBLE) {
        return false;
    }
    let mut reader = wasmparser::BinaryReader::new(&bytes[8..], 8);
    for _ in 0..2 {
        let Ok(id) = reader.read_u8() else {
            return false;
        };
        let Ok(len) = reader.read_var_u32() else {
            return false;
        };
        let Ok(body) = reader.read_bytes(len as usize) else {
            return false;
        };
        if id != 0 {
            return false;
        }
        let mut body = wasmparser::BinaryReader::new(body, 0);
        match body.read_string() {
            Ok(name) if name == HEADER_SECTION => return true,
            Ok("signature") => continue,
            _ => return false,
        }
    }
    false
}

/// Parses a precompiled model, checking its structure (not its signature:
/// that is the engine's job, before this).
pub fn read(bytes: &[u8]) -> Result<Precompiled<'_>, String> {
    if !bytes.starts_with(&COMPONENT_PREAMBLE) {
        return Err("it does not start with a component preamble".into());
    }
    let mut header: Option<Header> = None;
    let mut code: Option<&[u8]> = None;
    let mut index = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("it is malformed: {e}"))?;
        match payload {
            wasmparser::Payload::Version { .. } | wasmparser::Payload::End(_) => {}
            wasmparser::Payload::CustomSection(c) => {
                index += 1;
                match c.name() {
                    "signature" if index == 1 => {}
                    HEADER_SECTION if header.is_none() && code.is_none() => {
                        if index > 2 {
                            return Err(format!(
                                "its {HEADER_SECTION} section is not first (after the signature)"
                            ));
                        }
                        if c.data().len() > MAX_HEADER_BYTES {
                            return Err(format!(
                                "its {HEADER_SECTION} section is {} bytes; at most {MAX_HEADER_BYTES} are read",
                                c.data().len()
                            ));
                        }
                        let h: Header = serde_json::from_slice(c.data())
                            .map_err(|e| format!("its {HEADER_SECTION} section: {e}"))?;
                        if h.format != FORMAT {
                            return Err(format!(
                                "it is in format {} (this glassbox reads format {FORMAT}); precompile it again with this version",
                                h.format
                            ));
                        }
                        h.component_digest()?;
                        header = Some(h);
                    }
                    CODE_SECTION if header.is_some() && code.is_none() => code = Some(c.data()),
                    "signature" | HEADER_SECTION | CODE_SECTION => {
                        return Err(format!(
                            "its section {} is repeated or out of place",
                            c.name()
                        ));
                    }
                    _ if header.is_none() => {
                        return Err(format!(
                            "section {} comes before its {HEADER_SECTION} section",
                            c.name()
                        ));
                    }
                    _ if code.is_some() => {
                        return Err(format!(
                            "section {} comes after its native code, which is last",
                            c.name()
                        ));
                    }
                    _ => {}
                }
            }
            other => {
                return Err(format!(
                    "it holds a section a precompiled model has no use for (at byte {}); only custom sections belong in one",
                    other.as_section().map_or(0, |(_, r)| r.start)
                ));
            }
        }
    }
    let header = header.ok_or_else(|| format!("it has no {HEADER_SECTION} section"))?;
    let code = code.ok_or_else(|| format!("it has no {CODE_SECTION} section"))?;
    Ok(Precompiled { header, code })
}

/// Wraps `code`, compiled from `component` for `target`, into a
/// precompiled model (unsigned: sign it with [`super::sign::sign`]).
pub fn wrap(component: &[u8], target: &str, code: &[u8]) -> Vec<u8> {
    let header = Header {
        format: FORMAT,
        target: target.to_string(),
        glassbox: env!("CARGO_PKG_VERSION").to_string(),
        component_sha256: hex::encode(super::digest(component)),
        component_bytes: component.len() as u64,
    };
    let mut out = COMPONENT_PREAMBLE.to_vec();
    let header = serde_json::to_vec(&header).expect("a header always serialises");
    super::append_custom_section(&mut out, HEADER_SECTION, &header);
    for (name, data) in top_level_custom_sections(component) {
        // A signature is the component's, not this file's; the file gets
        // its own.
        if name != "signature" && name != HEADER_SECTION && name != CODE_SECTION {
            super::append_custom_section(&mut out, name, data);
        }
    }
    super::append_custom_section(&mut out, CODE_SECTION, code);
    out
}

/// The outer component's custom sections, in order.
fn top_level_custom_sections(component: &[u8]) -> Vec<(&str, &[u8])> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let Ok(payload) = payload else { break };
        match payload {
            wasmparser::Payload::CustomSection(c) if depth == 0 => out.push((c.name(), c.data())),
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => break,
            },
            _ => {}
        }
    }
    out
}

/// The target triple this host was built for, as `--target` names it.
pub fn host_target() -> &'static str {
    env!("GLASSBOX_TARGET")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component() -> Vec<u8> {
        let mut c = wasm_encoder::Component::new().finish();
        super::super::append_custom_section(&mut c, "glassbox:source", b"{}");
        c
    }

    #[test]
    fn wrapped_code_reads_back_with_the_components_sections() {
        let c = component();
        let file = wrap(&c, "aarch64-unknown-linux-gnu", b"ELF...");
        assert!(is_precompiled(&file));
        assert!(!is_precompiled(&c));
        let p = read(&file).unwrap();
        assert_eq!(p.code, b"ELF...");
        assert_eq!(p.header.target, "aarch64-unknown-linux-gnu");
        assert_eq!(
            p.header.component_digest().unwrap(),
            super::super::digest(&c)
        );
        assert_eq!(p.header.component_bytes, c.len() as u64);
        assert_eq!(
            super::super::custom_section(&file, "glassbox:source"),
            Some(&b"{}"[..])
        );
        // Signed, it is still one.
        let (secret, public) = super::super::sign::keygen();
        let signed = super::super::sign::sign(&file, &secret).unwrap();
        assert!(is_precompiled(&signed));
        assert_eq!(read(&signed).unwrap().code, b"ELF...");
        let keys = super::super::sign::TrustedKeys::from_pems([public.as_str()]).unwrap();
        keys.verify(&signed).unwrap();
    }

    #[test]
    fn malformed_files_are_refused_naming_the_problem() {
        let c = component();
        let file = wrap(&c, "x86_64-unknown-linux-gnu", b"code");
        // A second code section.
        let mut twice = file.clone();
        super::super::append_custom_section(&mut twice, CODE_SECTION, b"more");
        assert!(
            read(&twice)
                .unwrap_err()
                .contains("repeated or out of place")
        );
        // A section after the code.
        let mut after = file.clone();
        super::super::append_custom_section(&mut after, "extra", b"");
        assert!(read(&after).unwrap_err().contains("after its native code"));
        // No code.
        let mut header_only = COMPONENT_PREAMBLE.to_vec();
        let h = serde_json::to_vec(&read(&file).unwrap().header).unwrap();
        super::super::append_custom_section(&mut header_only, HEADER_SECTION, &h);
        assert!(
            read(&header_only)
                .unwrap_err()
                .contains("no glassbox:native-code")
        );
        // A real section inside.
        let mut with_module = file.clone();
        with_module.extend_from_slice(&[1, 0]);
        assert!(read(&with_module).is_err());
        // Another format.
        let mut other = COMPONENT_PREAMBLE.to_vec();
        let h = br#"{"format":9,"target":"t","glassbox":"0","component_sha256":"00","component_bytes":1}"#;
        super::super::append_custom_section(&mut other, HEADER_SECTION, h);
        assert!(read(&other).unwrap_err().contains("format 9"));
        // Truncated.
        assert!(read(&file[..file.len() - 2]).is_err());
    }
}
