//! `publish:git` (any git remote), `publish:github`, `publish:gitlab`.
//!
//! The workspace becomes a repository with one commit, pushed with libgit2;
//! GitHub and GitLab repositories are created through the host's REST API
//! first (base URL from `integrations.*[].apiBaseUrl`).

use std::cell::RefCell;
use std::path::PathBuf;

use futures_util::future::BoxFuture;
use git2::{
    Cred, CredentialType, IndexAddOption, PushOptions, RemoteCallbacks, Repository,
    RepositoryInitOptions, Signature,
};
use serde_json::{Value as Json, json};

use super::{Action, ActionContext, ActionError, Author, Outputs, blocking};
use crate::integrations::{HostKind, Integration, RepoSpec, parse_repo_url};

/// One initial commit of `dir`, pushed to `remote`.
struct Push {
    dir: PathBuf,
    remote: String,
    branch: String,
    message: String,
    author: Author,
    username: String,
    token: Option<String>,
}

fn git_error(what: &str, e: git2::Error) -> ActionError {
    ActionError::Failed(format!("{what}: {}", e.message()))
}

fn init_commit_push(p: Push) -> Result<String, ActionError> {
    // The repository lives outside the workspace, so that publishing twice
    // (GitHub and GitLab, say) makes the same first commit each time and
    // the workspace gains no .git directory.
    let git_dir = tempfile::tempdir().map_err(|e| ActionError::Failed(format!("git init: {e}")))?;
    let mut init = RepositoryInitOptions::new();
    init.initial_head(&p.branch)
        .workdir_path(&p.dir)
        .no_dotgit_dir(true);
    let repo =
        Repository::init_opts(git_dir.path(), &init).map_err(|e| git_error("git init", e))?;
    let mut index = repo.index().map_err(|e| git_error("git index", e))?;
    index
        .add_all(["*"], IndexAddOption::DEFAULT, None)
        .map_err(|e| git_error("git add", e))?;
    index.write().map_err(|e| git_error("git add", e))?;
    let tree_id = index
        .write_tree()
        .map_err(|e| git_error("git write-tree", e))?;
    let tree = repo
        .find_tree(tree_id)
        .map_err(|e| git_error("git write-tree", e))?;
    let sig =
        Signature::now(&p.author.name, &p.author.email).map_err(|e| git_error("git author", e))?;
    let refname = format!("refs/heads/{}", p.branch);
    let commit = repo
        .commit(Some(&refname), &sig, &sig, &p.message, &tree, &[])
        .map_err(|e| git_error("git commit", e))?;
    let mut remote = repo
        .remote("origin", &p.remote)
        .map_err(|e| git_error("git remote add", e))?;
    let attempts = RefCell::new(0u32);
    let rejected: RefCell<Option<String>> = RefCell::new(None);
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(|_url, user_from_url, allowed| {
        // libgit2 asks again after a rejected credential; one try is enough.
        *attempts.borrow_mut() += 1;
        if *attempts.borrow() > 1 {
            return Err(git2::Error::from_str("authentication failed"));
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
            && let Some(token) = &p.token
        {
            return Cred::userpass_plaintext(&p.username, token);
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            return Cred::ssh_key_from_agent(user_from_url.unwrap_or("git"));
        }
        Cred::default()
    });
    callbacks.push_update_reference(|name, status| {
        if let Some(s) = status {
            *rejected.borrow_mut() = Some(format!("{name}: {s}"));
        }
        Ok(())
    });
    let mut options = PushOptions::new();
    options.remote_callbacks(callbacks);
    remote
        .push(&[format!("{refname}:{refname}")], Some(&mut options))
        .map_err(|e| git_error(&format!("git push to {}", p.remote), e))?;
    if let Some(r) = rejected.borrow().clone() {
        return Err(ActionError::Failed(format!(
            "git push to {} was rejected: {r}",
            p.remote
        )));
    }
    Ok(commit.to_string())
}

fn common_git_inputs(default_branch: &str) -> serde_json::Map<String, Json> {
    json!({
        "defaultBranch": { "type": "string", "title": "Default Branch", "description": format!("Sets the default branch on the repository. The default value is '{default_branch}'") },
        "gitCommitMessage": { "type": "string", "title": "Git Commit Message", "description": "Sets the commit message on the repository. The default value is 'initial commit'" },
        "gitAuthorName": { "type": "string", "title": "Default Author Name", "description": "Sets the default author name for the commit. The default value is 'Scaffolder'" },
        "gitAuthorEmail": { "type": "string", "title": "Default Author Email", "description": "Sets the default author email for the commit." },
        "sourcePath": { "type": "string", "title": "Source Path", "description": "Path within the workspace that will be used as the repository root. If omitted, the entire workspace will be published as the repository." },
        "token": { "type": "string", "title": "Authentication Token", "description": "The token to use for authorization" }
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

fn push_request(
    ctx: &ActionContext<'_>,
    remote: String,
    default_branch: &str,
    username: &str,
    token: Option<String>,
) -> Result<Push, ActionError> {
    let dir = match ctx.str("sourcePath") {
        Some(p) => ctx.workspace.resolve("sourcePath", p)?,
        None => ctx.workspace.root().to_path_buf(),
    };
    Ok(Push {
        dir,
        remote,
        branch: ctx
            .str("defaultBranch")
            .unwrap_or(default_branch)
            .to_string(),
        message: ctx
            .str("gitCommitMessage")
            .unwrap_or(&ctx.services.default_commit_message)
            .to_string(),
        author: Author {
            name: ctx
                .str("gitAuthorName")
                .unwrap_or(&ctx.services.default_author.name)
                .to_string(),
            email: ctx
                .str("gitAuthorEmail")
                .unwrap_or(&ctx.services.default_author.email)
                .to_string(),
        },
        username: username.to_string(),
        token,
    })
}

fn repo_spec(ctx: &ActionContext<'_>) -> Result<(RepoSpec, Integration), ActionError> {
    let repo_url = ctx.required_str("repoUrl")?;
    let spec = parse_repo_url(repo_url, &ctx.services.integrations)
        .map_err(|e| ActionError::Input(format!("repoUrl: {e}")))?;
    let integration = ctx
        .services
        .integrations
        .by_host(&spec.host)
        .cloned()
        .ok_or_else(|| ActionError::Input(format!("repoUrl: no integration for {}", spec.host)))?;
    Ok((spec, integration))
}

/// The repository, token and REST API base of a `repoUrl` on a host of
/// `kind`: the token from the input, else from the integration.
fn host_api(
    ctx: &ActionContext<'_>,
    kind: HostKind,
    label: &str,
) -> Result<(RepoSpec, String, String), ActionError> {
    let (spec, integration) = repo_spec(ctx)?;
    if integration.kind != kind {
        return Err(ActionError::Input(format!(
            "repoUrl: {} is not a {label} integration",
            spec.host
        )));
    }
    let token = ctx
        .str("token")
        .map(str::to_string)
        .or_else(|| integration.token.clone())
        .ok_or_else(|| ActionError::Input(format!("No token available for host: {}", spec.host)))?;
    let api = integration.api_base_url.trim_end_matches('/').to_string();
    Ok((spec, token, api))
}

fn commit_outputs(remote: &str, contents: &str, commit: String) -> Outputs {
    let mut out = Outputs::new();
    out.insert("remoteUrl".into(), json!(remote));
    out.insert("repoContentsUrl".into(), json!(contents));
    out.insert("commitHash".into(), json!(commit));
    out
}

fn publish_outputs_schema(extra: Json) -> Json {
    let mut props = json!({
        "remoteUrl": { "type": "string", "title": "A URL to the repository with the provider", "examples": ["https://git.example.com/acme/my-service.git"] },
        "repoContentsUrl": { "type": "string", "title": "A URL to the root of the repository", "examples": ["git+https://git.example.com/acme/my-service.git#main:"] },
        "commitHash": { "type": "string", "title": "The git commit hash of the initial commit", "examples": ["0000000000000000000000000000000000000000"] }
    });
    if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({ "type": "object", "properties": props })
}

pub struct PublishGit;

impl Action for PublishGit {
    fn id(&self) -> &'static str {
        "publish:git"
    }
    fn description(&self) -> &'static str {
        "Initializes a git repository of the workspace content and pushes it as a first commit to any git remote (file, ssh or http(s))."
    }
    fn input_schema(&self) -> Json {
        let mut props = common_git_inputs("main");
        props.insert("remoteUrl".into(), json!({ "type": "string", "title": "Remote URL", "description": "A git remote: file:///srv/git/x.git, ssh://git@host/x.git or https://host/x.git" }));
        props.insert("repoUrl".into(), json!({ "type": "string", "title": "Repository Location", "description": "A RepoUrlPicker value (host?owner=o&repo=r) for a host under integrations; the remote becomes <protocol>://host/owner/repo.git" }));
        json!({ "type": "object", "properties": props, "anyOf": [ {"required": ["remoteUrl"]}, {"required": ["repoUrl"]} ] })
    }
    fn output_schema(&self) -> Json {
        publish_outputs_schema(json!({}))
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let (remote, integration) = match ctx.str("remoteUrl") {
                Some(r) => {
                    let host = url::Url::parse(r).ok().and_then(|u| {
                        u.host_str().map(|h| match u.port() {
                            Some(p) => format!("{h}:{p}"),
                            None => h.to_string(),
                        })
                    });
                    (
                        r.to_string(),
                        host.and_then(|h| ctx.services.integrations.by_host(&h).cloned()),
                    )
                }
                None => {
                    let (spec, integration) = repo_spec(&ctx)?;
                    let owner = spec.owner.clone().unwrap_or_default();
                    (
                        format!(
                            "{}://{}/{}/{}.git",
                            integration.protocol, spec.host, owner, spec.repo
                        ),
                        Some(integration),
                    )
                }
            };
            let token = ctx
                .str("token")
                .map(str::to_string)
                .or_else(|| integration.as_ref().and_then(|i| i.token.clone()));
            let username = integration
                .as_ref()
                .map(|i| match (i.kind, &i.username) {
                    (_, Some(u)) => u.clone(),
                    (HostKind::Github, None) => "x-access-token".into(),
                    (HostKind::Gitlab, None) => "oauth2".into(),
                    (HostKind::Git, None) => "git".into(),
                })
                .unwrap_or_else(|| "git".into());
            let push = push_request(&ctx, remote.clone(), "main", &username, token)?;
            let branch = push.branch.clone();
            ctx.logger.log(format!(
                "Pushing the workspace to {remote} (branch {branch})"
            ));
            let commit = blocking(move || init_commit_push(push)).await?;
            ctx.logger.log(format!("Pushed commit {commit}"));
            Ok(commit_outputs(
                &remote,
                &format!("git+{remote}#{branch}:"),
                commit,
            ))
        })
    }
}

async fn api_call(
    ctx: &ActionContext<'_>,
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<(reqwest::StatusCode, Json), ActionError> {
    let response = request
        .header(
            "User-Agent",
            concat!("greenroom/", env!("CARGO_PKG_VERSION")),
        )
        .send()
        .await
        .map_err(|e| ActionError::Failed(format!("{what}: {e}")))?;
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    let json = serde_json::from_slice(&body).unwrap_or(Json::Null);
    let _ = ctx;
    Ok((status, json))
}

fn api_failure(what: &str, status: reqwest::StatusCode, body: &Json) -> ActionError {
    let detail = body
        .get("message")
        .map(|m| m.to_string())
        .unwrap_or_else(|| body.to_string());
    ActionError::Failed(format!("{what} failed with {status}: {detail}"))
}

pub struct PublishGithub;

impl Action for PublishGithub {
    fn strict_input(&self) -> bool {
        false
    }
    fn id(&self) -> &'static str {
        "publish:github"
    }
    fn description(&self) -> &'static str {
        "Initializes a git repository of contents in workspace and publishes it to GitHub."
    }
    fn input_schema(&self) -> Json {
        let mut props = common_git_inputs("main");
        let extra = json!({
            "repoUrl": { "type": "string", "title": "Repository Location" },
            "description": { "type": "string", "title": "Repository Description" },
            "homepage": { "type": "string", "title": "Repository Homepage" },
            "access": { "type": "string", "title": "Repository Access", "description": "Sets an admin collaborator on the repository. Can either be a user reference different from 'owner' in 'repoUrl' or team reference, eg. 'org/team-name'" },
            "repoVisibility": { "type": "string", "enum": ["private", "public", "internal"], "title": "Repository Visibility" },
            "protectDefaultBranch": { "type": "boolean", "title": "Protect Default Branch", "description": "Protect the default branch after creating the repository. The default value is 'true'" },
            "protectEnforceAdmins": { "type": "boolean", "title": "Enforce Admins On Protected Branches", "description": "Enforce admins to adhere to default branch protection. The default value is 'true'" },
            "requireCodeOwnerReviews": { "type": "boolean", "title": "Require CODEOWNER Reviews?" },
            "requiredApprovingReviewCount": { "type": "number", "title": "Required approving review count" },
            "requiredStatusCheckContexts": { "type": "array", "items": {"type": "string"}, "title": "Required Status Check Contexts" },
            "deleteBranchOnMerge": { "type": "boolean", "title": "Delete Branch On Merge" },
            "allowMergeCommit": { "type": "boolean", "title": "Allow Merge Commits" },
            "allowSquashMerge": { "type": "boolean", "title": "Allow Squash Merges" },
            "allowRebaseMerge": { "type": "boolean", "title": "Allow Rebase Merges" },
            "allowAutoMerge": { "type": "boolean", "title": "Allow Auto Merges" },
            "hasProjects": { "type": "boolean", "title": "Enable projects" },
            "hasWiki": { "type": "boolean", "title": "Enable the wiki" },
            "hasIssues": { "type": "boolean", "title": "Enable issues" },
            "topics": { "type": "array", "items": {"type": "string"}, "title": "Topics" }
        });
        if let Some(e) = extra.as_object() {
            props.extend(e.clone());
        }
        json!({ "type": "object", "required": ["repoUrl"], "properties": props })
    }
    fn output_schema(&self) -> Json {
        publish_outputs_schema(json!({}))
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let (spec, token, api) = host_api(&ctx, HostKind::Github, "GitHub")?;
            let owner = spec.owner.clone().unwrap_or_default();
            let http = &ctx.services.http;
            let auth = format!("token {token}");
            let (status, user) = api_call(
                &ctx,
                http.get(format!("{api}/users/{owner}"))
                    .header("Authorization", &auth),
                "looking up the owner",
            )
            .await?;
            let is_user =
                status.is_success() && user.get("type").and_then(Json::as_str) == Some("User");
            let visibility = ctx.str("repoVisibility").unwrap_or("private");
            let b = |k: &str, d: bool| ctx.input.get(k).and_then(Json::as_bool).unwrap_or(d);
            let body = json!({
                "name": spec.repo,
                "private": visibility == "private",
                "visibility": visibility,
                "description": ctx.str("description"),
                "homepage": ctx.str("homepage"),
                "delete_branch_on_merge": b("deleteBranchOnMerge", false),
                "allow_merge_commit": b("allowMergeCommit", true),
                "allow_squash_merge": b("allowSquashMerge", true),
                "allow_rebase_merge": b("allowRebaseMerge", true),
                "allow_auto_merge": b("allowAutoMerge", false),
                "has_projects": b("hasProjects", true),
                "has_wiki": b("hasWiki", true),
                "has_issues": b("hasIssues", true),
            });
            let url = if is_user {
                format!("{api}/user/repos")
            } else {
                format!("{api}/orgs/{owner}/repos")
            };
            ctx.logger.log(format!(
                "Creating the repository {owner}/{} on {}",
                spec.repo, spec.host
            ));
            let (status, created) = api_call(
                &ctx,
                http.post(url).header("Authorization", &auth).json(&body),
                "creating the repository",
            )
            .await?;
            if !status.is_success() {
                return Err(api_failure("creating the repository", status, &created));
            }
            let clone_url = created
                .get("clone_url")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string();
            let html_url = created
                .get("html_url")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string();
            let topics = ctx.strings("topics");
            if !topics.is_empty() {
                let (status, body) = api_call(
                    &ctx,
                    http.put(format!("{api}/repos/{owner}/{}/topics", spec.repo))
                        .header("Authorization", &auth)
                        .json(&json!({ "names": topics })),
                    "setting topics",
                )
                .await?;
                if !status.is_success() {
                    return Err(api_failure("setting topics", status, &body));
                }
            }
            let push = push_request(
                &ctx,
                clone_url.clone(),
                "main",
                "x-access-token",
                Some(token),
            )?;
            let branch = push.branch.clone();
            let commit = blocking(move || init_commit_push(push)).await?;
            ctx.logger
                .log(format!("Pushed commit {commit} to {clone_url}"));
            if b("protectDefaultBranch", true) {
                let contexts = ctx.strings("requiredStatusCheckContexts");
                let protection = json!({
                    "required_status_checks": if contexts.is_empty() { Json::Null } else { json!({ "strict": true, "contexts": contexts }) },
                    "enforce_admins": b("protectEnforceAdmins", true),
                    "required_pull_request_reviews": {
                        "require_code_owner_reviews": b("requireCodeOwnerReviews", false),
                        "required_approving_review_count": ctx.input.get("requiredApprovingReviewCount").and_then(Json::as_u64).unwrap_or(1),
                    },
                    "restrictions": Json::Null,
                });
                let (status, body) = api_call(
                    &ctx,
                    http.put(format!(
                        "{api}/repos/{owner}/{}/branches/{branch}/protection",
                        spec.repo
                    ))
                    .header("Authorization", &auth)
                    .json(&protection),
                    "protecting the default branch",
                )
                .await?;
                if !status.is_success() {
                    return Err(api_failure("protecting the default branch", status, &body));
                }
            }
            Ok(commit_outputs(
                &clone_url,
                &format!("{}/blob/{branch}", html_url.trim_end_matches('/')),
                commit,
            ))
        })
    }
}

pub struct PublishGitlab;

impl Action for PublishGitlab {
    fn strict_input(&self) -> bool {
        false
    }
    fn id(&self) -> &'static str {
        "publish:gitlab"
    }
    fn description(&self) -> &'static str {
        "Initializes a git repository of the content in the workspace, and publishes it to GitLab."
    }
    fn input_schema(&self) -> Json {
        let mut props = common_git_inputs("master");
        let extra = json!({
            "repoUrl": { "type": "string", "title": "Repository Location" },
            "repoVisibility": { "type": "string", "enum": ["private", "public", "internal"], "title": "Repository Visibility" },
            "skipExisting": { "type": "boolean", "title": "Skip if repository exists", "description": "Do not publish the repository if it already exists." },
            "topics": { "type": "array", "items": {"type": "string"}, "title": "Topic labels" },
            "settings": { "type": "object", "title": "Project settings", "description": "Additional project settings, passed to the projects API" }
        });
        if let Some(e) = extra.as_object() {
            props.extend(e.clone());
        }
        json!({ "type": "object", "required": ["repoUrl"], "properties": props })
    }
    fn output_schema(&self) -> Json {
        publish_outputs_schema(json!({
            "projectId": { "type": "number", "title": "The ID of the project", "examples": [1] },
            "created": { "type": "boolean", "title": "Whether the repository was created or not" }
        }))
    }
    fn run<'a>(&'a self, ctx: ActionContext<'a>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(async move {
            let (spec, token, api) = host_api(&ctx, HostKind::Gitlab, "GitLab")?;
            let owner = spec.owner.clone().unwrap_or_default();
            let http = &ctx.services.http;
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let full_path = format!("{owner}/{}", spec.repo);
            if ctx.bool("skipExisting") {
                let (status, existing) = api_call(
                    &ctx,
                    http.get(format!("{api}/projects/{}", enc(&full_path)))
                        .header("PRIVATE-TOKEN", &token),
                    "looking up the project",
                )
                .await?;
                if status.is_success() {
                    ctx.logger.log(format!(
                        "Project {full_path} exists; skipping as skipExisting is set"
                    ));
                    let web = existing
                        .get("web_url")
                        .and_then(Json::as_str)
                        .unwrap_or_default();
                    let mut out = Outputs::new();
                    out.insert("remoteUrl".into(), json!(web));
                    out.insert(
                        "repoContentsUrl".into(),
                        json!(format!(
                            "{web}/-/blob/{}",
                            ctx.str("defaultBranch").unwrap_or("master")
                        )),
                    );
                    out.insert(
                        "projectId".into(),
                        existing.get("id").cloned().unwrap_or(Json::Null),
                    );
                    out.insert("created".into(), json!(false));
                    return Ok(out);
                }
            }
            let (status, namespace) = api_call(
                &ctx,
                http.get(format!("{api}/namespaces/{}", enc(&owner)))
                    .header("PRIVATE-TOKEN", &token),
                "looking up the namespace",
            )
            .await?;
            if !status.is_success() {
                return Err(api_failure(
                    &format!("looking up the namespace {owner}"),
                    status,
                    &namespace,
                ));
            }
            let mut body = json!({
                "name": spec.repo,
                "path": spec.repo,
                "namespace_id": namespace.get("id").cloned().unwrap_or(Json::Null),
                "visibility": ctx.str("repoVisibility").unwrap_or("private"),
            });
            let topics = ctx.strings("topics");
            if let Some(o) = body.as_object_mut() {
                if !topics.is_empty() {
                    o.insert("topics".into(), json!(topics));
                }
                if let Some(settings) = ctx.input.get("settings").and_then(Json::as_object) {
                    o.extend(settings.clone());
                }
            }
            ctx.logger
                .log(format!("Creating the project {full_path} on {}", spec.host));
            let (status, created) = api_call(
                &ctx,
                http.post(format!("{api}/projects"))
                    .header("PRIVATE-TOKEN", &token)
                    .json(&body),
                "creating the project",
            )
            .await?;
            if !status.is_success() {
                return Err(api_failure("creating the project", status, &created));
            }
            let http_url = created
                .get("http_url_to_repo")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string();
            let remote_url = http_url.trim_end_matches(".git").to_string();
            let push = push_request(&ctx, http_url.clone(), "master", "oauth2", Some(token))?;
            let branch = push.branch.clone();
            let commit = blocking(move || init_commit_push(push)).await?;
            ctx.logger
                .log(format!("Pushed commit {commit} to {http_url}"));
            let mut out = commit_outputs(
                &remote_url,
                &format!("{remote_url}/-/blob/{branch}"),
                commit,
            );
            out.insert(
                "projectId".into(),
                created.get("id").cloned().unwrap_or(Json::Null),
            );
            out.insert("created".into(), json!(true));
            Ok(out)
        })
    }
}
