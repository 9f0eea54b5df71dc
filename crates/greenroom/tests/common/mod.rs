//! Test harness: runs the real `greenroom` binary on 127.0.0.1 with a
//! temporary data directory, and a tiny static file server for url locations.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const TOKEN: &str = "test-token-0123456789";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// Copies a folder of `tests/data` into `dest`.
pub fn copy_dir(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dest.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

impl Server {
    /// Starts `greenroom serve` with `config` (YAML; `{PORT}` and `{DIR}` are
    /// replaced) and waits for readiness.
    pub async fn start(config: &str) -> Server {
        Self::start_with(config, |_| {}, &[]).await
    }

    pub async fn start_with(
        config: &str,
        prepare: impl FnOnce(&Path),
        env: &[(&str, &str)],
    ) -> Server {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        let port = free_port();
        let text = config
            .replace("{PORT}", &port.to_string())
            .replace("{DIR}", &dir.path().to_string_lossy());
        let base = format!(
            "backend:\n  listen: {{host: 127.0.0.1, port: {port}}}\n  baseUrl: http://127.0.0.1:{port}\n  database: {{client: better-sqlite3, connection: {}/db.sqlite}}\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("base.yaml"), base).unwrap();
        std::fs::write(dir.path().join("app-config.yaml"), text).unwrap();
        let child = Self::spawn(dir.path(), true, env);
        let server = Server {
            child,
            port,
            dir,
            client: reqwest::Client::new(),
        };
        server.wait_ready().await;
        server
    }

    /// Runs `greenroom serve` in `dir`, with `base.yaml` and `app-config.yaml`
    /// from there when `with_config` (otherwise on the embedded default).
    fn spawn(dir: &Path, with_config: bool, env: &[(&str, &str)]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_greenroom"));
        cmd.arg("serve");
        if with_config {
            cmd.arg("--config")
                .arg(dir.join("base.yaml"))
                .arg("--config")
                .arg(dir.join("app-config.yaml"));
        }
        cmd.current_dir(dir)
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("greenroom starts")
    }

    /// Kills the server with SIGKILL (no shutdown at all) and starts it again
    /// on the same database and configuration.
    pub async fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(self.dir.path(), true, &[]);
        self.wait_ready().await;
    }

    /// Starts `greenroom serve` with no `--config` at all (the embedded
    /// default), in an empty directory; only the port comes from the environment.
    pub async fn start_default() -> Server {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let port_text = port.to_string();
        let child = Self::spawn(
            dir.path(),
            false,
            &[("APP_CONFIG_backend_listen_port", &port_text)],
        );
        let server = Server {
            child,
            port,
            dir,
            client: reqwest::Client::new(),
        };
        server.wait_ready().await;
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = self
                .client
                .get(self.url("/.backstage/health/v1/readiness"))
                .send()
                .await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become ready; log:\n{}", self.log());
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body), None)
            .await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Polls `check` until it returns `Some`, or fails after `secs`.
    pub async fn wait_for<T, F, Fut>(&self, secs: u64, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; log:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until an entity exists (processing is asynchronous).
    pub async fn wait_entity(&self, path: &str) -> Value {
        self.wait_for(15, path, || async {
            let (s, v) = self
                .get(&format!("/api/catalog/entities/by-name/{path}"))
                .await;
            (s == 200).then_some(v)
        })
        .await
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves files from a directory over HTTP on 127.0.0.1 (for url locations).
pub struct FileServer {
    pub port: u16,
    pub root: PathBuf,
    handle: tokio::task::JoinHandle<()>,
}

impl FileServer {
    pub async fn start(root: &Path) -> FileServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = root.to_path_buf();
        let handle = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let root = served.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]);
                    let path = request
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or("/")
                        .trim_start_matches('/')
                        .to_string();
                    let file = root.join(&path);
                    let (status, body) = match (path.contains(".."), std::fs::read(&file)) {
                        (false, Ok(b)) => ("200 OK", b),
                        _ => ("404 Not Found", b"not found".to_vec()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                });
            }
        });
        FileServer {
            port,
            root: root.to_path_buf(),
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// The sorted `kind:namespace/name` refs of a list of entities.
pub fn refs(items: &Value) -> Vec<String> {
    let mut out: Vec<String> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}/{}",
                e["kind"].as_str().unwrap_or_default().to_lowercase(),
                e["metadata"]["namespace"].as_str().unwrap_or("default"),
                e["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase()
            )
        })
        .collect();
    out.sort();
    out
}

/// `tests/support/git_server.py`: bare repositories over smart HTTP and the
/// GitHub and GitLab REST endpoints the publish actions call.
pub struct GitServer {
    pub port: u16,
    pub root: tempfile::TempDir,
    child: Child,
}

pub const GIT_TOKEN: &str = "git-host-token-42";

impl GitServer {
    pub async fn start() -> GitServer {
        let root = tempfile::tempdir().unwrap();
        let port = free_port();
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/support/git_server.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(root.path())
            .arg(GIT_TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the git server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        GitServer { port, root, child }
    }

    /// Creates an empty bare repository `owner/name.git` (branch main).
    pub fn create_bare(&self, owner: &str, name: &str) -> PathBuf {
        let path = self.root.path().join(owner).join(format!("{name}.git"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let ok = Command::new("git")
            .args(["init", "--bare", "-q", "-b", "main"])
            .arg(&path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git init --bare");
        path
    }

    /// The REST calls the server received, in order.
    pub fn api_calls(&self) -> Vec<Value> {
        std::fs::read_to_string(self.root.path().join("api-calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs git and returns its stdout; fails the test when git fails.
pub fn git(args: &[&str], dir: &Path) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command to its end: exit code, stdout, stderr.
pub fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("the command runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the `greenroom` binary with `args`.
pub fn cli(args: &[&str]) -> (i32, String, String) {
    output(Command::new(env!("CARGO_BIN_EXE_greenroom")).args(args))
}
