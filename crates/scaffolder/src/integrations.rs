//! SCM integrations from `integrations.*`: which hosts templates may name in
//! a `repoUrl`, how their REST API is reached and with which token.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    Github,
    Gitlab,
    /// A plain git host (ours: `integrations.git`), reached only with git.
    Git,
}

#[derive(Debug, Clone)]
pub struct Integration {
    pub kind: HostKind,
    /// Host name, with a port when it has one (`127.0.0.1:8080`).
    pub host: String,
    pub api_base_url: String,
    pub token: Option<String>,
    /// Scheme used to build git remotes for this host (`https` by default).
    pub protocol: String,
    /// User name sent with the token over HTTPS (`integrations.git[].username`).
    pub username: Option<String>,
}

impl std::fmt::Debug for Integrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens never reach a log line.
        let hosts: Vec<&str> = self.list.iter().map(|i| i.host.as_str()).collect();
        f.debug_struct("Integrations")
            .field("hosts", &hosts)
            .finish()
    }
}

#[derive(Clone)]
pub struct Integrations {
    list: Vec<Integration>,
}

fn entries<'a>(config: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    config
        .pointer(&format!("/integrations/{key}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

impl Default for Integrations {
    /// github.com and gitlab.com only.
    fn default() -> Self {
        Self::from_config(&Value::Null)
    }
}

impl Integrations {
    /// Reads `integrations.github`, `integrations.gitlab` and
    /// `integrations.git`; github.com and gitlab.com are known even when not
    /// configured, as in Backstage.
    pub fn from_config(config: &Value) -> Self {
        let mut list = Vec::new();
        for (key, kind, default_host) in [
            ("github", HostKind::Github, "github.com"),
            ("gitlab", HostKind::Gitlab, "gitlab.com"),
            ("git", HostKind::Git, ""),
        ] {
            for e in entries(config, key) {
                let host = str_field(e, "host").unwrap_or_else(|| default_host.to_string());
                if host.is_empty() {
                    continue;
                }
                let protocol = str_field(e, "protocol").unwrap_or_else(|| "https".into());
                let api_base_url = str_field(e, "apiBaseUrl").unwrap_or_else(|| match kind {
                    HostKind::Github if host == "github.com" => "https://api.github.com".into(),
                    HostKind::Github => format!("{protocol}://{host}/api/v3"),
                    HostKind::Gitlab => format!("{protocol}://{host}/api/v4"),
                    HostKind::Git => String::new(),
                });
                list.push(Integration {
                    kind,
                    host,
                    api_base_url,
                    token: str_field(e, "token"),
                    protocol,
                    username: str_field(e, "username"),
                });
            }
        }
        for (kind, host, api) in [
            (HostKind::Github, "github.com", "https://api.github.com"),
            (HostKind::Gitlab, "gitlab.com", "https://gitlab.com/api/v4"),
        ] {
            if !list.iter().any(|i| i.host == host) {
                list.push(Integration {
                    kind,
                    host: host.into(),
                    api_base_url: api.into(),
                    token: None,
                    protocol: "https".into(),
                    username: None,
                });
            }
        }
        Self { list }
    }

    pub fn by_host(&self, host: &str) -> Option<&Integration> {
        self.list.iter().find(|i| i.host.eq_ignore_ascii_case(host))
    }

    pub fn hosts(&self) -> impl Iterator<Item = &Integration> {
        self.list.iter()
    }
}

/// A `RepoUrlPicker` value: `host?owner=o&repo=r` and friends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RepoSpec {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub repo: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// A `repoUrl` that names no configured host or lacks what its host needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RepoUrlError(pub String);

/// Parses a `repoUrl` with Backstage's rules: the host must have an
/// integration, and the parameters it needs must be present.
pub fn parse_repo_url(
    repo_url: &str,
    integrations: &Integrations,
) -> Result<RepoSpec, RepoUrlError> {
    let parsed = url::Url::parse(&format!("https://{repo_url}")).map_err(|_| {
        RepoUrlError(format!(
            "Invalid repo URL passed to publisher, got {repo_url}"
        ))
    })?;
    let host = match (parsed.host_str(), parsed.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => {
            return Err(RepoUrlError(format!(
                "Invalid repo URL passed to publisher, got {repo_url}"
            )));
        }
    };
    let param = |name: &str| {
        parsed
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty())
    };
    let integration = integrations.by_host(&host).ok_or_else(|| {
        RepoUrlError(format!("No matching integration configuration for host {host}, please check your integrations config"))
    })?;
    let owner = param("owner");
    let project = param("project");
    let repo = param("repo");
    let missing = |what: &str| {
        RepoUrlError(format!(
            "Invalid repo URL passed to publisher: {repo_url}, missing {what}"
        ))
    };
    match integration.kind {
        HostKind::Gitlab if project.is_some() => {}
        HostKind::Github | HostKind::Gitlab | HostKind::Git => {
            if owner.is_none() {
                return Err(missing("owner"));
            }
        }
    }
    let repo = match repo {
        Some(r) => r,
        None if project.is_some() && integration.kind == HostKind::Gitlab => String::new(),
        None => return Err(missing("repo")),
    };
    Ok(RepoSpec {
        host,
        owner,
        repo,
        organization: param("organization"),
        workspace: param("workspace"),
        project,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integrations() -> Integrations {
        Integrations::from_config(&serde_json::json!({
            "integrations": {
                "gitlab": [{"host": "gitlab.internal", "token": "t"}],
                "git": [{"host": "127.0.0.1:9418", "protocol": "http"}]
            }
        }))
    }

    #[test]
    fn parses_picker_values_and_names_what_is_missing() {
        let i = integrations();
        let spec = parse_repo_url("github.com?owner=acme&repo=svc", &i).unwrap();
        assert_eq!(
            (spec.owner.as_deref(), spec.repo.as_str()),
            (Some("acme"), "svc")
        );
        let spec = parse_repo_url("127.0.0.1:9418?owner=o&repo=r", &i).unwrap();
        assert_eq!(spec.host, "127.0.0.1:9418");
        assert!(parse_repo_url("gitlab.internal?project=42", &i).is_ok());
        assert!(
            parse_repo_url("github.com?repo=svc", &i)
                .unwrap_err()
                .0
                .contains("missing owner")
        );
        assert!(
            parse_repo_url("unknown.example?owner=o&repo=r", &i)
                .unwrap_err()
                .0
                .contains("No matching integration configuration for host unknown.example")
        );
    }

    #[test]
    fn debug_output_never_shows_tokens() {
        assert!(!format!("{:?}", integrations()).contains("\"t\""));
    }
}
