//! `greenroom scaffold TEMPLATE.yaml --values values.yaml --output DIR`:
//! runs a template locally, for template authors and CI.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use greenroom_scaffolder::template::TemplateError;
use greenroom_scaffolder::{Integrations, ScaffolderError, ScaffolderSettings, run_local};
use serde_json::{Map, Value};

fn read_yaml(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_saphyr::from_multiple(&text).with_context(|| format!("parsing {}", path.display()))
}

pub async fn run(
    template: &Path,
    values: Option<&Path>,
    secrets: &[String],
    output: &Path,
    config: &[PathBuf],
) -> anyhow::Result<i32> {
    let mut secret_map = Map::new();
    for s in secrets {
        let (k, v) = s.split_once('=').with_context(|| {
            format!(
                "--secret takes KEY=VALUE, got '{}'",
                s.split('=').next().unwrap_or("")
            )
        })?;
        secret_map.insert(k.to_string(), Value::String(v.to_string()));
    }
    let env: HashMap<String, String> = std::env::vars().collect();
    let settings = crate::serve::load_settings(config, &env)?;
    let docs = read_yaml(template)?;
    let entity = docs
        .into_iter()
        .find(|d| d.get("kind").and_then(Value::as_str) == Some("Template"))
        .with_context(|| format!("{} has no document of kind Template", template.display()))?;
    let values = match values {
        Some(p) => read_yaml(p)?.into_iter().next().unwrap_or(Value::Null),
        None => Value::Object(Map::new()),
    };
    let template_path = std::path::absolute(template)?;
    let scaffolder_settings = ScaffolderSettings::from_config(&settings.raw)?;
    let integrations = std::sync::Arc::new(Integrations::from_config(&settings.raw));
    let result = run_local(
        &entity,
        &template_path,
        &values,
        secret_map,
        output,
        &scaffolder_settings,
        integrations,
        |kind, body| {
            let message = body.get("message").and_then(Value::as_str).unwrap_or("");
            let step = body.get("stepId").and_then(Value::as_str);
            match (kind, step) {
                ("log", Some(step)) => eprintln!("[{step}] {message}"),
                _ => eprintln!("{message}"),
            }
        },
    )
    .await;
    let outcome = match result {
        Ok(o) => o,
        Err(ScaffolderError::Template(TemplateError::Validation(errors))) => {
            for e in errors {
                eprintln!(
                    "values: {}",
                    e.get("stack").and_then(Value::as_str).unwrap_or("invalid")
                );
            }
            return Ok(1);
        }
        Err(e) => bail!(e),
    };
    eprintln!("Run completed with status: {}", outcome.status.as_str());
    if let Some((name, message)) = &outcome.error {
        eprintln!("{name}: {message}");
        return Ok(1);
    }
    println!("{}", serde_json::to_string_pretty(&outcome.output)?);
    Ok(if outcome.status.as_str() == "completed" {
        0
    } else {
        1
    })
}
