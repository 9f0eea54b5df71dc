//! The example catalog compiled into the binary, so `greenroom serve` works
//! from any directory with no files around it.
//!
//! Two trees make one: `examples/catalog` at the root, and this repository's
//! own `catalog-info.yaml`, `mkdocs.yml` and `docs/` under `greenroom/`, so
//! the portal's first page shows greenroom itself with real docs.

use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../../examples/catalog"]
struct BundledCatalog;

#[derive(Embed)]
#[folder = "../../"]
#[include = "catalog-info.yaml"]
#[include = "mkdocs.yml"]
#[include = "docs/*"]
#[include = "docs/**/*"]
#[include = "README.md"]
#[include = "ARCHITECTURE.md"]
struct RepositoryDocs;

/// The location type that reads from the embedded example catalog.
pub const BUNDLED_TYPE: &str = "bundled";

/// Where this repository's files appear in the bundle.
const REPOSITORY_PREFIX: &str = "greenroom/";

pub fn read(path: &str) -> Option<Vec<u8>> {
    let path = path.trim_start_matches("./");
    match path.strip_prefix(REPOSITORY_PREFIX) {
        Some(rest) => RepositoryDocs::get(rest).map(|f| f.data.into_owned()),
        None => BundledCatalog::get(path).map(|f| f.data.into_owned()),
    }
}

pub fn list() -> Vec<String> {
    BundledCatalog::iter()
        .map(|p| p.into_owned())
        .chain(RepositoryDocs::iter().map(|p| format!("{REPOSITORY_PREFIX}{p}")))
        .collect()
}
