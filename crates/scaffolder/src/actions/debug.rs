//! `debug:log` and `debug:wait`.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value as Json, json};

use super::{Action, ActionContext, ActionError, Outputs, blocking};

pub struct Log;

impl Action for Log {
    fn id(&self) -> &'static str {
        "debug:log"
    }
    fn description(&self) -> &'static str {
        "Writes a message into the log and/or lists all files in the workspace."
    }
    fn input_schema(&self) -> Json {
        json!({
            "type": "object",
            "properties": {
                "message": { "type": "string", "title": "Message to output." },
                "listWorkspace": { "title": "List all files in the workspace, if true.",
                    "oneOf": [ {"type": "boolean"}, {"type": "string", "enum": ["with-filenames", "with-contents"]} ] }
            }
        })
    }
    fn examples(&self) -> Json {
        json!([{ "description": "Write a debug message", "example": "steps:\n  - action: debug:log\n    id: write-debug-line\n    name: Write \"Hello Backstage!\" log line\n    input:\n      message: Hello Backstage!\n" }])
    }
    fn supports_dry_run(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            if let Some(m) = ctx.str("message") {
                ctx.logger.log(m);
            }
            let list = match ctx.input.get("listWorkspace") {
                Some(Json::Bool(true)) => Some(false),
                Some(Json::String(s)) if s == "with-filenames" => Some(false),
                Some(Json::String(s)) if s == "with-contents" => Some(true),
                _ => None,
            };
            if let Some(with_contents) = list {
                let ws = ctx.workspace.clone();
                let files = blocking(move || Ok(ws.read_all()?)).await?;
                let lines: Vec<String> = files
                    .iter()
                    .map(|f| {
                        if with_contents {
                            format!("{}:\n{}", f.path, String::from_utf8_lossy(&f.contents))
                        } else {
                            f.path.clone()
                        }
                    })
                    .collect();
                ctx.logger.log(format!("Workspace:\n{}", lines.join("\n")));
            }
            Ok(Outputs::new())
        })
    }
}

pub struct Wait;

const MAX_WAIT: Duration = Duration::from_secs(600);

impl Action for Wait {
    fn id(&self) -> &'static str {
        "debug:wait"
    }
    fn description(&self) -> &'static str {
        "Waits for a certain period of time."
    }
    fn input_schema(&self) -> Json {
        json!({
            "type": "object",
            "properties": {
                "minutes": { "type": "number", "title": "Waiting period in minutes." },
                "seconds": { "type": "number", "title": "Waiting period in seconds." },
                "milliseconds": { "type": "number", "title": "Waiting period in milliseconds." }
            }
        })
    }
    fn supports_dry_run(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let n = |k: &str| {
                ctx.input
                    .get(k)
                    .and_then(Json::as_f64)
                    .unwrap_or(0.0)
                    .max(0.0)
            };
            let ms = n("minutes") * 60_000.0 + n("seconds") * 1000.0 + n("milliseconds");
            let wait = Duration::from_millis(ms as u64);
            if wait > MAX_WAIT {
                return Err(ActionError::Input(format!(
                    "Waiting duration is longer than the maximum threshold of {} minutes",
                    MAX_WAIT.as_secs() / 60
                )));
            }
            ctx.logger
                .log(format!("Waiting for {} ms", wait.as_millis()));
            tokio::time::sleep(wait).await;
            Ok(Outputs::new())
        })
    }
}
