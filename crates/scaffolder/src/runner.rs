//! Runs a task spec's steps in order: renders each step's `if`, `each` and
//! `input`, validates the input against the action's schema, runs the
//! action and records its outputs, then renders the spec's `output`.
//!
//! Everything the run says goes through one channel of `(type, body)`
//! events, with secret values redacted, so the same runner serves the task
//! queue (events to the store), dry runs (events to a list) and the CLI.

use std::sync::Arc;

use serde_json::{Map, Value as Json, json};
use tokio::sync::{mpsc, watch};

use crate::actions::{
    ActionContext, ActionError, ActionRegistry, Services, StepLogger, example_outputs, redact,
};
use crate::template::schema_errors;
use crate::templating::{SyntaxOptions, Templater, is_truthy};
use crate::tree::{TemplateSource, Workspace};

pub type EventSender = mpsc::UnboundedSender<(String, Json)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub output: Json,
    /// `(name, message)` of the first failure.
    pub error: Option<(String, String)>,
    /// Per step: `{id, name, action, status}` (dry runs report these).
    pub steps: Vec<Json>,
}

impl RunOutcome {
    /// The body of the task's `completion` event.
    pub fn completion_body(&self) -> Json {
        let message = format!("Run completed with status: {}", self.status.as_str());
        match (&self.status, &self.error) {
            (RunStatus::Failed, Some((name, msg))) => {
                json!({ "message": message, "error": { "name": name, "message": msg } })
            }
            (RunStatus::Completed, _) => json!({ "message": message, "output": self.output }),
            _ => json!({ "message": message }),
        }
    }
}

/// Everything one run needs.
pub struct RunContext<'a> {
    pub task_id: &'a str,
    pub spec: &'a Json,
    pub secrets: Map<String, Json>,
    /// `scaffolder.defaultEnvironment`: `{parameters, secrets}`.
    pub environment: Json,
    pub workspace: &'a Workspace,
    pub source: &'a TemplateSource,
    pub services: &'a Services,
    pub registry: &'a ActionRegistry,
    pub events: EventSender,
    pub cancel: watch::Receiver<bool>,
    /// Skip actions that act outside the workspace, with a notice and
    /// example outputs (dry runs and `greenroom scaffold`).
    pub dry_run: bool,
}

fn secret_values(secrets: &Map<String, Json>, environment: &Json) -> Vec<String> {
    let env_secrets = environment.get("secrets").and_then(Json::as_object);
    let mut out: Vec<String> = secrets
        .values()
        .chain(env_secrets.into_iter().flat_map(|m| m.values()))
        .filter_map(|v| match v {
            Json::String(s) if !s.is_empty() => Some(s.clone()),
            Json::Null => None,
            other => Some(other.to_string()),
        })
        .collect();
    // Longer first, so a secret containing another is replaced whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

struct Emitter {
    events: EventSender,
    redact: Arc<Vec<String>>,
}

impl Emitter {
    fn log(&self, message: &str, extra: Json) {
        let mut body = json!({ "message": redact(message, &self.redact) });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let _ = self.events.send(("log".into(), body));
    }
}

fn step_str<'a>(step: &'a Json, key: &str) -> &'a str {
    step.get(key).and_then(Json::as_str).unwrap_or("")
}

/// Whether an `if` asks to run after a failure (`always()` / `failure()`).
fn runs_after_failure(condition: Option<&Json>) -> bool {
    matches!(condition, Some(Json::String(s)) if s.contains("always()") || s.contains("failure()"))
}

/// Runs every step of the spec. Never panics on template input: every
/// problem ends the run as `failed` with the first error.
pub async fn run(mut ctx: RunContext<'_>) -> RunOutcome {
    let redact_list = Arc::new(secret_values(&ctx.secrets, &ctx.environment));
    let emit = Emitter {
        events: ctx.events.clone(),
        redact: redact_list.clone(),
    };
    let steps: Vec<Json> = ctx
        .spec
        .get("steps")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let templater = Templater::new(ctx.services.integrations.clone(), SyntaxOptions::default());
    let template_ref = ctx
        .spec
        .pointer("/templateInfo/entityRef")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    let user_ref = ctx
        .spec
        .pointer("/user/ref")
        .and_then(Json::as_str)
        .map(str::to_string);
    let mut context = json!({
        "parameters": ctx.spec.get("parameters").cloned().unwrap_or_else(|| json!({})),
        "steps": {},
        "secrets": Json::Object(ctx.secrets.clone()),
        "user": ctx.spec.get("user").cloned().unwrap_or_else(|| json!({})),
        "environment": ctx.environment.clone(),
        "context": { "task": { "id": ctx.task_id } },
    });
    let mut error: Option<(String, String)> = None;
    let mut cancelled = false;
    let mut reports = Vec::new();

    // Unknown actions fail the task before any step runs.
    for step in &steps {
        let action = step_str(step, "action");
        if ctx.registry.get(action).is_none() {
            let msg = format!("Template action with ID '{action}' is not registered.");
            emit.log(&msg, json!({}));
            return RunOutcome {
                status: RunStatus::Failed,
                output: json!({}),
                error: Some(("NotFoundError".into(), msg)),
                steps: reports,
            };
        }
    }

    emit.log(
        &format!("Starting up task with {} steps", steps.len()),
        json!({}),
    );
    for step in &steps {
        let id = step_str(step, "id").to_string();
        let name = step_str(step, "name").to_string();
        let action_id = step_str(step, "action").to_string();
        let mut report = json!({ "id": id, "name": name, "action": action_id });
        let finish = |report: &mut Json, status: &str| {
            if let Some(o) = report.as_object_mut() {
                o.insert("status".into(), json!(status));
            }
        };
        if cancelled || *ctx.cancel.borrow() {
            cancelled = true;
            emit.log(
                &format!("Step {name} was cancelled"),
                json!({ "stepId": id, "status": "cancelled" }),
            );
            finish(&mut report, "cancelled");
            reports.push(report);
            continue;
        }
        let condition = step.get("if");
        if error.is_some() && !runs_after_failure(condition) {
            emit.log(
                &format!("Skipping step {id} because an earlier step failed"),
                json!({ "stepId": id, "status": "skipped" }),
            );
            finish(&mut report, "skipped");
            reports.push(report);
            continue;
        }
        if let Some(cond) = condition {
            match templater.render_condition(cond, &context, error.is_some()) {
                Ok(v) if !is_truthy(v.as_ref()) => {
                    emit.log(
                        &format!("Skipping step {id} because its if condition was false"),
                        json!({ "stepId": id, "status": "skipped" }),
                    );
                    finish(&mut report, "skipped");
                    reports.push(report);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    let msg = format!("Step {name}: rendering if failed: {e}");
                    emit.log(&msg, json!({ "stepId": id, "status": "failed" }));
                    error.get_or_insert(("InputError".into(), msg));
                    finish(&mut report, "failed");
                    reports.push(report);
                    continue;
                }
            }
        }
        emit.log(
            &format!("Beginning step {name}"),
            json!({ "stepId": id, "status": "processing" }),
        );
        let result = run_step(
            &mut ctx,
            step,
            &id,
            &action_id,
            &templater,
            &context,
            &template_ref,
            user_ref.as_deref(),
            &redact_list,
        )
        .await;
        match result {
            Ok(outputs) => {
                if let Some(steps_ctx) = context.get_mut("steps").and_then(Json::as_object_mut) {
                    steps_ctx.insert(id.clone(), json!({ "output": outputs }));
                }
                emit.log(
                    &format!("Finished step {name}"),
                    json!({ "stepId": id, "status": "completed" }),
                );
                finish(&mut report, "completed");
            }
            Err(StepFailure::Cancelled) => {
                cancelled = true;
                emit.log(
                    &format!("Step {name} was cancelled"),
                    json!({ "stepId": id, "status": "cancelled" }),
                );
                finish(&mut report, "cancelled");
            }
            Err(StepFailure::Error(e_name, msg)) => {
                emit.log(&msg, json!({ "stepId": id, "status": "failed" }));
                error.get_or_insert((e_name, redact(&msg, &redact_list)));
                finish(&mut report, "failed");
            }
        }
        reports.push(report);
    }

    if cancelled {
        return RunOutcome {
            status: RunStatus::Cancelled,
            output: json!({}),
            error: None,
            steps: reports,
        };
    }
    if let Some(err) = error {
        return RunOutcome {
            status: RunStatus::Failed,
            output: json!({}),
            error: Some(err),
            steps: reports,
        };
    }
    match render_output(&templater, ctx.spec.get("output"), &context) {
        Ok(output) => RunOutcome {
            status: RunStatus::Completed,
            output,
            error: None,
            steps: reports,
        },
        Err(msg) => {
            emit.log(&msg, json!({}));
            RunOutcome {
                status: RunStatus::Failed,
                output: json!({}),
                error: Some(("InputError".into(), msg)),
                steps: reports,
            }
        }
    }
}

enum StepFailure {
    Cancelled,
    Error(String, String),
}

#[allow(clippy::too_many_arguments)]
async fn run_step(
    ctx: &mut RunContext<'_>,
    step: &Json,
    id: &str,
    action_id: &str,
    templater: &Templater,
    context: &Json,
    template_ref: &str,
    user_ref: Option<&str>,
    redact_list: &Arc<Vec<String>>,
) -> Result<Json, StepFailure> {
    let fail = |name: &str, msg: String| StepFailure::Error(name.to_string(), msg);
    let Some(action) = ctx.registry.get(action_id) else {
        return Err(fail(
            "NotFoundError",
            format!("Template action with ID '{action_id}' is not registered."),
        ));
    };
    let logger = StepLogger::new(id, ctx.events.clone(), redact_list.clone());
    // `each` runs the action once per item, with `each.key`/`each.value`.
    let iterations: Vec<Option<Json>> = match step.get("each") {
        None => vec![None],
        Some(each) => {
            let rendered = templater.render_value(each, context).map_err(|e| {
                fail(
                    "InputError",
                    format!("Step {id}: rendering each failed: {e}"),
                )
            })?;
            match rendered {
                Some(Json::Array(items)) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| Some(json!({ "key": i.to_string(), "value": v })))
                    .collect(),
                Some(Json::Object(map)) => map
                    .into_iter()
                    .map(|(k, v)| Some(json!({ "key": k, "value": v })))
                    .collect(),
                other => {
                    return Err(fail(
                        "InputError",
                        format!(
                            "Step {id}: each must be an array or an object, got {}",
                            other.unwrap_or(Json::Null)
                        ),
                    ));
                }
            }
        }
    };
    let is_each = step.get("each").is_some();
    let mut collected: Map<String, Json> = Map::new();
    for item in iterations {
        let mut step_context = context.clone();
        if let (Some(item), Some(o)) = (&item, step_context.as_object_mut()) {
            o.insert("each".into(), item.clone());
        }
        let input = match step.get("input") {
            Some(input) => templater
                .render_value(input, &step_context)
                .map_err(|e| {
                    fail(
                        "InputError",
                        format!("Step {id}: rendering input failed: {e}"),
                    )
                })?
                .unwrap_or_else(|| json!({})),
            None => json!({}),
        };
        let errors = schema_errors(&ActionRegistry::input_schema(action.as_ref()), &input)
            .map_err(|e| fail("InputError", e.to_string()))?;
        if !errors.is_empty() {
            let stacks: Vec<&str> = errors.iter().filter_map(|e| e["stack"].as_str()).collect();
            return Err(fail(
                "InputError",
                format!(
                    "Invalid input passed to action {action_id}, {}",
                    stacks.join(", ")
                ),
            ));
        }
        if !action.strict_input()
            && let (Some(input), Some(props)) = (
                input.as_object(),
                action
                    .input_schema()
                    .get("properties")
                    .and_then(Json::as_object)
                    .cloned(),
            )
        {
            for key in input.keys().filter(|k| !props.contains_key(k.as_str())) {
                logger.log(format!(
                    "Input {key} of {action_id} is not supported by greenroom and was ignored"
                ));
            }
        }
        let outputs = if ctx.dry_run && !action.supports_dry_run() {
            logger.log(format!(
                "Skipping because {action_id} does not support dry-run"
            ));
            example_outputs(action.as_ref())
        } else {
            let action_ctx = ActionContext {
                input: input.as_object().cloned().unwrap_or_default(),
                workspace: ctx.workspace,
                source: ctx.source,
                services: ctx.services,
                logger: &logger,
                template_ref,
                user_ref,
                task_id: ctx.task_id,
            };
            let mut cancel = ctx.cancel.clone();
            tokio::select! {
                r = action.run(action_ctx) => r.map_err(|e: ActionError| fail(e.name(), e.to_string()))?,
                _ = cancel.wait_for(|c| *c) => return Err(StepFailure::Cancelled),
            }
        };
        if is_each {
            for (k, v) in outputs {
                if let Some(list) = collected
                    .entry(k)
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                {
                    list.push(v);
                }
            }
        } else {
            collected = outputs;
        }
    }
    Ok(Json::Object(collected))
}

/// Renders `spec.output`; `links` and `text` items whose `if` is falsy go.
fn render_output(
    templater: &Templater,
    output: Option<&Json>,
    context: &Json,
) -> Result<Json, String> {
    let Some(Json::Object(output)) = output else {
        return Ok(json!({}));
    };
    let mut out = Map::new();
    for (key, value) in output {
        let value = match (key.as_str(), value) {
            ("links" | "text", Json::Array(items)) => {
                let mut kept = Vec::new();
                for item in items {
                    let mut item = item.clone();
                    if let Some(cond) = item.as_object_mut().and_then(|o| o.remove("if")) {
                        let v = templater
                            .render_value(&cond, context)
                            .map_err(|e| format!("rendering output.{key}[].if failed: {e}"))?;
                        if !is_truthy(v.as_ref()) {
                            continue;
                        }
                    }
                    if let Some(rendered) = templater
                        .render_value(&item, context)
                        .map_err(|e| format!("rendering output.{key} failed: {e}"))?
                    {
                        kept.push(rendered);
                    }
                }
                Some(Json::Array(kept))
            }
            _ => templater
                .render_value(value, context)
                .map_err(|e| format!("rendering output.{key} failed: {e}"))?,
        };
        if let Some(v) = value {
            out.insert(key.clone(), v);
        }
    }
    Ok(Json::Object(out))
}
