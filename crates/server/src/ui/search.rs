//! `/search`: one box over the catalog and all docs, ranked, with result
//! type and kind filters.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use serde_json::{Value, json};

use super::{Page, render};
use crate::AppState;
use crate::body::Params;

const TYPES: &[(&str, &str)] = &[
    ("software-catalog", "Software catalog"),
    ("techdocs", "Documentation"),
];

/// Result texts are excerpts; whole descriptions belong on the entity page.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

pub async fn page(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Page {
    let params = Params::parse(q.as_deref());
    let term = params.one("term").unwrap_or("").trim().to_string();
    let ty = params.one("type").unwrap_or("").to_string();
    let kind = params.one("kind").unwrap_or("").to_string();
    let page: i64 = params
        .one("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
        .max(0);
    let types: Vec<&str> = TYPES.iter().map(|(t, _)| *t).filter(|t| *t == ty).collect();
    let found = crate::search::search(
        &state,
        &term,
        &types,
        (!kind.is_empty()).then_some(kind.as_str()),
        page,
    )
    .await?;
    let results: Vec<Value> = found
        .get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            let d = &r["document"];
            let is_docs = r["type"] == "techdocs";
            json!({
                "type": if is_docs { "Documentation" } else { "Catalog" },
                "title": d["title"],
                "text": clip(d["text"].as_str().unwrap_or(""), 300),
                "href": d["location"],
                "kind": d["kind"],
                "entity_title": d["entityTitle"],
                "entity_type": d["type"],
                "rank": r["rank"],
            })
        })
        .collect();
    let link = |p: i64| {
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("term", &term)
            .append_pair("type", &ty)
            .append_pair("kind", &kind)
            .append_pair("page", &p.to_string())
            .finish();
        format!("/search?{qs}")
    };
    let kinds = state.store.facets(&["kind".to_string()], None).await?;
    let kind_options: Vec<Value> = kinds
        .first()
        .map(|f| f.values.iter().map(|v| json!({ "value": v.value.to_lowercase(), "label": v.value, "selected": v.value.eq_ignore_ascii_case(&kind) })).collect())
        .unwrap_or_default();
    render(
        &state,
        "search.html",
        "search",
        json!({
            "title": if term.is_empty() { "Search".to_string() } else { format!("Search: {term}") },
            "term": term,
            "types": TYPES.iter().map(|(v, l)| json!({ "value": v, "label": l, "selected": *v == ty })).collect::<Vec<_>>(),
            "kinds": kind_options,
            "results": results,
            "total": found["numberOfResults"],
            "next": found.get("nextPageCursor").map(|_| link(page + 1)),
            "prev": found.get("previousPageCursor").map(|_| link(page - 1)),
        }),
    )
}
