//! Small helpers for building parameterised SQL with `$n` placeholders.

use sqlx::any::AnyArguments;
use sqlx::{Any, Arguments};

enum Arg {
    Text(String),
    Int(i64),
}

/// A SQL text plus its bound values, built left to right.
#[derive(Default)]
pub(crate) struct Sql {
    pub text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_string(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn placeholder(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        let n = self.args.len();
        self.text.push_str(&format!("${n}"));
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<String>) -> &mut Self {
        self.placeholder(Arg::Text(value.into()))
    }

    pub fn bind_int(&mut self, value: i64) -> &mut Self {
        self.placeholder(Arg::Int(value))
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
        for arg in &self.args {
            // Adding only fails for types the Any driver cannot encode;
            // String and i64 are always supported.
            let _ = match arg {
                Arg::Text(s) => args.add(s.clone()),
                Arg::Int(v) => args.add(*v),
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
