//! Stable hashing of JSON values (key order independent), used for etags and
//! the "nothing changed" checks of the processing loop.

use serde_json::Value;
use sha1::{Digest, Sha1};

/// Where stable output goes: a string, or straight into a hasher so large
/// documents are never materialised as one string.
pub trait Sink {
    fn push_str(&mut self, s: &str);
    fn push(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.push_str(c.encode_utf8(&mut buf));
    }
}

impl Sink for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
}

/// A SHA-1 over stable JSON, fed piece by piece.
#[derive(Default)]
pub struct StableHasher(Sha1);

impl Sink for StableHasher {
    fn push_str(&mut self, s: &str) {
        self.0.update(s.as_bytes());
    }
}

impl StableHasher {
    pub fn update(&mut self, value: &Value) {
        write_stable(value, self);
        self.0.update(b"\n");
    }

    pub fn update_str(&mut self, text: &str) {
        self.0.update(text.as_bytes());
        self.0.update(b"\n");
    }

    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// Writes `value` with object keys sorted, so equal documents hash equally.
pub fn stable_stringify(value: &Value) -> String {
    let mut out = String::new();
    write_stable(value, &mut out);
    out
}

fn write_stable<S: Sink>(value: &Value, out: &mut S) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(*key) {
                    write_stable(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_stable(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

pub fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

pub fn stable_hash(value: &Value) -> String {
    sha1_hex(stable_stringify(value).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a = json!({"a": 1, "b": {"c": [1, 2], "d": "x"}});
        let b = json!({"b": {"d": "x", "c": [1, 2]}, "a": 1});
        assert_eq!(stable_hash(&a), stable_hash(&b));
        assert_ne!(stable_hash(&a), stable_hash(&json!({"a": 2})));
    }
}
