//! `fetch:plain`, `fetch:plain:file`, `fetch:template`, `fetch:template:file`.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde_json::{Value as Json, json};

use super::{Action, ActionContext, ActionError, Outputs, blocking};
use crate::templating::{SyntaxOptions, Templater};
use crate::tree::{TreeEntry, Workspace};

fn url_schema() -> Json {
    json!({ "type": "string", "title": "Fetch URL", "description": "Relative path of a directory or file in the template's directory." })
}

fn target_schema(desc: &str) -> Json {
    json!({ "type": "string", "title": "Target Path", "description": desc })
}

fn token_schema() -> Json {
    json!({ "type": "string", "title": "Token", "description": "Accepted for compatibility; greenroom reads template files locally." })
}

fn write_tree(
    ws: &Workspace,
    target: &str,
    entries: Vec<(String, TreeEntry)>,
    replace: bool,
) -> Result<Vec<String>, ActionError> {
    let mut skipped = Vec::new();
    for (rel, entry) in entries {
        let joined = format!("{}/{}", target.trim_end_matches('/'), rel);
        let dest = ws.resolve(&format!("path of {}", entry.path), &joined)?;
        if !ws.write_entry(&dest, &entry, replace)? {
            skipped.push(rel);
        }
    }
    Ok(skipped)
}

pub struct FetchPlain;

impl Action for FetchPlain {
    fn id(&self) -> &'static str {
        "fetch:plain"
    }
    fn description(&self) -> &'static str {
        "Downloads content and places it in the workspace, or optionally in a subdirectory specified by the `targetPath` input option."
    }
    fn input_schema(&self) -> Json {
        json!({
            "type": "object", "required": ["url"],
            "properties": {
                "url": url_schema(),
                "targetPath": target_schema("Target path within the working directory to download the contents to."),
                "token": token_schema(),
            }
        })
    }
    fn supports_dry_run(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let url = ctx.required_str("url")?.to_string();
            let target = ctx.str("targetPath").unwrap_or("./").to_string();
            ctx.workspace.resolve("targetPath", &target)?;
            ctx.logger.log(format!("Fetching plain content from {url}"));
            let source = ctx.source.clone();
            let ws = ctx.workspace.clone();
            blocking(move || {
                let entries = source.read_tree(&url)?;
                write_tree(
                    &ws,
                    &target,
                    entries.into_iter().map(|e| (e.path.clone(), e)).collect(),
                    true,
                )?;
                Ok(())
            })
            .await?;
            Ok(Outputs::new())
        })
    }
}

pub struct FetchPlainFile;

impl Action for FetchPlainFile {
    fn id(&self) -> &'static str {
        "fetch:plain:file"
    }
    fn description(&self) -> &'static str {
        "Downloads single file and places it in the workspace."
    }
    fn input_schema(&self) -> Json {
        json!({
            "type": "object", "required": ["url", "targetPath"],
            "properties": {
                "url": url_schema(),
                "targetPath": target_schema("Target path within the working directory to download the file as."),
                "token": token_schema(),
            }
        })
    }
    fn supports_dry_run(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let url = ctx.required_str("url")?.to_string();
            let dest = ctx
                .workspace
                .resolve("targetPath", ctx.required_str("targetPath")?)?;
            ctx.logger.log(format!("Fetching plain file from {url}"));
            let source = ctx.source.clone();
            let ws = ctx.workspace.clone();
            blocking(move || {
                let entry = source.read_file(&url)?;
                ws.write_entry(&dest, &entry, true)?;
                Ok(())
            })
            .await?;
            Ok(Outputs::new())
        })
    }
}

fn template_input_properties() -> serde_json::Map<String, Json> {
    let props = json!({
        "url": url_schema(),
        "values": { "type": "object", "title": "Template Values", "description": "Values to pass on to the templating engine" },
        "cookiecutterCompat": { "type": "boolean", "title": "Cookiecutter compatibility mode", "description": "Enable features to maximise compatibility with templates built for fetch:cookiecutter" },
        "replace": { "type": "boolean", "title": "Replace files", "description": "If set, replace files in targetPath instead of skipping existing ones." },
        "trimBlocks": { "type": "boolean", "title": "Trim Blocks", "description": "If set, the first newline after a block is removed (block, not variable tag!)." },
        "lstripBlocks": { "type": "boolean", "title": "Lstrip Blocks", "description": "If set, leading spaces and tabs are stripped from the start of a line to a block." },
        "token": token_schema(),
    });
    props.as_object().cloned().unwrap_or_default()
}

/// Is this content text a template engine may render?
fn is_text(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

fn globs(input: &str, patterns: &[String]) -> Result<GlobSet, ActionError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let p = p.trim_start_matches("./");
        let glob = GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| ActionError::Input(format!("{input}: invalid glob '{p}': {e}")))?;
        b.add(glob);
        // A directory pattern covers what is under it, as in Backstage.
        if let Ok(g) = GlobBuilder::new(&format!("{}/**", p.trim_end_matches('/')))
            .literal_separator(true)
            .build()
        {
            b.add(g);
        }
    }
    b.build()
        .map_err(|e| ActionError::Input(format!("{input}: {e}")))
}

fn values_context(ctx: &ActionContext<'_>, cookiecutter: bool) -> Json {
    let values = ctx
        .input
        .get("values")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if cookiecutter {
        json!({ "cookiecutter": values })
    } else {
        json!({ "values": values })
    }
}

fn syntax(ctx: &ActionContext<'_>) -> SyntaxOptions {
    SyntaxOptions {
        cookiecutter: ctx.bool("cookiecutterCompat"),
        trim_blocks: ctx.bool("trimBlocks"),
        lstrip_blocks: ctx.bool("lstripBlocks"),
    }
}

/// Whether a rendered path means "leave this entry out".
fn skip_rendered(path: &str) -> bool {
    path.trim().is_empty() || path.starts_with('/') || path.contains("//")
}

pub struct FetchTemplate;

impl Action for FetchTemplate {
    fn id(&self) -> &'static str {
        "fetch:template"
    }
    fn description(&self) -> &'static str {
        "Downloads a skeleton, templates variables into file and directory names and content, and places the result in the workspace, or optionally in a subdirectory specified by the `targetPath` input option."
    }
    fn input_schema(&self) -> Json {
        let mut props = template_input_properties();
        props.insert("targetPath".into(), target_schema("Target path within the working directory to download the contents to. Defaults to the working directory root."));
        props.insert("copyWithoutRender".into(), json!({ "type": "array", "items": {"type": "string"}, "title": "[Deprecated] Copy Without Render", "description": "An array of glob patterns. Any files or directories which match are copied without being processed as templates." }));
        props.insert("copyWithoutTemplating".into(), json!({ "type": "array", "items": {"type": "string"}, "title": "Copy Without Templating", "description": "An array of glob patterns. Contents of matched files or directories are copied without being processed, but paths are subject to rendering." }));
        props.insert("templateFileExtension".into(), json!({ "type": ["string", "boolean"], "title": "Template File Extension", "description": "If set, only files with the given extension will be templated. If set to `true`, the default extension `.njk` is used." }));
        json!({ "type": "object", "required": ["url"], "properties": props })
    }
    fn supports_dry_run(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let url = ctx.required_str("url")?.to_string();
            let target = ctx.str("targetPath").unwrap_or("./").to_string();
            ctx.workspace.resolve("targetPath", &target)?;
            let copy_without_render = ctx.strings("copyWithoutRender");
            let copy_without_templating = ctx.strings("copyWithoutTemplating");
            let extension = match ctx.input.get("templateFileExtension") {
                Some(Json::Bool(true)) => Some(".njk".to_string()),
                Some(Json::String(s)) if !s.is_empty() => Some(if s.starts_with('.') {
                    s.clone()
                } else {
                    format!(".{s}")
                }),
                _ => None,
            };
            let cookiecutter = ctx.bool("cookiecutterCompat");
            if !copy_without_render.is_empty() && !copy_without_templating.is_empty() {
                return Err(ActionError::Input(
                    "Fetch action input copyWithoutRender and copyWithoutTemplating can not be used at the same time".into(),
                ));
            }
            if extension.is_some()
                && (!copy_without_render.is_empty()
                    || !copy_without_templating.is_empty()
                    || cookiecutter)
            {
                return Err(ActionError::Input(
                    "Fetch action input extension incompatible with copyWithoutRender/copyWithoutTemplating and cookiecutterCompat".into(),
                ));
            }
            let verbatim_paths = globs("copyWithoutRender", &copy_without_render)?;
            let verbatim_contents = globs("copyWithoutTemplating", &copy_without_templating)?;
            let templater = Arc::new(Templater::new(
                ctx.services.integrations.clone(),
                syntax(&ctx),
            ));
            let context = values_context(&ctx, cookiecutter);
            let replace = ctx.bool("replace");
            ctx.logger
                .log(format!("Fetching template content from {url}"));
            let source = ctx.source.clone();
            let ws = ctx.workspace.clone();
            let (written, skipped, skipped_existing) = blocking(move || {
                let mut out = Vec::new();
                let mut skipped = Vec::new();
                for mut entry in source.read_tree(&url)? {
                    let original = entry.path.clone();
                    if verbatim_paths.is_match(&original) {
                        out.push((original, entry));
                        continue;
                    }
                    let mut path = templater.render_text(&original, &context).map_err(|e| {
                        ActionError::Input(format!("rendering the path {original}: {e}"))
                    })?;
                    if skip_rendered(&path) {
                        skipped.push(original);
                        continue;
                    }
                    let render_contents = entry.symlink.is_none()
                        && is_text(&entry.contents)
                        && !verbatim_contents.is_match(&original)
                        && match &extension {
                            Some(ext) => match path.strip_suffix(ext.as_str()) {
                                Some(stripped) => {
                                    path = stripped.to_string();
                                    true
                                }
                                None => false,
                            },
                            None => true,
                        };
                    if render_contents {
                        let text = String::from_utf8_lossy(&entry.contents).into_owned();
                        let rendered = templater.render_text(&text, &context).map_err(|e| {
                            ActionError::Input(format!("rendering {original}: {e}"))
                        })?;
                        entry.contents = rendered.into_bytes();
                    }
                    out.push((path, entry));
                }
                let count = out.len();
                let existing = write_tree(&ws, &target, out, replace)?;
                Ok((count - existing.len(), skipped, existing))
            })
            .await?;
            for s in &skipped {
                ctx.logger
                    .log(format!("Skipping {s}: its rendered path is empty"));
            }
            for s in &skipped_existing {
                ctx.logger.log(format!(
                    "Skipping {s}: the file exists and replace is not set"
                ));
            }
            ctx.logger.log(format!(
                "Template result written to the workspace ({written} files)"
            ));
            Ok(Outputs::new())
        })
    }
}

pub struct FetchTemplateFile;

impl Action for FetchTemplateFile {
    fn id(&self) -> &'static str {
        "fetch:template:file"
    }
    fn description(&self) -> &'static str {
        "Downloads single file and places it in the workspace."
    }
    fn input_schema(&self) -> Json {
        let mut props = template_input_properties();
        props.insert(
            "targetPath".into(),
            target_schema("Target path within the working directory to download the file as."),
        );
        json!({ "type": "object", "required": ["url", "targetPath"], "properties": props })
    }
    fn supports_dry_run(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let url = ctx.required_str("url")?.to_string();
            let dest = ctx
                .workspace
                .resolve("targetPath", ctx.required_str("targetPath")?)?;
            let templater = Templater::new(ctx.services.integrations.clone(), syntax(&ctx));
            let context = values_context(&ctx, ctx.bool("cookiecutterCompat"));
            let replace = ctx.bool("replace");
            ctx.logger.log(format!("Fetching template file from {url}"));
            let source = ctx.source.clone();
            let ws = ctx.workspace.clone();
            blocking(move || {
                let mut entry = source.read_file(&url)?;
                if is_text(&entry.contents) {
                    let text = String::from_utf8_lossy(&entry.contents).into_owned();
                    entry.contents = templater
                        .render_text(&text, &context)
                        .map_err(|e| ActionError::Input(format!("rendering {url}: {e}")))?
                        .into_bytes();
                }
                ws.write_entry(&dest, &entry, replace)?;
                Ok(())
            })
            .await?;
            Ok(Outputs::new())
        })
    }
}
