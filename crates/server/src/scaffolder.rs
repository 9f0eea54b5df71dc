//! `/api/scaffolder`: templates' parameter schemas, actions, tasks and
//! their event streams, dry runs and templating extensions.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::future::BoxFuture;
use greenroom_model::refs::EntityRef;
use greenroom_scaffolder::template::TemplateError;
use greenroom_scaffolder::tree::TreeEntry;
use greenroom_scaffolder::{CatalogPort, CatalogPortError, Registration, ScaffolderError};
use greenroom_store::{Store, StoreError, TaskEventRow, TaskFilter, TaskOrderField, TaskRow};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::body::{Params, json_object, required_str};
use crate::error::ApiError;
use crate::guard::Caller;

type ApiResult = Result<Response, ApiError>;

/// How long `GET /events` waits for news before answering `[]`.
const LONG_POLL: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(250);

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/v2/templates/{namespace}/{kind}/{name}/parameter-schema",
            get(parameter_schema),
        )
        .route("/v2/actions", get(actions))
        .route("/v2/tasks", get(list_tasks).post(create_task))
        .route("/v2/tasks/{id}", get(get_task))
        .route("/v2/tasks/{id}/eventstream", get(event_stream))
        .route("/v2/tasks/{id}/events", get(events))
        .route("/v2/tasks/{id}/cancel", post(cancel))
        .route("/v2/tasks/{id}/retry", post(retry))
        .route("/v2/dry-run", post(dry_run))
        .route("/v2/templating-extensions", get(templating_extensions))
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut r = (status, value.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

impl From<ScaffolderError> for ApiError {
    fn from(e: ScaffolderError) -> Self {
        match e {
            ScaffolderError::Template(TemplateError::Validation(errors)) => {
                let mut details = Map::new();
                details.insert("errors".into(), Value::Array(errors));
                ApiError::input("Parameters did not validate").with_details(details)
            }
            ScaffolderError::Template(other) => ApiError::input(other.to_string()),
            ScaffolderError::Store(s) => s.into(),
            ScaffolderError::Io(m) | ScaffolderError::Config(m) => {
                tracing::error!(error = %m, "scaffolder failure");
                ApiError::new("Error", m)
            }
        }
    }
}

fn task_json(t: &TaskRow) -> Value {
    let spec: Value = serde_json::from_str(&t.spec).unwrap_or(Value::Null);
    let mut out = json!({
        "id": t.id,
        "spec": spec,
        "status": t.status,
        "createdAt": iso(t.created_at),
    });
    if let Some(o) = out.as_object_mut() {
        if let Some(h) = t.last_heartbeat_at {
            o.insert("lastHeartbeatAt".into(), json!(iso(h)));
        }
        if let Some(c) = &t.created_by {
            o.insert("createdBy".into(), json!(c));
        }
    }
    out
}

fn event_json(e: &TaskEventRow) -> Value {
    let body: Value = serde_json::from_str(&e.body).unwrap_or(Value::Null);
    json!({
        "id": e.id,
        "taskId": e.task_id,
        "type": e.event_type,
        "body": body,
        "createdAt": iso(e.created_at),
    })
}

async fn template_entity(store: &Store, reference: &str) -> Result<Value, ApiError> {
    let r = EntityRef::parse(reference, Some("template"), Some("default"))
        .map_err(|e| ApiError::input(e.to_string()))?;
    if !r.kind.eq_ignore_ascii_case("template") {
        return Err(ApiError::input(
            "Invalid kind, only \"Template\" kind is supported",
        ));
    }
    store
        .entity_by_ref(&r.to_string())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Template {r} not found")))
}

async fn parameter_schema(
    State(state): State<Arc<AppState>>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
) -> ApiResult {
    let entity = template_entity(&state.store, &format!("{kind}:{namespace}/{name}")).await?;
    let schema = greenroom_scaffolder::template::parameter_schema(&entity)
        .map_err(|e| ApiError::from(ScaffolderError::from(e)))?;
    Ok(json_response(StatusCode::OK, &schema))
}

async fn actions(State(state): State<Arc<AppState>>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        &state.scaffolder.registry().describe(),
    ))
}

async fn templating_extensions() -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        &greenroom_scaffolder::templating::extensions(),
    ))
}

/// The caller as templates see it (`user.ref`, `user.entity`) and the
/// `createdBy` of its tasks.
async fn caller_user(state: &AppState, caller: Option<&Caller>) -> (Value, Option<String>) {
    let user_ref = match caller {
        None if state.settings.auth_disabled => Some("user:default/guest".to_string()),
        Some(c) => EntityRef::parse(&c.subject, None, Some("default"))
            .ok()
            .filter(|r| r.kind.eq_ignore_ascii_case("user"))
            .map(|r| r.to_string()),
        None => None,
    };
    let Some(r) = user_ref else {
        return (json!({}), None);
    };
    let mut user = json!({ "ref": r });
    if let (Ok(Some(entity)), Some(o)) = (state.store.entity_by_ref(&r).await, user.as_object_mut())
    {
        o.insert("entity".into(), entity);
    }
    (user, Some(r))
}

fn secrets_of(body: &Value) -> Result<Map<String, Value>, ApiError> {
    match body.get("secrets") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(ApiError::input("request/body/secrets must be object")),
    }
}

async fn create_task(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = json_object(&headers, &body)?;
    let template_ref = required_str(&body, "request/body", "templateRef")?;
    let values = body.get("values").cloned().unwrap_or_else(|| json!({}));
    let secrets = secrets_of(&body)?;
    let template = template_entity(&state.store, template_ref).await?;
    let (user, created_by) = caller_user(&state, caller.as_deref()).await;
    let id = state
        .scaffolder
        .create_task(&template, &values, secrets, user, created_by.as_deref())
        .await?;
    Ok(json_response(StatusCode::CREATED, &json!({ "id": id })))
}

fn order_of(params: &Params) -> Result<Vec<(TaskOrderField, bool)>, ApiError> {
    params
        .all("order")
        .into_iter()
        .map(|o| {
            let (dir, field) = o.split_once(':').unwrap_or(("asc", o));
            let desc = match dir {
                "asc" => false,
                "desc" => true,
                _ => return Err(ApiError::input(format!("Invalid order direction '{dir}'"))),
            };
            let field = match field {
                "created_at" | "createdAt" => TaskOrderField::CreatedAt,
                "status" => TaskOrderField::Status,
                "created_by" | "createdBy" => TaskOrderField::CreatedBy,
                other => return Err(ApiError::input(format!("Invalid order field '{other}'"))),
            };
            Ok((field, desc))
        })
        .collect()
}

async fn list_tasks(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> ApiResult {
    let params = Params::parse(q.as_deref());
    params.only(&["createdBy", "status", "limit", "offset", "order"])?;
    let filter = TaskFilter {
        created_by: params
            .all("createdBy")
            .into_iter()
            .map(str::to_string)
            .collect(),
        status: params
            .all("status")
            .into_iter()
            .map(str::to_string)
            .collect(),
        order: order_of(&params)?,
        limit: params.int("limit", 0)?,
        offset: params.int("offset", 0)?,
    };
    let (tasks, total) = state.store.list_tasks(&filter).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "tasks": tasks.iter().map(task_json).collect::<Vec<_>>(), "totalTasks": total }),
    ))
}

fn no_task(id: &str) -> ApiError {
    ApiError::not_found(format!("Task with id {id} does not exist"))
}

async fn get_task(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    match state.store.task(&id).await? {
        Some(t) => Ok(json_response(StatusCode::OK, &task_json(&t))),
        None => Err(no_task(&id)),
    }
}

fn after_of(q: Option<&str>) -> Result<Option<i64>, ApiError> {
    Params::parse(q).int("after", 0)
}

async fn events(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let after = after_of(q.as_deref())?;
    if state.store.task(&id).await?.is_none() {
        return Err(no_task(&id));
    }
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    loop {
        let events = state.store.task_events(&id, after).await?;
        if !events.is_empty() || tokio::time::Instant::now() >= deadline {
            let list: Vec<Value> = events.iter().map(event_json).collect();
            return Ok(json_response(StatusCode::OK, &Value::Array(list)));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

struct StreamState {
    store: Store,
    id: String,
    after: Option<i64>,
    pending: VecDeque<TaskEventRow>,
    done: bool,
}

/// `text/event-stream` of a task's events: `event: <type>\ndata: <json>\n\n`,
/// closed after the completion event.
async fn event_stream(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let after = after_of(q.as_deref())?;
    if state.store.task(&id).await?.is_none() {
        return Err(no_task(&id));
    }
    let init = StreamState {
        store: state.store.clone(),
        id,
        after,
        pending: VecDeque::new(),
        done: false,
    };
    let stream = futures_util::stream::unfold(init, |mut s| async move {
        loop {
            if let Some(event) = s.pending.pop_front() {
                if event.event_type == "completion" {
                    s.done = true;
                    s.pending.clear();
                }
                s.after = Some(s.after.map_or(event.id, |a| a.max(event.id)));
                let frame = format!(
                    "event: {}\ndata: {}\n\n",
                    event.event_type,
                    event_json(&event)
                );
                return Some((Ok::<_, std::io::Error>(Bytes::from(frame)), s));
            }
            if s.done {
                return None;
            }
            match s.store.task_events(&s.id, s.after).await {
                Ok(list) if !list.is_empty() => s.pending.extend(list),
                Ok(_) => tokio::time::sleep(POLL_EVERY).await,
                Err(e) => {
                    tracing::warn!(error = %e, "reading task events failed");
                    return None;
                }
            }
        }
    });
    Ok(crate::body::event_stream(stream))
}

async fn cancel(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    match state.scaffolder.cancel(&id).await? {
        Some(_) => Ok(json_response(
            StatusCode::OK,
            &json!({ "status": "cancelled" }),
        )),
        None => Err(no_task(&id)),
    }
}

async fn retry(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let secrets = if body.is_empty() {
        None
    } else {
        let body = json_object(&headers, &body)?;
        body.get("secrets")
            .is_some()
            .then(|| secrets_of(&body))
            .transpose()?
    };
    let Some(task) = state.store.task(&id).await? else {
        return Err(no_task(&id));
    };
    // New secrets are checked against the template's schema when the
    // template is still in the catalog.
    let template_ref = serde_json::from_str::<Value>(&task.spec)
        .ok()
        .and_then(|s| {
            s.pointer("/templateInfo/entityRef")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let template = match template_ref {
        Some(r) => state.store.entity_by_ref(&r).await?,
        None => None,
    };
    let schema = template
        .as_ref()
        .and_then(|t| t.pointer("/spec/secrets/schema"));
    state
        .scaffolder
        .retry(&id, secrets, schema)
        .await
        .map_err(|e| match e {
            ScaffolderError::Store(StoreError::NotFound(_)) => no_task(&id),
            other => other.into(),
        })?;
    Ok(json_response(StatusCode::CREATED, &json!({ "id": id })))
}

async fn dry_run(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = json_object(&headers, &body)?;
    let template = body
        .get("template")
        .filter(|t| t.is_object())
        .ok_or_else(|| ApiError::input("request/body must have required property 'template'"))?;
    let values = body.get("values").cloned().unwrap_or_else(|| json!({}));
    let secrets = secrets_of(&body)?;
    let mut files = Vec::new();
    for (i, f) in body
        .get("directoryContents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = required_str(f, &format!("request/body/directoryContents/{i}"), "path")?;
        let contents = B64
            .decode(f.get("base64Content").and_then(Value::as_str).unwrap_or(""))
            .map_err(|e| ApiError::input(format!("directoryContents/{i}/base64Content: {e}")))?;
        greenroom_scaffolder::tree::safe_relative(
            "directoryContents.path",
            path,
            "template's directory",
        )
        .map_err(|e| ApiError::input(e.to_string()))?;
        files.push(TreeEntry {
            path: path.to_string(),
            contents,
            executable: f
                .get("executable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            symlink: None,
        });
    }
    let (user, _) = caller_user(&state, caller.as_deref()).await;
    let result = state
        .scaffolder
        .dry_run(template, &values, secrets, files, user)
        .await?;
    let contents: Vec<Value> = result
        .files
        .iter()
        .map(|f| json!({ "path": f.path, "executable": f.executable, "base64Content": B64.encode(&f.contents) }))
        .collect();
    let mut out = json!({
        "log": result.log,
        "directoryContents": contents,
        "output": result.outcome.output,
        "steps": result.outcome.steps,
        "status": result.outcome.status.as_str(),
    });
    if let (Some((name, message)), Some(o)) = (&result.outcome.error, out.as_object_mut()) {
        o.insert("error".into(), json!({ "name": name, "message": message }));
    }
    Ok(json_response(StatusCode::OK, &out))
}

/// The catalog as `catalog:register` and `catalog:fetch` reach it: the same
/// registration code as `POST /locations`, and the store's entity lookup.
pub struct CatalogAccess {
    pub store: Store,
    pub engine: Arc<greenroom_catalog::Engine>,
    pub settings: greenroom_config::Settings,
}

impl CatalogPort for CatalogAccess {
    fn register<'a>(
        &'a self,
        target: &'a str,
        dry_run: bool,
    ) -> BoxFuture<'a, Result<Registration, CatalogPortError>> {
        Box::pin(async move {
            let out = crate::catalog::register_location(
                &self.store,
                &self.engine,
                &self.settings,
                "url",
                target,
                None,
                dry_run,
                Some(false),
            )
            .await
            .map_err(|e| match e.name {
                "ConflictError" => CatalogPortError::Conflict(e.message),
                "NotFoundError" => CatalogPortError::NotFound(e.message),
                _ => CatalogPortError::Failed(e.message),
            })?;
            let entities = out
                .get("entities")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Ok(Registration { entities })
        })
    }

    fn entity<'a>(
        &'a self,
        entity_ref: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, CatalogPortError>> {
        Box::pin(async move {
            self.store
                .entity_by_ref(entity_ref)
                .await
                .map_err(|e| CatalogPortError::Failed(e.to_string()))
        })
    }
}
