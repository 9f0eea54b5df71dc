//! Accessors over the entity envelope.
//!
//! Entities stay `serde_json::Value` maps so that unknown fields survive a round
//! trip byte-for-byte in meaning (Backstage allows extra spec and metadata keys).

use serde_json::{Map, Value};

use crate::refs::EntityRef;

pub type Entity = Value;

/// The status item type the catalog uses for its own processing errors.
pub const PROCESSING_STATUS_TYPE: &str = "backstage.io/catalog-processing";

pub const ANNOTATION_MANAGED_BY_LOCATION: &str = "backstage.io/managed-by-location";
pub const ANNOTATION_MANAGED_BY_ORIGIN_LOCATION: &str = "backstage.io/managed-by-origin-location";
pub const ANNOTATION_ORPHAN: &str = "backstage.io/orphan";
pub const ANNOTATION_SOURCE_LOCATION: &str = "backstage.io/source-location";
pub const ANNOTATION_VIEW_URL: &str = "backstage.io/view-url";
pub const ANNOTATION_EDIT_URL: &str = "backstage.io/edit-url";
pub const ANNOTATION_TECHDOCS_REF: &str = "backstage.io/techdocs-ref";

pub fn kind(entity: &Value) -> Option<&str> {
    entity.get("kind").and_then(Value::as_str)
}

pub fn api_version(entity: &Value) -> Option<&str> {
    entity.get("apiVersion").and_then(Value::as_str)
}

pub fn name(entity: &Value) -> Option<&str> {
    entity.pointer("/metadata/name").and_then(Value::as_str)
}

pub fn namespace(entity: &Value) -> &str {
    entity
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(crate::refs::DEFAULT_NAMESPACE)
}

/// The identity of an entity, if its envelope carries kind and name strings.
pub fn entity_ref(entity: &Value) -> Option<EntityRef> {
    Some(EntityRef::new(
        kind(entity)?,
        namespace(entity),
        name(entity)?,
    ))
}

pub fn annotation<'a>(entity: &'a Value, key: &str) -> Option<&'a str> {
    entity
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

pub fn metadata_mut(entity: &mut Value) -> Option<&mut Map<String, Value>> {
    entity.get_mut("metadata").and_then(Value::as_object_mut)
}

/// Sets an annotation, creating the map when absent. No-op on a non-object metadata.
pub fn set_annotation(entity: &mut Value, key: &str, value: &str) {
    if let Some(meta) = metadata_mut(entity) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(map) = annotations.as_object_mut() {
            map.insert(key.to_string(), Value::String(value.to_string()));
        }
    }
}

/// Sets an annotation only when the author did not (authored values win).
pub fn set_annotation_if_absent(entity: &mut Value, key: &str, value: &str) {
    if annotation(entity, key).is_none() {
        set_annotation(entity, key, value);
    }
}

/// Builds a status item the way the catalog records processing errors.
pub fn processing_status_item(error_name: &str, message: &str) -> Value {
    serde_json::json!({
        "type": PROCESSING_STATUS_TYPE,
        "level": "error",
        "message": format!("{error_name}: {message}"),
        "error": { "name": error_name, "message": message },
    })
}
