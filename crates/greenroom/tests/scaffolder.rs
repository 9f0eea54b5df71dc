//! The scaffolder through its HTTP API and the CLI: real templates (Backstage
//! v1beta3 files under tests/data/scaffolder), the event stream as a client
//! reads it, cancellation, restarts, bad input, and publishing to real git
//! repositories served on 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use common::{GIT_TOKEN, GitServer, Server, TOKEN, copy_dir, data_dir, git};
use serde_json::{Value, json};

/// A server whose catalog holds the templates of tests/data/scaffolder.
async fn template_server(extra: &str) -> Server {
    let config = format!(
        "catalog:\n  locations:\n    - type: file\n      target: {{DIR}}/templates/tasks/catalog.yaml\n  rules:\n    - allow: [Template, Component, Location, Group, User, API, System, Domain, Resource]\nscaffolder:\n  taskTimeout: {{ seconds: 2 }}\n  taskTimeoutJanitorFrequency: {{ milliseconds: 300 }}\nbackend:\n  workingDirectory: {{DIR}}/work\n{extra}"
    );
    let server = Server::start_with(
        &config,
        |dir| copy_dir(&data_dir().join("scaffolder"), &dir.join("templates")),
        &[],
    )
    .await;
    server.wait_entity("template/default/every-action").await;
    server.wait_entity("template/default/slow").await;
    server
}

async fn create_task(server: &Server, template: &str, values: Value) -> String {
    let (status, body) = server
        .post(
            "/api/scaffolder/v2/tasks",
            &json!({ "templateRef": template, "values": values }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn wait_status(server: &Server, id: &str, secs: u64, wanted: &[&str]) -> Value {
    server
        .wait_for(secs, &format!("task {id} to reach {wanted:?}"), || async {
            let (_, task) = server.get(&format!("/api/scaffolder/v2/tasks/{id}")).await;
            wanted
                .contains(&task["status"].as_str().unwrap_or(""))
                .then_some(task)
        })
        .await
}

async fn events(server: &Server, id: &str) -> Vec<Value> {
    let (status, events) = server
        .get(&format!("/api/scaffolder/v2/tasks/{id}/events"))
        .await;
    assert_eq!(status, 200);
    events.as_array().unwrap().clone()
}

fn messages(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["body"]["message"].as_str().map(str::to_string))
        .collect()
}

/// Waits until the task has logged `message`.
async fn wait_logged(server: &Server, id: &str, message: &str) {
    server
        .wait_for(15, message, || async {
            messages(&events(server, id).await)
                .iter()
                .any(|m| m == message)
                .then_some(())
        })
        .await
}

/// Every file under `dir`: path → (contents, executable).
fn tree(dir: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
    use std::os::unix::fs::PermissionsExt;
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let exec = e.metadata().unwrap().permissions().mode() & 0o111 != 0;
            (rel, (std::fs::read(e.path()).unwrap(), exec))
        })
        .collect()
}

fn assert_same_tree(
    actual: &BTreeMap<String, (Vec<u8>, bool)>,
    expected: &BTreeMap<String, (Vec<u8>, bool)>,
) {
    let names = |t: &BTreeMap<String, (Vec<u8>, bool)>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(actual), names(expected));
    for (path, (contents, exec)) in expected {
        let (got, got_exec) = &actual[path];
        assert_eq!(
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(contents),
            "contents of {path}"
        );
        assert_eq!(got_exec, exec, "executable bit of {path}");
    }
}

/// The data-driven cases: directories with template.yaml, values.yaml,
/// expected/ and expected-output.json.
fn cases() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(data_dir().join("scaffolder"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expected").is_dir())
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}

fn yaml_file(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn scaffold_cli(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["scaffold"];
    all.extend_from_slice(args);
    common::cli(&all)
}

#[test]
fn the_cli_renders_every_case_to_its_expected_tree() {
    for case in cases() {
        let out = tempfile::tempdir().unwrap();
        let (code, stdout, stderr) = scaffold_cli(&[
            case.join("template.yaml").to_str().unwrap(),
            "--values",
            case.join("values.yaml").to_str().unwrap(),
            "--output",
            out.path().to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{}: {stderr}", case.display());
        assert_same_tree(&tree(out.path()), &tree(&case.join("expected")));
        let output: Value = serde_json::from_str(&stdout).unwrap();
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(case.join("expected-output.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(output, expected, "{}", case.display());
        assert!(
            stderr.contains("Run completed with status: completed"),
            "{stderr}"
        );
    }
}

#[test]
fn the_cli_reports_invalid_values_and_skips_publishing_with_a_notice() {
    let case = data_dir().join("scaffolder/actions");
    let values = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(values.path(), "owner: 5\nname: Not Valid\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let (code, _, stderr) = scaffold_cli(&[
        case.join("template.yaml").to_str().unwrap(),
        "--values",
        values.path().to_str().unwrap(),
        "--output",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("values: instance.owner is not of a type(s) string"),
        "{stderr}"
    );
    assert!(
        stderr.contains("values: instance.name does not match pattern \"^[a-z-]+$\""),
        "{stderr}"
    );

    // Secrets come as --secret KEY=VALUE, checked, and never printed.
    let secrets_template = data_dir().join("scaffolder/tasks/secrets.yaml");
    let (code, _, stderr) = scaffold_cli(&[
        secrets_template.to_str().unwrap(),
        "--output",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("values: instance requires property \"token\""),
        "{stderr}"
    );
    let (code, _, stderr) = scaffold_cli(&[
        secrets_template.to_str().unwrap(),
        "--secret",
        "token=hush-hush-1234",
        "--output",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("[use] token is *** for svc"), "{stderr}");
    assert!(!stderr.contains("hush-hush-1234"));

    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/catalog/templates/service-through-cicd/template.yaml");
    std::fs::write(
        values.path(),
        "name: billing\nowner: group:default/team-payments\nrepoUrl: github.com?owner=acme&repo=billing\n",
    )
    .unwrap();
    let (code, _, stderr) = scaffold_cli(&[
        golden.to_str().unwrap(),
        "--values",
        values.path().to_str().unwrap(),
        "--output",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr
            .contains("[publish-github] Skipping because publish:github does not support dry-run"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[register] Skipping because catalog:register does not support dry-run"),
        "{stderr}"
    );
    for env in ["dev", "test", "staging", "prod"] {
        assert!(
            out.path()
                .join(format!("gitops/argocd/apps/{env}/billing.yaml"))
                .is_file()
        );
        assert!(
            out.path()
                .join(format!("gitops/helm/billing/values/{env}.yaml"))
                .is_file()
        );
    }
}

#[tokio::test]
async fn actions_and_templating_extensions_are_described_like_backstage() {
    let server = template_server("").await;
    let (status, actions) = server.get("/api/scaffolder/v2/actions").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "catalog:fetch",
            "catalog:register",
            "catalog:write",
            "debug:log",
            "debug:wait",
            "fetch:plain",
            "fetch:plain:file",
            "fetch:template",
            "fetch:template:file",
            "fs:delete",
            "fs:readdir",
            "fs:rename",
            "publish:git",
            "publish:github",
            "publish:gitlab",
        ]
    );
    // The shape of a real Backstage response, action by action.
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(data_dir().join("backstage-samples/scaffolder-actions.body.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sample.as_array().unwrap().len(), 12);
    for theirs in sample.as_array().unwrap() {
        let ours = actions
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == theirs["id"])
            .unwrap();
        assert_eq!(
            ours["description"], theirs["description"],
            "{}",
            theirs["id"]
        );
        assert_eq!(
            ours["schema"]["input"]["required"], theirs["schema"]["input"]["required"],
            "{}",
            theirs["id"]
        );
        let keys = |v: &Value| -> Vec<String> {
            let mut k: Vec<String> = v["schema"]["input"]["properties"]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            k.sort();
            k
        };
        if theirs["id"] != "catalog:register" {
            assert_eq!(keys(ours), keys(theirs), "{}", theirs["id"]);
        }
        // greenroom also declares catalog:register's outputs, which
        // Backstage leaves undescribed; dry runs use them as examples.
        if theirs["id"] != "catalog:register" {
            assert_eq!(
                ours["schema"]["output"].is_null(),
                theirs["schema"]["output"].is_null(),
                "{}",
                theirs["id"]
            );
        }
    }
    let readdir = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "fs:readdir")
        .unwrap();
    assert_eq!(readdir["schema"]["input"]["additionalProperties"], false);
    assert_eq!(
        readdir["schema"]["output"]["required"],
        json!(["files", "folders"])
    );

    let (status, ext) = server.get("/api/scaffolder/v2/templating-extensions").await;
    assert_eq!(status, 200);
    for f in ["parseRepoUrl", "parseEntityRef", "pick", "projectSlug"] {
        assert!(ext["filters"][f]["description"].is_string(), "{f}");
    }
    assert!(ext["globals"]["functions"]["failure"].is_object());
}

#[tokio::test]
async fn parameter_schema_is_served_namespace_first() {
    let server = Server::start_default().await;
    server
        .wait_entity("template/default/service-through-cicd")
        .await;
    let (status, schema) = server
        .get("/api/scaffolder/v2/templates/default/template/service-through-cicd/parameter-schema")
        .await;
    assert_eq!(status, 200, "{schema}");
    assert_eq!(schema["title"], "Rust service through CI/CD");
    assert_eq!(schema["steps"][0]["title"], "About the service");
    assert_eq!(
        schema["steps"][0]["schema"]["required"],
        json!(["name", "owner"])
    );
    assert_eq!(
        schema["steps"][1]["schema"]["properties"]["repoUrl"]["ui:field"],
        "RepoUrlPicker"
    );

    let (status, body) = server
        .get("/api/scaffolder/v2/templates/default/template/nope/parameter-schema")
        .await;
    assert_eq!(
        (status, body["error"]["name"].as_str()),
        (404, Some("NotFoundError"))
    );
    let (status, body) = server
        .get("/api/scaffolder/v2/templates/default/component/greenroom/parameter-schema")
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "Invalid kind, only \"Template\" kind is supported"
    );
}

/// Reads the whole event stream as a client does and splits its frames.
async fn read_event_stream(
    server: &Server,
    id: &str,
) -> (reqwest::header::HeaderMap, Vec<(String, Value)>) {
    let response = tokio::time::timeout(
        Duration::from_secs(30),
        server
            .client
            .get(server.url(&format!("/api/scaffolder/v2/tasks/{id}/eventstream")))
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let text = tokio::time::timeout(Duration::from_secs(30), response.text())
        .await
        .unwrap()
        .unwrap();
    assert!(text.ends_with("\n\n"), "{text}");
    let frames = text
        .trim_end_matches("\n\n")
        .split("\n\n")
        .map(|frame| {
            let lines: Vec<&str> = frame.split('\n').collect();
            assert_eq!(
                lines.len(),
                2,
                "a frame is an event line and a data line: {frame:?}"
            );
            let kind = lines[0]
                .strip_prefix("event: ")
                .expect("event line")
                .to_string();
            let data: Value =
                serde_json::from_str(lines[1].strip_prefix("data: ").expect("data line")).unwrap();
            (kind, data)
        })
        .collect();
    (headers, frames)
}

#[tokio::test]
async fn a_task_runs_through_the_api_and_streams_its_events() {
    let server = template_server("").await;
    let case = data_dir().join("scaffolder/actions");
    let values = yaml_file(&case.join("values.yaml"));
    let id = create_task(&server, "template:default/every-action", values).await;
    let (headers, frames) = read_event_stream(&server, &id).await;
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");

    let (kind, first) = &frames[0];
    assert_eq!(kind, "log");
    assert_eq!(first["body"]["message"], "Starting up task with 13 steps");
    assert_eq!(first["taskId"], id.as_str());
    let ids: Vec<i64> = frames
        .iter()
        .map(|(_, e)| e["id"].as_i64().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "event ids increase: {ids:?}"
    );
    let step_statuses: Vec<(String, String)> = frames
        .iter()
        .filter_map(|(_, e)| {
            Some((
                e["body"]["stepId"].as_str()?.to_string(),
                e["body"]["status"].as_str()?.to_string(),
            ))
        })
        .collect();
    assert!(step_statuses.contains(&("skeleton".into(), "processing".into())));
    assert!(step_statuses.contains(&("skeleton".into(), "completed".into())));
    assert!(step_statuses.contains(&("never".into(), "skipped".into())));
    assert!(
        frames
            .iter()
            .any(|(_, e)| e["body"]["message"] == "item 1=b" && e["body"]["stepId"] == "per-item")
    );

    let (kind, last) = frames.last().unwrap();
    assert_eq!(kind, "completion");
    assert_eq!(
        last["body"]["message"],
        "Run completed with status: completed"
    );
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("expected-output.json")).unwrap())
            .unwrap();
    assert_eq!(last["body"]["output"], expected);

    let (_, task) = server.get(&format!("/api/scaffolder/v2/tasks/{id}")).await;
    assert_eq!(task["status"], "completed");
    assert_eq!(task["createdBy"], "user:default/guest");
    assert_eq!(
        task["spec"]["templateInfo"]["entityRef"],
        "template:default/every-action"
    );
    assert_eq!(task["spec"]["steps"][1]["name"], "fetch:template:file");
    assert!(task["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(
        !server.dir.path().join("work").join(&id).exists(),
        "the workspace is removed"
    );

    // Replay from an event id: later events, and always the completion.
    let after = frames[frames.len() - 3].1["id"].as_i64().unwrap();
    let (_, replay) = server
        .get(&format!(
            "/api/scaffolder/v2/tasks/{id}/events?after={after}"
        ))
        .await;
    assert_eq!(replay.as_array().unwrap().len(), 2);
    let last_id = last["id"].as_i64().unwrap();
    let (_, tail) = server
        .get(&format!(
            "/api/scaffolder/v2/tasks/{id}/events?after={last_id}"
        ))
        .await;
    assert_eq!(
        tail.as_array().unwrap().len(),
        1,
        "the completion event is always included"
    );

    let (_, list) = server
        .get("/api/scaffolder/v2/tasks?status=completed&createdBy=user:default/guest")
        .await;
    assert_eq!(list["totalTasks"], 1);
    assert_eq!(list["tasks"][0]["id"], id.as_str());
    let (_, none) = server.get("/api/scaffolder/v2/tasks?status=failed").await;
    assert_eq!(none["totalTasks"], 0);
    let (status, _) = server
        .get("/api/scaffolder/v2/tasks/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn invalid_values_and_secrets_are_refused_with_jsonschema_errors() {
    let server = template_server("").await;
    let (status, body) = server
        .post(
            "/api/scaffolder/v2/tasks",
            &json!({ "templateRef": "template:default/every-action", "values": { "name": "Bad Name", "replicas": "two" } }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["name"], "InputError");
    let stacks: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stack"].as_str().unwrap())
        .collect();
    assert!(
        stacks.contains(&"instance requires property \"owner\""),
        "{stacks:?}"
    );
    assert!(
        stacks.contains(&"instance.name does not match pattern \"^[a-z-]+$\""),
        "{stacks:?}"
    );
    assert!(
        stacks.contains(&"instance.replicas is not of a type(s) integer"),
        "{stacks:?}"
    );

    let (status, body) = server
        .post("/api/scaffolder/v2/tasks", &json!({ "templateRef": "template:default/secrets", "values": {}, "secrets": { "token": "short" } }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["stack"],
        "instance.token does not meet minimum length of 8"
    );

    let (status, body) = server
        .post(
            "/api/scaffolder/v2/tasks",
            &json!({ "templateRef": "template:default/missing", "values": {} }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["name"].as_str()),
        (404, Some("NotFoundError"))
    );
    let (status, body) = server
        .post("/api/scaffolder/v2/tasks", &json!({ "values": {} }))
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (
            400,
            Some("request/body must have required property 'templateRef'")
        )
    );
    let (status, body) = server
        .post("/api/scaffolder/v2/tasks", &json!({ "templateRef": 5 }))
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("request/body/templateRef must be string"))
    );
}

#[tokio::test]
async fn secrets_never_reach_the_log_or_the_task() {
    let server = template_server("").await;
    let secret = "s3cr3t-value-0042";
    let (status, body) = server
        .post(
            "/api/scaffolder/v2/tasks",
            &json!({ "templateRef": "template:default/secrets", "values": {}, "secrets": { "token": secret } }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap();
    wait_status(&server, id, 15, &["completed"]).await;
    let all = serde_json::to_string(&events(&server, id).await).unwrap();
    assert!(all.contains("token is *** for svc"), "{all}");
    assert!(!all.contains(secret));
    let (_, task) = server.get(&format!("/api/scaffolder/v2/tasks/{id}")).await;
    assert!(!task.to_string().contains(secret));
    assert!(!server.log().contains(secret));

    // A retry takes new secrets, checked against the template's schema.
    let (status, body) = server
        .post(
            &format!("/api/scaffolder/v2/tasks/{id}/retry"),
            &json!({ "secrets": { "token": "short" } }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["stack"],
        "instance.token does not meet minimum length of 8"
    );
    let (status, _) = server
        .post(
            &format!("/api/scaffolder/v2/tasks/{id}/retry"),
            &json!({ "secrets": { "token": "another-secret-1" } }),
        )
        .await;
    assert_eq!(status, 201);
    wait_status(&server, id, 15, &["completed"]).await;
    let all = serde_json::to_string(&events(&server, id).await).unwrap();
    assert!(!all.contains("another-secret-1"));
    assert_eq!(all.matches("token is *** for svc").count(), 2, "{all}");
}

#[tokio::test]
async fn a_failing_step_fails_the_task_and_runs_only_failure_steps() {
    let server = template_server("").await;
    let id = create_task(&server, "template:default/failing", json!({})).await;
    let task = wait_status(&server, &id, 15, &["failed"]).await;
    assert_eq!(task["status"], "failed");
    let evs = events(&server, &id).await;
    let msgs = messages(&evs);
    assert!(
        msgs.contains(&"files.from: 'missing.txt' does not exist in the workspace".to_string()),
        "{msgs:?}"
    );
    assert!(msgs.contains(&"cleaning up after a failure".to_string()));
    assert!(msgs.contains(&"always runs".to_string()));
    assert!(!msgs.contains(&"should not run".to_string()));
    let completion = evs.iter().find(|e| e["type"] == "completion").unwrap();
    assert_eq!(
        completion["body"]["message"],
        "Run completed with status: failed"
    );
    assert_eq!(completion["body"]["error"]["name"], "NotFoundError");
    let broken = evs
        .iter()
        .find(|e| e["body"]["stepId"] == "broken" && e["body"]["status"] == "failed")
        .unwrap();
    assert_eq!(
        broken["body"]["message"],
        "files.from: 'missing.txt' does not exist in the workspace"
    );
}

#[tokio::test]
async fn bad_input_is_an_error_that_names_it() {
    let server = template_server("").await;
    let cases = [
        (
            "template:default/escape",
            "targetPath: '../../outside' refers to a location outside the workspace",
        ),
        (
            "template:default/unknown-action",
            "Template action with ID 'nope:nothing' is not registered.",
        ),
        (
            "template:default/bad-input",
            "Invalid input passed to action fs:delete, instance.files is not of a type(s) array",
        ),
    ];
    for (template, expected) in cases {
        let id = create_task(&server, template, json!({})).await;
        wait_status(&server, &id, 15, &["failed"]).await;
        let evs = events(&server, &id).await;
        let completion = evs.iter().find(|e| e["type"] == "completion").unwrap();
        assert_eq!(
            completion["body"]["error"]["message"], expected,
            "{template}"
        );
        assert!(messages(&evs).contains(&expected.to_string()), "{template}");
    }
    assert!(!server.dir.path().join("outside").exists());
    assert!(!server.dir.path().join("work/outside").exists());
    // The unknown action failed the task before its first step ran.
    let (_, list) = server
        .get("/api/scaffolder/v2/tasks?order=asc:created_at")
        .await;
    let unknown = list["tasks"][1]["id"].as_str().unwrap();
    assert!(!messages(&events(&server, unknown).await).contains(&"never".to_string()));
}

#[tokio::test]
async fn cancel_stops_a_running_task_and_retry_runs_it_again() {
    let server = template_server("").await;
    let id = create_task(&server, "template:default/slow", json!({})).await;
    wait_logged(&server, &id, "waiting").await;
    let (status, _) = server
        .post(&format!("/api/scaffolder/v2/tasks/{id}/retry"), &json!({}))
        .await;
    assert_eq!(status, 409, "a running task cannot be retried");
    let (status, body) = server
        .post(&format!("/api/scaffolder/v2/tasks/{id}/cancel"), &json!({}))
        .await;
    assert_eq!((status, body), (200, json!({ "status": "cancelled" })));
    wait_status(&server, &id, 10, &["cancelled"]).await;
    let evs = server
        .wait_for(10, "the completion event", || async {
            let evs = events(&server, &id).await;
            evs.iter().any(|e| e["type"] == "completion").then_some(evs)
        })
        .await;
    assert!(evs.iter().any(|e| e["type"] == "cancelled"));
    assert!(
        evs.iter()
            .any(|e| e["body"]["stepId"] == "wait" && e["body"]["status"] == "cancelled")
    );
    let completion = evs.iter().find(|e| e["type"] == "completion").unwrap();
    assert_eq!(
        completion["body"]["message"],
        "Run completed with status: cancelled"
    );
    assert!(!messages(&evs).contains(&"after the wait".to_string()));

    let (status, body) = server
        .post(&format!("/api/scaffolder/v2/tasks/{id}/retry"), &json!({}))
        .await;
    assert_eq!((status, body["id"].as_str()), (201, Some(id.as_str())));
    wait_status(&server, &id, 10, &["processing"]).await;
    let (status, _) = server
        .post(&format!("/api/scaffolder/v2/tasks/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200);
    wait_status(&server, &id, 10, &["cancelled"]).await;
    let (status, _) = server
        .post(
            "/api/scaffolder/v2/tasks/00000000-0000-0000-0000-000000000000/cancel",
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_restart_fails_interrupted_tasks_and_starts_over_recoverable_ones() {
    let mut server = template_server("").await;
    let slow = create_task(&server, "template:default/slow", json!({})).await;
    let recover = create_task(&server, "template:default/recover", json!({})).await;
    wait_logged(&server, &slow, "waiting").await;
    wait_logged(&server, &recover, "waiting").await;
    server.kill_and_restart().await;

    let failed = wait_status(&server, &slow, 20, &["failed", "completed"]).await;
    assert_eq!(failed["status"], "failed");
    let evs = events(&server, &slow).await;
    let completion = evs.iter().find(|e| e["type"] == "completion").unwrap();
    assert_eq!(completion["body"]["error"]["name"], "TaskInterruptedError");
    assert!(
        completion["body"]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("The task was interrupted"),
        "{completion}"
    );

    let done = wait_status(&server, &recover, 30, &["completed", "failed"]).await;
    assert_eq!(done["status"], "completed");
    let evs = events(&server, &recover).await;
    assert!(evs.iter().any(|e| e["type"] == "recovered"));
    assert!(messages(&evs).contains(&"finished after recovery".to_string()));
}

#[tokio::test]
async fn task_creation_is_a_guarded_write() {
    let server = template_server(&format!(
        "  auth:\n    externalAccess:\n      - type: static\n        options: {{ token: {TOKEN}, subject: user:default/ci-bot }}\n"
    ))
    .await;
    let body = json!({ "templateRef": "template:default/secrets", "values": {}, "secrets": { "token": "long-enough" } });
    let (status, err) = server
        .send(
            reqwest::Method::POST,
            "/api/scaffolder/v2/tasks",
            Some(&body),
            None,
        )
        .await;
    assert_eq!(
        (status, err["error"]["name"].as_str()),
        (401, Some("AuthenticationError"))
    );
    let (status, created) = server
        .send(
            reqwest::Method::POST,
            "/api/scaffolder/v2/tasks",
            Some(&body),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let task = wait_status(&server, id, 15, &["completed"]).await;
    assert_eq!(task["createdBy"], "user:default/ci-bot");
    let (status, _) = server.get("/api/scaffolder/v2/actions").await;
    assert_eq!(status, 200, "reads stay open");
}

/// The files of a template directory as a dry run sends them.
fn directory_contents(dir: &Path) -> Vec<Value> {
    tree(dir)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("expected"))
        .map(|(path, (bytes, exec))| {
            json!({ "path": path, "executable": exec, "base64Content": base64::engine::general_purpose::STANDARD.encode(bytes) })
        })
        .collect()
}

#[tokio::test]
async fn dry_run_returns_the_rendered_files_and_skips_side_effects() {
    let server = template_server("").await;
    for case in cases() {
        let template = yaml_file(&case.join("template.yaml"));
        let values = yaml_file(&case.join("values.yaml"));
        let (status, result) = server
            .post(
                "/api/scaffolder/v2/dry-run",
                &json!({ "template": template, "values": values, "directoryContents": directory_contents(&case) }),
            )
            .await;
        assert_eq!(status, 200, "{result}");
        let actual: BTreeMap<String, (Vec<u8>, bool)> = result["directoryContents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(f["base64Content"].as_str().unwrap())
                    .unwrap();
                (
                    f["path"].as_str().unwrap().to_string(),
                    (bytes, f["executable"].as_bool().unwrap()),
                )
            })
            .collect();
        assert_same_tree(&actual, &tree(&case.join("expected")));
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(case.join("expected-output.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(result["output"], expected);
        assert!(result["log"][0]["body"]["message"].is_string());
        assert_eq!(result["steps"][0]["id"], template["spec"]["steps"][0]["id"]);
        assert_eq!(result["status"], "completed");
    }

    // The golden path with its publish and register steps skipped.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/catalog/templates/service-through-cicd");
    let template = yaml_file(&dir.join("template.yaml"));
    let values = json!({ "name": "billing", "owner": "group:default/team-payments", "repoUrl": "github.com?owner=acme&repo=billing", "environments": ["prod"] });
    let (status, result) = server
        .post("/api/scaffolder/v2/dry-run", &json!({ "template": template, "values": values, "directoryContents": directory_contents(&dir) }))
        .await;
    assert_eq!(status, 200, "{result}");
    let paths: Vec<&str> = result["directoryContents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"gitops/argocd/apps/prod/billing.yaml"),
        "{paths:?}"
    );
    assert!(!paths.contains(&"gitops/argocd/apps/dev/billing.yaml"));
    assert_eq!(
        result["output"]["links"][1]["entityRef"], "component:default/my-service",
        "example output of a skipped step"
    );

    let (status, body) = server
        .post(
            "/api/scaffolder/v2/dry-run",
            &json!({ "template": template, "values": {}, "directoryContents": [] }),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["errors"].as_array().unwrap().len() >= 2);
    let (status, body) = server
        .post("/api/scaffolder/v2/dry-run", &json!({ "template": template, "values": values, "directoryContents": [{"path": "../x", "base64Content": ""}] }))
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn the_golden_path_publishes_a_repository_that_builds_and_registers_it() {
    let git_host = GitServer::start().await;
    let bare = git_host.create_bare("acme", "orders-api");
    let host = format!("127.0.0.1:{}", git_host.port);
    let config = format!(
        "integrations:\n  git:\n    - host: '{host}'\n      protocol: http\nbackend:\n  reading:\n    allow:\n      - host: '{host}'\n  workingDirectory: {{DIR}}/work\nscaffolder:\n  defaultAuthor: {{ name: Platform Bot, email: bot@acme.test }}\n"
    );
    let server = Server::start(&config).await;
    server
        .wait_entity("template/default/service-through-cicd")
        .await;
    let values = json!({
        "name": "orders-api",
        "description": "Takes orders",
        "owner": "group:default/team-payments",
        "repoUrl": format!("{host}?owner=acme&repo=orders-api"),
        "environments": ["dev", "staging"],
    });
    let id = create_task(&server, "template:default/service-through-cicd", values).await;
    let task = wait_status(&server, &id, 60, &["completed", "failed"]).await;
    let evs = events(&server, &id).await;
    assert_eq!(task["status"], "completed", "{:?}", messages(&evs));
    let completion = evs.iter().find(|e| e["type"] == "completion").unwrap();
    let remote = format!("http://{host}/acme/orders-api.git");
    assert_eq!(
        completion["body"]["output"]["links"][0]["url"],
        remote.as_str()
    );
    assert_eq!(
        completion["body"]["output"]["links"][1]["entityRef"],
        "component:default/orders-api"
    );

    let component = server.wait_entity("component/default/orders-api").await;
    assert_eq!(component["spec"]["owner"], "group:default/team-payments");
    assert_eq!(component["metadata"]["description"], "Takes orders");

    let clone = tempfile::tempdir().unwrap();
    git(&["clone", "-q", &remote, "svc"], clone.path());
    let repo = clone.path().join("svc");
    assert_eq!(
        git(&["log", "--format=%an <%ae>|%s"], &repo).trim(),
        "Platform Bot <bot@acme.test>|Create orders-api from the golden path"
    );
    assert_eq!(
        git(&["rev-parse", "--abbrev-ref", "HEAD"], &repo).trim(),
        "main"
    );
    for f in [
        "gitops/argocd/apps/dev/orders-api.yaml",
        "gitops/argocd/apps/staging/orders-api.yaml",
        "gitops/helm/orders-api/values/staging.yaml",
        ".github/workflows/ci.yml",
        "Dockerfile",
        "mkdocs.yml",
        "docs/index.md",
    ] {
        assert!(repo.join(f).is_file(), "{f}");
    }
    assert!(!repo.join("gitops/argocd/apps/prod").exists());
    assert!(
        bare.join("refs/heads/main").exists()
            || git(&["ls-remote", &remote], clone.path()).contains("refs/heads/main")
    );

    let validate = Command::new(env!("CARGO_BIN_EXE_greenroom"))
        .args(["catalog", "validate"])
        .arg(repo.join("catalog-info.yaml"))
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "{}",
        String::from_utf8_lossy(&validate.stdout)
    );
    let build = Command::new("cargo")
        .args(["test", "--offline", "--locked", "--quiet"])
        .current_dir(&repo)
        .env("CARGO_TARGET_DIR", clone.path().join("target"))
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "the generated service builds and its tests pass: {}",
        String::from_utf8_lossy(&build.stderr)
    );
}

#[tokio::test]
async fn publish_actions_create_repositories_through_the_host_api_and_push() {
    let git_host = GitServer::start().await;
    let port = git_host.port;
    let bare_dir = tempfile::tempdir().unwrap();
    let bare = bare_dir.path().join("plain.git");
    git(
        &["init", "--bare", "-q", "-b", "main", bare.to_str().unwrap()],
        bare_dir.path(),
    );
    let config = format!(
        "integrations:\n  github:\n    - host: '127.0.0.1:{port}'\n      apiBaseUrl: http://127.0.0.1:{port}/api/v3\n      token: {GIT_TOKEN}\n  gitlab:\n    - host: 'localhost:{port}'\n      apiBaseUrl: http://127.0.0.1:{port}/api/v4\n      token: {GIT_TOKEN}\n"
    );
    let server = template_server(&config).await;
    server.wait_entity("template/default/publish").await;
    let values = json!({
        "github": format!("127.0.0.1:{port}?owner=acme&repo=svc"),
        "gitlab": format!("localhost:{port}?owner=platform&repo=svc"),
        "bare": format!("file://{}", bare.display()),
    });
    let id = create_task(&server, "template:default/publish", values).await;
    let task = wait_status(&server, &id, 60, &["completed", "failed"]).await;
    let evs = events(&server, &id).await;
    assert_eq!(task["status"], "completed", "{:?}", messages(&evs));
    let output = &evs.iter().find(|e| e["type"] == "completion").unwrap()["body"]["output"];

    assert_eq!(
        output["github"]["remoteUrl"],
        format!("http://127.0.0.1:{port}/acme/svc.git")
    );
    assert_eq!(
        output["github"]["repoContentsUrl"],
        format!("http://127.0.0.1:{port}/acme/svc/blob/main")
    );
    assert_eq!(
        output["gitlab"]["remoteUrl"],
        format!("http://127.0.0.1:{port}/group-7/svc")
    );
    assert_eq!(output["gitlab"]["projectId"], 42);
    assert_eq!(output["gitlab"]["created"], true);
    assert_eq!(
        output["bare"]["remoteUrl"],
        format!("file://{}", bare.display())
    );

    let calls = git_host.api_calls();
    let create = calls
        .iter()
        .find(|c| c["method"] == "POST" && c["path"] == "/api/v3/orgs/acme/repos")
        .unwrap();
    assert_eq!(create["body"]["private"], true);
    assert_eq!(create["body"]["description"], "Published by a test");
    assert!(calls.iter().any(|c| c["method"] == "PUT"
        && c["path"] == "/api/v3/repos/acme/svc/topics"
        && c["body"]["names"] == json!(["rust", "test"])));
    assert!(
        calls.iter().any(|c| c["method"] == "PUT"
            && c["path"] == "/api/v3/repos/acme/svc/branches/main/protection")
    );
    let project = calls
        .iter()
        .find(|c| c["method"] == "POST" && c["path"] == "/api/v4/projects")
        .unwrap();
    assert_eq!(project["body"]["visibility"], "internal");
    assert_eq!(project["body"]["namespace_id"], 7);
    assert!(messages(&evs).iter().any(|m| m
        == "Input collaborators of publish:github is not supported by greenroom and was ignored"));

    for (repo, commit) in [
        (
            git_host.root.path().join("acme/svc.git"),
            &output["github"]["commitHash"],
        ),
        (
            git_host.root.path().join("group-7/svc.git"),
            &output["gitlab"]["commitHash"],
        ),
        (bare.clone(), &output["bare"]["commitHash"]),
    ] {
        let head = git(
            &[
                "--git-dir",
                repo.to_str().unwrap(),
                "rev-parse",
                "refs/heads/main",
            ],
            bare_dir.path(),
        );
        assert_eq!(head.trim(), commit.as_str().unwrap(), "{}", repo.display());
        let content = git(
            &[
                "--git-dir",
                repo.to_str().unwrap(),
                "show",
                "main:hello.txt",
            ],
            bare_dir.path(),
        );
        assert_eq!(content, "hello from published\n");
    }
    let author = git(
        &[
            "--git-dir",
            bare.to_str().unwrap(),
            "log",
            "--format=%an <%ae>",
            "main",
        ],
        bare_dir.path(),
    );
    assert_eq!(author.trim(), "Test Author <author@test.invalid>");
    assert!(!serde_json::to_string(&evs).unwrap().contains(GIT_TOKEN));
}

#[tokio::test]
async fn catalog_fetch_reads_entities_and_fails_on_missing_ones_unless_optional() {
    let server = template_server("").await;
    server.wait_entity("template/default/fetch").await;
    let id = create_task(&server, "template:default/fetch", json!({})).await;
    wait_status(&server, &id, 15, &["completed"]).await;
    let evs = events(&server, &id).await;
    let completion = evs.iter().find(|e| e["type"] == "completion").unwrap();
    assert_eq!(
        completion["body"]["output"],
        json!({ "name": "slow", "many": 2, "first": "failing" }),
        "a missing optional entity is null, and a null output is dropped"
    );
    let id = create_task(&server, "template:default/fetch", json!({ "strict": true })).await;
    wait_status(&server, &id, 15, &["failed"]).await;
    let evs = events(&server, &id).await;
    let completion = evs.iter().find(|e| e["type"] == "completion").unwrap();
    assert_eq!(
        completion["body"]["error"],
        json!({ "name": "NotFoundError", "message": "Entity template:default/nope not found" })
    );
}

#[tokio::test]
async fn publish_git_authenticates_with_the_integration_token() {
    let git_host = GitServer::start().await;
    let host = format!("127.0.0.1:{}", git_host.port);
    let repo = git_host.create_bare("private", "svc");
    let template = json!({
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": { "name": "push" },
        "spec": { "type": "test", "steps": [
            { "id": "write", "action": "catalog:write", "input": { "entity": { "kind": "Component", "metadata": { "name": "svc" } } } },
            { "id": "push", "action": "publish:git", "input": { "repoUrl": format!("{host}?owner=private&repo=svc") } }
        ] }
    });
    // A dry run skips publishing, so push through a task of a template
    // registered from a file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("push.yaml"),
        serde_json::to_string(&template).unwrap(),
    )
    .unwrap();
    for (token, expect) in [(None, "failed"), (Some(GIT_TOKEN), "completed")] {
        let token_line = token
            .map(|t| format!("      token: {t}\n"))
            .unwrap_or_default();
        let config = format!(
            "integrations:\n  git:\n    - host: '{host}'\n      protocol: http\n      username: deploy\n{token_line}catalog:\n  locations:\n    - {{ type: file, target: {} }}\n  rules: [{{ allow: [Template] }}]\n",
            dir.path().join("push.yaml").display()
        );
        let server = Server::start(&config).await;
        server.wait_entity("template/default/push").await;
        let id = create_task(&server, "template:default/push", json!({})).await;
        let task = wait_status(&server, &id, 30, &["completed", "failed"]).await;
        let evs = events(&server, &id).await;
        assert_eq!(task["status"], expect, "{:?}", messages(&evs));
        if token.is_none() {
            let completion = evs.iter().find(|e| e["type"] == "completion").unwrap();
            let message = completion["body"]["error"]["message"].as_str().unwrap();
            assert!(
                message.starts_with(&format!("git push to http://{host}/private/svc.git")),
                "{message}"
            );
        } else {
            let log = git(
                &[
                    "--git-dir",
                    repo.to_str().unwrap(),
                    "show",
                    "main:catalog-info.yaml",
                ],
                dir.path(),
            );
            assert!(
                log.contains("backstage.io/source-template: template:default/push"),
                "{log}"
            );
            assert!(!serde_json::to_string(&evs).unwrap().contains(GIT_TOKEN));
        }
    }
}

#[tokio::test]
async fn templates_in_git_read_their_own_folder_of_the_repository() {
    let git_host = GitServer::start().await;
    let host = format!("127.0.0.1:{}", git_host.port);
    git_host.create_bare("acme", "templates");
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("templates");
    let hello = repo.join("templates/hello");
    std::fs::create_dir_all(hello.join("skeleton")).unwrap();
    std::fs::create_dir_all(repo.join("templates/sneaky")).unwrap();
    std::fs::write(repo.join("secret.txt"), "TOP SECRET\n").unwrap();
    std::fs::write(
        hello.join("skeleton/greeting.txt"),
        "hello ${{ values.name }}\n",
    )
    .unwrap();
    std::fs::write(
        hello.join("skeleton/run.sh"),
        "#!/bin/sh\necho ${{ values.name }}\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(hello.join("skeleton/run.sh"))
        .status()
        .unwrap();
    std::fs::write(
        hello.join("template.yaml"),
        "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: { name: hello }\nspec:\n  type: test\n  steps:\n    - { id: fetch, action: fetch:template, input: { url: ./skeleton, values: { name: git } } }\n    - { id: list, action: fs:readdir, input: { paths: ['.'] } }\n    - { id: show, action: debug:log, input: { listWorkspace: with-contents } }\n  output:\n    files: \"${{ steps.list.output.files | map(attribute='name') | join(',') }}\"\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("templates/sneaky/template.yaml"),
        "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: { name: sneaky }\nspec:\n  type: test\n  steps:\n    - { id: steal, action: fetch:plain:file, input: { url: ../../secret.txt, targetPath: stolen.txt } }\n",
    )
    .unwrap();
    git(&["init", "-q", "-b", "main"], &repo);
    git(&["add", "-A"], &repo);
    git(
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "templates",
        ],
        &repo,
    );
    git(
        &[
            "push",
            "-q",
            &format!("http://{host}/acme/templates.git"),
            "main",
        ],
        &repo,
    );

    let remote = format!("git+http://{host}/acme/templates.git#main:");
    let config = format!(
        "catalog:\n  locations:\n    - {{ type: url, target: '{remote}/templates/hello/template.yaml' }}\n    - {{ type: url, target: '{remote}/templates/sneaky/template.yaml' }}\n  rules: [{{ allow: [Template] }}]\nbackend:\n  reading:\n    allow: [{{ host: '{host}' }}]\n  workingDirectory: '{{DIR}}/work'\n"
    );
    let server = Server::start(&config).await;
    server.wait_entity("template/default/hello").await;
    server.wait_entity("template/default/sneaky").await;

    let id = create_task(&server, "template:default/hello", json!({})).await;
    let task = wait_status(&server, &id, 30, &["completed", "failed"]).await;
    let evs = events(&server, &id).await;
    assert_eq!(task["status"], "completed", "{:?}", messages(&evs));
    let completion = evs.iter().find(|e| e["type"] == "completion").unwrap();
    assert_eq!(completion["body"]["output"]["files"], "greeting.txt,run.sh");
    assert!(
        messages(&evs)
            .iter()
            .any(|m| m.contains("greeting.txt:\nhello git")),
        "{:?}",
        messages(&evs)
    );

    let id = create_task(&server, "template:default/sneaky", json!({})).await;
    wait_status(&server, &id, 30, &["failed"]).await;
    let evs = events(&server, &id).await;
    let completion = evs.iter().find(|e| e["type"] == "completion").unwrap();
    assert_eq!(
        completion["body"]["error"]["message"],
        "url: '../../secret.txt' refers to a location outside the template's directory"
    );
    assert!(!serde_json::to_string(&evs).unwrap().contains("TOP SECRET"));
    // Checkouts go when their task ends.
    let leftovers: Vec<_> = std::fs::read_dir(server.dir.path().join("work"))
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
