//! `/api/techdocs`: metadata, `sync` (builds on demand as an event stream),
//! and the published files under `static/docs`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use greenroom_model::refs::EntityRef;
use greenroom_techdocs::{SyncError, Triplet, resolve_source};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::AppState;
use crate::error::ApiError;

type ApiResult = Result<Response, ApiError>;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/metadata/techdocs/{namespace}/{kind}/{name}",
            get(techdocs_metadata),
        )
        .route(
            "/metadata/entity/{namespace}/{kind}/{name}",
            get(entity_metadata),
        )
        .route("/sync/{namespace}/{kind}/{name}", get(sync))
        .route("/static/docs/{namespace}/{kind}/{name}", get(static_root))
        .route("/static/docs/{namespace}/{kind}/{name}/", get(static_root))
        .route(
            "/static/docs/{namespace}/{kind}/{name}/{*path}",
            get(static_file),
        )
}

fn json_response(value: &Value) -> Response {
    let mut r = (StatusCode::OK, value.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

async fn entity_of(
    state: &AppState,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Result<Option<Value>, ApiError> {
    let r = EntityRef::new(kind, namespace, name).to_string();
    Ok(state.store.entity_by_ref(&r).await?)
}

async fn techdocs_metadata(
    State(state): State<Arc<AppState>>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
) -> ApiResult {
    let r = EntityRef::new(&kind, &namespace, &name).to_string();
    let missing = || ApiError::not_found(format!("Unable to get metadata for '{r}'"));
    if entity_of(&state, &namespace, &kind, &name).await?.is_none() {
        return Err(missing());
    }
    let triplet = Triplet::new(&namespace, &kind, &name);
    match state.docs.publisher().metadata(&triplet) {
        Ok(Some(m)) => Ok(json_response(&m)),
        Ok(None) => Err(missing()),
        Err(e) => Err(ApiError::new("Error", e.to_string())),
    }
}

async fn entity_metadata(
    State(state): State<Arc<AppState>>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
) -> ApiResult {
    let Some(mut entity) = entity_of(&state, &namespace, &kind, &name).await? else {
        return Err(ApiError::not_found(format!(
            "Unable to get metadata for '{}'",
            EntityRef::new(&kind, &namespace, &name)
        )));
    };
    let source = resolve_source(&entity).map_err(|e| ApiError::input(e.to_string()))?;
    let (kind, target) = source.location_metadata();
    if let Some(o) = entity.as_object_mut() {
        o.insert(
            "locationMetadata".into(),
            json!({ "type": kind, "target": target }),
        );
    }
    Ok(json_response(&entity))
}

fn sse_frame(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// Builds the entity's docs when its source changed: `log` events while
/// building, then `finish {updated}` or `error`.
async fn sync(
    State(state): State<Arc<AppState>>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
) -> ApiResult {
    let Some(entity) = entity_of(&state, &namespace, &kind, &name).await? else {
        return Err(ApiError::not_found(format!(
            "Entity {} not found",
            EntityRef::new(&kind, &namespace, &name)
        )));
    };
    let triplet = Triplet::new(&namespace, &kind, &name);
    let (frames_tx, frames_rx) = mpsc::unbounded_channel::<Bytes>();
    let docs = state.docs.clone();
    let store = state.store.clone();
    tokio::spawn(async move {
        let (log_tx, mut log_rx) = mpsc::unbounded_channel::<String>();
        let forward_tx = frames_tx.clone();
        let forward = tokio::spawn(async move {
            while let Some(line) = log_rx.recv().await {
                let _ = forward_tx.send(sse_frame("log", &json!(line)));
            }
        });
        let result = docs.sync(&entity, &triplet, log_tx).await;
        let _ = forward.await;
        match result {
            Ok(updated) => {
                if updated {
                    crate::search::index_site(&store, &docs, &triplet).await;
                }
                let _ = frames_tx.send(sse_frame("finish", &json!({ "updated": updated })));
            }
            Err(e) => {
                let message = match &e {
                    SyncError::Internal(m) => {
                        tracing::error!(error = %m, "docs build failed");
                        m.clone()
                    }
                    other => other.to_string(),
                };
                let _ = frames_tx.send(sse_frame("error", &json!(message)));
            }
        }
    });
    let stream = futures_util::stream::unfold(frames_rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    Ok(crate::body::event_stream(stream))
}

/// Backstage serves HTML-like files as plain text (its frontend fetches and
/// sanitizes them), and everything else with its usual type.
fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" | "xml" | "svg" | "appcache" | "manifest" | "mathml" | "owl" | "rdf"
        | "rng" | "vtt" | "xht" | "xhtml" | "xsd" | "xsl" => "text/plain; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "application/javascript; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "txt" | "md" => "text/plain; charset=utf-8",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

async fn static_root(
    state: State<Arc<AppState>>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
) -> ApiResult {
    serve_static(&state, &namespace, &kind, &name, "index.html").await
}

async fn static_file(
    state: State<Arc<AppState>>,
    Path((namespace, kind, name, path)): Path<(String, String, String, String)>,
) -> ApiResult {
    serve_static(&state, &namespace, &kind, &name, &path).await
}

/// Whether sites are stored under the entity's own casing (the legacy
/// layout) rather than lower-cased.
pub(crate) fn case_sensitive_paths(state: &AppState) -> bool {
    state
        .settings
        .raw
        .pointer("/techdocs/legacyUseCaseSensitiveTripletPaths")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

async fn serve_static(
    state: &AppState,
    namespace: &str,
    kind: &str,
    name: &str,
    path: &str,
) -> ApiResult {
    let triplet = Triplet::new(namespace, kind, name);
    let case_sensitive = case_sensitive_paths(state);
    let lower = triplet.storage_path(false);
    if !case_sensitive && triplet.storage_path(true) != lower {
        let location = format!("/api/techdocs/static/docs/{lower}/{path}");
        let mut r = StatusCode::MOVED_PERMANENTLY.into_response();
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(r);
    }
    let file = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    };
    let not_found = || ApiError::not_found(format!("File Not Found: {path}"));
    let bytes = match state.docs.publisher().read(&triplet, &file) {
        Ok(Some(b)) => b,
        Ok(None) => return Err(not_found()),
        Err(e) => return Err(ApiError::new("Error", e.to_string())),
    };
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&file)),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(r)
}
