//! The crate's error type and the mapping of Kubernetes API errors to the port's kinds.

use waybill_core::ObjectRef;
use waybill_engine::CpError;

/// Setting up a Kubernetes client or controller failed.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("failed to load the Kubernetes client configuration: {0}")]
    Config(String),
    #[error("failed to create the Kubernetes client: {0}")]
    Client(String),
}

/// The port's error for a failed request about `about`: the HTTP status decides the kind, so the
/// engine can tell a conflict (re-read and retry) from a refusal (report) from an outage (back off).
pub fn cp_error(about: &ObjectRef, e: kube::Error) -> CpError {
    match e {
        kube::Error::Api(status) => match status.code {
            404 => CpError::NotFound(about.clone()),
            409 if status.reason == "AlreadyExists" => CpError::AlreadyExists(about.clone()),
            409 => CpError::Conflict(about.clone()),
            400 | 422 => CpError::Invalid(about.clone(), status.message),
            429 | 500..=599 => CpError::Unavailable(format!("{about}: {} ({})", status.message, status.code)),
            code => CpError::Other(format!("failed to access {about}: {} ({code})", status.message)),
        },
        other => CpError::Unavailable(format!("{about}: {other}")),
    }
}

/// A client from `kubeconfig`, or else as kubectl finds one: `$KUBECONFIG`, `~/.kube/config`, then
/// the in-cluster service account.
pub async fn client(kubeconfig: Option<&std::path::Path>) -> Result<kube::Client, KubeError> {
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| KubeError::Config(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| KubeError::Config(format!("{}: {e}", path.display())))?
        }
        None => kube::Config::infer().await.map_err(|e| KubeError::Config(e.to_string()))?,
    };
    kube::Client::try_from(config).map_err(|e| KubeError::Client(e.to_string()))
}
