//! TLS for `wss://` stores. SurrealDB's client trusts the public web roots
//! (webpki-roots) by default; a server with a certificate of a team's own
//! authority is trusted through `CORTEX_DB_CA`, a PEM file of the
//! authorities to trust instead. A certificate that is not trusted is one
//! clear line saying so, never a handshake's raw error alone.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::{Error, Result};

/// The environment variable naming the authorities to trust.
pub const CA_VAR: &str = "CORTEX_DB_CA";

/// rustls picks its crypto provider by its features, and this build has
/// both of them (aws-lc-rs from reqwest, ring from tokio-tungstenite), so
/// it would panic at the first handshake: name one, once per process.
pub fn install_provider() {
    // An error only says a provider is already set.
    let _ = provider().install_default();
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// The TLS configuration `CORTEX_DB_CA` asks for, if it is set.
pub fn configured() -> Result<Option<rustls::ClientConfig>> {
    match std::env::var_os(CA_VAR) {
        Some(path) if !path.is_empty() => trusting(Path::new(&path)).map(Some),
        _ => Ok(None),
    }
}

/// A client configuration trusting only the authorities in the PEM `file`.
pub fn trusting(file: &Path) -> Result<rustls::ClientConfig> {
    let bad = |what: String| Error::InvalidInput(format!("{CA_VAR}={}: {what}", file.display()));
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(file).map_err(|e| bad(e.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in it (a PEM file of certificate authorities)".into()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// A connection error that is a certificate the client does not trust,
/// said plainly with what to do about it.
pub fn explain(url: &str, message: &str) -> Option<Error> {
    if !message.contains("invalid peer certificate") {
        return None;
    }
    let cause = message.rsplit("invalid peer certificate: ").next().unwrap_or(message);
    let remedy = match std::env::var_os(CA_VAR) {
        Some(_) => format!("it is not signed by an authority in {CA_VAR}"),
        None => {
            format!("set {CA_VAR} to a PEM file of the authority that signed it, if you trust it")
        }
    };
    Some(Error::InvalidInput(format!(
        "open {url}: the server's TLS certificate is not trusted ({cause}): {remedy}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, "not a certificate\n").unwrap();
        let err = trusting(&file).unwrap_err().to_string();
        assert!(err.contains("CORTEX_DB_CA") && err.contains("no certificate"), "{err}");
        let err = trusting(&dir.path().join("missing.pem")).unwrap_err().to_string();
        assert!(err.contains("missing.pem"), "{err}");
    }

    #[test]
    fn only_certificate_errors_are_explained() {
        assert!(explain("wss://h:1", "WebSocket error: connection refused").is_none());
        let err = explain(
            "wss://h:1",
            "WebSocket error: IO error: invalid peer certificate: UnknownIssuer",
        )
        .unwrap()
        .to_string();
        assert!(
            err.contains("not trusted (UnknownIssuer)") && err.contains("CORTEX_DB_CA"),
            "{err}"
        );
    }
}
