//! What the pages show of an entity, and links that always resolve: a ref
//! becomes a link only when the catalog holds its entity.

use std::collections::HashMap;

use greenroom_model::refs::{EntityRef, is_javascript_url};
use greenroom_store::Store;
use serde_json::{Value, json};

use crate::error::ApiError;

/// A string at `pointer`, or "" when absent or not a string.
pub fn text<'a>(e: &'a Value, pointer: &str) -> &'a str {
    e.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Only http(s) and mailto URLs (and paths of this portal) become `href`s;
/// anything else from a descriptor (a `javascript:` URL) is shown as text.
pub fn safe_url(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.to_lowercase();
    let web = lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("mailto:");
    let local = url.starts_with('/') && !url.starts_with("//");
    ((web || local) && !is_javascript_url(url)).then(|| url.to_string())
}

/// The page of an entity in the UI.
pub fn entity_href(r: &EntityRef) -> String {
    format!(
        "/catalog/{}/{}/{}",
        urlencode(&r.namespace),
        urlencode(&r.kind.to_lowercase()),
        urlencode(&r.name)
    )
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn entity_ref_of(e: &Value) -> EntityRef {
    EntityRef::new(
        text(e, "/kind"),
        match text(e, "/metadata/namespace") {
            "" => "default",
            ns => ns,
        },
        text(e, "/metadata/name"),
    )
}

/// Refs resolved against the catalog in one query.
pub struct Links {
    found: HashMap<String, Value>,
}

impl Links {
    /// Looks up every ref in `refs` (full refs, any case).
    pub async fn resolve(store: &Store, refs: &[String]) -> Result<Self, ApiError> {
        let mut unique: Vec<String> = refs.iter().map(|r| r.to_lowercase()).collect();
        unique.sort();
        unique.dedup();
        let entities = store.entities_by_refs(&unique, None).await?;
        let found = unique
            .into_iter()
            .zip(entities)
            .filter_map(|(r, e)| Some((r, e?)))
            .collect();
        Ok(Links { found })
    }

    /// No lookups: every ref renders as text.
    pub fn empty() -> Self {
        Links {
            found: HashMap::new(),
        }
    }

    pub fn entity(&self, full_ref: &str) -> Option<&Value> {
        self.found.get(&full_ref.to_lowercase())
    }

    /// `{text, href?, hint?}`: a link when the entity exists, otherwise the
    /// ref as plain text and why it is not a link.
    pub fn link(&self, r: &EntityRef) -> Value {
        let full = r.to_string();
        match self.entity(&full) {
            Some(e) => json!({
                "text": display_name(e),
                "href": entity_href(r),
                "ref": full,
            }),
            None => json!({
                "text": full,
                "ref": full,
                "hint": "not in the catalog",
            }),
        }
    }
}

/// A ref as written in a spec field (`team-a`, `group:team-a`), made full.
pub fn parse_ref(raw: &str, default_kind: &str, default_namespace: &str) -> Option<EntityRef> {
    EntityRef::parse(raw, Some(default_kind), Some(default_namespace)).ok()
}

pub fn display_name(e: &Value) -> String {
    let title = text(e, "/metadata/title");
    if title.is_empty() {
        text(e, "/metadata/name").to_string()
    } else {
        title.to_string()
    }
}

/// The spec fields that point at other entities, with their default kinds.
pub const REF_FIELDS: &[(&str, &str, &str)] = &[
    ("owner", "/spec/owner", "group"),
    ("system", "/spec/system", "system"),
    ("domain", "/spec/domain", "domain"),
    ("parent", "/spec/parent", "group"),
    ("subcomponentOf", "/spec/subcomponentOf", "component"),
];

/// The refs of `e`'s ref fields, for resolving a page's links at once.
pub fn ref_fields(e: &Value) -> Vec<(&'static str, EntityRef)> {
    let ns = entity_ref_of(e).namespace;
    REF_FIELDS
        .iter()
        .filter_map(|(label, pointer, kind)| {
            let raw = e.pointer(pointer)?.as_str()?;
            Some((*label, parse_ref(raw, kind, &ns)?))
        })
        .collect()
}

/// A table row for an entity: what the catalog list and relation tables show.
pub fn row(e: &Value, links: &Links) -> Value {
    let r = entity_ref_of(e);
    let mut fields = serde_json::Map::new();
    for (label, target) in ref_fields(e) {
        fields.insert(label.into(), links.link(&target));
    }
    json!({
        "ref": r.to_string(),
        "href": entity_href(&r),
        "name": display_name(e),
        "kind": text(e, "/kind"),
        "namespace": r.namespace,
        "type": text(e, "/spec/type"),
        "lifecycle": text(e, "/spec/lifecycle"),
        "description": text(e, "/metadata/description"),
        "tags": e.pointer("/metadata/tags").cloned().unwrap_or(json!([])),
        "refs": fields,
    })
}

/// Every ref that `row` would link, for one `Links::resolve` per page.
pub fn row_refs(entities: &[Value]) -> Vec<String> {
    entities
        .iter()
        .flat_map(ref_fields)
        .map(|(_, r)| r.to_string())
        .collect()
}

/// The entities of a store page, parsed (the store hands out raw JSON).
pub fn entities_of(page: &greenroom_store::EntitiesPage) -> Vec<Value> {
    page.items
        .iter()
        .filter_map(|raw| serde_json::from_str(raw.get()).ok())
        .collect()
}
