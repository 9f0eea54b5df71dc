//! `catalog:register`, `catalog:write`, `catalog:fetch`.

use futures_util::future::BoxFuture;
use serde_json::{Value as Json, json};

use super::{Action, ActionContext, ActionError, CatalogPortError, Outputs, blocking};

fn port_error(e: CatalogPortError) -> ActionError {
    match e {
        CatalogPortError::Conflict(m) => ActionError::Conflict(m),
        CatalogPortError::NotFound(m) => ActionError::NotFound(m),
        CatalogPortError::Failed(m) => ActionError::Failed(m),
    }
}

fn no_catalog(id: &str) -> ActionError {
    ActionError::Failed(format!(
        "{id} needs the catalog, which is not available here"
    ))
}

pub struct Register;

/// Picks the ref `catalog:register` reports: a Component that is not a
/// generated location entity, else the first entity that is not a Location.
fn preferred_ref(entities: &[Json]) -> Option<String> {
    let ref_of = |e: &Json| {
        let kind = e.get("kind")?.as_str()?;
        let md = e.get("metadata")?;
        let ns = md
            .get("namespace")
            .and_then(Json::as_str)
            .unwrap_or("default");
        let name = md.get("name")?.as_str()?;
        Some(format!("{}:{}/{}", kind.to_lowercase(), ns, name))
    };
    let is_generated = |e: &Json| {
        e.pointer("/metadata/name")
            .and_then(Json::as_str)
            .is_some_and(|n| n.starts_with("generated-"))
    };
    entities
        .iter()
        .find(|e| e.get("kind").and_then(Json::as_str) == Some("Component") && !is_generated(e))
        .or_else(|| {
            entities
                .iter()
                .find(|e| e.get("kind").and_then(Json::as_str) != Some("Location"))
        })
        .and_then(ref_of)
}

impl Action for Register {
    fn id(&self) -> &'static str {
        "catalog:register"
    }
    fn description(&self) -> &'static str {
        "Registers entities from a catalog descriptor file in the workspace into the software catalog."
    }
    fn input_schema(&self) -> Json {
        json!({
            "oneOf": [
                { "type": "object", "required": ["catalogInfoUrl"], "properties": {
                    "catalogInfoUrl": { "type": "string", "title": "Catalog Info URL", "description": "An absolute URL pointing to the catalog info file location" },
                    "optional": { "type": "boolean", "title": "Optional", "description": "Permit the registered location to optionally exist. Default: false" } } },
                { "type": "object", "required": ["repoContentsUrl"], "properties": {
                    "repoContentsUrl": { "type": "string", "title": "Repository Contents URL", "description": "An absolute URL pointing to the root of a repository directory tree" },
                    "catalogInfoPath": { "type": "string", "title": "Fetch URL", "description": "A relative path from the repo root pointing to the catalog info file, defaults to /catalog-info.yaml" },
                    "optional": { "type": "boolean", "title": "Optional", "description": "Permit the registered location to optionally exist. Default: false" } } }
            ]
        })
    }
    fn output_schema(&self) -> Json {
        json!({ "type": "object", "required": ["catalogInfoUrl"], "properties": {
            "entityRef": { "type": "string", "examples": ["component:default/my-service"] },
            "catalogInfoUrl": { "type": "string", "examples": ["https://github.com/acme/my-service/blob/main/catalog-info.yaml"] } } })
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let url = match (ctx.str("catalogInfoUrl"), ctx.str("repoContentsUrl")) {
                (Some(u), _) => u.to_string(),
                (None, Some(base)) => {
                    let path = ctx.str("catalogInfoPath").unwrap_or("/catalog-info.yaml");
                    format!(
                        "{}/{}",
                        base.trim_end_matches('/'),
                        path.trim_start_matches('/')
                    )
                }
                (None, None) => {
                    return Err(ActionError::Input(
                        "catalog:register needs catalogInfoUrl or repoContentsUrl".into(),
                    ));
                }
            };
            let catalog = ctx
                .services
                .catalog
                .as_ref()
                .ok_or_else(|| no_catalog(self.id()))?;
            let optional = ctx.bool("optional");
            ctx.logger.log(format!("Registering {url} in the catalog"));
            let mut out = Outputs::new();
            out.insert("catalogInfoUrl".into(), json!(url));
            if let Err(e) = catalog.register(&url, false).await {
                if !optional {
                    return Err(port_error(e));
                }
                ctx.logger
                    .log(format!("Registration is optional and failed: {e}"));
            }
            match catalog.register(&url, true).await {
                Ok(reg) => {
                    if let Some(r) = preferred_ref(&reg.entities) {
                        out.insert("entityRef".into(), json!(r));
                    }
                }
                Err(e) if optional => ctx
                    .logger
                    .log(format!("Could not read the registered entities: {e}")),
                Err(e) => return Err(port_error(e)),
            }
            Ok(out)
        })
    }
}

pub struct Write;

impl Action for Write {
    fn id(&self) -> &'static str {
        "catalog:write"
    }
    fn description(&self) -> &'static str {
        "Writes the catalog-info.yaml for your template"
    }
    fn input_schema(&self) -> Json {
        json!({ "type": "object", "required": ["entity"], "properties": {
            "filePath": { "type": "string", "title": "Catalog file path", "description": "Defaults to catalog-info.yaml" },
            "entity": { "type": "object", "title": "Entity info to write catalog-info.yaml", "description": "You can provide the same values used in the Entity schema." } } })
    }
    fn supports_dry_run(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let file = ctx.str("filePath").unwrap_or("catalog-info.yaml");
            let dest = ctx.workspace.resolve("filePath", file)?;
            let mut entity = ctx
                .input
                .get("entity")
                .cloned()
                .unwrap_or_else(|| json!({}));
            if let Some(annotations) = entity
                .as_object_mut()
                .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
                .and_then(Json::as_object_mut)
                .map(|md| md.entry("annotations").or_insert_with(|| json!({})))
                .and_then(Json::as_object_mut)
            {
                annotations.insert(
                    "backstage.io/source-template".into(),
                    json!(ctx.template_ref),
                );
            }
            let yaml = serde_saphyr::to_string(&entity)
                .map_err(|e| ActionError::Failed(format!("serializing the entity: {e}")))?;
            ctx.logger.log(format!("Writing {file}"));
            blocking(move || {
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| ActionError::Failed(e.to_string()))?;
                }
                std::fs::write(&dest, yaml)
                    .map_err(|e| ActionError::Failed(format!("writing {}: {e}", dest.display())))
            })
            .await?;
            Ok(Outputs::new())
        })
    }
}

pub struct Fetch;

impl Action for Fetch {
    fn id(&self) -> &'static str {
        "catalog:fetch"
    }
    fn description(&self) -> &'static str {
        "Returns entity or entities from the catalog by entity reference(s)"
    }
    fn input_schema(&self) -> Json {
        json!({ "type": "object", "properties": {
            "entityRef": { "type": "string", "description": "Entity reference of the entity to get" },
            "entityRefs": { "type": "array", "items": {"type": "string"}, "description": "Entity references of the entities to get" },
            "optional": { "type": "boolean", "description": "Allow the entity or entities to optionally exist. Default: false" },
            "defaultKind": { "type": "string", "description": "The default kind" },
            "defaultNamespace": { "type": "string", "description": "The default namespace" } } })
    }
    fn output_schema(&self) -> Json {
        json!({ "type": "object", "properties": {
            "entity": { "type": "object", "description": "Object containing same values used in the Entity schema. Only when used with `entityRef` parameter." },
            "entities": { "type": "array", "items": {"type": "object"}, "description": "Array containing objects with same values used in the Entity schema. Only when used with `entityRefs` parameter." } } })
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let catalog = ctx
                .services
                .catalog
                .as_ref()
                .ok_or_else(|| no_catalog(self.id()))?;
            let optional = ctx.bool("optional");
            let normalize = |r: &str| {
                greenroom_model::EntityRef::parse(
                    r,
                    ctx.str("defaultKind"),
                    Some(ctx.str("defaultNamespace").unwrap_or("default")),
                )
                .map(|r| r.to_string())
                .map_err(|e| ActionError::Input(format!("entityRef: {e}")))
            };
            let mut out = Outputs::new();
            if let Some(r) = ctx.str("entityRef") {
                let r = normalize(r)?;
                match catalog.entity(&r).await.map_err(port_error)? {
                    Some(e) => {
                        out.insert("entity".into(), e);
                    }
                    None if optional => {}
                    None => return Err(ActionError::NotFound(format!("Entity {r} not found"))),
                }
                return Ok(out);
            }
            let refs = ctx.strings("entityRefs");
            if refs.is_empty() && !ctx.input.contains_key("entityRefs") {
                return Err(ActionError::Input(
                    "Missing entity reference or references".into(),
                ));
            }
            let mut entities = Vec::new();
            for r in refs {
                let r = normalize(&r)?;
                match catalog.entity(&r).await.map_err(port_error)? {
                    Some(e) => entities.push(e),
                    None if optional => entities.push(Json::Null),
                    None => return Err(ActionError::NotFound(format!("Entity {r} not found"))),
                }
            }
            out.insert("entities".into(), Json::Array(entities));
            Ok(out)
        })
    }
}
