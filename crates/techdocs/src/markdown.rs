//! One Markdown page to sanitized HTML, as techdocs-core users write it.
//!
//! comrak does CommonMark and GFM (tables, task lists, footnotes,
//! strikethrough, autolinks), emoji shortcodes, heading attributes and
//! syntax highlighting (syntect, class-based, no JavaScript). What Python
//! Markdown extensions add on top — admonitions, collapsible details, content
//! tabs, snippets — is rewritten to HTML blocks first ([`expand`]). The result
//! is sanitized with ammonia, then headings get ids, permalinks and a table of
//! contents.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use comrak::adapters::CodefenceRendererAdapter;
use comrak::nodes::Sourcepos;
use comrak::options::{Plugins, URLRewriter};
use comrak::plugins::syntect::{SyntectAdapter, SyntectAdapterBuilder};
use comrak::{Options, markdown_to_html_with_plugins};
use regex::Regex;

use crate::paths::{join_relative, normalize_relative, relative_url};

/// A build problem that does not stop the build, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TocEntry {
    pub level: u8,
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone)]
pub struct RenderedPage {
    pub html: String,
    pub toc: Vec<TocEntry>,
    /// The text of the first level-one heading.
    pub title: Option<String>,
    /// The page as plain text, for the search index.
    pub text: String,
    pub warnings: Vec<Warning>,
}

/// Where a page sits in the site, for links and snippets.
pub struct PageContext<'a> {
    /// The page's path under `docs_dir` (`guide/intro.md`).
    pub src_path: &'a str,
    /// Every page's source path → its URL relative to the site root.
    pub page_urls: &'a HashMap<String, String>,
    /// The URL of this page relative to the site root (`guide/intro/`).
    pub page_url: &'a str,
    /// The directory of `docs_dir` inside the input, relative (`docs`).
    pub docs_dir: &'a str,
    /// The input root; snippets never read outside it.
    pub root: &'a Path,
    /// `pymdownx.snippets` base paths, relative to the root.
    pub snippet_bases: &'a [String],
}

static ADMONITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^(\s*)(!!!|\?\?\?\+?)\s+([A-Za-z][\w-]*(?:\s+[A-Za-z][\w-]*)*)\s*(?:"([^"]*)")?\s*$"#,
    )
    .expect("constant regex")
});
static TAB: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^(\s*)===(!?)\s+"([^"]*)"\s*$"#).expect("constant regex"));
static SNIPPET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^(\s*)(;?)-{2,}8<-{2,}\s+["']?([^"'\s]+)["']?\s*$"#).expect("constant regex")
});
static SNIPPET_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-{2,}8<-{2,}\s*\[(start|end):([\w-]+)\]").expect("constant regex")
});
static FENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(```+|~~~+)").expect("constant regex"));
static HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?s)<h([1-6])((?:\s+[^>]*)?)>(.*?)</h[1-6]>"#).expect("constant regex")
});
static ID_ATTR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"\sid="([^"]*)""#).expect("constant regex"));
static HEADING_ATTRS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\s{0,3}#{1,6}\s.*?)\s*\{\s*((?:[#.][\w-]+|[\w-]+=\S+)(?:\s+(?:[#.][\w-]+|[\w-]+=\S+))*)\s*\}\s*$")
        .expect("constant regex")
});
static ATTRS_MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<!--gr-attrs ([^>]*?)-->").expect("constant regex"));
static TAGS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<[^>]*>").expect("constant regex"));

/// Things techdocs-core sites use that greenroom does not render; each is a
/// build warning with its line, never a silent drop.
static UNSUPPORTED: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"^:::\s*\S",
            "'::: identifier' blocks (mkdocstrings) are not supported and are shown as text",
        ),
        (
            r"\{%-?\s*(include|macro|set|if|for)\b",
            "Jinja tags (mkdocs-macros-plugin) are not supported and are shown as text",
        ),
        (
            r"^\s*\[TOC\]\s*$",
            "[TOC] markers are not supported; the page's table of contents is shown beside it",
        ),
        (
            r"\{(\+\+|--|~~|==|>>).*(\+\+|--|~~|==|<<)\}",
            "critic markup (pymdownx.critic) is not supported and is shown as text",
        ),
        (
            r"^```\s*(plantuml|puml)\b",
            "PlantUML diagrams are not rendered; the source is shown as code",
        ),
        (
            r"^```\s*dot\b",
            "Graphviz diagrams are not rendered; the source is shown as code",
        ),
    ]
    .into_iter()
    .map(|(r, m)| (Regex::new(r).expect("constant regex"), m))
    .collect()
});

fn indent_of(line: &str) -> usize {
    line.chars().take_while(|c| *c == ' ').count()
        + line.chars().take_while(|c| *c == '\t').count() * 4
}

fn strip_indent(line: &str, n: usize) -> &str {
    let mut taken = 0;
    for (i, c) in line.char_indices() {
        if taken >= n || (c != ' ' && c != '\t') {
            return &line[i..];
        }
        taken += if c == '\t' { 4 } else { 1 };
    }
    ""
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn escape(s: &str) -> String {
    escape_html(s)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

struct Expander<'a> {
    ctx: &'a PageContext<'a>,
    warnings: Vec<Warning>,
    tab_sets: usize,
}

impl Expander<'_> {
    fn warn(&mut self, line: Option<usize>, message: impl Into<String>) {
        self.warnings.push(Warning {
            file: format!("{}/{}", self.ctx.docs_dir, self.ctx.src_path),
            line,
            message: message.into(),
        });
    }

    /// Replaces `--8<-- "file"` lines with the file (or its section), read
    /// only from inside the input root.
    fn snippets(&mut self, text: &str, depth: usize) -> Vec<(String, Option<usize>)> {
        let mut out = Vec::new();
        let mut fence: Option<String> = None;
        for (i, line) in text.lines().enumerate() {
            let line_no = (depth == 0).then_some(i + 1);
            if let Some(m) = FENCE.captures(line) {
                let marker = m[1].to_string();
                match &fence {
                    Some(open) if marker.starts_with(open.as_str()) => fence = None,
                    None => fence = Some(marker),
                    _ => {}
                }
            }
            let Some(c) = SNIPPET.captures(line).filter(|_| fence.is_none()) else {
                if !SNIPPET_MARKER.is_match(line) {
                    out.push((line.to_string(), line_no));
                }
                continue;
            };
            if &c[2] == ";" {
                // An escaped snippet line stays, without its escape.
                out.push((line.replacen(';', "", 1), line_no));
                continue;
            }
            let indent = c[1].to_string();
            let spec = c[3].to_string();
            if depth >= 4 {
                self.warn(line_no, format!("snippet {spec}: snippets nested too deep"));
                continue;
            }
            match self.read_snippet(&spec) {
                Ok(content) => {
                    for (l, _) in self.snippets(&content, depth + 1) {
                        out.push((format!("{indent}{l}"), line_no));
                    }
                }
                Err(message) => self.warn(line_no, format!("snippet {spec}: {message}")),
            }
        }
        out
    }

    fn read_snippet(&self, spec: &str) -> Result<String, String> {
        // file.md, file.md:section, file.md:3:7
        let mut parts = spec.splitn(3, ':');
        let file = parts.next().unwrap_or_default();
        let rest: Vec<&str> = parts.collect();
        let rel = normalize_relative(file)
            .ok_or("the path leaves the docs source, which snippets may not")?;
        let root = self.ctx.root.canonicalize().map_err(|e| e.to_string())?;
        let mut found = None;
        for base in self.ctx.snippet_bases {
            let Some(base) = normalize_relative(base) else {
                continue;
            };
            let candidate = root.join(base).join(&rel);
            if let Ok(real) = candidate.canonicalize() {
                if !real.starts_with(&root) {
                    return Err("the file is outside the docs source (through a link), which snippets may not read".into());
                }
                if real.is_file() {
                    found = Some(real);
                    break;
                }
            }
        }
        let path: PathBuf = found.ok_or("file not found in the snippet base paths")?;
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        match rest.as_slice() {
            [] => Ok(text),
            [section] if section.parse::<usize>().is_err() => {
                let mut inside = false;
                let mut lines = Vec::new();
                let mut seen = false;
                for l in text.lines() {
                    if let Some(m) = SNIPPET_MARKER.captures(l) {
                        if &m[2] == *section {
                            inside = &m[1] == "start";
                            seen = true;
                        }
                        continue;
                    }
                    if inside {
                        lines.push(l);
                    }
                }
                if !seen {
                    return Err(format!("section {section} not found"));
                }
                Ok(lines.join("\n"))
            }
            range => {
                let start: usize = range[0].parse().unwrap_or(1).max(1);
                let end: usize = range
                    .get(1)
                    .and_then(|e| e.parse().ok())
                    .unwrap_or(usize::MAX);
                Ok(text
                    .lines()
                    .skip(start - 1)
                    .take(end.saturating_sub(start - 1))
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
        }
    }

    /// Rewrites admonitions, details and tabs into HTML blocks around their
    /// (recursively expanded) Markdown bodies.
    fn blocks(&mut self, lines: &[(String, Option<usize>)]) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        let mut fence: Option<(String, usize)> = None;
        let mut open_tabs: Option<(usize, usize)> = None; // (indent, set number)
        while i < lines.len() {
            let (line, line_no) = &lines[i];
            if let Some((open, _)) = &fence {
                if FENCE
                    .captures(line)
                    .is_some_and(|m| m[1].starts_with(open.as_str()))
                {
                    fence = None;
                }
                out.push(line.clone());
                i += 1;
                continue;
            }
            if let Some(m) = FENCE.captures(line) {
                fence = Some((m[1].to_string(), indent_of(line)));
                for (re, message) in UNSUPPORTED.iter() {
                    if re.is_match(line.trim_start()) {
                        self.warn(*line_no, *message);
                    }
                }
                out.push(line.clone());
                i += 1;
                continue;
            }
            for (re, message) in UNSUPPORTED.iter() {
                if re.is_match(line) {
                    self.warn(*line_no, *message);
                }
            }
            let admonition = ADMONITION.captures(line);
            let tab = TAB.captures(line);
            if open_tabs.is_some_and(|(indent, _)| {
                tab.as_ref()
                    .is_none_or(|t| t[1].len() != indent || &t[2] == "!")
            }) && (tab.is_some() || !line.trim().is_empty())
            {
                out.push(format!(
                    "{}</div>",
                    " ".repeat(open_tabs.map_or(0, |t| t.0))
                ));
                out.push(String::new());
                open_tabs = None;
            }
            if admonition.is_none() && tab.is_none() {
                // attr_list on headings: `## Title {#id .class}` survives
                // Markdown as a comment the heading pass reads.
                match HEADING_ATTRS.captures(line) {
                    Some(h) => out.push(format!("{} <!--gr-attrs {}-->", &h[1], &h[2])),
                    None => out.push(line.clone()),
                }
                i += 1;
                continue;
            }
            let indent = admonition
                .as_ref()
                .or(tab.as_ref())
                .map_or(0, |c| c[1].len());
            let pad = " ".repeat(indent);
            // The body: following lines indented by four more, and blank lines.
            let mut j = i + 1;
            let mut body = Vec::new();
            while j < lines.len() {
                let (l, n) = &lines[j];
                if l.trim().is_empty() {
                    body.push((String::new(), *n));
                } else if indent_of(l) >= indent + 4 {
                    body.push((strip_indent(l, indent + 4).to_string(), *n));
                } else {
                    break;
                }
                j += 1;
            }
            while body.last().is_some_and(|(l, _)| l.is_empty()) {
                body.pop();
                j -= 1;
            }
            let inner = self.blocks(&body);
            if let Some(c) = admonition {
                let kind: Vec<&str> = c[3].split_whitespace().collect();
                let classes = kind.join(" ");
                let title = match c.get(4) {
                    Some(t) => t.as_str().to_string(),
                    None => capitalize(kind[0]),
                };
                match &c[2] {
                    "!!!" => {
                        push_padded(
                            &mut out,
                            &pad,
                            format!("<div class=\"admonition {}\">", escape(&classes)),
                        );
                        if !title.is_empty() {
                            push_padded(
                                &mut out,
                                &pad,
                                format!("<p class=\"admonition-title\">{}</p>", escape(&title)),
                            );
                        }
                    }
                    marker => {
                        let open = if marker == "???+" { " open" } else { "" };
                        push_padded(
                            &mut out,
                            &pad,
                            format!("<details class=\"{}\"{open}>", escape(&classes)),
                        );
                        push_padded(
                            &mut out,
                            &pad,
                            format!("<summary>{}</summary>", escape(&title)),
                        );
                    }
                }
                push_padded(&mut out, &pad, String::new());
                for l in inner {
                    push_padded(&mut out, &pad, l);
                }
                push_padded(&mut out, &pad, String::new());
                push_padded(
                    &mut out,
                    &pad,
                    if c[2].starts_with('!') {
                        "</div>".into()
                    } else {
                        "</details>".into()
                    },
                );
                push_padded(&mut out, &pad, String::new());
            } else if let Some(t) = tab {
                // The next tab's input must continue the set's HTML block.
                if open_tabs.is_some() {
                    while out.last().is_some_and(|l| l.trim().is_empty()) {
                        out.pop();
                    }
                }
                let (set, first) = match open_tabs {
                    Some((_, set)) => (set, false),
                    None => {
                        self.tab_sets += 1;
                        (self.tab_sets, true)
                    }
                };
                if first {
                    push_padded(&mut out, &pad, "<div class=\"tabbed-set\">".into());
                }
                let n = out_count_tabs(&out, set) + 1;
                let id = format!("__tabbed_{set}_{n}");
                let checked = if first { " checked" } else { "" };
                out.push(format!("{pad}<input type=\"radio\" name=\"__tabbed_{set}\" id=\"{id}\"{checked}><label for=\"{id}\">{}</label>", escape(&t[3])));
                out.push(format!("{pad}<div class=\"tabbed-content\">"));
                out.push(String::new());
                for l in inner {
                    out.push(if l.is_empty() { l } else { format!("{pad}{l}") });
                }
                out.push(String::new());
                out.push(format!("{pad}</div>"));
                open_tabs = Some((indent, set));
            }
            i = j;
        }
        if let Some((indent, _)) = open_tabs {
            out.push(format!("{}</div>", " ".repeat(indent)));
        }
        out
    }
}

fn push_padded(out: &mut Vec<String>, pad: &str, s: String) {
    out.push(if s.is_empty() { s } else { format!("{pad}{s}") });
}

/// How many tabs a tab set already has (ids must be unique).
fn out_count_tabs(out: &[String], set: usize) -> usize {
    let name = format!("name=\"__tabbed_{set}\"");
    out.iter().filter(|l| l.contains(&name)).count()
}

/// The files a page's snippet lines name (for the source's etag).
pub fn snippet_files(markdown: &str) -> Vec<String> {
    markdown
        .lines()
        .filter_map(|l| SNIPPET.captures(l))
        .filter(|c| &c[2] != ";")
        .map(|c| c[3].split(':').next().unwrap_or_default().to_string())
        .collect()
}

/// Expands snippets and block extensions into CommonMark with HTML blocks.
pub fn expand(markdown: &str, ctx: &PageContext<'_>) -> (String, Vec<Warning>) {
    let mut ex = Expander {
        ctx,
        warnings: Vec::new(),
        tab_sets: 0,
    };
    let lines = ex.snippets(markdown, 0);
    let out = ex.blocks(&lines);
    (out.join("\n") + "\n", ex.warnings)
}

/// Mermaid diagrams go to the browser as text for client-side rendering.
struct Mermaid;

impl CodefenceRendererAdapter for Mermaid {
    fn write(
        &self,
        output: &mut dyn fmt::Write,
        _lang: &str,
        _meta: &str,
        code: &str,
        _pos: Option<Sourcepos>,
    ) -> fmt::Result {
        write!(output, "<pre class=\"mermaid\">{}</pre>", escape(code))
    }
}

static SYNTECT: LazyLock<SyntectAdapter> =
    LazyLock::new(|| SyntectAdapterBuilder::new().css().build());

/// Rewrites links between pages to the built pages, and relative asset
/// links to where they are relative to the built page.
struct Links {
    src_dir: String,
    page_url: String,
    page_urls: HashMap<String, String>,
    missing: std::sync::Mutex<Vec<String>>,
}

impl URLRewriter for Links {
    fn to_html(&self, url: &str) -> String {
        if url.is_empty()
            || url.starts_with('#')
            || url.starts_with('/')
            || url.contains("://")
            || url.starts_with("mailto:")
            || url.starts_with("data:")
        {
            return url.to_string();
        }
        if url.contains(':') && !url.contains('/') {
            // `javascript:` and other schemes: left to the sanitizer.
            return url.to_string();
        }
        let (path, fragment) = match url.split_once('#') {
            Some((p, f)) => (p, Some(f)),
            None => (url, None),
        };
        let Some(target) = join_relative(&self.src_dir, path) else {
            return url.to_string();
        };
        let dest = if target.ends_with(".md") {
            match self.page_urls.get(&target) {
                Some(u) => u.clone(),
                None => {
                    if let Ok(mut m) = self.missing.lock() {
                        m.push(path.to_string());
                    }
                    return url.to_string();
                }
            }
        } else {
            target
        };
        let mut out = relative_url(&page_dir(&self.page_url), &dest);
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
        out
    }
}

/// The directory a page's relative links resolve from.
pub fn page_dir(page_url: &str) -> String {
    if page_url.is_empty() || page_url.ends_with('/') {
        page_url.to_string()
    } else {
        match page_url.rfind('/') {
            Some(i) => page_url[..=i].to_string(),
            None => String::new(),
        }
    }
}

fn sanitizer() -> ammonia::Builder<'static> {
    let mut b = ammonia::Builder::default();
    b.add_tags([
        "details",
        "summary",
        "input",
        "label",
        "div",
        "span",
        "pre",
        "code",
        "del",
        "ins",
        "mark",
        "sup",
        "sub",
        "section",
        "figure",
        "figcaption",
        "dl",
        "dt",
        "dd",
    ]);
    b.add_generic_attributes(["class", "id", "title", "align"]);
    b.add_tag_attributes("details", ["open"]);
    b.add_tag_attributes("input", ["type", "checked", "disabled", "name"]);
    b.add_tag_attributes("label", ["for"]);
    b.add_tag_attributes("a", ["href", "data-footnote-ref", "data-footnote-backref"]);
    b.add_tag_attributes("img", ["src", "alt", "width", "height"]);
    b.add_tag_attributes("ol", ["start"]);
    b.add_tag_attributes("td", ["align"]);
    b.add_tag_attributes("th", ["align"]);
    b.add_tag_attribute_values("input", "type", ["checkbox", "radio"]);
    b.url_relative(ammonia::UrlRelative::PassThrough);
    b.link_rel(Some("noopener noreferrer"));
    b
}

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(sanitizer);

/// Cleans HTML with the rules pages are built with: a page published by
/// someone else's CI is shown only after passing the same filter.
pub fn sanitize(html: &str) -> String {
    SANITIZER.clean(html).to_string()
}

/// mkdocs' `toc` slugs: lower-case words joined by dashes.
pub fn slugify(text: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in text.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '_' {
            out.push(c);
            dash = false;
        } else if (c.is_whitespace() || c == '-') && !out.is_empty() && !dash {
            out.push('-');
            dash = true;
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Gives every heading an id (kept when the author set one) and a
/// permalink, and collects the table of contents.
fn headings(html: &str) -> (String, Vec<TocEntry>) {
    let mut used: HashSet<String> = HashSet::new();
    let mut toc = Vec::new();
    let out = HEADING.replace_all(html, |c: &regex::Captures<'_>| {
        let level: u8 = c[1].parse().unwrap_or(1);
        let mut attrs = c[2].to_string();
        let mut inner = c[3].to_string();
        let mut wanted_id = ID_ATTR.captures(&attrs).map(|m| m[1].to_string());
        if let Some(m) = ATTRS_MARKER.captures(&inner.clone()) {
            let mut classes = Vec::new();
            for token in m[1].split_whitespace() {
                if let Some(id) = token.strip_prefix('#') {
                    wanted_id = Some(id.to_string());
                } else if let Some(class) = token.strip_prefix('.') {
                    classes.push(class.to_string());
                }
            }
            if !classes.is_empty() {
                attrs.push_str(&format!(" class=\"{}\"", escape(&classes.join(" "))));
            }
            inner = ATTRS_MARKER.replace(&inner, "").trim_end().to_string();
        }
        let title = unescape(TAGS.replace_all(&inner, "").trim());
        let mut id = match wanted_id {
            Some(id) => id,
            None => slugify(&title),
        };
        if id.is_empty() {
            id = "section".into();
        }
        let base = id.clone();
        let mut n = 1;
        while !used.insert(id.clone()) {
            id = format!("{base}_{n}");
            n += 1;
        }
        let attrs = ID_ATTR.replace(&attrs, "").to_string();
        toc.push(TocEntry { level, id: id.clone(), title });
        format!(
            "<h{level} id=\"{}\"{attrs}>{inner}<a class=\"headerlink\" href=\"#{}\" title=\"Permanent link\">¶</a></h{level}>",
            escape(&id),
            escape(&id)
        )
    });
    (out.into_owned(), toc)
}

fn options(links: Arc<Links>) -> Options<'static> {
    let mut o = Options::default();
    o.extension.table = true;
    o.extension.strikethrough = true;
    o.extension.tasklist = true;
    o.extension.footnotes = true;
    o.extension.autolink = true;
    o.extension.shortcodes = true;
    o.extension.description_lists = true;
    o.extension.highlight = true;
    o.extension.superscript = true;
    o.extension.front_matter_delimiter = Some("---".into());
    o.extension.link_url_rewriter = Some(links.clone());
    o.extension.image_url_rewriter = Some(links);
    o.render.r#unsafe = true;
    o.render.tasklist_classes = true;
    o
}

/// Renders one page.
pub fn render_page(markdown: &str, ctx: &PageContext<'_>) -> RenderedPage {
    let (expanded, mut warnings) = expand(markdown, ctx);
    let src_dir = match ctx.src_path.rfind('/') {
        Some(i) => ctx.src_path[..i].to_string(),
        None => String::new(),
    };
    let links = Arc::new(Links {
        src_dir,
        page_url: ctx.page_url.to_string(),
        page_urls: ctx.page_urls.clone(),
        missing: std::sync::Mutex::new(Vec::new()),
    });
    let opts = options(links.clone());
    let mut plugins = Plugins::default();
    plugins.render.codefence_syntax_highlighter = Some(&*SYNTECT);
    let mermaid = Mermaid;
    plugins
        .render
        .codefence_renderers
        .insert("mermaid".into(), &mermaid);
    let raw = markdown_to_html_with_plugins(&expanded, &opts, &plugins);
    // Headings first (they read the attr_list markers, which are comments),
    // then the sanitizer over everything.
    let (with_ids, toc) = headings(&raw);
    let html = SANITIZER.clean(&with_ids).to_string();
    for m in links.missing.lock().map(|m| m.clone()).unwrap_or_default() {
        warnings.push(Warning {
            file: format!("{}/{}", ctx.docs_dir, ctx.src_path),
            line: None,
            message: format!(
                "the link to {m} points to a page that is not in the docs; it is left as written"
            ),
        });
    }
    let title = toc.iter().find(|t| t.level == 1).map(|t| t.title.clone());
    let text = unescape(&TAGS.replace_all(&html.replace('¶', ""), " "))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    RenderedPage {
        html,
        toc,
        title,
        text,
        warnings,
    }
}

/// `code` as a highlighted `<pre>` block (syntect classes, as in docs pages);
/// unknown languages come out escaped and unhighlighted.
pub fn highlight(code: &str, lang: &str) -> String {
    // A fence longer than any run of backticks in the code.
    let longest = code.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let markdown = format!("{fence}{lang}\n{code}\n{fence}\n");
    let mut opts = Options::default();
    opts.render.r#unsafe = false;
    let mut plugins = Plugins::default();
    plugins.render.codefence_syntax_highlighter = Some(&*SYNTECT);
    markdown_to_html_with_plugins(&markdown, &opts, &plugins)
}
