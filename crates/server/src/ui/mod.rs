//! The web UI: pages rendered on the server from the store, with one
//! stylesheet and one small script. Pages only read; the writes they offer
//! (creating a task, registering a location) are made by the browser against
//! the guarded `/api` routes, exactly like any other client's.

mod catalog;
mod create;
mod docs;
mod entity;
mod form;
mod graph;
mod import;
mod openapi;
mod search;
mod view;

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::Environment;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

/// Templates and assets are compiled in: the image carries no files.
macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../ui/templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates![
    "base.html",
    "macros.html",
    "home.html",
    "catalog.html",
    "entity.html",
    "docs_index.html",
    "docs_page.html",
    "create.html",
    "template_form.html",
    "tasks.html",
    "task.html",
    "import.html",
    "search.html",
    "health.html",
    "settings.html",
    "error.html",
];

pub(crate) const STYLESHEET: &str = include_str!("../../ui/static/ui.css");
pub(crate) const SCRIPT: &str = include_str!("../../ui/static/ui.js");

/// Changes whenever an asset does, so assets can be cached forever.
static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    STYLESHEET.hash(&mut h);
    SCRIPT.hash(&mut h);
    greenroom_techdocs::site::STYLESHEET.hash(&mut h);
    format!("{:016x}", h.finish())
});

static ENV: LazyLock<Result<Environment<'static>, minijinja::Error>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    // minijinja also escapes `/`, which is safe but makes every link six
    // bytes longer per slash; the five characters HTML needs are enough.
    env.set_formatter(|out, state, value| {
        if matches!(state.auto_escape(), minijinja::AutoEscape::Html)
            && !value.is_safe()
            && let Some(s) = value.as_str()
        {
            return out
                .write_str(&greenroom_techdocs::markdown::escape_html(s))
                .map_err(minijinja::Error::from);
        }
        minijinja::escape_formatter(out, state, value)
    });
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    Ok(env)
});

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(catalog::home))
        .route("/catalog", get(catalog::list))
        .route("/catalog-health", get(catalog::health))
        .route("/catalog/{namespace}/{kind}/{name}", get(entity::page))
        .route("/catalog-import", get(import::page))
        .route("/docs", get(docs::index))
        .route("/docs/{namespace}/{kind}/{name}", get(docs::site_root))
        .route("/docs/{namespace}/{kind}/{name}/", get(docs::site_root))
        .route("/docs/{namespace}/{kind}/{name}/{*path}", get(docs::page))
        .route("/create", get(create::templates))
        .route(
            "/create/templates/{namespace}/{name}",
            get(create::form).post(create::form_step),
        )
        .route("/create/tasks", get(create::tasks))
        .route("/create/tasks/{id}", get(create::task))
        .route("/search", get(search::page))
        .route("/settings", get(settings))
        .route("/static/{file}", get(asset))
        .layer(axum::middleware::from_fn(negotiate_errors))
        .layer(axum::middleware::from_fn(timing))
}

/// Browsers get error pages; other clients (curl, scripts) Backstage's JSON
/// error body, as from the API.
async fn negotiate_errors(request: Request, next: Next) -> Response {
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let (method, url) = crate::error::request_line(&request);
    let response = next.run(request).await;
    match response.extensions().get::<ApiError>().cloned() {
        Some(error) if !wants_html => crate::error::json_error(error, &method, &url),
        _ => response,
    }
}

/// Tells the browser (and the benchmark) how long the server spent.
async fn timing(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let mut response = next.run(request).await;
    let micros = start.elapsed().as_micros();
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={:.3}", micros as f64 / 1000.0)) {
        response.headers_mut().insert("server-timing", v);
    }
    response
}

/// An error page: the same name and message the API would give, as HTML.
pub(crate) struct UiError(pub ApiError);

impl<E: Into<ApiError>> From<E> for UiError {
    fn from(e: E) -> Self {
        UiError(e.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let ctx = json!({
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "name": self.0.name,
            "message": self.0.message,
            "asset_version": ASSET_VERSION.as_str(),
        });
        let mut response = match render_raw("error.html", &ctx) {
            Ok(html) => (status, html_headers(), html).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        };
        response.extensions_mut().insert(self.0);
        response
    }
}

pub(crate) type Page = Result<Response, UiError>;

fn html_headers() -> [(header::HeaderName, HeaderValue); 4] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        // Pages show live catalog state; never serve a stale copy.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        // Only the portal's own script runs, even if some text slipped past
        // escaping; docs may show images from anywhere.
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'",
            ),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ]
}

fn render_raw(name: &str, ctx: &Value) -> Result<String, String> {
    let env = ENV.as_ref().map_err(|e| format!("templates: {e}"))?;
    env.get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(ctx)))
        .map_err(|e| {
            tracing::error!(template = name, error = %e, "template failed");
            format!("template {name}: {e}")
        })
}

/// Renders a page inside the layout. `ctx` holds the page's own values;
/// the layout's (app title, active section, write guard) are added here.
pub(crate) fn render(state: &AppState, name: &str, section: &str, mut ctx: Value) -> Page {
    let title = state
        .settings
        .raw
        .pointer("/app/title")
        .and_then(Value::as_str)
        .unwrap_or("greenroom");
    if let Some(o) = ctx.as_object_mut() {
        o.insert("app_title".into(), json!(title));
        o.insert("section".into(), json!(section));
        o.insert(
            "writes_guarded".into(),
            json!(!state.settings.auth_disabled),
        );
        o.insert("asset_version".into(), json!(ASSET_VERSION.as_str()));
    }
    let html = render_raw(name, &ctx).map_err(|m| UiError(ApiError::new("Error", m)))?;
    Ok((html_headers(), html).into_response())
}

async fn settings(State(state): State<Arc<AppState>>) -> Page {
    render(
        &state,
        "settings.html",
        "settings",
        json!({ "title": "Settings" }),
    )
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "ui.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "techdocs.css" => (
            greenroom_techdocs::site::STYLESHEET,
            "text/css; charset=utf-8",
        ),
        "ui.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => {
            return UiError(ApiError::not_found(format!("No asset {file}"))).into_response();
        }
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            // Links carry ?v=<hash of the assets>.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        body,
    )
        .into_response()
}
