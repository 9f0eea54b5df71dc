//! Whole sites: tests/data/techdocs/site built end to end, and the ways a
//! docs source may try to read outside itself.

use std::path::{Path, PathBuf};

use greenroom_techdocs::{BuildError, BuildOptions, build, source_etag};
use serde_json::Value;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/techdocs/site")
}

fn copy(src: &Path, dest: &Path) {
    for entry in walkdir::WalkDir::new(src) {
        let entry = entry.unwrap();
        let to = dest.join(entry.path().strip_prefix(src).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn builds_a_multi_page_site_with_nav_links_assets_and_snippets() {
    let out = tempfile::tempdir().unwrap();
    let mut log = Vec::new();
    let report = build(
        &fixture(),
        out.path(),
        &BuildOptions {
            etag: Some("abc123".into()),
            ..Default::default()
        },
        &mut |l| log.push(l.to_string()),
    )
    .unwrap();
    assert_eq!(report.pages, 5);
    let meta: Value = serde_json::from_str(&read(out.path(), "techdocs_metadata.json")).unwrap();
    assert_eq!(meta["site_name"], "Orders API");
    assert_eq!(meta["site_description"], "How the orders service works.");
    assert_eq!(meta["etag"], "abc123");
    assert!(meta["build_timestamp"].as_u64().unwrap() > 1_700_000_000_000);
    let files: Vec<&str> = meta["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "assets/greenroom/techdocs.css",
            "guide/advanced/tuning/index.html",
            "guide/index.html",
            "guide/install/index.html",
            "img/diagram.svg",
            "index.html",
            "not-in-nav/index.html",
            "search/search_index.json",
        ]
    );

    let index = read(out.path(), "index.html");
    // Nested nav with titles from nav, from the page, and an external link.
    assert!(index.contains(r#"<li class="section"><span>Guide</span><ul><li><a href="guide/">Guide</a></li><li><a href="guide/install/">Install it</a></li><li class="section"><span>Deeper</span><ul><li><a href="guide/advanced/tuning/">Tuning</a></li></ul></li></ul></li>"#), "{index}");
    assert!(index.contains(r#"<a href="https://status.example.com" class="external" rel="noopener noreferrer">Status page</a>"#));
    assert!(index.contains(r#"<a href="./" class="active" aria-current="page">Home</a>"#));
    // Links between pages and to assets, rewritten to the built pages.
    assert!(index.contains(r#"<a href="guide/" rel="noopener noreferrer">guide</a>"#));
    assert!(index.contains(
        r#"<a href="guide/install/#requirements" rel="noopener noreferrer">install it</a>"#
    ));
    assert!(index.contains(r#"<img src="img/diagram.svg" alt="Architecture">"#));
    // A snippet from the second base path, with an admonition inside.
    assert!(index.contains(r#"<p class="admonition-title">Shared notice</p>"#));
    let tuning = read(out.path(), "guide/advanced/tuning/index.html");
    assert!(tuning.contains(r#"<a href="../../install/#requirements" rel="noopener noreferrer">the requirements</a>"#), "{tuning}");
    assert!(tuning.contains(r#"href="../../../assets/greenroom/techdocs.css""#));
    assert!(
        tuning.contains(r#"<a rel="prev" href="../../install/">Previous: Install it</a>"#),
        "{tuning}"
    );
    let install = read(out.path(), "guide/install/index.html");
    assert!(
        install.contains(r##"<li class="toc-h2"><a href="#requirements">Requirements</a></li>"##)
    );
    // A page without a heading takes its title from its file name.
    assert!(
        read(out.path(), "not-in-nav/index.html")
            .contains("<title>Not in nav - Orders API</title>")
    );

    let search: Value =
        serde_json::from_str(&read(out.path(), "search/search_index.json")).unwrap();
    let docs = search["docs"].as_array().unwrap();
    assert!(docs.iter().any(|d| d["location"] == "guide/install/#requirements" && d["title"] == "Requirements"));
    assert!(docs.iter().any(|d| {
        d["location"] == ""
            && d["text"]
                .as_str()
                .unwrap()
                .contains("From a snippet base path")
    }));

    let warnings: Vec<String> = report.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        [
            "mkdocs.yml: the key 'hooks' is not allowed in TechDocs and was ignored",
            "mkdocs.yml: the plugin 'monorepo' is not supported; what it would add is missing from the site",
            "mkdocs.yml: the Markdown extension 'unknown_extension' is not supported; its syntax is shown as text",
        ]
    );
    assert!(
        log.iter()
            .any(|l| l == "INFO: not-in-nav.md is built but not in the nav"),
        "{log:?}"
    );
}

#[test]
fn a_source_without_mkdocs_yml_gets_the_default_one() {
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("docs/b")).unwrap();
    std::fs::write(src.path().join("docs/README.md"), "# Start\n").unwrap();
    std::fs::write(src.path().join("docs/z-last.md"), "# Z\n").unwrap();
    std::fs::write(src.path().join("docs/a-first.md"), "# A\n").unwrap();
    std::fs::write(src.path().join("docs/b/page.md"), "# In b\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    build(
        src.path(),
        out.path(),
        &BuildOptions {
            site_name: Some("Fallback".into()),
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let index = read(out.path(), "index.html");
    assert!(index.contains("<title>Start - Fallback</title>"));
    let nav_start = index.find("<ul>").unwrap();
    let nav = &index[nav_start..index.find("</nav>").unwrap()];
    let order: Vec<usize> = [">Start<", ">A<", ">Z<", ">B<", ">In b<"]
        .iter()
        .map(|t| nav.find(t).unwrap_or_else(|| panic!("{t} in {nav}")))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "mkdocs order: index first, files by name, then folders: {nav}"
    );
    let meta: Value = serde_json::from_str(&read(out.path(), "techdocs_metadata.json")).unwrap();
    assert_eq!(meta["site_description"], "None");
    assert_eq!(
        meta["etag"].as_str().unwrap(),
        source_etag(src.path()).unwrap()
    );
}

#[test]
fn nothing_outside_the_source_is_read() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.md"), "# Secret\nTOP SECRET\n").unwrap();

    // docs_dir leaving the source.
    let src = tempfile::tempdir().unwrap();
    std::fs::write(
        src.path().join("mkdocs.yml"),
        "site_name: x\ndocs_dir: ../elsewhere\n",
    )
    .unwrap();
    let err = build(
        src.path(),
        &src.path().join("site"),
        &BuildOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, BuildError::Config(ref m) if m.contains("docs_dir '../elsewhere' must be a folder inside")),
        "{err}"
    );
    std::fs::write(
        src.path().join("mkdocs.yml"),
        "site_name: x\ndocs_dir: /etc\n",
    )
    .unwrap();
    assert!(matches!(
        build(
            src.path(),
            &src.path().join("site"),
            &BuildOptions::default(),
            &mut |_| {}
        ),
        Err(BuildError::Config(_))
    ));

    // A link in the docs to a file outside.
    let src = tempfile::tempdir().unwrap();
    copy(&fixture(), src.path());
    std::os::unix::fs::symlink(
        outside.path().join("secret.md"),
        src.path().join("docs/leak.md"),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = build(
        src.path(),
        out.path(),
        &BuildOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "'leak.md' is a symbolic link that leads out of the docs source; it was refused"
    );
    assert!(!out.path().join("leak/index.html").exists());

    // A snippet through a link, and a snippet path climbing out.
    let src = tempfile::tempdir().unwrap();
    copy(&fixture(), src.path());
    std::os::unix::fs::symlink(
        outside.path().join("secret.md"),
        src.path().join("shared/notice.md"),
    )
    .unwrap_or_else(|_| {
        std::fs::remove_file(src.path().join("shared/notice.md")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.md"),
            src.path().join("shared/notice.md"),
        )
        .unwrap();
    });
    std::fs::write(
        src.path().join("docs/guide/index.md"),
        "# Guide\n\n--8<-- \"../../../../../etc/passwd\"\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let report = build(
        src.path(),
        out.path(),
        &BuildOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    for page in ["index.html", "guide/index.html"] {
        assert!(!read(out.path(), page).contains("TOP SECRET"));
        assert!(!read(out.path(), page).contains("root:"));
    }
    let warnings: Vec<String> = report.warnings.iter().map(|w| w.to_string()).collect();
    assert!(warnings.contains(&"docs/index.md:7: snippet notice.md: the file is outside the docs source (through a link), which snippets may not read".to_string()), "{warnings:?}");
    assert!(warnings.contains(&"docs/guide/index.md:3: snippet ../../../../../etc/passwd: the path leaves the docs source, which snippets may not".to_string()), "{warnings:?}");
}

#[test]
fn use_directory_urls_false_writes_html_files_and_links_to_them() {
    let src = tempfile::tempdir().unwrap();
    copy(&fixture(), src.path());
    let config = read(src.path(), "mkdocs.yml") + "use_directory_urls: false\n";
    std::fs::write(src.path().join("mkdocs.yml"), config).unwrap();
    let out = tempfile::tempdir().unwrap();
    build(
        src.path(),
        out.path(),
        &BuildOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(out.path().join("guide/install.html").is_file());
    assert!(!out.path().join("guide/install/index.html").exists());
    let index = read(out.path(), "index.html");
    assert!(
        index.contains(
            r#"<a href="guide/install.html#requirements" rel="noopener noreferrer">install it</a>"#
        ),
        "{index}"
    );
    let tuning = read(out.path(), "guide/advanced/tuning.html");
    assert!(tuning.contains(r#"<a href="../install.html#requirements" rel="noopener noreferrer">the requirements</a>"#), "{tuning}");
    assert!(tuning.contains(r#"href="../../assets/greenroom/techdocs.css""#));
}
