//! The example catalog compiled into the binary, so `greenroom serve` works
//! from any directory with no files around it.

use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../../examples/catalog"]
struct BundledCatalog;

/// The location type that reads from the embedded example catalog.
pub const BUNDLED_TYPE: &str = "bundled";

pub fn read(path: &str) -> Option<Vec<u8>> {
    BundledCatalog::get(path.trim_start_matches("./")).map(|f| f.data.into_owned())
}

pub fn list() -> Vec<String> {
    BundledCatalog::iter().map(|p| p.into_owned()).collect()
}
