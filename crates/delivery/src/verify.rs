//! `greenroom verify`: is the deployed chain healthy? Argo CD says the
//! Application is Synced and Healthy, the portal's pods are Ready and run the
//! expected image tag, and Kong routes `/` and `/api` to the portal.

use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum VerifyError {
    #[error("{0}")]
    Config(String),
}

/// Where the Application is read from.
#[derive(Debug, Clone)]
pub enum ArgoSource {
    /// The Argo CD REST API with a bearer token.
    Api { url: String, token: String },
    /// The `Application` resource through the Kubernetes API.
    Kubernetes { namespace: String },
}

#[derive(Debug, Clone)]
pub struct KubeApi {
    pub server: String,
    pub token: Option<String>,
    pub ca_pem: Option<Vec<u8>>,
    pub insecure: bool,
}

/// Which groups of checks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub argocd: bool,
    pub pods: bool,
    pub kong: bool,
}

#[derive(Debug, Clone)]
pub struct VerifyConfig {
    pub env: String,
    pub application: String,
    pub namespace: String,
    pub label_selector: String,
    pub expected_tag: Option<String>,
    pub argo: Option<ArgoSource>,
    pub kube: Option<KubeApi>,
    pub kong_url: Option<String>,
    pub selection: Selection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Outcome,
    pub detail: String,
}

impl Check {
    fn new(name: &str, status: Outcome, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
        }
    }
}

/// Reads the cluster address and credentials of a kubeconfig.
pub fn kubeconfig(text: &str, context: Option<&str>) -> Result<KubeApi, VerifyError> {
    let cfg: Value = serde_saphyr::from_str(text)
        .map_err(|e| VerifyError::Config(format!("kubeconfig: {e}")))?;
    let ctx_name = context
        .map(str::to_string)
        .or_else(|| {
            cfg.get("current-context")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .ok_or_else(|| {
            VerifyError::Config("kubeconfig: no current-context; pass --kube-context".into())
        })?;
    let find = |list: &str, name: &str| -> Option<Value> {
        cfg.get(list)?
            .as_array()?
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
            .cloned()
    };
    let ctx = find("contexts", &ctx_name)
        .ok_or_else(|| VerifyError::Config(format!("kubeconfig: no context {ctx_name}")))?;
    let cluster_name = ctx
        .pointer("/context/cluster")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user_name = ctx
        .pointer("/context/user")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let cluster = find("clusters", cluster_name)
        .ok_or_else(|| VerifyError::Config(format!("kubeconfig: no cluster {cluster_name}")))?;
    let server = cluster
        .pointer("/cluster/server")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            VerifyError::Config(format!("kubeconfig: cluster {cluster_name} has no server"))
        })?
        .to_string();
    let ca_pem = match cluster
        .pointer("/cluster/certificate-authority-data")
        .and_then(Value::as_str)
    {
        Some(b64) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| {
                    VerifyError::Config(format!("kubeconfig: certificate-authority-data: {e}"))
                })?,
        ),
        None => None,
    };
    let insecure = cluster
        .pointer("/cluster/insecure-skip-tls-verify")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let token = find("users", user_name).and_then(|u| {
        u.pointer("/user/token")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    Ok(KubeApi {
        server,
        token,
        ca_pem,
        insecure,
    })
}

fn client(kube: Option<&KubeApi>) -> Result<reqwest::Client, VerifyError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(k) = kube {
        if let Some(pem) = &k.ca_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| VerifyError::Config(format!("cluster CA: {e}")))?;
            b = b.add_root_certificate(cert);
        }
        if k.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
    }
    b.build().map_err(|e| VerifyError::Config(e.to_string()))
}

async fn get_json(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> Result<Value, String> {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.map_err(|e| format!("GET {url}: {e}"))?;
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    if !status.is_success() {
        let reason = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .or_else(|| v.get("error"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        return Err(format!("GET {url}: {status} {reason}").trim().to_string());
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))
}

async fn argocd_checks(cfg: &VerifyConfig, http: &reqwest::Client) -> Vec<Check> {
    let (sync_name, health_name) = ("Argo CD application Synced", "Argo CD application Healthy");
    let app = match (&cfg.argo, &cfg.kube) {
        (Some(ArgoSource::Api { url, token }), _) => {
            get_json(
                http,
                &format!(
                    "{}/api/v1/applications/{}",
                    url.trim_end_matches('/'),
                    cfg.application
                ),
                Some(token),
            )
            .await
        }
        (Some(ArgoSource::Kubernetes { namespace }), Some(k)) => {
            get_json(
                http,
                &format!(
                    "{}/apis/argoproj.io/v1alpha1/namespaces/{namespace}/applications/{}",
                    k.server.trim_end_matches('/'),
                    cfg.application
                ),
                k.token.as_deref(),
            )
            .await
        }
        _ => {
            Err("no Argo CD source: pass --argocd-url with --argocd-token, or --kubeconfig".into())
        }
    };
    let app = match app {
        Ok(a) => a,
        Err(e) => {
            return vec![
                Check::new(sync_name, Outcome::Fail, e.clone()),
                Check::new(health_name, Outcome::Fail, e),
            ];
        }
    };
    let sync = app
        .pointer("/status/sync/status")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    let revision = app
        .pointer("/status/sync/revision")
        .and_then(Value::as_str)
        .unwrap_or("");
    let health = app
        .pointer("/status/health/status")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    let health_message = app
        .pointer("/status/health/message")
        .and_then(Value::as_str)
        .unwrap_or("");
    let short = &revision[..revision.len().min(12)];
    let mut checks = vec![if sync == "Synced" {
        Check::new(
            sync_name,
            Outcome::Pass,
            format!("{} is Synced at {short}", cfg.application),
        )
    } else {
        let out_of_sync: Vec<String> = app
            .pointer("/status/resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| r.get("status").and_then(Value::as_str) == Some("OutOfSync"))
            .map(|r| {
                format!(
                    "{}/{}",
                    r.get("kind").and_then(Value::as_str).unwrap_or("?"),
                    r.get("name").and_then(Value::as_str).unwrap_or("?")
                )
            })
            .collect();
        let which = if out_of_sync.is_empty() {
            String::new()
        } else {
            format!(" ({} differ from git)", out_of_sync.join(", "))
        };
        Check::new(
            sync_name,
            Outcome::Fail,
            format!(
                "{} is {sync}{which}; sync it or check the last sync's errors",
                cfg.application
            ),
        )
    }];
    checks.push(if health == "Healthy" {
        Check::new(
            health_name,
            Outcome::Pass,
            format!("{} is Healthy", cfg.application),
        )
    } else {
        let message = if health_message.is_empty() {
            String::new()
        } else {
            format!(": {health_message}")
        };
        Check::new(
            health_name,
            Outcome::Fail,
            format!("{} is {health}{message}", cfg.application),
        )
    });
    checks
}

async fn pod_checks(cfg: &VerifyConfig, http: &reqwest::Client) -> Vec<Check> {
    let (ready_name, tag_name) = (
        "portal pods Ready",
        "portal pods run the expected image tag",
    );
    let Some(kube) = &cfg.kube else {
        let e = "no Kubernetes API: pass --kubeconfig (or --kube-api and --kube-token)".to_string();
        return vec![
            Check::new(ready_name, Outcome::Fail, e.clone()),
            Check::new(tag_name, Outcome::Fail, e),
        ];
    };
    let url = format!(
        "{}/api/v1/namespaces/{}/pods?labelSelector={}",
        kube.server.trim_end_matches('/'),
        cfg.namespace,
        cfg.label_selector.replace('=', "%3D").replace(',', "%2C")
    );
    let pods = match get_json(http, &url, kube.token.as_deref()).await {
        Ok(p) => p,
        Err(e) => {
            return vec![
                Check::new(ready_name, Outcome::Fail, e.clone()),
                Check::new(tag_name, Outcome::Fail, e),
            ];
        }
    };
    let items = pods
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if items.is_empty() {
        let e = format!(
            "no pods match {} in namespace {}",
            cfg.label_selector, cfg.namespace
        );
        return vec![
            Check::new(ready_name, Outcome::Fail, e.clone()),
            Check::new(tag_name, Outcome::Fail, e),
        ];
    }
    let mut not_ready = Vec::new();
    let mut wrong_tag = Vec::new();
    for pod in &items {
        let name = pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let ready = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            });
        if !ready {
            let reasons: Vec<String> = pod
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    let state = c.get("state")?;
                    let (kind, detail) = state.as_object()?.iter().next()?;
                    let reason = detail.get("reason").and_then(Value::as_str).unwrap_or(kind);
                    let restarts = c.get("restartCount").and_then(Value::as_u64).unwrap_or(0);
                    Some(if restarts > 0 {
                        format!("{reason}, {restarts} restarts")
                    } else {
                        reason.to_string()
                    })
                })
                .collect();
            let phase = pod
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Unknown");
            not_ready.push(if reasons.is_empty() {
                format!("{name} ({phase})")
            } else {
                format!("{name} ({})", reasons.join("; "))
            });
        }
        if let Some(tag) = &cfg.expected_tag {
            for c in pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let image = c.get("image").and_then(Value::as_str).unwrap_or("");
                if !image.ends_with(&format!(":{tag}")) {
                    wrong_tag.push(format!("{name} runs {image}"));
                }
            }
        }
    }
    let ready = if not_ready.is_empty() {
        Check::new(
            ready_name,
            Outcome::Pass,
            format!("{} of {} pods Ready", items.len(), items.len()),
        )
    } else {
        Check::new(
            ready_name,
            Outcome::Fail,
            format!("not Ready: {}", not_ready.join(", ")),
        )
    };
    let tag = match (&cfg.expected_tag, wrong_tag.is_empty()) {
        (None, _) => Check::new(
            tag_name,
            Outcome::Skip,
            "no expected tag (the values file has none; pass --tag)",
        ),
        (Some(t), true) => Check::new(
            tag_name,
            Outcome::Pass,
            format!("every container runs :{t}"),
        ),
        (Some(t), false) => Check::new(
            tag_name,
            Outcome::Fail,
            format!("expected :{t}; {}", wrong_tag.join(", ")),
        ),
    };
    vec![ready, tag]
}

async fn kong_checks(cfg: &VerifyConfig, http: &reqwest::Client) -> Vec<Check> {
    let (root_name, api_name) = (
        "Kong routes / to the portal",
        "Kong routes /api to the portal",
    );
    let Some(base) = &cfg.kong_url else {
        let e = "no Kong proxy URL: pass --kong-url".to_string();
        return vec![
            Check::new(root_name, Outcome::Fail, e.clone()),
            Check::new(api_name, Outcome::Fail, e),
        ];
    };
    let base = base.trim_end_matches('/');
    let root = match http.get(format!("{base}/")).send().await {
        Ok(r) if r.status().is_success() => Check::new(
            root_name,
            Outcome::Pass,
            format!("GET {base}/ answered {}", r.status().as_u16()),
        ),
        Ok(r) => Check::new(
            root_name,
            Outcome::Fail,
            format!("GET {base}/ answered {}", r.status()),
        ),
        Err(e) => Check::new(root_name, Outcome::Fail, format!("GET {base}/: {e}")),
    };
    let url = format!("{base}/api/catalog/entities/by-query?limit=1");
    let api = match get_json(http, &url, None).await {
        Ok(v) if v.get("items").is_some() => Check::new(
            api_name,
            Outcome::Pass,
            format!(
                "GET {url} answered 200 ({} entities)",
                v.get("totalItems").and_then(Value::as_i64).unwrap_or(0)
            ),
        ),
        Ok(_) => Check::new(
            api_name,
            Outcome::Fail,
            format!("GET {url} answered, but not with a catalog page"),
        ),
        Err(e) => Check::new(api_name, Outcome::Fail, e),
    };
    vec![root, api]
}

/// Runs the selected checks once.
pub async fn run_checks(cfg: &VerifyConfig) -> Result<Vec<Check>, VerifyError> {
    let http = client(cfg.kube.as_ref())?;
    let mut checks = Vec::new();
    let skip =
        |names: [&str; 2]| names.map(|n| Check::new(n, Outcome::Skip, "not selected (--checks)"));
    if cfg.selection.argocd {
        checks.extend(argocd_checks(cfg, &http).await);
    } else {
        checks.extend(skip([
            "Argo CD application Synced",
            "Argo CD application Healthy",
        ]));
    }
    if cfg.selection.pods {
        checks.extend(pod_checks(cfg, &http).await);
    } else {
        checks.extend(skip([
            "portal pods Ready",
            "portal pods run the expected image tag",
        ]));
    }
    if cfg.selection.kong {
        checks.extend(kong_checks(cfg, &http).await);
    } else {
        checks.extend(skip([
            "Kong routes / to the portal",
            "Kong routes /api to the portal",
        ]));
    }
    Ok(checks)
}

/// Whether no check failed.
pub fn passed(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != Outcome::Fail)
}

/// The table people read.
pub fn table(env: &str, checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!(
        "greenroom verify --env {env}\n\n{:<width$}  {:<6}  DETAIL\n",
        "CHECK", "RESULT"
    );
    for c in checks {
        let status = match c.status {
            Outcome::Pass => "ok",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "skip",
        };
        out.push_str(&format!(
            "{:<width$}  {:<6}  {}\n",
            c.name, status, c.detail
        ));
    }
    let failed = checks.iter().filter(|c| c.status == Outcome::Fail).count();
    out.push_str(&if failed == 0 {
        "\nall checks passed\n".to_string()
    } else {
        format!("\n{failed} check(s) failed\n")
    });
    out
}
