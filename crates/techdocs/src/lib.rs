//! TechDocs: mkdocs-compatible docs sites built natively, in milliseconds a
//! page, with no Python and no Docker.
//!
//! `source` finds an entity's docs tree from `backstage.io/techdocs-ref`;
//! `mkdocs` reads `mkdocs.yml` with TechDocs' security rules; `markdown`
//! renders one page (sanitized); `site` builds the whole site with its
//! navigation, search index and `techdocs_metadata.json`; `publish` stores
//! sites and reads them back.
//!
//! Invariant: nothing here reads outside the docs source (the input folder)
//! or writes outside the output folder, and every page's HTML is sanitized.

pub mod markdown;
pub mod mkdocs;
mod paths;
pub mod publish;
pub mod service;
pub mod site;
pub mod source;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BuildError {
    #[error("{0}")]
    Config(String),
    #[error("'{0}' is a symbolic link that leads out of the docs source; it was refused")]
    Symlink(String),
    #[error("{0}")]
    Io(String),
}

pub use markdown::Warning;
pub use publish::{LocalPublisher, PublishError, Publisher, Triplet, publisher_from_config};
pub use service::{DocsService, IndexedPage, SyncError};
pub use site::{BuildOptions, BuildReport, build, source_etag};
pub use source::{DocsSource, SourceError, resolve_source};
