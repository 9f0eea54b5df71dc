//! The catalog's query language: `filter=` parameters and predicate bodies,
//! parsed into one [`Predicate`] tree that the store turns into SQL.
//! Values are lower-cased here because the search index is.

use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Predicate {
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    Not(Box<Predicate>),
    Field { key: String, op: FieldOp },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldOp {
    /// The key exists with exactly this (lower-cased) value.
    Eq(String),
    Exists(bool),
    In(Vec<String>),
    HasPrefix(String),
}

/// Leaves built in code (the web UI's filters) go through these, so keys and
/// values are lower-cased as parsed ones are.
impl Predicate {
    /// `key` has exactly `value`.
    pub fn eq(key: &str, value: &str) -> Self {
        Predicate::Field {
            key: key.to_lowercase(),
            op: FieldOp::Eq(value.to_lowercase()),
        }
    }

    /// `key` has one of `values`.
    pub fn one_of<S: AsRef<str>>(key: &str, values: &[S]) -> Self {
        Predicate::Field {
            key: key.to_lowercase(),
            op: FieldOp::In(values.iter().map(|v| v.as_ref().to_lowercase()).collect()),
        }
    }

    /// `key` is present, with any value.
    pub fn exists(key: &str) -> Self {
        Predicate::Field {
            key: key.to_lowercase(),
            op: FieldOp::Exists(true),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    #[error(
        "Invalid filter, '{0}' is not a valid statement (expected a string on the form a=b or a= or a)"
    )]
    InvalidFilter(String),
    #[error("Invalid query: {0}")]
    InvalidPredicate(String),
}

/// Parses repeated `filter` parameters: sets are OR'ed, keys in a set AND'ed,
/// repeated keys in one set OR'ed. `None` when there are no filters.
pub fn parse_filter_params<S: AsRef<str>>(params: &[S]) -> Result<Option<Predicate>, QueryError> {
    let mut sets = Vec::new();
    for param in params {
        let mut keys: Vec<(String, Vec<Option<String>>)> = Vec::new();
        for statement in param.as_ref().split(',') {
            let (key, value) = match statement.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (statement.trim(), None),
            };
            if key.is_empty() {
                return Err(QueryError::InvalidFilter(statement.to_string()));
            }
            let key = key.to_lowercase();
            let value = value.map(str::to_lowercase);
            match keys.iter_mut().find(|(k, _)| *k == key) {
                Some((_, values)) => values.push(value),
                None => keys.push((key, vec![value])),
            }
        }
        let conditions = keys
            .into_iter()
            .map(|(key, values)| {
                // A bare `key` anywhere in the group means "exists".
                if values.iter().any(Option::is_none) {
                    Predicate::Field {
                        key,
                        op: FieldOp::Exists(true),
                    }
                } else {
                    let mut vals: Vec<String> = values.into_iter().flatten().collect();
                    if vals.len() == 1 {
                        Predicate::Field {
                            key,
                            op: FieldOp::Eq(vals.remove(0)),
                        }
                    } else {
                        Predicate::Field {
                            key,
                            op: FieldOp::In(vals),
                        }
                    }
                }
            })
            .collect();
        sets.push(Predicate::All(conditions));
    }
    Ok(match sets.len() {
        0 => None,
        1 => sets.pop(),
        _ => Some(Predicate::Any(sets)),
    })
}

fn primitive(value: &Value, context: &str) -> Result<String, QueryError> {
    match value {
        Value::String(s) => Ok(s.to_lowercase()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(QueryError::InvalidPredicate(format!(
            "{context} must be a string, number or boolean"
        ))),
    }
}

fn parse_field(key: &str, value: &Value) -> Result<Predicate, QueryError> {
    let field = |op| Predicate::Field {
        key: key.to_lowercase(),
        op,
    };
    let Value::Object(ops) = value else {
        return Ok(field(FieldOp::Eq(primitive(value, key)?)));
    };
    if ops.len() != 1 {
        return Err(QueryError::InvalidPredicate(format!(
            "the value of '{key}' must have exactly one operator"
        )));
    }
    let Some((op, arg)) = ops.iter().next() else {
        return Err(QueryError::InvalidPredicate(format!(
            "empty operator for '{key}'"
        )));
    };
    match op.as_str() {
        "$exists" => match arg {
            Value::Bool(b) => Ok(field(FieldOp::Exists(*b))),
            _ => Err(QueryError::InvalidPredicate(
                "$exists takes a boolean".into(),
            )),
        },
        "$in" => match arg {
            Value::Array(items) => Ok(field(FieldOp::In(
                items
                    .iter()
                    .map(|i| primitive(i, "$in item"))
                    .collect::<Result<_, _>>()?,
            ))),
            _ => Err(QueryError::InvalidPredicate("$in takes an array".into())),
        },
        "$hasPrefix" => match arg {
            Value::String(s) => Ok(field(FieldOp::HasPrefix(s.to_lowercase()))),
            _ => Err(QueryError::InvalidPredicate(
                "$hasPrefix takes a string".into(),
            )),
        },
        "$contains" if key == "relations" => {
            let kind = arg.get("type").and_then(Value::as_str).ok_or_else(|| {
                QueryError::InvalidPredicate("relations $contains needs a type".into())
            })?;
            let rel_key = format!("relations.{}", kind.to_lowercase());
            Ok(match arg.get("targetRef") {
                Some(t) => Predicate::Field {
                    key: rel_key,
                    op: FieldOp::Eq(primitive(t, "targetRef")?),
                },
                None => Predicate::Field {
                    key: rel_key,
                    op: FieldOp::Exists(true),
                },
            })
        }
        "$contains" => Ok(field(FieldOp::Eq(primitive(arg, "$contains")?))),
        other => Err(QueryError::InvalidPredicate(format!(
            "unknown operator {other}"
        ))),
    }
}

/// Parses a predicate body (§3.6).
pub fn parse_predicate(value: &Value) -> Result<Predicate, QueryError> {
    let Value::Object(map) = value else {
        return Err(QueryError::InvalidPredicate(
            "a predicate must be an object".into(),
        ));
    };
    let list = |arg: &Value, op: &str| -> Result<Vec<Predicate>, QueryError> {
        match arg {
            Value::Array(items) => items.iter().map(parse_predicate).collect(),
            _ => Err(QueryError::InvalidPredicate(format!("{op} takes an array"))),
        }
    };
    if let Some((op, arg)) = map
        .iter()
        .find(|(k, _)| matches!(k.as_str(), "$all" | "$any" | "$not"))
    {
        if map.len() != 1 {
            return Err(QueryError::InvalidPredicate(format!(
                "{op} must be the only key"
            )));
        }
        return match op.as_str() {
            "$all" => Ok(Predicate::All(list(arg, op)?)),
            "$any" => Ok(Predicate::Any(list(arg, op)?)),
            _ => Ok(Predicate::Not(Box::new(parse_predicate(arg)?))),
        };
    }
    let mut parts = map
        .iter()
        .map(|(k, v)| parse_field(k, v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Predicate::All(parts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eq(k: &str, v: &str) -> Predicate {
        Predicate::Field {
            key: k.into(),
            op: FieldOp::Eq(v.into()),
        }
    }

    #[test]
    fn leaves_built_in_code_match_parsed_ones() {
        // A parsed filter is a set of conditions, all of which must hold.
        let parsed = |f: &str| parse_filter_params(&[f]).ok().flatten();
        let all = |p: Predicate| Some(Predicate::All(vec![p]));
        assert_eq!(
            all(Predicate::eq("Spec.Owner", "Team-A")),
            parsed("spec.owner=team-a")
        );
        assert_eq!(
            all(Predicate::one_of("KIND", &["User", "Group"])),
            parsed("kind=user,kind=group")
        );
        assert_eq!(all(Predicate::exists("Spec.Type")), parsed("spec.type"));
    }

    #[test]
    fn filter_sets() {
        let p = parse_filter_params(&[
            "kind=User,kind=Group,metadata.namespace=Default",
            "spec.type",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            p,
            Predicate::Any(vec![
                Predicate::All(vec![
                    Predicate::Field {
                        key: "kind".into(),
                        op: FieldOp::In(vec!["user".into(), "group".into()])
                    },
                    eq("metadata.namespace", "default"),
                ]),
                Predicate::All(vec![Predicate::Field {
                    key: "spec.type".into(),
                    op: FieldOp::Exists(true)
                }]),
            ])
        );
        assert_eq!(
            parse_filter_params(&["a="]).unwrap().unwrap(),
            Predicate::All(vec![eq("a", "")])
        );
        assert!(matches!(
            parse_filter_params(&["=x"]),
            Err(QueryError::InvalidFilter(_))
        ));
        assert_eq!(parse_filter_params::<&str>(&[]).unwrap(), None);
    }

    #[test]
    fn predicates() {
        let p = parse_predicate(&json!({"$all": [{"kind": "Component", "spec.lifecycle": {"$in": ["production"]}},
            {"$not": {"relations": {"$contains": {"type": "ownedBy", "targetRef": "group:default/A"}}}}]})).unwrap();
        assert_eq!(
            p,
            Predicate::All(vec![
                Predicate::All(vec![
                    eq("kind", "component"),
                    Predicate::Field {
                        key: "spec.lifecycle".into(),
                        op: FieldOp::In(vec!["production".into()])
                    }
                ]),
                Predicate::Not(Box::new(eq("relations.ownedby", "group:default/a"))),
            ])
        );
        assert!(parse_predicate(&json!({"$all": [], "x": 1})).is_err());
        assert!(parse_predicate(&json!({"x": {"$bogus": 1}})).is_err());
    }
}
