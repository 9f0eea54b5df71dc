//! Guards writes: registering, changing and deleting locations, deleting
//! entities and refreshing need a static bearer token from
//! `backend.auth.externalAccess`, unless the configuration turns the guard
//! off on purpose (`dangerouslyDisableDefaultAuthPolicy: true`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// Routes that only read, even though they are POSTs.
fn is_read(method: &Method, path: &str, query: Option<&str>) -> bool {
    if method == Method::GET || method == Method::HEAD {
        return true;
    }
    let dry_run = query.is_some_and(|q| q.split('&').any(|p| p == "dryRun=true"));
    method == Method::POST
        && (matches!(
            path,
            "/entities/by-query"
                | "/entities/by-refs"
                | "/entity-facets"
                | "/locations/by-query"
                | "/analyze-location"
                | "/validate-entity"
        ) || (path == "/locations" && dry_run))
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Compares without leaking the position of the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who made an authorised write: the subject of its token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
}

pub async fn write_guard(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    if state.settings.auth_disabled
        || is_read(
            request.method(),
            request.uri().path(),
            request.uri().query(),
        )
    {
        return next.run(request).await;
    }
    let matched = bearer(&request).map(|token| {
        state
            .settings
            .auth_tokens
            .iter()
            .find(|t| constant_time_eq(t.token.as_bytes(), token.as_bytes()))
            .cloned()
    });
    match matched {
        None => ApiError::unauthenticated("Missing credentials").into_response(),
        Some(found) => match found {
            Some(t) => {
                tracing::info!(subject = %t.subject, method = %request.method(), path = %request.uri().path(), "authorised write");
                request
                    .extensions_mut()
                    .insert(Caller { subject: t.subject });
                next.run(request).await
            }
            None => ApiError::unauthenticated("Illegal token").into_response(),
        },
    }
}
