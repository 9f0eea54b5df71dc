//! Catalog rules: which kinds a location may bring into the catalog.

use globset::GlobBuilder;
use greenroom_config::{CatalogRule, RuleAllow, RuleLocation};
use serde_json::Value;

/// The rules in force: the configured (or default) rules plus per-location ones.
#[derive(Debug, Clone)]
pub struct Rules {
    global: Vec<CatalogRule>,
    /// (type, resolved target, rules) from `catalog.locations[].rules`.
    per_location: Vec<(String, String, Vec<CatalogRule>)>,
}

fn default_rules() -> Vec<CatalogRule> {
    vec![CatalogRule {
        allow: ["Component", "API", "Location"]
            .iter()
            .map(|k| RuleAllow {
                kind: (*k).to_string(),
                spec_type: None,
            })
            .collect(),
        locations: vec![RuleLocation::Any],
    }]
}

impl Rules {
    pub fn new(
        configured: Option<Vec<CatalogRule>>,
        per_location: Vec<(String, String, Vec<CatalogRule>)>,
    ) -> Self {
        Self {
            global: configured.unwrap_or_else(default_rules),
            per_location,
        }
    }

    /// Rules that allow every kind (the bundled default configuration, tests).
    pub fn allow_all() -> Self {
        Self {
            global: vec![CatalogRule {
                allow: greenroom_model::kinds::builtin_kinds()
                    .into_iter()
                    .map(|k| RuleAllow {
                        kind: k.to_string(),
                        spec_type: None,
                    })
                    .collect(),
                locations: vec![RuleLocation::Any],
            }],
            per_location: Vec::new(),
        }
    }

    /// Whether `entity`, originating at (`origin_type`, `origin_target`), is allowed.
    pub fn is_allowed(&self, entity: &Value, origin_type: &str, origin_target: &str) -> bool {
        let global = self
            .global
            .iter()
            .any(|r| rule_matches(r, entity, origin_type, origin_target));
        global
            || self.per_location.iter().any(|(t, target, rules)| {
                t == origin_type
                    && target == origin_target
                    && rules.iter().any(|r| allows(r, entity))
            })
    }
}

fn allows(rule: &CatalogRule, entity: &Value) -> bool {
    let kind = entity
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let spec_type = entity.pointer("/spec/type").and_then(Value::as_str);
    rule.allow.iter().any(|a| {
        a.kind.eq_ignore_ascii_case(kind)
            && a.spec_type
                .as_deref()
                .is_none_or(|t| spec_type.is_some_and(|s| s.eq_ignore_ascii_case(t)))
    })
}

fn rule_matches(
    rule: &CatalogRule,
    entity: &Value,
    origin_type: &str,
    origin_target: &str,
) -> bool {
    allows(rule, entity)
        && rule.locations.iter().any(|l| match l {
            RuleLocation::Any => true,
            RuleLocation::Exact { kind, target } => kind == origin_type && target == origin_target,
            RuleLocation::Pattern { kind, pattern } => {
                kind == origin_type
                    && GlobBuilder::new(pattern)
                        .case_insensitive(true)
                        .literal_separator(true)
                        .build()
                        .is_ok_and(|g| g.compile_matcher().is_match(origin_target))
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_allow_component_api_location_only() {
        let rules = Rules::new(None, Vec::new());
        assert!(rules.is_allowed(&json!({"kind": "component"}), "file", "/x"));
        assert!(!rules.is_allowed(&json!({"kind": "Group"}), "file", "/x"));
    }

    #[test]
    fn per_location_and_pattern_rules() {
        let org = CatalogRule {
            allow: vec![RuleAllow {
                kind: "Group".into(),
                spec_type: None,
            }],
            locations: vec![RuleLocation::Any],
        };
        let rules = Rules::new(
            Some(vec![CatalogRule {
                allow: vec![RuleAllow {
                    kind: "API".into(),
                    spec_type: Some("openapi".into()),
                }],
                locations: vec![RuleLocation::Pattern {
                    kind: "file".into(),
                    pattern: "/srv/**/*.yaml".into(),
                }],
            }]),
            vec![("file".into(), "/org.yaml".into(), vec![org])],
        );
        assert!(rules.is_allowed(&json!({"kind": "Group"}), "file", "/org.yaml"));
        assert!(!rules.is_allowed(&json!({"kind": "Group"}), "file", "/other.yaml"));
        assert!(rules.is_allowed(
            &json!({"kind": "API", "spec": {"type": "OpenAPI"}}),
            "file",
            "/srv/a/b.yaml"
        ));
        assert!(!rules.is_allowed(
            &json!({"kind": "API", "spec": {"type": "grpc"}}),
            "file",
            "/srv/a/b.yaml"
        ));
    }
}
