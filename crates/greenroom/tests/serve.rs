//! `greenroom serve` as an operator sees it: the embedded default, config
//! layering, health, metrics and a clean SIGTERM.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use serde_json::json;

#[tokio::test]
async fn the_embedded_default_serves_the_bundled_example_catalog() {
    let server = Server::start_default().await;
    assert!(
        server
            .dir
            .path()
            .join("greenroom-data/catalog.sqlite")
            .exists(),
        "SQLite in a local file"
    );
    let facets = server
        .wait_for(20, "the example catalog", || async {
            let (_, f) = server.get("/api/catalog/entity-facets?facet=kind").await;
            (f["facets"]["kind"].as_array().map_or(0, Vec::len) >= 9).then_some(f)
        })
        .await;
    let kinds: Vec<&str> = facets["facets"]["kind"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "API",
            "Component",
            "Domain",
            "Group",
            "Location",
            "Resource",
            "System",
            "Template",
            "User"
        ]
    );
    let api = server.wait_entity("api/default/cart-api").await;
    assert!(
        api["spec"]["definition"]
            .as_str()
            .unwrap()
            .starts_with("openapi: 3.0.3"),
        "$text placeholders resolve inside the bundle"
    );
    let (_, asyncapi) = server
        .get("/api/catalog/entities/by-name/api/default/payment-events")
        .await;
    assert!(
        asyncapi["spec"]["definition"]
            .as_str()
            .unwrap()
            .starts_with("asyncapi: 2.6.0")
    );
    let (_, groups) = server
        .get("/api/catalog/entities?filter=kind=group&fields=metadata.name")
        .await;
    assert!(groups.as_array().unwrap().len() >= 3);
    let (_, errors) = server.get("/api/catalog/processing-errors").await;
    assert_eq!(errors, json!({"items": []}), "the bundled catalog is clean");
    // Locally, on loopback with no tokens configured, writes are open.
    let (status, _) = server
        .post(
            "/api/catalog/refresh",
            &json!({"entityRef": "component:default/greenroom"}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn user_locations_replace_the_bundled_ones_and_env_overrides_win() {
    let prepare = |dir: &std::path::Path| {
        std::fs::write(
            dir.join("mine.yaml"),
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: only-mine}\nspec: {type: service, lifecycle: production, owner: me}\n",
        )
        .unwrap();
    };
    let config = "catalog:\n  locations: [{type: file, target: \"${MY_CATALOG}/mine.yaml\"}]\n";
    let dir_probe = tempfile::tempdir().unwrap();
    drop(dir_probe);
    // MY_CATALOG is set below to the server's own directory via {DIR}.
    let server = Server::start_with(
        &config.replace("${MY_CATALOG}", "${MY_CATALOG:-{DIR}}"),
        prepare,
        &[("APP_CONFIG_catalog_readonly", "true")],
    )
    .await;
    server.wait_entity("component/default/only-mine").await;
    let (_, all) = server
        .get("/api/catalog/entities?fields=kind,metadata.name")
        .await;
    assert_eq!(
        all.as_array().unwrap().len(),
        2,
        "the config Location and only-mine: {all}"
    );
    // APP_CONFIG_catalog_readonly=true came from the environment.
    let (status, _) = server
        .post(
            "/api/catalog/locations",
            &json!({"type": "url", "target": "http://127.0.0.1:1/x.yaml"}),
        )
        .await;
    assert!(status == 401 || status == 403, "{status}");
}

#[tokio::test]
async fn health_metrics_and_graceful_shutdown() {
    let mut server = Server::start_default().await;
    for path in [
        "/.backstage/health/v1/liveness",
        "/.backstage/health/v1/readiness",
        "/healthcheck",
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!((status, body), (200, json!({"status": "ok"})), "{path}");
    }
    server.wait_entity("component/default/greenroom").await;
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "http_requests_total{method=\"GET\",route=\"/api/catalog/entities/by-name/{kind}/{namespace}/{name}\",status=\"200\"}",
        "http_request_duration_seconds_bucket",
        "catalog_entities_count{kind=\"Component\"} 5",
        "catalog_processed_entities_total",
        "catalog_processing_lag_seconds",
    ] {
        assert!(metrics.contains(series), "missing {series} in:\n{metrics}");
    }
    // SIGTERM: the process exits by itself, quickly.
    let started = Instant::now();
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(server.pid().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(code) = server.child.try_wait().unwrap() {
            break code;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "did not exit within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "clean exit: {exit:?}\n{}", server.log());
    assert!(server.log().contains("draining in-flight requests"));
}
