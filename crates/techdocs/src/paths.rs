//! Relative paths and URLs inside a docs tree, computed lexically.

use std::path::{Component, Path};

/// Normalizes a relative '/'-separated path; `None` when it is absolute or
/// climbs above its root.
pub fn normalize_relative(path: &str) -> Option<String> {
    let mut out: Vec<String> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::ParentDir => {
                out.pop()?;
            }
            Component::CurDir => {}
            Component::Normal(p) => out.push(p.to_string_lossy().into_owned()),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out.join("/"))
}

/// `dir` + `rel`, normalized, when it stays inside the root.
pub fn join_relative(dir: &str, rel: &str) -> Option<String> {
    if dir.is_empty() {
        normalize_relative(rel)
    } else {
        normalize_relative(&format!("{dir}/{rel}"))
    }
}

/// The relative URL from the directory `from_dir` (ends with '/' or is
/// empty) to `to` (both relative to the site root).
pub fn relative_url(from_dir: &str, to: &str) -> String {
    let from: Vec<&str> = from_dir.split('/').filter(|s| !s.is_empty()).collect();
    let target: Vec<&str> = to.split('/').collect();
    let trailing = to.ends_with('/') || to.is_empty();
    let target_parts: Vec<&str> = target.iter().copied().filter(|s| !s.is_empty()).collect();
    let common = from
        .iter()
        .zip(target_parts.iter())
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> =
        std::iter::repeat_n("..".to_string(), from.len() - common).collect();
    parts.extend(target_parts[common..].iter().map(|s| s.to_string()));
    let mut out = parts.join("/");
    if trailing && !out.is_empty() {
        out.push('/');
    }
    if out.is_empty() { "./".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_between_pages() {
        assert_eq!(relative_url("guide/intro/", "guide/other/"), "../other/");
        assert_eq!(relative_url("", "guide/"), "guide/");
        assert_eq!(relative_url("guide/", ""), "../");
        assert_eq!(relative_url("a/b/", "img/x.png"), "../../img/x.png");
        assert_eq!(relative_url("a/", "a/"), "./");
        assert_eq!(
            join_relative("guide", "../img/a.png").as_deref(),
            Some("img/a.png")
        );
        assert_eq!(join_relative("", "../x"), None);
    }
}
