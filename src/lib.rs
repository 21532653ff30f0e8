//! Wharf: a private container registry implementing the OCI Distribution Spec v1.1, a drop-in
//! replacement for `registry:2` (same API, configuration and on-disk layout).
//!
//! Layers, each depending only on the one below: [`api`] (HTTP) → [`registry`] (services) →
//! [`storage`] (backends). [`server::serve`] runs it all on a listener; [`cli`] is the command line.

pub mod api;
pub mod cli;
pub mod config;
pub mod logging;
pub mod ops;
pub mod registry;
pub mod server;
pub mod storage;

pub use server::serve;
