//! Models in OCI registries, as container images travel.
//!
//! A component is pushed in the CNCF TAG Runtime "Wasm OCI artifact"
//! layout: an image manifest whose config has media type
//! [`CONFIG_MEDIA_TYPE`] (JSON: `created`, `architecture: "wasm"`,
//! `os: "wasip2"`, `layerDigests`, and the component's `imports` and
//! `exports`) and exactly one layer, the component, of media type
//! [`LAYER_MEDIA_TYPE`]. Any OCI registry stores it; `oras`, `wkg` and
//! other tools of the layout read it.
//!
//! Credentials, first found wins: `GLASSBOX_REGISTRY_USERNAME` and
//! `GLASSBOX_REGISTRY_PASSWORD`; the registry's entry in the Docker
//! config file (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`, `auths.REGISTRY.auth`); else anonymous.
//! `insecure` talks plain HTTP, for loopback test registries.
//!
//! Precompiled forms of the component (`glassbox precompile`, one per
//! target) travel in the same artifact, as further layers of media type
//! [`PRECOMPILED_MEDIA_TYPE`] annotated with their target triple
//! ([`TARGET_ANNOTATION`]): one reference names the model, and a node takes
//! the form for its own target, or the component. Tools that know only the
//! Wasm layout find the component as the artifact's first layer.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Media type of the config of a Wasm OCI artifact.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Media type of its first layer, the component.
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Media type of a precompiled form of the component (one per target).
pub const PRECOMPILED_MEDIA_TYPE: &str = "application/vnd.glassbox.precompiled.v1";
/// The annotation naming a precompiled layer's target triple.
pub const TARGET_ANNOTATION: &str = "dev.glassbox.target";
/// Precompiled forms one artifact may carry (targets are few).
pub const MAX_PRECOMPILED: usize = 16;

/// Why a push or pull failed.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The reference is not `REGISTRY/REPOSITORY[:TAG|@DIGEST]`.
    #[error("`{reference}` is not an image reference (REGISTRY/REPO:TAG): {reason}")]
    Reference {
        /// What was given.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// The registry refused or could not be reached.
    #[error("{reference}: {reason}")]
    Registry {
        /// The image.
        reference: String,
        /// The registry's or the network's answer.
        reason: String,
    },
    /// The image is not a Wasm OCI artifact with one component.
    #[error("{reference}: not a Wasm component artifact: {reason}")]
    NotWasm {
        /// The image.
        reference: String,
        /// What it holds instead.
        reason: String,
    },
    /// A precompiled form given to push was not made from the component,
    /// or two are for the same target.
    #[error("{0}")]
    Precompiled(String),
    /// The bytes pulled do not match their digest.
    #[error("{reference}: the layer's bytes do not match its digest {digest}")]
    Digest {
        /// The image.
        reference: String,
        /// The digest the manifest gives.
        digest: String,
    },
}

/// How to talk to a registry.
#[derive(Debug, Clone, Default)]
pub struct OciOptions {
    /// Plain HTTP instead of HTTPS (loopback test registries).
    pub insecure: bool,
    /// The layer's `org.opencontainers.image.title` on push: the file name
    /// other tools give the component when they pull it.
    pub title: Option<String>,
}

/// The config blob of a Wasm OCI artifact.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// When it was pushed, RFC 3339.
    pub created: String,
    /// Always `wasm`.
    pub architecture: String,
    /// `wasip2` for components.
    pub os: String,
    /// The layers' digests.
    pub layer_digests: Vec<String>,
    /// What the component imports and exports.
    pub component: ComponentWorld,
}

/// A component's interface, as the artifact's config records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ComponentWorld {
    /// Exported interfaces.
    pub exports: Vec<String>,
    /// Imported interfaces.
    pub imports: Vec<String>,
    /// The world the component targets, when known.
    pub target: Option<String>,
}

/// What a pull brought.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The component.
    pub component: Vec<u8>,
    /// Its precompiled forms, by target triple (checked against their
    /// digests, not their signatures: the engine does that when it loads
    /// one).
    pub precompiled: Vec<PulledForm>,
    /// The manifest's digest, `sha256:…`.
    pub manifest_digest: String,
    /// The component's digest, `sha256:…`.
    pub layer_digest: String,
}

/// A precompiled form pulled with the component.
#[derive(Debug, Clone)]
pub struct PulledForm {
    /// Its target triple.
    pub target: String,
    /// The `.cwasm` bytes.
    pub bytes: Vec<u8>,
    /// Their digest, `sha256:…`.
    pub digest: String,
}

impl Pulled {
    /// The precompiled form for `target`, if the artifact has one.
    pub fn form(&self, target: &str) -> Option<&PulledForm> {
        self.precompiled.iter().find(|f| f.target == target)
    }
}

/// What a push made.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// Where the manifest can be pulled from.
    pub manifest_url: String,
    /// The component's digest, `sha256:…`.
    pub layer_digest: String,
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn parse(reference: &str) -> Result<Reference, OciError> {
    reference
        .trim_start_matches("oci://")
        .parse()
        .map_err(|e: oci_client::ParseError| OciError::Reference {
            reference: reference.to_string(),
            reason: e.to_string(),
        })
}

fn client(options: &OciOptions) -> Client {
    crate::ship::tls::install_crypto_provider();
    Client::new(ClientConfig {
        protocol: if options.insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        ..ClientConfig::default()
    })
}

/// Credentials for `registry` (see the module docs).
pub fn auth_for(registry: &str) -> RegistryAuth {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(user), Some(password)) = (
        var("GLASSBOX_REGISTRY_USERNAME"),
        var("GLASSBOX_REGISTRY_PASSWORD"),
    ) {
        return RegistryAuth::Basic(user, password);
    }
    let file = var("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .map(|d| d.join("config.json"));
    let from_file = || -> Option<RegistryAuth> {
        use base64::Engine as _;
        let text = std::fs::read_to_string(file.as_ref()?).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        let auths = json.get("auths")?.as_object()?;
        // Docker keys Docker Hub by its old URL; others by host[:port],
        // sometimes with a scheme.
        let entry = auths.iter().find_map(|(k, v)| {
            let host = k
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or("");
            (host == registry).then_some(v)
        })?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(entry.get("auth")?.as_str()?)
            .ok()?;
        let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
        Some(RegistryAuth::Basic(user.into(), password.into()))
    };
    from_file().unwrap_or(RegistryAuth::Anonymous)
}

/// The top-level imports and exports of a component, by name.
fn world_of(component: &[u8]) -> ComponentWorld {
    let mut world = ComponentWorld::default();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let Ok(payload) = payload else { break };
        match payload {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(s) if depth == 0 => {
                for import in s.into_iter().flatten() {
                    world.imports.push(import.name.name.to_string());
                }
            }
            wasmparser::Payload::ComponentExportSection(s) if depth == 0 => {
                for export in s.into_iter().flatten() {
                    world.exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    world.target = Some("glassbox:model/model@0.2.0".into());
    world
}

/// Pushes `component` to `reference` as a Wasm OCI artifact, with its
/// precompiled forms (`.cwasm` bytes, each made from this very component,
/// at most one per target) as further layers.
pub async fn push(
    component: &[u8],
    precompiled: &[Vec<u8>],
    reference: &str,
    options: &OciOptions,
) -> Result<Pushed, OciError> {
    let image = parse(reference)?;
    let layer_digest = sha256(component);
    let forms = check_forms(component, precompiled)?;
    let config = WasmConfig {
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        architecture: "wasm".into(),
        os: "wasip2".into(),
        layer_digests: std::iter::once(layer_digest.clone())
            .chain(precompiled.iter().map(|p| sha256(p)))
            .collect(),
        component: world_of(component),
    };
    let config = Config::new(
        serde_json::to_vec(&config).expect("a config always serialises"),
        CONFIG_MEDIA_TYPE.into(),
        None,
    );
    let title = options
        .title
        .as_ref()
        .map(|t| BTreeMap::from([("org.opencontainers.image.title".to_string(), t.clone())]));
    let mut layers = vec![ImageLayer::new(
        component.to_vec(),
        LAYER_MEDIA_TYPE.into(),
        title.clone(),
    )];
    for (target, bytes) in forms {
        let mut annotations = BTreeMap::from([(TARGET_ANNOTATION.to_string(), target.clone())]);
        if let Some(t) = &options.title {
            let stem = t.strip_suffix(".wasm").unwrap_or(t);
            annotations.insert(
                "org.opencontainers.image.title".to_string(),
                format!("{stem}.{target}.cwasm"),
            );
        }
        layers.push(ImageLayer::new(
            bytes.to_vec(),
            PRECOMPILED_MEDIA_TYPE.into(),
            Some(annotations),
        ));
    }
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "org.opencontainers.image.created".to_string(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    );
    let manifest = OciImageManifest::build(&layers, &config, Some(annotations));
    let pushed = client(options)
        .push(
            &image,
            &layers,
            config,
            &auth_for(image.resolve_registry()),
            Some(manifest),
        )
        .await
        .map_err(|e| OciError::Registry {
            reference: reference.to_string(),
            reason: e.to_string(),
        })?;
    Ok(Pushed {
        manifest_url: pushed.manifest_url,
        layer_digest,
    })
}

/// The targets of `precompiled`, checked: each a precompiled model made
/// from `component`, no target twice.
fn check_forms<'a>(
    component: &[u8],
    precompiled: &'a [Vec<u8>],
) -> Result<Vec<(String, &'a [u8])>, OciError> {
    if precompiled.len() > MAX_PRECOMPILED {
        return Err(OciError::Precompiled(format!(
            "{} precompiled forms; an artifact carries at most {MAX_PRECOMPILED}",
            precompiled.len()
        )));
    }
    let digest = hex::encode(crate::artifact::digest(component));
    let mut out: Vec<(String, &[u8])> = Vec::new();
    for (i, bytes) in precompiled.iter().enumerate() {
        let form = crate::artifact::precompiled::read(bytes)
            .map_err(|e| OciError::Precompiled(format!("precompiled form {}: {e}", i + 1)))?;
        if form.header.component_sha256 != digest {
            return Err(OciError::Precompiled(format!(
                "precompiled form {} ({}) was made from component sha256:{}, not from this one \
                 (sha256:{digest})",
                i + 1,
                form.header.target,
                form.header.component_sha256
            )));
        }
        if out.iter().any(|(t, _)| *t == form.header.target) {
            return Err(OciError::Precompiled(format!(
                "two precompiled forms for {}",
                form.header.target
            )));
        }
        out.push((form.header.target, bytes));
    }
    Ok(out)
}

/// Largest layer pulled: a component or its native code is megabytes; a
/// registry that declares more is refused before a byte is fetched.
pub const MAX_LAYER_BYTES: u64 = 1 << 30;

/// Pulls the component of the Wasm OCI artifact at `reference`, and its
/// precompiled forms, checking every layer's bytes against the manifest's
/// digest.
pub async fn pull(reference: &str, options: &OciOptions) -> Result<Pulled, OciError> {
    let image = parse(reference)?;
    let registry_error = |e: oci_client::errors::OciDistributionError| OciError::Registry {
        reference: reference.to_string(),
        reason: e.to_string(),
    };
    let client = client(options);
    let auth = auth_for(image.resolve_registry());
    let (manifest, manifest_digest) = client
        .pull_manifest(&image, &auth)
        .await
        .map_err(registry_error)?;
    let not_wasm = |reason: String| OciError::NotWasm {
        reference: reference.to_string(),
        reason,
    };
    let OciManifest::Image(manifest) = manifest else {
        return Err(not_wasm("an image index, not one image".into()));
    };
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(not_wasm(format!(
            "its config is {}, not {CONFIG_MEDIA_TYPE}",
            manifest.config.media_type
        )));
    }
    let Some((layer, forms)) = manifest.layers.split_first() else {
        return Err(not_wasm("no layers".into()));
    };
    if layer.media_type != LAYER_MEDIA_TYPE {
        return Err(not_wasm(format!(
            "its first layer is {}, not {LAYER_MEDIA_TYPE}",
            layer.media_type
        )));
    }
    if forms.len() > MAX_PRECOMPILED {
        return Err(not_wasm(format!(
            "{} layers; at most one component and {MAX_PRECOMPILED} precompiled forms",
            manifest.layers.len()
        )));
    }
    for form in forms {
        if form.media_type != PRECOMPILED_MEDIA_TYPE {
            return Err(not_wasm(format!(
                "a layer is {}, neither {LAYER_MEDIA_TYPE} (first) nor {PRECOMPILED_MEDIA_TYPE}",
                form.media_type
            )));
        }
    }
    let fetch = async |layer: &oci_client::manifest::OciDescriptor| -> Result<Vec<u8>, OciError> {
        if u64::try_from(layer.size).unwrap_or(u64::MAX) > MAX_LAYER_BYTES {
            return Err(not_wasm(format!(
                "a layer of {} bytes; at most {MAX_LAYER_BYTES} are pulled",
                layer.size
            )));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(layer.size).unwrap_or(0));
        client
            .pull_blob(&image, layer, &mut bytes)
            .await
            .map_err(registry_error)?;
        if sha256(&bytes) != layer.digest {
            return Err(OciError::Digest {
                reference: reference.to_string(),
                digest: layer.digest.clone(),
            });
        }
        Ok(bytes)
    };
    let component = fetch(layer).await?;
    let mut precompiled = Vec::with_capacity(forms.len());
    for form in forms {
        let target = form
            .annotations
            .as_ref()
            .and_then(|a| a.get(TARGET_ANNOTATION))
            .cloned()
            .ok_or_else(|| not_wasm(format!("a precompiled layer has no {TARGET_ANNOTATION}")))?;
        let bytes = fetch(form).await?;
        precompiled.push(PulledForm {
            target,
            bytes,
            digest: form.digest.clone(),
        });
    }
    Ok(Pulled {
        component,
        precompiled,
        manifest_digest,
        layer_digest: layer.digest.clone(),
    })
}

/// Pulled components on disk, by digest, and the digest each reference
/// last resolved to: what a server falls back on when the registry cannot
/// be reached.
///
/// Layout: `blobs/sha256-HEX.wasm` (checked against its name when read)
/// and `refs/ESCAPED-REFERENCE` (holding `sha256:HEX`).
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// A cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    /// A blob's file: `.wasm` for a component, `.cwasm` for a precompiled
    /// form (so that the engine and a reader can tell which is which).
    fn blob(&self, digest: &str, ext: &str) -> PathBuf {
        self.dir
            .join("blobs")
            .join(format!("{}.{ext}", digest.replace(':', "-")))
    }

    fn reference(&self, reference: &str) -> PathBuf {
        let escaped: String = reference
            .trim_start_matches("oci://")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join("refs").join(escaped)
    }

    /// Keeps `pulled`'s component, or its precompiled form for `target`
    /// when given and present, and records that `reference` resolved to
    /// it; returns its file and digest.
    pub fn store(
        &self,
        reference: &str,
        pulled: &Pulled,
        target: Option<&str>,
    ) -> std::io::Result<(PathBuf, String)> {
        let (bytes, digest, ext) = match target.and_then(|t| pulled.form(t)) {
            Some(form) => (&form.bytes, &form.digest, "cwasm"),
            None => (&pulled.component, &pulled.layer_digest, "wasm"),
        };
        let blob = self.blob(digest, ext);
        let refs = self.reference(reference);
        for dir in [blob.parent(), refs.parent()].into_iter().flatten() {
            std::fs::create_dir_all(dir)?;
        }
        // Beside, then renamed: a crash never leaves half a file under a
        // digest's name.
        if !blob.exists() {
            let tmp = blob.with_extension("tmp");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &blob)?;
        }
        let tmp = refs.with_extension("tmp");
        std::fs::write(&tmp, format!("{digest} {ext}"))?;
        std::fs::rename(&tmp, &refs)?;
        Ok((blob, digest.clone()))
    }

    /// The component `reference` last resolved to, with its digest, when
    /// the cache has it intact.
    pub fn lookup(&self, reference: &str) -> Option<(PathBuf, String)> {
        let record = std::fs::read_to_string(self.reference(reference)).ok()?;
        // `DIGEST EXT`; a record of an older glassbox is the digest alone.
        let mut parts = record.split_whitespace();
        let digest = parts.next()?;
        let ext = match parts.next() {
            Some("cwasm") => "cwasm",
            _ => "wasm",
        };
        let blob = self.blob(digest, ext);
        let bytes = std::fs::read(&blob).ok()?;
        (sha256(&bytes) == digest).then(|| (blob, digest.to_string()))
    }
}
