//! Built-in kinds and their spec schemas (draft-07, as Backstage ships them).

use std::sync::LazyLock;

use jsonschema::Validator;
use serde_json::Value;

/// One built-in kind: which apiVersions it accepts and its schema.
pub struct KindSchema {
    pub kind: &'static str,
    pub api_versions: &'static [&'static str],
    validator: Validator,
}

const BACKSTAGE_VERSIONS: &[&str] = &["backstage.io/v1alpha1", "backstage.io/v1beta1"];
const TEMPLATE_VERSIONS: &[&str] = &["scaffolder.backstage.io/v1beta3"];

fn compile(source: &str) -> Validator {
    // The schemas are compiled into the binary and covered by tests; a broken
    // one is a build defect, not an input error.
    let schema: Value = serde_json::from_str(source).expect("embedded kind schema is JSON");
    jsonschema::draft7::new(&schema).expect("embedded kind schema compiles")
}

static ENTITY_SCHEMA: LazyLock<Validator> =
    LazyLock::new(|| compile(include_str!("schemas/entity.json")));

static KINDS: LazyLock<Vec<KindSchema>> = LazyLock::new(|| {
    let builtin = |kind, source| KindSchema {
        kind,
        api_versions: BACKSTAGE_VERSIONS,
        validator: compile(source),
    };
    vec![
        builtin("Component", include_str!("schemas/component.json")),
        builtin("API", include_str!("schemas/api.json")),
        builtin("Resource", include_str!("schemas/resource.json")),
        builtin("System", include_str!("schemas/system.json")),
        builtin("Domain", include_str!("schemas/domain.json")),
        builtin("Group", include_str!("schemas/group.json")),
        builtin("User", include_str!("schemas/user.json")),
        builtin("Location", include_str!("schemas/location.json")),
        KindSchema {
            kind: "Template",
            api_versions: TEMPLATE_VERSIONS,
            validator: compile(include_str!("schemas/template.json")),
        },
    ]
});

/// The names of all built-in kinds, in their canonical casing.
pub fn builtin_kinds() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.kind).collect()
}

/// The schema that accepts this (apiVersion, kind) pair, if any.
pub fn find(api_version: &str, kind: &str) -> Option<&'static KindSchema> {
    KINDS
        .iter()
        .find(|k| k.kind.eq_ignore_ascii_case(kind) && k.api_versions.contains(&api_version))
}

/// A schema failure: JSON pointer into the instance and a readable message.
pub struct SchemaError {
    pub pointer: String,
    pub message: String,
}

fn errors(validator: &Validator, instance: &Value) -> Vec<SchemaError> {
    validator
        .iter_errors(instance)
        .map(|e| SchemaError {
            pointer: e.instance_path().as_str().to_string(),
            message: e.to_string(),
        })
        .collect()
}

pub fn entity_schema_errors(entity: &Value) -> Vec<SchemaError> {
    errors(&ENTITY_SCHEMA, entity)
}

impl KindSchema {
    pub fn errors(&self, entity: &Value) -> Vec<SchemaError> {
        errors(&self.validator, entity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_schema_compiles() {
        assert_eq!(builtin_kinds().len(), 9);
        assert!(entity_schema_errors(&serde_json::json!({})).len() == 3);
        assert!(find("backstage.io/v1alpha1", "component").is_some());
        assert!(find("backstage.io/v1beta3", "Component").is_none());
        assert!(find("scaffolder.backstage.io/v1beta3", "Template").is_some());
    }
}
