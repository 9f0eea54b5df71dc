//! `${{ }}` templating with Nunjucks semantics on minijinja.
//!
//! The engine has no loader: `{% include %}` and friends cannot reach the
//! file system, and nothing reads the environment. Fuel bounds the work one
//! render may do, so a template cannot loop forever.

use std::sync::Arc;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Serde, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior, Value};
use serde_json::{Map, Value as Json, json};
use thiserror::Error as ThisError;

use crate::integrations::{Integrations, parse_repo_url};

/// The context key that tells `failure()` whether an earlier step failed.
const FAILED_FLAG: &str = "__greenroom_failed";
const FUEL: u64 = 20_000_000;

#[derive(Debug, ThisError)]
#[error("{0}")]
pub struct RenderError(pub String);

#[derive(Debug, Clone, Copy, Default)]
pub struct SyntaxOptions {
    /// `{{ }}` delimiters, `cookiecutter.*` values and the `jsonify` filter.
    pub cookiecutter: bool,
    pub trim_blocks: bool,
    pub lstrip_blocks: bool,
}

/// A configured template engine. Cheap to share.
pub struct Templater {
    env: Environment<'static>,
    open: &'static str,
}

/// How Nunjucks prints a value: JavaScript's `String(value)`.
fn js_string(v: &Value) -> String {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => String::new(),
        ValueKind::Bool => if v.is_true() { "true" } else { "false" }.into(),
        ValueKind::Number => {
            let s = v.to_string();
            match s.strip_suffix(".0") {
                Some(int) => int.to_string(),
                None => s,
            }
        }
        ValueKind::Seq | ValueKind::Iterable => v
            .try_iter()
            .map(|it| it.map(|x| js_string(&x)).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
        ValueKind::Map => "[object Object]".into(),
        _ => v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
    }
}

fn to_json(v: &Value) -> Result<Json, Error> {
    serde_json::to_value(v).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
}

fn dump(v: Value, indent: Option<Value>) -> Result<String, Error> {
    if v.is_undefined() {
        return Ok(String::new());
    }
    let json = to_json(&v)?;
    let pretty = indent.is_some_and(|i| i.is_true());
    let out = if pretty {
        serde_json::to_string_pretty(&json)
    } else {
        serde_json::to_string(&json)
    };
    out.map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
}

fn truncate(
    s: String,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<String>,
) -> String {
    let length = length.unwrap_or(255);
    let end = end.unwrap_or_else(|| "...".into());
    if s.chars().count() <= length {
        return s;
    }
    let mut cut: String = s.chars().take(length).collect();
    if !killwords.unwrap_or(false)
        && let Some(space) = cut.rfind(' ')
    {
        cut.truncate(space);
    }
    cut + &end
}

fn parse_entity_ref(reference: String, options: Option<Value>) -> Result<Value, Error> {
    let opt = |key: &str| {
        options
            .as_ref()
            .and_then(|o| o.get_attr(key).ok())
            .and_then(|v| v.as_str().map(str::to_string))
    };
    let default_kind = opt("defaultKind");
    let default_namespace = opt("defaultNamespace");
    let parsed = greenroom_model::EntityRef::parse(
        &reference,
        default_kind.as_deref(),
        Some(default_namespace.as_deref().unwrap_or("default")),
    )
    .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    Ok(Value::from(Serde(json!({
        "kind": parsed.kind,
        "namespace": parsed.namespace,
        "name": parsed.name,
    }))))
}

fn pick(obj: Value, path: String) -> Value {
    let mut cur = obj;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = match cur.get_attr(part) {
            Ok(v) if !v.is_undefined() => v,
            _ => match part.parse::<usize>() {
                Ok(i) => cur.get_item(&Value::from(i)).unwrap_or(Value::UNDEFINED),
                Err(_) => return Value::UNDEFINED,
            },
        };
    }
    cur
}

/// Nunjucks object literals take bare keys (`{ defaultKind: 'group' }`);
/// Jinja reads a bare key as a variable. Quote bare keys inside `${{ }}` and
/// `{% %}` so templates written for Backstage keep their meaning.
fn quote_bare_keys<'a>(src: &'a str, open: &str) -> std::borrow::Cow<'a, str> {
    if !src.contains(':') {
        return std::borrow::Cow::Borrowed(src);
    }
    let bytes = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 8);
    // An empty `open` means `src` is one expression already.
    let (mut i, mut in_expr, mut quote) = (0usize, open.is_empty(), None::<u8>);
    while i < bytes.len() {
        let rest = &src[i..];
        if !in_expr {
            if rest.starts_with(open) || rest.starts_with("{%") {
                let n = if rest.starts_with(open) {
                    open.len()
                } else {
                    2
                };
                out.push_str(&rest[..n]);
                i += n;
                in_expr = true;
                continue;
            }
        } else if let Some(q) = quote {
            if bytes[i] == b'\\' && i + 1 < bytes.len() {
                out.push_str(&rest[..2]);
                i += 2;
                continue;
            }
            if bytes[i] == q {
                quote = None;
            }
        } else if rest.starts_with("}}") || rest.starts_with("%}") {
            out.push_str(&rest[..2]);
            i += 2;
            in_expr = false;
            continue;
        } else if bytes[i] == b'\'' || bytes[i] == b'"' {
            quote = Some(bytes[i]);
        } else if bytes[i] == b'{' || bytes[i] == b',' {
            // `{ key:` or `, key:` (but not `::`) becomes `{ 'key':`.
            let after = &rest[1..];
            let trimmed = after.trim_start();
            let ident_len = trimmed
                .char_indices()
                .take_while(|(j, c)| {
                    c.is_ascii_alphabetic()
                        || *c == '_'
                        || *c == '$'
                        || (*j > 0 && c.is_ascii_digit())
                })
                .count();
            let tail = trimmed[ident_len..].trim_start();
            if ident_len > 0 && tail.starts_with(':') && !tail.starts_with("::") {
                let ws = after.len() - trimmed.len();
                out.push(bytes[i] as char);
                out.push_str(&after[..ws]);
                out.push('\'');
                out.push_str(&trimmed[..ident_len]);
                out.push('\'');
                i += 1 + ws + ident_len;
                continue;
            }
        }
        let ch = rest.chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    std::borrow::Cow::Owned(out)
}

/// JavaScript string methods templates call on values (`name.toUpperCase()`).
fn js_method(_: &mut State, value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    let Some(s) = value.as_str() else {
        return Err(Error::new(
            ErrorKind::UnknownMethod,
            format!("{method} is not a method of this value"),
        ));
    };
    let arg = |i: usize| args.get(i).and_then(|a| a.as_str()).unwrap_or("");
    Ok(match method {
        "toUpperCase" => Value::from(s.to_uppercase()),
        "toLowerCase" => Value::from(s.to_lowercase()),
        "trim" => Value::from(s.trim()),
        "split" => Value::from(s.split(arg(0)).map(str::to_string).collect::<Vec<_>>()),
        "startsWith" => Value::from(s.starts_with(arg(0))),
        "endsWith" => Value::from(s.ends_with(arg(0))),
        "includes" => Value::from(s.contains(arg(0))),
        "replace" => Value::from(s.replacen(arg(0), arg(1), 1)),
        "replaceAll" => Value::from(s.replace(arg(0), arg(1))),
        _ => {
            return Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("string has no method named {method}"),
            ));
        }
    })
}

impl Templater {
    pub fn new(integrations: Arc<Integrations>, options: SyntaxOptions) -> Self {
        let mut env = Environment::new();
        let delimiters = if options.cookiecutter {
            ("{{", "}}")
        } else {
            ("${{", "}}")
        };
        // The delimiters are constants that differ from the block ones, so
        // building the syntax cannot fail; keep the default if it ever did.
        if let Ok(syntax) = SyntaxConfig::builder()
            .variable_delimiters(delimiters.0, delimiters.1)
            .trim_blocks(options.trim_blocks)
            .lstrip_blocks(options.lstrip_blocks)
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_fuel(Some(FUEL));
        env.set_formatter(|out, _state, v| {
            out.write_str(&js_string(v))
                .map_err(|_| Error::new(ErrorKind::WriteFailure, "write failed"))
        });
        env.set_unknown_method_callback(js_method);
        env.add_filter("dump", dump);
        if options.cookiecutter {
            env.add_filter("jsonify", dump);
        }
        env.add_filter("truncate", truncate);
        env.add_filter("parseEntityRef", parse_entity_ref);
        env.add_filter("pick", pick);
        let repo_integrations = integrations.clone();
        env.add_filter("parseRepoUrl", move |url: String| -> Result<Value, Error> {
            let spec = parse_repo_url(&url, &repo_integrations)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.0))?;
            Ok(Value::from(Serde(spec)))
        });
        env.add_filter("projectSlug", move |url: String| -> Result<String, Error> {
            let spec = parse_repo_url(&url, &integrations)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.0))?;
            let owner = spec
                .owner
                .or(spec.organization)
                .or(spec.workspace)
                .unwrap_or_default();
            Ok(format!("{owner}/{}", spec.repo))
        });
        env.add_function("always", |_kwargs: Kwargs| -> Result<bool, Error> {
            Ok(true)
        });
        env.add_function("failure", |state: &State| -> bool {
            state.lookup(FAILED_FLAG).is_some_and(|v| v.is_true())
        });
        Self {
            env,
            open: delimiters.0,
        }
    }

    /// Renders a text (file content, file name) to a string.
    pub fn render_text(&self, text: &str, context: &Json) -> Result<String, RenderError> {
        self.env
            .render_str(
                &quote_bare_keys(text, self.open),
                Value::from(Serde(context)),
            )
            .map_err(describe)
    }

    /// Renders every string inside `value` with Backstage's rules: a string
    /// that is exactly one `${{ expr }}` keeps the expression's JSON type;
    /// an empty result drops the key (`None` at the top); a string that does
    /// not parse as a template is left as it is.
    pub fn render_value(&self, value: &Json, context: &Json) -> Result<Option<Json>, RenderError> {
        let ctx = Value::from(Serde(context));
        self.render_in(value, &ctx)
    }

    /// Like [`render_value`](Self::render_value), with `failure()` answering
    /// whether an earlier step failed.
    pub fn render_condition(
        &self,
        value: &Json,
        context: &Json,
        failed: bool,
    ) -> Result<Option<Json>, RenderError> {
        let mut ctx = context.clone();
        if let Some(o) = ctx.as_object_mut() {
            o.insert(FAILED_FLAG.into(), Json::Bool(failed));
        }
        self.render_value(value, &ctx)
    }

    fn render_in(&self, value: &Json, ctx: &Value) -> Result<Option<Json>, RenderError> {
        match value {
            Json::String(s) => self.render_string(s, ctx),
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.render_in(item, ctx)?.unwrap_or(Json::Null));
                }
                Ok(Some(Json::Array(out)))
            }
            Json::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    if let Some(rendered) = self.render_in(v, ctx)? {
                        out.insert(k.clone(), rendered);
                    }
                }
                Ok(Some(Json::Object(out)))
            }
            other => Ok(Some(other.clone())),
        }
    }

    fn render_string(&self, s: &str, ctx: &Value) -> Result<Option<Json>, RenderError> {
        let open = self.open;
        let trimmed = s.trim();
        if let Some(inner) = trimmed
            .strip_prefix(open)
            .and_then(|t| t.strip_suffix("}}"))
            .filter(|inner| !inner.contains(open) && !inner.contains("}}"))
        {
            let inner = quote_bare_keys(inner, "");
            let result = match self.env.compile_expression(&inner) {
                Ok(expr) => expr.eval(ctx.clone()),
                Err(e) if e.kind() == ErrorKind::SyntaxError => {
                    return Ok(Some(Json::String(s.into())));
                }
                Err(e) => Err(e),
            };
            let v = result.map_err(describe)?;
            if v.is_undefined() || v.is_none() || v.as_str() == Some("") {
                return Ok(None);
            }
            return to_json(&v).map(Some).map_err(describe);
        }
        if !s.contains(open) && !s.contains("{%") {
            return Ok(Some(Json::String(s.into())));
        }
        match self.env.render_str(&quote_bare_keys(s, open), ctx.clone()) {
            Ok(out) if out.is_empty() => Ok(None),
            Ok(out) => Ok(Some(Json::String(out))),
            Err(e) if e.kind() == ErrorKind::SyntaxError => Ok(Some(Json::String(s.into()))),
            Err(e) => Err(describe(e)),
        }
    }
}

fn describe(e: Error) -> RenderError {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    RenderError(msg)
}

/// Whether a rendered `if` lets its step run (JavaScript truthiness).
pub fn is_truthy(v: Option<&Json>) -> bool {
    match v {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(Json::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Json::String(s)) => !s.is_empty() && s != "false",
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::Object(_)) => true,
    }
}

/// `GET /v2/templating-extensions`: the filters and globals greenroom adds
/// to the Nunjucks built-ins.
pub fn extensions() -> Json {
    let filter =
        |description: &str, input: Json, arguments: Json, output: Json, example: (&str, &str)| {
            json!({
                "description": description,
                "schema": { "input": input, "arguments": arguments, "output": output },
                "examples": [{ "example": example.0, "output": example.1 }],
            })
        };
    json!({
        "filters": {
            "parseRepoUrl": filter(
                "Parses a repository URL produced by RepoUrlPicker into its parts.",
                json!({"type": "string"}), json!([]),
                json!({"type": "object", "properties": {"host": {"type": "string"}, "owner": {"type": "string"}, "repo": {"type": "string"}, "organization": {"type": "string"}, "workspace": {"type": "string"}, "project": {"type": "string"}}, "required": ["host", "repo"]}),
                ("${{ parameters.repoUrl | parseRepoUrl }}", "{\"host\":\"github.com\",\"owner\":\"acme\",\"repo\":\"svc\"}")),
            "parseEntityRef": filter(
                "Parses an entity reference into kind, namespace and name.",
                json!({"type": "string"}),
                json!([{"type": "object", "properties": {"defaultKind": {"type": "string"}, "defaultNamespace": {"type": "string"}}}]),
                json!({"type": "object", "properties": {"kind": {"type": "string"}, "namespace": {"type": "string"}, "name": {"type": "string"}}}),
                ("${{ parameters.owner | parseEntityRef }}", "{\"kind\":\"group\",\"namespace\":\"default\",\"name\":\"team-a\"}")),
            "pick": filter(
                "Picks a value from an object by a dotted path.",
                json!({"type": "object"}), json!([{"type": "string"}]), json!({}),
                ("${{ parameters.owner | parseEntityRef | pick('name') }}", "team-a")),
            "projectSlug": filter(
                "Turns a repository URL into owner/repo.",
                json!({"type": "string"}), json!([]), json!({"type": "string"}),
                ("${{ parameters.repoUrl | projectSlug }}", "acme/svc")),
            "dump": filter(
                "Serializes a value as JSON (pretty with an indent argument).",
                json!({}), json!([{"type": "number"}]), json!({"type": "string"}),
                ("${{ values.name | dump }}", "\"svc\"")),
            "truncate": filter(
                "Cuts a string to a length, at a word boundary unless killwords.",
                json!({"type": "string"}), json!([{"type": "number"}, {"type": "boolean"}, {"type": "string"}]), json!({"type": "string"}),
                ("${{ 'hello world' | truncate(5) }}", "hello..."))
        },
        "globals": {
            "functions": {
                "always": { "description": "In a step's if: run this step even after an earlier step failed.", "schema": { "arguments": [], "output": {"type": "boolean"} }, "examples": [] },
                "failure": { "description": "In a step's if: true when an earlier step failed.", "schema": { "arguments": [], "output": {"type": "boolean"} }, "examples": [] }
            },
            "values": {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templater() -> Templater {
        Templater::new(Arc::new(Integrations::default()), SyntaxOptions::default())
    }

    /// The cases of tests/data/templating.yaml.
    #[test]
    fn renders_every_documented_case() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/templating.yaml"
        );
        let data: Json = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let t = templater();
        let cases = data["cases"].as_array().unwrap();
        assert!(cases.len() > 20);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let out = t.render_value(&case["input"], &data["context"]);
            let out = out.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(out.as_ref(), case.get("expected"), "{name}");
        }
    }

    #[test]
    fn syntax_errors_leave_the_string_and_filter_errors_fail() {
        let t = templater();
        let ctx = json!({"parameters": {}});
        assert_eq!(
            t.render_value(&json!("${{ parameters. }}"), &ctx).unwrap(),
            Some(json!("${{ parameters. }}"))
        );
        let err = t
            .render_value(
                &json!("${{ 'nowhere.example?owner=o&repo=r' | parseRepoUrl }}"),
                &ctx,
            )
            .unwrap_err();
        assert!(err.0.contains("No matching integration"), "{err}");
    }

    #[test]
    fn failure_and_always_follow_the_run() {
        let t = templater();
        let ctx = json!({});
        let failed = t
            .render_condition(&json!("${{ failure() }}"), &ctx, true)
            .unwrap();
        assert!(is_truthy(failed.as_ref()));
        let ok = t
            .render_condition(&json!("${{ failure() }}"), &ctx, false)
            .unwrap();
        assert!(!is_truthy(ok.as_ref()));
        let always = t
            .render_condition(&json!("${{ always() }}"), &ctx, true)
            .unwrap();
        assert!(is_truthy(always.as_ref()));
    }

    #[test]
    fn the_engine_cannot_include_files() {
        let t = templater();
        let err = t
            .render_text("{% include '/etc/passwd' %}", &json!({}))
            .unwrap_err();
        assert!(
            err.0.contains("not found") || err.0.contains("template"),
            "{err}"
        );
    }

    #[test]
    fn cookiecutter_mode_uses_plain_braces_and_jsonify() {
        let t = Templater::new(
            Arc::new(Integrations::default()),
            SyntaxOptions {
                cookiecutter: true,
                ..Default::default()
            },
        );
        let out = t
            .render_text(
                "{{ cookiecutter.name | jsonify }}",
                &json!({"cookiecutter": {"name": "a"}}),
            )
            .unwrap();
        assert_eq!(out, "\"a\"");
    }
}
