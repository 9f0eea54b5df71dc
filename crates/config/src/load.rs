use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("failed to read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to parse config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Include { path: String, message: String },
    #[error("invalid environment override {name}: {message}")]
    EnvOverride { name: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The environment variables the loader may read (a map, so tests stay hermetic).
pub type Env = HashMap<String, String>;

/// One configuration layer: an embedded text (the defaults) or a file.
pub enum ConfigSource {
    Text { name: String, yaml: String },
    File(PathBuf),
}

fn parse_yaml(text: &str, name: &Path) -> Result<Value, ConfigError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| ConfigError::Parse {
        path: name.to_path_buf(),
        message: e.to_string(),
    })
}

static VAR_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$?\$\{([^{}]*)\}").expect("static regex"));

/// Substitutes `${VAR}` in one string. `None` when a variable without a
/// fallback is missing: Backstage then drops the whole value.
pub(crate) fn substitute(text: &str, env: &Env) -> Option<String> {
    let mut out = String::new();
    let mut last = 0;
    for caps in VAR_RE.captures_iter(text) {
        let whole = caps.get(0)?;
        out.push_str(&text[last..whole.start()]);
        last = whole.end();
        let matched = whole.as_str();
        if matched.starts_with("$$") {
            out.push_str(&matched[1..]);
            continue;
        }
        let inner = caps.get(1).map_or("", |m| m.as_str()).trim();
        let (name, fallback) = match inner.split_once(":-") {
            Some((n, f)) => (n.trim(), Some(f)),
            None => (inner, None),
        };
        match env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            Some(v) => out.push_str(v),
            None => out.push_str(fallback?),
        }
    }
    out.push_str(&text[last..]);
    Some(out)
}

const INCLUDE_KEYS: [&str; 3] = ["$file", "$env", "$include"];

/// Resolves includes and substitutions in a parsed tree. `None` means the
/// value is dropped (a missing `${VAR}`).
fn transform(
    value: Value,
    dir: &Path,
    env: &Env,
    path: &str,
) -> Result<Option<Value>, ConfigError> {
    match value {
        Value::String(s) => Ok(substitute(&s, env).map(Value::String)),
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                if let Some(v) = transform(item, dir, env, &format!("{path}[{i}]"))? {
                    out.push(v);
                }
            }
            Ok(Some(Value::Array(out)))
        }
        Value::Object(map) => {
            if let Some(key) = INCLUDE_KEYS.iter().find(|k| map.contains_key(**k)) {
                if map.len() != 1 {
                    return Err(ConfigError::Include {
                        path: path.to_string(),
                        message: format!("include key {key} should not have adjacent keys"),
                    });
                }
                let arg = map.get(*key).cloned().unwrap_or(Value::Null);
                return include(key, arg, dir, env, path);
            }
            let mut out = Map::new();
            for (k, v) in map {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if let Some(v) = transform(v, dir, env, &child)? {
                    out.insert(k, v);
                }
            }
            Ok(Some(Value::Object(out)))
        }
        other => Ok(Some(other)),
    }
}

fn include(
    key: &str,
    arg: Value,
    dir: &Path,
    env: &Env,
    path: &str,
) -> Result<Option<Value>, ConfigError> {
    let err = |message: String| ConfigError::Include {
        path: path.to_string(),
        message,
    };
    let Value::String(raw) = arg else {
        return Err(err(format!("{key} include value is not a string")));
    };
    let Some(arg) = substitute(&raw, env) else {
        return Ok(None);
    };
    match key {
        "$env" => Ok(env.get(&arg).map(|v| Value::String(v.clone()))),
        "$file" => {
            let file = dir.join(&arg);
            let text = std::fs::read_to_string(&file)
                .map_err(|e| err(format!("failed to include {}: {e}", file.display())))?;
            Ok(Some(Value::String(text.trim_end().to_string())))
        }
        _ => {
            let (file_part, sub_path) = match arg.split_once('#') {
                Some((f, p)) => (f, Some(p)),
                None => (arg.as_str(), None),
            };
            let file = dir.join(file_part);
            let text = std::fs::read_to_string(&file)
                .map_err(|e| err(format!("failed to include {}: {e}", file.display())))?;
            let parsed = if file_part.ends_with(".json") {
                serde_json::from_str(&text)
                    .map_err(|e| err(format!("failed to parse {}: {e}", file.display())))?
            } else if file_part.ends_with(".yaml") || file_part.ends_with(".yml") {
                parse_yaml(&text, &file)?
            } else {
                return Err(err(format!(
                    "no configuration format available for {file_part}"
                )));
            };
            let included_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            let Some(mut value) = transform(parsed, &included_dir, env, path)? else {
                return Ok(None);
            };
            if let Some(sub) = sub_path {
                for segment in sub.split('.') {
                    value = value.get(segment).cloned().ok_or_else(|| {
                        err(format!(
                            "value at '{sub}' in included file {} is not an object",
                            file.display()
                        ))
                    })?;
                }
            }
            Ok(Some(value))
        }
    }
}

/// Deep-merges `over` into `base`: objects merge, everything else replaces,
/// and `null` deletes the key.
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(&k);
                    continue;
                }
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

static ENV_SEGMENT_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^[a-z][a-z0-9]*(?:[-:][a-z0-9]+)*$").expect("static regex"));

fn env_overrides(env: &Env) -> Result<Value, ConfigError> {
    let mut names: Vec<&String> = env
        .keys()
        .filter(|k| k.starts_with("APP_CONFIG_"))
        .collect();
    names.sort();
    let mut out = Value::Object(Map::new());
    for name in names {
        let segments: Vec<&str> = name["APP_CONFIG_".len()..].split('_').collect();
        if segments.iter().any(|s| !ENV_SEGMENT_RE.is_match(s)) {
            return Err(ConfigError::EnvOverride {
                name: name.clone(),
                message: "each path segment must match [a-z][a-z0-9]*".into(),
            });
        }
        let raw = &env[name];
        let value =
            serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.clone()));
        if value.is_null() {
            return Err(ConfigError::EnvOverride {
                name: name.clone(),
                message: "null is not allowed".into(),
            });
        }
        let mut nested = value;
        for segment in segments.iter().rev() {
            let mut map = Map::new();
            map.insert((*segment).to_string(), nested);
            nested = Value::Object(map);
        }
        merge(&mut out, nested);
    }
    Ok(out)
}

/// Loads and merges the sources in order (later wins), then applies the
/// `APP_CONFIG_*` overrides from `env`.
pub fn load_config(sources: &[ConfigSource], env: &Env) -> Result<Value, ConfigError> {
    let mut merged = Value::Object(Map::new());
    for source in sources {
        let (parsed, dir) = match source {
            ConfigSource::Text { name, yaml } => {
                (parse_yaml(yaml, Path::new(name))?, PathBuf::from("."))
            }
            ConfigSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (parse_yaml(&text, path)?, dir)
            }
        };
        if let Some(value) = transform(parsed, &dir, env, "")? {
            merge(&mut merged, value);
        }
    }
    merge(&mut merged, env_overrides(env)?);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitution_rules() {
        let e = env(&[("HOST", " db "), ("EMPTY", "")]);
        assert_eq!(
            substitute("pg://${HOST}:5432", &e).as_deref(),
            Some("pg://db:5432")
        );
        assert_eq!(substitute("${MISSING:-x}", &e).as_deref(), Some("x"));
        assert_eq!(substitute("${EMPTY:-y}", &e).as_deref(), Some("y"));
        assert_eq!(substitute("$${HOST}", &e).as_deref(), Some("${HOST}"));
        assert_eq!(substitute("a ${MISSING} b", &e), None);
    }

    #[test]
    fn files_merge_arrays_replace_null_deletes_and_env_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s3cret\n").unwrap();
        std::fs::write(dir.path().join("extra.yaml"), "deep:\n  value: 42\n").unwrap();
        let a = dir.path().join("a.yaml");
        std::fs::write(&a, "backend:\n  listen: {port: 1}\n  keep: yes-string\ncatalog:\n  locations: [{type: file, target: a}]\n  drop: 1\n").unwrap();
        let b = dir.path().join("b.yaml");
        std::fs::write(&b, "backend:\n  listen: {host: h}\n  token: {$file: secret.txt}\n  user: {$env: USERNAME}\n  gone: ${NOPE}\n  inc: {$include: 'extra.yaml#deep.value'}\ncatalog:\n  locations: [{type: file, target: b}]\n  drop: null\n").unwrap();
        let e = env(&[
            ("USERNAME", "me"),
            ("APP_CONFIG_backend_listen_port", "7008"),
            ("APP_CONFIG_catalog_readonly", "true"),
        ]);
        let v = load_config(&[ConfigSource::File(a), ConfigSource::File(b)], &e).unwrap();
        assert_eq!(v["backend"]["listen"], json!({"port": 7008, "host": "h"}));
        assert_eq!(v["backend"]["token"], "s3cret");
        assert_eq!(v["backend"]["user"], "me");
        assert_eq!(v["backend"]["inc"], 42);
        assert_eq!(v["backend"]["keep"], "yes-string");
        assert!(v["backend"].get("gone").is_none());
        assert_eq!(
            v["catalog"]["locations"],
            json!([{"type": "file", "target": "b"}])
        );
        assert!(v["catalog"].get("drop").is_none());
        assert_eq!(v["catalog"]["readonly"], true);
    }

    #[test]
    fn include_with_adjacent_keys_is_an_error() {
        let src = ConfigSource::Text {
            name: "t".into(),
            yaml: "a: {$env: X, b: 1}".into(),
        };
        let err = load_config(&[src], &Env::new()).unwrap_err();
        assert!(
            err.to_string().contains("should not have adjacent keys"),
            "{err}"
        );
    }
}
