//! How the agent reaches the API server and who it is: credentials (a kubeconfig, else the
//! in-cluster service account), the node it runs on, its namespace and identity (for the
//! Lease), and how to reach its kubelet.
//!
//! Precedence for each setting: the config file's `kubernetes` section, then the command-line
//! flag, then the environment (`KUBECONFIG`, `NODE_NAME`, `HOST_IP`, `POD_NAME`,
//! `POD_NAMESPACE`), then the service-account files. `enabled: auto` turns discovery on only
//! when credentials exist; `enabled: true` makes missing credentials a start-up error.
//! Cost: start-up only.

use super::builtin::KubeletAccess;
use lookout_config::{KubernetesConfig, KubernetesEnabled};
use std::path::{Path, PathBuf};

/// The service account's mount point in every pod.
pub const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Values from the command line (`--kubeconfig`, `--node-name`).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub kubeconfig: Option<PathBuf>,
    pub node_name: Option<String>,
    /// The service-account directory (default [`SA_DIR`]; tests point it elsewhere).
    pub sa_dir: Option<PathBuf>,
}

/// Everything discovery needs to start.
#[derive(Clone)]
pub struct Access {
    pub client: kube::Client,
    pub node_name: String,
    /// The namespace of the Lease.
    pub lease_namespace: String,
    /// The Lease holder identity (the pod name, else the node name).
    pub identity: String,
    /// Kubelet access, when a service-account token is available.
    pub kubelet: Option<KubeletAccess>,
    /// `HOST_IP` if set; else the kubelet address is taken from a pod's `status.hostIP`.
    pub host_ip: Option<String>,
}

/// Why discovery could not start.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("reading kubeconfig {path}: {message}")]
    Kubeconfig { path: PathBuf, message: String },
    #[error("in-cluster configuration: {0}")]
    InCluster(String),
    #[error("building the Kubernetes client: {0}")]
    Client(String),
    #[error(
        "kubernetes.enabled is true but there are no credentials (no kubeconfig, not in a cluster)"
    )]
    NoCredentials,
    #[error("the node name is unknown: set NODE_NAME, --node-name or kubernetes.node_name")]
    NoNodeName,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn read_trimmed(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Resolves access; `Ok(None)` when discovery is off (or `auto` without credentials or
/// without a node name).
pub async fn resolve(
    cfg: &KubernetesConfig,
    flags: &Flags,
    sa_dir: &Path,
) -> Result<Option<Access>, AccessError> {
    if cfg.enabled == KubernetesEnabled::Off {
        return Ok(None);
    }
    let kubeconfig = cfg
        .kubeconfig
        .clone()
        .or_else(|| flags.kubeconfig.clone())
        .or_else(|| env("KUBECONFIG").map(PathBuf::from));
    let token_file = sa_dir.join("token");
    let in_cluster = env("KUBERNETES_SERVICE_HOST").is_some() && token_file.exists();
    let kube_cfg = if let Some(path) = &kubeconfig {
        let kc =
            kube::config::Kubeconfig::read_from(path).map_err(|e| AccessError::Kubeconfig {
                path: path.clone(),
                message: e.to_string(),
            })?;
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| AccessError::Kubeconfig {
                path: path.clone(),
                message: e.to_string(),
            })?
    } else if in_cluster {
        kube::Config::incluster().map_err(|e| AccessError::InCluster(e.to_string()))?
    } else if cfg.enabled == KubernetesEnabled::On {
        return Err(AccessError::NoCredentials);
    } else {
        return Ok(None);
    };
    let Some(node_name) = cfg
        .node_name
        .clone()
        .or_else(|| flags.node_name.clone())
        .or_else(|| env("NODE_NAME"))
    else {
        if cfg.enabled == KubernetesEnabled::On {
            return Err(AccessError::NoNodeName);
        }
        tracing::warn!(
            "kubernetes credentials found but no node name (NODE_NAME, --node-name); kubernetes discovery stays off"
        );
        return Ok(None);
    };
    let lease_namespace = cfg
        .lease_namespace
        .clone()
        .or_else(|| env("POD_NAMESPACE"))
        .or_else(|| read_trimmed(&sa_dir.join("namespace")))
        .unwrap_or_else(|| kube_cfg.default_namespace.clone());
    let identity = env("POD_NAME").unwrap_or_else(|| node_name.clone());
    let ca = sa_dir.join("ca.crt");
    let kubelet = (cfg.kubelet && token_file.exists()).then(|| KubeletAccess {
        node_name: node_name.clone(),
        host: String::new(),
        token_file: token_file.clone(),
        ca_file: ca.exists().then_some(ca),
        insecure_skip_verify: cfg.kubelet_insecure_skip_verify,
    });
    if cfg.kubelet && kubelet.is_none() {
        tracing::warn!(
            "kubelet scraping is on but there is no service-account token in {}; skipping the kubelet",
            sa_dir.display()
        );
    }
    let client =
        kube::Client::try_from(kube_cfg).map_err(|e| AccessError::Client(e.to_string()))?;
    Ok(Some(Access {
        client,
        node_name,
        lease_namespace,
        identity,
        kubelet,
        host_ip: env("HOST_IP"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(enabled: KubernetesEnabled) -> KubernetesConfig {
        KubernetesConfig {
            enabled,
            ..KubernetesConfig::default()
        }
    }

    #[tokio::test]
    async fn off_auto_and_on_without_credentials() {
        if env("KUBECONFIG").is_some() || env("KUBERNETES_SERVICE_HOST").is_some() {
            return; // the environment provides credentials; nothing to check here
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let sa = dir.path().join("sa");
        let flags = Flags::default();
        let off = resolve(&cfg(KubernetesEnabled::Off), &flags, &sa).await;
        assert!(matches!(off, Ok(None)));
        let auto = resolve(&cfg(KubernetesEnabled::Auto), &flags, &sa).await;
        assert!(matches!(auto, Ok(None)));
        let on = resolve(&cfg(KubernetesEnabled::On), &flags, &sa).await;
        assert!(
            matches!(on, Err(AccessError::NoCredentials)),
            "{:?}",
            on.err()
        );
        // A kubeconfig that does not exist is a clear error naming it.
        let mut c = cfg(KubernetesEnabled::Auto);
        c.kubeconfig = Some(dir.path().join("missing.yaml"));
        match resolve(&c, &flags, &sa).await {
            Err(AccessError::Kubeconfig { path, .. }) => assert!(path.ends_with("missing.yaml")),
            other => panic!("unexpected: {:?}", other.err()),
        }
    }

    #[tokio::test]
    async fn node_name_is_required_when_on_and_optional_when_auto() {
        if env("NODE_NAME").is_some() {
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let kc = dir.path().join("kc.yaml");
        std::fs::write(
            &kc,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
        )
        .expect("write");
        let flags = Flags {
            kubeconfig: Some(kc),
            ..Flags::default()
        };
        let sa = dir.path().join("sa");
        let auto = resolve(&cfg(KubernetesEnabled::Auto), &flags, &sa).await;
        assert!(matches!(auto, Ok(None)), "{:?}", auto.err());
        let on = resolve(&cfg(KubernetesEnabled::On), &flags, &sa).await;
        assert!(matches!(on, Err(AccessError::NoNodeName)), "{:?}", on.err());
        let with_flag = Flags {
            node_name: Some("n1".into()),
            ..flags
        };
        let a = resolve(&cfg(KubernetesEnabled::On), &with_flag, &sa)
            .await
            .expect("resolves")
            .expect("on");
        assert_eq!(a.node_name, "n1");
        assert!(a.kubelet.is_none(), "no service-account token, no kubelet");
    }
}
