//! Catalog files: multi-document YAML into entity objects or errors that say where.

use serde_json::Value;

/// One document of a catalog file: an entity object or why it is not one.
pub enum Document {
    Entity {
        index: usize,
        entity: Value,
    },
    Error {
        index: Option<usize>,
        name: &'static str,
        message: String,
    },
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// YAML 1.2 booleans only (`on` stays a string), and parser budgets sized for
/// catalog files: generated catalogs hold thousands of documents per file,
/// while alias and depth limits still stop "billion laughs" style inputs.
pub fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        budget: serde_saphyr::budget! {
            max_documents: 200_000,
            max_nodes: 20_000_000,
            max_events: 40_000_000,
        },
    }
}

/// Parses a catalog file. Empty documents are skipped (and not counted in
/// the document indexes); a YAML error makes
/// the whole file one error (its line and column are in the message).
pub fn parse_documents(bytes: &[u8], location: &str) -> Vec<Document> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return vec![Document::Error {
                index: None,
                name: "InputError",
                message: format!("Failed to parse YAML at {location}, file is not UTF-8: {e}"),
            }];
        }
    };
    let docs: Vec<Value> = match serde_saphyr::from_multiple_with_options(text, yaml_options()) {
        Ok(d) => d,
        Err(e) => {
            return vec![Document::Error {
                index: None,
                name: "InputError",
                message: format!("YAML error at {location}, {e}"),
            }];
        }
    };
    docs.into_iter()
        .enumerate()
        .filter(|(_, d)| !d.is_null())
        .map(|(index, doc)| match doc {
            Value::Object(_) => Document::Entity { index, entity: doc },
            other => Document::Error {
                index: Some(index),
                name: "InputError",
                message: format!(
                    "Expected object at root, got {} (document {index} of {location})",
                    type_name(&other)
                ),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_and_errors() {
        let docs = parse_documents(b"---\nkind: A\n---\n\n---\n- 1\n---\nkind: B\n", "file:x");
        assert_eq!(docs.len(), 3);
        assert!(matches!(&docs[0], Document::Entity { index: 0, .. }));
        // Indexes count the non-empty documents of the file.
        assert!(
            matches!(&docs[1], Document::Error { index: Some(1), message, .. } if message.contains("got array"))
        );
        assert!(matches!(&docs[2], Document::Entity { index: 2, .. }));
        let bad = parse_documents(b"kind: [unclosed\n", "file:y");
        assert!(
            matches!(&bad[0], Document::Error { index: None, message, .. } if message.starts_with("YAML error at file:y"))
        );
        // Backstage rejects duplicate keys; so do we.
        let dup = parse_documents(b"kind: A\nkind: B\n", "file:z");
        assert!(matches!(&dup[0], Document::Error { .. }));
        // `on` stays a string (YAML 1.2 booleans only).
        match &parse_documents(b"a: on\n", "f")[0] {
            Document::Entity { entity, .. } => assert_eq!(entity["a"], "on"),
            _ => panic!("expected an entity"),
        }
    }
}
