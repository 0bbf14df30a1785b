//! `patchdesk`: the headless command line over the PatchDesk engine. A thin shell: it parses
//! arguments, calls the engine's operations (`patchdesk_engine::ops`, the same functions the app
//! calls), and renders tables, JSON and progress bars. No domain logic here: which hosts a scan
//! covers, saved selections, SSH options and who may change a deployment are the engine's.
//!
//! A glue binary: `main` (process, exit codes) → `args` (the clap types) → `dispatch` (one engine
//! call per command) → `output` (tables, JSON; through `term`'s sanitiser).

#[macro_use]
mod term;
mod args;
mod dispatch;
mod output;
// The job runner's commands: jobs, automation, service (issue #11).
mod automation;

use anyhow::Result;
use args::Cli;
use clap::Parser;
use dispatch::run;
// What `automation` reaches through the crate root.
use dispatch::{absolute, runtime};
use patchdesk_engine::inventory::{self, Inventory};
use std::path::PathBuf;

/// Exit codes (README "Exit codes"): 0 ok, 1 error or refusal, 2 a scan finished with failed
/// hosts, 3 a deployment halted at a no-go (or a drill failed), 4 a plan blocked by a guard
/// (nothing stored), 5 another process is changing the deployment (nothing done), 64 a wrong
/// command line, 130 a scan cancelled.
pub(crate) const EXIT_HALTED: i32 = 3;
pub(crate) const EXIT_PLAN_BLOCKED: i32 = 4;
pub(crate) const EXIT_BUSY: i32 = 5;
pub(crate) const EXIT_USAGE: i32 = 64;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PATCHDESK_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print and succeed; a wrong command line is EXIT_USAGE, kept
            // apart from 2 (a scan with failed hosts).
            let _ = e.print();
            std::process::exit(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // One line, the reason and the next step.
            let msg = format!("{e:#}").replace('\n', " ");
            errln!("patchdesk: {msg}");
            let busy = e
                .downcast_ref::<patchdesk_engine::Error>()
                .is_some_and(|e| e.code() == "deployment_busy");
            std::process::exit(if busy { EXIT_BUSY } else { 1 });
        }
    }
}

pub(crate) fn open(db: &Option<PathBuf>) -> Result<Inventory> {
    let path = db.clone().unwrap_or_else(inventory::default_path);
    Ok(Inventory::open(&path, patchdesk_engine::clock::from_env())?)
}
