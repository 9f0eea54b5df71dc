//! The only crate that knows HTTP: routers for the `/api` plugins, the web
//! UI's pages, health, metrics, the write guard and Backstage's error bodies.

mod body;
mod catalog;
pub mod error;
mod guard;
mod health;
mod observability;
pub mod preview;
pub mod scaffolder;
pub mod search;
mod techdocs;
mod ui;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::middleware;
use greenroom_catalog::Engine;
use greenroom_config::Settings;
use greenroom_scaffolder::Scaffolder;
use greenroom_store::Store;
use greenroom_techdocs::DocsService;

pub use observability::install_metrics;

/// Shared state of every route.
pub struct AppState {
    pub store: Store,
    pub engine: Arc<Engine>,
    pub scaffolder: Arc<Scaffolder>,
    pub docs: Arc<DocsService>,
    pub settings: Settings,
    /// Set when shutdown begins: readiness fails while requests drain.
    pub shutting_down: AtomicBool,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl AppState {
    pub fn new(
        store: Store,
        engine: Arc<Engine>,
        scaffolder: Arc<Scaffolder>,
        docs: Arc<DocsService>,
        settings: Settings,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            engine,
            scaffolder,
            docs,
            settings,
            shutting_down: AtomicBool::new(false),
            metrics: install_metrics(),
        })
    }
}

/// The whole HTTP application.
pub fn app(state: Arc<AppState>) -> Router {
    let catalog = catalog::router()
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::write_guard,
        ))
        .layer(middleware::from_fn(error::error_body));
    let scaffolder = scaffolder::router()
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::write_guard,
        ))
        .layer(middleware::from_fn(error::error_body));
    let techdocs = techdocs::router().layer(middleware::from_fn(error::error_body));
    let search = search::router().layer(middleware::from_fn(error::error_body));
    Router::new()
        .nest("/api/catalog", catalog)
        .nest("/api/techdocs", techdocs)
        .nest("/api/search", search)
        .nest("/api/scaffolder", scaffolder)
        .merge(ui::router())
        .merge(health::router())
        .route("/metrics", axum::routing::get(observability::metrics))
        .layer(middleware::from_fn(observability::track))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            10 * 1024 * 1024,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .with_state(state)
}

/// Serves the application on `listener` until `shutdown` completes, then
/// stops accepting connections and drains the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
