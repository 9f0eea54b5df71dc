//! `/` (the front page), `/catalog` (the entity table with filters, counts
//! per kind, sorting and cursor paging) and `/catalog-health`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use greenroom_model::query::Predicate;
use greenroom_store::{Cursor, EntityQuery, FullTextFilter, Order, OrderField};
use serde_json::{Value, json};

use super::view::{self, Links};
use super::{Page, render};
use crate::AppState;
use crate::body::Params;

const PAGE_SIZE: i64 = 25;

/// The filters of the table, in the order of the filter bar: the query key,
/// the catalog field it filters on, and its label.
const FILTERS: &[(&str, &str, &str)] = &[
    ("type", "spec.type", "Type"),
    // The relation, not spec.owner: `team-a` and `group:default/team-a`
    // are one owner.
    ("owner", "relations.ownedBy", "Owner"),
    ("lifecycle", "spec.lifecycle", "Lifecycle"),
    ("tag", "metadata.tags", "Tag"),
    ("namespace", "metadata.namespace", "Namespace"),
];

/// Sort keys of the table and the field each orders by.
const SORTS: &[(&str, &str, &str)] = &[
    ("name", "metadata.name", "Name"),
    ("type", "spec.type", "Type"),
    // The relation, not spec.owner: `team-a` and `group:default/team-a`
    // are one owner.
    ("owner", "relations.ownedBy", "Owner"),
    ("lifecycle", "spec.lifecycle", "Lifecycle"),
];

/// Options offered per filter; rarer values can still be typed into the URL.
const MAX_OPTIONS: usize = 200;

pub async fn home(State(state): State<Arc<AppState>>) -> Page {
    let kinds = kind_counts(&state).await?;
    let total: i64 = kinds.iter().filter_map(|k| k["count"].as_i64()).sum();
    let templates = state
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
            6,
            None,
            false,
        )
        .await?;
    let templates: Vec<Value> = view::entities_of(&templates)
        .into_iter()
        .map(|t| super::create::card(&t))
        .collect();
    let errors = state.store.processing_error_count().await?;
    render(
        &state,
        "home.html",
        "home",
        json!({
            "title": "Home",
            "kinds": kinds,
            "total": total,
            "templates": templates,
            "error_count": errors,
        }),
    )
}

async fn kind_counts(state: &AppState) -> Result<Vec<Value>, super::UiError> {
    let facets = state.store.facets(&["kind".to_string()], None).await?;
    Ok(facets
        .first()
        .map(|f| {
            f.values
                .iter()
                .map(
                    |v| json!({ "kind": v.value, "key": v.value.to_lowercase(), "count": v.count }),
                )
                .collect()
        })
        .unwrap_or_default())
}

pub async fn list(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Page {
    let params = Params::parse(q.as_deref());
    // Like Backstage, the table opens on components.
    let kind = params.one("kind").unwrap_or("component").to_lowercase();
    let text = params.one("q").unwrap_or("").trim().to_string();
    let sort = params.one("sort").unwrap_or("name");
    let (sort_key, descending) = match sort.strip_prefix('-') {
        Some(k) => (k, true),
        None => (sort, false),
    };
    let sort_field = SORTS
        .iter()
        .find(|(k, _, _)| *k == sort_key)
        .map_or("metadata.name", |(_, f, _)| *f);

    let mut all = Vec::new();
    if !kind.is_empty() && kind != "all" {
        all.push(Predicate::eq("kind", &kind));
    }
    let kind_filter = (!all.is_empty()).then(|| Predicate::All(all.clone()));
    for (key, field, _) in FILTERS {
        if let Some(v) = params.one(key).filter(|v| !v.is_empty()) {
            all.push(Predicate::eq(field, v));
        }
    }
    let query = EntityQuery {
        filter: (!all.is_empty()).then_some(Predicate::All(all)),
        full_text: (!text.is_empty()).then(|| FullTextFilter {
            term: text.clone(),
            fields: vec![
                "metadata.name".into(),
                "metadata.title".into(),
                "metadata.description".into(),
                "spec.owner".into(),
            ],
        }),
        order: Some(OrderField {
            field: sort_field.into(),
            order: if descending { Order::Desc } else { Order::Asc },
        }),
    };
    // The cursor carries the query it pages through (the URL's filters
    // stay in the URL only to fill in the filter bar); a bad one starts over.
    let cursor = params.one("cursor").and_then(|c| Cursor::decode(c).ok());
    let page = state
        .store
        .query_entities(Some(&query), cursor.as_ref(), PAGE_SIZE, None, true)
        .await?;
    let entities: Vec<Value> = view::entities_of(&page);
    let links = Links::resolve(&state.store, &view::row_refs(&entities)).await?;
    let rows: Vec<Value> = entities.iter().map(|e| view::row(e, &links)).collect();

    let facet_names: Vec<String> = FILTERS.iter().map(|(_, f, _)| f.to_string()).collect();
    let facets = state
        .store
        .facets(&facet_names, kind_filter.as_ref())
        .await?;
    let filters: Vec<Value> = FILTERS
        .iter()
        .zip(facets)
        .map(|((key, _, label), facet)| {
            let current = params.one(key).unwrap_or("");
            let mut values = facet.values;
            values.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
            values.truncate(MAX_OPTIONS);
            values.sort_by_key(|v| v.value.to_lowercase());
            let mut options: Vec<Value> = values
                .iter()
                .map(|v| json!({ "value": v.value, "count": v.count, "selected": v.value.eq_ignore_ascii_case(current) }))
                .collect();
            if !current.is_empty() && !options.iter().any(|o| o["selected"] == true) {
                options.push(json!({ "value": current, "count": 0, "selected": true }));
            }
            json!({ "key": key, "label": label, "options": options })
        })
        .collect();

    // The URL of this view with some parameters replaced.
    let base: Vec<(String, String)> = params
        .0
        .iter()
        .filter(|(k, _)| k != "cursor")
        .cloned()
        .collect();
    let with = |changes: &[(&str, Option<&str>)]| -> String {
        let mut pairs: Vec<(String, String)> = base
            .iter()
            .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
            .cloned()
            .collect();
        for (k, v) in changes {
            if let Some(v) = v {
                pairs.push(((*k).into(), (*v).into()));
            }
        }
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        if qs.is_empty() {
            "/catalog".into()
        } else {
            format!("/catalog?{qs}")
        }
    };
    let sorts: Vec<Value> = SORTS
        .iter()
        .map(|(key, _, label)| {
            let active = *key == sort_key;
            let next = if active && !descending {
                format!("-{key}")
            } else {
                (*key).to_string()
            };
            json!({
                "key": key,
                "label": label,
                "href": with(&[("sort", Some(&next))]),
                "active": active,
                "descending": active && descending,
            })
        })
        .collect();
    let kinds = kind_counts(&state).await?;
    let kind_links: Vec<Value> = kinds
        .iter()
        .map(|k| {
            let key = k["key"].as_str().unwrap_or("");
            json!({
                "kind": k["kind"],
                "count": k["count"],
                "href": with(&[("kind", Some(key)), ("type", None), ("sort", None)]),
                "active": key == kind,
            })
        })
        .collect();
    let total_all: i64 = kinds.iter().filter_map(|k| k["count"].as_i64()).sum();
    let next = page
        .next_cursor
        .as_deref()
        .map(|c| with(&[("cursor", Some(c))]));
    let prev = page
        .prev_cursor
        .as_deref()
        .map(|c| with(&[("cursor", Some(c))]));
    let kind_label = kinds
        .iter()
        .find(|k| k["key"] == kind.as_str())
        .and_then(|k| k["kind"].as_str())
        .unwrap_or(if kind == "all" || kind.is_empty() {
            "All"
        } else {
            &kind
        })
        .to_string();
    render(
        &state,
        "catalog.html",
        "catalog",
        json!({
            "title": format!("Catalog: {kind_label}"),
            "kind": kind,
            "kind_label": kind_label,
            "kinds": kind_links,
            "all_href": with(&[("kind", Some("all")), ("type", None)]),
            "total_all": total_all,
            "q": text,
            "sort": sort,
            "sorts": sorts,
            "filters": filters,
            "rows": rows,
            "total": page.total_items,
            "next": next,
            "prev": prev,
            "show_kind": kind == "all" || kind.is_empty(),
        }),
    )
}

/// Entities listed on the health view; the count covers the rest.
const SHOWN_ERRORS: i64 = 500;

/// Every entity that failed to process, with its errors, in one list.
pub async fn health(State(state): State<Arc<AppState>>) -> Page {
    let total = state.store.processing_error_count().await?;
    let rows = state.store.first_processing_errors(SHOWN_ERRORS).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let href = r
                .has_final_entity
                .then(|| view::parse_ref(&r.entity_ref, "component", "default"))
                .flatten()
                .map(|e| view::entity_href(&e));
            json!({
                "ref": r.entity_ref,
                "href": href,
                "location": r.location_key,
                "errors": r.errors.iter().map(|e| json!({ "name": e.name, "message": e.message })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let locations = state.store.list_locations().await?.len();
    render(
        &state,
        "health.html",
        "health",
        json!({
            "title": "Catalog health",
            "items": items,
            "total": total,
            "shown": items.len(),
            "locations": locations,
        }),
    )
}
