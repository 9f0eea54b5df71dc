//! Health endpoints: Backstage's `/.backstage/health/v1/*` and the legacy `/healthcheck`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::AppState;

fn reply(state: &AppState, status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    for (k, v) in &state.settings.health_headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
            headers.insert(k, v);
        }
    }
    r
}

async fn liveness(State(state): State<Arc<AppState>>) -> Response {
    reply(&state, StatusCode::OK, json!({"status": "ok"}))
}

async fn readiness(State(state): State<Arc<AppState>>) -> Response {
    if state.shutting_down.load(Ordering::Acquire) {
        return reply(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"message": "Backend is shutting down", "status": "error"}),
        );
    }
    if !state.engine.first_pass_started() || state.store.ping().await.is_err() {
        return reply(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"message": "Backend has not started yet", "status": "error"}),
        );
    }
    reply(&state, StatusCode::OK, json!({"status": "ok"}))
}

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/.backstage/health/v1/liveness", get(liveness))
        .route("/.backstage/health/v1/readiness", get(readiness))
        .route("/healthcheck", get(liveness))
}
