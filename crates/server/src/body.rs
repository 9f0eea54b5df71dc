//! Request parsing shared by the routes: repeated query parameters and JSON
//! bodies checked the way Backstage's `validateRequestBody` checks them.

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use serde_json::Value;

use crate::error::ApiError;

/// Query parameters in order, repeated keys kept.
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Self {
        Params(
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn one(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// Rejects parameters a route does not know (Backstage validates against its OpenAPI spec).
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            Some((k, _)) => Err(ApiError::input(format!("Unknown query parameter '{k}'"))),
            None => Ok(()),
        }
    }

    /// An integer parameter with a lower bound, worded like Backstage's validator.
    pub fn int(&self, key: &str, min: i64) -> Result<Option<i64>, ApiError> {
        match self.one(key) {
            None => Ok(None),
            Some(raw) => {
                let n: i64 = raw
                    .trim()
                    .parse()
                    .map_err(|_| ApiError::input(format!("request/query/{key} must be integer")))?;
                if n < min {
                    return Err(ApiError::input(format!(
                        "request/query/{key} must be >= {min}"
                    )));
                }
                Ok(Some(n))
            }
        }
    }
}

/// A JSON object body, or the 400 Backstage gives.
pub fn json_object(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .ok_or_else(|| ApiError::input("Content-Type missing"))?
        .to_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !(content_type == "application/json" || content_type.starts_with("application/json;")) {
        return Err(ApiError::input("Illegal Content-Type"));
    }
    if body.is_empty() {
        return Err(ApiError::input("Empty request body"));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::input(format!("Malformed JSON body: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::input("Expected body to be a JSON object"));
    }
    Ok(value)
}

/// A `text/event-stream` response of `frames`, with the headers Backstage
/// sends (no buffering hints beyond `no-cache`, and no heartbeats).
pub fn event_stream<S>(frames: S) -> axum::response::Response
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send + 'static,
{
    use axum::http::{HeaderValue, header};
    let mut response = axum::response::Response::new(axum::body::Body::from_stream(frames));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    response
}

/// A required member of a request's JSON object; `at` is where the object
/// sits (`request/body`), for messages worded like Backstage's validator.
pub fn required<'a>(obj: &'a Value, at: &str, key: &str) -> Result<&'a Value, ApiError> {
    obj.get(key)
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::input(format!("{at} must have required property '{key}'")))
}

/// A required string member: absent and non-string members get their own message.
pub fn required_str<'a>(obj: &'a Value, at: &str, key: &str) -> Result<&'a str, ApiError> {
    required(obj, at, key)?
        .as_str()
        .ok_or_else(|| ApiError::input(format!("{at}/{key} must be string")))
}
