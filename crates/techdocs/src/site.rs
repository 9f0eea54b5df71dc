//! Builds a docs site: every page rendered into one layout with the site's
//! navigation and the page's table of contents, the assets copied, a search
//! index, and `techdocs_metadata.json`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{Value as Json, json};
use sha1::{Digest, Sha1};

use crate::BuildError;
use crate::markdown::escape_html as escape;
use crate::markdown::{PageContext, RenderedPage, Warning, page_dir, render_page};
use crate::mkdocs::{MkdocsConfig, NavItem, default_nav, load, title_from_name};
use crate::paths::relative_url;

/// `techdocs-cli generate` options that make sense here.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `site_name` when the source has no mkdocs.yml.
    pub site_name: Option<String>,
    /// Stored in the metadata; computed from the source when absent.
    pub etag: Option<String>,
    /// `dir:…`/`url:…`, kept in the metadata for reference.
    pub techdocs_ref: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BuildReport {
    pub pages: usize,
    pub warnings: Vec<Warning>,
    /// The `techdocs_metadata.json` written.
    pub metadata: Json,
}

/// The docs stylesheet; the portal's pages load it too, for docs content.
pub const STYLESHEET: &str = include_str!("techdocs.css");
const STYLESHEET_PATH: &str = "assets/greenroom/techdocs.css";

struct Page {
    src: String,
    url: String,
    file: String,
    rendered: RenderedPage,
}

/// The fingerprint of a docs source: SHA-1 over what a build reads — the
/// mkdocs config, every file under `docs_dir`, and the files its pages pull
/// in as snippets. A build is skipped when the published site has the same
/// etag.
pub fn source_etag(root: &Path) -> Result<String, BuildError> {
    let root = root
        .canonicalize()
        .map_err(|e| BuildError::Io(format!("{}: {e}", root.display())))?;
    let (config, _) = load(&root, None)?;
    let mut hasher = Sha1::new();
    let mut feed = |label: &str, bytes: &[u8]| {
        hasher.update(label.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    if let Some(file) = &config.file {
        let bytes =
            std::fs::read(root.join(file)).map_err(|e| BuildError::Io(format!("{file}: {e}")))?;
        feed(file, &bytes);
    }
    let docs = root.join(&config.docs_dir);
    let mut snippets = std::collections::BTreeSet::new();
    if docs.is_dir() {
        let (pages, assets) = collect(
            &root,
            &docs
                .canonicalize()
                .map_err(|e| BuildError::Io(e.to_string()))?,
        )?;
        let mut all: Vec<&String> = pages.iter().chain(assets.iter()).collect();
        all.sort();
        for rel in all {
            let bytes =
                std::fs::read(docs.join(rel)).map_err(|e| BuildError::Io(format!("{rel}: {e}")))?;
            if rel.ends_with(".md") {
                snippets.extend(crate::markdown::snippet_files(&String::from_utf8_lossy(
                    &bytes,
                )));
            }
            feed(rel, &bytes);
        }
    }
    for file in snippets {
        for base in &config.snippet_bases {
            if let Some(path) = crate::paths::join_relative(base, &file)
                && let Ok(bytes) = std::fs::read(root.join(&path))
            {
                feed(&path, &bytes);
                break;
            }
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Where a source page is written and the URL it is reached at.
fn page_location(src: &str, directory_urls: bool) -> (String, String) {
    let (dir, name) = match src.rfind('/') {
        Some(i) => (&src[..=i], &src[i + 1..]),
        None => ("", src),
    };
    let stem = name.strip_suffix(".md").unwrap_or(name);
    let is_index = stem.eq_ignore_ascii_case("index") || stem.eq_ignore_ascii_case("readme");
    if is_index {
        (format!("{dir}index.html"), dir.to_string())
    } else if directory_urls {
        (format!("{dir}{stem}/index.html"), format!("{dir}{stem}/"))
    } else {
        (format!("{dir}{stem}.html"), format!("{dir}{stem}.html"))
    }
}

/// The docs files: Markdown pages and assets, paths relative to docs_dir.
/// Links are followed only when they stay inside the input root.
fn collect(root: &Path, docs: &Path) -> Result<(Vec<String>, Vec<String>), BuildError> {
    let mut pages = Vec::new();
    let mut assets = Vec::new();
    let walker = walkdir::WalkDir::new(docs)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|e| BuildError::Io(e.to_string()))?;
        let rel = entry
            .path()
            .strip_prefix(docs)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .replace('\\', "/");
        if entry.path_is_symlink() {
            let real = entry
                .path()
                .canonicalize()
                .map_err(|e| BuildError::Io(format!("{rel}: {e}")))?;
            if !real.starts_with(root) {
                return Err(BuildError::Symlink(rel));
            }
        }
        if !entry.file_type().is_file() {
            continue;
        }
        if rel.ends_with(".md") {
            pages.push(rel);
        } else {
            assets.push(rel);
        }
    }
    Ok((pages, assets))
}

struct NavContext<'a> {
    titles: &'a HashMap<String, String>,
    urls: &'a HashMap<String, String>,
}

fn nav_html(
    items: &[NavItem],
    ctx: &NavContext<'_>,
    current: &str,
    from_dir: &str,
    out: &mut String,
) {
    out.push_str("<ul>");
    for item in items {
        match item {
            NavItem::Page { title, src } => {
                let Some(url) = ctx.urls.get(src) else {
                    continue;
                };
                let t = title
                    .clone()
                    .or_else(|| ctx.titles.get(src).cloned())
                    .unwrap_or_else(|| title_from_name(src));
                let active = if src == current {
                    " class=\"active\" aria-current=\"page\""
                } else {
                    ""
                };
                out.push_str(&format!(
                    "<li><a href=\"{}\"{active}>{}</a></li>",
                    escape(&relative_url(from_dir, url)),
                    escape(&t)
                ));
            }
            NavItem::Link { title, url } => {
                out.push_str(&format!(
                    "<li><a href=\"{}\" class=\"external\" rel=\"noopener noreferrer\">{}</a></li>",
                    escape(url),
                    escape(title)
                ));
            }
            NavItem::Section { title, children } => {
                out.push_str(&format!(
                    "<li class=\"section\"><span>{}</span>",
                    escape(title)
                ));
                nav_html(children, ctx, current, from_dir, out);
                out.push_str("</li>");
            }
        }
    }
    out.push_str("</ul>");
}

fn nav_pages(items: &[NavItem], out: &mut Vec<String>) {
    for item in items {
        match item {
            NavItem::Page { src, .. } => out.push(src.clone()),
            NavItem::Section { children, .. } => nav_pages(children, out),
            NavItem::Link { .. } => {}
        }
    }
}

fn nav_titles(items: &[NavItem], out: &mut HashMap<String, String>) {
    for item in items {
        match item {
            NavItem::Page {
                title: Some(t),
                src,
            } => {
                out.insert(src.clone(), t.clone());
            }
            NavItem::Section { children, .. } => nav_titles(children, out),
            _ => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn layout(
    config: &MkdocsConfig,
    page: &Page,
    title: &str,
    nav: &str,
    prev: Option<(&str, &str)>,
    next: Option<(&str, &str)>,
    css: &str,
) -> String {
    let toc: String = page
        .rendered
        .toc
        .iter()
        .filter(|t| t.level > 1 && t.level <= 3)
        .map(|t| {
            format!(
                "<li class=\"toc-h{}\"><a href=\"#{}\">{}</a></li>",
                t.level,
                escape(&t.id),
                escape(&t.title)
            )
        })
        .collect();
    let footer_links: String = [("prev", "Previous", prev), ("next", "Next", next)]
        .iter()
        .filter_map(|(rel, label, link)| {
            link.map(|(href, t)| {
                format!(
                    "<a rel=\"{rel}\" href=\"{}\">{label}: {}</a>",
                    escape(href),
                    escape(t)
                )
            })
        })
        .collect();
    let description = config
        .site_description
        .as_deref()
        .map(|d| format!("<meta name=\"description\" content=\"{}\">", escape(d)))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title} - {site}</title>\n{description}\n<link rel=\"stylesheet\" href=\"{css}\">\n</head>\n<body>\n<div class=\"md-container\">\n<nav class=\"md-nav md-nav--primary\" aria-label=\"Site\">\n<p class=\"md-nav__title\">{site}</p>\n{nav}\n</nav>\n<main class=\"md-main\">\n<article class=\"md-content__inner md-typeset\">\n{content}\n</article>\n<footer class=\"md-footer\">{footer_links}</footer>\n</main>\n<nav class=\"md-nav md-nav--secondary\" aria-label=\"On this page\">\n<p class=\"md-nav__title\">On this page</p>\n<ul>{toc}</ul>\n</nav>\n</div>\n</body>\n</html>\n",
        title = escape(title),
        site = escape(&config.site_name),
        content = page.rendered.html,
    )
}

/// Builds the site of the docs source at `input` into `output`.
pub fn build(
    input: &Path,
    output: &Path,
    options: &BuildOptions,
    log: &mut dyn FnMut(&str),
) -> Result<BuildReport, BuildError> {
    let root = input
        .canonicalize()
        .map_err(|e| BuildError::Io(format!("{}: {e}", input.display())))?;
    let (config, mut warnings) = load(&root, options.site_name.as_deref())?;
    let docs = root.join(&config.docs_dir);
    let docs_real = docs.canonicalize().map_err(|_| {
        BuildError::Config(format!("docs_dir '{}' does not exist", config.docs_dir))
    })?;
    if !docs_real.starts_with(&root) {
        return Err(BuildError::Symlink(config.docs_dir.clone()));
    }
    let (sources, assets) = collect(&root, &docs_real)?;
    // README.md is the index of its folder unless the folder has an index.md.
    let sources: Vec<String> = sources
        .iter()
        .filter(|s| {
            let lower = s.to_lowercase();
            !(lower.ends_with("readme.md")
                && sources
                    .iter()
                    .any(|o| o.to_lowercase() == lower.replace("readme.md", "index.md")))
        })
        .cloned()
        .collect();
    log(&format!(
        "Building {} pages from {}",
        sources.len(),
        config.docs_dir
    ));
    let mut urls = HashMap::new();
    let mut files = HashMap::new();
    for s in &sources {
        let (file, url) = page_location(s, config.use_directory_urls);
        urls.insert(s.clone(), url);
        files.insert(s.clone(), file);
    }
    let mut pages = Vec::new();
    for src in &sources {
        let text = std::fs::read_to_string(docs_real.join(src))
            .map_err(|e| BuildError::Io(format!("{src}: {e}")))?;
        let url = urls[src].clone();
        let ctx = PageContext {
            src_path: src,
            page_urls: &urls,
            page_url: &url,
            docs_dir: &config.docs_dir,
            root: &root,
            snippet_bases: &config.snippet_bases,
        };
        let rendered = render_page(&text, &ctx);
        warnings.extend(rendered.warnings.iter().cloned());
        pages.push(Page {
            src: src.clone(),
            url,
            file: files[src].clone(),
            rendered,
        });
    }
    let nav = config.nav.clone().unwrap_or_else(|| default_nav(&sources));
    let mut in_nav = Vec::new();
    nav_pages(&nav, &mut in_nav);
    for missing in in_nav.iter().filter(|p| !urls.contains_key(*p)) {
        warnings.push(Warning {
            file: config.file.clone().unwrap_or_else(|| "mkdocs.yml".into()),
            line: None,
            message: format!("nav names {missing}, which is not in {}", config.docs_dir),
        });
    }
    if config.nav.is_some() {
        for p in sources.iter().filter(|s| !in_nav.contains(s)) {
            log(&format!("INFO: {p} is built but not in the nav"));
        }
    }
    let mut titles = HashMap::new();
    for p in &pages {
        titles.insert(
            p.src.clone(),
            p.rendered
                .title
                .clone()
                .unwrap_or_else(|| title_from_name(p.src.rsplit('/').next().unwrap_or(&p.src))),
        );
    }
    let mut nav_titles_map = HashMap::new();
    nav_titles(&nav, &mut nav_titles_map);
    let order: Vec<String> = in_nav
        .iter()
        .filter(|p| urls.contains_key(*p))
        .cloned()
        .collect();
    std::fs::create_dir_all(output)
        .map_err(|e| BuildError::Io(format!("{}: {e}", output.display())))?;
    let nav_ctx = NavContext {
        titles: &titles,
        urls: &urls,
    };
    let mut written: Vec<String> = Vec::new();
    let mut search_docs = Vec::new();
    for page in &pages {
        let from_dir = page_dir(&page.url);
        let mut nav_out = String::new();
        nav_html(&nav, &nav_ctx, &page.src, &from_dir, &mut nav_out);
        let title = nav_titles_map
            .get(&page.src)
            .cloned()
            .unwrap_or_else(|| titles[&page.src].clone());
        let pos = order.iter().position(|p| p == &page.src);
        let link = |i: Option<usize>| {
            i.and_then(|i| order.get(i)).map(|p| {
                (
                    relative_url(&from_dir, &urls[p]),
                    nav_titles_map
                        .get(p)
                        .cloned()
                        .unwrap_or_else(|| titles[p].clone()),
                )
            })
        };
        let prev = link(pos.and_then(|i| i.checked_sub(1)));
        let next = link(pos.map(|i| i + 1));
        let css = relative_url(&from_dir, STYLESHEET_PATH);
        let html = layout(
            &config,
            page,
            &title,
            &nav_out,
            prev.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
            next.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
            &css,
        );
        write(output, &page.file, html.as_bytes())?;
        written.push(page.file.clone());
        search_docs
            .push(json!({ "location": page.url, "title": title, "text": page.rendered.text }));
        for t in page.rendered.toc.iter().filter(|t| t.level > 1) {
            search_docs.push(json!({ "location": format!("{}#{}", page.url, t.id), "title": t.title, "text": "" }));
        }
    }
    for a in &assets {
        let bytes =
            std::fs::read(docs_real.join(a)).map_err(|e| BuildError::Io(format!("{a}: {e}")))?;
        write(output, a, &bytes)?;
        written.push(a.clone());
    }
    write(output, STYLESHEET_PATH, STYLESHEET.as_bytes())?;
    written.push(STYLESHEET_PATH.into());
    let index = json!({
        "config": { "lang": ["en"], "separator": "[\\s\\-]+", "pipeline": ["stopWordFilter"] },
        "docs": search_docs,
    });
    write(
        output,
        "search/search_index.json",
        index.to_string().as_bytes(),
    )?;
    written.push("search/search_index.json".into());
    written.sort();
    let etag = match &options.etag {
        Some(e) => e.clone(),
        None => source_etag(&root)?,
    };
    let build_timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut metadata = json!({
        "site_name": config.site_name,
        "site_description": config.site_description.clone().unwrap_or_else(|| "None".into()),
        "build_timestamp": build_timestamp,
        "engine": "greenroom",
        "files": written,
        "etag": etag,
    });
    if let (Some(r), Some(o)) = (&options.techdocs_ref, metadata.as_object_mut()) {
        o.insert("techdocs_ref".into(), json!(r));
    }
    write(
        output,
        "techdocs_metadata.json",
        serde_json::to_string_pretty(&metadata)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    for w in &warnings {
        log(&format!("WARNING: {w}"));
    }
    log(&format!(
        "Built {} pages and {} assets",
        pages.len(),
        assets.len()
    ));
    Ok(BuildReport {
        pages: pages.len(),
        warnings,
        metadata,
    })
}

fn write(output: &Path, rel: &str, bytes: &[u8]) -> Result<(), BuildError> {
    let path: PathBuf = output.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| BuildError::Io(format!("{}: {e}", parent.display())))?;
    }
    std::fs::write(&path, bytes).map_err(|e| BuildError::Io(format!("{}: {e}", path.display())))
}

/// Every file of a built site, relative path → bytes (for publishers).
pub fn read_site(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, BuildError> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| BuildError::Io(e.to_string()))?;
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(dir)
                .unwrap_or(entry.path())
                .to_string_lossy()
                .replace('\\', "/");
            let bytes =
                std::fs::read(entry.path()).map_err(|e| BuildError::Io(format!("{rel}: {e}")))?;
            out.insert(rel, bytes);
        }
    }
    Ok(out)
}
