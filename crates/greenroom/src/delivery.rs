//! `greenroom promote` and `greenroom verify`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use greenroom_delivery::promote::{diff, read_tag, set_tag, valid_tag};
use greenroom_delivery::verify::{self, ArgoSource, KubeApi, Selection, VerifyConfig};

/// The chart whose values files name the environments.
const CHART: &str = "helm/backstage";

fn values_dir(gitops: &Path) -> PathBuf {
    gitops.join(CHART).join("values")
}

fn environments(gitops: &Path) -> Vec<String> {
    let mut envs: Vec<String> = std::fs::read_dir(values_dir(gitops))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".yaml")
                .map(str::to_string)
        })
        .collect();
    envs.sort();
    envs
}

fn values_file(gitops: &Path, env: &str) -> anyhow::Result<PathBuf> {
    let envs = environments(gitops);
    if !envs.iter().any(|e| e == env) {
        bail!(
            "unknown environment '{env}': the environments are {} (from {})",
            if envs.is_empty() {
                "none".to_string()
            } else {
                envs.join(", ")
            },
            values_dir(gitops).display()
        );
    }
    Ok(values_dir(gitops).join(format!("{env}.yaml")))
}

pub fn run_promote(
    from: Option<&str>,
    to: &str,
    tag: Option<&str>,
    gitops: &Path,
) -> anyhow::Result<i32> {
    let target = values_file(gitops, to)?;
    let tag = match (tag, from) {
        (Some(t), _) => t.to_string(),
        (None, Some(from)) => {
            let source = values_file(gitops, from)?;
            let text = std::fs::read_to_string(&source)
                .with_context(|| format!("reading {}", source.display()))?;
            read_tag(&text).with_context(|| format!("{} has no image.tag", source.display()))?
        }
        (None, None) => bail!("say what to promote: --from ENV or --tag TAG"),
    };
    if !valid_tag(&tag) {
        bail!(
            "'{tag}' is not an image tag: tags are 1-128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        );
    }
    let old = std::fs::read_to_string(&target)
        .with_context(|| format!("reading {}", target.display()))?;
    if read_tag(&old).as_deref() == Some(tag.as_str()) {
        eprintln!("{to} already runs {tag}; nothing to change");
        return Ok(0);
    }
    let new = set_tag(&old, &tag, &target.display().to_string())?;
    std::fs::write(&target, &new).with_context(|| format!("writing {}", target.display()))?;
    print!("{}", diff(&target.display().to_string(), &old, &new));
    Ok(0)
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    #[arg(long)]
    pub env: String,
    /// The Argo CD Application (default backstage-<env>).
    #[arg(long)]
    pub application: Option<String>,
    /// The portal's namespace (default backstage-<env>).
    #[arg(long)]
    pub namespace: Option<String>,
    #[arg(long, env = "ARGOCD_SERVER_URL")]
    pub argocd_url: Option<String>,
    #[arg(long, env = "ARGOCD_AUTH_TOKEN", hide_env_values = true)]
    pub argocd_token: Option<String>,
    /// Where Application resources live, when read through Kubernetes.
    #[arg(long, default_value = "argocd")]
    pub argocd_namespace: String,
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    #[arg(long)]
    pub kube_context: Option<String>,
    /// A Kubernetes API URL (instead of a kubeconfig).
    #[arg(long)]
    pub kube_api: Option<String>,
    #[arg(long, env = "KUBE_TOKEN", hide_env_values = true)]
    pub kube_token: Option<String>,
    /// Kong's proxy URL, e.g. https://greenroom.example.com
    #[arg(long, env = "KONG_PROXY_URL")]
    pub kong_url: Option<String>,
    /// The expected image tag (default: image.tag of the env's values file).
    #[arg(long)]
    pub tag: Option<String>,
    #[arg(long, default_value = "gitops")]
    pub gitops_dir: PathBuf,
    /// Which checks: argocd, pods, kong (comma-separated) or all.
    #[arg(long, default_value = "all")]
    pub checks: String,
    /// table or json
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
    /// Poll until every check passes or this long has passed (30s, 5m).
    #[arg(long)]
    pub wait: Option<String>,
    #[arg(long, default_value = "5s")]
    pub interval: String,
}

fn duration(s: &str) -> anyhow::Result<Duration> {
    greenroom_config::parse_duration(&serde_json::Value::String(s.to_string()))
        .map_err(|_| anyhow::anyhow!("'{s}' is not a duration (try 30s, 5m)"))
}

pub async fn run_verify(args: VerifyArgs) -> anyhow::Result<i32> {
    let selection = {
        let names: Vec<&str> = args.checks.split(',').map(str::trim).collect();
        for n in &names {
            if !["argocd", "pods", "kong", "all"].contains(n) {
                bail!("--checks takes argocd, pods, kong (comma-separated) or all; got '{n}'");
            }
        }
        let all = names.contains(&"all");
        Selection {
            argocd: all || names.contains(&"argocd"),
            pods: all || names.contains(&"pods"),
            kong: all || names.contains(&"kong"),
        }
    };
    let kube = match (&args.kube_api, &args.kubeconfig) {
        (Some(server), _) => Some(KubeApi {
            server: server.clone(),
            token: args.kube_token.clone(),
            ca_pem: None,
            insecure: false,
        }),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut k = verify::kubeconfig(&text, args.kube_context.as_deref())?;
            if args.kube_token.is_some() {
                k.token = args.kube_token.clone();
            }
            Some(k)
        }
        (None, None) => None,
    };
    let argo = match (&args.argocd_url, &args.argocd_token) {
        (Some(url), Some(token)) => Some(ArgoSource::Api {
            url: url.clone(),
            token: token.clone(),
        }),
        (Some(_), None) => bail!("--argocd-url needs --argocd-token (or ARGOCD_AUTH_TOKEN)"),
        _ if kube.is_some() => Some(ArgoSource::Kubernetes {
            namespace: args.argocd_namespace.clone(),
        }),
        _ => None,
    };
    let expected_tag = match &args.tag {
        Some(t) => Some(t.clone()),
        None => values_file(&args.gitops_dir, &args.env)
            .ok()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| read_tag(&t))
            .filter(|t| !t.is_empty()),
    };
    let cfg = VerifyConfig {
        env: args.env.clone(),
        application: args
            .application
            .clone()
            .unwrap_or_else(|| format!("backstage-{}", args.env)),
        namespace: args
            .namespace
            .clone()
            .unwrap_or_else(|| format!("backstage-{}", args.env)),
        label_selector: "app.kubernetes.io/name=backstage".into(),
        expected_tag,
        argo,
        kube,
        kong_url: args.kong_url.clone(),
        selection,
    };
    let deadline = args
        .wait
        .as_deref()
        .map(duration)
        .transpose()?
        .map(|d| Instant::now() + d);
    let interval = duration(&args.interval)?;
    let checks = loop {
        let checks = verify::run_checks(&cfg).await?;
        if verify::passed(&checks) || deadline.is_none_or(|d| Instant::now() + interval > d) {
            break checks;
        }
        if args.output != "json" {
            let failing: Vec<&str> = checks
                .iter()
                .filter(|c| c.status == verify::Outcome::Fail)
                .map(|c| c.name.as_str())
                .collect();
            eprintln!("waiting: {}", failing.join(", "));
        }
        tokio::time::sleep(interval).await;
    };
    let ok = verify::passed(&checks);
    if args.output == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "env": args.env, "ok": ok, "checks": checks })
            )?
        );
    } else {
        print!("{}", verify::table(&args.env, &checks));
    }
    Ok(if ok { 0 } else { 1 })
}
