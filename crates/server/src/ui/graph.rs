//! The relation graph of an entity, drawn as SVG on the server: the entity
//! in the middle, its related entities around it, one labelled edge each.

use greenroom_techdocs::markdown::escape_html as escape;

pub struct Node {
    pub label: String,
    pub kind: String,
    /// Where the node links to; `None` for refs the catalog does not hold.
    pub href: Option<String>,
    /// The relation from the centre to this node (`dependsOn`, …).
    pub relation: String,
}

/// More nodes than this make an unreadable wheel; the tables list them all.
pub const MAX_NODES: usize = 16;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 460.0;
const BOX_W: f64 = 150.0;
const BOX_H: f64 = 40.0;

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

fn node_svg(x: f64, y: f64, label: &str, kind: &str, href: Option<&str>, class: &str) -> String {
    let body = format!(
        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\" class=\"{class}\"/>\
         <text x=\"{x:.1}\" y=\"{:.1}\" class=\"g-kind\">{}</text>\
         <text x=\"{x:.1}\" y=\"{:.1}\" class=\"g-name\">{}</text>",
        x - BOX_W / 2.0,
        y - BOX_H / 2.0,
        y - 5.0,
        escape(&kind.to_lowercase()),
        y + 12.0,
        escape(&clip(label, 20)),
    );
    match href {
        Some(h) => format!(
            "<a href=\"{}\"><title>{}</title>{body}</a>",
            escape(h),
            escape(label)
        ),
        None => format!(
            "<g><title>{} (not in the catalog)</title>{body}</g>",
            escape(label)
        ),
    }
}

/// The graph as an inline `<svg>` element, or `None` without relations.
pub fn render(center_label: &str, center_kind: &str, nodes: &[Node]) -> Option<String> {
    if nodes.is_empty() {
        return None;
    }
    let shown = &nodes[..nodes.len().min(MAX_NODES)];
    let (cx, cy) = (WIDTH / 2.0, HEIGHT / 2.0);
    let (rx, ry) = (
        WIDTH / 2.0 - BOX_W / 2.0 - 10.0,
        HEIGHT / 2.0 - BOX_H / 2.0 - 10.0,
    );
    let n = shown.len() as f64;
    let mut edges = String::new();
    let mut boxes = String::new();
    for (i, node) in shown.iter().enumerate() {
        // Start at the top and go round; a lone node sits to the right.
        let angle = if shown.len() == 1 {
            0.0
        } else {
            -std::f64::consts::FRAC_PI_2 + std::f64::consts::TAU * i as f64 / n
        };
        let (x, y) = (cx + rx * angle.cos(), cy + ry * angle.sin());
        edges.push_str(&format!(
            "<line x1=\"{cx:.1}\" y1=\"{cy:.1}\" x2=\"{x:.1}\" y2=\"{y:.1}\" class=\"g-edge\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"g-rel\">{}</text>",
            (cx + x) / 2.0,
            (cy + y) / 2.0 - 4.0,
            escape(&node.relation)
        ));
        let class = if node.href.is_some() {
            "g-node"
        } else {
            "g-node g-missing"
        };
        boxes.push_str(&node_svg(
            x,
            y,
            &node.label,
            &node.kind,
            node.href.as_deref(),
            class,
        ));
    }
    boxes.push_str(&node_svg(
        cx,
        cy,
        center_label,
        center_kind,
        None,
        "g-node g-center",
    ));
    let more = if nodes.len() > shown.len() {
        format!(
            "<text x=\"8\" y=\"{:.1}\" class=\"g-more\">and {} more in the tables below</text>",
            HEIGHT - 8.0,
            nodes.len() - shown.len()
        )
    } else {
        String::new()
    };
    Some(format!(
        "<svg class=\"graph\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"group\" aria-labelledby=\"graph-title\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"graph-title\">Relations of {}</title>{edges}{boxes}{more}</svg>",
        escape(center_label)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_missing_nodes_are_not_links() {
        let nodes = vec![
            Node {
                label: "<script>".into(),
                kind: "Component".into(),
                href: Some("/catalog/default/component/x".into()),
                relation: "dependsOn".into(),
            },
            Node {
                label: "ghost".into(),
                kind: "API".into(),
                href: None,
                relation: "consumesApi".into(),
            },
        ];
        let svg = render("me & you", "Component", &nodes).unwrap_or_default();
        assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script>"));
        assert!(svg.contains("me &amp; you"));
        assert_eq!(svg.matches("<a href=").count(), 1);
        assert!(svg.contains("ghost (not in the catalog)"));
        assert!(render("alone", "Component", &[]).is_none());
    }
}
