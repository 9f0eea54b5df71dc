//! Relations derived from the spec fields of built-in kinds (both directions).

use serde_json::Value;

use crate::entity;
use crate::refs::{EntityRef, RefError};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Relation {
    /// Lower-cased ref of the entity the relation hangs on.
    pub source: String,
    /// Relation type, e.g. `ownedBy`.
    pub kind: String,
    /// Lower-cased ref of the other side.
    pub target: String,
}

/// (source kind, spec field, default target kind, forward type, reverse type).
const RULES: &[(&str, &str, Option<&str>, &str, &str)] = &[
    ("component", "owner", Some("Group"), "ownedBy", "ownerOf"),
    (
        "component",
        "subcomponentOf",
        Some("Component"),
        "partOf",
        "hasPart",
    ),
    (
        "component",
        "providesApis",
        Some("API"),
        "providesApi",
        "apiProvidedBy",
    ),
    (
        "component",
        "consumesApis",
        Some("API"),
        "consumesApi",
        "apiConsumedBy",
    ),
    ("component", "dependsOn", None, "dependsOn", "dependencyOf"),
    (
        "component",
        "dependencyOf",
        None,
        "dependencyOf",
        "dependsOn",
    ),
    ("component", "system", Some("System"), "partOf", "hasPart"),
    ("api", "owner", Some("Group"), "ownedBy", "ownerOf"),
    ("api", "system", Some("System"), "partOf", "hasPart"),
    ("resource", "owner", Some("Group"), "ownedBy", "ownerOf"),
    ("resource", "dependsOn", None, "dependsOn", "dependencyOf"),
    (
        "resource",
        "dependencyOf",
        None,
        "dependencyOf",
        "dependsOn",
    ),
    ("resource", "system", Some("System"), "partOf", "hasPart"),
    ("system", "owner", Some("Group"), "ownedBy", "ownerOf"),
    ("system", "domain", Some("Domain"), "partOf", "hasPart"),
    ("domain", "owner", Some("Group"), "ownedBy", "ownerOf"),
    ("domain", "subdomainOf", Some("Domain"), "partOf", "hasPart"),
    ("group", "parent", Some("Group"), "childOf", "parentOf"),
    ("group", "children", Some("Group"), "parentOf", "childOf"),
    ("group", "members", Some("User"), "hasMember", "memberOf"),
    ("user", "memberOf", Some("Group"), "memberOf", "hasMember"),
    ("template", "owner", Some("Group"), "ownedBy", "ownerOf"),
];

/// Arrays Backstage sorts before emitting relations, so the result hash is stable.
const SORTED_ARRAYS: &[&str] = &[
    "providesApis",
    "consumesApis",
    "dependsOn",
    "dependencyOf",
    "memberOf",
    "children",
    "members",
];

pub fn sort_spec_arrays(entity: &mut Value) {
    let Some(spec) = entity.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for key in SORTED_ARRAYS {
        if let Some(Value::Array(items)) = spec.get_mut(*key)
            && items.iter().all(Value::is_string)
        {
            items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
    }
}

/// Relations for a validated entity. A target that cannot be parsed (for
/// example `dependsOn: [foo]` without a kind) is an error on the entity.
pub fn derive_relations(entity: &Value) -> Result<Vec<Relation>, Vec<RefError>> {
    let Some(self_ref) = entity::entity_ref(entity) else {
        return Ok(Vec::new());
    };
    let source = self_ref.to_string();
    let kind = self_ref.kind.to_lowercase();
    let spec = entity.get("spec");
    let mut relations = Vec::new();
    let mut errors = Vec::new();
    for (rule_kind, field, default_kind, forward, reverse) in RULES {
        if *rule_kind != kind {
            continue;
        }
        let targets: Vec<&str> = match spec.and_then(|s| s.get(*field)) {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        for target in targets {
            match EntityRef::parse(target, *default_kind, Some(&self_ref.namespace)) {
                Ok(target_ref) => {
                    let target = target_ref.to_string();
                    relations.push(Relation {
                        source: source.clone(),
                        kind: (*forward).to_string(),
                        target: target.clone(),
                    });
                    relations.push(Relation {
                        source: target,
                        kind: (*reverse).to_string(),
                        target: source.clone(),
                    });
                }
                Err(e) => errors.push(e),
            }
        }
    }
    if errors.is_empty() {
        relations.sort();
        relations.dedup();
        Ok(relations)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn component_relations_go_both_ways_in_the_source_namespace() {
        let e = json!({
            "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": "Svc", "namespace": "prod"},
            "spec": {"owner": "team-a", "providesApis": ["default/pets"], "dependsOn": ["resource:db"]}
        });
        let rels = derive_relations(&e).unwrap();
        let has = |s: &str, k: &str, t: &str| {
            rels.iter()
                .any(|r| r.source == s && r.kind == k && r.target == t)
        };
        assert!(has("component:prod/svc", "ownedBy", "group:prod/team-a"));
        assert!(has("group:prod/team-a", "ownerOf", "component:prod/svc"));
        assert!(has("component:prod/svc", "providesApi", "api:default/pets"));
        assert!(has(
            "api:default/pets",
            "apiProvidedBy",
            "component:prod/svc"
        ));
        assert!(has("component:prod/svc", "dependsOn", "resource:prod/db"));
        assert!(has(
            "resource:prod/db",
            "dependencyOf",
            "component:prod/svc"
        ));
        assert_eq!(rels.len(), 6);
    }

    #[test]
    fn depends_on_without_kind_is_an_error() {
        let e =
            json!({"kind": "Component", "metadata": {"name": "a"}, "spec": {"dependsOn": ["b"]}});
        assert!(derive_relations(&e).is_err());
    }

    #[test]
    fn arrays_are_sorted() {
        let mut e = json!({"spec": {"members": ["b", "a"], "other": ["z", "y"]}});
        sort_spec_arrays(&mut e);
        assert_eq!(e["spec"]["members"], json!(["a", "b"]));
        assert_eq!(e["spec"]["other"], json!(["z", "y"]));
    }
}
