//! `greenroom techdocs build|publish|serve`: what `techdocs-cli` does, for a
//! service repository's CI and for authors previewing their docs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use greenroom_techdocs::{BuildOptions, Triplet, build};

use crate::serve::load_settings;

pub struct BuildArgs {
    pub source_dir: PathBuf,
    pub output_dir: PathBuf,
    pub site_name: Option<String>,
    pub etag: Option<String>,
    pub techdocs_ref: Option<String>,
}

pub fn run_build(args: &BuildArgs) -> anyhow::Result<i32> {
    let started = std::time::Instant::now();
    let options = BuildOptions {
        site_name: args.site_name.clone(),
        etag: args.etag.clone(),
        techdocs_ref: args.techdocs_ref.clone(),
    };
    if args.output_dir.exists() {
        std::fs::remove_dir_all(&args.output_dir)
            .with_context(|| format!("clearing {}", args.output_dir.display()))?;
    }
    let report = build(&args.source_dir, &args.output_dir, &options, &mut |line| {
        eprintln!("{line}")
    });
    match report {
        Ok(r) => {
            eprintln!(
                "Successfully generated docs from {} into {} ({} pages, {} warnings, {} ms)",
                args.source_dir.display(),
                args.output_dir.display(),
                r.pages,
                r.warnings.len(),
                started.elapsed().as_millis()
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(1)
        }
    }
}

pub fn run_publish(entity: &str, directory: &Path, config: &[PathBuf]) -> anyhow::Result<i32> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let settings = load_settings(config, &env)?;
    let triplet = Triplet::parse(entity)?;
    if !directory.join("index.html").is_file() {
        bail!(
            "{} has no index.html; build it first with `greenroom techdocs build`",
            directory.display()
        );
    }
    let publisher = greenroom_techdocs::publisher_from_config(&settings.raw)?;
    let files = publisher.publish(&triplet, directory)?;
    eprintln!("Published {files} files for {entity}");
    Ok(0)
}

/// Serves a live preview of the docs at `source_dir` until Ctrl-C.
pub async fn run_serve(source_dir: &Path, port: u16) -> anyhow::Result<i32> {
    let source = std::path::absolute(source_dir)?;
    let preview = greenroom_server::preview::Preview::new(source.clone());
    let first = preview.clone();
    tokio::task::spawn_blocking(move || first.refresh()).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    eprintln!(
        "Previewing {} at http://127.0.0.1:{}/ (rebuilds on change; Ctrl-C stops)",
        source.display(),
        listener.local_addr()?.port()
    );
    greenroom_server::preview::run(listener, preview, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(0)
}
