//! Where files come from and where they may go.
//!
//! A template reads only from its own directory ([`TemplateSource`]), and
//! every path an action writes is resolved by [`Workspace::resolve`], which
//! refuses absolute paths, `..` escapes and paths through symbolic links.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PathError {
    #[error("{input}: '{path}' is an absolute path; only paths relative to the {root} are allowed")]
    Absolute {
        input: String,
        path: String,
        root: &'static str,
    },
    #[error("{input}: '{path}' refers to a location outside the {root}")]
    Escapes {
        input: String,
        path: String,
        root: &'static str,
    },
    #[error("{input}: '{path}' goes through the symbolic link '{link}', which is not allowed")]
    Symlink {
        input: String,
        path: String,
        link: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Io(String),
}

/// One file of a tree: its path relative to the tree root ('/'-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub contents: Vec<u8>,
    pub executable: bool,
    /// The link target when the entry is a symbolic link (copied as a link).
    pub symlink: Option<String>,
}

/// Lexically normalizes a relative path; `None` when it climbs above its root.
fn normalize_relative(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Checks a user-given relative path and returns it normalized.
pub fn safe_relative(input: &str, path: &str, root: &'static str) -> Result<PathBuf, PathError> {
    if Path::new(path).is_absolute() || path.starts_with('\\') {
        return Err(PathError::Absolute {
            input: input.into(),
            path: path.into(),
            root,
        });
    }
    normalize_relative(path).ok_or_else(|| PathError::Escapes {
        input: input.into(),
        path: path.into(),
        root,
    })
}

/// A task's working directory.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `path` (from the input named `input`) inside the workspace.
    /// Existing parts of the path must not be symbolic links.
    pub fn resolve(&self, input: &str, path: &str) -> Result<PathBuf, PathError> {
        let rel = safe_relative(input, path, "workspace")?;
        let mut cur = self.root.clone();
        for part in rel.components() {
            cur.push(part);
            match std::fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(PathError::Symlink {
                        input: input.into(),
                        path: path.into(),
                        link: cur
                            .strip_prefix(&self.root)
                            .unwrap_or(&cur)
                            .display()
                            .to_string(),
                    });
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Ok(self.root.join(rel))
    }

    /// Writes one tree entry at `dest` (already resolved), creating parents.
    /// Existing files are kept unless `replace`.
    pub fn write_entry(
        &self,
        dest: &Path,
        entry: &TreeEntry,
        replace: bool,
    ) -> Result<bool, PathError> {
        let io = |e: std::io::Error| PathError::Io(format!("writing {}: {e}", dest.display()));
        if std::fs::symlink_metadata(dest).is_ok() && !replace {
            return Ok(false);
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        if let Some(target) = &entry.symlink {
            // A link may only point inside the workspace.
            let parent = dest.parent().unwrap_or(&self.root);
            let rel_parent = parent.strip_prefix(&self.root).unwrap_or(Path::new(""));
            let joined = rel_parent.join(target);
            if Path::new(target).is_absolute()
                || normalize_relative(&joined.to_string_lossy()).is_none()
            {
                return Err(PathError::Escapes {
                    input: format!("symbolic link {}", entry.path),
                    path: target.clone(),
                    root: "workspace",
                });
            }
            let _ = std::fs::remove_file(dest);
            #[cfg(unix)]
            std::os::unix::fs::symlink(target, dest).map_err(io)?;
            return Ok(true);
        }
        std::fs::write(dest, &entry.contents).map_err(io)?;
        #[cfg(unix)]
        if entry.executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
        }
        Ok(true)
    }

    /// Every file under the workspace (links as links), sorted by path.
    pub fn read_all(&self) -> Result<Vec<TreeEntry>, PathError> {
        read_dir_tree(&self.root, &self.root)
    }
}

fn read_dir_tree(root: &Path, dir: &Path) -> Result<Vec<TreeEntry>, PathError> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| PathError::Io(e.to_string()))?;
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .replace('\\', "/");
        if ft.is_symlink() {
            let target =
                std::fs::read_link(entry.path()).map_err(|e| PathError::Io(e.to_string()))?;
            out.push(TreeEntry {
                path: rel,
                contents: Vec::new(),
                executable: false,
                symlink: Some(target.to_string_lossy().into_owned()),
            });
            continue;
        }
        let contents = std::fs::read(entry.path())
            .map_err(|e| PathError::Io(format!("reading {}: {e}", entry.path().display())))?;
        #[cfg(unix)]
        let executable = {
            use std::os::unix::fs::PermissionsExt;
            entry
                .metadata()
                .map(|m| m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        };
        #[cfg(not(unix))]
        let executable = false;
        out.push(TreeEntry {
            path: rel,
            contents,
            executable,
            symlink: None,
        });
    }
    Ok(out)
}

/// The tree a template may read: the directory of its own descriptor.
#[derive(Debug, Clone)]
pub enum TemplateSource {
    /// A directory on disk (templates from `file` locations).
    Dir(PathBuf),
    /// A directory of the bundled example catalog.
    Bundled(String),
    /// Files sent with a dry run.
    Memory(Arc<Vec<TreeEntry>>),
}

impl TemplateSource {
    /// The source for a template whose descriptor is at `base_url`
    /// (`file:/dir/template.yaml`, `bundled:templates/x/template.yaml`).
    pub fn from_base_url(base_url: &str) -> Result<Self, PathError> {
        let (kind, target) = base_url.split_once(':').unwrap_or(("", base_url));
        let parent = |t: &str| {
            Path::new(t)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        };
        match kind {
            "file" => Ok(TemplateSource::Dir(parent(target))),
            "bundled" => Ok(TemplateSource::Bundled(
                parent(target).to_string_lossy().into_owned(),
            )),
            _ => Err(PathError::Unsupported(format!(
                "templates registered from {base_url} cannot read their files: greenroom reads template files from file and bundled locations; register the template from a local checkout"
            ))),
        }
    }

    fn check_url(url: &str) -> Result<PathBuf, PathError> {
        if url.contains("://") {
            return Err(PathError::Unsupported(format!(
                "url: '{url}' is remote; a template reads only from its own directory, so use a relative path such as ./skeleton"
            )));
        }
        safe_relative("url", url, "template's directory")
    }

    /// Every file under `url` (a directory relative to the template), with
    /// paths relative to that directory.
    pub fn read_tree(&self, url: &str) -> Result<Vec<TreeEntry>, PathError> {
        let rel = Self::check_url(url)?;
        let rel_str = rel.to_string_lossy().replace('\\', "/");
        match self {
            TemplateSource::Dir(root) => {
                let dir = self.checked_dir_path(root, &rel, url)?;
                if !dir.is_dir() {
                    return Err(PathError::NotFound(format!(
                        "url: '{url}' is not a directory of the template"
                    )));
                }
                read_dir_tree(&dir, &dir)
            }
            TemplateSource::Bundled(base) => {
                let prefix = join_slash(base, &rel_str);
                let mut out: Vec<TreeEntry> = greenroom_catalog::bundled::list()
                    .into_iter()
                    .filter_map(|p| {
                        let rest = if prefix.is_empty() {
                            Some(p.as_str())
                        } else {
                            p.strip_prefix(&format!("{prefix}/"))
                        }?;
                        let contents = greenroom_catalog::bundled::read(&p)?;
                        Some(TreeEntry {
                            path: rest.to_string(),
                            contents,
                            executable: false,
                            symlink: None,
                        })
                    })
                    .collect();
                out.sort_by(|a, b| a.path.cmp(&b.path));
                if out.is_empty() {
                    return Err(PathError::NotFound(format!(
                        "url: '{url}' is not a directory of the template"
                    )));
                }
                Ok(out)
            }
            TemplateSource::Memory(files) => {
                let mut out: Vec<TreeEntry> = files
                    .iter()
                    .filter_map(|f| {
                        let p = normalize_relative(&f.path)?
                            .to_string_lossy()
                            .replace('\\', "/");
                        let rest = if rel_str.is_empty() {
                            Some(p.as_str())
                        } else {
                            p.strip_prefix(&format!("{rel_str}/"))
                        }?;
                        Some(TreeEntry {
                            path: rest.to_string(),
                            ..f.clone()
                        })
                    })
                    .collect();
                out.sort_by(|a, b| a.path.cmp(&b.path));
                Ok(out)
            }
        }
    }

    /// One file relative to the template.
    pub fn read_file(&self, url: &str) -> Result<TreeEntry, PathError> {
        let rel = Self::check_url(url)?;
        let rel_str = rel.to_string_lossy().replace('\\', "/");
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let missing = || PathError::NotFound(format!("url: '{url}' is not a file of the template"));
        match self {
            TemplateSource::Dir(root) => {
                let path = self.checked_dir_path(root, &rel, url)?;
                let contents = std::fs::read(&path).map_err(|_| missing())?;
                Ok(TreeEntry {
                    path: name,
                    contents,
                    executable: false,
                    symlink: None,
                })
            }
            TemplateSource::Bundled(base) => {
                greenroom_catalog::bundled::read(&join_slash(base, &rel_str))
                    .map(|contents| TreeEntry {
                        path: name,
                        contents,
                        executable: false,
                        symlink: None,
                    })
                    .ok_or_else(missing)
            }
            TemplateSource::Memory(files) => files
                .iter()
                .find(|f| normalize_relative(&f.path).is_some_and(|p| p == rel))
                .map(|f| TreeEntry {
                    path: name,
                    ..f.clone()
                })
                .ok_or_else(missing),
        }
    }

    /// Joins and canonicalizes, refusing a result outside the template's
    /// directory (a symbolic link inside it pointing elsewhere).
    fn checked_dir_path(&self, root: &Path, rel: &Path, url: &str) -> Result<PathBuf, PathError> {
        let path = root.join(rel);
        let (Ok(real_root), Ok(real)) = (root.canonicalize(), path.canonicalize()) else {
            return Err(PathError::NotFound(format!(
                "url: '{url}' does not exist in the template's directory"
            )));
        };
        if !real.starts_with(&real_root) {
            return Err(PathError::Escapes {
                input: "url".into(),
                path: url.into(),
                root: "template's directory",
            });
        }
        Ok(real)
    }
}

fn join_slash(base: &str, rel: &str) -> String {
    match (base.is_empty(), rel.is_empty()) {
        (true, _) => rel.to_string(),
        (_, true) => base.to_string(),
        _ => format!("{base}/{rel}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_paths_never_escape() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path().to_path_buf());
        assert_eq!(
            ws.resolve("targetPath", "./a/../b").unwrap(),
            dir.path().join("b")
        );
        assert!(matches!(
            ws.resolve("targetPath", "../x"),
            Err(PathError::Escapes { .. })
        ));
        assert!(matches!(
            ws.resolve("targetPath", "a/../../x"),
            Err(PathError::Escapes { .. })
        ));
        assert!(matches!(
            ws.resolve("targetPath", "/etc"),
            Err(PathError::Absolute { .. })
        ));
        std::os::unix::fs::symlink("/tmp", dir.path().join("link")).unwrap();
        let err = ws.resolve("files", "link/x").unwrap_err();
        assert!(
            err.to_string()
                .contains("files: 'link/x' goes through the symbolic link 'link'"),
            "{err}"
        );
    }

    #[test]
    fn template_reads_stay_in_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let tpl = dir.path().join("tpl");
        std::fs::create_dir_all(tpl.join("skeleton")).unwrap();
        std::fs::write(tpl.join("skeleton/a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), tpl.join("sneaky")).unwrap();
        let src = TemplateSource::from_base_url(&format!("file:{}/template.yaml", tpl.display()))
            .unwrap();
        assert_eq!(src.read_tree("./skeleton").unwrap()[0].path, "a.txt");
        assert!(matches!(
            src.read_file("../secret.txt"),
            Err(PathError::Escapes { .. })
        ));
        assert!(matches!(
            src.read_file("sneaky"),
            Err(PathError::Escapes { .. })
        ));
        assert!(matches!(
            src.read_file("https://example.com/x"),
            Err(PathError::Unsupported(_))
        ));
    }
}
