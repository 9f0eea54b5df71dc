//! `/catalog/:namespace/:kind/:name`: an entity's header, About card,
//! relation tables and graph, processing errors, API definition and YAML.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use greenroom_model::entity::{ANNOTATION_MANAGED_BY_ORIGIN_LOCATION, ANNOTATION_ORPHAN};
use greenroom_model::refs::EntityRef;
use serde_json::{Value, json};

use super::graph::{self, Node};
use super::view::{self, Links, safe_url, text};
use super::{Page, UiError, render};
use crate::AppState;
use crate::body::Params;
use crate::error::ApiError;

/// Relation types in the order the tables appear, with their headings.
/// `hasPart` is split by the kind of the part (a system's components, APIs…).
const RELATIONS: &[(&str, &str)] = &[
    ("providesApi", "Provided APIs"),
    ("consumesApi", "Consumed APIs"),
    ("apiProvidedBy", "Providers"),
    ("apiConsumedBy", "Consumers"),
    ("dependsOn", "Depends on"),
    ("dependencyOf", "Dependents"),
    ("hasPart", "Has part"),
    ("partOf", "Part of"),
    ("hasMember", "Members"),
    ("memberOf", "Groups"),
    ("parentOf", "Child groups"),
    ("childOf", "Parent group"),
    ("ownerOf", "Owns"),
];

/// Rows per relation table (and lookups per relation type).
const MAX_ROWS: usize = 50;

fn has_part_heading(kind: &str, part_kind: &str) -> String {
    match (
        kind.to_lowercase().as_str(),
        part_kind.to_lowercase().as_str(),
    ) {
        ("component", "component") => "Subcomponents".into(),
        (_, "component") => "Components".into(),
        (_, "api") => "APIs".into(),
        (_, "resource") => "Resources".into(),
        (_, "system") => "Systems".into(),
        (_, other) => format!("Parts ({other})"),
    }
}

/// `url:https://…` (Backstage's source-location form) → the URL.
fn location_url(value: &str) -> Option<String> {
    safe_url(value.strip_prefix("url:").unwrap_or(value))
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
) -> Page {
    let params = Params::parse(q.as_deref());
    let me = EntityRef::new(&kind, &namespace, &name);
    let Some(entity) = state.store.entity_by_ref(&me.to_string()).await? else {
        return Err(UiError(ApiError::not_found(format!(
            "No entity named '{me}' in the catalog"
        ))));
    };
    let me = view::entity_ref_of(&entity);
    let relations: Vec<(String, String)> = entity
        .get("relations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r.get("type")?.as_str()?.to_string(),
                r.get("targetRef")?.as_str()?.to_string(),
            ))
        })
        .collect();
    // A big group owns thousands of entities: each relation lists (and
    // looks up) its first MAX_ROWS targets and says how many there are.
    let mut per_type: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let relations: Vec<(String, String, bool)> = relations
        .into_iter()
        .map(|(t, target)| {
            let n = per_type
                .entry(
                    RELATIONS
                        .iter()
                        .find(|(r, _)| *r == t)
                        .map_or("", |(r, _)| r),
                )
                .or_default();
            *n += 1;
            let shown = *n <= MAX_ROWS;
            (t, target, shown)
        })
        .collect();
    let mut wanted: Vec<String> = relations
        .iter()
        .filter(|(_, _, shown)| *shown)
        .map(|(_, t, _)| t.clone())
        .collect();
    wanted.extend(
        view::ref_fields(&entity)
            .into_iter()
            .map(|(_, r)| r.to_string()),
    );
    let links = Links::resolve(&state.store, &wanted).await?;

    let mut tables: Vec<(String, Vec<Value>, usize)> = Vec::new();
    let mut nodes = Vec::new();
    for (rel_type, heading) in RELATIONS {
        for (t, target, shown) in relations.iter().filter(|(t, _, _)| t == rel_type) {
            let Some(target_ref) = view::parse_ref(target, "component", "default") else {
                continue;
            };
            let heading = if *rel_type == "hasPart" {
                has_part_heading(&me.kind, &target_ref.kind)
            } else {
                (*heading).to_string()
            };
            if !shown {
                if let Some((_, _, hidden)) = tables.iter_mut().find(|(h, _, _)| *h == heading) {
                    *hidden += 1;
                }
                continue;
            }
            let found = links.entity(target);
            let row = match found {
                Some(e) => {
                    let mut row = view::row(e, &Links::empty());
                    if let Some(o) = row.as_object_mut() {
                        o.remove("refs");
                    }
                    row
                }
                None => json!({
                    "ref": target, "name": target_ref.name, "kind": target_ref.kind,
                    "hint": "not in the catalog", "tags": [],
                }),
            };
            nodes.push(Node {
                label: found.map_or(target_ref.name.clone(), view::display_name),
                kind: found
                    .and_then(|e| e.get("kind").and_then(Value::as_str))
                    .unwrap_or(&target_ref.kind)
                    .to_string(),
                href: found.map(|_| view::entity_href(&target_ref)),
                relation: t.clone(),
            });
            match tables.iter_mut().find(|(h, _, _)| *h == heading) {
                Some((_, rows, _)) => rows.push(row),
                None => tables.push((heading, vec![row], 0)),
            }
        }
    }
    let owner_filter = format!(
        "/catalog?kind=all&owner={}",
        view::urlencode(&format!(
            "{}:{}/{}",
            me.kind.to_lowercase(),
            me.namespace,
            me.name
        ))
    );
    let tables: Vec<Value> = tables
        .into_iter()
        .map(|(heading, rows, hidden)| {
            let more = (hidden > 0).then(|| {
                json!({
                    "count": hidden,
                    "total": rows.len() + hidden,
                    "href": (heading == "Owns").then(|| owner_filter.clone()),
                })
            });
            json!({ "heading": heading, "rows": rows, "more": more })
        })
        .collect();

    let annotations = entity
        .pointer("/metadata/annotations")
        .and_then(Value::as_object);
    let annotation = |k: &str| {
        annotations
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let mut about_links: Vec<Value> = Vec::new();
    for (label, key) in [
        ("View source", "backstage.io/source-location"),
        ("View", "backstage.io/view-url"),
        ("Edit", "backstage.io/edit-url"),
    ] {
        let v = annotation(key);
        if !v.is_empty() {
            about_links.push(match location_url(v) {
                Some(href) => json!({ "title": label, "href": href }),
                None => json!({ "title": label, "text": v }),
            });
        }
    }
    for l in entity
        .pointer("/metadata/links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let url = text(l, "/url");
        let title = match text(l, "/title") {
            "" => url,
            t => t,
        };
        about_links.push(match safe_url(url) {
            Some(href) => json!({ "title": title, "href": href }),
            None => json!({ "title": title, "text": url }),
        });
    }
    let mut fields = serde_json::Map::new();
    for (label, target) in view::ref_fields(&entity) {
        fields.insert(label.into(), links.link(&target));
    }
    let has_docs = !annotation("backstage.io/techdocs-ref").is_empty();
    let docs_href = format!(
        "/docs/{}/{}/{}/",
        view::urlencode(&me.namespace),
        view::urlencode(&me.kind.to_lowercase()),
        view::urlencode(&me.name)
    );

    // Backstage's "unregister": the location registered for this entity
    // (not one from the configuration), or the entity itself once orphaned.
    let origin = annotation(ANNOTATION_MANAGED_BY_ORIGIN_LOCATION);
    let registered = match origin.split_once(':') {
        Some((kind, target)) => state.store.location_by_target(kind, target).await?,
        None => None,
    };
    let unregister =
        registered.map(|l| json!({ "id": l.id, "location": format!("{}:{}", l.kind, l.target) }));
    let orphan_uid = (annotation(ANNOTATION_ORPHAN) == "true")
        .then(|| text(&entity, "/metadata/uid").to_string())
        .filter(|u| !u.is_empty());

    let is_api = me.kind.eq_ignore_ascii_case("api");
    let tab = match params.one("tab") {
        Some("yaml") => "yaml",
        Some("definition") if is_api => "definition",
        _ => "overview",
    };
    let mut ctx = json!({
        "title": view::display_name(&entity),
        "entity_ref": me.to_string(),
        "kind": text(&entity, "/kind"),
        "namespace": me.namespace,
        "href": view::entity_href(&me),
        "description": text(&entity, "/metadata/description"),
        "type": text(&entity, "/spec/type"),
        "lifecycle": text(&entity, "/spec/lifecycle"),
        "tags": entity.pointer("/metadata/tags").cloned().unwrap_or(json!([])),
        "refs": fields,
        "about_links": about_links,
        "has_docs": has_docs,
        "docs_href": docs_href,
        "is_api": is_api,
        "tab": tab,
        "tables": tables,
        "profile": entity.pointer("/spec/profile").cloned().unwrap_or(Value::Null),
        "unregister": unregister,
        "orphan_uid": orphan_uid,
    });
    let o = ctx
        .as_object_mut()
        .ok_or_else(|| ApiError::new("Error", "context"))?;
    match tab {
        "yaml" => {
            let yaml = serde_saphyr::to_string(&entity)
                .map_err(|e| ApiError::new("Error", format!("YAML: {e}")))?;
            o.insert("yaml".into(), json!(yaml));
        }
        "definition" => {
            let definition = text(&entity, "/spec/definition");
            let api_type = text(&entity, "/spec/type").to_lowercase();
            let openapi = matches!(api_type.as_str(), "openapi" | "swagger")
                .then(|| super::openapi::view(definition))
                .flatten();
            match openapi {
                Some(v) => {
                    o.insert("openapi".into(), v);
                }
                None => {
                    let lang = match api_type.as_str() {
                        "asyncapi" | "openapi" | "swagger" => "yaml",
                        "grpc" => "protobuf",
                        "graphql" => "graphql",
                        _ => "text",
                    };
                    o.insert(
                        "source_html".into(),
                        json!(greenroom_techdocs::markdown::highlight(definition, lang)),
                    );
                }
            }
        }
        _ => {
            let errors = state
                .store
                .processing_errors_of(&me.to_string())
                .await?
                .into_iter()
                .flat_map(|r| r.errors)
                .map(|e| json!({ "name": e.name, "message": e.message }))
                .collect::<Vec<_>>();
            o.insert("errors".into(), json!(errors));
            if let Some(svg) = graph::render(&view::display_name(&entity), &me.kind, &nodes) {
                o.insert("graph".into(), json!(svg));
            }
        }
    }
    render(&state, "entity.html", "catalog", ctx)
}
