//! A throwaway certificate authority and a server certificate for 127.0.0.1 and localhost.

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509, X509NameBuilder};

/// PEM files of a CA and of a server certificate it signed.
pub struct TestCa {
    pub ca_pem: String,
    /// Server certificate followed by its key, as lighttpd's `ssl.pemfile` wants.
    pub server_pem: PathBuf,
}

fn key() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey")
}

fn cert(subject: &str, key: &PKey<Private>, issuer: Option<(&X509, &PKey<Private>)>, ca: bool) -> X509 {
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", subject).expect("cn");
    let name = name.build();
    let mut b = X509::builder().expect("builder");
    b.set_version(2).expect("version");
    let mut serial = BigNum::new().expect("bn");
    serial.rand(64, MsbOption::MAYBE_ZERO, false).expect("rand");
    b.set_serial_number(&serial.to_asn1_integer().expect("serial")).expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(issuer.map(|(c, _)| c.subject_name()).unwrap_or(&name)).expect("issuer");
    b.set_pubkey(key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("time")).expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(2).expect("time")).expect("na");
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().expect("bc")).expect("ext");
        b.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build().expect("ku")).expect("ext");
    } else {
        b.append_extension(BasicConstraints::new().build().expect("bc")).expect("ext");
        let ctx = b.x509v3_context(issuer.map(|(c, _)| &**c), None);
        let san = SubjectAlternativeName::new().ip("127.0.0.1").dns("localhost").build(&ctx).expect("san");
        b.append_extension(san).expect("ext");
    }
    let signer = issuer.map(|(_, k)| k).unwrap_or(key);
    b.sign(signer, MessageDigest::sha256()).expect("sign");
    b.build()
}

impl TestCa {
    /// A new CA and server certificate, the server's PEM written in `dir`.
    pub fn generate(dir: &Path) -> TestCa {
        let ca_key = key();
        let ca = cert("waybill test CA", &ca_key, None, true);
        let server_key = key();
        let server = cert("127.0.0.1", &server_key, Some((&ca, &ca_key)), false);
        let mut pem = server.to_pem().expect("pem");
        pem.extend(server_key.private_key_to_pem_pkcs8().expect("key pem"));
        let server_pem = dir.join("server.pem");
        std::fs::write(&server_pem, pem).expect("write server.pem");
        TestCa { ca_pem: String::from_utf8(ca.to_pem().expect("ca pem")).expect("utf8"), server_pem }
    }

    /// Another CA's certificate: valid PEM that does not vouch for the server.
    pub fn unrelated_ca_pem() -> String {
        let k = key();
        String::from_utf8(cert("someone else", &k, None, true).to_pem().expect("pem")).expect("utf8")
    }
}
