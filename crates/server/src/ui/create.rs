//! `/create`: template cards, the multi-step form of a template (checked on
//! the server step by step, then a review), and the task pages. The task is
//! created by the browser through `POST /api/scaffolder/v2/tasks`, behind the
//! same write guard as every other client.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use greenroom_model::query::Predicate;
use greenroom_scaffolder::template::{page_visible, parameter_pages, schema_errors, template_spec};
use greenroom_store::{EntityQuery, Order, OrderField, TaskFilter, TaskOrderField};
use serde_json::{Map, Value, json};

use super::form::{self, Choices};
use super::view::{self, Links, text};
use super::{Page, UiError, render};
use crate::AppState;
use crate::body::Params;
use crate::error::ApiError;

/// A template as a card.
pub fn card(t: &Value) -> Value {
    let r = view::entity_ref_of(t);
    json!({
        "title": view::display_name(t),
        "description": text(t, "/metadata/description"),
        "type": text(t, "/spec/type"),
        "tags": t.pointer("/metadata/tags").cloned().unwrap_or(json!([])),
        "href": format!("/create/templates/{}/{}", view::urlencode(&r.namespace), view::urlencode(&r.name)),
        "entity_href": view::entity_href(&r),
    })
}

pub async fn templates(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Page {
    let params = Params::parse(q.as_deref());
    let want_type = params.one("type").unwrap_or("").to_string();
    let want_tag = params.one("tag").unwrap_or("").to_string();
    let page = state
        .store
        .query_entities(
            Some(&EntityQuery {
                filter: Some(Predicate::eq("kind", "template")),
                full_text: None,
                order: Some(OrderField {
                    field: "metadata.name".into(),
                    order: Order::Asc,
                }),
            }),
            None,
            500,
            None,
            false,
        )
        .await?;
    let all: Vec<Value> = view::entities_of(&page);
    let mut types: Vec<String> = all
        .iter()
        .map(|t| text(t, "/spec/type").to_string())
        .filter(|t| !t.is_empty())
        .collect();
    types.sort();
    types.dedup();
    let mut tags: Vec<String> = all
        .iter()
        .flat_map(|t| {
            t.pointer("/metadata/tags")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    tags.sort();
    tags.dedup();
    let cards: Vec<Value> = all
        .iter()
        .filter(|t| want_type.is_empty() || text(t, "/spec/type").eq_ignore_ascii_case(&want_type))
        .filter(|t| {
            want_tag.is_empty()
                || t.pointer("/metadata/tags")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(want_tag.as_str())))
        })
        .map(card)
        .collect();
    render(
        &state,
        "create.html",
        "create",
        json!({
            "title": "Create something new",
            "cards": cards,
            "types": types,
            "tags": tags,
            "type": want_type,
            "tag": want_tag,
            "total": all.len(),
        }),
    )
}

async fn template_of(state: &AppState, namespace: &str, name: &str) -> Result<Value, UiError> {
    let r = format!("template:{namespace}/{name}");
    state.store.entity_by_ref(&r).await?.ok_or_else(|| {
        UiError(ApiError::not_found(format!(
            "No template named '{r}' in the catalog"
        )))
    })
}

/// Catalog choices for every picker field of the template.
async fn choices(state: &AppState, pages: &[Value]) -> Result<Choices, UiError> {
    let mut out = Choices::new();
    for page in pages {
        for (name, prop) in page
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if form::widget(prop) != "entity" {
                continue;
            }
            let options = prop.get("ui:options").cloned().unwrap_or(json!({}));
            let mut filters: Vec<Predicate> = Vec::new();
            let catalog_filter = match options.get("catalogFilter") {
                Some(Value::Array(list)) => list.clone(),
                Some(v @ Value::Object(_)) => vec![v.clone()],
                _ => Vec::new(),
            };
            for f in &catalog_filter {
                let parts: Vec<Predicate> = f
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| {
                        let values: Vec<String> = match v {
                            Value::String(s) => vec![s.clone()],
                            Value::Array(a) => a
                                .iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect(),
                            _ => return None,
                        };
                        Some(Predicate::one_of(k, &values))
                    })
                    .collect();
                filters.push(Predicate::All(parts));
            }
            if filters.is_empty() {
                let kinds: Vec<String> = match options.get("allowedKinds").and_then(Value::as_array)
                {
                    Some(a) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                    None if text(prop, "/ui:field") == "OwnerPicker" => {
                        vec!["Group".into(), "User".into()]
                    }
                    None => Vec::new(),
                };
                if !kinds.is_empty() {
                    filters.push(Predicate::one_of("kind", &kinds));
                }
            }
            let query = EntityQuery {
                filter: (!filters.is_empty()).then_some(Predicate::Any(filters)),
                full_text: None,
                order: Some(OrderField {
                    field: "metadata.name".into(),
                    order: Order::Asc,
                }),
            };
            let found = state
                .store
                .query_entities(Some(&query), None, 301, None, false)
                .await?;
            let list = view::entities_of(&found)
                .into_iter()
                .map(|e| {
                    let r = view::entity_ref_of(&e);
                    let value = format!("{}:{}/{}", r.kind.to_lowercase(), r.namespace, r.name);
                    let label = format!("{} ({})", view::display_name(&e), value);
                    (value, label)
                })
                .collect();
            out.insert(name.clone(), list);
        }
    }
    Ok(out)
}

/// The parameter pages that apply to `values`: `when` conditions evaluated
/// as the task will evaluate them.
fn visible_pages(
    state: &AppState,
    template: &Value,
    values: &Map<String, Value>,
) -> Result<Vec<Value>, UiError> {
    let spec = template_spec(template).map_err(|e| ApiError::input(e.to_string()))?;
    let templater = state.scaffolder.templater();
    let current = Value::Object(values.clone());
    let mut out = Vec::new();
    for page in parameter_pages(spec) {
        if page_visible(&page, &current, &templater).map_err(|e| ApiError::input(e.to_string()))? {
            out.push(page);
        }
    }
    Ok(out)
}

/// One step of the form (or the review after the last one).
async fn show_step(
    state: &AppState,
    template: &Value,
    step: usize,
    values: &Map<String, Value>,
    errors: &Map<String, Value>,
) -> Page {
    let pages = visible_pages(state, template, values)?;
    let step = step.min(pages.len());
    let r = view::entity_ref_of(template);
    let steps: Vec<Value> = pages
        .iter()
        .enumerate()
        .map(|(i, p)| json!({ "title": match text(p, "/title") { "" => "Details", t => t }, "current": i == step, "done": i < step }))
        .chain(std::iter::once(json!({ "title": "Review", "current": step == pages.len(), "done": false })))
        .collect();
    let values_value = Value::Object(values.clone());
    let mut ctx = json!({
        "title": view::display_name(template),
        "description": text(template, "/metadata/description"),
        "template_ref": format!("template:{}/{}", r.namespace, r.name),
        "entity_href": view::entity_href(&r),
        "action": format!("/create/templates/{}/{}", view::urlencode(&r.namespace), view::urlencode(&r.name)),
        "steps": steps,
        "step": step,
        "last_step": pages.len(),
        "values_json": values_value.to_string(),
        "errors": errors.values().cloned().collect::<Vec<_>>(),
        // Errors of the page as a whole (no field to put them next to).
        "page_error": errors.get(""),
    });
    let o = ctx
        .as_object_mut()
        .ok_or_else(|| ApiError::new("Error", "context"))?;
    if step < pages.len() {
        let page = &pages[step];
        let choices = choices(state, &[form::effective_page(page, values)]).await?;
        o.insert("page_title".into(), json!(text(page, "/title")));
        o.insert("page_description".into(), json!(text(page, "/description")));
        o.insert(
            "fields".into(),
            json!(form::fields(page, &values_value, errors, &choices)),
        );
    } else {
        o.insert("review".into(), json!(form::review(&pages, values)));
    }
    render(state, "template_form.html", "create", ctx)
}

pub async fn form(
    State(state): State<Arc<AppState>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Page {
    let template = template_of(&state, &namespace, &name).await?;
    let spec = template_spec(&template).map_err(|e| ApiError::input(e.to_string()))?;
    let values = form::defaults(&parameter_pages(spec));
    show_step(&state, &template, 0, &values, &Map::new()).await
}

/// A submitted step: read its fields, check them against the page's schema,
/// then show the next step, the same one with errors, or the previous one.
pub async fn form_step(
    State(state): State<Arc<AppState>>,
    Path((namespace, name)): Path<(String, String)>,
    body: Bytes,
) -> Page {
    let template = template_of(&state, &namespace, &name).await?;
    let form_data: Vec<(String, String)> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| {
        form_data
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let mut values: Map<String, Value> = get("_values")
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    // The pages as they were when this step was shown.
    let pages = visible_pages(&state, &template, &values)?;
    let step: usize = get("_step")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
        .min(pages.len());
    let going_back = get("_go") == Some("back");
    // A condition's trigger changed: show the same step with the fields
    // that now apply, unchecked.
    let staying = get("_go") == Some("stay");
    let mut errors = Map::new();
    if let Some(page) = pages.get(step) {
        errors = form::read_conditional(page, &form_data, &mut values);
        if staying {
            return show_step(&state, &template, step, &values, &Map::new()).await;
        }
        if !going_back && errors.is_empty() {
            // First the fields as shown (a oneOf branch's required field is
            // reported on that field), then the page as written.
            let instance = Value::Object(values.clone());
            let mut shown = form::effective_page(page, &values);
            let mut written = page.clone();
            for (schema, conditions) in [(&mut shown, true), (&mut written, false)] {
                if let Some(o) = schema.as_object_mut() {
                    o.remove("when");
                    if conditions {
                        o.remove("dependencies");
                        o.remove("allOf");
                    }
                }
                let found =
                    schema_errors(schema, &instance).map_err(|e| ApiError::input(e.to_string()))?;
                errors = form::errors_by_field(&found);
                if !errors.is_empty() {
                    break;
                }
            }
        }
    }
    let next = if going_back {
        step.saturating_sub(1)
    } else if errors.is_empty() {
        step + 1
    } else {
        step
    };
    show_step(&state, &template, next, &values, &errors).await
}

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

pub async fn tasks(State(state): State<Arc<AppState>>) -> Page {
    let (rows, total) = state
        .store
        .list_tasks(&TaskFilter {
            order: vec![(TaskOrderField::CreatedAt, true)],
            limit: Some(100),
            ..TaskFilter::default()
        })
        .await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|t| {
            let spec: Value = serde_json::from_str(&t.spec).unwrap_or(Value::Null);
            json!({
                "id": t.id,
                "href": format!("/create/tasks/{}", t.id),
                "template": spec.pointer("/templateInfo/entity/metadata/title")
                    .or_else(|| spec.pointer("/templateInfo/entity/metadata/name"))
                    .or_else(|| spec.pointer("/templateInfo/entityRef"))
                    .and_then(Value::as_str).unwrap_or(""),
                "status": t.status,
                "created_at": iso(t.created_at),
                "created_by": t.created_by,
            })
        })
        .collect();
    render(
        &state,
        "tasks.html",
        "tasks",
        json!({ "title": "Tasks", "items": items, "total": total }),
    )
}

pub async fn task(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Page {
    let Some(task) = state.store.task(&id).await? else {
        return Err(UiError(ApiError::not_found(format!(
            "Task with id {id} does not exist"
        ))));
    };
    let spec: Value = serde_json::from_str(&task.spec).unwrap_or(Value::Null);
    let events = state.store.task_events(&id, None).await?;
    let mut status_of: Map<String, Value> = Map::new();
    let mut log = Vec::new();
    let mut last_id = -1;
    let mut output = Value::Null;
    let mut failure = None;
    for e in &events {
        last_id = last_id.max(e.id);
        let body: Value = serde_json::from_str(&e.body).unwrap_or(Value::Null);
        if let (Some(step), Some(status)) = (
            body.get("stepId").and_then(Value::as_str),
            body.get("status"),
        ) {
            status_of.insert(step.into(), status.clone());
        }
        match e.event_type.as_str() {
            "log" => log.push(text(&body, "/message").to_string()),
            "completion" => {
                output = body.get("output").cloned().unwrap_or(Value::Null);
                if body.pointer("/error").is_some() || task.status == "failed" {
                    failure = Some(text(&body, "/message").to_string());
                }
            }
            _ => {}
        }
    }
    let steps: Vec<Value> = spec
        .get("steps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| {
            let sid = text(s, "/id");
            json!({
                "id": sid,
                "name": match text(s, "/name") { "" => sid, n => n },
                "status": status_of.get(sid).and_then(Value::as_str).unwrap_or("open"),
            })
        })
        .collect();
    // Output links: entity refs become catalog links when the entity exists.
    let link_specs: Vec<Value> = output
        .get("links")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let refs: Vec<String> = link_specs
        .iter()
        .filter_map(|l| {
            l.get("entityRef")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    let links = Links::resolve(&state.store, &refs).await?;
    let out_links: Vec<Value> = link_specs
        .iter()
        .filter_map(|l| {
            let title = text(l, "/title");
            if let Some(r) = l.get("entityRef").and_then(Value::as_str) {
                let parsed = view::parse_ref(r, "component", "default")?;
                let mut link = links.link(&parsed);
                if let (Some(o), false) = (link.as_object_mut(), title.is_empty()) {
                    o.insert("text".into(), json!(title));
                }
                return Some(link);
            }
            let url = text(l, "/url");
            let href = view::safe_url(url);
            Some(json!({ "text": if title.is_empty() { url } else { title }, "href": href, "hint": if href.is_none() { "not a web link" } else { "" } }))
        })
        .collect();
    let texts: Vec<Value> = output
        .get("text")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let finished = matches!(task.status.as_str(), "completed" | "failed" | "cancelled");
    render(
        &state,
        "task.html",
        "tasks",
        json!({
            "title": format!("Task {}", &task.id),
            "id": task.id,
            "status": task.status,
            "finished": finished,
            "template": spec.pointer("/templateInfo/entity/metadata/title")
                .or_else(|| spec.pointer("/templateInfo/entityRef"))
                .and_then(Value::as_str).unwrap_or(""),
            "created_at": iso(task.created_at),
            "created_by": task.created_by,
            "steps": steps,
            "log": log.join("\n"),
            "last_event": last_id,
            "links": out_links,
            "texts": texts,
            "failure": failure,
        }),
    )
}
