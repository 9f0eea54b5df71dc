//! Location entities: the synthetic ones the catalog makes for configured and
//! registered locations, and reading `spec.target`/`spec.targets`.

use serde_json::{Value, json};

use crate::entity::{ANNOTATION_MANAGED_BY_LOCATION, ANNOTATION_MANAGED_BY_ORIGIN_LOCATION};
use crate::hash::sha1_hex;

/// `generated-<sha1 of "<type>:<target>">`, as Backstage names them.
pub fn generated_location_name(kind: &str, target: &str) -> String {
    format!(
        "generated-{}",
        sha1_hex(format!("{kind}:{target}").as_bytes())
    )
}

pub fn location_entity_ref(kind: &str, target: &str) -> String {
    format!("location:default/{}", generated_location_name(kind, target))
}

/// The synthetic Location entity for a configured or registered location.
pub fn synthetic_location_entity(kind: &str, target: &str, presence: Option<&str>) -> Value {
    let location_ref = format!("{kind}:{target}");
    let mut spec = json!({ "type": kind, "target": target });
    if let Some(p) = presence {
        spec["presence"] = json!(p);
    }
    json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Location",
        "metadata": {
            "name": generated_location_name(kind, target),
            "namespace": "default",
            "annotations": {
                ANNOTATION_MANAGED_BY_LOCATION: location_ref,
                ANNOTATION_MANAGED_BY_ORIGIN_LOCATION: location_ref,
            }
        },
        "spec": spec
    })
}

/// Every target of a Location entity (`target` first, then `targets`).
pub fn location_targets(entity: &Value) -> Vec<String> {
    let spec = entity.get("spec");
    let mut out = Vec::new();
    if let Some(t) = spec.and_then(|s| s.get("target")).and_then(Value::as_str) {
        out.push(t.to_string());
    }
    if let Some(ts) = spec
        .and_then(|s| s.get("targets"))
        .and_then(Value::as_array)
    {
        out.extend(ts.iter().filter_map(Value::as_str).map(str::to_string));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_name_matches_backstage() {
        // From a captured Backstage response (see backstage-samples/locations-create).
        assert_eq!(
            location_entity_ref("url", "http://127.0.0.1:7008/registered/catalog-info.yaml"),
            "location:default/generated-5c123f682260f14b47159df61da898f3aa6cc290"
        );
    }
}
