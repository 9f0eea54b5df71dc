//! The search index rows of an entity (Backstage §3.10): every leaf path with
//! its lower-cased value, which is what filters, facets and ordering query.

use std::collections::HashSet;

use serde_json::Value;

/// Longer keys are dropped and longer values are kept as NULL ("exists" only).
pub const MAX_INDEXED_LENGTH: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchRow {
    pub key: String,
    /// Lower-cased value; `None` when the value is too long to index.
    pub value: Option<String>,
    /// The value as authored, for facets.
    pub original_value: Option<String>,
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

struct Collector {
    rows: Vec<SearchRow>,
    seen: HashSet<(String, Option<String>)>,
}

impl Collector {
    fn push(&mut self, key: &str, original: Option<String>) {
        let key = key.to_lowercase();
        if key.len() > MAX_INDEXED_LENGTH {
            return;
        }
        let original = original.filter(|v| v.len() <= MAX_INDEXED_LENGTH);
        let value = original.as_ref().map(|v| v.to_lowercase());
        if self.seen.insert((key.clone(), value.clone())) {
            self.rows.push(SearchRow {
                key,
                value,
                original_value: original,
            });
        }
    }

    fn traverse(&mut self, path: &str, value: &Value) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    if is_excluded(&child) {
                        continue;
                    }
                    self.traverse(&child, v);
                }
            }
            Value::Array(items) => {
                for item in items {
                    if let Value::String(s) = item {
                        self.push(&format!("{path}.{s}"), Some("true".to_string()));
                    }
                    self.traverse(path, item);
                }
            }
            Value::Null => {}
            leaf => self.push(path, scalar(leaf)),
        }
    }
}

fn is_excluded(path: &str) -> bool {
    matches!(
        path,
        "attachments"
            | "relations"
            | "status"
            | "metadata.name"
            | "metadata.namespace"
            | "metadata.uid"
            | "metadata.etag"
    )
}

/// All search rows of a stitched entity, de-duplicated.
pub fn search_rows(entity: &Value) -> Vec<SearchRow> {
    let mut c = Collector {
        rows: Vec::new(),
        seen: HashSet::new(),
    };
    c.traverse("", entity);
    let meta = |k: &str| entity.pointer(&format!("/metadata/{k}")).and_then(scalar);
    c.push("metadata.name", meta("name"));
    c.push(
        "metadata.namespace",
        Some(meta("namespace").unwrap_or_else(|| "default".to_string())),
    );
    if let Some(uid) = meta("uid") {
        c.push("metadata.uid", Some(uid));
    }
    if let Some(relations) = entity.get("relations").and_then(Value::as_array) {
        for relation in relations {
            if let (Some(t), Some(target)) = (
                relation.get("type").and_then(Value::as_str),
                relation.get("targetRef").and_then(Value::as_str),
            ) {
                c.push(&format!("relations.{t}"), Some(target.to_string()));
            }
        }
    }
    c.rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattens_like_backstage() {
        let e = json!({
            "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": "Foo", "tags": ["Java", "web"], "annotations": {"backstage.io/orphan": "true"},
                         "description": "x".repeat(201)},
            "spec": {"type": "service", "owner": "team-a"},
            "relations": [{"type": "ownedBy", "targetRef": "group:default/team-a"}],
            "status": {"items": []}
        });
        let rows = search_rows(&e);
        let get = |k: &str| {
            rows.iter()
                .filter(|r| r.key == k)
                .map(|r| r.value.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("kind"), vec![Some("component".to_string())]);
        assert_eq!(get("metadata.name"), vec![Some("foo".to_string())]);
        assert_eq!(get("metadata.namespace"), vec![Some("default".to_string())]);
        assert_eq!(get("metadata.tags").len(), 2);
        assert_eq!(get("metadata.tags.java"), vec![Some("true".to_string())]);
        assert_eq!(
            get("metadata.annotations.backstage.io/orphan"),
            vec![Some("true".to_string())]
        );
        assert_eq!(get("metadata.description"), vec![None]);
        assert_eq!(
            get("relations.ownedby"),
            vec![Some("group:default/team-a".to_string())]
        );
        assert!(get("status.items").is_empty());
        let kind = rows.iter().find(|r| r.key == "kind").unwrap();
        assert_eq!(kind.original_value.as_deref(), Some("Component"));
    }
}
