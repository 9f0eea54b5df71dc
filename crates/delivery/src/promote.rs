//! Changes only `image.tag` in an environment's values file, keeping every
//! other byte (comments, quoting, order) as it is.

use std::sync::LazyLock;

use regex::Regex;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PromoteError {
    #[error(
        "'{0}' is not an image tag: tags are 1-128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
    )]
    BadTag(String),
    #[error("{0} has no image.tag to change")]
    NoTag(String),
}

static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").expect("constant regex"));
static TAG_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^(\s+tag:\s*)("[^"]*"|'[^']*'|[^\s#]*)(\s*(?:#.*)?)$"#).expect("constant regex")
});

/// Whether `tag` is a valid OCI image tag.
pub fn valid_tag(tag: &str) -> bool {
    TAG.is_match(tag)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The line index of `tag:` inside the top-level `image:` block.
fn tag_line(text: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == "image:" || l.starts_with("image:"))?;
    let mut child_indent = None;
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let ind = indent(line);
        if ind == 0 {
            return None;
        }
        let child = *child_indent.get_or_insert(ind);
        if ind == child && TAG_LINE.is_match(line) {
            return Some(i);
        }
    }
    None
}

/// The current `image.tag`, unquoted.
pub fn read_tag(text: &str) -> Option<String> {
    let line = text.lines().nth(tag_line(text)?)?;
    let c = TAG_LINE.captures(line)?;
    Some(c[2].trim_matches(|q| q == '"' || q == '\'').to_string())
}

/// `text` with `image.tag` set to `tag` (double-quoted, so that a SHA made
/// of digits stays a string), all else unchanged.
pub fn set_tag(text: &str, tag: &str, file: &str) -> Result<String, PromoteError> {
    if !valid_tag(tag) {
        return Err(PromoteError::BadTag(tag.to_string()));
    }
    let index = tag_line(text).ok_or_else(|| PromoteError::NoTag(file.to_string()))?;
    let mut out = String::with_capacity(text.len() + tag.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i == index {
            let (body, newline) = match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            };
            let c = TAG_LINE
                .captures(body)
                .ok_or_else(|| PromoteError::NoTag(file.to_string()))?;
            out.push_str(&format!("{}\"{tag}\"{}{newline}", &c[1], &c[3]));
        } else {
            out.push_str(line);
        }
    }
    Ok(out)
}

/// A unified diff of a one-file change.
pub fn diff(file: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut out = format!("--- a/{file}\n+++ b/{file}\n");
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        if x != y {
            let from = i.saturating_sub(2);
            let to = (i + 3).min(a.len());
            out.push_str(&format!(
                "@@ -{},{} +{},{} @@\n",
                from + 1,
                to - from,
                from + 1,
                to - from
            ));
            for (j, line) in a.iter().enumerate().take(to).skip(from) {
                if j == i {
                    out.push_str(&format!("-{x}\n+{y}\n"));
                } else {
                    out.push_str(&format!(" {line}\n"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: &str = "# dev values\nimage:\n  repository: r.example.com/greenroom\n  # the SHA CI built\n  tag: \"abc123\"   # bumped by promote\n  pullPolicy: IfNotPresent\nsidecar:\n  tag: keep-me\n";

    #[test]
    fn changes_only_the_image_tag() {
        assert_eq!(read_tag(VALUES).as_deref(), Some("abc123"));
        let out = set_tag(VALUES, "0123456789abcdef", "dev.yaml").unwrap();
        assert_eq!(out, VALUES.replace("\"abc123\"", "\"0123456789abcdef\""));
        assert!(out.contains("sidecar:\n  tag: keep-me"));
        let d = diff("dev.yaml", VALUES, &out);
        assert!(d.contains("-  tag: \"abc123\"   # bumped by promote\n+  tag: \"0123456789abcdef\"   # bumped by promote\n"), "{d}");
    }

    #[test]
    fn refuses_bad_tags_and_files_without_a_tag() {
        for bad in ["", "-x", ".x", "a b", "a:b", "a/b", &"x".repeat(129)] {
            assert_eq!(
                set_tag(VALUES, bad, "f"),
                Err(PromoteError::BadTag(bad.to_string())),
                "{bad}"
            );
        }
        assert_eq!(
            set_tag("image:\n  repository: x\n", "v1", "f"),
            Err(PromoteError::NoTag("f".into()))
        );
        assert_eq!(
            set_tag("other:\n  tag: x\n", "v1", "f"),
            Err(PromoteError::NoTag("f".into()))
        );
        assert!(valid_tag("v1.2.3-rc_1") && valid_tag(&"a".repeat(128)));
    }
}
