//! The Backstage entity model as pure data and functions.
//!
//! Invariant: nothing here performs I/O, spawns tasks or knows about HTTP. Every
//! other crate (readers, processing, store, server, CLI) uses these functions so
//! that the server and `greenroom catalog validate` agree on every rule.

pub mod entity;
pub mod fields;
pub mod hash;
pub mod kinds;
pub mod location;
pub mod query;
pub mod refs;
pub mod relations;
pub mod search;
pub mod validation;

pub use entity::Entity;
pub use refs::{EntityRef, RefError};
pub use validation::{Violation, validate_entity};
