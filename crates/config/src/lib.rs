//! Backstage-style `app-config.yaml` loading and the typed settings greenroom reads.
//!
//! Loading follows `@backstage/config-loader`: several files merged in order
//! (objects deep-merge, arrays and scalars replace, `null` deletes), `${VAR}`
//! substitution with `${VAR:-fallback}` and `$${` escapes, `$env`/`$file`/
//! `$include` objects, then `APP_CONFIG_<path>` environment overrides.
//!
//! Invariant: this crate reads files and the environment it is given, nothing else.

mod load;
mod settings;

pub use load::{ConfigError, ConfigSource, Env, load_config, merge};
pub use settings::{
    CatalogLocation, CatalogRule, DatabaseSettings, ExternalAccessToken, Listen, OrphanStrategy,
    ReadAllow, RuleAllow, RuleLocation, Settings, parse_duration,
};
