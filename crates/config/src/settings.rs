use std::time::Duration;

use serde_json::Value;

use crate::ConfigError;

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseSettings {
    /// `better-sqlite3` / `sqlite3`: a file path or `:memory:`.
    Sqlite { path: String },
    /// `pg`: the connection value as configured (string URL or object).
    Postgres { connection: Value },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAccessToken {
    pub token: String,
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadAllow {
    pub host: String,
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleAllow {
    pub kind: String,
    pub spec_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleLocation {
    Any,
    Exact { kind: String, target: String },
    Pattern { kind: String, pattern: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRule {
    pub allow: Vec<RuleAllow>,
    /// Empty: the rule applies to every location.
    pub locations: Vec<RuleLocation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogLocation {
    pub kind: String,
    pub target: String,
    pub presence: Option<String>,
    pub rules: Vec<CatalogRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrphanStrategy {
    Delete,
    Keep,
}

/// The settings greenroom reads, with Backstage's defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub base_url: String,
    pub listen: Listen,
    pub database: DatabaseSettings,
    pub auth_tokens: Vec<ExternalAccessToken>,
    pub auth_disabled: bool,
    pub reading_allow: Vec<ReadAllow>,
    pub locations: Vec<CatalogLocation>,
    /// `None`: Backstage's default allow-list (Component, API, Location).
    pub rules: Option<Vec<CatalogRule>>,
    /// `None` when processing is disabled (`processingInterval: false`).
    pub processing_interval: Option<Duration>,
    pub orphan_strategy: OrphanStrategy,
    pub readonly: bool,
    pub conflict_refresh: bool,
    pub allowed_location_types: Vec<String>,
    pub health_headers: Vec<(String, String)>,
    /// The merged tree, for parts that read their own keys later.
    pub raw: Value,
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, k| cur.get(k))
}

fn string(v: &Value, path: &str) -> Result<Option<String>, ConfigError> {
    match get(v, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(invalid(format!("{path} must be a string, got {other}"))),
    }
}

fn boolean(v: &Value, path: &str) -> Result<bool, ConfigError> {
    match get(v, path) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
        Some(other) => Err(invalid(format!("{path} must be a boolean, got {other}"))),
    }
}

fn parse_port(raw: &str, path: &str) -> Result<u16, ConfigError> {
    raw.trim()
        .parse()
        .map_err(|_| invalid(format!("{path}: '{raw}' is not a port number")))
}

fn parse_listen(v: &Value) -> Result<Listen, ConfigError> {
    let mut listen = Listen {
        host: String::new(),
        port: 7007,
    };
    match get(v, "backend.listen") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match s.rsplit_once(':') {
            Some((host, port)) => {
                listen.host = host.to_string();
                listen.port = parse_port(port, "backend.listen")?;
            }
            None => listen.port = parse_port(s, "backend.listen")?,
        },
        Some(Value::Number(n)) => listen.port = parse_port(&n.to_string(), "backend.listen")?,
        Some(Value::Object(_)) => {
            if let Some(host) = string(v, "backend.listen.host")? {
                listen.host = host;
            }
            if let Some(port) = string(v, "backend.listen.port")? {
                listen.port = parse_port(&port, "backend.listen.port")?;
            }
        }
        Some(other) => {
            return Err(invalid(format!(
                "backend.listen must be a string or object, got {other}"
            )));
        }
    }
    Ok(listen)
}

fn parse_database(v: &Value) -> Result<DatabaseSettings, ConfigError> {
    let client = string(v, "backend.database.client")?.unwrap_or_else(|| "better-sqlite3".into());
    let connection = get(v, "backend.database.connection")
        .cloned()
        .unwrap_or(Value::Null);
    match client.as_str() {
        "better-sqlite3" | "sqlite3" => {
            let path = match &connection {
                Value::Null => ":memory:".to_string(),
                Value::String(s) => s.clone(),
                Value::Object(o) => match (o.get("filename"), o.get("directory")) {
                    (Some(Value::String(f)), _) => f.clone(),
                    (_, Some(Value::String(d))) => {
                        format!("{}/catalog.sqlite", d.trim_end_matches('/'))
                    }
                    _ => {
                        return Err(invalid(
                            "backend.database.connection for sqlite needs a path, ':memory:', {filename} or {directory}",
                        ));
                    }
                },
                other => {
                    return Err(invalid(format!(
                        "backend.database.connection: unsupported value {other}"
                    )));
                }
            };
            Ok(DatabaseSettings::Sqlite { path })
        }
        "pg" => Ok(DatabaseSettings::Postgres { connection }),
        other => Err(invalid(format!(
            "backend.database.client '{other}' is not supported; use better-sqlite3, sqlite3 or pg"
        ))),
    }
}

fn parse_rule_allow(item: &Value) -> Result<RuleAllow, ConfigError> {
    match item {
        Value::String(kind) => Ok(RuleAllow {
            kind: kind.clone(),
            spec_type: None,
        }),
        Value::Object(o) => Ok(RuleAllow {
            kind: o
                .get("kind")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("catalog rule allow entries need a kind"))?
                .to_string(),
            spec_type: o
                .get("spec.type")
                .and_then(Value::as_str)
                .map(str::to_string),
        }),
        other => Err(invalid(format!(
            "catalog rule allow entry {other} is not a kind"
        ))),
    }
}

fn parse_rules(list: &Value, path: &str) -> Result<Vec<CatalogRule>, ConfigError> {
    let Value::Array(items) = list else {
        return Err(invalid(format!("{path} must be a list")));
    };
    items
        .iter()
        .map(|rule| {
            let allow = rule
                .get("allow")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid(format!("{path}[].allow must be a list")))?
                .iter()
                .map(parse_rule_allow)
                .collect::<Result<Vec<_>, _>>()?;
            let locations = match rule.get("locations").and_then(Value::as_array) {
                None => Vec::new(),
                Some(locs) => locs
                    .iter()
                    .map(|l| {
                        let kind = l
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        match (
                            l.get("exact").and_then(Value::as_str),
                            l.get("pattern").and_then(Value::as_str),
                        ) {
                            (Some(_), Some(_)) => Err(invalid(format!(
                                "{path}: exact and pattern are mutually exclusive"
                            ))),
                            (Some(t), None) => Ok(RuleLocation::Exact {
                                kind,
                                target: t.to_string(),
                            }),
                            (None, Some(p)) => Ok(RuleLocation::Pattern {
                                kind,
                                pattern: p.to_string(),
                            }),
                            (None, None) => Ok(RuleLocation::Pattern {
                                kind,
                                pattern: "**".into(),
                            }),
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            let locations = if locations.is_empty() {
                vec![RuleLocation::Any]
            } else {
                locations
            };
            Ok(CatalogRule { allow, locations })
        })
        .collect()
}

/// Parses a Backstage duration: `{minutes: 5, seconds: 3}`, ISO-8601 (`PT5M`)
/// or a short string (`90s`, `5m`, `1h`, `1d`, `250ms`).
pub fn parse_duration(v: &Value) -> Result<Duration, ConfigError> {
    match v {
        Value::Object(o) => {
            let mut ms = 0f64;
            for (k, n) in o {
                let n = n
                    .as_f64()
                    .ok_or_else(|| invalid(format!("duration field {k} must be a number")))?;
                let unit = match k.as_str() {
                    "milliseconds" => 1.0,
                    "seconds" => 1e3,
                    "minutes" => 60e3,
                    "hours" => 3600e3,
                    "days" => 86400e3,
                    "weeks" => 7.0 * 86400e3,
                    "months" => 30.0 * 86400e3,
                    "years" => 365.0 * 86400e3,
                    other => return Err(invalid(format!("unknown duration field {other}"))),
                };
                ms += n * unit;
            }
            Ok(Duration::from_millis(ms as u64))
        }
        Value::Number(n) => Ok(Duration::from_millis(n.as_u64().unwrap_or(0))),
        Value::String(s) => {
            parse_duration_str(s).ok_or_else(|| invalid(format!("'{s}' is not a duration")))
        }
        other => Err(invalid(format!("{other} is not a duration"))),
    }
}

fn parse_duration_str(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Some(iso) = s.strip_prefix("PT").or_else(|| s.strip_prefix("pt")) {
        let mut total = 0f64;
        let mut num = String::new();
        for c in iso.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
            } else {
                let n: f64 = num.parse().ok()?;
                num.clear();
                total += n * match c.to_ascii_uppercase() {
                    'H' => 3600.0,
                    'M' => 60.0,
                    'S' => 1.0,
                    _ => return None,
                };
            }
        }
        return num.is_empty().then(|| Duration::from_secs_f64(total));
    }
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "sec" | "seconds" => n,
        "m" | "min" | "minutes" => n * 60.0,
        "h" | "hours" => n * 3600.0,
        "d" | "days" => n * 86400.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

impl Settings {
    pub fn from_value(v: Value) -> Result<Self, ConfigError> {
        let listen = parse_listen(&v)?;
        let base_url = string(&v, "backend.baseUrl")?.unwrap_or_else(|| {
            let host = if listen.host.is_empty() || listen.host == "0.0.0.0" {
                "localhost"
            } else {
                &listen.host
            };
            format!("http://{host}:{}", listen.port)
        });
        let auth_tokens = match get(&v, "backend.auth.externalAccess") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .filter(|i| i.get("type").and_then(Value::as_str) == Some("static"))
                .map(|i| {
                    let token = string(i, "options.token")?
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| {
                            invalid("backend.auth.externalAccess static entries need options.token")
                        })?;
                    let subject =
                        string(i, "options.subject")?.unwrap_or_else(|| "external".into());
                    Ok(ExternalAccessToken { token, subject })
                })
                .collect::<Result<Vec<_>, ConfigError>>()?,
            Some(_) => return Err(invalid("backend.auth.externalAccess must be a list")),
        };
        let reading_allow = match get(&v, "backend.reading.allow") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    Ok(ReadAllow {
                        host: string(i, "host")?
                            .ok_or_else(|| invalid("backend.reading.allow[].host is required"))?,
                        paths: i
                            .get("paths")
                            .and_then(Value::as_array)
                            .map(|p| {
                                p.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_string)
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                })
                .collect::<Result<Vec<_>, ConfigError>>()?,
            _ => Vec::new(),
        };
        let locations = match get(&v, "catalog.locations") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    Ok(CatalogLocation {
                        kind: string(i, "type")?
                            .ok_or_else(|| invalid("catalog.locations[].type is required"))?,
                        target: string(i, "target")?
                            .ok_or_else(|| invalid("catalog.locations[].target is required"))?,
                        presence: string(i, "presence")?,
                        rules: match i.get("rules") {
                            Some(r) => parse_rules(r, "catalog.locations[].rules")?,
                            None => Vec::new(),
                        },
                    })
                })
                .collect::<Result<Vec<_>, ConfigError>>()?,
            Some(_) => return Err(invalid("catalog.locations must be a list")),
        };
        let rules = match get(&v, "catalog.rules") {
            None | Some(Value::Null) => None,
            Some(r) => Some(parse_rules(r, "catalog.rules")?),
        };
        let processing_interval = match get(&v, "catalog.processingInterval") {
            None | Some(Value::Null) => Some(Duration::from_secs(100)),
            Some(Value::Bool(false)) => None,
            Some(d) => Some(parse_duration(d)?),
        };
        let orphan_strategy = match string(&v, "catalog.orphanStrategy")?.as_deref() {
            None | Some("delete") => OrphanStrategy::Delete,
            Some("keep") => OrphanStrategy::Keep,
            Some(other) => {
                return Err(invalid(format!(
                    "catalog.orphanStrategy '{other}' must be delete or keep"
                )));
            }
        };
        let conflict_refresh = match string(&v, "catalog.defaultLocationConflictStrategy")?
            .as_deref()
        {
            None | Some("reject") => false,
            Some("refresh") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "catalog.defaultLocationConflictStrategy '{other}' must be reject or refresh"
                )));
            }
        };
        let allowed_location_types = match get(&v, "catalog.allowedLocationTypes") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => vec!["url".to_string()],
        };
        let health_headers = match get(&v, "backend.health.headers") {
            Some(Value::Object(o)) => o
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Settings {
            base_url: base_url.trim_end_matches('/').to_string(),
            listen,
            database: parse_database(&v)?,
            auth_tokens,
            auth_disabled: boolean(&v, "backend.auth.dangerouslyDisableDefaultAuthPolicy")?,
            reading_allow,
            locations,
            rules,
            processing_interval,
            orphan_strategy,
            readonly: boolean(&v, "catalog.readonly")?,
            conflict_refresh,
            allowed_location_types,
            health_headers,
            raw: v,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_forms() {
        let s = Settings::from_value(json!({})).unwrap();
        assert_eq!(
            s.listen,
            Listen {
                host: String::new(),
                port: 7007
            }
        );
        assert_eq!(
            s.database,
            DatabaseSettings::Sqlite {
                path: ":memory:".into()
            }
        );
        assert_eq!(s.processing_interval, Some(Duration::from_secs(100)));
        assert_eq!(s.allowed_location_types, vec!["url"]);
        assert!(s.rules.is_none());

        let s = Settings::from_value(json!({
            "backend": {"listen": "127.0.0.1:7010", "database": {"client": "better-sqlite3", "connection": {"directory": "/tmp/x"}},
                         "auth": {"externalAccess": [{"type": "static", "options": {"token": "t", "subject": "ci"}}]}},
            "catalog": {"processingInterval": {"minutes": 2}, "orphanStrategy": "keep",
                        "rules": [{"allow": ["Component", {"kind": "API", "spec.type": "openapi"}], "locations": [{"type": "file", "pattern": "/x/**"}]}]}
        })).unwrap();
        assert_eq!(
            s.listen,
            Listen {
                host: "127.0.0.1".into(),
                port: 7010
            }
        );
        assert_eq!(
            s.database,
            DatabaseSettings::Sqlite {
                path: "/tmp/x/catalog.sqlite".into()
            }
        );
        assert_eq!(s.auth_tokens[0].subject, "ci");
        assert_eq!(s.processing_interval, Some(Duration::from_secs(120)));
        assert_eq!(s.orphan_strategy, OrphanStrategy::Keep);
        let rules = s.rules.unwrap();
        assert_eq!(rules[0].allow[1].spec_type.as_deref(), Some("openapi"));
        assert!(
            Settings::from_value(json!({"catalog": {"processingInterval": false}}))
                .unwrap()
                .processing_interval
                .is_none()
        );
        assert!(
            Settings::from_value(json!({"backend": {"database": {"client": "mysql"}}})).is_err()
        );
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration(&json!("PT1M30S")).unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_duration(&json!("2h")).unwrap(),
            Duration::from_secs(7200)
        );
        assert_eq!(
            parse_duration(&json!({"seconds": 1, "milliseconds": 500})).unwrap(),
            Duration::from_millis(1500)
        );
        assert!(parse_duration(&json!("soon")).is_err());
    }
}
