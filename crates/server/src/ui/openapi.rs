//! An OpenAPI (3.x) or Swagger (2.0) document as the operations list the API
//! page shows: each path and method with its parameters, request body and
//! responses, schemas flattened to rows with `$ref`s resolved.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// Deep schemas are cut here; the raw definition is one tab away.
const MAX_DEPTH: usize = 6;
/// Rows per schema, so one huge schema cannot bloat the page.
const MAX_ROWS: usize = 200;

/// The document as the template's view, or `None` when it is not OpenAPI.
pub fn view(definition: &str) -> Option<Value> {
    let doc: Value = serde_saphyr::from_str(definition).ok()?;
    let version = doc
        .get("openapi")
        .or_else(|| doc.get("swagger"))?
        .as_str()
        .map(str::to_string)
        .or_else(|| doc.get("swagger").map(|v| v.to_string()))?;
    let paths = doc.get("paths").and_then(Value::as_object);
    let mut operations = Vec::new();
    for (path, item) in paths.into_iter().flatten() {
        let Some(item) = item.as_object() else {
            continue;
        };
        let shared: Vec<Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for method in METHODS {
            let Some(op) = item.get(*method).and_then(Value::as_object) else {
                continue;
            };
            operations.push(operation(&doc, path, method, op, &shared));
        }
    }
    let servers: Vec<String> = match doc.get("servers").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(|s| s.get("url").and_then(Value::as_str).map(str::to_string))
            .collect(),
        None => doc
            .get("host")
            .and_then(Value::as_str)
            .map(|h| {
                vec![format!(
                    "{h}{}",
                    doc.get("basePath").and_then(Value::as_str).unwrap_or("")
                )]
            })
            .unwrap_or_default(),
    };
    Some(json!({
        "version": version,
        "title": doc.pointer("/info/title").and_then(Value::as_str).unwrap_or(""),
        "api_version": doc.pointer("/info/version").map(plain).unwrap_or_default(),
        "description": doc.pointer("/info/description").and_then(Value::as_str).unwrap_or(""),
        "servers": servers,
        "operations": operations,
    }))
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Follows a local `$ref` (`#/components/schemas/Pet`).
fn deref<'a>(doc: &'a Value, v: &'a Value) -> (&'a Value, Option<String>) {
    let mut current = v;
    let mut name = None;
    for _ in 0..8 {
        let Some(r) = current.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(pointer) = r.strip_prefix('#') else {
            break;
        };
        match doc.pointer(pointer) {
            Some(target) => {
                name = pointer.rsplit('/').next().map(str::to_string);
                current = target;
            }
            None => break,
        }
    }
    (current, name)
}

fn operation(
    doc: &Value,
    path: &str,
    method: &str,
    op: &Map<String, Value>,
    shared: &[Value],
) -> Value {
    let mut params: Vec<Value> = Vec::new();
    let mut body = Vec::new();
    let own = op.get("parameters").and_then(Value::as_array);
    for p in shared.iter().chain(own.into_iter().flatten()) {
        let (p, _) = deref(doc, p);
        let location = p.get("in").and_then(Value::as_str).unwrap_or("");
        if location == "body" {
            // Swagger 2 request bodies are parameters.
            if let Some(schema) = p.get("schema") {
                body.push(
                    json!({ "content_type": "application/json", "rows": schema_rows(doc, schema) }),
                );
            }
            continue;
        }
        let schema = p.get("schema").unwrap_or(p);
        params.push(json!({
            "name": p.get("name").and_then(Value::as_str).unwrap_or(""),
            "in": location,
            "required": p.get("required").and_then(Value::as_bool).unwrap_or(false),
            "type": type_label(doc, schema),
            "description": p.get("description").and_then(Value::as_str).unwrap_or(""),
        }));
    }
    if let Some(rb) = op.get("requestBody") {
        let (rb, _) = deref(doc, rb);
        body.extend(contents(doc, rb));
    }
    let responses: Vec<Value> = op
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(code, r)| {
            let (r, _) = deref(doc, r);
            let mut content = contents(doc, r);
            if let Some(schema) = r.get("schema") {
                content.push(json!({ "content_type": "", "rows": schema_rows(doc, schema) }));
            }
            json!({
                "code": code,
                "description": r.get("description").and_then(Value::as_str).unwrap_or(""),
                "content": content,
            })
        })
        .collect();
    let text = |k: &str| op.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    json!({
        "method": method.to_uppercase(),
        "method_class": method,
        "path": path,
        "id": format!("op-{method}-{}", path.replace(|c: char| !c.is_ascii_alphanumeric(), "-")),
        "summary": text("summary"),
        "description": text("description"),
        "operation_id": text("operationId"),
        "deprecated": op.get("deprecated").and_then(Value::as_bool).unwrap_or(false),
        "parameters": params,
        "request": body,
        "responses": responses,
    })
}

/// `content: {type: {schema}}` of OpenAPI 3 bodies and responses.
fn contents(doc: &Value, holder: &Value) -> Vec<Value> {
    holder
        .get("content")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(ct, media)| {
            let rows = media
                .get("schema")
                .map(|s| schema_rows(doc, s))
                .unwrap_or_default();
            json!({ "content_type": ct, "rows": rows })
        })
        .collect()
}

/// A short type: `string (uuid)`, `array of Pet`, `one of Cat | Dog`.
fn type_label(doc: &Value, schema: &Value) -> String {
    let (s, name) = deref(doc, schema);
    if let Some(n) = name {
        return n;
    }
    for (key, word) in [("oneOf", "one of"), ("anyOf", "any of")] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = list.iter().map(|x| type_label(doc, x)).collect();
            return format!("{word} {}", parts.join(" | "));
        }
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts.iter().map(plain).collect::<Vec<_>>().join(" | "),
        _ if s.get("properties").is_some() || s.get("allOf").is_some() => "object".into(),
        _ => "any".into(),
    };
    if ty == "array" {
        return match s.get("items") {
            Some(items) => format!("array of {}", type_label(doc, items)),
            None => "array".into(),
        };
    }
    match s.get("format").and_then(Value::as_str) {
        Some(f) => format!("{ty} ({f})"),
        None => ty,
    }
}

/// The properties of a schema, nested ones indented by `depth`.
fn schema_rows(doc: &Value, schema: &Value) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    let (s, name) = deref(doc, schema);
    if let Some(n) = &name {
        seen.insert(n.clone());
    }
    let top = type_label(doc, schema);
    let has_props = collect_properties(doc, s).is_some();
    if !has_props {
        // A scalar or an array of something: one row says what it is.
        let inner = s.get("items").map(|i| deref(doc, i).0);
        rows.push(
            json!({ "depth": 0, "name": "", "type": top, "required": false,
            "description": s.get("description").and_then(Value::as_str).unwrap_or(""),
            "enum": enum_of(s) }),
        );
        if let Some(items) = inner {
            walk(doc, items, 1, &mut seen, &mut rows);
        }
        return rows;
    }
    walk(doc, s, 0, &mut seen, &mut rows);
    rows
}

fn enum_of(s: &Value) -> String {
    s.get("enum")
        .and_then(Value::as_array)
        .map(|vs| vs.iter().map(plain).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// Properties and required names, with `allOf` parts merged.
/// A schema's properties (in order) and the names it requires.
type Properties = (Vec<(String, Value)>, Vec<String>);

fn collect_properties(doc: &Value, s: &Value) -> Option<Properties> {
    let mut props = Vec::new();
    let mut required = Vec::new();
    let mut any = false;
    if let Some(p) = s.get("properties").and_then(Value::as_object) {
        any = true;
        props.extend(p.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(r) = s.get("required").and_then(Value::as_array) {
        required.extend(r.iter().filter_map(Value::as_str).map(str::to_string));
    }
    for part in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (part, _) = deref(doc, part);
        if let Some((p, r)) = collect_properties(doc, part) {
            any = true;
            props.extend(p);
            required.extend(r);
        }
    }
    any.then_some((props, required))
}

fn walk(doc: &Value, s: &Value, depth: usize, seen: &mut HashSet<String>, rows: &mut Vec<Value>) {
    if depth > MAX_DEPTH || rows.len() >= MAX_ROWS {
        return;
    }
    let Some((props, required)) = collect_properties(doc, s) else {
        return;
    };
    for (name, prop) in props {
        if rows.len() >= MAX_ROWS {
            rows.push(json!({ "depth": depth, "name": "…", "type": "", "required": false, "description": "more properties in the raw definition", "enum": "" }));
            return;
        }
        let (target, ref_name) = deref(doc, &prop);
        rows.push(json!({
            "depth": depth,
            "name": name,
            "type": type_label(doc, &prop),
            "required": required.contains(&name),
            "description": target.get("description").and_then(Value::as_str).unwrap_or(""),
            "enum": enum_of(target),
        }));
        // Recursive schemas (a tree of nodes) are shown once.
        if let Some(n) = &ref_name
            && !seen.insert(n.clone())
        {
            continue;
        }
        let nested = if target.get("type").and_then(Value::as_str) == Some("array") {
            target.get("items").map(|i| deref(doc, i).0)
        } else {
            Some(target)
        };
        if let Some(n) = nested {
            walk(doc, n, depth + 1, seen, rows);
        }
        if let Some(n) = ref_name {
            seen.remove(&n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_parameters_bodies_and_refs() {
        let doc = r#"
openapi: 3.0.3
info: {title: Pets, version: 1.2.0}
servers: [{url: https://pets.example.com/v1}]
paths:
  /pets/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
    get:
      summary: One pet
      responses:
        '200':
          description: The pet
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet'}
    put:
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pet'}
      responses: {'204': {description: Saved}}
components:
  schemas:
    Pet:
      type: object
      required: [name]
      properties:
        name: {type: string, description: What it answers to}
        kind: {type: string, enum: [cat, dog]}
        parent: {$ref: '#/components/schemas/Pet'}
        tags: {type: array, items: {type: string}}
"#;
        let v = view(doc).unwrap_or(Value::Null);
        assert_eq!(v["title"], "Pets");
        assert_eq!(v["servers"][0], "https://pets.example.com/v1");
        let ops = v["operations"].as_array().cloned().unwrap_or_default();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0]["method"], "GET");
        assert_eq!(ops[0]["parameters"][0]["type"], "string (uuid)");
        assert_eq!(ops[0]["parameters"][0]["required"], true);
        let rows = ops[0]["responses"][0]["content"][0]["rows"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
        // The recursive `parent` is listed once, not expanded forever.
        assert_eq!(names, ["name", "kind", "parent", "tags"]);
        assert_eq!(rows[0]["required"], true);
        assert_eq!(rows[1]["enum"], "cat, dog");
        assert_eq!(rows[3]["type"], "array of string");
        assert_eq!(ops[1]["request"][0]["rows"][0]["name"], "name");
        assert!(view("syntax = \"proto3\";").is_none());
    }

    #[test]
    fn swagger_two_bodies_and_servers() {
        let doc = r##"{"swagger": "2.0", "info": {"title": "Old", "version": "1"},
            "host": "old.example.com", "basePath": "/v1",
            "paths": {"/items": {"post": {
                "parameters": [
                    {"name": "dryRun", "in": "query", "type": "boolean"},
                    {"name": "body", "in": "body", "schema": {"$ref": "#/definitions/Item"}}],
                "responses": {"200": {"description": "ok", "schema": {"type": "array", "items": {"$ref": "#/definitions/Item"}}}}}}},
            "definitions": {"Item": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}}}"##;
        let v = view(doc).unwrap_or(Value::Null);
        assert_eq!(v["version"], "2.0");
        assert_eq!(v["servers"][0], "old.example.com/v1");
        let op = &v["operations"][0];
        assert_eq!(op["parameters"].as_array().map(Vec::len), Some(1));
        assert_eq!(op["parameters"][0]["type"], "boolean");
        assert_eq!(op["request"][0]["rows"][0]["name"], "id");
        assert_eq!(op["request"][0]["rows"][0]["required"], true);
        let response = &op["responses"][0]["content"][0]["rows"];
        assert_eq!(response[0]["type"], "array of Item");
        assert_eq!(response[1]["name"], "id");
    }
}
