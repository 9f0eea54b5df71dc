//! Software templates (`scaffolder.backstage.io/v1beta3`).
pub mod actions;
pub mod integrations;
pub mod runner;
pub mod service;
pub mod template;
pub mod templating;
pub mod tree;

pub use actions::{ActionRegistry, Author, CatalogPort, CatalogPortError, Registration};
pub use integrations::Integrations;
pub use service::{DryRunResult, Scaffolder, ScaffolderError, ScaffolderSettings, run_local};
