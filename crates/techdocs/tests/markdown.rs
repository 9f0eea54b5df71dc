//! Every Markdown feature as data: tests/data/techdocs/markdown/<feature>.md
//! renders to <feature>.html, with the build warnings of
//! <feature>.warnings (one per line; absent means none).
//!
//! `GREENROOM_BLESS=1 cargo test -p greenroom-techdocs --test markdown`
//! rewrites the expected files after a deliberate change; review the diff.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use greenroom_techdocs::markdown::{PageContext, render_page};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/techdocs/markdown")
}

fn pages(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_feature_renders_to_its_expected_html() {
    let dir = fixtures();
    let bless = std::env::var("GREENROOM_BLESS").is_ok();
    let names = pages(&dir);
    assert!(names.len() >= 14, "{names:?}");
    let urls: HashMap<String, String> = names
        .iter()
        .map(|n| (n.clone(), format!("{}/", n.trim_end_matches(".md"))))
        .collect();
    let bases = vec![".".to_string()];
    let mut failures = Vec::new();
    for name in &names {
        let markdown = std::fs::read_to_string(dir.join(name)).unwrap();
        let ctx = PageContext {
            src_path: name,
            page_urls: &urls,
            page_url: &urls[name],
            docs_dir: "docs",
            root: &dir,
            snippet_bases: &bases,
        };
        let page = render_page(&markdown, &ctx);
        let stem = name.trim_end_matches(".md");
        let html_path = dir.join(format!("{stem}.html"));
        let warnings_path = dir.join(format!("{stem}.warnings"));
        let warnings: String = page.warnings.iter().map(|w| format!("{w}\n")).collect();
        if bless {
            std::fs::write(&html_path, &page.html).unwrap();
            if warnings.is_empty() {
                let _ = std::fs::remove_file(&warnings_path);
            } else {
                std::fs::write(&warnings_path, &warnings).unwrap();
            }
            continue;
        }
        let expected = std::fs::read_to_string(&html_path).unwrap_or_default();
        if page.html != expected {
            failures.push(format!(
                "{name}: HTML differs\n--- expected\n{expected}\n--- actual\n{}",
                page.html
            ));
        }
        let expected_warnings = std::fs::read_to_string(&warnings_path).unwrap_or_default();
        if warnings != expected_warnings {
            failures.push(format!(
                "{name}: warnings differ\n--- expected\n{expected_warnings}--- actual\n{warnings}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
