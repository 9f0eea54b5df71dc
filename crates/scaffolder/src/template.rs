//! The `scaffolder.backstage.io/v1beta3` Template entity: its parameter
//! pages, the validation of form values and secrets, and the task spec a run
//! is made of.

use jsonschema::error::ValidationErrorKind;
use serde_json::{Map, Value as Json, json};
use thiserror::Error;

use crate::templating::{Templater, is_truthy};

pub const API_VERSION: &str = "scaffolder.backstage.io/v1beta3";
const UNTITLED_PAGE: &str = "Please enter the following information";

#[derive(Debug, Error)]
pub enum TemplateError {
    #[error("Unsupported apiVersion field in schema entity, {0}")]
    UnsupportedApiVersion(String),
    #[error("{0}")]
    Invalid(String),
    /// Values or secrets that fail their schemas, one item per violation in
    /// the shape of the `jsonschema` package's `ValidationError`.
    #[error("Parameters did not validate")]
    Validation(Vec<Json>),
}

/// Checks the envelope and returns the template's `spec`.
pub fn template_spec(entity: &Json) -> Result<&Map<String, Json>, TemplateError> {
    let api_version = entity
        .get("apiVersion")
        .and_then(Json::as_str)
        .unwrap_or("");
    if api_version != API_VERSION {
        return Err(TemplateError::UnsupportedApiVersion(
            api_version.to_string(),
        ));
    }
    let spec = entity
        .get("spec")
        .and_then(Json::as_object)
        .ok_or_else(|| TemplateError::Invalid("Template has no spec".into()))?;
    match spec.get("steps") {
        Some(Json::Array(_)) => Ok(spec),
        _ => Err(TemplateError::Invalid(
            "Template spec.steps must be an array".into(),
        )),
    }
}

/// `spec.parameters` as a list of pages (an object is one page).
pub fn parameter_pages(spec: &Map<String, Json>) -> Vec<Json> {
    match spec.get("parameters") {
        Some(Json::Array(pages)) => pages.iter().filter(|p| p.is_object()).cloned().collect(),
        Some(page @ Json::Object(_)) => vec![page.clone()],
        _ => Vec::new(),
    }
}

/// The body of `GET /v2/templates/{ns}/{kind}/{name}/parameter-schema`.
pub fn parameter_schema(entity: &Json) -> Result<Json, TemplateError> {
    let spec = template_spec(entity)?;
    let metadata = entity.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let title = metadata
        .get("title")
        .or_else(|| metadata.get("name"))
        .cloned()
        .unwrap_or(Json::Null);
    let steps: Vec<Json> = parameter_pages(spec)
        .into_iter()
        .map(|page| {
            // Backstage hands the whole page to the form as its schema.
            let schema = page.clone();
            let mut step = json!({
                "title": page.get("title").cloned().unwrap_or_else(|| json!(UNTITLED_PAGE)),
                "description": page.get("description").cloned().unwrap_or(Json::Null),
                "schema": schema,
            });
            if page.get("description").is_none()
                && let Some(o) = step.as_object_mut()
            {
                o.remove("description");
            }
            if let (Some(when), Some(o)) = (page.get("when"), step.as_object_mut()) {
                o.insert("when".into(), when.clone());
            }
            step
        })
        .collect();
    let mut out = json!({
        "title": title,
        "description": metadata.get("description").cloned().unwrap_or(Json::Null),
        "steps": steps,
    });
    let o = out
        .as_object_mut()
        .ok_or_else(|| TemplateError::Invalid("unreachable".into()))?;
    if metadata.get("description").is_none() {
        o.remove("description");
    }
    for key in [
        "presentation",
        "formDecorators",
        "EXPERIMENTAL_formDecorators",
    ] {
        if let Some(v) = spec.get(key) {
            o.insert(
                if key == "EXPERIMENTAL_formDecorators" {
                    "formDecorators"
                } else {
                    key
                }
                .into(),
                v.clone(),
            );
        }
    }
    if let Some(ui) = spec.get("ui:options") {
        o.insert("ui:options".into(), ui.clone());
    }
    Ok(out)
}

/// Validates `instance` against `schema` and reports violations as the
/// `jsonschema` npm package does (`property`, `message`, `name`, `stack`).
pub fn schema_errors(schema: &Json, instance: &Json) -> Result<Vec<Json>, TemplateError> {
    let validator = jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| TemplateError::Invalid(format!("invalid parameter schema: {e}")))?;
    let mut out = Vec::new();
    for error in validator.iter_errors(instance) {
        let path: Vec<Json> = error
            .instance_path()
            .as_str()
            .split('/')
            .skip(1)
            .map(|s| {
                let s = s.replace("~1", "/").replace("~0", "~");
                match s.parse::<u64>() {
                    Ok(n) => json!(n),
                    Err(_) => json!(s),
                }
            })
            .collect();
        let mut property = String::from("instance");
        for p in &path {
            match p {
                Json::Number(n) => property.push_str(&format!("[{n}]")),
                Json::String(s) => property.push_str(&format!(".{s}")),
                _ => {}
            }
        }
        let (message, argument) = match error.kind() {
            ValidationErrorKind::Required { property: missing } => {
                let name = missing
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| missing.to_string());
                (format!("requires property {}", json!(name)), json!(name))
            }
            ValidationErrorKind::Type { .. } => {
                let expected = schema_at(schema, error.schema_path().as_str());
                (
                    format!("is not of a type(s) {}", type_list(&expected)),
                    expected,
                )
            }
            // The wording of the `jsonschema` npm package, which Backstage
            // uses, for the keywords forms use most.
            ValidationErrorKind::Pattern { pattern } => (
                format!("does not match pattern {}", json!(pattern)),
                json!(pattern),
            ),
            ValidationErrorKind::Enum { options } => {
                let list: Vec<String> = options
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| {
                        o.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| o.to_string())
                    })
                    .collect();
                (
                    format!("is not one of enum values: {}", list.join(",")),
                    options.as_ref().clone(),
                )
            }
            ValidationErrorKind::MinLength { limit } => (
                format!("does not meet minimum length of {limit}"),
                json!(limit),
            ),
            ValidationErrorKind::MaxLength { limit } => (
                format!("does not meet maximum length of {limit}"),
                json!(limit),
            ),
            ValidationErrorKind::Minimum { limit } => (
                format!("must be greater than or equal to {limit}"),
                limit.clone(),
            ),
            ValidationErrorKind::Maximum { limit } => (
                format!("must be less than or equal to {limit}"),
                limit.clone(),
            ),
            ValidationErrorKind::MinItems { limit } => (
                format!("does not meet minimum length of {limit}"),
                json!(limit),
            ),
            ValidationErrorKind::AdditionalProperties { unexpected } => (
                format!(
                    "is not allowed to have the additional property {}",
                    json!(unexpected.join(","))
                ),
                json!(unexpected.join(",")),
            ),
            _ => (error.to_string(), Json::Null),
        };
        let name = error.kind().keyword().to_string();
        out.push(json!({
            "path": path,
            "property": property,
            "message": message,
            "instance": error.instance().as_ref(),
            "name": name,
            "argument": argument,
            "stack": format!("{property} {message}"),
        }));
    }
    Ok(out)
}

fn schema_at(schema: &Json, pointer: &str) -> Json {
    schema.pointer(pointer).cloned().unwrap_or(Json::Null)
}

fn type_list(v: &Json) -> String {
    match v {
        Json::Array(items) => items
            .iter()
            .filter_map(Json::as_str)
            .collect::<Vec<_>>()
            .join(","),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Validates the form values against every visible page and the secrets
/// against `spec.secrets.schema`. Returns the values with the properties of
/// hidden pages (`when` false) removed.
/// Whether a parameter page applies to `values`: its `when` condition, a
/// `${{ }}` expression over `parameters`, is truthy (no condition: always).
pub fn page_visible(
    page: &Json,
    values: &Json,
    templater: &Templater,
) -> Result<bool, TemplateError> {
    let Some(when) = page.get("when") else {
        return Ok(true);
    };
    let ctx = json!({ "parameters": values });
    let visible = templater
        .render_value(when, &ctx)
        .map_err(|e| TemplateError::Invalid(format!("page condition failed: {e}")))?;
    Ok(is_truthy(visible.as_ref()))
}

pub fn validate_values(
    spec: &Map<String, Json>,
    values: &Json,
    secrets: &Json,
    templater: &Templater,
) -> Result<Json, TemplateError> {
    let mut values = match values {
        Json::Object(_) => values.clone(),
        Json::Null => json!({}),
        _ => {
            return Err(TemplateError::Validation(vec![json!({
                "path": [], "property": "instance", "message": "is not of a type(s) object",
                "name": "type", "argument": ["object"], "instance": values,
                "stack": "instance is not of a type(s) object",
            })]));
        }
    };
    let mut errors = Vec::new();
    for page in parameter_pages(spec) {
        if !page_visible(&page, &values, templater)? {
            if let (Some(props), Some(v)) = (
                page.get("properties").and_then(Json::as_object),
                values.as_object_mut(),
            ) {
                for key in props.keys() {
                    v.remove(key);
                }
            }
            continue;
        }
        // Clients that are not a form (the CLI, scripts) rely on the
        // schema's defaults as a form would show them.
        if let (Some(props), Some(v)) = (
            page.get("properties").and_then(Json::as_object),
            values.as_object_mut(),
        ) {
            for (key, prop) in props {
                if let Some(default) = prop.get("default") {
                    v.entry(key.clone()).or_insert_with(|| default.clone());
                }
            }
        }
        let mut schema = page.clone();
        if let Some(o) = schema.as_object_mut() {
            o.remove("when");
        }
        errors.extend(schema_errors(&schema, &values)?);
    }
    if let Some(schema) = spec.get("secrets").and_then(|s| s.get("schema")) {
        errors.extend(schema_errors(schema, secrets)?);
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(TemplateError::Validation(errors))
    }
}

/// Where a template came from: its ref, and the base its relative `url`
/// inputs resolve against (`file:/dir/template.yaml`, `bundled:…`).
#[derive(Debug, Clone)]
pub struct TemplateInfo {
    pub entity_ref: String,
    pub base_url: Option<String>,
    pub metadata: Json,
}

/// The v1beta3 task spec stored with a task: everything a run needs.
pub fn task_spec(
    spec: &Map<String, Json>,
    parameters: Json,
    info: &TemplateInfo,
    user: Json,
) -> Json {
    let steps: Vec<Json> = spec
        .get("steps")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, step)| {
            let mut s = step.as_object().cloned().unwrap_or_default();
            let action = s.get("action").cloned().unwrap_or(Json::Null);
            s.entry("id")
                .or_insert_with(|| json!(format!("step-{}", i + 1)));
            s.entry("name").or_insert(action);
            Json::Object(s)
        })
        .collect();
    let mut template_info = json!({
        "entityRef": info.entity_ref,
        "entity": { "metadata": info.metadata },
    });
    if let (Some(base), Some(o)) = (&info.base_url, template_info.as_object_mut()) {
        o.insert("baseUrl".into(), json!(base));
    }
    let mut out = json!({
        "apiVersion": API_VERSION,
        "parameters": parameters,
        "steps": steps,
        "output": spec.get("output").cloned().unwrap_or_else(|| json!({})),
        "templateInfo": template_info,
        "user": user,
    });
    if let (Some(recovery), Some(o)) = (spec.get("EXPERIMENTAL_recovery"), out.as_object_mut()) {
        o.insert("EXPERIMENTAL_recovery".into(), recovery.clone());
    }
    out
}

/// Whether a task spec asks to be started over after an interruption.
pub fn wants_start_over(task_spec: &Json) -> bool {
    task_spec
        .pointer("/EXPERIMENTAL_recovery/EXPERIMENTAL_strategy")
        .and_then(Json::as_str)
        == Some("startOver")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::integrations::Integrations;
    use crate::templating::SyntaxOptions;

    fn template() -> Json {
        json!({
            "apiVersion": API_VERSION,
            "kind": "Template",
            "metadata": {"name": "t", "title": "A template"},
            "spec": {
                "type": "service",
                "parameters": [
                    {"title": "Basics", "required": ["name"], "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}},
                    {"required": ["extra"], "when": "${{ parameters.name == 'with-extra' }}", "properties": {"extra": {"type": "string"}}}
                ],
                "secrets": {"schema": {"type": "object", "required": ["token"]}},
                "steps": [{"action": "debug:log"}, {"id": "x", "name": "X", "action": "fs:delete"}]
            }
        })
    }

    fn templater() -> Templater {
        Templater::new(Arc::new(Integrations::default()), SyntaxOptions::default())
    }

    #[test]
    fn parameter_schema_titles_pages_and_keeps_when() {
        let out = parameter_schema(&template()).unwrap();
        assert_eq!(out["title"], "A template");
        assert_eq!(out["steps"][0]["title"], "Basics");
        assert_eq!(out["steps"][1]["title"], UNTITLED_PAGE);
        assert!(out["steps"][1]["when"].is_string());
        assert_eq!(out["steps"][0]["schema"]["title"], "Basics");
    }

    #[test]
    fn values_fail_with_jsonschema_shaped_errors() {
        let entity = template();
        let spec = template_spec(&entity).unwrap();
        let err =
            validate_values(spec, &json!({"port": "80"}), &json!({}), &templater()).unwrap_err();
        let TemplateError::Validation(errors) = err else {
            panic!("{err}")
        };
        let stacks: Vec<&str> = errors.iter().filter_map(|e| e["stack"].as_str()).collect();
        assert!(
            stacks.contains(&"instance requires property \"name\""),
            "{stacks:?}"
        );
        assert!(
            stacks.contains(&"instance.port is not of a type(s) integer"),
            "{stacks:?}"
        );
        assert!(
            stacks.contains(&"instance requires property \"token\""),
            "{stacks:?}"
        );
    }

    #[test]
    fn hidden_pages_are_not_validated_and_their_values_go() {
        let entity = template();
        let spec = template_spec(&entity).unwrap();
        let values = validate_values(
            spec,
            &json!({"name": "plain", "extra": 5}),
            &json!({"token": "t"}),
            &templater(),
        )
        .unwrap();
        assert_eq!(values, json!({"name": "plain"}));
        assert!(
            validate_values(
                spec,
                &json!({"name": "with-extra"}),
                &json!({"token": "t"}),
                &templater()
            )
            .is_err()
        );
    }

    #[test]
    fn task_spec_names_steps_and_rejects_old_versions() {
        let entity = template();
        let spec = template_spec(&entity).unwrap();
        let info = TemplateInfo {
            entity_ref: "template:default/t".into(),
            base_url: None,
            metadata: json!({}),
        };
        let out = task_spec(spec, json!({}), &info, json!({}));
        assert_eq!(out["steps"][0]["id"], "step-1");
        assert_eq!(out["steps"][0]["name"], "debug:log");
        assert_eq!(out["steps"][1]["name"], "X");
        let mut old = template();
        old["apiVersion"] = json!("backstage.io/v1beta2");
        assert_eq!(
            template_spec(&old).unwrap_err().to_string(),
            "Unsupported apiVersion field in schema entity, backstage.io/v1beta2"
        );
    }
}
