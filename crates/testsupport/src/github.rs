//! A stand-in for GitHub's installation-token endpoint (no internet here): it checks the App JWT's
//! RS256 signature with the App's public key and answers with a token, as
//! `POST /app/installations/{id}/access_tokens` does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::sign::Verifier;

pub struct FakeGithub {
    pub url: String,
    pub requests: Arc<AtomicUsize>,
}

fn verify(jwt: &str, key: &PKey<Public>, app_id: &str) -> bool {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return false;
    }
    let Ok(sig) = URL_SAFE_NO_PAD.decode(parts[2]) else { return false };
    let Ok(mut v) = Verifier::new(MessageDigest::sha256(), key) else { return false };
    if v.update(format!("{}.{}", parts[0], parts[1]).as_bytes()).is_err() || !v.verify(&sig).unwrap_or(false) {
        return false;
    }
    let Ok(claims) = URL_SAFE_NO_PAD.decode(parts[1]) else { return false };
    let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap_or_default();
    claims["iss"] == app_id
}

impl FakeGithub {
    /// Serves installation `installation` of App `app_id` (key `public_pem`), handing out `token`.
    pub fn start(public_pem: &[u8], app_id: &str, installation: &str, token: &str) -> FakeGithub {
        let key = PKey::public_key_from_pem(public_pem).expect("public key");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(AtomicUsize::new(0));
        let (count, app_id, path, token) = (
            requests.clone(),
            app_id.to_string(),
            format!("/app/installations/{installation}/access_tokens"),
            token.to_string(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut auth = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("authorization: bearer ") {
                        auth = line[line.len() - v.len()..].trim().to_string();
                    }
                    if let Some(v) = lower.strip_prefix("content-length: ") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let ok = request_line.starts_with(&format!("POST {path} ")) && verify(&auth, &key, &app_id);
                let (status, body) = if ok {
                    ("201 Created", format!(r#"{{"token":"{token}","expires_at":"2099-01-01T00:00:00Z"}}"#))
                } else {
                    ("401 Unauthorized", r#"{"message":"bad creds"}"#.to_string())
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakeGithub { url, requests }
    }
}

/// A fresh RSA key pair for a test App: `(private PEM (PKCS#1), public PEM)`.
pub fn app_key() -> (String, Vec<u8>) {
    let rsa = openssl::rsa::Rsa::generate(2048).expect("rsa");
    let private = String::from_utf8(rsa.private_key_to_pem().expect("pem")).expect("utf8");
    let public = PKey::from_rsa(rsa).expect("pkey").public_key_to_pem().expect("pem");
    (private, public)
}
