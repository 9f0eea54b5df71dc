//! TechDocs through the real server and CLI: on-demand builds over `/sync`,
//! metadata, published files with Backstage's content types, traversal
//! attempts, search across docs and catalog, external publishing, and the
//! bundled greenroom docs.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Server, copy_dir, data_dir};
use serde_json::{Value, json};

const CATALOG: &str = "apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orders
  description: Takes and tracks orders.
  annotations:
    backstage.io/techdocs-ref: dir:.
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: no-docs
spec: {type: service, lifecycle: production, owner: team-a}
";

fn prepare(dir: &Path) {
    copy_dir(&data_dir().join("techdocs/site"), &dir.join("orders"));
    std::fs::write(dir.join("orders/catalog-info.yaml"), CATALOG).unwrap();
}

async fn docs_server(builder: &str) -> Server {
    let config = format!(
        "catalog:\n  locations: [{{type: file, target: '{{DIR}}/orders/catalog-info.yaml'}}]\n  rules: [{{allow: [Component]}}]\ntechdocs:\n  builder: {builder}\n  publisher:\n    type: local\n    local: {{publishDirectory: '{{DIR}}/published'}}\n"
    );
    let server = Server::start_with(&config, prepare, &[]).await;
    server.wait_entity("component/default/orders").await;
    server
}

/// Reads a `/sync` response to its end: `(event, data)` frames.
async fn sync(server: &Server, path: &str) -> (u16, Option<String>, Vec<(String, Value)>) {
    let r = server
        .client
        .get(server.url(&format!("/api/techdocs/sync/{path}")))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let text = tokio::time::timeout(Duration::from_secs(30), r.text())
        .await
        .unwrap()
        .unwrap();
    if status != 200 {
        return (
            status,
            ct,
            vec![(
                "body".into(),
                serde_json::from_str(&text).unwrap_or(Value::Null),
            )],
        );
    }
    let frames = text
        .trim_end_matches("\n\n")
        .split("\n\n")
        .map(|f| {
            let (event, data) = f.split_once('\n').unwrap();
            (
                event.strip_prefix("event: ").unwrap().to_string(),
                serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
            )
        })
        .collect();
    (status, ct, frames)
}

async fn raw_get(server: &Server, path: &str) -> (u16, String, String) {
    // Redirects are part of what is checked, so they are not followed.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(server.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .or_else(|| r.headers().get("location"))
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test]
async fn docs_build_on_demand_and_are_served_like_backstage_serves_them() {
    let server = docs_server("local").await;
    let (status, body) = server
        .get("/api/techdocs/metadata/techdocs/default/component/orders")
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (
            404,
            Some("Unable to get metadata for 'component:default/orders'")
        )
    );

    let (status, ct, frames) = sync(&server, "default/component/orders").await;
    assert_eq!((status, ct.as_deref()), (200, Some("text/event-stream")));
    assert_eq!(
        frames.first().unwrap(),
        &("log".to_string(), json!("Building 5 pages from docs"))
    );
    assert_eq!(
        frames.last().unwrap(),
        &("finish".to_string(), json!({ "updated": true }))
    );
    assert!(frames.iter().any(|(e, d)| {
        e == "log"
            && d.as_str()
                .unwrap()
                .starts_with("WARNING: mkdocs.yml: the key 'hooks'")
    }));
    let (_, _, again) = sync(&server, "default/component/orders").await;
    assert_eq!(
        again,
        vec![("finish".to_string(), json!({ "updated": false }))]
    );

    let (status, meta) = server
        .get("/api/techdocs/metadata/techdocs/default/component/orders")
        .await;
    assert_eq!(status, 200);
    assert_eq!(meta["site_name"], "Orders API");
    assert_eq!(meta["files"].as_array().unwrap().len(), 8);
    let (status, entity) = server
        .get("/api/techdocs/metadata/entity/default/component/orders")
        .await;
    assert_eq!(status, 200);
    assert_eq!(entity["metadata"]["name"], "orders");
    assert_eq!(entity["locationMetadata"]["type"], "dir");
    assert!(
        entity["locationMetadata"]["target"]
            .as_str()
            .unwrap()
            .ends_with("/orders")
    );

    for (path, expected) in [
        ("index.html", "text/plain; charset=utf-8"),
        ("", "text/plain; charset=utf-8"),
        ("guide/install/", "text/plain; charset=utf-8"),
        ("assets/greenroom/techdocs.css", "text/css; charset=utf-8"),
        ("img/diagram.svg", "text/plain; charset=utf-8"),
        (
            "search/search_index.json",
            "application/json; charset=utf-8",
        ),
    ] {
        let (status, ct, _) = raw_get(
            &server,
            &format!("/api/techdocs/static/docs/default/component/orders/{path}"),
        )
        .await;
        assert_eq!((status, ct.as_str()), (200, expected), "{path}");
    }
    let (_, _, index) = raw_get(
        &server,
        "/api/techdocs/static/docs/default/component/orders/index.html",
    )
    .await;
    assert!(
        index.contains("<title>Orders API - Orders API</title>")
            || index.contains("<title>Home - Orders API</title>"),
        "{index}"
    );
    let (status, location, _) = raw_get(
        &server,
        "/api/techdocs/static/docs/Default/Component/Orders/index.html",
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (
            301,
            "/api/techdocs/static/docs/default/component/orders/index.html"
        )
    );

    // Nothing outside the site, however the path is spelled.
    std::fs::write(
        server
            .dir
            .path()
            .join("published/default/component/secret.txt"),
        "no",
    )
    .unwrap();
    for attempt in [
        "../secret.txt",
        "%2e%2e/secret.txt",
        "..%2fsecret.txt",
        "%2e%2e%2f%2e%2e%2f%2e%2e%2fdb.sqlite",
        "guide/../../secret.txt",
        "/etc/passwd",
        "%2fetc%2fpasswd",
    ] {
        let (status, _, body) = raw_get(
            &server,
            &format!("/api/techdocs/static/docs/default/component/orders/{attempt}"),
        )
        .await;
        assert_eq!(status, 404, "{attempt}: {body}");
        assert!(
            !body.contains("no") || body.contains("NotFoundError"),
            "{attempt}"
        );
    }
    let (status, _, body) = raw_get(
        &server,
        "/api/techdocs/static/docs/default/component/orders/missing.html",
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["name"],
        "NotFoundError"
    );

    // One search over docs and catalog.
    let (_, found) = server.get("/api/search/query?term=tuning").await;
    let first = &found["results"][0];
    assert_eq!(first["type"], "techdocs");
    assert_eq!(
        first["document"]["location"],
        "/docs/default/component/orders/guide/advanced/tuning/"
    );
    assert_eq!(first["document"]["title"], "Tuning");
    let (_, found) = server.get("/api/search/query?term=orders").await;
    assert_eq!(found["results"][0]["type"], "software-catalog");
    assert_eq!(
        found["results"][0]["document"]["location"],
        "/catalog/default/component/orders"
    );
    assert_eq!(found["results"][0]["rank"], 1);
    assert!(
        found["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == "techdocs")
    );
    let (_, only_docs) = server
        .get("/api/search/query?term=orders&types[0]=techdocs")
        .await;
    assert!(
        only_docs["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["type"] == "techdocs")
    );
    let (_, nothing) = server.get("/api/search/query?term=zzzznotthere").await;
    assert_eq!(nothing["numberOfResults"], 0);

    // Errors: an entity without docs, an unknown entity.
    let (status, _, frames) = sync(&server, "default/component/no-docs").await;
    assert_eq!(status, 200);
    assert_eq!(
        frames,
        vec![(
            "error".to_string(),
            json!("No backstage.io/techdocs-ref annotation provided in entity: no-docs")
        )]
    );
    let (status, _, body) = sync(&server, "default/component/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body[0].1["error"]["name"], "NotFoundError");
}

#[tokio::test]
async fn the_cli_builds_and_publishes_for_an_external_builder() {
    let server = docs_server("external").await;
    let (_, _, frames) = sync(&server, "default/component/orders").await;
    assert_eq!(
        frames,
        vec![("finish".to_string(), json!({ "updated": false }))],
        "external: the server never builds"
    );

    let site = server.dir.path().join("site");
    let out = Command::new(env!("CARGO_BIN_EXE_greenroom"))
        .args(["techdocs", "build", "--source-dir"])
        .arg(server.dir.path().join("orders"))
        .arg("--output-dir")
        .arg(&site)
        .args(["--etag", "ci-build-7", "--techdocs-ref", "dir:."])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Successfully generated docs"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_greenroom"))
        .args([
            "techdocs",
            "publish",
            "--entity",
            "default/Component/orders",
            "--directory",
        ])
        .arg(&site)
        .arg("--config")
        .arg(server.dir.path().join("app-config.yaml"))
        .current_dir(server.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, meta) = server
        .get("/api/techdocs/metadata/techdocs/default/component/orders")
        .await;
    assert_eq!(status, 200);
    assert_eq!(meta["etag"], "ci-build-7");
    assert_eq!(meta["techdocs_ref"], "dir:.");
    let (status, _, _) = raw_get(
        &server,
        "/api/techdocs/static/docs/default/component/orders/guide/index.html",
    )
    .await;
    assert_eq!(status, 200);

    let bad = Command::new(env!("CARGO_BIN_EXE_greenroom"))
        .args([
            "techdocs",
            "build",
            "--source-dir",
            "/nonexistent-greenroom-src",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
}

#[tokio::test]
async fn the_bundled_catalog_shows_greenrooms_own_docs() {
    let server = Server::start_default().await;
    let entity = server.wait_entity("component/default/greenroom").await;
    assert_eq!(
        entity["metadata"]["annotations"]["backstage.io/techdocs-ref"],
        "dir:."
    );
    // The portal's front page, on the embedded default.
    let (status, content_type, home) = raw_get(&server, "/").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    assert!(
        home.contains("Rust service through CI/CD"),
        "the golden path is offered: {home}"
    );
    assert!(
        home.contains(
            "<a href=\"/catalog?kind=template\"><span class=\"count\">1</span> Template</a>"
        ),
        "{home}"
    );
    let (_, _, docs) = raw_get(&server, "/docs").await;
    assert!(
        docs.contains("<a href=\"/docs/default/component/greenroom/\">greenroom</a>"),
        "{docs}"
    );
    let (_, _, frames) = sync(&server, "default/component/greenroom").await;
    assert_eq!(
        frames.last().unwrap(),
        &("finish".to_string(), json!({ "updated": true })),
        "{frames:?}"
    );
    let (status, _, page) = raw_get(
        &server,
        "/api/techdocs/static/docs/default/component/greenroom/operations/index.html",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<h1 id=\"operations-runbook\">Operations runbook"),
        "{page}"
    );
    let (_, _, architecture) = raw_get(
        &server,
        "/api/techdocs/static/docs/default/component/greenroom/architecture/index.html",
    )
    .await;
    assert!(
        architecture.contains("Bird"),
        "ARCHITECTURE.md comes in as a snippet"
    );
    let (_, found) = server
        .get("/api/search/query?term=runbook&types[0]=techdocs")
        .await;
    assert_eq!(found["results"][0]["document"]["name"], "greenroom");
    assert_eq!(found["results"][0]["document"]["entityTitle"], "greenroom");
    // Inside the portal, with the site's navigation.
    let (status, _, page) = raw_get(&server, "/docs/default/component/greenroom/operations/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<nav class=\"docs-nav\" aria-label=\"Site\">"),
        "{page}"
    );
    assert!(page.contains("Operations runbook"), "{page}");
    // Directory URLs as mkdocs serves them, files of the site from the docs
    // API, and nothing outside the site.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let head = |path: &str| {
        let request = no_redirects.get(server.url(path)).send();
        async move {
            let r = request.await.unwrap();
            let location = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap_or("").to_string());
            (r.status().as_u16(), location)
        }
    };
    assert_eq!(
        head("/docs/default/component/greenroom/operations").await,
        (
            308,
            Some("/docs/default/component/greenroom/operations/".into())
        )
    );
    assert_eq!(
        head("/docs/default/component/greenroom").await,
        (308, Some("/docs/default/component/greenroom/".into()))
    );
    assert_eq!(
        head("/docs/default/component/greenroom/assets/greenroom/techdocs.css").await,
        (
            307,
            Some("/api/techdocs/static/docs/default/component/greenroom/assets/greenroom/techdocs.css".into())
        )
    );
    for path in [
        "/docs/default/component/greenroom/../../../etc/passwd",
        "/docs/default/component/greenroom/%2e%2e/%2e%2e/x/",
        "/docs/default/component/greenroom/nowhere/",
    ] {
        assert_eq!(head(path).await.0, 404, "{path}");
    }
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn techdocs_serve_previews_and_rebuilds_on_change() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&data_dir().join("techdocs/site"), dir.path());
    let port = common::free_port();
    let _child = Child(
        Command::new(env!("CARGO_BIN_EXE_greenroom"))
            .args([
                "techdocs",
                "serve",
                "--port",
                &port.to_string(),
                "--source-dir",
            ])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let mut page = String::new();
    for _ in 0..100 {
        if let Ok(r) = client.get(url("/")).send().await {
            assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
            page = r.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(page.contains("Start with the"), "{page}");
    let etag = page
        .split("data-etag=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert!(page.contains("/__greenroom/reload"));
    let status = client
        .get(url("/..%2F..%2Fetc%2Fpasswd"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);

    let waiting = tokio::spawn({
        let client = client.clone();
        let u = url(&format!("/__greenroom/reload?etag={etag}"));
        async move {
            client
                .get(u)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    std::fs::write(
        dir.path().join("docs/index.md"),
        "# Orders API\n\nEdited while previewing.\n",
    )
    .unwrap();
    let changed = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(changed["etag"], etag.as_str());
    let page = client
        .get(url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Edited while previewing."), "{page}");
}
