//! TLS for Git over HTTPS (compatibility D6): verified by default against the system's roots, or against
//! a CA bundle from the store's secret (`caFile`), with an explicit opt-out.

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509StoreContext};

/// How server certificates are checked.
#[derive(Clone, Default)]
pub struct TlsSettings {
    /// PEM bundle of CAs to trust instead of the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// No verification at all (the explicit opt-out).
    pub skip_verify: bool,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("ca", &self.ca_pem.is_some())
            .field("skip_verify", &self.skip_verify)
            .finish()
    }
}

impl TlsSettings {
    /// Checks that the PEM bundle holds at least one certificate.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(pem) = &self.ca_pem {
            let certs =
                X509::stack_from_pem(pem).map_err(|e| format!("caFile is not a PEM certificate bundle: {e}"))?;
            if certs.is_empty() {
                return Err("caFile holds no certificate".into());
            }
        }
        Ok(())
    }

    /// Verifies a server's leaf certificate (DER) against the configured CAs and `host`.
    pub fn verify_with_ca(&self, ca_pem: &[u8], leaf_der: &[u8], host: &str) -> Result<(), String> {
        let leaf = X509::from_der(leaf_der).map_err(|e| format!("unreadable server certificate: {e}"))?;
        let mut builder = X509StoreBuilder::new().map_err(|e| e.to_string())?;
        for ca in X509::stack_from_pem(ca_pem).map_err(|e| format!("caFile is not a PEM certificate bundle: {e}"))? {
            builder.add_cert(ca).map_err(|e| e.to_string())?;
        }
        let store = builder.build();
        let chain = Stack::new().map_err(|e| e.to_string())?;
        let mut ctx = X509StoreContext::new().map_err(|e| e.to_string())?;
        let verified = ctx
            .init(&store, &leaf, &chain, |c| {
                let ok = c.verify_cert()?;
                Ok(if ok { Ok(()) } else { Err(c.error().error_string().to_string()) })
            })
            .map_err(|e| e.to_string())?;
        verified.map_err(|e| format!("certificate verify failed: {e}"))?;
        if host_matches(&leaf, host) { Ok(()) } else { Err(format!("certificate is not valid for host {host}")) }
    }

    /// The TLS configuration for HTTPS API calls (GitHub App tokens).
    pub fn ureq_config(&self) -> Result<ureq::tls::TlsConfig, String> {
        let mut builder = ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::NativeTls);
        builder = match &self.ca_pem {
            Some(pem) => {
                let certs =
                    X509::stack_from_pem(pem).map_err(|e| format!("caFile is not a PEM certificate bundle: {e}"))?;
                let certs: Vec<ureq::tls::Certificate<'static>> = certs
                    .iter()
                    .filter_map(|c| c.to_der().ok())
                    .map(|der| ureq::tls::Certificate::from_der(&der).to_owned())
                    .collect();
                builder.root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
            }
            None => builder.root_certs(ureq::tls::RootCerts::PlatformVerifier),
        };
        Ok(builder.disable_verification(self.skip_verify).build())
    }
}

/// Whether the certificate names `host` (subjectAltName DNS or IP entries, `*.` wildcards).
fn host_matches(cert: &X509, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let Some(names) = cert.subject_alt_names() else { return false };
    names.iter().any(|n| {
        if let Some(dns) = n.dnsname() {
            let dns = dns.to_ascii_lowercase();
            match dns.strip_prefix("*.") {
                Some(rest) => host.split_once('.').is_some_and(|(_, h)| h == rest),
                None => dns == host,
            }
        } else if let Some(ip) = n.ipaddress() {
            host.parse::<std::net::IpAddr>().is_ok_and(|h| match h {
                std::net::IpAddr::V4(v4) => ip == v4.octets(),
                std::net::IpAddr::V6(v6) => ip == v6.octets(),
            })
        } else {
            false
        }
    })
}
