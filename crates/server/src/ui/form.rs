//! A template's parameter pages as HTML form fields, and submitted form
//! fields back into parameter values. The browser gets no schema engine:
//! each step is checked on the server with the template's own schema.

use serde_json::{Map, Value, json};

/// Choices for `EntityPicker`/`OwnerPicker` fields, read from the catalog by
/// the caller: field name → `(value, label)` pairs.
pub type Choices = std::collections::HashMap<String, Vec<(String, String)>>;

/// More choices than this become a text box with suggestions.
const SELECT_LIMIT: usize = 300;

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn ui_option<'a>(prop: &'a Value, key: &str) -> Option<&'a Value> {
    prop.pointer(&format!("/ui:options/{key}"))
}

/// The widget a property is edited with.
pub fn widget(prop: &Value) -> &'static str {
    let field = str_of(prop, "ui:field");
    let w = str_of(prop, "ui:widget");
    let ty = str_of(prop, "type");
    match field {
        "EntityPicker" | "OwnerPicker" | "MyGroupsPicker" | "OwnedEntityPicker" => {
            return "entity";
        }
        "RepoUrlPicker" => return "repo",
        "EntityTagsPicker" => return "lines",
        _ => {}
    }
    if ty == "array" {
        let items = prop.get("items").unwrap_or(&Value::Null);
        return if items.get("enum").is_some() {
            "checkboxes"
        } else if matches!(str_of(items, "type"), "string" | "")
            && items.get("properties").is_none()
        {
            "lines"
        } else {
            "json"
        };
    }
    if ty == "object" {
        return if prop.get("properties").is_some() {
            "object"
        } else {
            "json"
        };
    }
    if prop.get("enum").is_some() {
        return if w == "radio" { "radio" } else { "select" };
    }
    match (ty, w) {
        ("boolean", _) => "checkbox",
        ("number" | "integer", _) => "number",
        (_, "textarea") => "textarea",
        (_, "password") => "password",
        (_, "hidden") => "hidden",
        _ => "text",
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `host?owner=o&repo=r` → its three parts.
fn repo_parts(value: &str) -> (String, String, String) {
    let (host, query) = value.split_once('?').unwrap_or((value, ""));
    let mut owner = String::new();
    let mut repo = String::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "owner" | "organization" | "workspace" => owner = v.into_owned(),
            "repo" => repo = v.into_owned(),
            _ => {}
        }
    }
    (host.to_string(), owner, repo)
}

/// Whether `value` satisfies a trigger's condition (`enum` or `const`).
fn matches_condition(condition: &Value, value: Option<&Value>) -> bool {
    let Some(value) = value else {
        return false;
    };
    if let Some(c) = condition.get("const") {
        return c == value;
    }
    match condition.get("enum").and_then(Value::as_array) {
        Some(options) => options.contains(value),
        // A branch that does not constrain the trigger applies to any value.
        None => true,
    }
}

/// Adds `part`'s properties (but not `skip`) and required names to `into`.
fn merge_part(into: &mut Map<String, Value>, part: &Value, skip: Option<&str>) {
    if let Some(props) = part.get("properties").and_then(Value::as_object) {
        let target = into
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(target) = target {
            for (k, v) in props {
                if Some(k.as_str()) != skip && !target.contains_key(k) {
                    target.insert(k.clone(), v.clone());
                }
            }
        }
    }
    if let Some(req) = part.get("required").and_then(Value::as_array)
        && let Some(list) = into
            .entry("required")
            .or_insert_with(|| json!([]))
            .as_array_mut()
    {
        for r in req {
            if !list.contains(r) {
                list.push(r.clone());
            }
        }
    }
}

/// The page as it applies to `values`: the conditional properties of
/// `dependencies` (a schema, or the `oneOf` branch the trigger's value
/// selects) and of `allOf` `if`/`then` parts, merged in. Forms show and read
/// these; the schema checks the page as written.
pub fn effective_page(page: &Value, values: &Map<String, Value>) -> Value {
    let Some(base) = page.as_object() else {
        return page.clone();
    };
    let mut out = base.clone();
    for (trigger, dep) in page
        .get("dependencies")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let current = values.get(trigger);
        if current.is_none() || dep.is_array() {
            continue;
        }
        if dep.get("properties").is_some() || dep.get("required").is_some() {
            merge_part(&mut out, dep, Some(trigger));
        }
        for branch in dep
            .get("oneOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let condition = branch.pointer(&format!("/properties/{trigger}"));
            if condition.is_some_and(|c| matches_condition(c, current)) {
                merge_part(&mut out, branch, Some(trigger));
                break;
            }
        }
    }
    for part in page
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(cond), Some(then)) = (part.get("if"), part.get("then")) else {
            continue;
        };
        let holds = cond
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|props| {
                props
                    .iter()
                    .all(|(k, c)| matches_condition(c, values.get(k)))
            });
        if holds {
            merge_part(&mut out, then, None);
        }
    }
    Value::Object(out)
}

/// Properties that only some condition brings in: their values are dropped
/// when the condition no longer holds, and their triggers re-render the page.
pub fn triggers(page: &Value) -> Vec<String> {
    let mut out: Vec<String> = page
        .get("dependencies")
        .and_then(Value::as_object)
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    for part in page
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(props) = part.pointer("/if/properties").and_then(Value::as_object) {
            out.extend(props.keys().cloned());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Reads a page whose fields depend on each other: the page as it applies to
/// the submitted trigger values, with values of fields no longer shown dropped.
pub fn read_conditional(
    page: &Value,
    form: &[(String, String)],
    values: &mut Map<String, Value>,
) -> Map<String, Value> {
    read(page, form, values);
    let effective = effective_page(page, values);
    let shown: Vec<&String> = effective
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    let mut every = Map::new();
    merge_all_conditional(page, &mut every);
    for k in every.keys() {
        if !shown.contains(&k) {
            values.remove(k);
        }
    }
    read(&effective, form, values)
}

/// Every property any condition of `page` could bring in.
fn merge_all_conditional(page: &Value, into: &mut Map<String, Value>) {
    let mut add = |part: &Value| {
        if let Some(props) = part.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                into.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    };
    let own: Vec<String> = page
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for dep in page
        .get("dependencies")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|d| d.values())
    {
        add(dep);
        for branch in dep
            .get("oneOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add(branch);
        }
    }
    for part in page
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(then) = part.get("then") {
            add(then);
        }
    }
    for k in own {
        into.remove(&k);
    }
}

/// The fields of one page, ready for the template.
pub fn fields(
    page: &Value,
    values: &Value,
    errors: &Map<String, Value>,
    choices: &Choices,
) -> Vec<Value> {
    let empty = Map::new();
    let effective = effective_page(page, values.as_object().unwrap_or(&empty));
    let triggers = triggers(page);
    let mut out = object_fields(&effective, values, errors, choices, "");
    for f in &mut out {
        let path = f.get("path").and_then(Value::as_str).unwrap_or("");
        if triggers.iter().any(|t| t == path)
            && let Some(o) = f.as_object_mut()
        {
            o.insert("refresh".into(), json!(true));
        }
    }
    out
}

fn object_fields(
    schema: &Value,
    values: &Value,
    errors: &Map<String, Value>,
    choices: &Choices,
    prefix: &str,
) -> Vec<Value> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, prop)| {
            let path = format!("{prefix}{name}");
            let value = values.get(name).cloned().unwrap_or(Value::Null);
            let kind = widget(prop);
            let mut field = json!({
                "name": format!("f.{path}"),
                "id": format!("f-{}", path.replace(|c: char| !c.is_ascii_alphanumeric(), "-")),
                "path": path,
                "label": match str_of(prop, "title") { "" => name.as_str(), t => t },
                "description": str_of(prop, "description"),
                "help": str_of(prop, "ui:help"),
                "placeholder": str_of(prop, "ui:placeholder"),
                "required": required.contains(&name.as_str()),
                "autofocus": prop.get("ui:autofocus").and_then(Value::as_bool).unwrap_or(false),
                "readonly": prop.get("ui:readonly").and_then(Value::as_bool).unwrap_or(false)
                    || prop.get("ui:disabled").and_then(Value::as_bool).unwrap_or(false),
                "widget": kind,
                "value": display(&value),
                "error": errors.get(&path).cloned().unwrap_or(Value::Null),
            });
            let Some(f) = field.as_object_mut() else {
                return field;
            };
            match kind {
                "select" | "radio" => {
                    let names = prop.get("enumNames").and_then(Value::as_array);
                    let options: Vec<Value> = prop
                        .get("enum")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .enumerate()
                        .map(|(i, o)| {
                            let label = names
                                .and_then(|n| n.get(i))
                                .map(display)
                                .unwrap_or_else(|| display(o));
                            json!({ "value": display(o), "label": label, "selected": *o == value })
                        })
                        .collect();
                    f.insert("options".into(), json!(options));
                }
                "checkboxes" => {
                    let chosen = value.as_array().cloned().unwrap_or_default();
                    let options: Vec<Value> = prop
                        .pointer("/items/enum")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|o| json!({ "value": display(o), "label": display(o), "selected": chosen.contains(o) }))
                        .collect();
                    f.insert("options".into(), json!(options));
                }
                "lines" => {
                    let lines: Vec<String> = value
                        .as_array()
                        .map(|a| a.iter().map(display).collect())
                        .unwrap_or_default();
                    f.insert("value".into(), json!(lines.join("\n")));
                }
                "json" => {
                    let text = if value.is_null() {
                        String::new()
                    } else {
                        serde_json::to_string_pretty(&value).unwrap_or_default()
                    };
                    f.insert("value".into(), json!(text));
                }
                "object" => {
                    let sub = object_fields(prop, &value, errors, choices, &format!("{path}."));
                    f.insert("fields".into(), json!(sub));
                }
                "entity" => {
                    let list = choices.get(&path).cloned().unwrap_or_default();
                    let current = display(&value);
                    let options: Vec<Value> = list
                        .iter()
                        .take(SELECT_LIMIT)
                        .map(|(v, label)| json!({ "value": v, "label": label, "selected": v.eq_ignore_ascii_case(&current) }))
                        .collect();
                    f.insert("as_select".into(), json!(list.len() <= SELECT_LIMIT));
                    f.insert("options".into(), json!(options));
                }
                "repo" => {
                    let (host, owner, repo) = repo_parts(&display(&value));
                    let hosts: Vec<String> = ui_option(prop, "allowedHosts")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().map(display).collect())
                        .unwrap_or_default();
                    let owners: Vec<String> = ui_option(prop, "allowedOwners")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().map(display).collect())
                        .unwrap_or_default();
                    let host = if host.is_empty() {
                        hosts.first().cloned().unwrap_or_default()
                    } else {
                        host
                    };
                    f.insert(
                        "repo".into(),
                        json!({ "host": host, "owner": owner, "repo": repo, "hosts": hosts, "owners": owners }),
                    );
                }
                _ => {}
            }
            field
        })
        .collect()
}

/// Reads one page's fields out of a submitted form into `values`. Returns
/// field errors for input that cannot even be typed (a number that is not
/// one, JSON that does not parse); the schema checks the rest.
pub fn read(
    page: &Value,
    form: &[(String, String)],
    values: &mut Map<String, Value>,
) -> Map<String, Value> {
    let mut errors = Map::new();
    read_object(page, form, values, "", &mut errors);
    errors
}

fn read_object(
    schema: &Value,
    form: &[(String, String)],
    values: &mut Map<String, Value>,
    prefix: &str,
    errors: &mut Map<String, Value>,
) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, prop) in props {
        let path = format!("{prefix}{name}");
        let key = format!("f.{path}");
        let all: Vec<&str> = form
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        let one = all.first().copied().unwrap_or("");
        let kind = widget(prop);
        let value = match kind {
            // A hidden "false" comes first, so an unticked box still says so.
            "checkbox" => Some(json!(all.iter().any(|v| *v == "true" || *v == "on"))),
            "number" => {
                let t = one.trim();
                if t.is_empty() {
                    None
                } else if let Ok(n) = t.parse::<i64>() {
                    Some(json!(n))
                } else if let Ok(n) = t.parse::<f64>() {
                    Some(json!(n))
                } else {
                    errors.insert(path.clone(), json!("must be a number"));
                    Some(json!(t))
                }
            }
            "select" | "radio" => prop
                .get("enum")
                .and_then(Value::as_array)
                .and_then(|opts| opts.iter().find(|o| display(o) == one).cloned())
                .or_else(|| (!one.is_empty()).then(|| json!(one))),
            "checkboxes" => {
                let opts = prop
                    .pointer("/items/enum")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                Some(Value::Array(
                    opts.into_iter()
                        .filter(|o| all.contains(&display(o).as_str()))
                        .collect(),
                ))
            }
            "lines" => {
                let items: Vec<Value> = one
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| json!(l))
                    .collect();
                (!items.is_empty()).then_some(Value::Array(items))
            }
            "json" => {
                let t = one.trim();
                if t.is_empty() {
                    None
                } else {
                    match serde_json::from_str::<Value>(t) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            errors.insert(path.clone(), json!(format!("is not valid JSON: {e}")));
                            None
                        }
                    }
                }
            }
            "object" => {
                let mut inner = values
                    .get(name)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                read_object(prop, form, &mut inner, &format!("{path}."), errors);
                (!inner.is_empty()).then_some(Value::Object(inner))
            }
            "repo" => {
                let part = |p: &str| {
                    form.iter()
                        .find(|(k, _)| *k == format!("{key}.{p}"))
                        .map(|(_, v)| v.trim().to_string())
                        .unwrap_or_default()
                };
                let (host, owner, repo) = (part("host"), part("owner"), part("repo"));
                if host.is_empty() && owner.is_empty() && repo.is_empty() {
                    None
                } else {
                    let qs = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("owner", &owner)
                        .append_pair("repo", &repo)
                        .finish();
                    if owner.is_empty() || repo.is_empty() {
                        errors.insert(path.clone(), json!("needs an owner and a repository name"));
                    }
                    Some(json!(format!("{host}?{qs}")))
                }
            }
            _ => (!one.is_empty()).then(|| json!(one)),
        };
        match value {
            Some(v) => {
                values.insert(name.clone(), v);
            }
            None => {
                values.remove(name);
            }
        }
    }
}

/// Schema errors (the npm `jsonschema` shape) keyed by field path.
pub fn errors_by_field(errors: &[Value]) -> Map<String, Value> {
    let mut out = Map::new();
    for e in errors {
        let mut path: Vec<String> = e
            .get("path")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(display)
            .collect();
        let message = str_of(e, "message").to_string();
        let message = if str_of(e, "name") == "required" {
            path.push(display(e.get("argument").unwrap_or(&Value::Null)));
            "is required".to_string()
        } else {
            message
        };
        // Array items report under their array.
        let key = path
            .iter()
            .take_while(|p| p.parse::<u64>().is_err())
            .cloned()
            .collect::<Vec<_>>()
            .join(".");
        out.entry(key).or_insert(json!(message));
    }
    out
}

/// Schema defaults of every page, for a form that has not been filled in.
pub fn defaults(pages: &[Value]) -> Map<String, Value> {
    let mut out = Map::new();
    for page in pages {
        for (k, p) in page
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(d) = p.get("default") {
                out.insert(k.clone(), d.clone());
            }
        }
    }
    out
}

/// What the review step lists: each page's fields with their values, secret
/// widgets masked.
pub fn review(pages: &[Value], values: &Map<String, Value>) -> Vec<Value> {
    pages
        .iter()
        .map(|page| {
            let page = &effective_page(page, values);
            let items: Vec<Value> = page
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter(|(k, _)| values.contains_key(*k))
                .map(|(k, p)| {
                    let v = values.get(k).cloned().unwrap_or(Value::Null);
                    let label = p
                        .get("enum")
                        .and_then(Value::as_array)
                        .and_then(|opts| opts.iter().position(|o| *o == v))
                        .and_then(|i| p.pointer(&format!("/enumNames/{i}")))
                        .map(display);
                    let shown = if widget(p) == "password" || str_of(p, "ui:field") == "Secret" {
                        "••••••".to_string()
                    } else if let Some(label) = label {
                        label
                    } else {
                        match &v {
                            Value::Array(a) => a.iter().map(display).collect::<Vec<_>>().join(", "),
                            other => display(other),
                        }
                    };
                    json!({ "label": match str_of(p, "title") { "" => k.as_str(), t => t }, "value": shown })
                })
                .collect();
            json!({ "title": str_of(page, "title"), "items": items })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Value {
        json!({
            "required": ["name", "repoUrl"],
            "properties": {
                "name": { "type": "string", "title": "Name" },
                "replicas": { "type": "integer" },
                "public": { "type": "boolean" },
                "envs": { "type": "array", "items": { "type": "string", "enum": ["dev", "prod"] } },
                "tags": { "type": "array", "items": { "type": "string" } },
                "size": { "type": "string", "enum": ["s", "m"], "enumNames": ["Small", "Medium"] },
                "repoUrl": { "type": "string", "ui:field": "RepoUrlPicker", "ui:options": { "allowedHosts": ["github.com"] } },
                "db": { "type": "object", "properties": { "engine": { "type": "string" } } }
            }
        })
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn form_fields_become_typed_values() {
        let mut values = Map::new();
        let errors = read(
            &page(),
            &form(&[
                ("f.name", "orders"),
                ("f.replicas", "3"),
                ("f.public", "false"),
                ("f.public", "true"),
                ("f.envs", "dev"),
                ("f.envs", "prod"),
                ("f.tags", "a\n\n b \n"),
                ("f.size", "m"),
                ("f.repoUrl.host", "github.com"),
                ("f.repoUrl.owner", "acme"),
                ("f.repoUrl.repo", "orders"),
                ("f.db.engine", "postgres"),
            ]),
            &mut values,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            Value::Object(values),
            json!({
                "name": "orders", "replicas": 3, "public": true, "envs": ["dev", "prod"],
                "tags": ["a", "b"], "size": "m", "repoUrl": "github.com?owner=acme&repo=orders",
                "db": { "engine": "postgres" }
            })
        );
    }

    #[test]
    fn bad_input_is_reported_on_its_field() {
        let mut values = Map::new();
        values.insert("name".into(), json!("kept from before"));
        let errors = read(
            &page(),
            &form(&[("f.replicas", "three"), ("f.repoUrl.host", "github.com")]),
            &mut values,
        );
        assert_eq!(errors["replicas"], "must be a number");
        assert_eq!(errors["repoUrl"], "needs an owner and a repository name");
        // An emptied field is removed, so `required` can report it.
        assert!(!values.contains_key("name"));
        let schema_errors = vec![
            json!({ "path": [], "name": "required", "argument": "name", "message": "requires property \"name\"" }),
            json!({ "path": ["envs", 0], "name": "enum", "message": "is not one of enum values: dev,prod" }),
        ];
        let by_field = errors_by_field(&schema_errors);
        assert_eq!(by_field["name"], "is required");
        assert_eq!(by_field["envs"], "is not one of enum values: dev,prod");
    }

    fn conditional_page() -> Value {
        json!({
            "properties": {
                "database": { "type": "string", "enum": ["none", "postgres"] },
                "public": { "type": "boolean" }
            },
            "dependencies": { "database": { "oneOf": [
                { "properties": { "database": { "enum": ["none"] } } },
                { "properties": { "database": { "enum": ["postgres"] }, "size": { "type": "string" } }, "required": ["size"] }
            ] } },
            "allOf": [{ "if": { "properties": { "public": { "const": true } } },
                        "then": { "properties": { "hostname": { "type": "string" } } } }]
        })
    }

    #[test]
    fn conditions_bring_fields_in_and_take_their_values_out() {
        let page = conditional_page();
        let names = |values: &Map<String, Value>| -> Vec<String> {
            fields(
                &page,
                &Value::Object(values.clone()),
                &Map::new(),
                &Choices::new(),
            )
            .iter()
            .filter_map(|f| f["path"].as_str().map(str::to_string))
            .collect()
        };
        let mut values = Map::new();
        assert_eq!(names(&values), ["database", "public"]);
        read_conditional(
            &page,
            &form(&[
                ("f.database", "postgres"),
                ("f.size", "xl"),
                ("f.public", "true"),
            ]),
            &mut values,
        );
        assert_eq!(names(&values), ["database", "public", "size", "hostname"]);
        assert_eq!(values["size"], "xl");
        assert_eq!(effective_page(&page, &values)["required"], json!(["size"]));
        let shown = fields(
            &page,
            &Value::Object(values.clone()),
            &Map::new(),
            &Choices::new(),
        );
        assert_eq!(shown[0]["refresh"], true, "the trigger re-renders the page");
        // Switching back drops what only the other answer asked for.
        read_conditional(
            &page,
            &form(&[
                ("f.database", "none"),
                ("f.size", "xl"),
                ("f.public", "false"),
            ]),
            &mut values,
        );
        assert!(!values.contains_key("size") && !values.contains_key("hostname"));
        assert_eq!(names(&values), ["database", "public"]);
    }

    #[test]
    fn fields_show_current_values_and_choices() {
        let values =
            json!({ "size": "m", "envs": ["prod"], "repoUrl": "github.com?owner=acme&repo=x" });
        let fs = fields(&page(), &values, &Map::new(), &Choices::new());
        let by = |n: &str| {
            fs.iter()
                .find(|f| f["path"] == n)
                .cloned()
                .unwrap_or(Value::Null)
        };
        assert_eq!(
            by("size")["options"][1],
            json!({ "value": "m", "label": "Medium", "selected": true })
        );
        assert_eq!(by("envs")["options"][1]["selected"], true);
        assert_eq!(by("repoUrl")["repo"]["owner"], "acme");
        assert_eq!(by("db")["fields"][0]["name"], "f.db.engine");
        assert_eq!(by("name")["required"], true);
    }
}
