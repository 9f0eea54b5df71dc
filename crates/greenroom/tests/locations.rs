//! Registered url locations: the write guard, dry runs, conflicts, lookups,
//! and deletion taking the location's entities with it.

mod common;

use common::{FileServer, Server, TOKEN};
use reqwest::Method;
use serde_json::json;

fn config(allow_port: u16) -> String {
    format!(
        "backend:\n  auth:\n    externalAccess: [{{type: static, options: {{token: {TOKEN}, subject: ci}}}}]\n  reading:\n    allow: [{{host: '127.0.0.1:{allow_port}'}}]\ncatalog:\n  locations: []\n  processingInterval: {{seconds: 1}}\n"
    )
}

const SERVICE: &str = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: registered-svc\nspec:\n  type: service\n  lifecycle: experimental\n  owner: team-payments\n";

#[tokio::test]
async fn register_look_up_and_unregister() {
    let files = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(files.path().join("registered")).unwrap();
    std::fs::write(files.path().join("registered/catalog-info.yaml"), SERVICE).unwrap();
    let web = FileServer::start(files.path()).await;
    let server = Server::start(&config(web.port)).await;
    let target = web.url("registered/catalog-info.yaml");
    let body = json!({"type": "url", "target": target});

    // Writes need the token.
    let (status, err) = server
        .send(Method::POST, "/api/catalog/locations", Some(&body), None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        err["error"],
        json!({"name": "AuthenticationError", "message": "Missing credentials"})
    );
    assert_eq!(err["response"]["statusCode"], 401);
    let (status, _) = server
        .send(
            Method::POST,
            "/api/catalog/locations",
            Some(&body),
            Some("wrong"),
        )
        .await;
    assert_eq!(status, 401);

    // A dry run needs no token and stores nothing.
    let (status, dry) = server
        .post("/api/catalog/locations?dryRun=true", &body)
        .await;
    assert_eq!(status, 201, "{dry}");
    assert_eq!(dry["exists"], false);
    assert_eq!(dry["location"]["id"], format!("url:{target}"));
    let kinds: Vec<&str> = dry["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["Location", "Component"]);
    assert_eq!(
        dry["entities"][1]["metadata"]["annotations"]["backstage.io/view-url"],
        target
    );
    let (status, _) = server
        .get("/api/catalog/entities/by-name/component/default/registered-svc")
        .await;
    assert_eq!(status, 404);

    // Register.
    let (status, created) = server
        .send(
            Method::POST,
            "/api/catalog/locations",
            Some(&body),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["entities"], json!([]));
    let id = created["location"]["id"].as_str().unwrap().to_string();
    let entity_ref = greenroom_model::location::location_entity_ref("url", &target);
    assert_eq!(
        created["location"],
        json!({"id": id, "type": "url", "target": target, "entityRef": entity_ref})
    );

    let entity = server.wait_entity("component/default/registered-svc").await;
    let annotations = &entity["metadata"]["annotations"];
    assert_eq!(
        annotations["backstage.io/managed-by-location"],
        format!("url:{target}")
    );
    assert_eq!(
        annotations["backstage.io/managed-by-origin-location"],
        format!("url:{target}")
    );
    assert_eq!(
        annotations["backstage.io/source-location"],
        format!("url:{}", web.url("registered/"))
    );

    let (status, conflict) = server
        .send(
            Method::POST,
            "/api/catalog/locations",
            Some(&body),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        conflict["error"]["message"],
        format!("Location url:{target} already exists")
    );
    let (status, again) = server
        .send(
            Method::POST,
            "/api/catalog/locations?onConflict=refresh",
            Some(&body),
            Some(TOKEN),
        )
        .await;
    assert_eq!(
        (status, again["location"]["id"].as_str()),
        (201, Some(id.as_str()))
    );

    let (_, list) = server.get("/api/catalog/locations").await;
    assert_eq!(list, json!([{"data": created["location"]}]));
    let (status, one) = server.get(&format!("/api/catalog/locations/{id}")).await;
    assert_eq!((status, &one), (200, &created["location"]));
    let (status, by_entity) = server
        .get("/api/catalog/locations/by-entity/component/default/registered-svc")
        .await;
    assert_eq!((status, &by_entity), (200, &created["location"]));
    let (_, by_query) = server
        .post(
            "/api/catalog/locations/by-query",
            &json!({"query": {"type": "url"}, "limit": 5}),
        )
        .await;
    assert_eq!(by_query["totalItems"], 1);
    assert_eq!(by_query["items"], json!([created["location"]]));
    let (_, none) = server
        .post(
            "/api/catalog/locations/by-query",
            &json!({"query": {"type": "file"}}),
        )
        .await;
    assert_eq!(none["totalItems"], 0);

    // PUT changes the target; a missing id is 404 and a taken target 409.
    let moved = web.url("registered/catalog-info.yml");
    let (status, put) = server
        .send(
            Method::PUT,
            &format!("/api/catalog/locations/{id}"),
            Some(&json!({"type": "url", "target": moved})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["target"], moved);
    assert_eq!(put["id"], id);
    let (status, _) = server
        .send(
            Method::PUT,
            "/api/catalog/locations/nope",
            Some(&json!({"type": "url", "target": target})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .send(
            Method::PUT,
            &format!("/api/catalog/locations/{id}"),
            Some(&json!({"type": "url", "target": target})),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, back) = server
        .send(
            Method::PUT,
            &format!("/api/catalog/locations/{id}"),
            Some(&json!({"type": "url", "target": target})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(
        (status, back["target"].as_str()),
        (200, Some(target.as_str()))
    );
    // Moving away may have orphaned (and deleted) the entity; it comes back
    // under the original location.
    server
        .wait_for(20, "registered-svc under its location again", || async {
            let (s, a) = server
                .get("/api/catalog/entities/by-name/component/default/registered-svc/ancestry")
                .await;
            (s == 200 && a["items"][0]["parentEntityRefs"] == json!([entity_ref])).then_some(())
        })
        .await;

    let (status, ancestry) = server
        .get("/api/catalog/entities/by-name/component/default/registered-svc/ancestry")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        ancestry["items"][0]["parentEntityRefs"],
        json!([entity_ref])
    );

    // Type rules and body rules.
    let (status, err) = server
        .send(
            Method::POST,
            "/api/catalog/locations",
            Some(&json!({"type": "file", "target": "/etc/passwd"})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        err["error"]["message"],
        "Registered locations must be of an allowed type [\"url\"]"
    );
    let (status, _) = server
        .send(
            Method::POST,
            "/api/catalog/locations",
            Some(&json!({"type": "url", "target": target, "x": 1})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 400);

    // Unregistering deletes the location's entities (orphan strategy delete).
    let (status, _) = server
        .send(
            Method::DELETE,
            &format!("/api/catalog/locations/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = server
        .send(
            Method::DELETE,
            &format!("/api/catalog/locations/{id}"),
            None,
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 204, "{}", server.log());
    server
        .wait_for(15, "registered-svc to be deleted", || async {
            let (s, _) = server
                .get("/api/catalog/entities/by-name/component/default/registered-svc")
                .await;
            (s == 404).then_some(())
        })
        .await;
    let (status, err) = server.get(&format!("/api/catalog/locations/{id}")).await;
    assert_eq!(
        (status, err["error"]["message"].clone()),
        (404, json!(format!("Found no location with ID {id}")))
    );
}

#[tokio::test]
async fn reading_is_limited_to_allowed_hosts_and_readonly_mode_blocks_writes() {
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("c.yaml"), SERVICE).unwrap();
    let web = FileServer::start(files.path()).await;
    // The allow-list names another port: reading must be refused.
    let server =
        Server::start(&config(web.port + 1).replace("catalog:\n", "catalog:\n  readonly: true\n"))
            .await;
    let (status, dry) = server
        .post(
            "/api/catalog/locations?dryRun=true",
            &json!({"type": "url", "target": web.url("c.yaml")}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        dry["error"]["message"]
            .as_str()
            .unwrap()
            .contains("backend.reading.allow"),
        "{dry}"
    );
    let (status, err) = server
        .send(
            Method::POST,
            "/api/catalog/locations",
            Some(&json!({"type": "url", "target": web.url("c.yaml")})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(
        (status, err["error"]["message"].as_str()),
        (403, Some("This operation not allowed in readonly mode"))
    );
}

#[tokio::test]
async fn analyze_location_finds_existing_files_or_suggests_a_component() {
    let files = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(files.path().join("acme/shop")).unwrap();
    std::fs::write(files.path().join("acme/shop/catalog-info.yaml"), SERVICE).unwrap();
    let web = FileServer::start(files.path()).await;
    let server = Server::start(&config(web.port)).await;
    let (status, found) = server
        .post(
            "/api/catalog/analyze-location",
            &json!({"location": {"type": "url", "target": web.url("acme/shop")}}),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        found["existingEntityFiles"][0]["entity"]["metadata"]["name"],
        "registered-svc"
    );
    assert_eq!(found["existingEntityFiles"][0]["isRegistered"], false);
    let (_, suggested) = server
        .post(
            "/api/catalog/analyze-location",
            &json!({"location": {"type": "url", "target": web.url("acme/empty")}}),
        )
        .await;
    let entity = &suggested["generateEntities"][0]["entity"];
    assert_eq!(entity["metadata"]["name"], "empty");
    assert_eq!(
        entity["spec"],
        json!({"type": "other", "lifecycle": "unknown"})
    );
}
