//! A crash (SIGKILL) in the middle of ingestion leaves a catalog that opens
//! and converges to the same final state.

mod common;

use std::collections::HashSet;

use common::Server;
use serde_json::Value;

const COUNT: usize = 3000;

fn catalog(dir: &std::path::Path) {
    let mut text = String::new();
    for i in 0..COUNT {
        text.push_str(&format!(
            "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: c{i:05}}}\nspec: {{type: service, lifecycle: production, owner: team-{}, dependsOn: [component:c{:05}]}}\n",
            i % 7,
            (i + 1) % COUNT
        ));
    }
    std::fs::write(dir.join("many.yaml"), text).unwrap();
}

async fn names(server: &Server) -> Vec<String> {
    let (_, list) = server
        .get("/api/catalog/entities?filter=kind=component&fields=metadata.name")
        .await;
    list.as_array().map_or_else(Vec::new, |a| {
        a.iter()
            .map(|e| {
                e["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    })
}

#[tokio::test]
async fn sigkill_during_ingestion_then_restart_converges() {
    let config = "catalog:\n  locations: [{type: file, target: \"{DIR}/many.yaml\"}]\n  processingInterval: {seconds: 1}\n";
    let mut server = Server::start_with(config, catalog, &[]).await;
    // Kill as soon as ingestion is visibly under way (but not finished).
    server
        .wait_for(30, "ingestion to start", || async {
            let (_, p) = server.get("/api/catalog/entities/by-query?limit=0").await;
            (p["totalItems"].as_u64().unwrap_or(0) > 1).then_some(())
        })
        .await;
    server.kill_and_restart().await;
    let final_names = server
        .wait_for(60, "all components after the restart", || async {
            let n = names(&server).await;
            (n.len() == COUNT).then_some(n)
        })
        .await;
    assert_eq!(
        final_names.iter().collect::<HashSet<_>>().len(),
        COUNT,
        "no duplicates"
    );
    // Relations were rebuilt for everything: each component has its dependency and a dependent.
    let (_, c) = server
        .get("/api/catalog/entities/by-name/component/default/c00042")
        .await;
    let relations: Vec<String> = c["relations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r: &Value| {
            format!(
                "{} {}",
                r["type"].as_str().unwrap(),
                r["targetRef"].as_str().unwrap()
            )
        })
        .collect();
    server
        .wait_for(20, "relations of c00042", || async {
            let (_, c) = server
                .get("/api/catalog/entities/by-name/component/default/c00042")
                .await;
            (c["relations"].as_array().map_or(0, Vec::len) == 3).then_some(())
        })
        .await;
    assert!(relations.len() <= 3, "{relations:?}");
    let (_, errors) = server.get("/api/catalog/processing-errors").await;
    assert_eq!(errors["items"].as_array().unwrap().len(), 0, "{errors}");
}
