//! `/docs`: the entities with docs, and each site inside the portal with its
//! navigation, the page's table of contents and a way back to the entity.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use greenroom_model::query::Predicate;
use greenroom_model::refs::EntityRef;
use greenroom_store::{Cursor, EntityQuery, Order, OrderField};
use greenroom_techdocs::Triplet;
use greenroom_techdocs::markdown::sanitize;
use serde_json::{Value, json};

use super::view::{self, Links};
use super::{Page, UiError, render};
use crate::AppState;
use crate::error::ApiError;

const TECHDOCS_REF: &str = "metadata.annotations.backstage.io/techdocs-ref";

const PAGE_SIZE: i64 = 50;

pub async fn index(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Page {
    let params = crate::body::Params::parse(q.as_deref());
    let cursor = params.one("cursor").and_then(|c| Cursor::decode(c).ok());
    let query = EntityQuery {
        filter: Some(Predicate::exists(TECHDOCS_REF)),
        full_text: None,
        order: Some(OrderField {
            field: "metadata.name".into(),
            order: Order::Asc,
        }),
    };
    let page = state
        .store
        .query_entities(Some(&query), cursor.as_ref(), PAGE_SIZE, None, true)
        .await?;
    let page_link = |c: &Option<String>| {
        c.as_deref()
            .map(|c| format!("/docs?cursor={}", view::urlencode(c)))
    };
    let (next, prev) = (page_link(&page.next_cursor), page_link(&page.prev_cursor));
    let entities: Vec<Value> = view::entities_of(&page);
    let links = Links::resolve(&state.store, &view::row_refs(&entities)).await?;
    let rows: Vec<Value> = entities
        .iter()
        .map(|e| {
            let mut row = view::row(e, &links);
            let r = view::entity_ref_of(e);
            if let Some(o) = row.as_object_mut() {
                o.insert("docs_href".into(), json!(docs_href(&r, "")));
            }
            row
        })
        .collect();
    render(
        &state,
        "docs_index.html",
        "docs",
        json!({ "title": "Documentation", "rows": rows, "total": page.total_items, "next": next, "prev": prev }),
    )
}

pub fn docs_href(r: &EntityRef, path: &str) -> String {
    format!(
        "/docs/{}/{}/{}/{path}",
        view::urlencode(&r.namespace),
        view::urlencode(&r.kind.to_lowercase()),
        view::urlencode(&r.name)
    )
}

pub async fn site_root(
    state: State<Arc<AppState>>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
    uri: axum::http::Uri,
) -> Page {
    if !uri.path().ends_with('/') {
        // Relative links in pages resolve against the directory.
        return Ok(Redirect::permanent(&format!("{}/", uri.path())).into_response());
    }
    show(state, namespace, kind, name, String::new()).await
}

pub async fn page(
    state: State<Arc<AppState>>,
    Path((namespace, kind, name, path)): Path<(String, String, String, String)>,
) -> Page {
    show(state, namespace, kind, name, path).await
}

/// The part of a built page between two markers of its layout.
fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let to = from + html[from..].find(end)?;
    Some(&html[from..to])
}

async fn show(
    State(state): State<Arc<AppState>>,
    namespace: String,
    kind: String,
    name: String,
    path: String,
) -> Page {
    let me = EntityRef::new(&kind, &namespace, &name);
    let Some(entity) = state.store.entity_by_ref(&me.to_string()).await? else {
        return Err(UiError(ApiError::not_found(format!(
            "No entity named '{me}' in the catalog"
        ))));
    };
    let me = view::entity_ref_of(&entity);
    let triplet = Triplet::new(&me.namespace, &me.kind, &me.name);
    if path.split('/').any(|s| s == ".." || s == ".") || path.contains('\\') {
        return Err(UiError(ApiError::not_found(format!("No page {path}"))));
    }
    let last = path.rsplit('/').next().unwrap_or("");
    if last.contains('.') && !last.ends_with(".html") {
        // Images and other files of the site come from the docs API, at the
        // address it answers without a further redirect.
        let target = format!(
            "/api/techdocs/static/docs/{}/{}",
            triplet.storage_path(crate::techdocs::case_sensitive_paths(&state)),
            path
        );
        return Ok(Redirect::temporary(&target).into_response());
    }
    // Build (or rebuild) first when this portal builds docs itself.
    let (log, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let synced = state.docs.sync(&entity, &triplet, log).await;
    lines.close();
    let mut build_log = Vec::new();
    while let Ok(l) = lines.try_recv() {
        build_log.push(l);
    }
    if let Ok(true) = synced {
        crate::search::index_site(&state.store, &state.docs, &triplet).await;
    }
    let file = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else if path.ends_with(".html") {
        path.clone()
    } else {
        // `guide` → `guide/`, as mkdocs serves directory URLs.
        return Ok(Redirect::permanent(&format!("{}/", docs_href(&me, &path))).into_response());
    };
    let read = state
        .docs
        .publisher()
        .read(&triplet, &file)
        .map_err(|e| ApiError::new("Error", e.to_string()))?;
    let Some(bytes) = read else {
        let message = match &synced {
            Err(e) => format!("The docs of {me} could not be built: {e}"),
            Ok(_) if path.is_empty() => format!(
                "{me} has no published docs yet{}",
                if state.docs.local_builder() {
                    ""
                } else {
                    " (this portal shows what CI publishes)"
                }
            ),
            Ok(_) => format!("No page '{path}' in the docs of {me}"),
        };
        let mut response = render(
            &state,
            "docs_page.html",
            "docs",
            json!({
                "title": format!("Docs of {}", view::display_name(&entity)),
                "entity_name": view::display_name(&entity),
                "entity_href": view::entity_href(&me),
                "missing": message,
                "build_log": build_log,
            }),
        )?;
        *response.status_mut() = StatusCode::NOT_FOUND;
        return Ok(response);
    };
    let html = String::from_utf8_lossy(&bytes);
    let nav = between(
        &html,
        "<nav class=\"md-nav md-nav--primary\" aria-label=\"Site\">",
        "</nav>",
    );
    let content = between(
        &html,
        "<article class=\"md-content__inner md-typeset\">",
        "</article>\n<footer",
    );
    let toc = between(
        &html,
        "<nav class=\"md-nav md-nav--secondary\" aria-label=\"On this page\">",
        "</nav>",
    );
    let footer = between(&html, "<footer class=\"md-footer\">", "</footer>");
    let page_title = between(&html, "<title>", "</title>").unwrap_or("");
    let Some(content) = content else {
        // A site built by another tool (mkdocs itself): link to it as is.
        let target = format!(
            "/api/techdocs/static/docs/{}/{file}",
            triplet.storage_path(crate::techdocs::case_sensitive_paths(&state))
        );
        return Ok(Redirect::temporary(&target).into_response());
    };
    render(
        &state,
        "docs_page.html",
        "docs",
        json!({
            "title": html_unescape(page_title),
            "entity_name": view::display_name(&entity),
            "entity_href": view::entity_href(&me),
            "nav": nav.map(sanitize),
            "content": sanitize(content),
            "toc": toc.map(sanitize),
            "footer": footer.map(sanitize),
        }),
    )
}

/// The `<title>` of a built page is escaped HTML; the template escapes again.
fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
