//! The catalog REST API against the real server and the fixture catalog.

mod common;

use common::{Server, copy_dir, data_dir, refs};
use serde_json::{Value, json};

const CONFIG: &str = r#"
catalog:
  locations:
    - {type: file, target: "{DIR}/catalog/catalog-info.yaml"}
  rules:
    - allow: [Component, API, Resource, System, Domain, Group, User, Location]
  processingInterval: {seconds: 2}
"#;

async fn fixture_server() -> Server {
    let server = Server::start_with(
        CONFIG,
        |dir| copy_dir(&data_dir().join("fixture-catalog"), &dir.join("catalog")),
        &[],
    )
    .await;
    server
        .wait_for(20, "the fixture catalog", || async {
            let (_, v) = server.get("/api/catalog/entities?fields=kind").await;
            (v.as_array().map_or(0, Vec::len) == 12).then_some(())
        })
        .await;
    server
}

fn cases(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(data_dir().join(file)).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[tokio::test]
async fn filters_follow_backstage_semantics() {
    let server = fixture_server().await;
    for case in cases("filters.yaml") {
        let name = case["name"].as_str().unwrap();
        let query: Vec<String> = case["filter"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("filter={}", urlencode(f.as_str().unwrap())))
            .collect();
        let expect: Vec<String> = serde_json::from_value(case["expect"].clone()).unwrap();
        let (status, list) = server
            .get(&format!("/api/catalog/entities?{}", query.join("&")))
            .await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(refs(&list), expect, "GET /entities: {name}");
        let (_, page) = server
            .get(&format!(
                "/api/catalog/entities/by-query?{}",
                query.join("&")
            ))
            .await;
        assert_eq!(refs(&page["items"]), expect, "by-query: {name}");
        assert_eq!(page["totalItems"], expect.len(), "totalItems: {name}");
    }
}

#[tokio::test]
async fn predicate_bodies() {
    let server = fixture_server().await;
    for case in cases("predicates.yaml") {
        let name = case["name"].as_str().unwrap();
        let expect: Vec<String> = serde_json::from_value(case["expect"].clone()).unwrap();
        let (status, page) = server
            .post(
                "/api/catalog/entities/by-query",
                &json!({"query": case["query"]}),
            )
            .await;
        assert_eq!(status, 200, "{name}: {page}");
        assert_eq!(refs(&page["items"]), expect, "{name}");
    }
    let (status, body) = server
        .post(
            "/api/catalog/entities/by-query",
            &json!({"query": {"$all": [], "kind": "x"}}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["name"].as_str()),
        (400, Some("InputError"))
    );
}

fn urlencode(s: &str) -> String {
    url_escape(s)
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn single_entities_and_their_errors() {
    let server = fixture_server().await;
    let (status, beta) = server
        .get("/api/catalog/entities/by-name/COMPONENT/Default/beta")
        .await;
    assert_eq!(status, 200);
    assert_eq!(beta["metadata"]["name"], "Beta", "authored casing is kept");
    assert_eq!(beta["metadata"]["namespace"], "default");
    assert_eq!(
        beta["relations"],
        json!([
            {"type": "dependsOn", "targetRef": "component:default/alpha"},
            {"type": "ownedBy", "targetRef": "group:ops/team-b"}
        ])
    );
    let location = beta["metadata"]["annotations"]["backstage.io/managed-by-location"]
        .as_str()
        .unwrap();
    assert!(
        location.starts_with("file:/") && location.ends_with("/catalog/software.yaml"),
        "{location}"
    );
    let origin = beta["metadata"]["annotations"]["backstage.io/managed-by-origin-location"]
        .as_str()
        .unwrap();
    assert!(origin.ends_with("/catalog/catalog-info.yaml"), "{origin}");
    assert_eq!(beta["metadata"]["etag"].as_str().unwrap().len(), 40);

    let uid = beta["metadata"]["uid"].as_str().unwrap();
    let (status, by_uid) = server
        .get(&format!("/api/catalog/entities/by-uid/{uid}"))
        .await;
    assert_eq!((status, &by_uid), (200, &beta));

    let (status, body) = server
        .get("/api/catalog/entities/by-name/component/default/does-not-exist")
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({
            "error": {"name": "NotFoundError", "message": "No entity named 'does-not-exist' found, with kind 'component' in namespace 'default'"},
            "request": {"method": "GET", "url": "/entities/by-name/component/default/does-not-exist"},
            "response": {"statusCode": 404}
        })
    );
    let (status, body) = server
        .get("/api/catalog/entities/by-uid/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"]["message"],
        "No entity with uid 00000000-0000-0000-0000-000000000000"
    );

    let (status, body) = server.get("/api/catalog/entities/by-query?limit=-1").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": {"name": "InputError", "message": "request/query/limit must be >= 0"},
               "request": {"method": "GET", "url": "/entities/by-query?limit=-1"}, "response": {"statusCode": 400}})
    );
    let (status, body) = server.get("/api/catalog/entities?filter==x").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "Invalid filter, '=x' is not a valid statement (expected a string on the form a=b or a= or a)"
    );
    let (status, body) = server
        .get("/api/catalog/entities?fields=relations[0]")
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("array type fields are not supported"))
    );

    // An unknown route is a bare 404.
    let r = server
        .client
        .get(server.url("/api/catalog/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "");
}

#[tokio::test]
async fn projection_ordering_and_legacy_paging() {
    let server = fixture_server().await;
    let (_, list) = server.get("/api/catalog/entities?filter=kind=component&fields=kind,metadata.name&order=desc:metadata.name").await;
    assert_eq!(
        list,
        json!([
            {"kind": "Component", "metadata": {"name": "gamma"}},
            {"kind": "Component", "metadata": {"name": "Beta"}},
            {"kind": "Component", "metadata": {"name": "alpha"}}
        ])
    );
    let (_, page) = server
        .get("/api/catalog/entities/by-query?filter=kind=component&orderField=metadata.name,asc&limit=2&fields=metadata.name")
        .await;
    assert_eq!(
        page["items"],
        json!([{"metadata": {"name": "alpha"}}, {"metadata": {"name": "Beta"}}])
    );
    assert_eq!(page["totalItems"], 3);
    assert!(page["pageInfo"]["nextCursor"].is_string());
    assert!(page["pageInfo"].get("prevCursor").is_none());

    // Legacy offset/limit paging with a Link header to the next page.
    let r = server
        .client
        .get(server.url("/api/catalog/entities?filter=kind=component&limit=1&offset=1&fields=metadata.name&order=asc:metadata.name"))
        .send()
        .await
        .unwrap();
    let link = r
        .headers()
        .get("link")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!([{"metadata": {"name": "Beta"}}]));
    assert!(link.starts_with("</entities?filter=kind%3Dcomponent&limit=1&fields=metadata.name&order=asc%3Ametadata.name&after="), "{link}");
    assert!(link.ends_with(">; rel=\"next\""));
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let (_, rest) = server.get(&format!("/api/catalog{next}")).await;
    assert_eq!(
        rest,
        json!([{"metadata": {"name": "gamma"}}]),
        "the Link leads to the next page"
    );
}

#[tokio::test]
async fn facets_by_refs_full_text_and_ancestry() {
    let server = fixture_server().await;
    let (status, facets) = server.get("/api/catalog/entity-facets?facet=kind&facet=spec.type&filter=metadata.namespace=default").await;
    assert_eq!(status, 200);
    assert_eq!(
        facets["facets"]["kind"],
        json!([{"value": "API", "count": 1}, {"value": "Component", "count": 2}, {"value": "Group", "count": 1},
               {"value": "Location", "count": 2}, {"value": "Resource", "count": 1}, {"value": "System", "count": 1},
               {"value": "User", "count": 2}])
    );
    assert_eq!(
        facets["facets"]["spec.type"],
        json!([{"value": "database", "count": 1}, {"value": "file", "count": 2}, {"value": "openapi", "count": 1},
               {"value": "service", "count": 1}, {"value": "team", "count": 1}, {"value": "website", "count": 1}])
    );
    let (status, body) = server.get("/api/catalog/entity-facets").await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("Missing facet parameter"))
    );
    let (_, facets) = server
        .post(
            "/api/catalog/entity-facets",
            &json!({"facets": ["metadata.tags"], "query": {"kind": "component"}}),
        )
        .await;
    assert_eq!(
        facets["facets"]["metadata.tags"],
        json!([{"value": "java", "count": 2}, {"value": "typescript", "count": 1}, {"value": "web", "count": 1}])
    );

    let (status, body) = server
        .post("/api/catalog/entities/by-refs", &json!({"entityRefs": ["component:default/BETA", "component:default/missing", "group:ops/team-b"], "fields": ["metadata.name"]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"items": [{"metadata": {"name": "Beta"}}, null, {"metadata": {"name": "team-b"}}]})
    );
    let (status, body) = server
        .post(
            "/api/catalog/entities/by-refs?filter=kind=group",
            &json!({"entityRefs": ["component:default/beta", "group:ops/team-b"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["items"][0].is_null() && body["items"][1]["kind"] == "Group");
    let (status, body) = server
        .post(
            "/api/catalog/entities/by-refs?fields=metadata.name,kind",
            &json!({"entityRefs": []}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("Unknown query parameter 'fields'"))
    );

    let (_, page) = server
        .get("/api/catalog/entities/by-query?fullTextFilterTerm=CHECKOUT&fullTextFilterFields=metadata.description,metadata.name&fields=metadata.name")
        .await;
    assert_eq!(page["items"], json!([{"metadata": {"name": "alpha"}}]));

    let (status, ancestry) = server
        .get("/api/catalog/entities/by-name/component/default/alpha/ancestry")
        .await;
    assert_eq!(status, 200);
    assert_eq!(ancestry["rootEntityRef"], "component:default/alpha");
    let chain: Vec<String> = ancestry["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["entity"]["kind"],
                i["parentEntityRefs"].as_array().unwrap().len()
            )
        })
        .collect();
    assert_eq!(
        chain,
        vec!["\"Component\":1", "\"Location\":1", "\"Location\":0"]
    );
}

#[tokio::test]
async fn validate_entity() {
    let server = fixture_server().await;
    let good = json!({"location": "url:https://example.com/catalog-info.yaml", "entity": {
        "apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "ok-one"},
        "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}}});
    let (status, _) = server.post("/api/catalog/validate-entity", &good).await;
    assert_eq!(status, 200);
    let mut bad = good.clone();
    bad["entity"]["metadata"]["name"] = json!("Bad Name!");
    let (status, body) = server.post("/api/catalog/validate-entity", &bad).await;
    assert_eq!(status, 400);
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert_eq!(body["errors"][0]["name"], "InputError");
    assert!(message.starts_with("Policy check failed for component:default/bad name!; caused by Error: \"metadata.name\" is not valid;"), "{message}");
    let (status, body) = server
        .post("/api/catalog/validate-entity", &json!({"entity": {}}))
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (
            400,
            Some("request/body must have required property 'location'")
        )
    );
    let r = server
        .client
        .post(server.url("/api/catalog/validate-entity"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Illegal Content-Type");
}
