//! Backstage's error body: `{error: {name, message}, request: {method, url}, response: {statusCode}}`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use greenroom_store::StoreError;
use serde_json::json;

/// An API error, named as Backstage names them.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub name: &'static str,
    pub message: String,
    /// Extra top-level fields of the body (the scaffolder's `errors`).
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    pub fn new(name: &'static str, message: impl Into<String>) -> Self {
        Self {
            name,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: serde_json::Map<String, serde_json::Value>) -> Self {
        self.details = Some(details);
        self
    }
    pub fn input(message: impl Into<String>) -> Self {
        Self::new("InputError", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("NotFoundError", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new("ConflictError", message)
    }
    pub fn not_allowed(message: impl Into<String>) -> Self {
        Self::new("NotAllowedError", message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new("AuthenticationError", message)
    }

    /// Backstage's name → status mapping.
    pub fn status(&self) -> StatusCode {
        match self.name {
            "InputError" => StatusCode::BAD_REQUEST,
            "AuthenticationError" => StatusCode::UNAUTHORIZED,
            "NotAllowedError" => StatusCode::FORBIDDEN,
            "NotFoundError" => StatusCode::NOT_FOUND,
            "ConflictError" => StatusCode::CONFLICT,
            "NotModifiedError" => StatusCode::NOT_MODIFIED,
            "NotImplementedError" => StatusCode::NOT_IMPLEMENTED,
            "ServiceUnavailableError" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::conflict(m),
            StoreError::Input(m) => ApiError::input(m),
            StoreError::Unsupported(m) => ApiError::new("NotImplementedError", m),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::new("Error", "Internal server error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The body is completed by `error_body`, which knows the request.
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Fills in the error body with the request's method and plugin-relative URL.
pub async fn error_body(request: Request, next: Next) -> Response {
    let (method, url) = request_line(&request);
    let response = next.run(request).await;
    let Some(error) = response.extensions().get::<ApiError>().cloned() else {
        return response;
    };
    json_error(error, &method, &url)
}

/// The method and path-and-query an error body reports.
pub fn request_line(request: &Request) -> (String, String) {
    let url = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_string(), |p| p.to_string());
    (request.method().to_string(), url)
}

/// Backstage's error body for `error`, answering `method url`.
pub fn json_error(error: ApiError, method: &str, url: &str) -> Response {
    let status = error.status();
    let mut body = json!({
        "error": { "name": error.name, "message": error.message },
        "request": { "method": method, "url": url },
        "response": { "statusCode": status.as_u16() },
    });
    if let (Some(details), Some(o)) = (error.details, body.as_object_mut()) {
        o.extend(details);
    }
    let mut out = Response::new(Body::from(body.to_string()));
    *out.status_mut() = status;
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    out
}
