//! Getting models to the nodes that run them: OCI registries ([`oci`]) and
//! the TLS set-up shared by every outbound connection (registries and the
//! OTLP exporters).

#[cfg(feature = "oci")]
pub mod oci;
#[cfg(feature = "oci")]
pub(crate) mod tls;
