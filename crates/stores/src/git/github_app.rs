//! GitHub App authentication (compatibility C2, D30): an RS256 JWT signed with the App's key, exchanged for an
//! installation token that is cached until shortly before it expires. The API base URL is
//! configurable for GitHub Enterprise.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::pkey::{Id, PKey};

use crate::error::StoreError;
use crate::git::tls::TlsSettings;

/// `https://api.github.com`, GitHub's public API.
pub const GITHUB_API: &str = "https://api.github.com";
/// A token is renewed this long before GitHub says it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// Lifetime assumed when GitHub does not say (its tokens live an hour).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// A GitHub App installation's credentials; see the module documentation.
pub struct GithubApp {
    app_id: u64,
    installation_id: u64,
    key: EncodingKey,
    api_url: String,
    tls: TlsSettings,
    cached: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubApp")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .finish_non_exhaustive()
    }
}

fn config(msg: impl Into<String>) -> StoreError {
    StoreError::Config(msg.into())
}

impl GithubApp {
    /// Validates the App's identifiers and key (PKCS#1 or PKCS#8 RSA, PEM).
    pub fn new(
        app_id: &str,
        installation_id: &str,
        private_key: &[u8],
        api_url: &str,
        tls: TlsSettings,
    ) -> Result<GithubApp, StoreError> {
        let app_id = app_id.trim().parse().map_err(|e| config(format!("could not convert appID to int: {e}")))?;
        let installation_id = installation_id
            .trim()
            .parse()
            .map_err(|e| config(format!("could not convert installationID to int: {e}")))?;
        let key = PKey::private_key_from_pem(private_key)
            .map_err(|_| config("failed to generate GitHub App JWT: invalid private key: failed to parse PEM block"))?;
        if key.id() != Id::RSA {
            return Err(config("failed to generate GitHub App JWT: private key is not RSA"));
        }
        // OpenSSL tells the kinds of bad key apart (Kratix's messages); jsonwebtoken signs.
        let key = EncodingKey::from_rsa_pem(private_key)
            .map_err(|e| config(format!("failed to generate GitHub App JWT: invalid private key: {e}")))?;
        let api_url = api_url.trim_end_matches('/').to_string();
        Ok(GithubApp { app_id, installation_id, key, api_url, tls, cached: Mutex::new(None) })
    }

    /// The App's JWT at `now` (seconds since the epoch): `iat = now - 60`, `exp = now + 600`.
    pub fn jwt(&self, now: u64) -> Result<String, StoreError> {
        let claims =
            serde_json::json!({ "iat": now.saturating_sub(60), "exp": now + 600, "iss": self.app_id.to_string() });
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| config(format!("failed to generate GitHub App JWT: {e}")))
    }

    /// An installation token, from the cache while it is fresh.
    pub fn token(&self) -> Result<String, StoreError> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self.fetch_token()?;
        *cached = Some((token.clone(), Instant::now() + lifetime.saturating_sub(RENEW_BEFORE)));
        Ok(token)
    }

    fn fetch_token(&self) -> Result<(String, Duration), StoreError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let jwt = self.jwt(now)?;
        let url = format!("{}/app/installations/{}/access_tokens", self.api_url, self.installation_id);
        let failed =
            |msg: String| StoreError::PermissionDenied(format!("failed to get GitHub installation token: {msg}"));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .tls_config(self.tls.ureq_config().map_err(|e| failed(format!("GitHub API request failed: {e}")))?)
            .build()
            .into();
        let response = agent
            .post(&url)
            .header("Authorization", &format!("Bearer {jwt}"))
            .header("Accept", "application/vnd.github+json")
            .header("User-Agent", "waybill")
            .send_empty()
            .map_err(|e| {
                StoreError::Unreachable(format!(
                    "failed to get GitHub installation token: GitHub API request failed: {e}"
                ))
            })?;
        let status = response.status().as_u16();
        let body = response.into_body().read_to_string().unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
        if status != 201 {
            let message = json.get("message").and_then(|m| m.as_str()).unwrap_or("");
            return Err(failed(format!("GitHub API error: status={status}, message={message}")));
        }
        let token = json.get("token").and_then(|t| t.as_str()).unwrap_or_default();
        if token.is_empty() {
            return Err(failed("empty installation token received".into()));
        }
        let lifetime = json
            .get("expires_at")
            .and_then(|e| e.as_str())
            .and_then(seconds_until)
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME);
        Ok((token.to_string(), lifetime))
    }
}

/// Seconds from now until an RFC 3339 time (`2026-01-02T03:04:05Z`); `None` once it has passed or when
/// it does not parse.
fn seconds_until(time: &str) -> Option<u64> {
    let at = chrono::DateTime::parse_from_rfc3339(time).ok()?;
    u64::try_from((at.to_utc() - chrono::Utc::now()).num_seconds()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use openssl::hash::MessageDigest;
    use openssl::rsa::Rsa;

    fn app(pem: &[u8]) -> Result<GithubApp, StoreError> {
        GithubApp::new("123", "456", pem, GITHUB_API, TlsSettings::default())
    }

    #[test]
    fn scenario_28_rsa_keys_in_pkcs1_and_pkcs8_sign_and_others_are_refused() {
        let rsa = Rsa::generate(2048).unwrap();
        let pkcs1 = rsa.private_key_to_pem().unwrap();
        let pkcs8 = PKey::from_rsa(rsa.clone()).unwrap().private_key_to_pem_pkcs8().unwrap();
        for pem in [&pkcs1, &pkcs8] {
            let jwt = app(pem).unwrap().jwt(1_700_000_000).unwrap();
            let parts: Vec<&str> = jwt.split('.').collect();
            assert_eq!(parts.len(), 3);
            let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
            assert_eq!((header["alg"].as_str(), header["typ"].as_str()), (Some("RS256"), Some("JWT")));
            let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
            assert_eq!(claims, serde_json::json!({"iat": 1_699_999_940u64, "exp": 1_700_000_600u64, "iss": "123"}));
            let public = PKey::from_rsa(
                Rsa::from_public_components(rsa.n().to_owned().unwrap(), rsa.e().to_owned().unwrap()).unwrap(),
            )
            .unwrap();
            let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &public).unwrap();
            verifier.update(format!("{}.{}", parts[0], parts[1]).as_bytes()).unwrap();
            assert!(verifier.verify(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap());
        }
        let ec = openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
        )
        .unwrap();
        let ec_pem = PKey::from_ec_key(ec).unwrap().private_key_to_pem_pkcs8().unwrap();
        assert_eq!(app(&ec_pem).unwrap_err().to_string(), "failed to generate GitHub App JWT: private key is not RSA");
        assert_eq!(
            app(b"not pem").unwrap_err().to_string(),
            "failed to generate GitHub App JWT: invalid private key: failed to parse PEM block"
        );
        let bad_id = GithubApp::new("abc", "456", &pkcs1, GITHUB_API, TlsSettings::default()).unwrap_err();
        assert!(bad_id.to_string().starts_with("could not convert appID to int"));
    }

    #[test]
    fn expiry_times_are_read_in_any_rfc3339_offset() {
        let in_an_hour = chrono::Utc::now() + chrono::Duration::seconds(3600);
        for text in [
            in_an_hour.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            in_an_hour.with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap()).to_rfc3339(),
        ] {
            let left = seconds_until(&text).unwrap();
            assert!((3590..=3600).contains(&left), "{text}: {left}");
        }
        assert_eq!(seconds_until("2001-01-01T00:00:00Z"), None, "a time that has passed");
        assert_eq!(seconds_until("tomorrow"), None);
    }
}
