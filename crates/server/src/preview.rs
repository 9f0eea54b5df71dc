//! `greenroom techdocs serve`: a docs tree previewed in the browser, rebuilt
//! when its source changes, and reloaded in the page when the build is new.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use greenroom_techdocs::markdown::escape_html as html_escape;
use greenroom_techdocs::{BuildOptions, build, source_etag};
use serde_json::json;

/// What the browser polls, and the script pages get to do it.
const RELOAD_PATH: &str = "/__greenroom/reload";
const RELOAD_SCRIPT: &str = "<script>(function(){var e=document.documentElement.dataset.etag;function p(){fetch('/__greenroom/reload?etag='+encodeURIComponent(e)).then(function(r){return r.json()}).then(function(j){if(j.etag!==e){location.reload()}else{p()}}).catch(function(){setTimeout(p,2000)})}p()})();</script>";

pub struct Preview {
    source: PathBuf,
    scratch: tempfile_dir::Scratch,
    state: RwLock<Built>,
}

struct Built {
    etag: String,
    site: Option<PathBuf>,
    error: Option<String>,
}

mod tempfile_dir {
    use std::path::{Path, PathBuf};

    /// A folder removed when the preview ends.
    pub struct Scratch(pub PathBuf);

    impl Scratch {
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Preview {
    pub fn new(source: PathBuf) -> Arc<Self> {
        let scratch =
            std::env::temp_dir().join(format!("greenroom-preview-{}", std::process::id()));
        Arc::new(Self {
            source,
            scratch: tempfile_dir::Scratch(scratch),
            state: RwLock::new(Built {
                etag: String::new(),
                site: None,
                error: None,
            }),
        })
    }

    /// Builds when the source's etag changed. Returns whether it built.
    pub fn refresh(&self) -> bool {
        let etag = match source_etag(&self.source) {
            Ok(e) => e,
            Err(e) => format!("error:{e}"),
        };
        if self.state.read().is_ok_and(|s| s.etag == etag) {
            return false;
        }
        let out = self.scratch.path().join(&etag);
        let _ = std::fs::remove_dir_all(&out);
        let result = build(
            &self.source,
            &out,
            &BuildOptions {
                etag: Some(etag.clone()),
                ..Default::default()
            },
            &mut |line| eprintln!("{line}"),
        );
        if let Ok(mut s) = self.state.write() {
            let old = s.site.take();
            match result {
                Ok(_) => {
                    s.site = Some(out);
                    s.error = None;
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    s.site = old.clone();
                    s.error = Some(e.to_string());
                }
            }
            s.etag = etag;
            if let Some(old) = old.filter(|o| Some(o) != s.site.as_ref()) {
                let _ = std::fs::remove_dir_all(old);
            }
        }
        true
    }

    fn etag(&self) -> String {
        self.state
            .read()
            .map(|s| s.etag.clone())
            .unwrap_or_default()
    }
}

/// Rebuilds whenever the source changes, checking every half second.
async fn watch(preview: Arc<Preview>) {
    loop {
        let p = preview.clone();
        let _ = tokio::task::spawn_blocking(move || p.refresh()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Serves the preview on `listener` until `shutdown`, rebuilding as the
/// source changes.
pub async fn run(
    listener: tokio::net::TcpListener,
    preview: Arc<Preview>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let watcher = tokio::spawn(watch(preview.clone()));
    let result = axum::serve(listener, router(preview))
        .with_graceful_shutdown(shutdown)
        .await;
    watcher.abort();
    result
}

fn router(preview: Arc<Preview>) -> Router {
    Router::new()
        .route(RELOAD_PATH, get(reload))
        .route("/", get(root))
        .route("/{*path}", get(file))
        .with_state(preview)
}

async fn reload(State(p): State<Arc<Preview>>, RawQuery(q): RawQuery) -> Response {
    let seen = q
        .as_deref()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "etag")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    for _ in 0..50 {
        let now = p.etag();
        if now != seen {
            return axum::Json(json!({ "etag": now })).into_response();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    axum::Json(json!({ "etag": seen })).into_response()
}

async fn root(state: State<Arc<Preview>>) -> Response {
    serve(&state.0, "index.html")
}

async fn file(state: State<Arc<Preview>>, UrlPath(path): UrlPath<String>) -> Response {
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path
    };
    serve(&state.0, &path)
}

fn serve(p: &Preview, path: &str) -> Response {
    let (site, error, etag) = match p.state.read() {
        Ok(s) => (s.site.clone(), s.error.clone(), s.etag.clone()),
        Err(_) => (
            None,
            Some("preview state unavailable".into()),
            String::new(),
        ),
    };
    if let Some(e) = error.filter(|_| path == "index.html" || site.is_none()) {
        let page = format!(
            "<!doctype html><html data-etag=\"{}\"><head><meta charset=\"utf-8\"><title>Build failed</title></head><body><h1>The docs did not build</h1><pre>{}</pre>{RELOAD_SCRIPT}</body></html>",
            html_escape(&etag),
            html_escape(&e)
        );
        return html(page);
    }
    let Some(site) = site else {
        return (StatusCode::SERVICE_UNAVAILABLE, "building").into_response();
    };
    let Some(file) = inside(&site, path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let Ok(bytes) = std::fs::read(&file) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    if path.ends_with(".html") {
        let text = String::from_utf8_lossy(&bytes)
            .replacen(
                "<html lang=\"en\">",
                &format!("<html lang=\"en\" data-etag=\"{}\">", html_escape(&etag)),
                1,
            )
            .replacen("</body>", &format!("{RELOAD_SCRIPT}</body>"), 1);
        return html(text);
    }
    let ct = match path.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    };
    let mut r = bytes.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

fn html(body: String) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// `site/path` when it stays inside the site.
fn inside(site: &Path, path: &str) -> Option<PathBuf> {
    if path.starts_with('/') || path.split('/').any(|s| s == "..") {
        return None;
    }
    let file = site.join(path);
    let real = file.canonicalize().ok()?;
    real.starts_with(site.canonicalize().ok()?).then_some(real)
}
