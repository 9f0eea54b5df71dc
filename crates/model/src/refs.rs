//! Entity references: `[<kind>:][<namespace>/]<name>`, compared lower-cased.

use std::fmt;

use thiserror::Error;

pub const DEFAULT_NAMESPACE: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RefError {
    #[error("Entity reference \"{0}\" was not on the form [<kind>:][<namespace>/]<name>")]
    Malformed(String),
    #[error(
        "Entity reference \"{0}\" had missing or empty kind (e.g. did not start with \"component:\" or similar)"
    )]
    MissingKind(String),
    #[error(
        "Unable to parse location ref '{0}', expected '<type>:<target>', e.g. 'url:https://host/path'"
    )]
    MalformedLocation(String),
    #[error("Invalid location ref '{0}', please prefix it with 'url:', e.g. 'url:{0}'")]
    BareUrlLocation(String),
    #[error("Invalid location ref '{0}', target is a javascript: URL")]
    JavascriptLocation(String),
}

/// A parsed reference. Fields keep the author's casing; `Display` gives the
/// lower-cased identity string used as a key everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl EntityRef {
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// Parses with Backstage's algorithm: a `/` before the first `:` means the
    /// colon belongs to the name, and the name may itself contain `:` or `/`.
    pub fn parse(
        reference: &str,
        default_kind: Option<&str>,
        default_namespace: Option<&str>,
    ) -> Result<Self, RefError> {
        let malformed = || RefError::Malformed(reference.to_string());
        let colon = reference.find(':');
        let slash = reference.find('/');
        let colon = match (colon, slash) {
            (Some(c), Some(s)) if s < c => None,
            (c, _) => c,
        };
        let kind = colon.map(|c| &reference[..c]);
        let after_kind = colon.map_or(0, |c| c + 1);
        let slash_after = reference[after_kind..].find('/').map(|s| s + after_kind);
        let namespace = slash_after.map(|s| &reference[after_kind..s]);
        let name_start = slash_after.map_or(after_kind, |s| s + 1);
        let name = &reference[name_start..];

        if kind == Some("") || namespace == Some("") || name.is_empty() {
            return Err(malformed());
        }
        let kind = match kind.or(default_kind) {
            Some(k) if !k.is_empty() => k,
            _ => return Err(RefError::MissingKind(reference.to_string())),
        };
        let namespace = namespace.or(default_namespace).unwrap_or(DEFAULT_NAMESPACE);
        Ok(Self::new(kind, namespace, name))
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}/{}",
            self.kind.to_lowercase(),
            self.namespace.to_lowercase(),
            self.name.to_lowercase()
        )
    }
}

/// A location reference `<type>:<target>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocationRef {
    pub kind: String,
    pub target: String,
}

impl LocationRef {
    pub fn new(kind: &str, target: &str) -> Self {
        Self {
            kind: kind.to_string(),
            target: target.to_string(),
        }
    }

    pub fn parse(reference: &str) -> Result<Self, RefError> {
        let (kind, target) = reference
            .split_once(':')
            .ok_or_else(|| RefError::MalformedLocation(reference.to_string()))?;
        let (kind, target) = (kind.trim(), target.trim());
        if kind.is_empty() || target.is_empty() {
            return Err(RefError::MalformedLocation(reference.to_string()));
        }
        if kind == "http" || kind == "https" {
            return Err(RefError::BareUrlLocation(reference.to_string()));
        }
        if is_javascript_url(target) {
            return Err(RefError::JavascriptLocation(reference.to_string()));
        }
        Ok(Self::new(kind, target))
    }
}

impl fmt::Display for LocationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.target)
    }
}

/// True for `javascript:` URLs, tolerating the control characters and
/// whitespace browsers ignore inside a scheme.
pub fn is_javascript_url(value: &str) -> bool {
    let cleaned: String = value
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .take(11)
        .collect();
    cleaned.to_ascii_lowercase().starts_with("javascript:")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(r: &str) -> Result<String, RefError> {
        EntityRef::parse(r, Some("group"), Some("ns1")).map(|r| r.to_string())
    }

    #[test]
    fn parses_like_backstage() {
        assert_eq!(
            parse("Component:Default/Foo").unwrap(),
            "component:default/foo"
        );
        assert_eq!(parse("team-a").unwrap(), "group:ns1/team-a");
        assert_eq!(parse("other/team-a").unwrap(), "group:other/team-a");
        assert_eq!(parse("user:jdoe").unwrap(), "user:ns1/jdoe");
        // A slash before the first colon: the colon is part of the name.
        assert_eq!(parse("a/b:c").unwrap(), "group:a/b:c");
        assert_eq!(parse("k:n/a/b").unwrap(), "k:n/a/b");
    }

    #[test]
    fn rejects_empty_parts() {
        for bad in [":x", "k:/x", "k:n/", "", "/x"] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
        assert!(matches!(
            EntityRef::parse("foo", None, None),
            Err(RefError::MissingKind(_))
        ));
    }

    #[test]
    fn location_refs() {
        let l = LocationRef::parse("url: https://x/y ").unwrap();
        assert_eq!(l.to_string(), "url:https://x/y");
        assert!(matches!(
            LocationRef::parse("https://x/y"),
            Err(RefError::BareUrlLocation(_))
        ));
        assert!(LocationRef::parse("url:java\tscript:alert(1)").is_err());
        assert!(LocationRef::parse("nocolon").is_err());
    }
}
