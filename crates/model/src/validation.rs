//! Entity validation: Backstage's default policies, in their order, then the
//! kind schemas. Each failing check becomes a [`Violation`] that names the
//! field, the rule and a message worded like Backstage's.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::entity;
use crate::kinds;
use crate::refs::DEFAULT_NAMESPACE;

/// The validation stage a violation comes from; stages run in this order and
/// validation stops after the first stage that reports anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Envelope,
    Schema,
    NoForeignRootFields,
    FieldFormat,
    DuplicateKeyCasing,
    KindSchema,
    UnknownKind,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::Envelope => "EntityEnvelope",
            Rule::Schema => "SchemaValidEntityPolicy",
            Rule::NoForeignRootFields => "NoForeignRootFieldsEntityPolicy",
            Rule::FieldFormat => "FieldFormatEntityPolicy",
            Rule::DuplicateKeyCasing => "DuplicateKeyCasing",
            Rule::KindSchema => "KindSchema",
            Rule::UnknownKind => "KindValidator",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Dotted field path (`metadata.tags[1]`), empty for the entity root.
    pub path: String,
    pub rule: Rule,
    /// The bare reason, without the entity-ref framing.
    pub detail: String,
}

impl Violation {
    fn new(path: impl Into<String>, rule: Rule, detail: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            rule,
            detail: detail.into(),
        }
    }

    /// The error name Backstage reports for this violation.
    pub fn error_name(&self) -> &'static str {
        "InputError"
    }

    /// The full message as Backstage frames it, for `status.items` and the API.
    pub fn message(&self, entity_ref: &str) -> String {
        match self.rule {
            Rule::Envelope => format!(
                "Entity envelope failed validation before processing; caused by TypeError: {}",
                self.detail
            ),
            Rule::Schema
            | Rule::NoForeignRootFields
            | Rule::FieldFormat
            | Rule::DuplicateKeyCasing => format!(
                "Policy check failed for {entity_ref}; caused by Error: {}",
                self.detail
            ),
            Rule::KindSchema => format!(
                "Processor BuiltinKindsEntityProcessor threw an error while validating the entity {entity_ref}; caused by TypeError: {}",
                self.detail
            ),
            Rule::UnknownKind => self.detail.clone(),
        }
    }
}

const LEARN_MORE: &str = "To learn more about catalog file format, visit: https://github.com/backstage/backstage/blob/master/docs/architecture-decisions/adr002-default-catalog-file-format.md";

static NAME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$").expect("regex"));
static DNS_LABEL_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:-+[a-z0-9]+)*$").expect("regex"));
static KIND_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z][a-z0-9A-Z]*$").expect("regex"));
static VERSION_SUFFIX_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9A-Z]+$").expect("regex"));
static TAG_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$").expect("regex"));

fn within(value: &str, max: usize) -> bool {
    !value.is_empty() && value.len() <= max
}

pub fn is_valid_entity_name(value: &str) -> bool {
    within(value, 63) && NAME_RE.is_match(value)
}

pub fn is_valid_dns_label(value: &str) -> bool {
    within(value, 63) && DNS_LABEL_RE.is_match(value)
}

pub fn is_valid_dns_subdomain(value: &str) -> bool {
    within(value, 253) && value.split('.').all(is_valid_dns_label)
}

pub fn is_valid_kind(value: &str) -> bool {
    within(value, 63) && KIND_RE.is_match(value)
}

pub fn is_valid_api_version(value: &str) -> bool {
    let (prefix, suffix) = match value.split_once('/') {
        Some((p, s)) => (Some(p), s),
        None => (None, value),
    };
    prefix.is_none_or(is_valid_dns_subdomain)
        && within(suffix, 63)
        && VERSION_SUFFIX_RE.is_match(suffix)
}

/// `[<dns subdomain>/]<name>` as used by label and annotation keys.
pub fn is_valid_prefixed_key(value: &str) -> bool {
    match value.split_once('/') {
        Some((prefix, name)) => is_valid_dns_subdomain(prefix) && is_valid_entity_name(name),
        None => is_valid_entity_name(value),
    }
}

pub fn is_valid_tag(value: &str) -> bool {
    within(value, 63) && TAG_RE.is_match(value)
}

fn format_violation(path: &str, expectation: &str, found: &str) -> Violation {
    Violation::new(
        path,
        Rule::FieldFormat,
        format!(
            "\"{path}\" is not valid; expected {expectation} but found \"{found}\". {LEARN_MORE}"
        ),
    )
}

const EXPECT_NAME: &str = "a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total";
const EXPECT_NAMESPACE: &str =
    "a string that is sequences of [a-z0-9] separated by [-], at most 63 characters in total";
const EXPECT_KIND: &str = "a string that is a sequence of [a-zA-Z0-9] starting with a letter, at most 63 characters in total";
const EXPECT_API_VERSION: &str = "a string on the form [<DNS subdomain>/]<version>, where the version is a sequence of [a-zA-Z0-9], at most 63 characters";
const EXPECT_KEY: &str = "a string on the form [<DNS subdomain>/]<name>, where the name is sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total";
const EXPECT_LABEL_VALUE: &str = "an empty string or a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total";
const EXPECT_TAG: &str =
    "a string that is sequences of [a-z0-9+#:] separated by [-], at most 63 characters in total";

/// Converts a JSON pointer (`/metadata/tags/0`) into a dotted path (`metadata.tags[0]`).
pub fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

/// The light envelope check applied to every document before it is queued.
pub fn validate_envelope(entity: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let Some(root) = entity.as_object() else {
        return vec![Violation::new(
            "",
            Rule::Envelope,
            "Expected object at root",
        )];
    };
    for key in ["apiVersion", "kind"] {
        match root.get(key) {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => out.push(Violation::new(
                key,
                Rule::Envelope,
                format!("{key} must be a non-empty string"),
            )),
        }
    }
    match root.get("metadata") {
        Some(Value::Object(meta)) => {
            match meta.get("name") {
                Some(Value::String(s)) if !s.is_empty() => {}
                _ => out.push(Violation::new(
                    "metadata.name",
                    Rule::Envelope,
                    "metadata.name must be a non-empty string",
                )),
            }
            match meta.get("namespace") {
                None => {}
                Some(Value::String(s)) if !s.is_empty() => {}
                _ => out.push(Violation::new(
                    "metadata.namespace",
                    Rule::Envelope,
                    "metadata.namespace must be a non-empty string",
                )),
            }
        }
        _ => out.push(Violation::new(
            "metadata",
            Rule::Envelope,
            "metadata must be an object",
        )),
    }
    out
}

fn schema_violations(errors: Vec<kinds::SchemaError>, rule: Rule) -> Vec<Violation> {
    errors
        .into_iter()
        .map(|e| {
            let shown = if e.pointer.is_empty() {
                "<root>".to_string()
            } else {
                e.pointer.clone()
            };
            Violation::new(
                pointer_to_path(&e.pointer),
                rule,
                format!("{shown} {}", e.message),
            )
        })
        .collect()
}

fn check_foreign_root_fields(root: &Map<String, Value>) -> Vec<Violation> {
    root.keys()
        .filter(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "spec"))
        .map(|k| {
            Violation::new(
                k.as_str(),
                Rule::NoForeignRootFields,
                format!("Unknown field {k}"),
            )
        })
        .collect()
}

fn check_field_formats(entity: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let str_at = |p: &str| entity.pointer(p).and_then(Value::as_str);
    if let Some(v) = str_at("/apiVersion")
        && !is_valid_api_version(v)
    {
        out.push(format_violation("apiVersion", EXPECT_API_VERSION, v));
    }
    if let Some(v) = str_at("/kind")
        && !is_valid_kind(v)
    {
        out.push(format_violation("kind", EXPECT_KIND, v));
    }
    if let Some(v) = str_at("/metadata/name")
        && !is_valid_entity_name(v)
    {
        out.push(format_violation("metadata.name", EXPECT_NAME, v));
    }
    if let Some(v) = str_at("/metadata/namespace")
        && !is_valid_dns_label(v)
    {
        out.push(format_violation("metadata.namespace", EXPECT_NAMESPACE, v));
    }
    if let Some(labels) = entity
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
    {
        for (k, v) in labels {
            let path = format!("metadata.labels.{k}");
            if !is_valid_prefixed_key(k) {
                out.push(format_violation(&path, EXPECT_KEY, k));
            }
            if let Some(v) = v.as_str()
                && !v.is_empty()
                && !is_valid_entity_name(v)
            {
                out.push(format_violation(&path, EXPECT_LABEL_VALUE, v));
            }
        }
    }
    if let Some(annotations) = entity
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        for k in annotations.keys() {
            if !is_valid_prefixed_key(k) {
                out.push(format_violation(
                    &format!("metadata.annotations.{k}"),
                    EXPECT_KEY,
                    k,
                ));
            }
        }
    }
    if let Some(tags) = entity.pointer("/metadata/tags").and_then(Value::as_array) {
        for (i, tag) in tags.iter().enumerate() {
            if let Some(t) = tag.as_str()
                && !is_valid_tag(t)
            {
                out.push(format_violation(
                    &format!("metadata.tags[{i}]"),
                    EXPECT_TAG,
                    t,
                ));
            }
        }
    }
    if let Some(links) = entity.pointer("/metadata/links").and_then(Value::as_array) {
        for (i, link) in links.iter().enumerate() {
            if let Some(u) = link.get("url").and_then(Value::as_str)
                && url::Url::parse(u).is_err()
            {
                out.push(format_violation(
                    &format!("metadata.links[{i}].url"),
                    "a valid absolute URL",
                    u,
                ));
            }
            for key in ["title", "icon"] {
                if let Some(v) = link.get(key).and_then(Value::as_str)
                    && v.trim().is_empty()
                {
                    out.push(format_violation(
                        &format!("metadata.links[{i}].{key}"),
                        "a non-blank string",
                        v,
                    ));
                }
            }
        }
    }
    out
}

fn collect_keys(value: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(map) = value {
        for (k, v) in map {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            collect_keys(v, &path, out);
            out.push(path);
        }
    }
}

fn check_duplicate_key_casing(entity: &Value) -> Vec<Violation> {
    let mut keys = Vec::new();
    collect_keys(entity, "", &mut keys);
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for key in keys {
        let lower = key.to_lowercase();
        if let Some(previous) = seen.get(&lower) {
            if previous != &key {
                out.push(Violation::new(
                    key.clone(),
                    Rule::DuplicateKeyCasing,
                    format!(
                        "Entity has duplicate keys that vary only in casing, '{previous}' and '{key}'"
                    ),
                ));
            }
        } else {
            seen.insert(lower, key);
        }
    }
    out
}

fn check_kind(entity: &Value, entity_ref: &str) -> Vec<Violation> {
    let api_version = entity::api_version(entity).unwrap_or_default();
    let kind = entity::kind(entity).unwrap_or_default();
    match kinds::find(api_version, kind) {
        Some(schema) => schema_violations(schema.errors(entity), Rule::KindSchema),
        None => vec![Violation::new(
            "kind",
            Rule::UnknownKind,
            format!(
                "No processor recognized the entity {entity_ref} as valid, possibly caused by a foreign kind or apiVersion"
            ),
        )],
    }
}

/// Runs every check and returns the entity with its defaults applied
/// (`metadata.namespace`), or the violations of the first failing stage.
pub fn validate_entity(entity: &Value) -> Result<Value, Vec<Violation>> {
    let envelope = validate_envelope(entity);
    if !envelope.is_empty() {
        return Err(envelope);
    }
    let schema = schema_violations(kinds::entity_schema_errors(entity), Rule::Schema);
    if !schema.is_empty() {
        return Err(schema);
    }
    let mut entity = entity.clone();
    if let Some(meta) = entity::metadata_mut(&mut entity)
        && !meta.contains_key("namespace")
    {
        meta.insert(
            "namespace".to_string(),
            Value::String(DEFAULT_NAMESPACE.to_string()),
        );
    }
    let root = entity.as_object().cloned().unwrap_or_default();
    for check in [
        check_foreign_root_fields(&root),
        check_field_formats(&entity),
        check_duplicate_key_casing(&entity),
    ] {
        if !check.is_empty() {
            return Err(check);
        }
    }
    let entity_ref = entity::entity_ref(&entity)
        .map(|r| r.to_string())
        .unwrap_or_default();
    let kind = check_kind(&entity, &entity_ref);
    if !kind.is_empty() {
        return Err(kind);
    }
    Ok(entity)
}

/// The ref used to frame messages, even for an entity that failed its envelope.
pub fn display_ref(entity: &Value) -> String {
    let kind = entity::kind(entity).unwrap_or("unknown");
    let name = entity::name(entity).unwrap_or("unknown");
    crate::refs::EntityRef::new(kind, entity::namespace(entity), name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn component(name: &str) -> Value {
        json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": name},
            "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}
        })
    }

    #[test]
    fn a_valid_component_gets_the_default_namespace() {
        let out = validate_entity(&component("ok-one")).unwrap();
        assert_eq!(out["metadata"]["namespace"], "default");
    }

    #[test]
    fn a_bad_name_reports_backstage_wording() {
        let errs = validate_entity(&component("Bad Name!")).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].path, "metadata.name");
        assert_eq!(errs[0].rule, Rule::FieldFormat);
        assert!(
            errs[0]
                .message("component:default/bad name!")
                .starts_with("Policy check failed for component:default/bad name!; caused by Error: \"metadata.name\" is not valid; expected a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total but found \"Bad Name!\"")
        );
    }

    #[test]
    fn field_rules() {
        assert!(is_valid_api_version("backstage.io/v1alpha1"));
        assert!(is_valid_api_version("v1"));
        assert!(!is_valid_api_version("a/b/c"));
        assert!(!is_valid_api_version("Backstage.io/v1"));
        assert!(is_valid_tag("java:17"));
        assert!(!is_valid_tag("Java"));
        assert!(is_valid_prefixed_key("backstage.io/techdocs-ref"));
        assert!(!is_valid_prefixed_key("bad key"));
        assert!(!is_valid_entity_name(&"a".repeat(64)));
    }

    #[test]
    fn missing_owner_is_a_kind_error_at_spec_owner() {
        let mut e = component("x");
        e["spec"].as_object_mut().unwrap().remove("owner");
        let errs = validate_entity(&e).unwrap_err();
        assert_eq!(errs[0].rule, Rule::KindSchema);
        assert_eq!(errs[0].path, "spec");
        assert!(errs[0].detail.contains("owner"), "{}", errs[0].detail);
    }

    #[test]
    fn authored_relations_are_rejected() {
        let mut e = component("x");
        e["relations"] = json!([]);
        let errs = validate_entity(&e).unwrap_err();
        assert_eq!(errs[0].rule, Rule::NoForeignRootFields);
        assert_eq!(errs[0].detail, "Unknown field relations");
    }

    #[test]
    fn unknown_kind_is_named() {
        let mut e = component("x");
        e["kind"] = json!("Widget");
        let errs = validate_entity(&e).unwrap_err();
        assert_eq!(errs[0].rule, Rule::UnknownKind);
        assert!(
            errs[0]
                .detail
                .starts_with("No processor recognized the entity widget:default/x")
        );
    }

    #[test]
    fn keys_differing_only_in_case_are_rejected() {
        let mut e = component("x");
        e["spec"]["Type"] = json!("a");
        let errs = validate_entity(&e).unwrap_err();
        assert_eq!(errs[0].rule, Rule::DuplicateKeyCasing);
    }

    #[test]
    fn pointers_become_dotted_paths() {
        assert_eq!(pointer_to_path("/metadata/tags/0"), "metadata.tags[0]");
        assert_eq!(pointer_to_path(""), "");
        assert_eq!(
            pointer_to_path("/metadata/annotations/a~1b"),
            "metadata.annotations.a/b"
        );
    }
}
