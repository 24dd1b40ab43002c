//! Signed components: who made this model, and is it still the bytes they
//! made?
//!
//! Signatures follow the WebAssembly module-signatures proposal, through
//! its reference implementation, the `wasmsign2` crate: an Ed25519
//! signature over the SHA-256 of every section, in a custom section
//! (`signature`) placed first in the component. The convention is shared
//! with the proposal's other tools, keeps the signature inside the one
//! file that travels (registry, disk, cache), and needs no network at
//! verification time, which an edge node may not have; a detached Sigstore bundle would need a second file and,
//! for keyless signing, a transparency log to check against.
//!
//! Keys are Ed25519 in PEM (PKCS#8 for the secret key, SPKI for the public
//! one), so `openssl pkey -in KEY -pubout` gives the same public key.
//! Every signature carries the signer's key id: the first 12 bytes of
//! HMAC-SHA-256("key_id", public key), shown in hex by `glassbox inspect`.
//!
//! The signed hash covers every section but not the 8-byte preamble;
//! [`crate::Engine`] only loads components, so a preamble rewritten to
//! another layer is refused there.
//!
//! ```
//! let (secret, public) = glassbox::artifact::sign::keygen();
//! let component = glassbox::examples::FRIEDMAN_TREE.component;
//! let signed = glassbox::artifact::sign::sign(component, &secret).unwrap();
//! let keys = glassbox::artifact::sign::TrustedKeys::from_pems([public.as_str()]).unwrap();
//! let signer = keys.verify(&signed).unwrap();
//! assert_eq!(signer.key_id, glassbox::artifact::sign::key_id_of(&public).unwrap());
//! assert!(keys.verify(component).is_err(), "unsigned");
//! ```

use std::fmt;
use std::io::Cursor;

use wasmsign2::{Module, PublicKey, PublicKeySet, SecretKey, WSError};

pub use crate::error::SignatureError;

/// A key could not be read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

/// Who signed a component, as far as a trusted key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The key id, hex.
    pub key_id: String,
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {}", self.key_id)
    }
}

/// A fresh key pair: (secret key PEM, public key PEM).
pub fn keygen() -> (String, String) {
    let pair = wasmsign2::KeyPair::generate();
    (pair.sk.to_pem(), pair.pk.to_pem())
}

fn public_of(secret: &SecretKey) -> PublicKey {
    PublicKey {
        pk: secret.sk.public_key(),
        key_id: None,
    }
    .attach_default_key_id()
}

fn parse_public(data: &[u8]) -> Result<PublicKey, KeyError> {
    PublicKey::from_any(data)
        .map(PublicKey::attach_default_key_id)
        .map_err(|_| KeyError("not an Ed25519 public key (PEM, DER or raw)".into()))
}

/// The key id of a public key (PEM, DER or raw), hex.
pub fn key_id_of(public: &str) -> Result<String, KeyError> {
    let pk = parse_public(public.as_bytes())?;
    Ok(hex::encode(pk.key_id().map_or(&[][..], Vec::as_slice)))
}

/// Signs `component` with `secret` (PEM), replacing any signature it had.
pub fn sign(component: &[u8], secret: &str) -> Result<Vec<u8>, KeyError> {
    let sk = SecretKey::from_pem(secret)
        .or_else(|_| SecretKey::from_bytes(secret.as_bytes()))
        .map_err(|_| KeyError("not an Ed25519 secret key in PEM".into()))?;
    let module = Module::deserialize(&mut Cursor::new(component))
        .map_err(|e| KeyError(format!("not a WebAssembly component: {e}")))?;
    let pk = public_of(&sk);
    let signed = sk
        .sign(module, pk.key_id())
        .map_err(|e| KeyError(format!("signing failed: {e}")))?;
    let mut out = Vec::with_capacity(component.len() + 160);
    signed
        .serialize(&mut out)
        .map_err(|e| KeyError(format!("writing the signed component failed: {e}")))?;
    Ok(out)
}

/// The key ids of the signatures `component` carries (none when unsigned).
pub fn signers(component: &[u8]) -> Result<Vec<String>, SignatureError> {
    match wasmsign2::signature_info_from_reader(&mut Cursor::new(component), None) {
        Ok(info) => Ok(info.key_ids().iter().map(hex::encode).collect()),
        Err(WSError::NoSignatures) => Ok(Vec::new()),
        Err(e) => Err(SignatureError::Malformed(e.to_string())),
    }
}

/// The public keys a host accepts signatures from.
#[derive(Debug, Clone)]
pub struct TrustedKeys {
    keys: PublicKeySet,
}

impl TrustedKeys {
    /// Keys from their text (PEM, or raw/DER bytes read as text).
    pub fn from_pems<'a>(pems: impl IntoIterator<Item = &'a str>) -> Result<Self, KeyError> {
        Self::from_bytes(pems.into_iter().map(str::as_bytes))
    }

    /// Keys from their bytes (PEM, DER or raw).
    pub fn from_bytes<'a>(keys: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, KeyError> {
        let mut set = PublicKeySet::empty();
        for k in keys {
            // A key given twice is still one key.
            let _ = set.insert(parse_public(k)?);
        }
        if set.is_empty() {
            return Err(KeyError("no trusted keys given".into()));
        }
        Ok(TrustedKeys { keys: set })
    }

    /// The trusted keys' ids, hex.
    pub fn key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .keys
            .items()
            .iter()
            .map(|k| hex::encode(k.key_id().map_or(&[][..], Vec::as_slice)))
            .collect();
        ids.sort();
        ids
    }

    /// Checks that a trusted key signed exactly these bytes.
    pub fn verify(&self, component: &[u8]) -> Result<Signer, SignatureError> {
        self.verify_hashed(component).map(|(signer, _)| signer)
    }

    /// [`TrustedKeys::verify`], also returning the signed SHA-256 (of the
    /// bytes after the signature section): a name for the content.
    pub(crate) fn verify_hashed(
        &self,
        component: &[u8],
    ) -> Result<(Signer, [u8; 32]), SignatureError> {
        let signers = signers(component)?;
        match self.check(component) {
            Ok((key_id, hash)) => Ok((Signer { key_id }, hash)),
            Err(WSError::NoSignatures) => Err(SignatureError::Unsigned),
            Err(WSError::VerificationFailed) => {
                // Tell "changed since" from "someone else signed it": a
                // trusted key's id among the signatures means the former.
                let trusted = self.key_ids();
                match signers.iter().find(|k| trusted.contains(k)) {
                    Some(k) => Err(SignatureError::Tampered { key_id: k.clone() }),
                    None if signers.is_empty() => Err(SignatureError::Untrusted {
                        key_ids: vec!["(no key id)".into()],
                    }),
                    None => Err(SignatureError::Untrusted { key_ids: signers }),
                }
            }
            Err(e) => Err(SignatureError::Malformed(e.to_string())),
        }
    }

    /// What `wasmsign2::PublicKeySet::verify` checks, in the same order,
    /// but hashing with `sha2`, which uses the CPU's SHA instructions:
    /// wasmsign2 hashes with a portable SHA-256 at about 190 MB/s, which
    /// was two thirds of loading a precompiled model (tens of megabytes).
    /// The signature section (the file's first) holds SHA-256 hashes of
    /// everything after it, each set signed with Ed25519 over
    /// `"wasmsig" 01 01 01 ‖ hashes`; the file is accepted when a trusted
    /// key validly signed a set holding the hash of its bytes after that
    /// section. Returns the key's id, hex. The tests check this against
    /// wasmsign2's own verdict (`the_fast_check_agrees_with_wasmsign2`).
    fn check(&self, bytes: &[u8]) -> Result<(String, [u8; 32]), WSError> {
        // The preamble (a module's or a component's), then the first
        // section: `signature`, or the file is unsigned.
        const PREAMBLES: [[u8; 8]; 2] = [
            [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
            [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00],
        ];
        if !PREAMBLES.iter().any(|p| bytes.starts_with(p)) {
            return Err(WSError::ParseError);
        }
        let body = &bytes[8..];
        let mut reader = wasmparser::BinaryReader::new(body, 8);
        let (id, len) = (reader.read_u8(), reader.read_var_u32());
        let (Ok(0), Ok(len)) = (id, len) else {
            return Err(WSError::NoSignatures);
        };
        // Positions count from the file's start (the reader's offset is 8).
        let start = usize::try_from(reader.original_position()).map_err(|_| WSError::ParseError)?;
        let section = reader
            .read_bytes(len as usize)
            .map_err(|_| WSError::ParseError)?;
        let after = &bytes[start + len as usize..];
        let mut inner = wasmparser::BinaryReader::new(section, 0);
        let name = inner.read_string().map_err(|_| WSError::NoSignatures)?;
        if name != "signature" {
            return Err(WSError::NoSignatures);
        }
        let name_end =
            usize::try_from(inner.original_position()).map_err(|_| WSError::ParseError)?;
        let payload = &section[name_end..];
        let data =
            wasmsign2::CustomSection::new(name.to_string(), payload.to_vec()).signature_data()?;
        // Version 1 of the format: a module's content (0x01), SHA-256 (0x01).
        const VERSION: u8 = 0x01;
        const CONTENT: u8 = 0x01;
        const SHA256: u8 = 0x01;
        if data.content_type != CONTENT || data.hash_function != SHA256 {
            return Err(WSError::ParseError);
        }
        let mut signed_by: Vec<(&PublicKey, &Vec<u8>)> = Vec::new();
        for set in &data.signed_hashes_set {
            let mut msg = b"wasmsig".to_vec();
            msg.extend_from_slice(&[VERSION, CONTENT, SHA256]);
            for hash in &set.hashes {
                msg.extend_from_slice(hash);
            }
            for pk in self.keys.items() {
                let valid = set.signatures.iter().any(|s| {
                    let other_key =
                        matches!((&s.key_id, pk.key_id()), (Some(a), Some(b)) if a != b);
                    !other_key
                        && ed25519_compact::Signature::from_slice(&s.signature)
                            .is_ok_and(|sig| pk.pk.verify(&msg, &sig).is_ok())
                });
                if valid {
                    signed_by.extend(set.hashes.iter().map(|h| (pk, h)));
                }
            }
        }
        if signed_by.is_empty() {
            return Err(WSError::VerificationFailed);
        }
        let hash: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(after).into();
        signed_by
            .iter()
            .find(|(_, h)| h.as_slice() == hash.as_slice())
            .map(|(pk, _)| {
                let id = hex::encode(pk.key_id().map_or(&[][..], Vec::as_slice));
                (id, hash)
            })
            .ok_or(WSError::VerificationFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_until_a_byte_changes() {
        let (secret, public) = keygen();
        let component = crate::examples::FRIEDMAN_TREE.component;
        let signed = sign(component, &secret).unwrap();
        let keys = TrustedKeys::from_pems([public.as_str()]).unwrap();
        let id = key_id_of(&public).unwrap();
        assert_eq!(keys.verify(&signed).unwrap().key_id, id);
        assert_eq!(signers(&signed).unwrap(), std::slice::from_ref(&id));
        // Signing again replaces the signature rather than stacking one.
        let again = sign(&signed, &secret).unwrap();
        assert_eq!(signers(&again).unwrap().len(), 1);

        let mut changed = signed.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert_eq!(
            keys.verify(&changed),
            Err(SignatureError::Tampered { key_id: id })
        );
        assert_eq!(keys.verify(component), Err(SignatureError::Unsigned));

        let (other_secret, _) = keygen();
        let by_other = sign(component, &other_secret).unwrap();
        assert!(matches!(
            keys.verify(&by_other),
            Err(SignatureError::Untrusted { .. })
        ));
    }

    /// The fast check gives wasmsign2's own verdict, signed or not, on
    /// every byte changed.
    #[test]
    fn the_fast_check_agrees_with_wasmsign2() {
        let (secret, public) = keygen();
        let (other, _) = keygen();
        let keys = TrustedKeys::from_pems([public.as_str()]).unwrap();
        let component = crate::examples::FRIEDMAN_TREE.component;
        let signed = sign(component, &secret).unwrap();
        let by_other = sign(component, &other).unwrap();
        let twice = {
            // Signed by the other key, then by ours on top of the bytes
            // (replacing the signature section).
            sign(&by_other, &secret).unwrap()
        };
        let verdict = |bytes: &[u8]| -> (bool, bool) {
            let ours = keys.check(bytes).is_ok();
            let theirs = keys.keys.verify(&mut Cursor::new(bytes), None).is_ok();
            (ours, theirs)
        };
        for bytes in [
            &signed[..],
            &by_other,
            &twice,
            component,
            &signed[..40],
            b"\0asm",
        ] {
            let (ours, theirs) = verdict(bytes);
            assert_eq!(ours, theirs);
        }
        assert!(verdict(&signed).0);
        let step = (signed.len() / 997).max(1);
        for at in (0..signed.len()).step_by(step).chain(0..200) {
            let mut bytes = signed.clone();
            bytes[at] ^= 0x04;
            let (ours, theirs) = verdict(&bytes);
            assert_eq!(ours, theirs, "byte {at}");
            assert!(!ours || at < 8, "byte {at} changed and accepted");
        }
    }

    #[test]
    fn bad_keys_are_named() {
        assert!(sign(b"\0asm", "not a key").is_err());
        assert!(TrustedKeys::from_pems(["nope"]).is_err());
        assert!(TrustedKeys::from_pems([]).is_err());
    }
}
