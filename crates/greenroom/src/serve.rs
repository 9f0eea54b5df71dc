//! `greenroom serve`: wire configuration, store, engine and HTTP together.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use greenroom_catalog::rules::Rules;
use greenroom_catalog::{Engine, EngineOptions, Processor, Readers};
use greenroom_config::{ConfigSource, DatabaseSettings, Settings, load_config};
use greenroom_scaffolder::{Integrations, Scaffolder, ScaffolderSettings};
use greenroom_server::AppState;
use greenroom_server::scaffolder::CatalogAccess;
use greenroom_store::Store;
use greenroom_techdocs::DocsService;
use tokio::sync::watch;

const DEFAULT_CONFIG: &str = include_str!("default-config.yaml");

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("GREENROOM_LOG_FORMAT").is_ok_and(|f| f == "json") {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

/// Loads the built-in defaults, then the `--config` files, then `APP_CONFIG_*`.
pub fn load_settings(
    config: &[PathBuf],
    env: &HashMap<String, String>,
) -> anyhow::Result<Settings> {
    let mut sources = vec![ConfigSource::Text {
        name: "default-config.yaml".into(),
        yaml: DEFAULT_CONFIG.into(),
    }];
    sources.extend(config.iter().cloned().map(ConfigSource::File));
    let raw = load_config(&sources, env)?;
    let mut settings = Settings::from_value(raw)?;
    // The local default has no tokens: writes stay open only while the portal
    // listens on loopback and no configuration chose otherwise.
    let explicit = settings
        .raw
        .pointer("/backend/auth/dangerouslyDisableDefaultAuthPolicy")
        .is_some();
    if !explicit && settings.auth_tokens.is_empty() && is_loopback(&settings.listen.host) {
        settings.auth_disabled = true;
    }
    Ok(settings)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Rules for `catalog.rules` plus the per-location ones, with file targets resolved.
fn build_rules(settings: &Settings, locations: &[(String, String, Option<String>)]) -> Rules {
    let per_location = settings
        .locations
        .iter()
        .zip(locations)
        .filter(|(l, _)| !l.rules.is_empty())
        .map(|(l, (kind, target, _))| (kind.clone(), target.clone(), l.rules.clone()))
        .collect();
    Rules::new(settings.rules.clone(), per_location)
}

/// Configured file targets resolve against the working directory, as in Backstage.
fn resolve_locations(settings: &Settings) -> anyhow::Result<Vec<(String, String, Option<String>)>> {
    settings
        .locations
        .iter()
        .map(|l| {
            let target = if l.kind == "file" {
                let abs = std::path::absolute(&l.target)
                    .with_context(|| format!("resolving {}", l.target))?;
                greenroom_catalog::readers::normalize(&abs)
                    .to_string_lossy()
                    .into_owned()
            } else {
                l.target.clone()
            };
            Ok((l.kind.clone(), target, l.presence.clone()))
        })
        .collect()
}

pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    match &settings.database {
        DatabaseSettings::Sqlite { path } => {
            if path != ":memory:"
                && let Some(parent) = Path::new(path)
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            Store::open_sqlite(path)
                .await
                .with_context(|| format!("opening SQLite database {path}"))
        }
        DatabaseSettings::Postgres { .. } => {
            bail!(
                "backend.database.client 'pg' is not available in this build yet; use better-sqlite3"
            )
        }
    }
}

fn build_scaffolder(
    store: &Store,
    engine: &std::sync::Arc<Engine>,
    settings: &Settings,
) -> anyhow::Result<std::sync::Arc<Scaffolder>> {
    let scaffolder_settings = ScaffolderSettings::from_config(&settings.raw)?;
    let catalog = CatalogAccess {
        store: store.clone(),
        engine: engine.clone(),
        settings: settings.clone(),
    };
    Ok(Scaffolder::new(
        store.clone(),
        scaffolder_settings,
        std::sync::Arc::new(Integrations::from_config(&settings.raw)),
        Some(std::sync::Arc::new(catalog)),
    ))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub async fn run(config: Vec<PathBuf>) -> anyhow::Result<()> {
    init_logging();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env: HashMap<String, String> = std::env::vars().collect();
    let settings = load_settings(&config, &env)?;
    let store = open_store(&settings).await?;
    let locations = resolve_locations(&settings)?;
    let processor = Processor::new(
        Readers::new(settings.reading_allow.clone()),
        build_rules(&settings, &locations),
    );
    let engine = Engine::new(
        store.clone(),
        processor,
        EngineOptions {
            interval: settings.processing_interval,
            orphan_strategy: settings.orphan_strategy,
            config_locations: locations,
            batch_size: 1000,
        },
    );
    engine.apply_config_locations().await?;
    engine.sync_registered_locations().await?;

    let host = if settings.listen.host.is_empty() {
        "0.0.0.0"
    } else {
        settings.listen.host.as_str()
    };
    let addr: SocketAddr = format!("{host}:{}", settings.listen.port)
        .parse()
        .with_context(|| format!("invalid listen address {host}:{}", settings.listen.port))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    if settings.auth_disabled {
        tracing::warn!(
            "write guard is off: anyone who can reach {addr} may register locations and delete entities"
        );
    }
    let scaffolder = build_scaffolder(&store, &engine, &settings)?;
    let docs = std::sync::Arc::new(DocsService::new(
        settings
            .raw
            .pointer("/techdocs/builder")
            .and_then(|v| v.as_str())
            .unwrap_or("local")
            == "local",
        greenroom_techdocs::publisher_from_config(&settings.raw)?,
        std::env::temp_dir().join(format!("greenroom-techdocs-{}", std::process::id())),
    ));
    let state = AppState::new(
        store.clone(),
        engine.clone(),
        scaffolder.clone(),
        docs.clone(),
        settings,
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let engine_task = tokio::spawn(engine.clone().run(stop_rx.clone()));
    let scaffolder_task = tokio::spawn(scaffolder.run(stop_rx.clone()));
    // Sites that CI publishes (techdocs.builder: external) reach the search
    // index through this sweep.
    let index_store = store.clone();
    let mut index_stop = stop_rx;
    tokio::spawn(async move {
        loop {
            greenroom_server::search::index_all(&index_store, &docs).await;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                _ = index_stop.wait_for(|s| *s) => return,
            }
        }
    });
    tracing::info!(%addr, "greenroom listening");

    let drain_state = state.clone();
    greenroom_server::serve(listener, state, async move {
        shutdown_signal().await;
        tracing::info!("shutting down: readiness now fails, draining in-flight requests");
        drain_state.shutting_down.store(true, Ordering::Release);
        let _ = stop_tx.send(true);
    })
    .await
    .context("HTTP server failed")?;
    // The engine finishes its current batch (each write is one transaction).
    let _ = tokio::time::timeout(Duration::from_secs(3), engine_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(3), scaffolder_task).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
