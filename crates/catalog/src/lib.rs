//! Catalog ingestion: locations → readers → processing → store.
//!
//! * [`readers`] turn a location (`file`, `url`, `bundled`) into file contents;
//! * [`parse`] turns file contents into entity documents or located errors;
//! * [`processor`] validates one entity, resolves placeholders, derives
//!   relations and, for Location entities, reads their targets;
//! * [`rules`] decides which kinds a location may bring in;
//! * [`engine`] runs the refresh loop against the store.
//!
//! Invariant: this crate never speaks HTTP as a server and never writes SQL;
//! it calls the store's interface.

pub mod bundled;
pub mod engine;
pub mod parse;
pub mod processor;
pub mod readers;
pub mod rules;

pub use engine::{Engine, EngineOptions};
pub use processor::Processor;
pub use readers::{ReadError, Readers};
