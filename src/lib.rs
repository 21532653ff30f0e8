//! Wharf: a private container registry implementing the OCI Distribution Spec v1.1, a drop-in
//! replacement for `registry:2` (same API, configuration and on-disk layout).
//!
//! Layers, each depending only on the one below: [`api`] (HTTP) → [`registry`] (services) →
//! [`storage`] (backends). [`auth`] authenticates and authorizes requests for [`api`].
//! [`server::serve`] runs it all on a listener; [`cli`] is the command line. [`ui`] is the web UI, a
//! client of the registry API ([`ui::serve_ui`]). [`zero_copy`] sends blob files to plain HTTP/1
//! connections without copying them; [`connections`] bounds what slow or idle clients can hold.
//! [`token_client`] is the client side of Docker token authentication, for the UI and the mirror.

pub mod api;
pub mod auth;
mod bounded_cache;
pub mod cli;
pub mod config;
pub mod connections;
pub mod healthcheck;
pub mod link_header;
pub mod listen;
pub mod logging;
pub mod ops;
pub mod privileges;
pub mod registry;
pub mod server;
pub mod storage;
pub mod tls;
pub mod token_client;
pub mod ui;
pub mod zero_copy;

pub use server::serve;
