//! `/api/search/query`: one ranked list over the catalog and every entity's
//! built docs, in the shape of Backstage's search API.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use greenroom_model::refs::EntityRef;
use greenroom_store::{DocEntry, EntityQuery, FullTextFilter, Order, OrderField, Store};
use greenroom_techdocs::{DocsService, Triplet};
use serde_json::{Value, json};

use crate::AppState;
use crate::body::Params;
use crate::error::ApiError;

const PAGE: i64 = 25;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/query", get(query))
}

/// Indexes a published site when the index holds another version of it.
pub async fn index_site(store: &Store, docs: &DocsService, triplet: &Triplet) {
    let entity_ref = triplet.entity_ref();
    let pages = match docs.indexed_pages(triplet) {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(entity = %entity_ref, error = %e, "reading a docs site for the search index failed");
            return;
        }
    };
    let (etag, pages) = pages;
    if store
        .docs_index_etag(&entity_ref)
        .await
        .ok()
        .flatten()
        .as_deref()
        == Some(etag.as_str())
    {
        return;
    }
    let entries: Vec<DocEntry> = pages
        .into_iter()
        .map(|p| DocEntry {
            location: p.location,
            title: p.title,
            text: p.text,
        })
        .collect();
    if let Err(e) = store.replace_docs_index(&entity_ref, &etag, &entries).await {
        tracing::warn!(entity = %entity_ref, error = %e, "indexing docs failed");
    }
}

/// Indexes every published site that changed (sites CI published too).
pub async fn index_all(store: &Store, docs: &DocsService) {
    match docs.publisher().list() {
        Ok(sites) => {
            for t in sites {
                index_site(store, docs, &t).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "listing published docs failed"),
    }
}

fn entity_doc(e: &Value) -> Value {
    let kind = e.get("kind").and_then(Value::as_str).unwrap_or("");
    let ns = e
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = e
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    json!({
        "title": e.pointer("/metadata/title").or_else(|| e.pointer("/metadata/name")),
        "text": e.pointer("/metadata/description").and_then(Value::as_str).unwrap_or(""),
        "location": format!("/catalog/{ns}/{}/{name}", kind.to_lowercase()),
        "kind": kind,
        "namespace": ns,
        "name": name,
        "type": e.pointer("/spec/type"),
        "lifecycle": e.pointer("/spec/lifecycle"),
        "owner": e.pointer("/spec/owner"),
    })
}

/// How well an entity matches: its name, then its title, then the rest.
fn entity_tier(e: &Value, term: &str) -> u8 {
    let t = term.to_lowercase();
    let name = e
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase();
    let title = e
        .pointer("/metadata/title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase();
    if name == t || title == t {
        0
    } else if name.contains(&t) || title.contains(&t) {
        1
    } else {
        3
    }
}

async fn query(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(q.as_deref());
    let term = params.one("term").unwrap_or("").trim().to_string();
    let types: Vec<&str> = params
        .0
        .iter()
        .filter(|(k, _)| k == "types" || k.starts_with("types["))
        .map(|(_, v)| v.as_str())
        .collect();
    let kind_filter = params
        .0
        .iter()
        .find(|(k, _)| k == "filters[kind]")
        .map(|(_, v)| v.to_lowercase());
    let page: i64 = params
        .one("pageCursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
        .max(0);
    let out = search(&state, &term, &types, kind_filter.as_deref(), page).await?;
    Ok(json_response(&out))
}

/// One page of results over the catalog and every docs site, best first:
/// the body of `/api/search/query`, also what `/search` shows.
pub(crate) async fn search(
    state: &AppState,
    term: &str,
    types: &[&str],
    kind_filter: Option<&str>,
    page: i64,
) -> Result<Value, ApiError> {
    let term = term.trim().to_string();
    let want = |t: &str| types.is_empty() || types.contains(&t);
    let kind_filter = kind_filter.map(str::to_lowercase);
    if term.is_empty() {
        return Ok(json!({ "results": [], "numberOfResults": 0 }));
    }
    let mut ranked: Vec<(u8, f64, Value)> = Vec::new();
    if want("software-catalog") {
        let query = EntityQuery {
            filter: None,
            full_text: Some(FullTextFilter {
                term: term.clone(),
                fields: vec![
                    "metadata.name".into(),
                    "metadata.title".into(),
                    "metadata.description".into(),
                ],
            }),
            // In name order the store checks candidates one by one and stops
            // at the cap, instead of matching the term against every entity.
            order: Some(OrderField {
                field: "metadata.name".into(),
                order: Order::Asc,
            }),
        };
        let found = state
            .store
            .query_entities(Some(&query), None, 200, None, false)
            .await?;
        for raw in found.items {
            let e: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            let doc = entity_doc(&e);
            if kind_filter
                .as_deref()
                .is_some_and(|k| doc["kind"].as_str().unwrap_or("").to_lowercase() != k)
            {
                continue;
            }
            ranked.push((
                entity_tier(&e, &term),
                0.0,
                json!({ "type": "software-catalog", "document": doc }),
            ));
        }
    }
    if want("techdocs") {
        let (hits, _) = state.store.search_docs(&term, 200, 0).await?;
        // The entities behind the hits, read once for all of them.
        let mut refs: Vec<String> = hits.iter().map(|h| h.entity_ref.clone()).collect();
        refs.sort();
        refs.dedup();
        let entities = state.store.entities_by_refs(&refs, None).await?;
        let titles: std::collections::HashMap<&str, Value> = refs
            .iter()
            .zip(entities.iter())
            .filter_map(|(r, e)| {
                let e = e.as_ref()?;
                let t = e
                    .pointer("/metadata/title")
                    .or_else(|| e.pointer("/metadata/name"))?;
                Some((r.as_str(), t.clone()))
            })
            .collect();
        for h in hits {
            let Ok(r) = EntityRef::parse(&h.entity_ref, None, None) else {
                continue;
            };
            if kind_filter
                .as_deref()
                .is_some_and(|k| r.kind.to_lowercase() != k)
            {
                continue;
            }
            let entity_title = titles
                .get(h.entity_ref.as_str())
                .cloned()
                .unwrap_or_else(|| json!(r.name));
            let doc = json!({
                "title": h.title,
                "text": h.snippet,
                "location": format!("/docs/{}/{}/{}/{}", r.namespace, r.kind, r.name, h.location),
                "kind": r.kind,
                "namespace": r.namespace,
                "name": r.name,
                "entityTitle": entity_title,
                "path": h.location,
            });
            ranked.push((2, h.score, json!({ "type": "techdocs", "document": doc })));
        }
    }
    ranked.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal))
    });
    let total = ranked.len() as i64;
    let results: Vec<Value> = ranked
        .into_iter()
        .enumerate()
        .skip((page * PAGE) as usize)
        .take(PAGE as usize)
        .map(|(i, (_, _, mut r))| {
            if let Some(o) = r.as_object_mut() {
                o.insert("rank".into(), json!(i + 1));
            }
            r
        })
        .collect();
    let mut out = json!({ "results": results, "numberOfResults": total });
    if let Some(o) = out.as_object_mut() {
        if (page + 1) * PAGE < total {
            o.insert("nextPageCursor".into(), json!((page + 1).to_string()));
        }
        if page > 0 {
            o.insert("previousPageCursor".into(), json!((page - 1).to_string()));
        }
    }
    Ok(out)
}

fn json_response(value: &Value) -> Response {
    let mut r = (StatusCode::OK, value.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}
