//! Small helpers for building parameterised SQL with `$n` placeholders.

use sqlx::any::AnyArguments;
use sqlx::{Any, Arguments};

/// A SQL text plus its bound values, built left to right.
#[derive(Default)]
pub(crate) struct Sql {
    pub text: String,
    args: Vec<Option<String>>,
    ints: Vec<(usize, i64)>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_string(),
            ..Self::default()
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<String>) -> &mut Self {
        self.args.push(Some(value.into()));
        let n = self.args.len();
        self.text.push_str(&format!("${n}"));
        self
    }

    pub fn bind_int(&mut self, value: i64) -> &mut Self {
        self.args.push(None);
        let n = self.args.len();
        self.ints.push((n - 1, value));
        self.text.push_str(&format!("${n}"));
        self
    }

    /// `(a, b, c)` with one placeholder per value.
    pub fn bind_list<'a>(&mut self, values: impl IntoIterator<Item = &'a String>) -> &mut Self {
        self.push("(");
        let mut first = true;
        for v in values {
            if !first {
                self.push(", ");
            }
            first = false;
            self.bind(v.clone());
        }
        if first {
            // An empty list: keep the SQL valid and match nothing.
            self.push("NULL");
        }
        self.push(")")
    }

    pub fn arguments(&self) -> AnyArguments {
        let mut args = AnyArguments::default();
        for (i, value) in self.args.iter().enumerate() {
            // Both adds only fail for types the Any driver cannot encode;
            // String and i64 are always supported.
            let _ = match value {
                Some(s) => args.add(s.clone()),
                None => {
                    let v = self
                        .ints
                        .iter()
                        .find(|(idx, _)| *idx == i)
                        .map_or(0, |(_, v)| *v);
                    args.add(v)
                }
            };
        }
        args
    }

    /// The text is assembled only from fixed fragments and `$n` placeholders;
    /// every value is bound, so the dynamic text is safe to send.
    pub fn query(&self) -> sqlx::query::Query<'_, Any, AnyArguments> {
        sqlx::query_with(sqlx::AssertSqlSafe(self.text.clone()), self.arguments())
    }
}
