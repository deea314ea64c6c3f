//! Where a BucketStateStore's requests go: Kratix's `host[:port]` endpoints (scheme from
//! `insecure`), full URLs, path-style requests for S3-compatible servers, and virtual-hosted Amazon S3
//! endpoints with optional dual-stack hostnames (compatibility C15, D29).

/// The resolved endpoint of a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// URL requests go to: for Amazon S3 it already names the bucket (virtual-hosted style).
    pub url: String,
    pub virtual_hosted: bool,
    pub region: String,
    pub allow_http: bool,
}

/// Default signing region, which MinIO-style servers accept.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The region of an Amazon S3 hostname, if it is one (`s3.amazonaws.com`, `s3.<r>.amazonaws.com`,
/// `s3-<r>.amazonaws.com`, `s3.dualstack.<r>.amazonaws.com`).
fn amazon_region(host: &str) -> Option<Option<String>> {
    let rest = host.strip_suffix(".amazonaws.com")?;
    if rest == "s3" {
        return Some(None);
    }
    if let Some(r) = rest.strip_prefix("s3.dualstack.") {
        return Some(Some(r.to_string()));
    }
    if let Some(r) = rest.strip_prefix("s3.").or_else(|| rest.strip_prefix("s3-")) {
        return Some(Some(r.to_string()));
    }
    None
}

/// The bucket a store writes, as the same text however its endpoint is written (scheme, case,
/// trailing `/`): two stores on one bucket share its keys.
pub fn bucket_identity(endpoint: &str, bucket: &str) -> String {
    let endpoint = endpoint.trim().trim_end_matches('/');
    let authority = endpoint.split_once("://").map(|(_, rest)| rest).unwrap_or(endpoint);
    format!("s3://{}/{bucket}", authority.to_ascii_lowercase())
}

/// Resolves `endpoint` for `bucket`; see the module documentation.
pub fn resolve(
    endpoint: &str,
    bucket: &str,
    insecure: bool,
    dual_stack: bool,
    region: Option<&str>,
) -> Result<Resolved, String> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    if endpoint.is_empty() {
        return Err("spec.endpoint is empty".into());
    }
    let (scheme, authority) = match endpoint.split_once("://") {
        Some((s, rest)) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {
            (s.to_ascii_lowercase(), rest)
        }
        Some((s, _)) => return Err(format!("unsupported endpoint scheme {s:?}: use host[:port], http:// or https://")),
        None => ((if insecure { "http" } else { "https" }).to_string(), endpoint),
    };
    if authority.contains('/') {
        return Err(format!("endpoint {endpoint:?} must not have a path"));
    }
    let host = authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(authority).to_ascii_lowercase();
    match amazon_region(&host) {
        Some(found) => {
            let region = found.or_else(|| region.map(str::to_string)).unwrap_or_else(|| DEFAULT_REGION.to_string());
            let service = if dual_stack {
                format!("s3.dualstack.{region}.amazonaws.com")
            } else {
                format!("s3.{region}.amazonaws.com")
            };
            Ok(Resolved {
                url: format!("{scheme}://{bucket}.{service}"),
                virtual_hosted: true,
                region,
                allow_http: scheme == "http",
            })
        }
        None => Ok(Resolved {
            url: format!("{scheme}://{authority}"),
            virtual_hosted: false,
            region: region.unwrap_or(DEFAULT_REGION).to_string(),
            allow_http: scheme == "http",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_31_amazon_endpoints_are_virtual_hosted_and_dual_stack_on_request() {
        let plain = resolve("s3.us-east-2.amazonaws.com", "test-bucket-name", false, false, None).unwrap();
        assert_eq!(plain.url, "https://test-bucket-name.s3.us-east-2.amazonaws.com");
        assert_eq!(plain.region, "us-east-2");
        let dual = resolve("s3.us-east-2.amazonaws.com", "test-bucket-name", false, true, None).unwrap();
        assert_eq!(dual.url, "https://test-bucket-name.s3.dualstack.us-east-2.amazonaws.com");
    }

    #[test]
    fn other_endpoints_are_path_style_with_a_scheme_from_insecure() {
        let cases = [
            (
                "minio.kratix-platform-system.svc.cluster.local",
                true,
                "http://minio.kratix-platform-system.svc.cluster.local",
                true,
            ),
            ("127.0.0.1:9000", false, "https://127.0.0.1:9000", false),
            ("http://127.0.0.1:9000/", false, "http://127.0.0.1:9000", true),
            ("https://storage.example.com", true, "https://storage.example.com", false),
        ];
        for (endpoint, insecure, url, http) in cases {
            let r = resolve(endpoint, "kratix", insecure, false, None).unwrap();
            assert_eq!(
                (r.url.as_str(), r.virtual_hosted, r.allow_http, r.region.as_str()),
                (url, false, http, "us-east-1"),
                "{endpoint}"
            );
        }
        assert_eq!(resolve("127.0.0.1:9000", "b", true, false, Some("eu-west-1")).unwrap().region, "eu-west-1");
        assert!(resolve("ftp://x", "b", false, false, None).is_err());
        assert!(resolve("host/path", "b", false, false, None).is_err());
    }
}
