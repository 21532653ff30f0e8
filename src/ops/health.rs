//! The storage health check (`health.storagedriver`): the storage is checked every `interval`; after
//! `threshold` failures in a row the check fails, and while it fails every request is answered 503
//! `UNAVAILABLE`, as distribution does, so a load balancer takes the instance out of rotation. One
//! success clears it. `/debug/health` on the debug server shows the failing check.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::{ApiError, AppState, Code};

/// Name of the check in `/debug/health`, as distribution names it.
const CHECK_NAME: &str = "storagedriver";

#[derive(Default)]
struct CheckState {
    failures: u32,
    last_error: Option<String>,
}

/// The state of the storage check.
pub struct Health {
    threshold: u32,
    state: Mutex<CheckState>,
}

impl Health {
    /// A check that fails after `threshold` failures in a row (at least one).
    pub fn new(threshold: u32) -> Self {
        Health {
            threshold: threshold.max(1),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CheckState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the outcome of one check.
    pub fn record(&self, outcome: Result<(), String>) {
        let mut state = self.state();
        match outcome {
            Ok(()) => *state = CheckState::default(),
            Err(e) => {
                state.failures = state.failures.saturating_add(1);
                if state.failures == self.threshold {
                    tracing::error!(error = %e, failures = state.failures, "storage health check failing: answering 503");
                }
                state.last_error = Some(e);
            }
        }
    }

    /// The error of the failing check, or `None` while healthy.
    pub fn failing(&self) -> Option<String> {
        let state = self.state();
        (state.failures >= self.threshold).then(|| state.last_error.clone().unwrap_or_default())
    }

    /// `/debug/health`: `{}` with 200 when healthy, else the failing check's error with 503.
    pub fn report(&self) -> Response {
        match self.failing() {
            None => (StatusCode::OK, axum::Json(serde_json::json!({}))).into_response(),
            Some(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({ CHECK_NAME: e })),
            )
                .into_response(),
        }
    }
}

/// Middleware answering 503 while the check fails.
pub async fn gate(State(health): State<Arc<Health>>, request: Request, next: Next) -> Response {
    if health.failing().is_some() {
        return ApiError::new(
            Code::Unavailable,
            "service unavailable: the storage health check is failing (see /debug/health)",
        )
        .into_response();
    }
    next.run(request).await
}

/// Checks the storage every `interval`, forever.
pub async fn run(health: Arc<Health>, app: Arc<AppState>, interval: Duration) {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check fails only after `threshold` failures in a row, and one success clears it.
    #[test]
    fn threshold() {
        let h = Health::new(2);
        h.record(Err("one".into()));
        assert_eq!(h.failing(), None);
        h.record(Err("two".into()));
        assert_eq!(h.failing().as_deref(), Some("two"));
        h.record(Ok(()));
        assert_eq!(h.failing(), None);
    }
}
