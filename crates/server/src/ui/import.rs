//! `/catalog-import`: paste a URL, see what `analyze-location` and a dry run
//! of the registration find, then register it (the browser posts to
//! `/api/catalog/locations`, behind the write guard).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use serde_json::{Value, json};

use super::view::{self, Links};
use super::{Page, render};
use crate::AppState;
use crate::body::Params;

pub async fn page(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Page {
    let params = Params::parse(q.as_deref());
    let url = params.one("url").unwrap_or("").trim().to_string();
    let mut ctx = json!({ "title": "Register an existing component", "url": url });
    if url.is_empty() {
        return render(&state, "import.html", "import", ctx);
    }
    let mut analysis_error = None;
    let mut target = None;
    let mut generated = Vec::new();
    match crate::catalog::analyze(&state, "url", &url, "catalog-info.yaml").await {
        Ok(found) => {
            target = found
                .pointer("/existingEntityFiles/0/location/target")
                .and_then(Value::as_str)
                .map(str::to_string);
            if target.is_none() {
                generated = found
                    .get("generateEntities")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
            }
        }
        Err(e) => analysis_error = Some(e.message),
    }
    let mut entities = Vec::new();
    let mut dry_run_error = None;
    let mut exists = false;
    if let Some(t) = &target {
        match crate::catalog::register_location(
            &state.store,
            &state.engine,
            &state.settings,
            "url",
            t,
            None,
            true,
            None,
        )
        .await
        {
            Ok(out) => {
                exists = out.get("exists").and_then(Value::as_bool).unwrap_or(false);
                let list: Vec<Value> = out
                    .get("entities")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut refs = view::row_refs(&list);
                refs.extend(list.iter().map(|e| view::entity_ref_of(e).to_string()));
                let links = Links::resolve(&state.store, &refs).await?;
                // What the dry run found is not in the catalog yet: no links
                // to pages that do not exist, until it is registered.
                entities = list
                    .iter()
                    .map(|e| {
                        let mut row = view::row(e, &links);
                        let known = links.entity(&view::entity_ref_of(e).to_string()).is_some();
                        if let (false, Some(o)) = (known, row.as_object_mut()) {
                            o.remove("href");
                            o.insert("hint".into(), json!("new"));
                        }
                        row
                    })
                    .collect();
            }
            Err(e) => dry_run_error = Some(e.message),
        }
    }
    if let Some(o) = ctx.as_object_mut() {
        o.insert("analyzed".into(), json!(true));
        o.insert("target".into(), json!(target));
        o.insert("entities".into(), json!(entities));
        o.insert("exists".into(), json!(exists));
        o.insert("analysis_error".into(), json!(analysis_error));
        o.insert("dry_run_error".into(), json!(dry_run_error));
        o.insert(
            "generated".into(),
            json!(
                generated
                    .iter()
                    .map(
                        |g| serde_saphyr::to_string(g.get("entity").unwrap_or(&Value::Null))
                            .unwrap_or_default()
                    )
                    .collect::<Vec<_>>()
            ),
        );
    }
    render(&state, "import.html", "import", ctx)
}
