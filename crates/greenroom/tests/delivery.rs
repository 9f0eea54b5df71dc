//! `greenroom verify` against recorded Argo CD and Kubernetes responses
//! (tests/data/verify) served on 127.0.0.1, with Kong's routes checked on
//! the real portal; and `greenroom promote` on copies of the gitops files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, data_dir, free_port};
use serde_json::Value;

const ARGO_TOKEN: &str = "argo-session-token";
const KUBE_TOKEN: &str = "kube-sa-token";
const TAG: &str = "4f2c1e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e";

/// Answers the few GET paths verify reads, from fixture files, checking the
/// bearer token of each API like the real servers do.
async fn stub_api(application: Vec<u8>, pods: Vec<u8>) -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (application, pods) = (application.clone(), pods.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let target = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let auth = request
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("authorization: ")
                            .or_else(|| l.strip_prefix("Authorization: "))
                    })
                    .unwrap_or("")
                    .trim()
                    .to_string();
                let (status, body): (&str, Vec<u8>) = match target.as_str() {
                    "/api/v1/applications/backstage-dev" if auth == format!("Bearer {ARGO_TOKEN}") => ("200 OK", application),
                    "/api/v1/applications/backstage-dev" => ("401 Unauthorized", br#"{"error":"invalid session","code":16,"message":"invalid session: token is invalid"}"#.to_vec()),
                    "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/backstage-dev" if auth == format!("Bearer {KUBE_TOKEN}") => ("200 OK", application),
                    "/api/v1/namespaces/backstage-dev/pods?labelSelector=app.kubernetes.io/name%3Dbackstage" if auth == format!("Bearer {KUBE_TOKEN}") => ("200 OK", pods),
                    _ => ("404 Not Found", br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"not found","reason":"NotFound","code":404}"#.to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    (port, handle)
}

fn greenroom(args: &[&str], dir: Option<&Path>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_greenroom"));
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    for var in [
        "KUBECONFIG",
        "ARGOCD_AUTH_TOKEN",
        "ARGOCD_SERVER_URL",
        "KUBE_TOKEN",
        "KONG_PROXY_URL",
    ] {
        cmd.env_remove(var);
    }
    common::output(&mut cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_each_state_of_the_chain() {
    let portal = Server::start_default().await;
    let dir = data_dir().join("verify");
    let scenarios: Vec<Value> =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("scenarios.yaml")).unwrap())
            .unwrap();
    assert!(scenarios.len() >= 9);
    for s in &scenarios {
        let name = s["name"].as_str().unwrap();
        let app = std::fs::read(dir.join(s["application"].as_str().unwrap())).unwrap();
        let pods = std::fs::read(dir.join(s["pods"].as_str().unwrap())).unwrap();
        let (port, handle) = stub_api(app, pods).await;
        let api = format!("http://127.0.0.1:{port}");
        let kubeconfig = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            kubeconfig.path(),
            format!("apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: c\n  cluster:\n    server: {api}\ncontexts:\n- name: test\n  context: {{cluster: c, user: u}}\nusers:\n- name: u\n  user:\n    token: {KUBE_TOKEN}\n"),
        )
        .unwrap();
        let kong = if s["kong"] == "down" {
            format!("http://127.0.0.1:{}", free_port())
        } else {
            portal.url("")
        };
        let mut args = vec![
            "verify",
            "--env",
            "dev",
            "--output",
            "json",
            "--tag",
            TAG,
            "--kong-url",
            &kong,
        ];
        let kc = kubeconfig.path().to_str().unwrap().to_string();
        args.extend(["--kubeconfig", &kc]);
        if s["via"] == "argocd-api" {
            args.extend(["--argocd-url", &api, "--argocd-token", ARGO_TOKEN]);
        }
        let (code, stdout, stderr) = greenroom(&args, None);
        handle.abort();
        let report: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}: {stdout}{stderr}"));
        let results: Vec<&str> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["status"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = s["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(results, expected, "{name}: {stdout}");
        assert_eq!(code as i64, s["exit"].as_i64().unwrap(), "{name}");
        assert_eq!(report["ok"], code == 0);
        let details: Vec<&str> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["detail"].as_str().unwrap())
            .collect();
        for want in s["details"].as_array().unwrap() {
            let want = want.as_str().unwrap();
            assert!(
                details.iter().any(|d| d.contains(want)),
                "{name}: no detail contains {want:?}: {details:#?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_prints_a_table_and_names_what_is_missing() {
    let portal = Server::start_default().await;
    let kong = portal.url("");
    let (code, stdout, _) = greenroom(
        &[
            "verify",
            "--env",
            "dev",
            "--kong-url",
            &kong,
            "--checks",
            "kong",
        ],
        None,
    );
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.starts_with("greenroom verify --env dev\n\nCHECK"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Kong routes /api to the portal                    ok      GET ")
            || stdout
                .lines()
                .any(|l| l.starts_with("Kong routes /api to the portal") && l.contains(" ok ")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("Argo CD application Synced") && l.contains("skip"))
    );
    assert!(stdout.ends_with("all checks passed\n"));

    let (code, stdout, _) = greenroom(&["verify", "--env", "dev"], None);
    assert_eq!(code, 1);
    assert!(
        stdout
            .contains("no Argo CD source: pass --argocd-url with --argocd-token, or --kubeconfig"),
        "{stdout}"
    );
    assert!(
        stdout.contains("no Kubernetes API: pass --kubeconfig"),
        "{stdout}"
    );
    assert!(
        stdout.contains("no Kong proxy URL: pass --kong-url"),
        "{stdout}"
    );
    assert!(stdout.ends_with("6 check(s) failed\n"), "{stdout}");

    // A bad token is reported with the server's reason.
    let (port, handle) = stub_api(b"{}".to_vec(), b"{}".to_vec()).await;
    let api = format!("http://127.0.0.1:{port}");
    let (code, stdout, _) = greenroom(
        &[
            "verify",
            "--env",
            "dev",
            "--checks",
            "argocd",
            "--argocd-url",
            &api,
            "--argocd-token",
            "wrong",
        ],
        None,
    );
    handle.abort();
    assert_eq!(code, 1);
    assert!(
        stdout.contains("401 Unauthorized invalid session: token is invalid"),
        "{stdout}"
    );

    // --wait gives up after its deadline with the last failures.
    let started = std::time::Instant::now();
    let down = format!("http://127.0.0.1:{}", free_port());
    let (code, _, stderr) = greenroom(
        &[
            "verify",
            "--env",
            "dev",
            "--checks",
            "kong",
            "--kong-url",
            &down,
            "--wait",
            "2s",
            "--interval",
            "500ms",
        ],
        None,
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("waiting: Kong routes / to the portal, Kong routes /api to the portal"),
        "{stderr}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(1500));
}

fn gitops_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../gitops/helm/backstage/values");
    let dest = dir.path().join("gitops/helm/backstage/values");
    std::fs::create_dir_all(&dest).unwrap();
    for env in ["dev", "test", "staging", "prod"] {
        std::fs::copy(
            src.join(format!("{env}.yaml")),
            dest.join(format!("{env}.yaml")),
        )
        .unwrap();
    }
    dir
}

#[test]
fn promote_changes_only_the_tag_and_prints_the_diff() {
    let dir = gitops_copy();
    let values = |env: &str| {
        std::fs::read_to_string(
            dir.path()
                .join(format!("gitops/helm/backstage/values/{env}.yaml")),
        )
        .unwrap()
    };
    let before_test = values("test");
    let (code, stdout, stderr) =
        greenroom(&["promote", "--to", "dev", "--tag", TAG], Some(dir.path()));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("--- a/gitops/helm/backstage/values/dev.yaml\n+++ b/gitops/helm/backstage/values/dev.yaml\n@@"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "-  tag: \"0000000000000000000000000000000000000000\"\n+  tag: \"{TAG}\"\n"
        )),
        "{stdout}"
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with('-') || l.starts_with('+'))
            .count(),
        4,
        "one line changed: {stdout}"
    );

    let (code, _, stderr) = greenroom(
        &["promote", "--from", "dev", "--to", "test"],
        Some(dir.path()),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        values("test"),
        before_test.replace("0000000000000000000000000000000000000000", TAG)
    );
    let (code, _, stderr) = greenroom(
        &["promote", "--from", "dev", "--to", "test"],
        Some(dir.path()),
    );
    assert_eq!(code, 0);
    assert!(stderr.contains(&format!("test already runs {TAG}")));

    let (code, _, stderr) = greenroom(
        &["promote", "--from", "dev", "--to", "qa"],
        Some(dir.path()),
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("unknown environment 'qa': the environments are dev, prod, staging, test"),
        "{stderr}"
    );
    let (code, _, stderr) = greenroom(
        &["promote", "--to", "prod", "--tag", "latest; rm -rf /"],
        Some(dir.path()),
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("is not an image tag"), "{stderr}");
    assert!(values("prod").contains("tag: \"0000000000000000000000000000000000000000\""));
}
