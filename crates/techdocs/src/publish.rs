//! Publishers store built sites under `<namespace>/<kind>/<name>/` and read
//! files back for `/static/docs`. `local` writes to a directory; object
//! storage plugs in by implementing [`Publisher`].

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use thiserror::Error;

use crate::paths::normalize_relative;

#[derive(Debug, Error)]
pub enum PublishError {
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Invalid(String),
}

/// An entity's `namespace/kind/name`, as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Triplet {
    pub namespace: String,
    pub kind: String,
    pub name: String,
}

impl Triplet {
    pub fn new(namespace: &str, kind: &str, name: &str) -> Self {
        Self {
            namespace: namespace.into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    /// Parses `namespace/kind/name` (the CLI's `--entity`).
    pub fn parse(s: &str) -> Result<Self, PublishError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [ns, kind, name] if !ns.is_empty() && !kind.is_empty() && !name.is_empty() => {
                Ok(Self::new(ns, kind, name))
            }
            _ => Err(PublishError::Invalid(format!(
                "'{s}' is not namespace/kind/name"
            ))),
        }
    }

    /// The storage folder: lower-cased unless the legacy case-sensitive layout is on.
    pub fn storage_path(&self, case_sensitive: bool) -> String {
        let path = format!("{}/{}/{}", self.namespace, self.kind, self.name);
        if case_sensitive {
            path
        } else {
            path.to_lowercase()
        }
    }

    pub fn entity_ref(&self) -> String {
        format!(
            "{}:{}/{}",
            self.kind.to_lowercase(),
            self.namespace.to_lowercase(),
            self.name.to_lowercase()
        )
    }

    fn safe(&self) -> Result<(), PublishError> {
        for part in [&self.namespace, &self.kind, &self.name] {
            if part.is_empty() || part == "." || part == ".." || part.contains(['/', '\\']) {
                return Err(PublishError::Invalid(format!(
                    "'{part}' cannot name a docs folder"
                )));
            }
        }
        Ok(())
    }
}

pub trait Publisher: Send + Sync {
    /// Replaces the entity's published site with the files of `site_dir`.
    fn publish(&self, entity: &Triplet, site_dir: &Path) -> Result<usize, PublishError>;
    /// One file of a published site; `None` when absent or when the path
    /// would leave the site.
    fn read(&self, entity: &Triplet, path: &str) -> Result<Option<Vec<u8>>, PublishError>;
    /// Every published site.
    fn list(&self) -> Result<Vec<Triplet>, PublishError>;

    fn metadata(&self, entity: &Triplet) -> Result<Option<Json>, PublishError> {
        Ok(self
            .read(entity, "techdocs_metadata.json")?
            .and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Docs are "generated" when the site has an index page.
    fn has_docs(&self, entity: &Triplet) -> Result<bool, PublishError> {
        Ok(self.read(entity, "index.html")?.is_some())
    }
}

/// `techdocs.publisher.type: local`.
pub struct LocalPublisher {
    dir: PathBuf,
    case_sensitive: bool,
}

fn io(context: &Path, e: std::io::Error) -> PublishError {
    PublishError::Io(format!("{}: {e}", context.display()))
}

fn copy_tree(from: &Path, to: &Path) -> Result<usize, PublishError> {
    let mut n = 0;
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.map_err(|e| PublishError::Io(e.to_string()))?;
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).map_err(|e| io(&dest, e))?;
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &dest).map_err(|e| io(&dest, e))?;
            n += 1;
        }
    }
    Ok(n)
}

impl LocalPublisher {
    pub fn new(dir: PathBuf, case_sensitive: bool) -> Self {
        Self {
            dir,
            case_sensitive,
        }
    }

    fn site_dir(&self, entity: &Triplet) -> Result<PathBuf, PublishError> {
        entity.safe()?;
        Ok(self.dir.join(entity.storage_path(self.case_sensitive)))
    }
}

impl Publisher for LocalPublisher {
    fn publish(&self, entity: &Triplet, site_dir: &Path) -> Result<usize, PublishError> {
        let dest = self.site_dir(entity)?;
        let parent = dest
            .parent()
            .ok_or_else(|| PublishError::Invalid("no parent".into()))?;
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        // Write beside the old site, then swap, so readers never see half a site.
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let staging = parent.join(format!(".{name}.new-{stamp}"));
        let old = parent.join(format!(".{name}.old-{stamp}"));
        let n = copy_tree(site_dir, &staging)?;
        if dest.exists() {
            std::fs::rename(&dest, &old).map_err(|e| io(&dest, e))?;
        }
        std::fs::rename(&staging, &dest).map_err(|e| io(&dest, e))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(n)
    }

    fn read(&self, entity: &Triplet, path: &str) -> Result<Option<Vec<u8>>, PublishError> {
        let Ok(site) = self.site_dir(entity) else {
            return Ok(None);
        };
        let Some(rel) = normalize_relative(path.trim_start_matches('/'))
            .filter(|r| !r.is_empty() || path.is_empty())
        else {
            return Ok(None);
        };
        if path.starts_with('/') || path.contains('\\') {
            return Ok(None);
        }
        let file = site.join(&rel);
        // A link inside the published folder must not lead out of it.
        let (Ok(real), Ok(real_site)) = (file.canonicalize(), site.canonicalize()) else {
            return Ok(None);
        };
        if !real.starts_with(&real_site) || !real.is_file() {
            return Ok(None);
        }
        std::fs::read(&real).map(Some).map_err(|e| io(&real, e))
    }

    fn list(&self) -> Result<Vec<Triplet>, PublishError> {
        let mut out = Vec::new();
        let dirs = |p: &Path| -> Vec<String> {
            std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        };
        for ns in dirs(&self.dir) {
            for kind in dirs(&self.dir.join(&ns)) {
                for name in dirs(&self.dir.join(&ns).join(&kind)) {
                    out.push(Triplet::new(&ns, &kind, &name));
                }
            }
        }
        out.sort_by_key(|t| t.storage_path(true));
        Ok(out)
    }
}

/// The publisher `techdocs.publisher` configures. Object storage types are
/// refused with a clear message until their publishers exist.
pub fn publisher_from_config(raw: &Json) -> Result<std::sync::Arc<dyn Publisher>, PublishError> {
    let kind = raw
        .pointer("/techdocs/publisher/type")
        .and_then(Json::as_str)
        .unwrap_or("local");
    if kind != "local" {
        return Err(PublishError::Invalid(format!(
            "techdocs.publisher.type '{kind}' is not available in this build; use local"
        )));
    }
    let dir = raw
        .pointer("/techdocs/publisher/local/publishDirectory")
        .and_then(Json::as_str)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("./greenroom-data/techdocs"));
    let case_sensitive = raw
        .pointer("/techdocs/legacyUseCaseSensitiveTripletPaths")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    Ok(std::sync::Arc::new(LocalPublisher::new(
        dir,
        case_sensitive,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stay_inside_the_site() {
        let dir = tempfile::tempdir().unwrap();
        let site = tempfile::tempdir().unwrap();
        std::fs::write(site.path().join("index.html"), "hi").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
        let p = LocalPublisher::new(dir.path().join("pub"), false);
        let t = Triplet::new("Default", "Component", "Svc");
        p.publish(&t, site.path()).unwrap();
        assert!(
            dir.path()
                .join("pub/default/component/svc/index.html")
                .is_file()
        );
        assert_eq!(
            p.read(&t, "index.html").unwrap().as_deref(),
            Some(&b"hi"[..])
        );
        for bad in ["../../../secret.txt", "/etc/passwd", "a/../../x", "..\\x"] {
            assert_eq!(p.read(&t, bad).unwrap(), None, "{bad}");
        }
        std::os::unix::fs::symlink(
            dir.path().join("secret.txt"),
            dir.path().join("pub/default/component/svc/link"),
        )
        .unwrap();
        assert_eq!(p.read(&t, "link").unwrap(), None);
        assert!(p.has_docs(&t).unwrap());
        assert_eq!(
            p.list().unwrap(),
            vec![Triplet::new("default", "component", "svc")]
        );
    }
}
