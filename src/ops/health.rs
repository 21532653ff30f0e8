//! The storage health checks (`health.storagedriver`), run every `interval`. Each fails after
//! `threshold` failures in a row, and one success clears it:
//!
//! - **the storage answers** (`storagedriver`, as distribution names it): while it fails, every
//!   request is answered 503 `UNAVAILABLE`, as distribution does, so a load balancer takes the
//!   instance out of rotation;
//! - **the storage can be written** (`storagewritable`, Wharf only, not in read-only mode): while it
//!   fails, `GET /` (what `wharf healthcheck` and the image's `HEALTHCHECK` probe) answers 503 with the
//!   cause, but every other request is still served, so pulls keep working while pushes cannot.
//!
//! `/debug/health` on the debug server shows the failing checks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::endpoint::Endpoint;
use crate::api::{ApiError, AppState, Code};

/// Name of the storage check in `/debug/health`, as distribution names it.
const CHECK_NAME: &str = "storagedriver";
/// Name of the writability check in `/debug/health`.
const WRITABLE_CHECK_NAME: &str = "storagewritable";

#[derive(Default)]
struct CheckState {
    failures: u32,
    last_error: Option<String>,
}

/// One check's run of failures.
#[derive(Default)]
struct Check(Mutex<CheckState>);

impl Check {
    fn state(&self) -> std::sync::MutexGuard<'_, CheckState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an outcome; `true` when this failure is the one that makes the check fail.
    fn record(&self, outcome: Result<(), String>, threshold: u32) -> bool {
        let mut state = self.state();
        match outcome {
            Ok(()) => {
                *state = CheckState::default();
                false
            }
            Err(e) => {
                state.failures = state.failures.saturating_add(1);
                state.last_error = Some(e);
                state.failures == threshold
            }
        }
    }

    fn failing(&self, threshold: u32) -> Option<String> {
        let state = self.state();
        (state.failures >= threshold).then(|| state.last_error.clone().unwrap_or_default())
    }
}

/// The state of the storage checks.
pub struct Health {
    threshold: u32,
    answers: Check,
    writable: Check,
}

impl Health {
    /// Checks that fail after `threshold` failures in a row (at least one).
    pub fn new(threshold: u32) -> Self {
        Health {
            threshold: threshold.max(1),
            answers: Check::default(),
            writable: Check::default(),
        }
    }

    /// Records the outcome of one check that the storage answers.
    pub fn record(&self, outcome: Result<(), String>) {
        let error = outcome.as_ref().err().cloned();
        if self.answers.record(outcome, self.threshold) {
            tracing::error!(
                error = error.unwrap_or_default(),
                failures = self.threshold,
                "storage health check failing: answering 503"
            );
        }
    }

    /// Records the outcome of one check that the storage can be written.
    pub fn record_writable(&self, outcome: Result<(), String>) {
        let error = outcome.as_ref().err().cloned();
        if self.writable.record(outcome, self.threshold) {
            tracing::error!(error = error.unwrap_or_default(), failures = self.threshold, "storage is not writable: pushes fail, pulls are still served; the health check answers 503");
        }
    }

    /// The error of the failing storage check, or `None` while healthy.
    pub fn failing(&self) -> Option<String> {
        self.answers.failing(self.threshold)
    }

    /// The error of the failing writability check, or `None` while the storage can be written.
    pub fn unwritable(&self) -> Option<String> {
        self.writable.failing(self.threshold)
    }

    /// `/debug/health`: `{}` with 200 when healthy, else each failing check's error with 503.
    pub fn report(&self) -> Response {
        let mut failing = serde_json::Map::new();
        if let Some(e) = self.failing() {
            failing.insert(CHECK_NAME.into(), e.into());
        }
        if let Some(e) = self.unwritable() {
            failing.insert(WRITABLE_CHECK_NAME.into(), e.into());
        }
        let status = if failing.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, axum::Json(serde_json::Value::Object(failing))).into_response()
    }
}

/// Middleware answering 503 while the storage check fails, and 503 to `GET /` while the storage
/// cannot be written.
pub async fn gate(State(health): State<Arc<Health>>, request: Request, next: Next) -> Response {
    if health.failing().is_some() {
        return ApiError::new(
            Code::Unavailable,
            "service unavailable: the storage health check is failing (see /debug/health)",
        )
        .into_response();
    }
    let root = request
        .extensions()
        .get::<Endpoint>()
        .is_some_and(|e| *e == Endpoint::Root);
    if root {
        if let Some(e) = health.unwritable() {
            return ApiError::new(
                Code::Unavailable,
                format!("the storage cannot be written, so pushes fail (pulls are served): {e}"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Checks the storage every `interval`, forever; whether it can be written too unless `read_only`.
pub async fn run(health: Arc<Health>, app: Arc<AppState>, interval: Duration, read_only: bool) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let outcome = app
            .registry
            .check_storage()
            .await
            .map_err(|e| e.to_string());
        health.record(outcome);
        if !read_only {
            let outcome = app
                .registry
                .check_writable()
                .await
                .map_err(|e| e.to_string());
            health.record_writable(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each check fails only after `threshold` failures in a row, one success clears it, and the two
    /// checks are independent.
    #[test]
    fn threshold() {
        let h = Health::new(2);
        h.record(Err("one".into()));
        assert_eq!(h.failing(), None);
        h.record(Err("two".into()));
        assert_eq!(h.failing().as_deref(), Some("two"));
        assert_eq!(h.unwritable(), None);
        h.record(Ok(()));
        assert_eq!(h.failing(), None);
        h.record_writable(Err("read-only file system".into()));
        h.record_writable(Err("read-only file system".into()));
        assert_eq!(h.unwritable().as_deref(), Some("read-only file system"));
        assert_eq!(h.failing(), None);
        h.record_writable(Ok(()));
        assert_eq!(h.unwritable(), None);
    }
}
