//! `greenroom catalog validate`: the server's validation, offline, with
//! compiler-style output and a non-zero exit on any error.

use std::path::{Path, PathBuf};

use greenroom_catalog::parse::{Document, parse_documents};
use greenroom_catalog::readers::normalize;
use greenroom_catalog::rules::Rules;
use greenroom_catalog::{Processor, Readers};
use greenroom_model::entity::{
    self, ANNOTATION_MANAGED_BY_LOCATION, ANNOTATION_MANAGED_BY_ORIGIN_LOCATION,
};
use greenroom_model::relations::derive_relations;
use greenroom_model::validation::{display_ref, validate_entity};

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Expands files, directories (every YAML file below, hidden folders and
/// build output skipped) and glob patterns. The flag is true for files found
/// by walking a directory: those may be other YAML (OpenAPI, CI workflows).
fn expand(paths: &[String]) -> Result<Vec<(PathBuf, bool)>, String> {
    let mut out = Vec::new();
    for raw in paths {
        let path = Path::new(raw);
        if raw.contains(['*', '?', '[', '{']) {
            let glob = globset::Glob::new(raw)
                .map_err(|e| format!("{raw}: invalid pattern: {e}"))?
                .compile_matcher();
            let base: PathBuf = path
                .components()
                .take_while(|c| {
                    !c.as_os_str()
                        .to_string_lossy()
                        .contains(['*', '?', '[', '{'])
                })
                .collect();
            let base = if base.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                base
            };
            let before = out.len();
            for e in walkdir::WalkDir::new(&base)
                .sort_by_file_name()
                .into_iter()
                .flatten()
            {
                let candidate = e.path().strip_prefix("./").unwrap_or(e.path());
                if e.file_type().is_file() && (glob.is_match(e.path()) || glob.is_match(candidate))
                {
                    out.push((e.path().to_path_buf(), false));
                }
            }
            if out.len() == before {
                return Err(format!("{raw}: no files match"));
            }
        } else if path.is_dir() {
            let walk = walkdir::WalkDir::new(path)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| {
                    let name = e.file_name().to_string_lossy();
                    e.depth() == 0
                        || !(name.starts_with('.') || name == "node_modules" || name == "target")
                });
            for e in walk.flatten() {
                if e.file_type().is_file() && is_yaml(e.path()) {
                    out.push((e.path().to_path_buf(), true));
                }
            }
        } else if path.is_file() {
            out.push((path.to_path_buf(), false));
        } else {
            return Err(format!("{raw}: no such file or directory"));
        }
    }
    Ok(out)
}

/// A software template skeleton file (`${{ }}` in its text or path) or a
/// file of a Helm chart's `templates/` directory.
fn is_template_file(path: &Path, bytes: &[u8]) -> bool {
    let skeleton = bytes.windows(3).any(|w| w == b"${{") || path.to_string_lossy().contains("${{");
    let helm = path.ancestors().skip(1).any(|dir| {
        dir.file_name().is_some_and(|n| n == "templates")
            && dir
                .parent()
                .is_some_and(|chart| chart.join("Chart.yaml").is_file())
    });
    skeleton || helm
}

pub async fn run(paths: &[String]) -> anyhow::Result<i32> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let files = match expand(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let processor = Processor::new(Readers::new(Vec::new()), Rules::allow_all());
    let (mut errors, mut entities, mut skipped) = (0usize, 0usize, 0usize);
    let mut skeletons = 0usize;
    for (file, discovered) in &files {
        let shown = file.display().to_string();
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                println!("{shown}: error[read]: {e}");
                errors += 1;
                continue;
            }
        };
        let abs = normalize(&std::path::absolute(file)?)
            .to_string_lossy()
            .into_owned();
        let location = format!("file:{abs}");
        let docs = parse_documents(&bytes, &location);
        // Templates become descriptors (or manifests) only once rendered;
        // a Template descriptor itself holds `${{ }}` and is validated.
        let is_template_entity = docs.iter().any(|d| {
            matches!(d, Document::Entity { entity, .. } if entity.get("kind").and_then(|k| k.as_str()) == Some("Template"))
        });
        if *discovered && !is_template_entity && is_template_file(file, &bytes) {
            skeletons += 1;
            continue;
        }
        let looks_like_descriptor = docs.iter().any(|d| match d {
            Document::Entity { entity, .. } => {
                entity.get("apiVersion").is_some() || entity.get("kind").is_some()
            }
            Document::Error { .. } => true,
        });
        if *discovered && !looks_like_descriptor {
            skipped += 1;
            continue;
        }
        for doc in docs {
            match doc {
                Document::Error { index, message, .. } => {
                    let at = index.map_or(String::new(), |i| format!(":doc {i}"));
                    println!("{shown}{at}: error[yaml]: {message}");
                    errors += 1;
                }
                Document::Entity {
                    index,
                    entity: mut e,
                } => {
                    entities += 1;
                    if e.get("metadata").is_some_and(|m| m.is_object()) {
                        entity::set_annotation(&mut e, ANNOTATION_MANAGED_BY_LOCATION, &location);
                        entity::set_annotation(
                            &mut e,
                            ANNOTATION_MANAGED_BY_ORIGIN_LOCATION,
                            &location,
                        );
                    }
                    let e = match processor.resolve_placeholders(&e).await {
                        Ok(e) => e,
                        Err(items) => {
                            for item in items {
                                println!(
                                    "{shown}:doc {index}: error[placeholder]: {}",
                                    item.message
                                );
                                errors += 1;
                            }
                            continue;
                        }
                    };
                    match validate_entity(&e) {
                        Ok(valid) => {
                            if let Err(ref_errors) = derive_relations(&valid) {
                                for r in ref_errors {
                                    println!(
                                        "{shown}:doc {index}: {}: error[relations]: {r}",
                                        display_ref(&valid)
                                    );
                                    errors += 1;
                                }
                            }
                        }
                        Err(violations) => {
                            let r = display_ref(&e);
                            for v in violations {
                                let path = if v.path.is_empty() {
                                    "<root>".to_string()
                                } else {
                                    v.path.clone()
                                };
                                println!(
                                    "{shown}:doc {index}: {r}: error[{}] at {path}: {}",
                                    v.rule.name(),
                                    v.detail
                                );
                                errors += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    let mut summary = format!(
        "{} file(s), {entities} entit{}, {errors} error(s)",
        files.len() - skipped - skeletons,
        if entities == 1 { "y" } else { "ies" }
    );
    if skipped > 0 {
        summary.push_str(&format!(
            ", {skipped} YAML file(s) without apiVersion or kind skipped"
        ));
    }
    if skeletons > 0 {
        summary.push_str(&format!(
            ", {skeletons} template file(s) (skeletons with ${{{{ }}}}, Helm chart templates) skipped"
        ));
    }
    if errors > 0 {
        eprintln!("validation failed: {summary}");
        Ok(1)
    } else {
        eprintln!("ok: {summary}");
        Ok(0)
    }
}
