//! TLS for Git over HTTPS (compatibility D6): verified by default against the system's roots, or against
//! a CA bundle from the store's secret (`caFile`), with an explicit opt-out.

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509, X509StoreContext};

/// OpenSSL's `X509_V_ERR_HOSTNAME_MISMATCH` and `X509_V_ERR_IP_ADDRESS_MISMATCH`.
const X509_V_ERR_HOSTNAME_MISMATCH: i32 = 62;
const X509_V_ERR_IP_ADDRESS_MISMATCH: i32 = 64;

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

    /// Verifies a server's leaf certificate (DER) against the configured CAs and `host`, with OpenSSL's
    /// own host and IP matching (RFC 6125: one-label wildcards, no partial ones).
    pub fn verify_with_ca(&self, ca_pem: &[u8], leaf_der: &[u8], host: &str) -> Result<(), String> {
        let leaf = X509::from_der(leaf_der).map_err(|e| format!("unreadable server certificate: {e}"))?;
        let mut builder = X509StoreBuilder::new().map_err(|e| e.to_string())?;
        for ca in X509::stack_from_pem(ca_pem).map_err(|e| format!("caFile is not a PEM certificate bundle: {e}"))? {
            builder.add_cert(ca).map_err(|e| e.to_string())?;
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let mut param = X509VerifyParam::new().map_err(|e| e.to_string())?;
        match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => param.set_ip(ip),
            Err(_) => param.set_host(bare),
        }
        .map_err(|e| e.to_string())?;
        builder.set_param(&param).map_err(|e| e.to_string())?;
        let store = builder.build();
        let chain = Stack::new().map_err(|e| e.to_string())?;
        let mut ctx = X509StoreContext::new().map_err(|e| e.to_string())?;
        let verified = ctx
            .init(&store, &leaf, &chain, |c| {
                let ok = c.verify_cert()?;
                Ok(if ok { Ok(()) } else { Err(c.error()) })
            })
            .map_err(|e| e.to_string())?;
        verified.map_err(|e| match e.as_raw() {
            X509_V_ERR_HOSTNAME_MISMATCH | X509_V_ERR_IP_ADDRESS_MISMATCH => {
                format!("certificate is not valid for host {host}")
            }
            _ => format!("certificate verify failed: {}", e.error_string()),
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_testsupport::tls::TestCa;

    #[test]
    fn the_server_certificate_is_checked_against_the_ca_and_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::generate(dir.path());
        let leaf = X509::from_pem(&std::fs::read(&ca.server_pem).unwrap()).unwrap().to_der().unwrap();
        let settings = TlsSettings::default();
        for (host, want) in [
            ("127.0.0.1", Ok(())),
            ("[127.0.0.1]", Ok(())),
            ("localhost", Ok(())),
            ("LOCALHOST", Ok(())),
            ("127.0.0.2", Err("certificate is not valid for host 127.0.0.2".to_string())),
            ("evil.localhost", Err("certificate is not valid for host evil.localhost".to_string())),
            ("localhost.evil.example", Err("certificate is not valid for host localhost.evil.example".to_string())),
        ] {
            assert_eq!(settings.verify_with_ca(ca.ca_pem.as_bytes(), &leaf, host), want, "{host}");
        }
        let other = settings.verify_with_ca(TestCa::unrelated_ca_pem().as_bytes(), &leaf, "127.0.0.1").unwrap_err();
        assert!(other.starts_with("certificate verify failed: "), "{other}");
    }
}
