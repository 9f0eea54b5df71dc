//! `/api/catalog`: the Backstage catalog REST API.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use greenroom_model::entity::ANNOTATION_MANAGED_BY_ORIGIN_LOCATION;
use greenroom_model::fields::{parse_fields, project};
use greenroom_model::location::location_entity_ref;
use greenroom_model::query::{Predicate, parse_filter_params, parse_predicate};
use greenroom_model::refs::{EntityRef, LocationRef};
use greenroom_store::{
    Cursor, EntitiesPage, EntityQuery, FullTextFilter, ListOptions, LocationRow, Order, OrderField,
};
use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Value, json};

use crate::AppState;
use crate::body::{Params, json_object, required, required_str};
use crate::error::ApiError;

type ApiResult = Result<Response, ApiError>;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/entities", get(list_entities))
        .route(
            "/entities/by-query",
            get(query_entities_get).post(query_entities_post),
        )
        .route(
            "/entities/by-uid/{uid}",
            get(entity_by_uid).delete(delete_entity),
        )
        .route(
            "/entities/by-name/{kind}/{namespace}/{name}",
            get(entity_by_name),
        )
        .route(
            "/entities/by-name/{kind}/{namespace}/{name}/ancestry",
            get(ancestry),
        )
        .route("/entities/by-refs", post(by_refs))
        .route("/entity-facets", get(facets_get).post(facets_post))
        .route("/refresh", post(refresh))
        .route("/locations", get(list_locations).post(create_location))
        .route("/locations/by-query", post(locations_by_query))
        .route(
            "/locations/by-entity/{kind}/{namespace}/{name}",
            get(location_by_entity),
        )
        .route(
            "/locations/{id}",
            get(location_by_id)
                .put(update_location)
                .delete(delete_location),
        )
        .route("/analyze-location", post(analyze_location))
        .route("/validate-entity", post(validate_entity))
        .route("/processing-errors", get(processing_errors))
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut r = (status, value.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn ok(value: &Value) -> ApiResult {
    Ok(json_response(StatusCode::OK, value))
}

fn fields_of(params: &Params) -> Result<Vec<String>, ApiError> {
    parse_fields(params.all("fields")).map_err(|e| ApiError::input(e.to_string()))
}

fn filter_of(params: &Params) -> Result<Option<Predicate>, ApiError> {
    parse_filter_params(&params.all("filter")).map_err(|e| ApiError::input(e.to_string()))
}

/// The optional predicate of a request body (`query`).
fn body_query(body: &Value) -> Result<Option<Predicate>, ApiError> {
    match body.get("query") {
        None | Some(Value::Null) => Ok(None),
        Some(q) => parse_predicate(q)
            .map(Some)
            .map_err(|e| ApiError::input(e.to_string())),
    }
}

/// The optional `fields` list of a request body.
fn body_fields(body: &Value) -> Result<Vec<String>, ApiError> {
    match body.get("fields") {
        Some(Value::Array(f)) => parse_fields(f.iter().filter_map(Value::as_str))
            .map_err(|e| ApiError::input(e.to_string())),
        _ => Ok(Vec::new()),
    }
}

fn parse_order(raw: &str, sep: char) -> Result<OrderField, ApiError> {
    let (field, order) = match sep {
        ':' => {
            let (o, f) = raw.split_once(':').ok_or_else(|| {
                ApiError::input(format!(
                    "Invalid order parameter '{raw}', expected asc:<field> or desc:<field>"
                ))
            })?;
            (f, o)
        }
        _ => raw.split_once(',').map_or((raw, "asc"), |(f, o)| (f, o)),
    };
    let order = match order.trim() {
        "asc" => Order::Asc,
        "desc" => Order::Desc,
        other => {
            return Err(ApiError::input(format!(
                "Invalid order '{other}', expected asc or desc"
            )));
        }
    };
    if field.trim().is_empty() {
        return Err(ApiError::input(format!("Invalid order parameter '{raw}'")));
    }
    Ok(OrderField {
        field: field.trim().to_string(),
        order,
    })
}

/// Stored entities pass through as text; only a `fields` projection parses them.
fn project_all(
    items: Vec<Box<RawValue>>,
    fields: &[String],
) -> Result<Vec<Box<RawValue>>, ApiError> {
    if fields.is_empty() {
        return Ok(items);
    }
    items
        .iter()
        .map(|raw| {
            let entity: Value = serde_json::from_str(raw.get())
                .map_err(|e| ApiError::new("Error", e.to_string()))?;
            to_raw_value(&project(&entity, fields))
                .map_err(|e| ApiError::new("Error", e.to_string()))
        })
        .collect()
}

fn text_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn serialize<T: serde::Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| ApiError::new("Error", e.to_string()))
}

async fn list_entities(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> ApiResult {
    let params = Params::parse(q.as_deref());
    params.only(&["filter", "fields", "order", "offset", "limit", "after"])?;
    let fields = fields_of(&params)?;
    let filter = filter_of(&params)?;
    let order: Vec<OrderField> = params
        .all("order")
        .iter()
        .map(|o| parse_order(o, ':'))
        .collect::<Result<_, _>>()?;
    let paginated = params.has("offset") || params.has("limit") || params.has("after");
    if !paginated {
        // Unpaginated: all matches, through the by-query code (first order field only).
        let query = EntityQuery {
            filter,
            full_text: None,
            order: order.into_iter().next(),
        };
        let mut items = Vec::new();
        let mut page = state
            .store
            .query_entities(Some(&query), None, 10_000, None, false)
            .await?;
        loop {
            items.extend(project_all(std::mem::take(&mut page.items), &fields)?);
            let Some(next) = page.next_cursor.take() else {
                break;
            };
            let cursor = Cursor::decode(&next)?;
            page = state
                .store
                .query_entities(None, Some(&cursor), 10_000, None, false)
                .await?;
        }
        return Ok(text_response(StatusCode::OK, serialize(&items)?));
    }
    let (mut offset, mut limit) = (
        params.int("offset", 0)?.unwrap_or(0),
        params.int("limit", 1)?,
    );
    if let Some(after) = params.one("after") {
        if after.is_empty() {
            return Err(ApiError::input(
                "request/query/after must NOT have fewer than 1 characters",
            ));
        }
        let decoded: Value = B64
            .decode(after)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| ApiError::input("Malformed after cursor, could not be parsed"))?;
        offset = decoded
            .get("offset")
            .and_then(Value::as_i64)
            .unwrap_or(offset);
        limit = decoded.get("limit").and_then(Value::as_i64).or(limit);
    }
    // One extra row tells whether a next page exists.
    let opts = ListOptions {
        filter,
        order,
        offset,
        limit: limit.map(|l| l + 1),
    };
    let mut items = state.store.list_entities(&opts).await?;
    let mut response_link = None;
    if let Some(l) = limit
        && items.len() as i64 > l
    {
        items.truncate(l as usize);
        let after = B64.encode(json!({"limit": l, "offset": offset + l}).to_string());
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params
            .0
            .iter()
            .filter(|(k, _)| k != "offset" && k != "after")
        {
            pairs.append_pair(k, v);
        }
        pairs.append_pair("after", &after);
        response_link = Some(format!("</entities?{}>; rel=\"next\"", pairs.finish()));
    }
    let mut response = text_response(StatusCode::OK, serialize(&project_all(items, &fields)?)?);
    if let Some(link) = response_link
        && let Ok(v) = HeaderValue::from_str(&link)
    {
        response.headers_mut().insert(header::LINK, v);
    }
    Ok(response)
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_cursor: Option<String>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct QueryResponse {
    items: Vec<Box<RawValue>>,
    total_items: i64,
    page_info: PageInfo,
}

fn page_response(page: EntitiesPage, fields: &[String]) -> ApiResult {
    let body = QueryResponse {
        items: project_all(page.items, fields)?,
        total_items: page.total_items,
        page_info: PageInfo {
            next_cursor: page.next_cursor,
            prev_cursor: page.prev_cursor,
        },
    };
    Ok(text_response(StatusCode::OK, serialize(&body)?))
}

const DEFAULT_LIMIT: i64 = 200;

async fn query_entities_get(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let params = Params::parse(q.as_deref());
    params.only(&[
        "filter",
        "fields",
        "limit",
        "offset",
        "orderField",
        "cursor",
        "fullTextFilterTerm",
        "fullTextFilterFields",
        "totalItems",
    ])?;
    let fields = fields_of(&params)?;
    let limit = params.int("limit", 0)?.unwrap_or(DEFAULT_LIMIT);
    let offset = params.int("offset", 0)?;
    let include_total = match params.one("totalItems") {
        None | Some("include") => true,
        Some("exclude") => false,
        Some(other) => {
            return Err(ApiError::input(format!(
                "request/query/totalItems must be equal to one of the allowed values, got '{other}'"
            )));
        }
    };
    if let Some(raw) = params.one("cursor") {
        let cursor = Cursor::decode(raw)?;
        return page_response(
            state
                .store
                .query_entities(None, Some(&cursor), limit, None, include_total)
                .await?,
            &fields,
        );
    }
    let orders: Vec<OrderField> = params
        .all("orderField")
        .iter()
        .map(|o| parse_order(o, ','))
        .collect::<Result<_, _>>()?;
    if orders.len() > 1 {
        tracing::warn!(
            "only the first orderField is applied; {} ignored",
            orders.len() - 1
        );
    }
    let full_text = params.one("fullTextFilterTerm").map(|term| FullTextFilter {
        term: term.to_string(),
        fields: params
            .all("fullTextFilterFields")
            .iter()
            .flat_map(|f| f.split(','))
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect(),
    });
    let query = EntityQuery {
        filter: filter_of(&params)?,
        full_text,
        order: orders.into_iter().next(),
    };
    page_response(
        state
            .store
            .query_entities(Some(&query), None, limit, offset, include_total)
            .await?,
        &fields,
    )
}

async fn query_entities_post(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = json_object(&headers, &body)?;
    let fields: Vec<String> = body_fields(&body)?;
    let int = |k: &str| -> Result<Option<i64>, ApiError> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
                ApiError::input(format!("request/body/{k} must be a non-negative integer"))
            }),
        }
    };
    let limit = int("limit")?.unwrap_or(DEFAULT_LIMIT);
    let include_total = body.get("totalItems").and_then(Value::as_str) != Some("exclude");
    if let Some(raw) = body.get("cursor").and_then(Value::as_str) {
        let cursor = Cursor::decode(raw)?;
        return page_response(
            state
                .store
                .query_entities(None, Some(&cursor), limit, None, include_total)
                .await?,
            &fields,
        );
    }
    let filter = body_query(&body)?;
    let order = match body.get("orderBy") {
        Some(Value::Array(items)) => items
            .first()
            .map(|o| {
                let field = o
                    .get("field")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::input("orderBy[].field is required"))?;
                let order = o.get("order").and_then(Value::as_str).unwrap_or("asc");
                parse_order(&format!("{field},{order}"), ',')
            })
            .transpose()?,
        _ => None,
    };
    let full_text = body.get("fullTextFilter").and_then(|f| {
        Some(FullTextFilter {
            term: f.get("term")?.as_str()?.to_string(),
            fields: f
                .get("fields")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        })
    });
    let query = EntityQuery {
        filter,
        full_text,
        order,
    };
    page_response(
        state
            .store
            .query_entities(Some(&query), None, limit, int("offset")?, include_total)
            .await?,
        &fields,
    )
}

async fn entity_by_uid(State(state): State<Arc<AppState>>, Path(uid): Path<String>) -> ApiResult {
    match state.store.entity_by_uid(&uid).await? {
        Some(e) => ok(&e),
        None => Err(ApiError::not_found(format!("No entity with uid {uid}"))),
    }
}

async fn delete_entity(State(state): State<Arc<AppState>>, Path(uid): Path<String>) -> ApiResult {
    state.store.delete_entity_by_uid(&uid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn entity_by_name(
    State(state): State<Arc<AppState>>,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> ApiResult {
    let r = EntityRef::new(&kind, &namespace, &name).to_string();
    match state.store.entity_by_ref(&r).await? {
        Some(e) => ok(&e),
        None => Err(ApiError::not_found(format!(
            "No entity named '{name}' found, with kind '{kind}' in namespace '{namespace}'"
        ))),
    }
}

async fn ancestry(
    State(state): State<Arc<AppState>>,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> ApiResult {
    let root = EntityRef::new(&kind, &namespace, &name).to_string();
    if state.store.entity_by_ref(&root).await?.is_none() {
        return Err(ApiError::not_found(format!("No such entity {root}")));
    }
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut queue = std::collections::VecDeque::from([root.clone()]);
    while let Some(current) = queue.pop_front() {
        if !seen.insert(current.clone()) {
            continue;
        }
        let Some(entity) = state.store.entity_by_ref(&current).await? else {
            continue;
        };
        let parents = state.store.parent_refs(&current).await?;
        queue.extend(parents.iter().cloned());
        items.push(json!({ "entity": entity, "parentEntityRefs": parents }));
    }
    ok(&json!({ "rootEntityRef": root, "items": items }))
}

async fn by_refs(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let params = Params::parse(q.as_deref());
    params.only(&["filter"])?;
    let body = json_object(&headers, &body)?;
    let refs: Vec<String> = match body.get("entityRefs") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::input("request/body/entityRefs must be an array of strings")
                })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::input(
                "request/body must have required property 'entityRefs'",
            ));
        }
    };
    let fields: Vec<String> = body_fields(&body)?;
    let mut conditions = Vec::new();
    if let Some(f) = filter_of(&params)? {
        conditions.push(f);
    }
    if let Some(q) = body_query(&body)? {
        conditions.push(q);
    }
    let filter = (!conditions.is_empty()).then_some(Predicate::All(conditions));
    let items: Vec<Value> = state
        .store
        .entities_by_refs(&refs, filter.as_ref())
        .await?
        .into_iter()
        .map(|e| {
            e.map_or(Value::Null, |e| {
                if fields.is_empty() {
                    e
                } else {
                    project(&e, &fields)
                }
            })
        })
        .collect();
    ok(&json!({ "items": items }))
}

async fn facets_response(
    state: &AppState,
    facets: Vec<String>,
    filter: Option<Predicate>,
) -> ApiResult {
    let facets: Vec<String> = facets
        .into_iter()
        .filter(|f| !f.trim().is_empty())
        .collect();
    if facets.is_empty() {
        return Err(ApiError::input("Missing facet parameter"));
    }
    let mut out = serde_json::Map::new();
    for facet in state.store.facets(&facets, filter.as_ref()).await? {
        out.insert(facet.name, json!(facet.values));
    }
    ok(&json!({ "facets": out }))
}

async fn facets_get(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> ApiResult {
    let params = Params::parse(q.as_deref());
    params.only(&["facet", "filter"])?;
    let facets = params.all("facet").iter().map(|s| s.to_string()).collect();
    facets_response(&state, facets, filter_of(&params)?).await
}

async fn facets_post(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = json_object(&headers, &body)?;
    let facets = body
        .get("facets")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let filter = body_query(&body)?;
    facets_response(&state, facets, filter).await
}

async fn refresh(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let body = json_object(&headers, &body)?;
    let raw = required_str(&body, "request/body", "entityRef")?;
    let r = EntityRef::parse(raw, None, None)
        .map_err(|e| ApiError::input(e.to_string()))?
        .to_string();
    if !state.store.schedule_refresh(&r).await? {
        return Err(ApiError::not_found(format!(
            "Failed to schedule {r} for refresh"
        )));
    }
    state.engine.wake();
    Ok(StatusCode::OK.into_response())
}

fn location_json(l: &LocationRow) -> Value {
    json!({ "id": l.id, "type": l.kind, "target": l.target, "entityRef": l.entity_ref })
}

async fn list_locations(State(state): State<Arc<AppState>>) -> ApiResult {
    let rows = state.store.list_locations().await?;
    ok(&Value::Array(
        rows.iter()
            .map(|l| json!({ "data": location_json(l) }))
            .collect(),
    ))
}

fn location_input(
    body: &Value,
    allowed: &[String],
) -> Result<(String, String, Option<String>), ApiError> {
    if let Some(extra) = body.as_object().and_then(|o| {
        o.keys()
            .find(|k| !matches!(k.as_str(), "type" | "target" | "presence"))
    }) {
        return Err(ApiError::input(format!(
            "request/body must NOT have additional properties, found '{extra}'"
        )));
    }
    let kind = required_str(body, "request/body", "type")?;
    let target = required_str(body, "request/body", "target")?;
    let presence = body
        .get("presence")
        .and_then(Value::as_str)
        .map(str::to_string);
    if !allowed.iter().any(|a| a == kind) {
        return Err(ApiError::input(format!(
            "Registered locations must be of an allowed type {}",
            serde_json::to_string(allowed).unwrap_or_default()
        )));
    }
    LocationRef::parse(&format!("{kind}:{target}")).map_err(|e| ApiError::input(e.to_string()))?;
    Ok((kind.to_string(), target.to_string(), presence))
}

async fn create_location(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let params = Params::parse(q.as_deref());
    params.only(&["dryRun", "onConflict"])?;
    let body = json_object(&headers, &body)?;
    let (kind, target, presence) = location_input(&body, &state.settings.allowed_location_types)?;
    let refresh = match params.one("onConflict") {
        Some("refresh") => Some(true),
        Some("reject") => Some(false),
        Some(other) => {
            return Err(ApiError::input(format!(
                "request/query/onConflict must be one of reject, refresh, got '{other}'"
            )));
        }
        None => None,
    };
    let out = register_location(
        &state.store,
        &state.engine,
        &state.settings,
        &kind,
        &target,
        presence.as_deref(),
        params.one("dryRun") == Some("true"),
        refresh,
    )
    .await?;
    Ok(json_response(StatusCode::CREATED, &out))
}

/// `POST /locations` for every caller (HTTP and `catalog:register`): a dry
/// run reads and processes the target without storing anything.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn register_location(
    store: &greenroom_store::Store,
    engine: &greenroom_catalog::Engine,
    settings: &greenroom_config::Settings,
    kind: &str,
    target: &str,
    presence: Option<&str>,
    dry_run: bool,
    on_conflict_refresh: Option<bool>,
) -> Result<Value, ApiError> {
    let entity_ref = location_entity_ref(kind, target);
    let existing = store.location_by_target(kind, target).await?;
    if dry_run {
        let root =
            greenroom_catalog::engine::location_provider_entity(kind, target, presence).entity;
        let entities = engine.processor().dry_run(root).await.map_err(|errors| {
            ApiError::input(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.name, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        return Ok(json!({
            "exists": existing.is_some(),
            "location": { "type": kind, "target": target, "id": format!("{kind}:{target}"), "entityRef": entity_ref },
            "entities": entities,
        }));
    }
    if settings.readonly {
        return Err(ApiError::not_allowed(
            "This operation not allowed in readonly mode",
        ));
    }
    let refresh = on_conflict_refresh.unwrap_or(settings.conflict_refresh);
    if let Some(existing) = existing {
        if !refresh {
            return Err(ApiError::conflict(format!(
                "Location {kind}:{target} already exists"
            )));
        }
        store.schedule_refresh(&existing.entity_ref).await?;
        engine.wake();
        return Ok(json!({ "location": location_json(&existing), "entities": [] }));
    }
    let row = LocationRow {
        id: uuid_v4(),
        kind: kind.to_string(),
        target: target.to_string(),
        entity_ref,
    };
    store.create_location(&row).await?;
    engine.sync_registered_locations().await?;
    Ok(json!({ "location": location_json(&row), "entities": [] }))
}

fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn location_by_id(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    match state.store.location_by_id(&id).await? {
        Some(l) => ok(&location_json(&l)),
        None => Err(ApiError::not_found(format!(
            "Found no location with ID {id}"
        ))),
    }
}

async fn update_location(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    if state.settings.readonly {
        return Err(ApiError::not_allowed(
            "This operation not allowed in readonly mode",
        ));
    }
    let body = json_object(&headers, &body)?;
    let (kind, target, _) = location_input(&body, &state.settings.allowed_location_types)?;
    if state.store.location_by_id(&id).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "Found no location with ID {id}"
        )));
    }
    if state
        .store
        .location_by_target(&kind, &target)
        .await?
        .is_some_and(|l| l.id != id)
    {
        return Err(ApiError::conflict(format!(
            "Location {kind}:{target} already exists"
        )));
    }
    state.store.delete_location(&id).await?;
    let row = LocationRow {
        id,
        entity_ref: location_entity_ref(&kind, &target),
        kind,
        target,
    };
    state.store.create_location(&row).await?;
    state.engine.sync_registered_locations().await?;
    ok(&location_json(&row))
}

async fn delete_location(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    if state.settings.readonly {
        return Err(ApiError::not_allowed(
            "This operation not allowed in readonly mode",
        ));
    }
    if !state.store.delete_location(&id).await? {
        return Err(ApiError::not_found(format!(
            "Found no location with ID {id}"
        )));
    }
    state.engine.sync_registered_locations().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn locations_by_query(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = json_object(&headers, &body)?;
    let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(20) as usize;
    let offset: usize = match body.get("cursor").and_then(Value::as_str) {
        Some(c) => B64
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ApiError::input("Malformed cursor"))?,
        None => 0,
    };
    let query = body_query(&body)?;
    let rows: Vec<Value> = state
        .store
        .list_locations()
        .await?
        .iter()
        .map(location_json)
        .filter(|l| query.as_ref().is_none_or(|q| matches_location(q, l)))
        .collect();
    let total = rows.len();
    let page: Vec<Value> = rows.into_iter().skip(offset).take(limit).collect();
    let mut info = serde_json::Map::new();
    if offset + page.len() < total {
        info.insert(
            "nextCursor".into(),
            Value::String(B64.encode((offset + page.len()).to_string())),
        );
    }
    ok(&json!({ "items": page, "totalItems": total, "pageInfo": info }))
}

/// Locations are few: their predicates are evaluated in memory.
fn matches_location(p: &Predicate, l: &Value) -> bool {
    use greenroom_model::query::FieldOp;
    match p {
        Predicate::All(ps) => ps.iter().all(|p| matches_location(p, l)),
        Predicate::Any(ps) => ps.iter().any(|p| matches_location(p, l)),
        Predicate::Not(p) => !matches_location(p, l),
        Predicate::Field { key, op } => {
            let value = l
                .as_object()
                .and_then(|o| o.iter().find(|(k, _)| k.to_lowercase() == *key))
                .and_then(|(_, v)| v.as_str())
                .map(str::to_lowercase);
            match op {
                FieldOp::Eq(v) => value.as_deref() == Some(v.as_str()),
                FieldOp::In(vs) => value.is_some_and(|x| vs.contains(&x)),
                FieldOp::HasPrefix(p) => value.is_some_and(|x| x.starts_with(p.as_str())),
                FieldOp::Exists(b) => value.is_some() == *b,
            }
        }
    }
}

async fn location_by_entity(
    State(state): State<Arc<AppState>>,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> ApiResult {
    let r = EntityRef::new(&kind, &namespace, &name).to_string();
    let entity = state.store.entity_by_ref(&r).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "No entity named '{name}' found, with kind '{kind}' in namespace '{namespace}'"
        ))
    })?;
    let origin =
        greenroom_model::entity::annotation(&entity, ANNOTATION_MANAGED_BY_ORIGIN_LOCATION)
            .and_then(|o| LocationRef::parse(o).ok())
            .ok_or_else(|| ApiError::not_found(format!("Entity {r} has no origin location")))?;
    match state
        .store
        .location_by_target(&origin.kind, &origin.target)
        .await?
    {
        Some(l) => ok(&location_json(&l)),
        None => Err(ApiError::not_found(format!(
            "Found no location with type {} and target {}",
            origin.kind, origin.target
        ))),
    }
}

async fn analyze_location(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = json_object(&headers, &body)?;
    let location = required(&body, "request/body", "location")?;
    let kind = location
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("url");
    let target = required_str(location, "request/body/location", "target")?;
    let filename = body
        .get("catalogFilename")
        .or_else(|| body.get("catalogFileName"))
        .and_then(Value::as_str)
        .unwrap_or("catalog-info.yaml");
    ok(&analyze(&state, kind, target, filename).await?)
}

/// What `analyze-location` finds at `target`: the catalog file's entities
/// when there is one, otherwise a component to generate for the repository.
pub(crate) async fn analyze(
    state: &AppState,
    kind: &str,
    target: &str,
    filename: &str,
) -> Result<Value, ApiError> {
    // A YAML file is read as is; anything else is taken as a repository
    // root that may hold a catalog file.
    let candidate = if target.ends_with(".yaml") || target.ends_with(".yml") {
        target.to_string()
    } else {
        format!("{}/{filename}", target.trim_end_matches('/'))
    };
    let registered = state
        .store
        .location_by_target(kind, &candidate)
        .await?
        .is_some();
    if let Ok(bytes) = state
        .engine
        .processor()
        .readers()
        .read_one(kind, &candidate)
        .await
    {
        let mut files = Vec::new();
        for doc in greenroom_catalog::parse::parse_documents(&bytes, &format!("{kind}:{candidate}"))
        {
            if let greenroom_catalog::parse::Document::Entity { entity, .. } = doc {
                files.push(json!({ "entity": entity, "isRegistered": registered, "location": { "type": kind, "target": candidate } }));
            }
        }
        if !files.is_empty() {
            return Ok(json!({ "existingEntityFiles": files, "generateEntities": [] }));
        }
    }
    let parsed = url::Url::parse(target)
        .map_err(|e| ApiError::input(format!("Invalid target URL {target}: {e}")))?;
    let segments: Vec<&str> = parsed
        .path_segments()
        .map(|s| s.filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    let name = segments
        .get(1)
        .or(segments.last())
        .map(|s| s.trim_end_matches(".git").to_string())
        .unwrap_or_else(|| "new-component".into());
    let host = parsed.host_str().unwrap_or_default().to_string();
    let slug = segments
        .iter()
        .take(2)
        .cloned()
        .collect::<Vec<_>>()
        .join("/");
    Ok(json!({
        "existingEntityFiles": [],
        "generateEntities": [{
            "entity": {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Component",
                "metadata": { "name": name, "annotations": { format!("{host}/project-slug"): slug } },
                "spec": { "type": "other", "lifecycle": "unknown" }
            },
            "fields": [{
                "field": "spec.owner",
                "state": "needsUserInput",
                "value": null,
                "description": "Entity owner is recommended"
            }]
        }]
    }))
}

async fn validate_entity(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = json_object(&headers, &body)?;
    let location = required_str(&body, "request/body", "location")?;
    let entity = required(&body, "request/body", "entity")?;
    let location = LocationRef::parse(location).map_err(|e| ApiError::input(e.to_string()))?;
    if location.kind != "url" {
        return Err(ApiError::input(format!(
            "Invalid location ref {location}, only 'url:' locations are supported"
        )));
    }
    match state
        .engine
        .processor()
        .validate_standalone(entity, &location)
    {
        Ok(()) => Ok(StatusCode::OK.into_response()),
        Err(errors) => {
            let errors: Vec<Value> = errors
                .iter()
                .map(|e| json!({ "name": e.name, "message": e.message }))
                .collect();
            Ok(json_response(
                StatusCode::BAD_REQUEST,
                &json!({ "errors": errors }),
            ))
        }
    }
}

/// Not in Backstage: every entity with processing errors, including new ones
/// that never reached the catalog (so nothing fails silently).
async fn processing_errors(State(state): State<Arc<AppState>>) -> ApiResult {
    let rows = state.store.processing_errors().await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "entityRef": r.entity_ref,
                "locationKey": r.location_key,
                "inCatalog": r.has_final_entity,
                "errors": r.errors,
            })
        })
        .collect();
    ok(&json!({ "items": items }))
}
