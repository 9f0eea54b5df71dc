//! Cursor paging through a catalog of several hundred entities.

mod common;

use std::collections::HashSet;

use common::Server;
use serde_json::Value;

const COUNT: usize = 350;

fn generated(dir: &std::path::Path) {
    let mut text = String::new();
    for i in 0..COUNT {
        // Names out of uid order, some sharing a sort value, to exercise tie-breaks.
        text.push_str(&format!(
            "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: svc-{:03}, title: t{}}}\nspec: {{type: service, lifecycle: production, owner: team-{}}}\n",
            (i * 13) % COUNT,
            i % 10,
            i % 5
        ));
    }
    std::fs::write(dir.join("many.yaml"), text).unwrap();
}

async fn walk(server: &Server, first: &str) -> (Vec<String>, Vec<String>) {
    let (_, mut page) = server.get(first).await;
    let total = page["totalItems"].as_u64().unwrap() as usize;
    let mut names = Vec::new();
    let mut cursors = Vec::new();
    loop {
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["metadata"]["name"].as_str().unwrap().to_string()),
        );
        assert_eq!(
            page["totalItems"].as_u64().unwrap() as usize,
            total,
            "totalItems is carried in the cursor"
        );
        let Some(next) = page["pageInfo"]["nextCursor"].as_str() else {
            break;
        };
        cursors.push(next.to_string());
        page = server
            .get(&format!(
                "/api/catalog/entities/by-query?limit=23&cursor={}",
                urlencoding(next)
            ))
            .await
            .1;
    }
    assert_eq!(names.len(), total);
    (names, cursors)
}

fn urlencoding(s: &str) -> String {
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[tokio::test]
async fn cursors_visit_every_entity_once_in_order_and_walk_back() {
    let server = Server::start_with(
        "catalog:\n  locations: [{type: file, target: \"{DIR}/many.yaml\"}]\n",
        generated,
        &[],
    )
    .await;
    server
        .wait_for(30, "350 components", || async {
            let (_, p) = server
                .get("/api/catalog/entities/by-query?filter=kind=component&limit=0")
                .await;
            (p["totalItems"] == COUNT).then_some(())
        })
        .await;

    // Ordered by name, ascending.
    let (names, cursors) = walk(&server, "/api/catalog/entities/by-query?filter=kind=component&orderField=metadata.name,asc&limit=23").await;
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(
        names.iter().collect::<HashSet<_>>().len(),
        COUNT,
        "no duplicates"
    );

    // Ordered by a field with many equal values, descending: ties break by uid.
    let (by_title, _) = walk(&server, "/api/catalog/entities/by-query?filter=kind=component&orderField=metadata.title,desc&limit=23").await;
    assert_eq!(by_title.iter().collect::<HashSet<_>>().len(), COUNT);

    // Default (uid) order.
    let (by_uid, _) = walk(
        &server,
        "/api/catalog/entities/by-query?filter=kind=component&limit=23",
    )
    .await;
    assert_eq!(by_uid.iter().collect::<HashSet<_>>().len(), COUNT);

    // From the third page, prevCursor leads back to the second page exactly.
    let (_, third) = server
        .get(&format!(
            "/api/catalog/entities/by-query?limit=23&cursor={}",
            urlencoding(&cursors[1])
        ))
        .await;
    let prev = third["pageInfo"]["prevCursor"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, second) = server
        .get(&format!(
            "/api/catalog/entities/by-query?limit=23&cursor={}",
            urlencoding(&prev)
        ))
        .await;
    let names_of = |p: &Value| {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["metadata"]["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names_of(&second), names[23..46].to_vec());
    assert!(
        second["pageInfo"]["prevCursor"].is_string()
            && second["pageInfo"]["nextCursor"].is_string()
    );
    let (_, first) = server
        .get(&format!(
            "/api/catalog/entities/by-query?limit=23&cursor={}",
            urlencoding(second["pageInfo"]["prevCursor"].as_str().unwrap())
        ))
        .await;
    assert_eq!(names_of(&first), names[..23].to_vec());
    assert!(
        first["pageInfo"].get("prevCursor").is_none(),
        "the first page has no prevCursor"
    );

    let (status, body) = server
        .get("/api/catalog/entities/by-query?cursor=not-a-cursor")
        .await;
    assert_eq!(
        (status, body["error"]["name"].as_str()),
        (400, Some("InputError"))
    );
}
