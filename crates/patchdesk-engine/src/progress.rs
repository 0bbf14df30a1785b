//! Progress reporting for long jobs (scan, deploy, report). Owns the event type only; the CLI
//! turns events into a progress bar, the app into Tauri events.

use serde::Serialize;
use std::sync::Arc;

/// Where a job is for one host (or for the whole job when `host` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Phase {
    Queued,
    Connecting,
    Running,
    Storing,
    Done,
    Failed,
    Cancelled,
}

/// One progress event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ProgressEvent {
    /// `scan`, `deploy`, `report`.
    pub job: &'static str,
    pub host: Option<String>,
    pub phase: Phase,
    /// Hosts finished so far / in all.
    pub done: usize,
    pub total: usize,
    /// A short sentence for people (for failures: the error with its next step).
    pub message: String,
}

/// A sink for progress events. Must be cheap: it is called from the job's task.
pub type ProgressFn = Arc<dyn Fn(&ProgressEvent) + Send + Sync>;

/// A sink that drops everything.
pub fn silent() -> ProgressFn {
    Arc::new(|_| {})
}
