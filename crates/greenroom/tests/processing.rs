//! Ingestion: every kind of bad descriptor stays visible, failing updates keep
//! the last good version, orphans go away, the first location keeps its claim.

mod common;

use std::path::Path;

use common::{Server, copy_dir, data_dir};
use serde_json::{Value, json};

const HEADER: &str = "apiVersion: backstage.io/v1alpha1";

fn component(name: &str, extra: &str) -> String {
    format!(
        "{HEADER}\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n{extra}"
    )
}

fn expected_cases() -> Vec<Value> {
    serde_saphyr::from_str(
        &std::fs::read_to_string(data_dir().join("invalid-expected.yaml")).unwrap(),
    )
    .unwrap()
}

/// Status items carry "Name: message"; the errors listing keeps them apart.
fn messages(items: &Value) -> String {
    let line = |i: &Value| match (i.get("type"), i["name"].as_str()) {
        (None, Some(name)) => format!("{name}: {}", i["message"].as_str().unwrap_or_default()),
        _ => i["message"].as_str().unwrap_or_default().to_string(),
    };
    items
        .as_array()
        .map(|a| a.iter().map(line).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

#[tokio::test]
async fn every_kind_of_bad_descriptor_is_visible_through_the_api() {
    let prepare = |dir: &Path| {
        copy_dir(&data_dir().join("invalid"), &dir.join("catalog"));
        let cases = expected_cases();
        let targets: Vec<String> = cases
            .iter()
            .map(|c| format!("./{}", c["file"].as_str().unwrap()))
            .collect();
        std::fs::write(
            dir.join("catalog/catalog-info.yaml"),
            format!("{HEADER}\nkind: Location\nmetadata:\n  name: broken-things\nspec:\n  targets: {}\n", serde_json::to_string(&targets).unwrap()),
        )
        .unwrap();
        std::fs::write(dir.join("catalog/good.yaml"), component("good", "")).unwrap();
    };
    let config = "catalog:\n  locations:\n    - {type: file, target: \"{DIR}/catalog/catalog-info.yaml\"}\n    - {type: file, target: \"{DIR}/catalog/good.yaml\"}\n  rules: [{allow: [Component, API, Location, Widget]}]\n  processingInterval: {seconds: 1}\n";
    let server = Server::start_with(config, prepare, &[]).await;
    server.wait_entity("component/default/good").await;

    let cases = expected_cases();
    let root = server
        .wait_for(20, "all errors on the Location", || async {
            let (_, root) = server
                .get("/api/catalog/entities/by-name/location/default/broken-things")
                .await;
            let text = messages(&root["status"]["items"]);
            cases
                .iter()
                .filter(|c| c.get("ref").is_none())
                .all(|c| text.contains(c["api"].as_str().unwrap()))
                .then_some(root)
        })
        .await;
    let on_location = messages(&root["status"]["items"]);
    assert!(
        root["status"]["items"][0]["type"] == "backstage.io/catalog-processing"
            && root["status"]["items"][0]["level"] == "error"
    );

    let listed = |list: &Value, expected: &str| {
        list["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|i| messages(&i["errors"]).contains(expected))
        })
    };
    let errors = server
        .wait_for(20, "the processing errors listing", || async {
            let (_, list) = server.get("/api/catalog/processing-errors").await;
            cases
                .iter()
                .all(|c| listed(&list, c["api"].as_str().unwrap()))
                .then_some(list)
        })
        .await;
    for case in &cases {
        let expected = case["api"].as_str().unwrap();
        let file = case["file"].as_str().unwrap();
        assert!(
            listed(&errors, expected),
            "{file}: '{expected}' missing from /processing-errors: {errors}"
        );
        if let Some(r) = case["ref"].as_str() {
            let entry = errors["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["entityRef"] == r)
                .unwrap_or_else(|| panic!("{r} not listed"));
            // A new entity that never validated is not in the catalog, so its
            // error also shows on the Location that read it.
            if entry["inCatalog"] == false {
                assert!(
                    on_location.contains(expected),
                    "{file}: not on the Location: {on_location}"
                );
            }
        }
    }
    // The valid entity next to them made it in.
    let (status, _) = server
        .get("/api/catalog/entities/by-name/component/default/good")
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn failing_updates_keep_the_last_good_version_and_orphans_are_deleted() {
    let prepare = |dir: &Path| {
        std::fs::write(
            dir.join("team.yaml"),
            format!("{}---\n{}", component("svc", ""), component("extra", "")),
        )
        .unwrap();
    };
    let config = "catalog:\n  locations: [{type: file, target: \"{DIR}/team.yaml\"}]\n  processingInterval: {seconds: 1}\n";
    let server = Server::start_with(config, prepare, &[]).await;
    let before = server.wait_entity("component/default/svc").await;
    server.wait_entity("component/default/extra").await;
    let component_facet = |f: &Value| {
        f["facets"]["kind"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["value"] == "Component")
            .map(|v| v["count"].clone())
    };
    let (_, facets) = server.get("/api/catalog/entity-facets?facet=kind").await;
    assert_eq!(component_facet(&facets), Some(json!(2)));
    let (_, page) = server
        .get("/api/catalog/entities/by-query?filter=kind=component&limit=1")
        .await;
    assert_eq!(page["totalItems"], 2);
    let file = server.dir.path().join("team.yaml");

    // Break svc (no owner) and drop extra from the file.
    std::fs::write(&file, format!("{HEADER}\nkind: Component\nmetadata:\n  name: svc\nspec:\n  type: service\n  lifecycle: experimental\n")).unwrap();
    let broken = server
        .wait_for(20, "svc to carry its error", || async {
            let (_, e) = server
                .get("/api/catalog/entities/by-name/component/default/svc")
                .await;
            e.get("status").is_some().then_some(e)
        })
        .await;
    assert_eq!(broken["spec"], before["spec"], "the last good spec is kept");
    assert!(
        messages(&broken["status"]["items"]).contains("\"owner\" is a required property"),
        "{broken}"
    );
    server
        .wait_for(20, "extra to be deleted as an orphan", || async {
            let (s, _) = server
                .get("/api/catalog/entities/by-name/component/default/extra")
                .await;
            (s == 404).then_some(())
        })
        .await;
    // Cached facets and counts follow the change (they are keyed by catalog generation).
    let (_, facets) = server.get("/api/catalog/entity-facets?facet=kind").await;
    assert_eq!(component_facet(&facets), Some(json!(1)));
    let (_, page) = server
        .get("/api/catalog/entities/by-query?filter=kind=component&limit=1")
        .await;
    assert_eq!(page["totalItems"], 1);

    // Fixing the file clears the error.
    std::fs::write(&file, component("svc", "  system: shop\n")).unwrap();
    let fixed = server
        .wait_for(20, "svc to be fixed", || async {
            let (_, e) = server
                .get("/api/catalog/entities/by-name/component/default/svc")
                .await;
            (e["spec"]["system"] == "shop").then_some(e)
        })
        .await;
    assert!(fixed.get("status").is_none(), "{fixed}");
    assert_eq!(
        fixed["metadata"]["uid"], before["metadata"]["uid"],
        "the uid is stable across updates"
    );
    assert_ne!(fixed["metadata"]["etag"], before["metadata"]["etag"]);
}

#[tokio::test]
async fn orphans_are_kept_and_marked_with_orphan_strategy_keep_and_refresh_works() {
    let prepare = |dir: &Path| std::fs::write(dir.join("a.yaml"), component("kept", "")).unwrap();
    let config = "catalog:\n  locations: [{type: file, target: \"{DIR}/a.yaml\"}]\n  orphanStrategy: keep\n  processingInterval: {minutes: 10}\n";
    let server = Server::start_with(config, prepare, &[]).await;
    server.wait_entity("component/default/kept").await;
    std::fs::write(server.dir.path().join("a.yaml"), "").unwrap();
    // The interval is long: only a refresh makes the change visible quickly.
    let (status, _) = server
        .post(
            "/api/catalog/refresh",
            &json!({"entityRef": "component:default/kept"}),
        )
        .await;
    assert_eq!(status, 200);
    let orphan = server
        .wait_for(20, "the orphan mark", || async {
            let (_, e) = server
                .get("/api/catalog/entities/by-name/component/default/kept")
                .await;
            (e["metadata"]["annotations"]["backstage.io/orphan"] == "true").then_some(e)
        })
        .await;
    assert_eq!(orphan["kind"], "Component");
    let (status, body) = server
        .post(
            "/api/catalog/refresh",
            &json!({"entityRef": "component:default/nope"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (
            404,
            Some("Failed to schedule component:default/nope for refresh")
        )
    );
}

#[tokio::test]
async fn the_first_location_keeps_its_claim_and_deleted_entities_return_from_source() {
    let prepare = |dir: &Path| {
        std::fs::write(
            dir.join("first.yaml"),
            component("shared", "  system: from-first\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("second.yaml"),
            component("shared", "  system: from-second\n"),
        )
        .unwrap();
    };
    let config = "catalog:\n  locations:\n    - {type: file, target: \"{DIR}/first.yaml\"}\n    - {type: file, target: \"{DIR}/second.yaml\"}\n  processingInterval: {seconds: 1}\n";
    let server = Server::start_with(config, prepare, &[]).await;
    let shared = server.wait_entity("component/default/shared").await;
    // Let a few passes run: ownership must not flip.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (_, again) = server
        .get("/api/catalog/entities/by-name/component/default/shared")
        .await;
    assert_eq!(again["spec"]["system"], shared["spec"]["system"]);
    assert!(
        server
            .log()
            .contains("Detected conflicting entityRef component:default/shared"),
        "the conflict is logged"
    );

    // Deleting an entity that is still in its source brings it back.
    let uid = again["metadata"]["uid"].as_str().unwrap();
    let r = server
        .client
        .delete(server.url(&format!("/api/catalog/entities/by-uid/{uid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    server.wait_entity("component/default/shared").await;
}
