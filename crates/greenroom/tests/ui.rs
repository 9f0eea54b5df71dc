//! The web UI in a real headless Chromium (Debian's chromium and
//! chromium-driver, which `scripts/test.sh` installs), driving the real
//! server on the bundled example catalog: browse and filter, follow
//! relations, read docs, search, register a location, run the golden path
//! through the form. Every page visited is checked with axe-core.
//!
//! `GREENROOM_SCREENSHOTS=docs/screenshots` keeps screenshots of the main
//! pages (`scripts/screenshots.sh`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{FileServer, GitServer, Server, TOKEN, copy_dir, free_port};
use serde_json::{Value, json};
use thirtyfour::prelude::*;

/// One browser at a time: two cores do not run five Chromiums well.
static BROWSER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

struct Browser {
    driver: WebDriver,
    chromedriver: Child,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

fn axe_source() -> String {
    let path = std::env::var("GREENROOM_AXE_JS").unwrap_or_else(|_| {
        "/var/cache/greenroom/tools/axe-4.14.1/node_modules/axe-core/axe.min.js".into()
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("axe-core is needed at {path} ({e}): scripts/test.sh installs it")
    })
}

impl Browser {
    async fn start() -> Browser {
        let turn = BROWSER_LOCK.lock().await;
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "the browser tests need Debian's chromium and chromium-driver: scripts/test.sh installs them"
        );
        let port = free_port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).unwrap();
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--window-size=1366,900",
        ] {
            caps.add_arg(arg).unwrap();
        }
        caps.add_arg(&format!("--user-data-dir={}", profile.path().display()))
            .unwrap();
        let driver = WebDriver::new(format!("http://127.0.0.1:{port}"), caps)
            .await
            .expect("a browser session");
        Browser {
            driver,
            chromedriver,
            _profile: profile,
            _turn: turn,
        }
    }

    async fn open(&self, url: &str) {
        self.driver.goto(url).await.unwrap();
    }

    async fn click(&self, css: impl Into<String>) {
        let css = css.into();
        self.driver
            .find(By::Css(css.clone()))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Clicks the element matching `css` whose text contains `text`, once there.
    async fn click_text(&self, css: &str, text: &str) {
        self.wait_text(css, text).await.click().await.unwrap();
    }

    async fn type_into(&self, css: impl Into<String>, text: impl Into<TypingData>) {
        let css = css.into();
        self.driver
            .find(By::Css(css.clone()))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
            .send_keys(text)
            .await
            .unwrap();
    }

    async fn url(&self) -> String {
        self.driver.current_url().await.unwrap().to_string()
    }

    /// Waits for an element matching `css` whose text contains `text`.
    async fn wait_text(&self, css: &str, text: &str) -> WebElement {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(found) = self.driver.find_all(By::Css(css)).await {
                for e in found {
                    if e.text().await.is_ok_and(|t| t.contains(text)) {
                        return e;
                    }
                }
            }
            if Instant::now() > deadline {
                let source = self.driver.source().await.unwrap_or_default();
                panic!(
                    "no `{css}` containing {text:?} on {}:\n{}",
                    self.url().await,
                    &source[..source.len().min(4000)]
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_url(&self, part: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.url().await.contains(part) {
            assert!(
                Instant::now() < deadline,
                "URL {} never contained {part}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The visible texts of the elements matching `css`, read in one go (a
    /// page that reloads meanwhile cannot leave stale elements behind).
    async fn texts(&self, css: &str) -> Vec<String> {
        let found = self
            .driver
            .execute(
                "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText.trim())",
                vec![json!(css)],
            )
            .await
            .unwrap();
        found.convert().unwrap()
    }

    async fn js(&self, script: &str) -> Value {
        self.driver
            .execute(script, Vec::<Value>::new())
            .await
            .unwrap()
            .json()
            .clone()
    }

    /// Runs axe-core on the page; serious and critical findings fail the test.
    async fn axe(&self, page: &str) {
        self.driver
            .execute(axe_source(), Vec::<Value>::new())
            .await
            .expect("axe-core loads");
        let result = self
            .driver
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document).then(r => done(r.violations
                       .filter(v => v.impact === 'serious' || v.impact === 'critical')
                       .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')) }))))
                     .catch(e => done([{ id: 'axe-error', help: String(e) }]));"#,
                Vec::<Value>::new(),
            )
            .await
            .unwrap()
            .json()
            .clone();
        assert_eq!(
            result,
            json!([]),
            "axe-core finds serious violations on {page}"
        );
    }

    /// Emulates the system's dark (or light) setting, which the theme follows.
    async fn color_scheme(&self, scheme: &str) {
        self.driver
            .cdp()
            .send_raw(
                "Emulation.setEmulatedMedia",
                json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
            )
            .await
            .unwrap();
    }

    /// Keeps a screenshot when `GREENROOM_SCREENSHOTS` names a folder.
    async fn shot(&self, name: &str) {
        if let Ok(dir) = std::env::var("GREENROOM_SCREENSHOTS") {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap();
            self.driver
                .screenshot(&dir.join(format!("{name}.png")))
                .await
                .unwrap();
        }
    }

    async fn quit(self) {
        let driver = self.driver.clone();
        let _ = driver.quit().await;
    }
}

fn select_option_css(select: &str, value_part: &str) -> String {
    format!("{select} option[value*='{value_part}']")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_filter_and_follow_relations_in_the_catalog() {
    let server = Server::start("{}\n").await;
    server.wait_entity("api/default/payments-api").await;
    let (_, components) = server
        .get("/api/catalog/entities/by-query?filter=kind=component&limit=0")
        .await;
    let b = Browser::start().await;

    b.open(&server.url("/catalog")).await;
    b.wait_text("h1", "Catalog").await;
    let total = b.wait_text("[data-total]", "").await.text().await.unwrap();
    assert_eq!(total, components["totalItems"].to_string());
    b.axe("the catalog").await;
    b.shot("catalog").await;

    // Counts per kind lead to that kind's table.
    b.click_text(".kind-list a", "API").await;
    b.wait_url("kind=api").await;
    assert_eq!(
        b.texts("table.entities tbody td[data-label=Name]").await,
        ["Cart API", "Payment events", "Payments API"]
    );
    // Filters apply on change, and the URL carries them.
    b.click(select_option_css("#filter-owner", "team-payments"))
        .await;
    b.wait_url("owner=").await;
    let owners = b.texts("table.entities tbody td[data-label=Owner]").await;
    assert!(!owners.is_empty());
    assert!(owners.iter().all(|o| o == "Payments team"), "{owners:?}");
    let shared = b.url().await;
    // The URL alone reproduces the view.
    b.open(&shared).await;
    b.wait_text("table.entities tbody", "Payments API").await;
    assert!(
        !b.texts("table.entities tbody").await[0].contains("Cart API"),
        "the shared URL keeps the owner filter"
    );

    // Sorting by name, descending.
    b.click_text(".sort a", "Name").await;
    b.wait_url("sort=-name").await;
    let names = b.texts("table.entities tbody td[data-label=Name]").await;
    let mut sorted = names.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(names, sorted);

    // An entity, then a relation to another entity.
    b.click_text("table.entities a", "Payments API").await;
    b.wait_text("h1", "Payments API").await;
    b.wait_text(".entity-head a", "Payments team").await;
    assert!(
        b.driver.find(By::Css("svg.graph a")).await.is_ok(),
        "the relation graph links related entities"
    );
    b.axe("an API's overview").await;
    b.shot("entity").await;
    b.click_text(".card table a", "Payments service").await;
    b.wait_text("h1", "Payments service").await;
    b.wait_url("/catalog/default/component/payments-service")
        .await;
    b.wait_text(".card h2", "Provided APIs").await;
    // The system from the header, and its parts.
    b.click_text(
        ".entity-head a[href='/catalog/default/system/payments']",
        "Payments",
    )
    .await;
    b.wait_url("/catalog/default/system/payments").await;
    b.wait_text(".card h2", "Components").await;
    b.wait_text(".card h2", "APIs").await;
    b.axe("a system").await;

    // The API's definition as operations, and the raw YAML.
    b.open(&server.url("/catalog/default/api/payments-api"))
        .await;
    b.click_text(".tabs a", "Definition").await;
    b.wait_text("details.operation summary", "/payments").await;
    b.wait_text("table.schema", "amount").await;
    b.axe("an OpenAPI definition").await;
    b.shot("api-definition").await;
    b.click_text(".tabs a", "YAML").await;
    b.wait_text("pre.yaml", "kind: API").await;

    // The dark theme follows the system setting and stays readable.
    b.color_scheme("dark").await;
    b.open(&server.url("/catalog/default/api/payments-api"))
        .await;
    b.wait_text("h1", "Payments API").await;
    let background = b
        .js("return getComputedStyle(document.body).backgroundColor")
        .await;
    assert_eq!(background, "rgb(18, 21, 27)", "the dark background");
    b.axe("an API's overview, dark").await;
    b.shot("entity-dark").await;
    b.open(&server.url("/catalog")).await;
    b.axe("the catalog, dark").await;
    b.color_scheme("light").await;

    // Keyboard: the first Tab reaches the skip link, which moves to the content.
    b.open(&server.url("/catalog")).await;
    b.wait_text("h1", "Catalog").await;
    b.type_into("body", Key::Tab).await;
    assert_eq!(
        b.js("return document.activeElement.textContent").await,
        "Skip to content"
    );

    // A phone: no sideways scrolling, the navigation still there.
    b.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    b.open(&server.url("/catalog/default/component/payments-service"))
        .await;
    b.wait_text("h1", "Payments service").await;
    let fits = b
        .js("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    assert_eq!(fits, true, "the entity page fits a phone's width");
    b.open(&server.url("/catalog")).await;
    b.wait_text("nav[aria-label=Main] a", "Create").await;
    let fits = b
        .js("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    assert_eq!(fits, true, "the catalog fits a phone's width");
    b.shot("catalog-phone").await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_docs_with_their_navigation_and_search_everything() {
    let server = Server::start("{}\n").await;
    server.wait_entity("component/default/greenroom").await;
    let b = Browser::start().await;

    b.open(&server.url("/docs")).await;
    b.wait_text("h1", "Documentation").await;
    b.axe("the docs index").await;
    b.click_text("table a", "greenroom").await;
    // The first visit builds the site.
    b.wait_text("article.docs-content h1", "greenroom").await;
    b.wait_url("/docs/default/component/greenroom/").await;
    assert!(
        !b.texts(".docs-toc a").await.is_empty(),
        "a table of contents"
    );
    b.axe("a docs page").await;
    b.shot("docs").await;
    b.click_text(".docs-nav a", "Architecture").await;
    b.wait_url("/docs/default/component/greenroom/architecture/")
        .await;
    b.wait_text("article.docs-content h1", "Architecture").await;
    b.wait_text(".docs-nav a.active", "Architecture").await;
    // In-page links of the docs keep working inside the portal.
    b.click_text(".md-footer a", "Next").await;
    b.wait_url("/docs/default/component/greenroom/configuration/")
        .await;
    // And back to the entity the docs belong to, which has a Docs tab.
    b.click_text("[data-entity-link]", "greenroom").await;
    b.wait_text("h1", "greenroom").await;
    b.wait_text(".tabs a", "Docs").await;

    // One box over the catalog and the docs just built.
    b.open(&server.url("/")).await;
    let input = b.driver.find(By::Css("#home-term")).await.unwrap();
    input.send_keys("payments" + Key::Enter).await.unwrap();
    b.wait_url("/search?term=payments").await;
    let first = b.wait_text(".result h2 a", "Payments").await;
    assert!(
        first
            .attr("href")
            .await
            .unwrap()
            .unwrap_or_default()
            .starts_with("/catalog/default/")
    );
    b.axe("search results").await;
    b.shot("search").await;
    let search_box = b.driver.find(By::Css("#search-term")).await.unwrap();
    search_box.clear().await.unwrap();
    search_box
        .send_keys("architecture" + Key::Enter)
        .await
        .unwrap();
    b.wait_url("term=architecture").await;
    b.click("#search-type option[value=techdocs]").await;
    b.click("form.big-search button").await;
    b.wait_url("type=techdocs").await;
    let kinds = b.texts(".result .pill").await;
    assert!(!kinds.is_empty());
    assert!(kinds.iter().all(|k| k == "Documentation"), "{kinds:?}");
    b.click_text(".result h2 a", "Architecture").await;
    b.wait_text("article.docs-content h1", "Architecture").await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_a_location_once_the_browser_has_a_token() {
    let served = tempfile::tempdir().unwrap();
    std::fs::write(
        served.path().join("catalog-info.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: inventory-service\n  title: Inventory service\n  description: Knows what is in stock.\nspec:\n  type: service\n  lifecycle: production\n  owner: team-platform\n",
    )
    .unwrap();
    let files = FileServer::start(served.path()).await;
    let config = format!(
        "backend:\n  auth:\n    externalAccess: [{{type: static, options: {{token: {TOKEN}, subject: ui-user}}}}]\n  reading:\n    allow: [{{host: '127.0.0.1:{}'}}]\ncatalog:\n  processingInterval: {{seconds: 1}}\n",
        files.port
    );
    let server = Server::start(&config).await;
    server.wait_entity("group/default/team-platform").await;
    let b = Browser::start().await;

    b.open(&server.url("/catalog-import")).await;
    let url = files.url("catalog-info.yaml");
    b.type_into("#import-url", url.as_str()).await;
    b.click_text("form.big-search button", "Analyze").await;
    let found = b
        .wait_text("table.entities td[data-label=Name]", "Inventory service")
        .await;
    // Not registered yet: no link to a page that does not exist.
    assert!(found.text().await.unwrap().contains("(new)"));
    assert!(found.find(By::Css("a")).await.is_err());
    b.wait_text("table.entities td[data-label=Owner] a", "Platform team")
        .await;
    // Writes are guarded and this browser has no token yet: the page says so.
    b.wait_text("[data-guard-notice]", "guards writes").await;
    b.axe("the import page").await;
    b.shot("register").await;
    b.click_text("[data-register]", "Register").await;
    b.wait_text("[data-register-result]", "no access token")
        .await;
    assert_eq!(
        server
            .get("/api/catalog/entities/by-name/component/default/inventory-service")
            .await
            .0,
        404,
        "nothing was registered"
    );

    b.open(&server.url("/settings")).await;
    b.type_into("#token", TOKEN).await;
    b.click_text("[data-token-form] button", "Save").await;
    b.wait_text("[data-token-status]", "saved").await;
    b.axe("settings").await;

    // The analysis URL is shareable: it carries what was pasted.
    b.open(&server.url(&format!(
        "/catalog-import?url={}",
        url.replace(':', "%3A").replace('/', "%2F")
    )))
    .await;
    assert_eq!(
        b.js("return document.querySelector('[data-guard-notice]').hidden")
            .await,
        true,
        "no notice once a token is saved"
    );
    b.click_text("[data-register]", "Register").await;
    b.wait_text("[data-register-result]", "Registered").await;
    server
        .wait_entity("component/default/inventory-service")
        .await;
    // Analyzed again, it is in the catalog: a link, and registering refreshes it.
    b.driver.refresh().await.unwrap();
    b.wait_text("table.entities td[data-label=Name] a", "Inventory service")
        .await;
    b.wait_text(".card p", "already registered").await;
    b.open(&server.url("/catalog/default/component/inventory-service"))
        .await;
    b.wait_text("h1", "Inventory service").await;

    // Unregistering, after a confirmation, takes the location and its entity away.
    b.click_text("[data-unregister]", "Unregister location")
        .await;
    b.driver.accept_alert().await.unwrap();
    b.wait_url("/catalog?kind=all").await;
    server
        .wait_for(15, "the entity to go", || async {
            let (status, _) = server
                .get("/api/catalog/entities/by-name/component/default/inventory-service")
                .await;
            (status == 404).then_some(())
        })
        .await;
    // Entities from the configuration have nothing to unregister.
    b.open(&server.url("/catalog/default/group/team-platform"))
        .await;
    b.wait_text("h1", "Platform team").await;
    assert!(b.driver.find(By::Css("[data-unregister]")).await.is_err());
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_golden_path_runs_through_the_form_to_a_new_component() {
    let git_host = GitServer::start().await;
    git_host.create_bare("acme", "orders-api");
    let host = format!("127.0.0.1:{}", git_host.port);
    let config = format!(
        "integrations:\n  git:\n    - host: '{host}'\n      protocol: http\nbackend:\n  auth: {{dangerouslyDisableDefaultAuthPolicy: true}}\n  reading:\n    allow:\n      - host: '{host}'\n  workingDirectory: {{DIR}}/work\ncatalog:\n  locations: [{{type: file, target: '{{DIR}}/catalog/all.yaml'}}]\nscaffolder:\n  defaultAuthor: {{ name: Platform Bot, email: bot@acme.test }}\n"
    );
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/catalog");
    let server = Server::start_with(
        &config,
        |dir| {
            copy_dir(&examples, &dir.join("catalog"));
            // The golden path offers github.com; here the repository host is
            // the local git server.
            let template = dir.join("catalog/templates/service-through-cicd/template.yaml");
            let text = std::fs::read_to_string(&template).unwrap();
            let changed = text.replace(
                "allowedHosts: [github.com]",
                &format!("allowedHosts: ['{host}']"),
            );
            assert_ne!(text, changed);
            std::fs::write(&template, changed).unwrap();
        },
        &[],
    )
    .await;
    server
        .wait_entity("template/default/service-through-cicd")
        .await;
    server.wait_entity("group/default/team-payments").await;
    let b = Browser::start().await;

    b.open(&server.url("/create")).await;
    b.wait_text(".template-card h2", "Rust service through CI/CD")
        .await;
    b.axe("the templates").await;
    b.shot("create").await;
    b.click_text(".template-card a.button", "Choose").await;
    b.wait_text(".stepper li.current", "About the service")
        .await;
    // Required fields are checked on Next, next to the field.
    b.click_text("button", "Next").await;
    b.wait_text(".field .error", "Name is required").await;
    b.wait_text(".field .error", "Owner is required").await;
    b.axe("a form step with errors").await;
    b.type_into("#f-name", "orders-api").await;
    b.type_into("#f-description", "Takes orders").await;
    b.click(select_option_css("#f-owner", "team-payments"))
        .await;
    b.shot("create-form").await;
    b.click_text("button", "Next").await;
    b.wait_text(".stepper li.current", "Repository and environments")
        .await;
    b.type_into("#f-repoUrl-owner", "acme").await;
    b.type_into("#f-repoUrl-repo", "orders-api").await;
    for env in ["test", "prod"] {
        b.click(format!("input[name='f.environments'][value={env}]"))
            .await;
    }
    b.axe("the repository step").await;
    b.click_text("button", "Review").await;
    b.wait_text(".review-list", "orders-api").await;
    b.wait_text(".review-list", "dev, staging").await;
    b.axe("the review").await;
    b.click_text("button[data-create]", "Create").await;
    b.wait_url("/create/tasks/").await;
    // The log streams in; the page shows the outcome when the task ends.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let status = b
            .js("const s = document.querySelector('[data-task-status]'); return s ? s.textContent : ''")
            .await;
        if status == "completed" {
            break;
        }
        assert!(
            status != "failed" && Instant::now() < deadline,
            "task ended {status}: {}",
            b.texts("[data-log]").await.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = b.texts("[data-log]").await.join("\n");
    assert!(log.contains("Publish"), "{log}");
    let statuses = b.texts(".steps [data-step-status]").await;
    assert!(
        statuses.iter().all(|s| s == "completed" || s == "skipped"),
        "{statuses:?}"
    );
    b.axe("a finished task").await;
    b.shot("task").await;
    b.click_text(".output a", "Open in catalog").await;
    b.wait_text("h1", "orders-api").await;
    b.wait_text(".entity-head a", "Payments team").await;

    b.open(&server.url("/create/tasks")).await;
    b.wait_text("table .status", "completed").await;
    b.axe("the task list").await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_bring_in_conditional_fields_and_task_pages_cancel() {
    let templates = common::data_dir().join("ui/catalog.yaml");
    let config = format!(
        "backend:\n  auth: {{dangerouslyDisableDefaultAuthPolicy: true}}\ncatalog:\n  locations: [{{type: file, target: '{}'}}]\n",
        templates.display()
    );
    let server = Server::start(&config).await;
    server.wait_entity("template/default/slow").await;
    server.wait_entity("template/default/conditional").await;
    let b = Browser::start().await;

    // Choosing PostgreSQL brings in its size, which is then required.
    b.open(&server.url("/create/templates/default/conditional"))
        .await;
    b.wait_text(".stepper li.current", "Storage").await;
    assert!(b.driver.find(By::Css("#f-dbSize")).await.is_err());
    b.click("#f-database option[value=postgres]").await;
    b.wait_text("label[for=f-dbSize]", "Database size").await;
    assert_eq!(
        b.js("return document.activeElement.id").await,
        "f-database",
        "focus stays on the field that changed"
    );
    // The page whose `when` asks for PostgreSQL joins the steps.
    b.wait_text(".stepper li", "Backups").await;
    b.click("#f-public").await;
    b.wait_text("label[for=f-hostname]", "Hostname").await;
    b.click_text("button", "Next").await;
    b.wait_text(".field .error", "Database size is required")
        .await;
    b.wait_text(".field .error", "Hostname is required").await;
    b.axe("a form with conditional fields").await;
    b.click("#f-dbSize option[value=large]").await;
    b.type_into("#f-hostname", "orders.example.com").await;
    b.click_text("button", "Next").await;
    b.wait_text(".stepper li.current", "Backups").await;
    b.click_text("button", "Review").await;
    b.wait_text(".review-list", "large").await;
    b.wait_text(".review-list", "orders.example.com").await;
    b.wait_text(".review-list", "Days of backups").await;
    // Back twice, and no database after all: its size and its page go.
    b.click_text("button", "Back").await;
    b.wait_text(".stepper li.current", "Backups").await;
    b.click_text("button", "Back").await;
    b.wait_text("label[for=f-dbSize]", "Database size").await;
    b.click("#f-database option[value=none]").await;
    b.wait_text(".stepper li.current", "Storage").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.driver.find(By::Css("#f-dbSize")).await.is_ok() {
        assert!(Instant::now() < deadline, "the size field stays");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!b.texts(".stepper").await[0].contains("Backups"));
    b.click_text("button", "Review").await;
    b.wait_text(".review-list", "No database").await;
    assert!(!b.texts(".review-list").await[0].contains("large"));
    assert!(!b.texts(".review").await[0].contains("Days of backups"));

    // A template without parameters goes straight to the review.
    b.open(&server.url("/create/templates/default/slow")).await;
    b.wait_text(".stepper li.current", "Review").await;
    b.click_text("button[data-create]", "Create").await;
    b.wait_url("/create/tasks/").await;
    // The log arrives over the event stream while the page stays open.
    b.wait_text("[data-log]", "waiting").await;
    b.wait_text("[data-step=wait] [data-step-status]", "processing")
        .await;
    b.axe("a running task").await;
    b.click_text("button[data-cancel]", "Cancel").await;
    b.wait_text("[data-task-status]", "cancelled").await;
    let after = b.texts("[data-step=after] [data-step-status]").await;
    assert_ne!(after, ["completed"], "the step after the wait never ran");
    assert!(!b.texts("[data-log]").await[0].contains("after the wait"));
    b.quit().await;
}

// Pages read over plain HTTP: what they must never do with user input, and
// what they show for refs, errors and pages of results.

async fn page(server: &Server, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let r = server
        .client
        .get(server.url(path))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.text().await.unwrap(), headers)
}

#[tokio::test]
async fn pages_escape_descriptors_and_show_unknown_refs_and_errors_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    let good = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: shady\n  title: Shady <b>service</b>\n  description: \"<script>alert('x')</script> & more\"\n  links:\n    - {url: 'javascript:alert(1)', title: Click me}\n    - {url: 'https://runbook.example.com/shady', title: Runbook}\nspec:\n  type: service\n  lifecycle: experimental\n  owner: group:default/nobody\n  system: payments\n";
    std::fs::write(&file, good).unwrap();
    let other = dir.path().join("other.yaml");
    std::fs::write(
        &other,
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: leaver}\nspec: {type: service, lifecycle: production, owner: team-a}\n",
    )
    .unwrap();
    let config = format!(
        "catalog:\n  locations:\n    - {{type: bundled, target: all.yaml}}\n    - {{type: file, target: '{}'}}\n    - {{type: file, target: '{}'}}\n  processingInterval: {{seconds: 1}}\n  orphanStrategy: keep\n",
        file.display(),
        other.display()
    );
    let server = Server::start(&config).await;
    server.wait_entity("component/default/shady").await;
    server.wait_entity("component/default/leaver").await;
    let (_, html, _) = page(&server, "/catalog/default/component/leaver").await;
    assert!(!html.contains("data-delete-entity"));
    // No longer in its file: an orphan, which the page offers to delete.
    std::fs::write(&other, "").unwrap();
    server
        .wait_for(30, "the orphan's delete button", || async {
            let (_, html, _) = page(&server, "/catalog/default/component/leaver").await;
            html.contains("data-delete-entity=").then_some(())
        })
        .await;

    let (status, html, headers) = page(&server, "/catalog?kind=component").await;
    assert_eq!(status, 200);
    assert!(headers.contains_key("server-timing"));
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(html.contains("Shady &lt;b&gt;service&lt;/b&gt;"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
    assert!(!html.contains("<script>alert"));

    let (status, html, _) = page(&server, "/catalog/default/component/shady").await;
    assert_eq!(status, 200);
    assert!(!html.contains("<script>alert") && !html.contains("<b>service"));
    // The unknown owner is text with a hint; the known system is a link.
    assert!(
        html.contains("group:default/nobody <small class=\"hint\">(not in the catalog)</small>")
    );
    assert!(!html.contains("href=\"/catalog/default/group/nobody\""));
    assert!(html.contains("<a href=\"/catalog/default/system/payments\">Payments</a>"));
    // Only web links become links.
    assert!(html.contains("<a href=\"https://runbook.example.com/shady\""));
    assert!(!html.contains("href=\"javascript:"));
    assert!(html.contains("Click me: <code>javascript:alert(1)</code>"));

    // The descriptor breaks: the entity keeps its page and shows the error,
    // and the health view lists it.
    std::fs::write(
        &file,
        good.replace("lifecycle: experimental", "lifecycle: {not: a string}"),
    )
    .unwrap();
    let html = server
        .wait_for(30, "the processing error on the entity page", || async {
            let (_, html, _) = page(&server, "/catalog/default/component/shady").await;
            html.contains("Processing errors").then_some(html)
        })
        .await;
    assert!(html.contains("role=\"alert\""));
    let (_, health, _) = page(&server, "/catalog-health").await;
    assert!(health.contains("component:default/shady"), "{health}");
    let (status, home, _) = page(&server, "/").await;
    assert_eq!(status, 200);
    assert!(home.contains("with processing errors"));

    // Groups list their members, parent and what they own; users their groups.
    let (_, group, _) = page(&server, "/catalog/default/group/team-payments").await;
    for heading in ["Members", "Parent group", "Owns"] {
        assert!(group.contains(&format!("\">{heading}</h2>")), "{heading}");
    }
    let (_, user, _) = page(&server, "/catalog/default/user/ada").await;
    assert!(user.contains("\">Groups</h2>"));

    // An API that is not OpenAPI shows its definition as highlighted source.
    let (_, asyncapi, _) = page(
        &server,
        "/catalog/default/api/payment-events?tab=definition",
    )
    .await;
    assert!(asyncapi.contains("<pre"), "{asyncapi}");
    assert!(asyncapi.contains("<span class=\""), "highlighted");
    assert!(asyncapi.contains("asyncapi"));

    // A URL the catalog cannot read is said so on the register page.
    let (status, import, _) = page(&server, "/catalog-import?url=not-a-url").await;
    assert_eq!(status, 200);
    assert!(import.contains("Invalid target URL not-a-url"), "{import}");

    // Unknown pages: an HTML page with Backstage's error name and message.
    let (status, html, _) = page(&server, "/catalog/default/component/nope").await;
    assert_eq!(status, 404);
    assert!(html.contains("NotFoundError"));
    assert!(html.contains("No entity named &#39;component:default/nope&#39;"));
    // Clients that do not ask for HTML get Backstage's error body.
    let (status, body) = server.get("/catalog/default/component/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["name"], "NotFoundError");
    assert_eq!(body["request"]["url"], "/catalog/default/component/nope");
    assert_eq!(body["response"]["statusCode"], 404);
}

#[tokio::test]
async fn lists_page_through_cursors_and_long_relation_tables_stop_at_fifty() {
    let dir = tempfile::tempdir().unwrap();
    let mut docs: String = (0..60)
        .map(|i| {
            format!(
                "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc-{i:02}\n  annotations: {{backstage.io/techdocs-ref: 'dir:.'}}\nspec:\n  type: library\n  lifecycle: production\n  owner: team-a\n"
            )
        })
        .collect();
    docs.push_str("---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-a\nspec:\n  type: team\n  children: []\n");
    std::fs::write(dir.path().join("many.yaml"), docs).unwrap();
    let config = format!(
        "catalog:\n  locations: [{{type: file, target: '{}/many.yaml'}}]\n",
        dir.path().display()
    );
    let server = Server::start(&config).await;
    server.wait_entity("component/default/svc-59").await;
    server.wait_entity("group/default/team-a").await;
    let names = |html: &str| -> Vec<String> {
        html.split("<td data-label=\"Name\"><a href=\"/catalog/default/component/")
            .skip(1)
            .filter_map(|s| s.split('"').next().map(str::to_string))
            .collect()
    };
    let link = |html: &str, rel: &str| -> Option<String> {
        html.split(&format!("<a rel=\"{rel}\" href=\""))
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(|l| l.replace("&amp;", "&"))
    };
    let (_, first, _) = page(&server, "/catalog?kind=component&type=library").await;
    let first_names = names(&first);
    assert_eq!(first_names.len(), 25);
    assert_eq!(first_names[0], "svc-00");
    let next = link(&first, "next").expect("a next link");
    assert!(next.contains("type=library"), "{next}");
    let (_, second, _) = page(&server, &next).await;
    let second_names = names(&second);
    assert_eq!(second_names.first().map(String::as_str), Some("svc-25"));
    let (_, third, _) = page(&server, &link(&second, "next").expect("a next link")).await;
    assert_eq!(names(&third).len(), 10);
    assert_eq!(names(&third)[9], "svc-59");
    assert!(link(&third, "next").is_none());
    let (_, back, _) = page(&server, &link(&third, "prev").expect("a previous link")).await;
    assert_eq!(names(&back), second_names);

    // The docs index pages the same way, fifty at a time.
    let docs_names = |html: &str| html.matches("<td data-label=\"Docs\">").count();
    let (_, docs_first, _) = page(&server, "/docs").await;
    assert_eq!(docs_names(&docs_first), 50);
    let (_, docs_second, _) = page(&server, &link(&docs_first, "next").expect("a next link")).await;
    assert_eq!(docs_names(&docs_second), 10);

    // A group owning sixty entities lists fifty and links to all of them.
    let (_, group, _) = page(&server, "/catalog/default/group/team-a").await;
    assert_eq!(
        group
            .matches("<td data-label=\"Name\"><a href=\"/catalog/default/component/svc-")
            .count(),
        50
    );
    assert!(group.contains("Showing 50 of 60."), "{group}");
    let all = group
        .split("<a href=\"/catalog?kind=all&amp;owner=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a link to everything the group owns")
        .replace("&amp;", "&");
    let (_, owned, _) = page(&server, &format!("/catalog?kind=all&owner={all}")).await;
    assert!(
        owned.contains("<span class=\"count\" data-total>60</span>"),
        "{owned}"
    );
}
