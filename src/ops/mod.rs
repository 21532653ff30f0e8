//! Operations: what keeps a registry running for years without attention. Garbage collection (on
//! demand and scheduled), upload purging, read-only mode, the storage health check, metrics, the
//! access log and the debug server. These sit beside the HTTP API: they wrap its router with layers
//! and call the registry services, never storage directly.

pub mod gc_command;
