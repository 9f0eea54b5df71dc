//! Built-in actions. Each declares its input and output JSON Schemas (the
//! runner validates inputs against them before it calls the action) and
//! whether it can run in a dry run.

mod catalog;
mod debug;
mod fetch;
mod fs;
mod publish;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{Map, Value as Json, json};
use thiserror::Error;
use tokio::sync::mpsc;

use crate::integrations::Integrations;
use crate::tree::{PathError, TemplateSource, Workspace};

pub type Outputs = Map<String, Json>;

#[derive(Debug, Error)]
pub enum ActionError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Failed(String),
}

impl ActionError {
    /// Backstage's error name for this failure.
    pub fn name(&self) -> &'static str {
        match self {
            ActionError::Input(_) => "InputError",
            ActionError::Path(PathError::NotFound(_)) | ActionError::NotFound(_) => "NotFoundError",
            ActionError::Path(PathError::Io(_)) | ActionError::Failed(_) => "Error",
            ActionError::Path(_) => "InputError",
            ActionError::Conflict(_) => "ConflictError",
        }
    }
}

/// What a step's action may reach beyond its workspace.
#[derive(Debug, Clone)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// A registration as the catalog reports it.
#[derive(Debug, Clone)]
pub struct Registration {
    pub entities: Vec<Json>,
}

#[derive(Debug, Error)]
pub enum CatalogPortError {
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Failed(String),
}

/// The catalog as actions see it: `catalog:register` and `catalog:fetch`
/// go through the same code paths as `POST /locations` and entity lookups.
pub trait CatalogPort: Send + Sync {
    /// Registers (or, with `dry_run`, only reads) a `url` location.
    fn register<'a>(
        &'a self,
        target: &'a str,
        dry_run: bool,
    ) -> BoxFuture<'a, Result<Registration, CatalogPortError>>;
    fn entity<'a>(
        &'a self,
        entity_ref: &'a str,
    ) -> BoxFuture<'a, Result<Option<Json>, CatalogPortError>>;
}

/// Shared services and configuration for actions.
pub struct Services {
    pub integrations: Arc<Integrations>,
    /// `None` outside the server (`greenroom scaffold`): catalog steps skip.
    pub catalog: Option<Arc<dyn CatalogPort>>,
    pub default_author: Author,
    pub default_commit_message: String,
    pub http: reqwest::Client,
}

/// Sends a step's log lines to the task's event log.
#[derive(Clone)]
pub struct StepLogger {
    step_id: String,
    events: mpsc::UnboundedSender<(String, Json)>,
    redact: Arc<Vec<String>>,
}

impl StepLogger {
    pub fn new(
        step_id: &str,
        events: mpsc::UnboundedSender<(String, Json)>,
        redact: Arc<Vec<String>>,
    ) -> Self {
        Self {
            step_id: step_id.to_string(),
            events,
            redact,
        }
    }

    pub fn log(&self, message: impl Into<String>) {
        let message = redact(&message.into(), &self.redact);
        let _ = self.events.send((
            "log".into(),
            json!({ "message": message, "stepId": self.step_id }),
        ));
    }
}

/// Replaces every secret value in `text` with `***`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if !s.is_empty() && out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

pub struct ActionContext<'a> {
    pub input: Map<String, Json>,
    pub workspace: &'a Workspace,
    pub source: &'a TemplateSource,
    pub services: &'a Services,
    pub logger: &'a StepLogger,
    pub template_ref: &'a str,
    pub user_ref: Option<&'a str>,
    pub task_id: &'a str,
}

impl ActionContext<'_> {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.input.get(key).and_then(Json::as_str)
    }

    pub fn bool(&self, key: &str) -> bool {
        self.input.get(key).and_then(Json::as_bool).unwrap_or(false)
    }

    pub fn required_str(&self, key: &str) -> Result<&str, ActionError> {
        self.str(key)
            .ok_or_else(|| ActionError::Input(format!("input {key} is required")))
    }

    pub fn strings(&self, key: &str) -> Vec<String> {
        self.input
            .get(key)
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }
}

pub trait Action: Send + Sync {
    fn id(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn input_schema(&self) -> Json;
    /// `Null` for actions without outputs.
    fn output_schema(&self) -> Json {
        Json::Null
    }
    /// Whether inputs outside the schema are refused (Backstage's schemas
    /// say `additionalProperties: false`). The publish actions accept the
    /// inputs of theirs that greenroom does not act on and log them.
    fn strict_input(&self) -> bool {
        true
    }
    fn examples(&self) -> Json {
        json!([])
    }
    /// Whether a dry run executes this action (it touches only the workspace).
    fn supports_dry_run(&self) -> bool {
        false
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>>;
}

/// The actions a task may name, by id.
pub struct ActionRegistry {
    actions: BTreeMap<&'static str, Arc<dyn Action>>,
}

impl ActionRegistry {
    pub fn builtin() -> Self {
        let list: Vec<Arc<dyn Action>> = vec![
            Arc::new(fetch::FetchPlain),
            Arc::new(fetch::FetchPlainFile),
            Arc::new(fetch::FetchTemplate),
            Arc::new(fetch::FetchTemplateFile),
            Arc::new(fs::Delete),
            Arc::new(fs::Rename),
            Arc::new(fs::ReadDir),
            Arc::new(debug::Log),
            Arc::new(debug::Wait),
            Arc::new(catalog::Register),
            Arc::new(catalog::Write),
            Arc::new(catalog::Fetch),
            Arc::new(publish::PublishGit),
            Arc::new(publish::PublishGithub),
            Arc::new(publish::PublishGitlab),
        ];
        Self {
            actions: list.into_iter().map(|a| (a.id(), a)).collect(),
        }
    }

    /// An action's input schema as clients see it and inputs are checked.
    pub fn input_schema(action: &dyn Action) -> Json {
        let mut schema = action.input_schema();
        if let Some(o) = schema.as_object_mut() {
            if action.strict_input() && o.contains_key("properties") {
                o.entry("additionalProperties").or_insert(Json::Bool(false));
            }
            o.insert(
                "$schema".into(),
                json!("http://json-schema.org/draft-07/schema#"),
            );
        }
        schema
    }

    pub fn get(&self, id: &str) -> Option<Arc<dyn Action>> {
        self.actions.get(id).cloned()
    }

    /// The body of `GET /v2/actions`, sorted by id.
    pub fn describe(&self) -> Json {
        Json::Array(
            self.actions
                .values()
                .map(|a| {
                    let mut schema = json!({ "input": Self::input_schema(a.as_ref()) });
                    let output = a.output_schema();
                    if let (false, Some(o)) = (output.is_null(), schema.as_object_mut()) {
                        o.insert("output".into(), output);
                    }
                    json!({
                        "id": a.id(),
                        "description": a.description(),
                        "examples": a.examples(),
                        "schema": schema,
                    })
                })
                .collect(),
        )
    }
}

/// Outputs for a step a dry run skips: an example per declared output.
pub fn example_outputs(action: &dyn Action) -> Outputs {
    let schema = action.output_schema();
    schema
        .get("properties")
        .and_then(Json::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(name, s)| {
                    let v = s
                        .get("examples")
                        .and_then(|e| e.get(0))
                        .cloned()
                        .unwrap_or_else(|| match s.get("type").and_then(Json::as_str) {
                            Some("number") | Some("integer") => json!(0),
                            Some("boolean") => json!(false),
                            Some("array") => json!([]),
                            Some("object") => json!({}),
                            _ => json!(format!("dry-run-{name}")),
                        });
                    (name.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Blocking file-system work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ActionError> + Send + 'static,
) -> Result<T, ActionError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ActionError::Failed(format!("action worker failed: {e}")))?
}
