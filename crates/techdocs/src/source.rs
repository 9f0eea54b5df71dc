//! Where an entity's docs live: `backstage.io/techdocs-ref` resolved against
//! the location the entity came from.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use thiserror::Error;

use crate::paths::{join_relative, normalize_relative};

pub const TECHDOCS_REF: &str = "backstage.io/techdocs-ref";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("No {TECHDOCS_REF} annotation provided in entity: {0}")]
    Missing(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
}

/// A docs tree greenroom can build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocsSource {
    /// A folder on this machine (entities from `file` locations).
    Dir(PathBuf),
    /// A folder of the bundled example catalog.
    Bundled(String),
}

impl DocsSource {
    /// `locationMetadata` of `GET /metadata/entity`.
    pub fn location_metadata(&self) -> (String, String) {
        match self {
            DocsSource::Dir(p) => ("dir".into(), p.display().to_string()),
            DocsSource::Bundled(p) => ("dir".into(), format!("bundled:{p}")),
        }
    }

    /// The tree as a folder: itself, or the bundled files written to `scratch`.
    pub fn materialize(&self, scratch: &Path) -> Result<PathBuf, SourceError> {
        match self {
            DocsSource::Dir(p) => Ok(p.clone()),
            DocsSource::Bundled(prefix) => {
                let want = if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}/")
                };
                for path in greenroom_catalog::bundled::list() {
                    let Some(rest) = path.strip_prefix(&want) else {
                        continue;
                    };
                    let Some(bytes) = greenroom_catalog::bundled::read(&path) else {
                        continue;
                    };
                    let dest = scratch.join(rest);
                    if let Some(parent) = dest.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| SourceError::Invalid(e.to_string()))?;
                    }
                    std::fs::write(&dest, bytes)
                        .map_err(|e| SourceError::Invalid(e.to_string()))?;
                }
                Ok(scratch.to_path_buf())
            }
        }
    }
}

fn annotation<'a>(entity: &'a Json, key: &str) -> Option<&'a str> {
    entity
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Json::as_str)
}

/// Resolves `dir:` against the entity's `managed-by-location`; the folder
/// must stay inside the folder of the catalog file.
pub fn resolve_source(entity: &Json) -> Result<DocsSource, SourceError> {
    let name = entity
        .pointer("/metadata/name")
        .and_then(Json::as_str)
        .unwrap_or("");
    let reference =
        annotation(entity, TECHDOCS_REF).ok_or_else(|| SourceError::Missing(name.into()))?;
    let (kind, target) = reference.split_once(':').ok_or_else(|| {
        SourceError::Invalid(format!(
            "Invalid {TECHDOCS_REF} '{reference}': expected dir:<path> or url:<url>"
        ))
    })?;
    match kind {
        "dir" => {}
        "url" => {
            return Err(SourceError::Unsupported(format!(
                "{TECHDOCS_REF} {reference}: greenroom does not read docs trees from URLs; build them in CI with `greenroom techdocs build` and publish them (techdocs.builder: external)"
            )));
        }
        other => {
            return Err(SourceError::Invalid(format!(
                "Invalid {TECHDOCS_REF} type '{other}': expected dir or url"
            )));
        }
    }
    let location = annotation(entity, "backstage.io/managed-by-location").ok_or_else(|| {
        SourceError::Invalid(format!(
            "entity {name} has no managed-by-location to resolve {reference} against"
        ))
    })?;
    let (loc_type, loc_target) = location.split_once(':').unwrap_or(("", location));
    let rel = normalize_relative(target).ok_or_else(|| {
        SourceError::Invalid(format!(
            "{TECHDOCS_REF} {reference} leaves the folder of the entity's catalog file"
        ))
    })?;
    match loc_type {
        "file" => {
            let base = Path::new(loc_target).parent().unwrap_or(Path::new("/"));
            let dir = if rel.is_empty() {
                base.to_path_buf()
            } else {
                base.join(&rel)
            };
            // Through links too: the real folder must be inside the real base.
            if let (Ok(real), Ok(real_base)) = (dir.canonicalize(), base.canonicalize())
                && !real.starts_with(&real_base)
            {
                return Err(SourceError::Invalid(format!(
                    "{TECHDOCS_REF} {reference} leaves the folder of the entity's catalog file"
                )));
            }
            Ok(DocsSource::Dir(dir))
        }
        "bundled" => {
            let base = match loc_target.trim_start_matches("./").rfind('/') {
                Some(i) => loc_target.trim_start_matches("./")[..i].to_string(),
                None => String::new(),
            };
            let joined = join_relative(&base, &rel).ok_or_else(|| {
                SourceError::Invalid(format!(
                    "{TECHDOCS_REF} {reference} leaves the bundled catalog"
                ))
            })?;
            Ok(DocsSource::Bundled(joined))
        }
        _ => Err(SourceError::Unsupported(format!(
            "{TECHDOCS_REF} {reference} of an entity from {location}: greenroom builds docs from file and bundled locations; build others in CI (techdocs.builder: external)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entity(reference: &str, location: &str) -> Json {
        json!({ "metadata": { "name": "svc", "annotations": { TECHDOCS_REF: reference, "backstage.io/managed-by-location": location } } })
    }

    #[test]
    fn dir_refs_resolve_inside_the_catalog_files_folder() {
        assert_eq!(
            resolve_source(&entity("dir:.", "file:/srv/repo/catalog-info.yaml")),
            Ok(DocsSource::Dir("/srv/repo".into()))
        );
        assert_eq!(
            resolve_source(&entity(
                "dir:./docs-site",
                "file:/srv/repo/catalog-info.yaml"
            )),
            Ok(DocsSource::Dir("/srv/repo/docs-site".into()))
        );
        assert_eq!(
            resolve_source(&entity("dir:.", "bundled:greenroom/catalog-info.yaml")),
            Ok(DocsSource::Bundled("greenroom".into()))
        );
        assert!(matches!(
            resolve_source(&entity("dir:../other", "file:/srv/repo/catalog-info.yaml")),
            Err(SourceError::Invalid(_))
        ));
        assert!(matches!(
            resolve_source(&entity("url:https://x/y", "file:/srv/repo/c.yaml")),
            Err(SourceError::Unsupported(_))
        ));
        assert_eq!(
            resolve_source(&json!({ "metadata": { "name": "svc" } })),
            Err(SourceError::Missing("svc".into()))
        );
    }
}
