//! `fields=` projection: keep only the listed dotted paths of an entity.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("array type fields are not supported")]
pub struct ArrayFieldError;

/// Parses `fields` parameters (comma lists, repeatable) into a de-duplicated list.
pub fn parse_fields<'a>(
    params: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<String>, ArrayFieldError> {
    let mut out: Vec<String> = Vec::new();
    for param in params {
        for field in param.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            if field.contains('[') {
                return Err(ArrayFieldError);
            }
            if !out.iter().any(|f| f == field) {
                out.push(field.to_string());
            }
        }
    }
    Ok(out)
}

/// Finds `segments` under `value`, joining segments with dots when a key itself
/// contains dots (annotation keys such as `backstage.io/techdocs-ref`).
fn resolve<'v>(value: &'v Value, segments: &[&str]) -> Option<(Vec<String>, &'v Value)> {
    if segments.is_empty() {
        return Some((Vec::new(), value));
    }
    let map = value.as_object()?;
    for end in 1..=segments.len() {
        let key = segments[..end].join(".");
        if let Some(child) = map.get(&key)
            && let Some((mut rest, leaf)) = resolve(child, &segments[end..])
        {
            rest.insert(0, key);
            return Some((rest, leaf));
        }
    }
    None
}

fn insert(target: &mut Map<String, Value>, keys: &[String], leaf: &Value) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    if rest.is_empty() {
        target.insert(first.clone(), leaf.clone());
        return;
    }
    let child = target
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(obj) = child.as_object_mut() {
        insert(obj, rest, leaf);
    }
}

/// Keeps only `fields` (missing paths are simply absent). An empty list keeps all.
pub fn project(entity: &Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return entity.clone();
    }
    let mut out = Map::new();
    for field in fields {
        let segments: Vec<&str> = field.split('.').collect();
        if let Some((keys, leaf)) = resolve(entity, &segments) {
            insert(&mut out, &keys, leaf);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projects_nested_and_dotted_keys() {
        let e = json!({"kind": "Component", "metadata": {"name": "a", "namespace": "default",
            "annotations": {"backstage.io/techdocs-ref": "dir:.", "x": "y"}}, "spec": {"type": "service"}});
        let fields = parse_fields([
            "kind,metadata.name",
            "metadata.annotations.backstage.io/techdocs-ref,nope.x",
        ])
        .unwrap();
        assert_eq!(
            project(&e, &fields),
            json!({"kind": "Component", "metadata": {"name": "a", "annotations": {"backstage.io/techdocs-ref": "dir:."}}})
        );
        assert!(parse_fields(["relations[0]"]).is_err());
    }
}
