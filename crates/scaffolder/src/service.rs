//! The task queue: creating tasks, workers that claim and run them with a
//! heartbeat, a janitor for tasks whose worker went away, cancel, retry and
//! dry runs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use greenroom_store::{StaleVerdict, Store, StoreError, TaskRow, now_ms};
use serde_json::{Map, Value as Json, json};
use thiserror::Error;
use tokio::sync::{Notify, Semaphore, mpsc, watch};

use crate::actions::{ActionRegistry, Author, CatalogPort, Services};
use crate::integrations::Integrations;
use crate::runner::{self, RunContext, RunOutcome, RunStatus};
use crate::template::{
    TemplateError, TemplateInfo, task_spec, template_spec, validate_values, wants_start_over,
};
use crate::templating::{SyntaxOptions, Templater};
use crate::tree::{TemplateSource, TreeEntry, Workspace};

const HEARTBEAT: Duration = Duration::from_secs(1);

#[derive(Debug, Error)]
pub enum ScaffolderError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Config(String),
}

/// `scaffolder.*` and `backend.workingDirectory`.
#[derive(Debug, Clone)]
pub struct ScaffolderSettings {
    pub working_directory: PathBuf,
    pub concurrency: usize,
    /// A running task whose worker sent no heartbeat for this long is
    /// failed, or started over when its template asks for it.
    pub task_timeout: Duration,
    pub janitor_frequency: Duration,
    pub default_environment: Json,
    pub default_author: Author,
    pub default_commit_message: String,
}

impl ScaffolderSettings {
    pub fn from_config(raw: &Json) -> Result<Self, ScaffolderError> {
        let duration = |ptr: &str, default: Duration| -> Result<Duration, ScaffolderError> {
            match raw.pointer(ptr) {
                Some(v) => greenroom_config::parse_duration(v)
                    .map_err(|e| ScaffolderError::Config(format!("{ptr}: {e}"))),
                None => Ok(default),
            }
        };
        let s = |ptr: &str| raw.pointer(ptr).and_then(Json::as_str).map(str::to_string);
        Ok(Self {
            working_directory: s("/backend/workingDirectory")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("greenroom-scaffolder")),
            concurrency: raw
                .pointer("/scaffolder/concurrentTasksLimit")
                .and_then(Json::as_u64)
                .unwrap_or(10)
                .max(1) as usize,
            task_timeout: duration("/scaffolder/taskTimeout", Duration::from_secs(10))?,
            janitor_frequency: duration(
                "/scaffolder/taskTimeoutJanitorFrequency",
                Duration::from_secs(2),
            )?,
            default_environment: raw
                .pointer("/scaffolder/defaultEnvironment")
                .cloned()
                .unwrap_or_else(|| json!({ "parameters": {}, "secrets": {} })),
            default_author: Author {
                name: s("/scaffolder/defaultAuthor/name").unwrap_or_else(|| "Scaffolder".into()),
                email: s("/scaffolder/defaultAuthor/email")
                    .unwrap_or_else(|| "scaffolder@backstage.io".into()),
            },
            default_commit_message: s("/scaffolder/defaultCommitMessage")
                .unwrap_or_else(|| "initial commit".into()),
        })
    }
}

/// The client for SCM REST APIs. reqwest is built without a default TLS
/// provider; ring is ours.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default()
}

/// The result of `POST /v2/dry-run`.
pub struct DryRunResult {
    pub log: Vec<Json>,
    pub files: Vec<TreeEntry>,
    pub outcome: RunOutcome,
}

pub struct Scaffolder {
    store: Store,
    registry: ActionRegistry,
    services: Services,
    settings: ScaffolderSettings,
    wake: Notify,
    /// Cancel switches of the tasks this instance runs.
    running: Mutex<HashMap<String, watch::Sender<bool>>>,
}

/// The base a template's relative `url` inputs resolve against.
fn template_base_url(entity: &Json) -> Option<String> {
    let annotation = |k: &str| {
        entity
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(k))
            .and_then(Json::as_str)
            .map(str::to_string)
    };
    annotation("backstage.io/managed-by-location")
        .filter(|l| {
            l.starts_with("file:") || l.starts_with("bundled:") || l.starts_with("url:git+")
        })
        .or_else(|| annotation("backstage.io/source-location"))
}

fn entity_ref_of(entity: &Json) -> String {
    let kind = entity
        .get("kind")
        .and_then(Json::as_str)
        .unwrap_or("template");
    let ns = entity
        .pointer("/metadata/namespace")
        .and_then(Json::as_str)
        .unwrap_or("default");
    let name = entity
        .pointer("/metadata/name")
        .and_then(Json::as_str)
        .unwrap_or("");
    format!("{}:{ns}/{name}", kind.to_lowercase())
}

/// Validates values and secrets against a template and builds its task spec.
fn prepare_task(
    template: &Json,
    values: &Json,
    secrets: &Map<String, Json>,
    base_url: Option<String>,
    user: Json,
    templater: &Templater,
) -> Result<Json, ScaffolderError> {
    let spec = template_spec(template)?;
    let parameters = validate_values(spec, values, &Json::Object(secrets.clone()), templater)?;
    let info = TemplateInfo {
        entity_ref: entity_ref_of(template),
        base_url,
        metadata: template
            .get("metadata")
            .cloned()
            .unwrap_or_else(|| json!({})),
    };
    Ok(task_spec(spec, parameters, &info, user))
}

/// The files a task's template may read. A template that lives in git
/// (`url:git+<remote>#<branch>:<path>`) has its folder checked out into
/// `scratch` first.
fn source_for(spec: &Json, scratch: &std::path::Path) -> Result<TemplateSource, String> {
    let Some(base) = spec.pointer("/templateInfo/baseUrl").and_then(Json::as_str) else {
        return Err("the template has no location to read its files from".into());
    };
    if let Some(git) = base
        .strip_prefix("url:")
        .and_then(greenroom_catalog::readers::GitTarget::parse)
    {
        let dir = match git.path.rfind('/') {
            Some(i) => git.path[..i].to_string(),
            None => String::new(),
        };
        greenroom_catalog::readers::checkout_git_dir(&git, &dir, scratch)
            .map_err(|e| e.to_string())?;
        return Ok(TemplateSource::Dir(scratch.to_path_buf()));
    }
    TemplateSource::from_base_url(base).map_err(|e| e.to_string())
}

impl Scaffolder {
    pub fn new(
        store: Store,
        settings: ScaffolderSettings,
        integrations: Arc<Integrations>,
        catalog: Option<Arc<dyn CatalogPort>>,
    ) -> Arc<Self> {
        let http = http_client();
        Arc::new(Self {
            store,
            registry: ActionRegistry::builtin(),
            services: Services {
                integrations,
                catalog,
                default_author: settings.default_author.clone(),
                default_commit_message: settings.default_commit_message.clone(),
                http,
            },
            settings,
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
        })
    }

    pub fn registry(&self) -> &ActionRegistry {
        &self.registry
    }

    /// The `${{ }}` engine with this server's integrations (for forms that
    /// evaluate page conditions as a task would).
    pub fn templater(&self) -> Templater {
        Templater::new(self.services.integrations.clone(), SyntaxOptions::default())
    }

    /// Validates values and secrets against the template and queues a task.
    pub async fn create_task(
        &self,
        template: &Json,
        values: &Json,
        secrets: Map<String, Json>,
        user: Json,
        created_by: Option<&str>,
    ) -> Result<String, ScaffolderError> {
        let task = prepare_task(
            template,
            values,
            &secrets,
            template_base_url(template),
            user,
            &self.templater(),
        )?;
        let id = uuid::Uuid::new_v4().to_string();
        let secrets_text = (!secrets.is_empty()).then(|| Json::Object(secrets).to_string());
        self.store
            .create_task(&id, &task.to_string(), created_by, secrets_text.as_deref())
            .await?;
        self.wake.notify_one();
        Ok(id)
    }

    /// Cancels a task; `None` when it does not exist.
    pub async fn cancel(&self, id: &str) -> Result<Option<String>, ScaffolderError> {
        let cancelled = json!({ "message": "Task was cancelled by request" }).to_string();
        let completion = json!({ "message": "Run completed with status: cancelled" }).to_string();
        let before = self.store.cancel_task(id, &cancelled, &completion).await?;
        if let Some(tx) = self.running.lock().ok().and_then(|m| m.get(id).cloned()) {
            let _ = tx.send(true);
        }
        Ok(before)
    }

    /// Re-queues a finished task under the same id, with new secrets,
    /// checked against `secrets_schema` (the template's, when it still
    /// exists).
    pub async fn retry(
        &self,
        id: &str,
        secrets: Option<Map<String, Json>>,
        secrets_schema: Option<&Json>,
    ) -> Result<(), ScaffolderError> {
        let secrets = secrets.unwrap_or_default();
        if let Some(schema) = secrets_schema {
            let errors = crate::template::schema_errors(schema, &Json::Object(secrets.clone()))?;
            if !errors.is_empty() {
                return Err(TemplateError::Validation(errors).into());
            }
        }
        let secrets_text = (!secrets.is_empty()).then(|| Json::Object(secrets).to_string());
        let body = json!({ "message": "Task was retried" }).to_string();
        self.store
            .retry_task(id, secrets_text.as_deref(), &body)
            .await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Workers and the janitor, until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if let Err(e) = std::fs::create_dir_all(&self.settings.working_directory) {
            tracing::error!(dir = %self.settings.working_directory.display(), error = %e, "cannot create the scaffolder working directory");
        }
        let janitor = tokio::spawn(self.clone().janitor(shutdown.clone()));
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        loop {
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = shutdown.wait_for(|s| *s) => break,
            };
            match self.store.claim_task().await {
                Ok(Some(task)) => {
                    let this = self.clone();
                    tokio::spawn(async move {
                        this.execute(task).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.wait_for(|s| *s) => break,
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "claiming a scaffolder task failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        janitor.abort();
        // Tasks still running are left for the next janitor pass to recover
        // now rather than after the heartbeat timeout.
        let ids: Vec<String> = self
            .running
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if !ids.is_empty() {
            tracing::info!(
                tasks = ids.len(),
                "stopping with scaffolder tasks running; they will be recovered on the next start"
            );
            let _ = self.store.expire_task_heartbeats(&ids).await;
        }
    }

    async fn janitor(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.sweep_stale().await {
                tracing::warn!(error = %e, "scaffolder janitor failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.janitor_frequency) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    /// Fails (or starts over) running tasks whose worker stopped beating.
    pub async fn sweep_stale(&self) -> Result<(), ScaffolderError> {
        let before = now_ms() - self.settings.task_timeout.as_millis() as i64;
        for task in self.store.stale_tasks(before).await? {
            if self
                .running
                .lock()
                .map(|m| m.contains_key(&task.id))
                .unwrap_or(false)
            {
                continue;
            }
            let spec: Json = serde_json::from_str(&task.spec).unwrap_or(Json::Null);
            if wants_start_over(&spec) {
                let body = json!({ "message": "The task was interrupted and is starting over (EXPERIMENTAL_recovery: startOver)" }).to_string();
                if self
                    .store
                    .resolve_stale_task(&task.id, before, StaleVerdict::StartOver, &body)
                    .await?
                {
                    tracing::info!(task = %task.id, "interrupted task starts over");
                    self.wake.notify_one();
                }
                continue;
            }
            let message = format!(
                "The task was interrupted: the worker running it stopped (greenroom stopped or crashed) and sent no heartbeat for {} s. Retry it to run it again.",
                self.settings.task_timeout.as_secs()
            );
            let body = json!({
                "message": "Run completed with status: failed",
                "error": { "name": "TaskInterruptedError", "message": message },
            })
            .to_string();
            let log = json!({ "message": message }).to_string();
            self.store.append_task_event(&task.id, "log", &log).await?;
            if self
                .store
                .resolve_stale_task(&task.id, before, StaleVerdict::Fail, &body)
                .await?
            {
                tracing::warn!(task = %task.id, "interrupted task failed");
                let _ = std::fs::remove_dir_all(self.settings.working_directory.join(&task.id));
            }
        }
        Ok(())
    }

    async fn execute(self: Arc<Self>, task: TaskRow) {
        let id = task.id.clone();
        let (cancel_tx, cancel_rx) = watch::channel(false);
        if let Ok(mut m) = self.running.lock() {
            m.insert(id.clone(), cancel_tx.clone());
        }
        let workspace_dir = self.settings.working_directory.join(&id);
        let outcome = self
            .execute_in(&task, &workspace_dir, cancel_tx, cancel_rx)
            .await;
        let status = outcome.status.as_str();
        let body = outcome.completion_body().to_string();
        match self.store.complete_task(&id, status, &body).await {
            Ok(true) => tracing::info!(task = %id, status, "task finished"),
            Ok(false) => tracing::info!(task = %id, "task had already been ended by the janitor"),
            Err(e) => tracing::error!(task = %id, error = %e, "recording the end of a task failed"),
        }
        let _ = tokio::fs::remove_dir_all(&workspace_dir).await;
        if let Ok(mut m) = self.running.lock() {
            m.remove(&id);
        }
    }

    async fn execute_in(
        &self,
        task: &TaskRow,
        workspace_dir: &PathBuf,
        cancel_tx: watch::Sender<bool>,
        cancel_rx: watch::Receiver<bool>,
    ) -> RunOutcome {
        let failed = |msg: String| RunOutcome {
            status: RunStatus::Failed,
            output: json!({}),
            error: Some(("Error".into(), msg)),
            steps: Vec::new(),
        };
        let spec: Json = match serde_json::from_str(&task.spec) {
            Ok(s) => s,
            Err(e) => return failed(format!("the stored task spec is unreadable: {e}")),
        };
        let secrets: Map<String, Json> = task
            .secrets
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        let _ = tokio::fs::remove_dir_all(workspace_dir).await;
        if let Err(e) = tokio::fs::create_dir_all(workspace_dir).await {
            return failed(format!(
                "creating the workspace {}: {e}",
                workspace_dir.display()
            ));
        }
        let (events_tx, mut events_rx) = mpsc::unbounded_channel::<(String, Json)>();
        let store = self.store.clone();
        let task_id = task.id.clone();
        let drain = tokio::spawn(async move {
            while let Some((kind, body)) = events_rx.recv().await {
                if let Err(e) = store
                    .append_task_event(&task_id, &kind, &body.to_string())
                    .await
                {
                    tracing::warn!(task = %task_id, error = %e, "recording a task event failed");
                }
            }
        });
        let store = self.store.clone();
        let task_id = task.id.clone();
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                match store.heartbeat_task(&task_id).await {
                    Ok(Some(status)) if status == greenroom_store::tasks::PROCESSING => {}
                    Ok(_) => {
                        // Cancelled, or ended by a janitor that thought us gone.
                        let _ = cancel_tx.send(true);
                        return;
                    }
                    Err(e) => tracing::warn!(task = %task_id, error = %e, "task heartbeat failed"),
                }
            }
        });
        let template_dir = self
            .settings
            .working_directory
            .join(format!("{}-template", task.id));
        let _ = tokio::fs::remove_dir_all(&template_dir).await;
        let spec_for_source = spec.clone();
        let scratch = template_dir.clone();
        let resolved = tokio::task::spawn_blocking(move || source_for(&spec_for_source, &scratch))
            .await
            .unwrap_or_else(|e| Err(format!("reading the template failed: {e}")));
        let source = match resolved {
            Ok(s) => s,
            Err(reason) => {
                let _ = events_tx.send((
                    "log".into(),
                    json!({ "message": format!("Template files are not readable: {reason}") }),
                ));
                TemplateSource::Memory(Arc::new(Vec::new()))
            }
        };
        let workspace = Workspace::new(workspace_dir.clone());
        let outcome = runner::run(RunContext {
            task_id: &task.id,
            spec: &spec,
            secrets,
            environment: self.settings.default_environment.clone(),
            workspace: &workspace,
            source: &source,
            services: &self.services,
            registry: &self.registry,
            events: events_tx,
            cancel: cancel_rx,
            dry_run: false,
        })
        .await;
        heartbeat.abort();
        let _ = drain.await;
        let _ = tokio::fs::remove_dir_all(&template_dir).await;
        outcome
    }

    /// Runs a template against files sent with the request, in a scratch
    /// workspace, skipping actions that would act outside it.
    pub async fn dry_run(
        &self,
        template: &Json,
        values: &Json,
        secrets: Map<String, Json>,
        files: Vec<TreeEntry>,
        user: Json,
    ) -> Result<DryRunResult, ScaffolderError> {
        let task = prepare_task(template, values, &secrets, None, user, &self.templater())?;
        let id = format!("dry-run-{}", uuid::Uuid::new_v4());
        let dir = self.settings.working_directory.join(&id);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| ScaffolderError::Io(format!("creating {}: {e}", dir.display())))?;
        let workspace = Workspace::new(dir.clone());
        let source = TemplateSource::Memory(Arc::new(files));
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let (_cancel_tx, cancel_rx) = watch::channel(false);
        let outcome = runner::run(RunContext {
            task_id: &id,
            spec: &task,
            secrets,
            environment: self.settings.default_environment.clone(),
            workspace: &workspace,
            source: &source,
            services: &self.services,
            registry: &self.registry,
            events: events_tx,
            cancel: cancel_rx,
            dry_run: true,
        })
        .await;
        let mut log = Vec::new();
        while let Ok((_, body)) = events_rx.try_recv() {
            log.push(json!({ "body": body }));
        }
        let files = workspace.read_all();
        let _ = tokio::fs::remove_dir_all(&dir).await;
        let files = files.map_err(|e| ScaffolderError::Io(e.to_string()))?;
        Ok(DryRunResult {
            log,
            files,
            outcome,
        })
    }
}

/// Runs a template from a file into `output`, without a server: publish and
/// catalog steps are skipped with a notice, as in a dry run. Every event is
/// handed to `on_event` as it happens.
#[allow(clippy::too_many_arguments)]
pub async fn run_local(
    template: &Json,
    template_path: &std::path::Path,
    values: &Json,
    secrets: Map<String, Json>,
    output: &std::path::Path,
    settings: &ScaffolderSettings,
    integrations: Arc<Integrations>,
    mut on_event: impl FnMut(&str, &Json),
) -> Result<RunOutcome, ScaffolderError> {
    let templater = Templater::new(integrations.clone(), SyntaxOptions::default());
    let base_url = format!("file:{}", template_path.display());
    let task = prepare_task(
        template,
        values,
        &secrets,
        Some(base_url.clone()),
        json!({}),
        &templater,
    )?;
    std::fs::create_dir_all(output)
        .map_err(|e| ScaffolderError::Io(format!("creating {}: {e}", output.display())))?;
    let source =
        TemplateSource::from_base_url(&base_url).map_err(|e| ScaffolderError::Io(e.to_string()))?;
    let services = Services {
        integrations,
        catalog: None,
        default_author: settings.default_author.clone(),
        default_commit_message: settings.default_commit_message.clone(),
        http: http_client(),
    };
    let registry = ActionRegistry::builtin();
    let workspace = Workspace::new(output.to_path_buf());
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<(String, Json)>();
    let (_cancel_tx, cancel_rx) = watch::channel(false);
    let run = runner::run(RunContext {
        task_id: "local",
        spec: &task,
        secrets,
        environment: settings.default_environment.clone(),
        workspace: &workspace,
        source: &source,
        services: &services,
        registry: &registry,
        events: events_tx,
        cancel: cancel_rx,
        dry_run: true,
    });
    let print = async {
        while let Some((kind, body)) = events_rx.recv().await {
            on_event(&kind, &body);
        }
    };
    let (outcome, ()) = tokio::join!(run, print);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_have_backstage_defaults_and_name_bad_values() {
        let s = ScaffolderSettings::from_config(&json!({})).unwrap();
        assert_eq!(
            (s.concurrency, s.task_timeout),
            (10, Duration::from_secs(10))
        );
        assert_eq!(s.default_author.name, "Scaffolder");
        let s = ScaffolderSettings::from_config(&json!({ "scaffolder": { "taskTimeout": { "minutes": 2 }, "concurrentTasksLimit": 3 } })).unwrap();
        assert_eq!(
            (s.concurrency, s.task_timeout),
            (3, Duration::from_secs(120))
        );
        let err =
            ScaffolderSettings::from_config(&json!({ "scaffolder": { "taskTimeout": "soon" } }))
                .unwrap_err();
        assert!(
            err.to_string().starts_with("/scaffolder/taskTimeout: "),
            "{err}"
        );
    }
}
