//! `mkdocs.yml`: reading it with TechDocs' security rules (an allow-list of
//! top-level keys, `docs_dir` inside the input) and its navigation.

use std::path::Path;

use serde_json::{Value as Json, json};

use crate::BuildError;
use crate::markdown::Warning;
use crate::paths::normalize_relative;

/// The top-level keys TechDocs keeps; the others are dropped with a warning.
const ALLOWED_KEYS: &[&str] = &[
    "site_name",
    "site_url",
    "site_description",
    "site_author",
    "repo_url",
    "repo_name",
    "edit_uri",
    "edit_uri_template",
    "docs_dir",
    "site_dir",
    "nav",
    "exclude_docs",
    "not_in_nav",
    "theme",
    "plugins",
    "markdown_extensions",
    "extra",
    "extra_css",
    "use_directory_urls",
    "strict",
    "dev_addr",
    "watch",
    "copyright",
    "remote_branch",
    "remote_name",
    "validation",
    "google_analytics",
];

/// Markdown extensions whose syntax greenroom renders (techdocs-core's set).
const SUPPORTED_EXTENSIONS: &[&str] = &[
    "admonition",
    "toc",
    "tables",
    "attr_list",
    "def_list",
    "footnotes",
    "md_in_html",
    "fenced_code",
    "codehilite",
    "meta",
    "sane_lists",
    "mdx_truly_sane_lists",
    "smarty",
    "pymdownx.details",
    "pymdownx.tabbed",
    "pymdownx.superfences",
    "pymdownx.highlight",
    "pymdownx.inlinehilite",
    "pymdownx.snippets",
    "pymdownx.emoji",
    "pymdownx.tasklist",
    "pymdownx.tilde",
    "pymdownx.caret",
    "pymdownx.mark",
    "pymdownx.extra",
    "pymdownx.magiclink",
    "pymdownx.smartsymbols",
    "pymdownx.betterem",
];

const SUPPORTED_PLUGINS: &[&str] = &["techdocs-core", "search", "material/search"];

#[derive(Debug, Clone)]
pub enum NavItem {
    Page {
        title: Option<String>,
        src: String,
    },
    Link {
        title: String,
        url: String,
    },
    Section {
        title: String,
        children: Vec<NavItem>,
    },
}

#[derive(Debug, Clone)]
pub struct MkdocsConfig {
    /// The file the config came from, relative to the input (`None`: the default one).
    pub file: Option<String>,
    pub site_name: String,
    pub site_description: Option<String>,
    pub docs_dir: String,
    pub nav: Option<Vec<NavItem>>,
    pub use_directory_urls: bool,
    pub repo_url: Option<String>,
    pub edit_uri: Option<String>,
    pub copyright: Option<String>,
    pub snippet_bases: Vec<String>,
}

fn str_of(v: &Json, key: &str) -> Option<String> {
    v.get(key).and_then(Json::as_str).map(str::to_string)
}

/// The name of a plugin or extension entry (`name` or `{name: options}`).
fn entry_name(v: &Json) -> Option<(String, Json)> {
    match v {
        Json::String(s) => Some((s.clone(), Json::Null)),
        Json::Object(o) => o.iter().next().map(|(k, v)| (k.clone(), v.clone())),
        _ => None,
    }
}

fn entries(v: Option<&Json>) -> Vec<(String, Json)> {
    match v {
        Some(Json::Array(items)) => items.iter().filter_map(entry_name).collect(),
        Some(Json::Object(o)) => o.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => Vec::new(),
    }
}

/// Reads `mkdocs.yaml` or `mkdocs.yml` under `root`, or makes the default
/// one (`site_name` from the option, `docs_dir: docs`).
pub fn load(
    root: &Path,
    default_site_name: Option<&str>,
) -> Result<(MkdocsConfig, Vec<Warning>), BuildError> {
    let mut warnings = Vec::new();
    let candidates = ["mkdocs.yaml", "mkdocs.yml"];
    let present: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|c| root.join(c).is_file())
        .collect();
    if present.len() > 1 {
        warnings.push(Warning {
            file: "mkdocs.yaml".into(),
            line: None,
            message: "both mkdocs.yaml and mkdocs.yml exist; using mkdocs.yaml".into(),
        });
    }
    let (file, raw) = match present.first() {
        Some(name) => {
            let text = std::fs::read_to_string(root.join(name))
                .map_err(|e| BuildError::Config(format!("{name}: {e}")))?;
            let raw: Json = serde_saphyr::from_str(&text)
                .map_err(|e| BuildError::Config(format!("{name}: {e}")))?;
            (Some(name.to_string()), raw)
        }
        None => (
            None,
            json!({ "site_name": default_site_name.unwrap_or("Documentation Site"), "docs_dir": "docs" }),
        ),
    };
    let shown = file.clone().unwrap_or_else(|| "mkdocs.yml".into());
    let Json::Object(map) = &raw else {
        return Err(BuildError::Config(format!(
            "{shown}: expected a mapping at the top level"
        )));
    };
    for key in map.keys() {
        if !ALLOWED_KEYS.contains(&key.as_str()) {
            warnings.push(Warning {
                file: shown.clone(),
                line: None,
                message: format!("the key '{key}' is not allowed in TechDocs and was ignored"),
            });
        }
    }
    let docs_dir_raw = str_of(&raw, "docs_dir").unwrap_or_else(|| "docs".into());
    let docs_dir = normalize_relative(&docs_dir_raw)
        .filter(|d| !Path::new(&docs_dir_raw).is_absolute() && !d.is_empty() || docs_dir_raw == ".")
        .ok_or_else(|| {
            BuildError::Config(format!(
                "{shown}: docs_dir '{docs_dir_raw}' must be a folder inside the docs source"
            ))
        })?;
    for (name, _) in entries(raw.get("plugins")) {
        if !SUPPORTED_PLUGINS.contains(&name.as_str()) {
            warnings.push(Warning {
                file: shown.clone(),
                line: None,
                message: format!("the plugin '{name}' is not supported; what it would add is missing from the site"),
            });
        }
    }
    let mut snippet_bases = vec![".".to_string()];
    for (name, options) in entries(raw.get("markdown_extensions")) {
        if !SUPPORTED_EXTENSIONS.contains(&name.as_str()) {
            warnings.push(Warning {
                file: shown.clone(),
                line: None,
                message: format!(
                    "the Markdown extension '{name}' is not supported; its syntax is shown as text"
                ),
            });
        }
        if name == "pymdownx.snippets" {
            match options.get("base_path") {
                Some(Json::String(s)) => snippet_bases = vec![s.clone()],
                Some(Json::Array(a)) => {
                    snippet_bases = a
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                }
                _ => {}
            }
        }
    }
    let nav = match raw.get("nav") {
        Some(Json::Array(items)) => Some(items.iter().filter_map(parse_nav_item).collect()),
        Some(Json::Null) | None => None,
        Some(_) => {
            warnings.push(Warning {
                file: shown.clone(),
                line: None,
                message: "nav must be a list; the docs tree is used instead".into(),
            });
            None
        }
    };
    Ok((
        MkdocsConfig {
            file,
            site_name: str_of(&raw, "site_name")
                .unwrap_or_else(|| default_site_name.unwrap_or("Documentation Site").into()),
            site_description: str_of(&raw, "site_description"),
            docs_dir,
            nav,
            use_directory_urls: raw
                .get("use_directory_urls")
                .and_then(Json::as_bool)
                .unwrap_or(true),
            repo_url: str_of(&raw, "repo_url"),
            edit_uri: str_of(&raw, "edit_uri"),
            copyright: str_of(&raw, "copyright"),
            snippet_bases,
        },
        warnings,
    ))
}

fn is_external(s: &str) -> bool {
    s.contains("://") || s.starts_with("mailto:")
}

fn parse_nav_item(v: &Json) -> Option<NavItem> {
    match v {
        Json::String(s) if is_external(s) => Some(NavItem::Link {
            title: s.clone(),
            url: s.clone(),
        }),
        Json::String(s) => Some(NavItem::Page {
            title: None,
            src: s.trim_start_matches("./").to_string(),
        }),
        Json::Object(o) => {
            let (title, value) = o.iter().next()?;
            match value {
                Json::String(s) if is_external(s) => Some(NavItem::Link {
                    title: title.clone(),
                    url: s.clone(),
                }),
                Json::String(s) => Some(NavItem::Page {
                    title: Some(title.clone()),
                    src: s.trim_start_matches("./").to_string(),
                }),
                Json::Array(items) => Some(NavItem::Section {
                    title: title.clone(),
                    children: items.iter().filter_map(parse_nav_item).collect(),
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// mkdocs' title for a file or folder name: `getting-started.md` → "Getting started".
pub fn title_from_name(name: &str) -> String {
    let stem = name.strip_suffix(".md").unwrap_or(name);
    let spaced = stem.replace(['-', '_'], " ");
    let mut c = spaced.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The navigation mkdocs builds without `nav`: per folder the index page
/// first, then the other pages by name, then sub-folders as sections.
pub fn default_nav(pages: &[String]) -> Vec<NavItem> {
    fn level(prefix: &str, pages: &[String]) -> Vec<NavItem> {
        let mut files: Vec<&String> = Vec::new();
        let mut dirs: Vec<String> = Vec::new();
        for p in pages {
            let Some(rest) = (if prefix.is_empty() {
                Some(p.as_str())
            } else {
                p.strip_prefix(prefix)
            }) else {
                continue;
            };
            match rest.split_once('/') {
                Some((dir, _)) => {
                    if !dirs.iter().any(|d| d == dir) {
                        dirs.push(dir.to_string());
                    }
                }
                None => files.push(p),
            }
        }
        files.sort_by_key(|p| {
            let name = p.rsplit('/').next().unwrap_or(p).to_lowercase();
            (!(name == "index.md" || name == "readme.md"), name)
        });
        dirs.sort();
        let mut out: Vec<NavItem> = files
            .into_iter()
            .map(|p| NavItem::Page {
                title: None,
                src: p.clone(),
            })
            .collect();
        for d in dirs {
            let children = level(&format!("{prefix}{d}/"), pages);
            out.push(NavItem::Section {
                title: title_from_name(&d),
                children,
            });
        }
        out
    }
    level("", pages)
}
