//! The process's TLS crypto provider.
//!
//! reqwest's rustls (under the OCI client and the OTLP HTTP exporter) is
//! built without a provider of its own, so that the tree carries one
//! (ring) rather than two; it then needs a process-wide default, and a
//! client built before one is installed panics on its first use.

/// Installs ring as the process's default rustls provider, unless a
/// provider is installed already (the embedding program's choice wins).
pub(crate) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread's install is as good as winning.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
