//! `fs:delete`, `fs:rename`, `fs:readdir`: workspace housekeeping.

use futures_util::future::BoxFuture;
use globset::GlobBuilder;
use serde_json::{Value as Json, json};

use super::{Action, ActionContext, ActionError, Outputs, blocking};
use crate::tree::safe_relative;

pub struct Delete;

impl Action for Delete {
    fn id(&self) -> &'static str {
        "fs:delete"
    }
    fn description(&self) -> &'static str {
        "Deletes files and directories from the workspace"
    }
    fn input_schema(&self) -> Json {
        json!({
            "type": "object", "required": ["files"],
            "properties": { "files": { "type": "array", "items": {"type": "string"}, "title": "Files", "description": "A list of files and directories (globs allowed) that will be deleted" } }
        })
    }
    fn supports_dry_run(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let patterns = ctx.strings("files");
            let mut matchers = Vec::new();
            for p in &patterns {
                let rel = safe_relative("files", p, "workspace")?;
                let glob = GlobBuilder::new(&rel.to_string_lossy())
                    .literal_separator(true)
                    .build()
                    .map_err(|e| ActionError::Input(format!("files: invalid glob '{p}': {e}")))?;
                matchers.push(glob.compile_matcher());
            }
            let root = ctx.workspace.root().to_path_buf();
            let deleted = blocking(move || {
                let mut deleted = Vec::new();
                let mut it = walkdir::WalkDir::new(&root)
                    .follow_links(false)
                    .min_depth(1)
                    .into_iter();
                while let Some(entry) = it.next() {
                    let entry = entry.map_err(|e| ActionError::Failed(e.to_string()))?;
                    let rel = entry
                        .path()
                        .strip_prefix(&root)
                        .unwrap_or(entry.path())
                        .to_path_buf();
                    if !matchers.iter().any(|m| m.is_match(&rel)) {
                        continue;
                    }
                    let result = if entry.file_type().is_dir() {
                        it.skip_current_dir();
                        std::fs::remove_dir_all(entry.path())
                    } else {
                        std::fs::remove_file(entry.path())
                    };
                    result.map_err(|e| {
                        ActionError::Failed(format!("deleting {}: {e}", rel.display()))
                    })?;
                    deleted.push(rel.display().to_string());
                }
                Ok(deleted)
            })
            .await?;
            for d in deleted {
                ctx.logger.log(format!("File {d} deleted successfully"));
            }
            Ok(Outputs::new())
        })
    }
}

pub struct Rename;

impl Action for Rename {
    fn id(&self) -> &'static str {
        "fs:rename"
    }
    fn description(&self) -> &'static str {
        "Renames files and directories within the workspace"
    }
    fn input_schema(&self) -> Json {
        json!({
            "type": "object", "required": ["files"],
            "properties": { "files": { "type": "array", "title": "Files", "description": "A list of file and directory names that will be renamed",
                "items": { "type": "object", "required": ["from", "to"], "properties": {
                    "from": {"type": "string", "title": "The source location of the file to be renamed"},
                    "to": {"type": "string", "title": "The destination of the new file"},
                    "overwrite": {"type": "boolean", "title": "Overwrite existing file or directory, default is false"}
                } } } }
        })
    }
    fn supports_dry_run(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let items = ctx
                .input
                .get("files")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            for item in items {
                let from = item.get("from").and_then(Json::as_str).unwrap_or_default();
                let to = item.get("to").and_then(Json::as_str).unwrap_or_default();
                let overwrite = item
                    .get("overwrite")
                    .and_then(Json::as_bool)
                    .unwrap_or(false);
                let src = ctx.workspace.resolve("files.from", from)?;
                let dest = ctx.workspace.resolve("files.to", to)?;
                if std::fs::symlink_metadata(&src).is_err() {
                    return Err(ActionError::NotFound(format!(
                        "files.from: '{from}' does not exist in the workspace"
                    )));
                }
                if std::fs::symlink_metadata(&dest).is_ok() {
                    if !overwrite {
                        return Err(ActionError::Conflict(format!(
                            "files.to: '{to}' already exists; set overwrite to replace it"
                        )));
                    }
                    let removed = if dest.is_dir() {
                        std::fs::remove_dir_all(&dest)
                    } else {
                        std::fs::remove_file(&dest)
                    };
                    removed.map_err(|e| ActionError::Failed(format!("replacing {to}: {e}")))?;
                }
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| ActionError::Failed(e.to_string()))?;
                }
                std::fs::rename(&src, &dest)
                    .map_err(|e| ActionError::Failed(format!("renaming {from} to {to}: {e}")))?;
                ctx.logger
                    .log(format!("File {from} renamed to {to} successfully"));
            }
            Ok(Outputs::new())
        })
    }
}

pub struct ReadDir;

impl Action for ReadDir {
    fn id(&self) -> &'static str {
        "fs:readdir"
    }
    fn description(&self) -> &'static str {
        "Reads files and directories from the workspace"
    }
    fn input_schema(&self) -> Json {
        json!({
            "type": "object", "required": ["paths"],
            "properties": {
                "paths": { "type": "array", "items": {"type": "string"}, "title": "Paths", "description": "A list of paths to read" },
                "recursive": { "type": "boolean", "title": "Recursive", "description": "Read all files and directories recursively (default false)" }
            }
        })
    }
    fn output_schema(&self) -> Json {
        let entry = json!({ "type": "object", "required": ["name", "path", "fullPath"], "properties": {
            "name": {"type": "string"}, "path": {"type": "string"}, "fullPath": {"type": "string"} } });
        json!({ "type": "object", "required": ["files", "folders"], "properties": {
            "files": { "type": "array", "items": entry }, "folders": { "type": "array", "items": entry } } })
    }
    fn supports_dry_run(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let recursive = ctx.bool("recursive");
            let root = ctx.workspace.root().to_path_buf();
            let mut files = Vec::new();
            let mut folders = Vec::new();
            for p in ctx.strings("paths") {
                let dir = ctx.workspace.resolve("paths", &p)?;
                if !dir.is_dir() {
                    return Err(ActionError::NotFound(format!(
                        "paths: '{p}' is not a directory in the workspace"
                    )));
                }
                let walker = walkdir::WalkDir::new(&dir)
                    .follow_links(false)
                    .min_depth(1)
                    .max_depth(if recursive { usize::MAX } else { 1 })
                    .sort_by_file_name();
                for entry in walker {
                    let entry = entry.map_err(|e| ActionError::Failed(e.to_string()))?;
                    let item = json!({
                        "name": entry.file_name().to_string_lossy(),
                        "path": entry.path().strip_prefix(&root).unwrap_or(entry.path()).to_string_lossy(),
                        "fullPath": entry.path().to_string_lossy(),
                    });
                    if entry.file_type().is_dir() {
                        folders.push(item);
                    } else {
                        files.push(item);
                    }
                }
            }
            let mut out = Outputs::new();
            out.insert("files".into(), Json::Array(files));
            out.insert("folders".into(), Json::Array(folders));
            Ok(out)
        })
    }
}
