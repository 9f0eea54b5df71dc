//! `/`: the portal's front page, rendered on the server from the store —
//! what the catalog holds, the templates to start from, and the way into
//! the APIs and docs.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use greenroom_model::query::{FieldOp, Predicate};
use greenroom_techdocs::markdown::escape_html as escape;
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;

pub async fn home(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let facets = state.store.facets(&["kind".to_string()], None).await?;
    let kinds: Vec<(String, i64)> = facets
        .first()
        .map(|f| {
            f.values
                .iter()
                .map(|v| (v.value.clone(), v.count))
                .collect()
        })
        .unwrap_or_default();
    let total: i64 = kinds.iter().map(|(_, n)| n).sum();
    let templates = state
        .store
        .query_entities(
            Some(&greenroom_store::EntityQuery {
                filter: Some(Predicate::Field {
                    key: "kind".into(),
                    op: FieldOp::Eq("template".into()),
                }),
                full_text: None,
                order: None,
            }),
            None,
            20,
            None,
            false,
        )
        .await?;
    let kind_rows: String = kinds
        .iter()
        .map(|(k, n)| {
            format!(
                "<li><a href=\"/api/catalog/entities/by-query?filter=kind={}\">{}</a> <span class=\"count\">{n}</span></li>",
                escape(&k.to_lowercase()),
                escape(k)
            )
        })
        .collect();
    let template_rows: String = templates
        .items
        .iter()
        .filter_map(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        .map(|t| {
            let name = t.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            let title = t.pointer("/metadata/title").and_then(Value::as_str).unwrap_or(name);
            let ns = t.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
            let description = t.pointer("/metadata/description").and_then(Value::as_str).unwrap_or("");
            format!(
                "<li><a href=\"/api/scaffolder/v2/templates/{}/template/{}/parameter-schema\">{}</a><p>{}</p></li>",
                escape(ns),
                escape(name),
                escape(title),
                escape(description)
            )
        })
        .collect();
    // Link to greenroom's docs only once they are built, never to a 404.
    let docs_built = state
        .docs
        .publisher()
        .has_docs(&greenroom_techdocs::Triplet::new(
            "default",
            "component",
            "greenroom",
        ))
        .unwrap_or(false);
    let docs_row = if docs_built {
        "<li><a href=\"/api/techdocs/static/docs/default/component/greenroom/index.html\">greenroom's own docs</a></li>"
    } else {
        "<li>greenroom's own docs: build them with <a href=\"/api/techdocs/sync/default/component/greenroom\"><code>/api/techdocs/sync/default/component/greenroom</code></a></li>"
    };
    let title = state
        .settings
        .raw
        .pointer("/app/title")
        .and_then(Value::as_str)
        .unwrap_or("greenroom");
    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
:root {{ color-scheme: light dark; --muted: #5b6478; --line: #dde2ea; --accent: #2557d6; }}
@media (prefers-color-scheme: dark) {{ :root {{ --muted: #a3acbd; --line: #2c3340; --accent: #7aa2ff; }} }}
body {{ font: 16px/1.6 system-ui, sans-serif; max-width: 60rem; margin: 0 auto; padding: 2rem 1.25rem; }}
a {{ color: var(--accent); }}
section {{ border-top: 1px solid var(--line); padding: 0.5rem 0 1rem; }}
ul {{ padding-left: 1.2rem; }}
.count {{ color: var(--muted); }}
form {{ display: flex; gap: 0.5rem; }}
input {{ flex: 1; padding: 0.4rem 0.6rem; font: inherit; }}
</style>
</head>
<body>
<header><h1>{title}</h1><p>The developer portal: {total} entities in the software catalog.</p></header>
<main>
<section aria-labelledby="search-h"><h2 id="search-h">Search</h2>
<form action="/api/search/query" method="get" role="search"><label for="term">Search the catalog and all docs</label><input id="term" name="term" type="search"><button type="submit">Search</button></form></section>
<section aria-labelledby="catalog-h"><h2 id="catalog-h">Catalog</h2><ul>{kind_rows}</ul></section>
<section aria-labelledby="create-h"><h2 id="create-h">Create something new</h2><ul>{template_rows}</ul></section>
<section aria-labelledby="docs-h"><h2 id="docs-h">Docs and APIs</h2><ul>
{docs_row}
<li><a href="/api/catalog/entities/by-query?limit=20">Catalog API</a>, <a href="/api/scaffolder/v2/actions">scaffolder actions</a>, <a href="/.backstage/health/v1/readiness">readiness</a>, <a href="/metrics">metrics</a></li>
</ul></section>
</main>
</body>
</html>
"#,
        title = escape(title),
    );
    let mut r = page.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(r)
}
