//! Readers: turn a location (`file`, `url`, `bundled`) into file contents.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use globset::GlobBuilder;
use greenroom_config::ReadAllow;
use thiserror::Error;

use crate::bundled::{self, BUNDLED_TYPE};

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ReadError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Unavailable(String),
}

impl ReadError {
    /// The Backstage error name this maps to.
    pub fn name(&self) -> &'static str {
        match self {
            ReadError::NotFound(_) => "NotFoundError",
            ReadError::NotAllowed(_) => "NotAllowedError",
            ReadError::Input(_) => "InputError",
            ReadError::Unavailable(_) => "Error",
        }
    }
}

/// One file read from a location: where it came from and its bytes.
#[derive(Debug, Clone)]
pub struct ReadFile {
    pub location_type: String,
    /// Absolute path, URL or bundled path.
    pub location: String,
    pub bytes: Vec<u8>,
}

impl ReadFile {
    pub fn location_key(&self) -> String {
        format!("{}:{}", self.location_type, self.location)
    }
}

#[derive(Clone)]
pub struct Readers {
    client: reqwest::Client,
    allow: Vec<ReadAllow>,
}

fn has_glob(target: &str) -> bool {
    target.contains(['*', '?', '[', '{'])
}

/// Lexically normalises `a/b/../c` to `a/c` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn glob_matcher(pattern: &str) -> Result<globset::GlobMatcher, ReadError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| ReadError::Input(format!("Invalid glob pattern {pattern}: {e}")))
}

impl Readers {
    pub fn new(allow: Vec<ReadAllow>) -> Self {
        // reqwest is built without a default TLS provider; ring is ours.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("greenroom/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self { client, allow }
    }

    /// Resolves a target relative to the file it was found in (same type).
    pub fn resolve(kind: &str, base: &str, target: &str) -> String {
        match kind {
            "url" => url::Url::parse(base)
                .and_then(|b| b.join(target))
                .map(|u| u.to_string())
                .unwrap_or_else(|_| target.to_string()),
            _ if target.starts_with('.') => {
                let dir = Path::new(base).parent().unwrap_or(Path::new(""));
                normalize(&dir.join(target)).to_string_lossy().into_owned()
            }
            _ => target.to_string(),
        }
    }

    /// Whether `backend.reading.allow` permits reading this URL.
    pub fn url_allowed(&self, target: &url::Url) -> bool {
        let Some(host) = target.host_str() else {
            return false;
        };
        let with_port = match target.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        self.allow.iter().any(|a| {
            let host_ok = if let Some(suffix) = a.host.strip_prefix("*.") {
                host.ends_with(&format!(".{suffix}"))
            } else {
                a.host == with_port || (a.host == host && target.port().is_none())
            };
            host_ok
                && (a.paths.is_empty()
                    || a.paths
                        .iter()
                        .any(|p| target.path().starts_with(p.as_str())))
        })
    }

    /// Reads every file a location target names (globs expand; no match is NotFound).
    pub async fn read_location(
        &self,
        kind: &str,
        target: &str,
    ) -> Result<Vec<ReadFile>, ReadError> {
        match kind {
            "file" => {
                let target = target.to_string();
                tokio::task::spawn_blocking(move || read_files(&target))
                    .await
                    .map_err(|e| ReadError::Unavailable(format!("reader task failed: {e}")))?
            }
            BUNDLED_TYPE => read_bundled(target),
            "url" => {
                let bytes = self.read_url(target).await?;
                Ok(vec![ReadFile {
                    location_type: "url".into(),
                    location: target.to_string(),
                    bytes,
                }])
            }
            other => Err(ReadError::Input(format!("Unknown location type '{other}'"))),
        }
    }

    /// Reads exactly one file (placeholders, docs).
    pub async fn read_one(&self, kind: &str, target: &str) -> Result<Vec<u8>, ReadError> {
        if has_glob(target) {
            return Err(ReadError::Input(format!(
                "{target} is a pattern, expected one file"
            )));
        }
        let mut files = self.read_location(kind, target).await?;
        files
            .pop()
            .map(|f| f.bytes)
            .ok_or_else(|| ReadError::NotFound(format!("{kind} {target} does not exist")))
    }

    async fn read_url(&self, target: &str) -> Result<Vec<u8>, ReadError> {
        if target.starts_with("git+") {
            return self.read_git(target).await;
        }
        let parsed = url::Url::parse(target)
            .map_err(|e| ReadError::Input(format!("Invalid URL {target}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ReadError::Input(format!(
                "Unsupported URL scheme in {target}"
            )));
        }
        if !self.url_allowed(&parsed) {
            return Err(ReadError::NotAllowed(format!(
                "Reading from '{target}' is not allowed. You may need to configure an integration for the target host, or add it to the configured list of allowed hosts at 'backend.reading.allow'"
            )));
        }
        let response = self
            .client
            .get(parsed)
            .send()
            .await
            .map_err(|e| ReadError::Unavailable(format!("Unable to read {target}, {e}")))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(ReadError::NotFound(format!(
                "Unable to read url, could not read {target}, 404 Not Found"
            )));
        }
        if !status.is_success() {
            return Err(ReadError::Unavailable(format!(
                "Unable to read {target}, {status}"
            )));
        }
        response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| ReadError::Unavailable(format!("Unable to read {target}, {e}")))
    }
}

impl Readers {
    /// Reads one file from a git repository: `git+<remote>#<branch>:<path>`
    /// (what `publish:git` reports as `repoContentsUrl`). The remote's host
    /// must be allowed by `backend.reading.allow`; a `file://` remote needs
    /// an entry with host `localhost` whose paths cover the repository.
    async fn read_git(&self, target: &str) -> Result<Vec<u8>, ReadError> {
        let invalid = || {
            ReadError::Input(format!(
                "Invalid git URL {target}: expected git+<remote>#<branch>:<path>"
            ))
        };
        let git = GitTarget::parse(target).ok_or_else(invalid)?;
        let (remote, branch, path) = (git.remote.as_str(), git.branch.as_str(), git.path.clone());
        if path.is_empty() {
            return Err(invalid());
        }
        let parsed = url::Url::parse(remote).map_err(|_| invalid())?;
        let allowed = match parsed.scheme() {
            "http" | "https" => self.url_allowed(&parsed),
            "file" => self.allow.iter().any(|a| {
                a.host == "localhost"
                    && a.paths
                        .iter()
                        .any(|p| parsed.path().starts_with(p.as_str()))
            }),
            _ => false,
        };
        if !allowed {
            return Err(ReadError::NotAllowed(format!(
                "Reading from '{target}' is not allowed. You may need to configure an integration for the target host, or add it to the configured list of allowed hosts at 'backend.reading.allow'"
            )));
        }
        let (remote, branch) = (remote.to_string(), branch.to_string());
        let target = target.to_string();
        tokio::task::spawn_blocking(move || read_git_blob(&target, &remote, &branch, &path))
            .await
            .map_err(|e| ReadError::Unavailable(format!("reader task failed: {e}")))?
    }
}

/// A `git+<remote>#<branch>:<path>` target, split.
pub struct GitTarget {
    pub remote: String,
    pub branch: String,
    /// '/'-separated, without a leading '/'.
    pub path: String,
}

impl GitTarget {
    pub fn parse(target: &str) -> Option<Self> {
        let spec = target.strip_prefix("git+")?;
        let (remote, rest) = spec.split_once('#')?;
        let (branch, path) = rest.split_once(':')?;
        (!branch.is_empty() && !remote.is_empty()).then(|| GitTarget {
            remote: remote.to_string(),
            branch: branch.to_string(),
            path: path.trim_start_matches('/').to_string(),
        })
    }
}

/// Fetches `branch` (one commit deep) into a scratch bare repository.
fn fetch_branch(
    target: &str,
    remote: &str,
    branch: &str,
) -> Result<(tempfile::TempDir, git2::Repository), ReadError> {
    let unavailable = |e: git2::Error| {
        ReadError::Unavailable(format!("Unable to read {target}, {}", e.message()))
    };
    let scratch = tempfile::tempdir()
        .map_err(|e| ReadError::Unavailable(format!("Unable to read {target}, {e}")))?;
    let repo = git2::Repository::init_bare(scratch.path()).map_err(unavailable)?;
    {
        let mut remote_handle = repo.remote_anonymous(remote).map_err(unavailable)?;
        let mut options = git2::FetchOptions::new();
        options.depth(1);
        let refspec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
        remote_handle
            .fetch(&[refspec.as_str()], Some(&mut options), None)
            .map_err(|e| match e.code() {
                git2::ErrorCode::NotFound => ReadError::NotFound(format!(
                    "Unable to read {target}, branch {branch} not found"
                )),
                _ => unavailable(e),
            })?;
    }
    Ok((scratch, repo))
}

/// Reads one file of a branch.
fn read_git_blob(
    target: &str,
    remote: &str,
    branch: &str,
    path: &str,
) -> Result<Vec<u8>, ReadError> {
    let (_scratch, repo) = fetch_branch(target, remote, branch)?;
    let tip = repo
        .revparse_single(&format!("refs/remotes/origin/{branch}:{path}"))
        .map_err(|_| {
            ReadError::NotFound(format!(
                "Unable to read url, could not read {target}, 404 Not Found"
            ))
        })?;
    let blob = tip
        .peel_to_blob()
        .map_err(|_| ReadError::Input(format!("{target} is not a file")))?;
    Ok(blob.content().to_vec())
}

/// Writes the folder `dir` of a branch into `dest` (regular files with their
/// executable bit; links and submodules are left out), for templates whose
/// files live in git.
pub fn checkout_git_dir(target: &GitTarget, dir: &str, dest: &Path) -> Result<usize, ReadError> {
    let shown = format!("git+{}#{}:{dir}", target.remote, target.branch);
    let (_scratch, repo) = fetch_branch(&shown, &target.remote, &target.branch)?;
    let spec = format!(
        "refs/remotes/origin/{}:{}",
        target.branch,
        dir.trim_matches('/')
    );
    let tree = repo
        .revparse_single(spec.trim_end_matches(':'))
        .and_then(|o| o.peel_to_tree())
        .map_err(|_| ReadError::NotFound(format!("{shown} is not a folder of the repository")))?;
    let mut written = 0;
    let mut failure = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
        let mode = entry.filemode();
        if entry.kind() != Some(git2::ObjectType::Blob) || mode == 0o120000 {
            return git2::TreeWalkResult::Ok;
        }
        let rel = format!("{root}{}", entry.name().unwrap_or_default());
        let Some(safe) = normalize_checked(&rel) else {
            failure = Some(ReadError::Input(format!(
                "{shown}: entry {rel} leaves the folder"
            )));
            return git2::TreeWalkResult::Abort;
        };
        let result = repo
            .find_blob(entry.id())
            .map_err(|e| e.message().to_string())
            .and_then(|blob| {
                let path = dest.join(&safe);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::write(&path, blob.content()).map_err(|e| e.to_string())?;
                #[cfg(unix)]
                if mode == 0o100755 {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            });
        match result {
            Ok(()) => {
                written += 1;
                git2::TreeWalkResult::Ok
            }
            Err(e) => {
                failure = Some(ReadError::Unavailable(format!(
                    "{shown}: writing {rel}: {e}"
                )));
                git2::TreeWalkResult::Abort
            }
        }
    })
    .map_err(|e| {
        failure
            .take()
            .unwrap_or_else(|| ReadError::Unavailable(format!("{shown}: {}", e.message())))
    })?;
    if let Some(f) = failure {
        return Err(f);
    }
    Ok(written)
}

/// A relative path inside its root, or `None`.
fn normalize_checked(rel: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn read_files(target: &str) -> Result<Vec<ReadFile>, ReadError> {
    let path = normalize(Path::new(target));
    let file = |p: &Path| -> Result<ReadFile, ReadError> {
        let bytes = std::fs::read(p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                ReadError::NotFound(format!("file {target} does not exist"))
            }
            _ => ReadError::Unavailable(format!("Unable to read file {}, {e}", p.display())),
        })?;
        Ok(ReadFile {
            location_type: "file".into(),
            location: p.to_string_lossy().into_owned(),
            bytes,
        })
    };
    if !has_glob(target) {
        return file(&path).map(|f| vec![f]);
    }
    // Walk from the longest directory prefix without glob characters.
    let mut base = PathBuf::new();
    for c in path.components() {
        if has_glob(&c.as_os_str().to_string_lossy()) {
            break;
        }
        base.push(c.as_os_str());
    }
    let matcher = glob_matcher(&path.to_string_lossy())?;
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&base)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_file() && matcher.is_match(entry.path()) {
            out.push(file(entry.path())?);
        }
    }
    if out.is_empty() {
        return Err(ReadError::NotFound(format!("file {target} does not exist")));
    }
    Ok(out)
}

fn read_bundled(target: &str) -> Result<Vec<ReadFile>, ReadError> {
    let path = normalize(Path::new(target.trim_start_matches('/')))
        .to_string_lossy()
        .into_owned();
    let make = |p: &str, bytes| ReadFile {
        location_type: BUNDLED_TYPE.into(),
        location: p.to_string(),
        bytes,
    };
    if !has_glob(&path) {
        return bundled::read(&path)
            .map(|b| vec![make(&path, b)])
            .ok_or_else(|| ReadError::NotFound(format!("bundled file {target} does not exist")));
    }
    let matcher = glob_matcher(&path)?;
    let mut names: Vec<String> = bundled::list()
        .into_iter()
        .filter(|p| matcher.is_match(p))
        .collect();
    names.sort();
    let out: Vec<ReadFile> = names
        .iter()
        .filter_map(|p| bundled::read(p).map(|b| make(p, b)))
        .collect();
    if out.is_empty() {
        return Err(ReadError::NotFound(format!(
            "bundled file {target} does not exist"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_targets_resolve_against_their_file() {
        assert_eq!(
            Readers::resolve("file", "/srv/catalog/all.yaml", "./teams/a.yaml"),
            "/srv/catalog/teams/a.yaml"
        );
        assert_eq!(
            Readers::resolve("file", "/srv/catalog/all.yaml", "../x.yaml"),
            "/srv/x.yaml"
        );
        assert_eq!(
            Readers::resolve("file", "/srv/catalog/all.yaml", "/abs.yaml"),
            "/abs.yaml"
        );
        assert_eq!(
            Readers::resolve("url", "http://h/a/b/all.yaml", "./c.yaml"),
            "http://h/a/b/c.yaml"
        );
    }

    #[tokio::test]
    async fn file_globs_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/one.yaml"), "x").unwrap();
        std::fs::write(dir.path().join("a/b/two.yaml"), "y").unwrap();
        std::fs::write(dir.path().join("a/b/skip.txt"), "z").unwrap();
        let r = Readers::new(Vec::new());
        let base = dir.path().to_string_lossy();
        let files = r
            .read_location("file", &format!("{base}/a/**/*.yaml"))
            .await
            .unwrap();
        assert_eq!(files.len(), 2);
        let err = r
            .read_location("file", &format!("{base}/nope.yaml"))
            .await
            .unwrap_err();
        assert_eq!(err.name(), "NotFoundError");
        let err = r
            .read_location("url", "http://127.0.0.1:9/x.yaml")
            .await
            .unwrap_err();
        assert_eq!(err.name(), "NotAllowedError");
    }

    #[test]
    fn allow_list_matches_host_port_and_paths() {
        let r = Readers::new(vec![
            ReadAllow {
                host: "127.0.0.1:8080".into(),
                paths: vec!["/catalog/".into()],
            },
            ReadAllow {
                host: "*.example.com".into(),
                paths: vec![],
            },
        ]);
        let ok = |u: &str| r.url_allowed(&url::Url::parse(u).unwrap());
        assert!(ok("http://127.0.0.1:8080/catalog/a.yaml"));
        assert!(!ok("http://127.0.0.1:8080/other/a.yaml"));
        assert!(!ok("http://127.0.0.1:8081/catalog/a.yaml"));
        assert!(ok("https://docs.example.com/x"));
        assert!(!ok("https://example.org/x"));
    }
}
