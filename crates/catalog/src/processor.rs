//! Processing one entity: placeholders, validation, location annotations,
//! relations and, for Location entities, reading their targets.

use std::collections::HashSet;
use std::path::Path;

use greenroom_model::entity::{
    self, ANNOTATION_EDIT_URL, ANNOTATION_MANAGED_BY_LOCATION,
    ANNOTATION_MANAGED_BY_ORIGIN_LOCATION, ANNOTATION_SOURCE_LOCATION, ANNOTATION_VIEW_URL,
};
use greenroom_model::hash::StableHasher;
use greenroom_model::location::location_targets;
use greenroom_model::refs::{LocationRef, is_javascript_url};
use greenroom_model::relations::{Relation, derive_relations, sort_spec_arrays};
use greenroom_model::validation::{display_ref, validate_entity, validate_envelope};
use greenroom_store::{DeferredEntity, ErrorItem, ProcessingItem, ProcessingResult};
use serde_json::{Map, Value};

use crate::bundled::BUNDLED_TYPE;
use crate::parse::{Document, parse_documents};
use crate::readers::{ReadError, Readers, normalize};
use crate::rules::Rules;

const REJECTED_URL: &str = "https://backstage.io/annotation-rejected-for-security-reasons";
const PLACEHOLDERS: [&str; 3] = ["$text", "$json", "$yaml"];
/// A dry run stops here rather than follow a runaway chain of locations.
const DRY_RUN_LIMIT: usize = 10_000;

/// What processing produced for one entity, before it is written.
pub struct Processed {
    pub entity: Option<Value>,
    pub relations: Vec<Relation>,
    pub children: Vec<DeferredEntity>,
    pub errors: Vec<ErrorItem>,
    pub keep_previous_children: bool,
}

#[derive(Clone)]
pub struct Processor {
    readers: Readers,
    rules: Rules,
}

fn location_of(entity: &Value, key: &str) -> Option<LocationRef> {
    entity::annotation(entity, key).and_then(|l| LocationRef::parse(l).ok())
}

/// The directory (or URL prefix) a location's reads must stay under.
fn location_root(origin: &LocationRef) -> String {
    match origin.kind.as_str() {
        "url" => match origin.target.rfind('/') {
            Some(i) => origin.target[..=i].to_string(),
            None => origin.target.clone(),
        },
        _ => Path::new(&origin.target)
            .parent()
            .map(|p| normalize(p).to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

fn within_root(kind: &str, root: &str, target: &str) -> bool {
    match kind {
        "url" => target.starts_with(root),
        _ => {
            let t = normalize(Path::new(target));
            root.is_empty() && t.is_relative() || t.starts_with(root)
        }
    }
}

impl Processor {
    pub fn new(readers: Readers, rules: Rules) -> Self {
        Self { readers, rules }
    }

    pub fn readers(&self) -> &Readers {
        &self.readers
    }

    /// Processes one queued item into a result the store can write.
    pub async fn process(&self, item: &ProcessingItem) -> ProcessingResult {
        let p = self
            .process_entity(&item.unprocessed, &item.entity_ref)
            .await;
        // Hashed piece by piece: a Location may emit 100k children.
        let mut hasher = StableHasher::default();
        hasher.update(p.entity.as_ref().unwrap_or(&Value::Null));
        for r in &p.relations {
            hasher.update_str(&format!("{} {} {}", r.source, r.kind, r.target));
        }
        for c in &p.children {
            hasher.update_str(&c.entity_ref);
            hasher.update_str(&c.location_key);
            hasher.update_str(&c.entity_json);
        }
        for e in &p.errors {
            hasher.update_str(&format!("{}: {}", e.name, e.message));
        }
        hasher.update_str(if p.keep_previous_children {
            "keep"
        } else {
            "replace"
        });
        let result_hash = hasher.finish();
        ProcessingResult {
            entity_id: item.entity_id.clone(),
            entity_ref: item.entity_ref.clone(),
            result_hash,
            processed: p.entity,
            relations: p.relations,
            children: p.children,
            errors: p.errors,
            keep_previous_children: p.keep_previous_children,
        }
    }

    /// The whole pipeline for one entity, without touching the store.
    pub async fn process_entity(&self, unprocessed: &Value, expected_ref: &str) -> Processed {
        let failed = |errors| Processed {
            entity: None,
            relations: Vec::new(),
            children: Vec::new(),
            errors,
            keep_previous_children: true,
        };
        let entity = match self.resolve_placeholders(unprocessed).await {
            Ok(e) => e,
            Err(errors) => return failed(errors),
        };
        let mut entity = match validate_entity(&entity) {
            Ok(e) => e,
            Err(violations) => {
                let r = display_ref(&entity);
                return failed(
                    violations
                        .iter()
                        .map(|v| ErrorItem::new(v.error_name(), v.message(&r)))
                        .collect(),
                );
            }
        };
        let actual = entity::entity_ref(&entity)
            .map(|r| r.to_string())
            .unwrap_or_default();
        if !expected_ref.is_empty() && actual != expected_ref {
            return failed(vec![ErrorItem::new(
                "ConflictError",
                "Fatal: The entity kind, namespace, or name changed during processing",
            )]);
        }
        for key in [ANNOTATION_VIEW_URL, ANNOTATION_EDIT_URL] {
            if entity::annotation(&entity, key).is_some_and(is_javascript_url) {
                entity::set_annotation(&mut entity, key, REJECTED_URL);
            }
        }
        sort_spec_arrays(&mut entity);
        let relations = match derive_relations(&entity) {
            Ok(r) => r,
            Err(errs) => {
                return failed(
                    errs.iter()
                        .map(|e| ErrorItem::new("InputError", e.to_string()))
                        .collect(),
                );
            }
        };
        let mut out = Processed {
            entity: None,
            relations,
            children: Vec::new(),
            errors: Vec::new(),
            keep_previous_children: false,
        };
        if entity::kind(&entity).is_some_and(|k| k.eq_ignore_ascii_case("location")) {
            self.read_location_targets(&entity, &mut out).await;
        }
        out.entity = Some(entity);
        out
    }

    async fn read_location_targets(&self, entity: &Value, out: &mut Processed) {
        let Some(own) = location_of(entity, ANNOTATION_MANAGED_BY_LOCATION) else {
            out.errors.push(ErrorItem::new(
                "InputError",
                format!(
                    "Location entity {} has no {ANNOTATION_MANAGED_BY_LOCATION} annotation",
                    display_ref(entity)
                ),
            ));
            return;
        };
        let origin = location_of(entity, ANNOTATION_MANAGED_BY_ORIGIN_LOCATION)
            .unwrap_or_else(|| own.clone());
        let spec_type = entity
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or(&own.kind)
            .to_string();
        let optional = entity.pointer("/spec/presence").and_then(Value::as_str) == Some("optional");
        let mut seen = HashSet::new();
        for target in location_targets(entity) {
            if spec_type == "file" && (target.ends_with('/') || target.ends_with('\\')) {
                out.errors.push(ErrorItem::new("InputError", format!("LocationEntityProcessor: file target {target} may not end with a path separator")));
                continue;
            }
            // A location read over the network may not reach into local files.
            if origin.kind == "url" && spec_type != "url" {
                out.errors.push(ErrorItem::new(
                    "NotAllowedError",
                    format!(
                        "Location {} of type {spec_type} is not allowed below the url location {}",
                        target, origin
                    ),
                ));
                out.keep_previous_children = true;
                continue;
            }
            let resolved = if spec_type == own.kind {
                Readers::resolve(&spec_type, &own.target, &target)
            } else {
                target.clone()
            };
            let files = match self.readers.read_location(&spec_type, &resolved).await {
                Ok(f) => f,
                Err(ReadError::NotFound(_)) if optional => continue,
                Err(e) => {
                    out.errors.push(ErrorItem::new(e.name(), e.to_string()));
                    out.keep_previous_children = true;
                    continue;
                }
            };
            for file in files {
                let location_key = file.location_key();
                for doc in parse_documents(&file.bytes, &location_key) {
                    match doc {
                        Document::Error { name, message, .. } => {
                            out.errors.push(ErrorItem::new(name, message));
                            out.keep_previous_children = true;
                        }
                        Document::Entity {
                            index,
                            entity: mut child,
                        } => {
                            let envelope = validate_envelope(&child);
                            if let Some(v) = envelope.first() {
                                out.errors.push(ErrorItem::new(
                                    "InputError",
                                    format!("Entity envelope for {location_key} (document {index}) failed validation before processing; caused by TypeError: {}", v.detail),
                                ));
                                out.keep_previous_children = true;
                                continue;
                            }
                            annotate_child(
                                &mut child,
                                &file.location_type,
                                &file.location,
                                &origin,
                            );
                            let child_ref = display_ref(&child);
                            if !self.rules.is_allowed(&child, &origin.kind, &origin.target) {
                                out.errors.push(ErrorItem::new(
                                    "NotAllowedError",
                                    format!("Entity {child_ref} at {location_key}, originated at {origin}, is not of an allowed kind for that location"),
                                ));
                                continue;
                            }
                            if !seen.insert(child_ref.clone()) {
                                out.errors.push(ErrorItem::new(
                                    "ConflictError",
                                    format!("Duplicate entity {child_ref} at {location_key} (document {index}); the first definition is kept"),
                                ));
                                continue;
                            }
                            out.children.push(DeferredEntity {
                                entity_json: child.to_string(),
                                entity_ref: child_ref,
                                location_key: location_key.clone(),
                            });
                        }
                    }
                }
            }
        }
    }

    /// Replaces `{$text|$json|$yaml: path}` objects with the file they name,
    /// read relative to the entity's file and never outside its origin's root.
    pub async fn resolve_placeholders(&self, entity: &Value) -> Result<Value, Vec<ErrorItem>> {
        if !contains_placeholder(entity) {
            return Ok(entity.clone());
        }
        let base = location_of(entity, ANNOTATION_MANAGED_BY_LOCATION);
        let origin =
            location_of(entity, ANNOTATION_MANAGED_BY_ORIGIN_LOCATION).or_else(|| base.clone());
        let mut errors = Vec::new();
        let mut out = entity.clone();
        let mut stack = vec![&mut out];
        // Collect first, then resolve: placeholders are leaves, so the walk
        // does not need to revisit what it replaced.
        let mut found: Vec<(String, String, String)> = Vec::new();
        while let Some(v) = stack.pop() {
            if let Some((key, target)) = as_placeholder(v) {
                let id = format!("\u{0}placeholder:{}", found.len());
                found.push((id.clone(), key, target));
                *v = Value::String(id);
                continue;
            }
            match v {
                Value::Object(m) => stack.extend(m.values_mut()),
                Value::Array(a) => stack.extend(a.iter_mut()),
                _ => {}
            }
        }
        let mut resolved: Map<String, Value> = Map::new();
        for (id, key, target) in found {
            match self
                .read_placeholder(&key, &target, base.as_ref(), origin.as_ref())
                .await
            {
                Ok(v) => {
                    resolved.insert(id, v);
                }
                Err(message) => errors.push(ErrorItem::new("InputError", message)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        replace_ids(&mut out, &resolved);
        Ok(out)
    }

    async fn read_placeholder(
        &self,
        key: &str,
        target: &str,
        base: Option<&LocationRef>,
        origin: Option<&LocationRef>,
    ) -> Result<Value, String> {
        let (Some(base), Some(origin)) = (base, origin) else {
            return Err(format!(
                "Placeholder {key} could not resolve {target}: the entity has no location"
            ));
        };
        let is_url = target.starts_with("http://") || target.starts_with("https://");
        let (kind, resolved) = if is_url {
            ("url".to_string(), target.to_string())
        } else {
            (
                base.kind.clone(),
                Readers::resolve(&base.kind, &base.target, target),
            )
        };
        let root = location_root(origin);
        if kind != origin.kind || !within_root(&kind, &root, &resolved) {
            return Err(format!(
                "Placeholder {key} could not read {target}: it is outside the location {origin}"
            ));
        }
        let bytes = self
            .readers
            .read_one(&kind, &resolved)
            .await
            .map_err(|e| format!("Placeholder {key} could not read location {target}, {e}"))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match key {
            "$text" => Ok(Value::String(text)),
            "$json" => serde_json::from_str(&text).map_err(|e| {
                format!("Placeholder $json failed to parse JSON data at {target}, {e}")
            }),
            _ => {
                let docs = parse_documents(text.as_bytes(), target);
                match serde_saphyr::from_multiple_with_options::<Value>(
                    &text,
                    crate::parse::yaml_options(),
                ) {
                    Ok(mut d) if d.len() == 1 => Ok(d.remove(0)),
                    Ok(d) => Err(format!(
                        "Placeholder $yaml expected to find exactly one document of data at {target}, found {}",
                        d.len().max(docs.len())
                    )),
                    Err(e) => Err(format!(
                        "Placeholder $yaml failed to parse YAML data at {target}, {e}"
                    )),
                }
            }
        }
    }

    /// Validates an entity as `POST /validate-entity` does (no reads, no storage).
    pub fn validate_standalone(
        &self,
        entity: &Value,
        location: &LocationRef,
    ) -> Result<(), Vec<ErrorItem>> {
        let mut e = entity.clone();
        if e.is_object() && e.get("metadata").is_some_and(Value::is_object) {
            let loc = location.to_string();
            entity::set_annotation(&mut e, ANNOTATION_MANAGED_BY_LOCATION, &loc);
            entity::set_annotation(&mut e, ANNOTATION_MANAGED_BY_ORIGIN_LOCATION, &loc);
        }
        let validated = validate_entity(&e).map_err(|violations| {
            let r = display_ref(&e);
            violations
                .iter()
                .map(|v| ErrorItem::new(v.error_name(), v.message(&r)))
                .collect::<Vec<_>>()
        })?;
        derive_relations(&validated).map(|_| ()).map_err(|errs| {
            errs.iter()
                .map(|e| ErrorItem::new("InputError", e.to_string()))
                .collect()
        })
    }

    /// Processes a location and everything below it without storing anything.
    pub async fn dry_run(&self, root: Value) -> Result<Vec<Value>, Vec<ErrorItem>> {
        let mut queue = std::collections::VecDeque::from([root]);
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut errors = Vec::new();
        while let Some(entity) = queue.pop_front() {
            let r = display_ref(&entity);
            if !seen.insert(r.clone()) {
                errors.push(ErrorItem::new(
                    "InputError",
                    format!("Duplicate nested entity: {r}"),
                ));
                continue;
            }
            if out.len() >= DRY_RUN_LIMIT {
                errors.push(ErrorItem::new(
                    "InputError",
                    format!("Dry run stopped after {DRY_RUN_LIMIT} entities"),
                ));
                break;
            }
            let p = self.process_entity(&entity, "").await;
            errors.extend(p.errors);
            queue.extend(
                p.children
                    .iter()
                    .filter_map(|c| serde_json::from_str(&c.entity_json).ok()),
            );
            if let Some(e) = p.entity {
                out.push(e);
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

fn annotate_child(child: &mut Value, kind: &str, location: &str, origin: &LocationRef) {
    let own = format!("{kind}:{location}");
    entity::set_annotation(child, ANNOTATION_MANAGED_BY_LOCATION, &own);
    entity::set_annotation(
        child,
        ANNOTATION_MANAGED_BY_ORIGIN_LOCATION,
        &origin.to_string(),
    );
    if kind == "url" {
        if let Some(i) = location.rfind('/') {
            entity::set_annotation_if_absent(
                child,
                ANNOTATION_SOURCE_LOCATION,
                &format!("url:{}", &location[..=i]),
            );
        }
        entity::set_annotation_if_absent(child, ANNOTATION_VIEW_URL, location);
    }
    // A nested Location without a type reads with its parent's type.
    if entity::kind(child).is_some_and(|k| k.eq_ignore_ascii_case("location"))
        && let Some(spec) = child.get_mut("spec").and_then(Value::as_object_mut)
        && !spec.contains_key("type")
    {
        let inherited = if kind == BUNDLED_TYPE {
            BUNDLED_TYPE
        } else {
            kind
        };
        spec.insert("type".into(), Value::String(inherited.to_string()));
    }
}

fn as_placeholder(v: &Value) -> Option<(String, String)> {
    let map = v.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let (k, target) = map.iter().next()?;
    if !PLACEHOLDERS.contains(&k.as_str()) {
        return None;
    }
    Some((k.clone(), target.as_str()?.to_string()))
}

fn contains_placeholder(v: &Value) -> bool {
    if as_placeholder(v).is_some() {
        return true;
    }
    match v {
        Value::Object(m) => m.values().any(contains_placeholder),
        Value::Array(a) => a.iter().any(contains_placeholder),
        _ => false,
    }
}

fn replace_ids(v: &mut Value, resolved: &Map<String, Value>) {
    match v {
        Value::String(s) if s.starts_with('\u{0}') => {
            if let Some(r) = resolved.get(s.as_str()) {
                *v = r.clone();
            }
        }
        Value::Object(m) => m.values_mut().for_each(|c| replace_ids(c, resolved)),
        Value::Array(a) => a.iter_mut().for_each(|c| replace_ids(c, resolved)),
        _ => {}
    }
}
