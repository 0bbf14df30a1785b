//! PatchDesk engine: everything PatchDesk knows and does, with no GUI dependency.
//!
//! The data flow is `scan → inventory → classify → plan → stage → gate → verify → report`
//! (see `ARCHITECTURE.md`). This crate owns the domain; the `patchdesk` CLI and the Tauri app
//! are thin shells that call into it and render what it returns.
//!
//! Modules, each named after the part of the job it owns:
//! - [`host`]: the host model (address, auth, environment, scopes) shared by every module.
//! - [`version`]: Debian version ordering, exactly as dpkg orders versions.
//! - [`pkg`]: package-manager families (rpm: version order, scan fragment, parsers).
//! - [`import`]: host lists from `~/.ssh/config`, Ansible inventories and CSV.
//! - [`inventory`]: the SQLite store (migrations, WAL, transactions) and its queries.
//! - [`facts`]: parsers for what a host prints during a scan (hostile input, never panics).
//! - [`ssh`]: SSH transport with host-key verification and agent / key-file auth.
//! - [`known_hosts`]: OpenSSH known_hosts files, read per line, with their markers.
//! - [`local`]: commands run on this machine (local hooks), with a timeout and bounded output.
//! - [`scan`]: the scan job: one connection per host, bounded concurrency, progress events.
//! - [`settings`]: stored user settings (concurrency, timeouts, known_hosts files).
//! - [`advisory`]: security advisory feeds (OSV, Debian tracker, NVD), fetched and stored.
//! - [`classify`]: buckets, deadlines and exposures of pending patches (as of any instant).
//! - [`rollout`]: the deployment state machine (plan, stage, gate, verify, rollback).
//! - [`report`]: compliance % and time-to-patch as of an instant, weekly snapshots, the weekly
//!   report data, its history and the scheduled weekly run.
//! - [`jobs`]: background work: the job runner, its schedules (pure `due`), automation
//!   policies (auto-canary, auto-progress) and the job history.
//! - [`clock`]: injected time, so soaks and deadlines are testable in seconds.
//! - [`text`]: the one rule for which characters from outside are never kept or shown.

// Library code never unwraps, expects or panics: a hostile host, feed or file gets a typed error,
// never a dead process (issue #9). Tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod advisory;
pub mod classify;
pub mod clock;
pub mod error;
pub mod facts;
pub mod host;
pub mod host_filter;
pub mod import;
pub mod inventory;
pub mod jobs;
pub mod known_hosts;
pub mod local;
pub mod ops;
pub mod pkg;
pub mod progress;
pub mod report;
pub mod rollout;
pub mod scan;
pub mod settings;
pub mod ssh;
pub mod text;
pub mod version;

pub use error::{Error, Result};
