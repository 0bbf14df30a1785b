//! Tauri commands: each is a one-liner into the engine (`patchdesk_engine::ops` for operations
//! the CLI offers too; the gate-notification policy is `ops::GateNotices`). Reads use their own SQLite connection
//! (WAL lets them run while a scan writes), so the UI stays live during long jobs.
//!
//! Every command body runs inside [`guard`] / [`guard_async`]: a panic (a bug, or a hostile
//! input the engine did not foresee) becomes a `UiError` reply with code `internal`, never a dead
//! window or a promise that never settles. Setting a *local* snapshot hook (commands run with
//! `sh -c` on this computer) and overriding a deployment guard need a native confirmation
//! dialog (tauri-plugin-dialog, opened from Rust: the webview itself has no dialog permission).

use crate::chooser::{self, Kind, Spec};
use futures_util::FutureExt;
use patchdesk_engine::advisory::{self, SourceStatus, SyncReport};
use patchdesk_engine::classify::{self, PatchFilter, PatchItem, Policy};
use patchdesk_engine::host::HostSpec;
use patchdesk_engine::host_filter::{self, HostFilter, SavedFilter};
use patchdesk_engine::import::{self, ImportReport};
use patchdesk_engine::inventory::{
    self, AuditEntry, HostDetail, HostSummary, Inventory, ScanRecord,
};
use patchdesk_engine::ops;
use patchdesk_engine::progress::{ProgressEvent, ProgressFn};
use patchdesk_engine::report::{
    self, Compliance, HistoryEntry, IsoWeek, ReportFormat, Scope, WeeklyReport,
};
use patchdesk_engine::rollout::{
    self, DeploymentStatus, GroupSettings, OnBusy, Plan, PlanRequest, Selection, SnapshotHook,
};
use patchdesk_engine::scan::ScanSummary;
use patchdesk_engine::settings::Settings;
use patchdesk_engine::ssh::{HostKeyCheck, ServerKey};
use serde::Serialize;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tauri::{AppHandle, Emitter, Manager, State};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};
use tauri_plugin_opener::OpenerExt;
use tokio_util::sync::CancellationToken;

/// The one error type the front-end sees.
#[derive(Debug, Serialize)]
pub struct UiError {
    pub code: String,
    pub message: String,
}

impl From<patchdesk_engine::Error> for UiError {
    fn from(e: patchdesk_engine::Error) -> Self {
        UiError {
            code: e.code().to_string(),
            message: e.to_string(),
        }
    }
}

pub(crate) type Res<T> = Result<T, UiError>;

/// A panic payload as text.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

fn internal(command: &str, what: String) -> UiError {
    tracing::error!("command {command} panicked: {what}");
    UiError {
        code: "internal".into(),
        message: format!(
            "PatchDesk hit an internal error in {command} ({}); nothing more was done. Try again; if it happens again, report it with this message.",
            patchdesk_engine::text::clip(&what, 200)
        ),
    }
}

/// Test hook (debug builds only): `PATCHDESK_TEST_PANIC_ONCE=<command>` makes the first call of
/// that command panic, so the end-to-end test can see a panic become an error reply in the real
/// window. Set in the app's environment at launch; nothing the webview can reach.
#[cfg(debug_assertions)]
fn injected_fault(command: &str) {
    static FIRED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if std::env::var("PATCHDESK_TEST_PANIC_ONCE").is_ok_and(|c| c == command)
        && !FIRED.swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        panic!("injected test fault in {command} (PATCHDESK_TEST_PANIC_ONCE)");
    }
}

#[cfg(not(debug_assertions))]
fn injected_fault(_: &str) {}

/// Run a command body; a panic inside becomes an error reply.
pub(crate) fn guard<T>(command: &str, f: impl FnOnce() -> Res<T>) -> Res<T> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        injected_fault(command);
        f()
    }))
    .unwrap_or_else(|p| Err(internal(command, panic_text(&*p))))
}

/// Run an async command body; a panic inside (at any await) becomes an error reply.
pub(crate) async fn guard_async<T>(command: &str, f: impl Future<Output = Res<T>>) -> Res<T> {
    AssertUnwindSafe(async {
        injected_fault(command);
        f.await
    })
    .catch_unwind()
    .await
    .unwrap_or_else(|p| Err(internal(command, panic_text(&*p))))
}

/// Ask the person at the computer with a native dialog (not a web dialog: the page cannot draw
/// it, answer it or skip it). `true` only when they pressed `ok`. Callers clean what they quote
/// (`patchdesk_engine::text::clean`).
async fn confirm(app: &AppHandle, title: &str, message: String, ok: &str) -> bool {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .message(message)
        .title(title)
        .kind(MessageDialogKind::Warning)
        .buttons(MessageDialogButtons::OkCancelCustom(
            ok.to_string(),
            "Cancel".to_string(),
        ))
        .show(move |yes| {
            let _ = tx.send(yes);
        });
    rx.await.unwrap_or(false)
}

fn not_confirmed(what: &str) -> UiError {
    UiError {
        code: "cancelled".into(),
        message: format!("{what} was not confirmed; nothing was changed."),
    }
}

pub struct AppState {
    db_path: PathBuf,
    /// Reads (lists, details) — never blocked by a running scan.
    read: Mutex<Inventory>,
    /// Writes and long jobs.
    pub(crate) write: tokio::sync::Mutex<Inventory>,
    cancel: Mutex<Option<CancellationToken>>,
    /// Gates already announced on the desktop: (deployment, stage).
    gates_notified: Mutex<ops::GateNotices>,
}

impl AppState {
    pub fn open() -> patchdesk_engine::Result<Self> {
        let db_path = std::env::var_os("PATCHDESK_DB")
            .map(PathBuf::from)
            .unwrap_or_else(inventory::default_path);
        let clock = patchdesk_engine::clock::from_env();
        let write = Inventory::open(&db_path, clock.clone())?;
        let read = Inventory::open(&db_path, clock)?;
        Ok(Self {
            db_path,
            read: Mutex::new(read),
            write: tokio::sync::Mutex::new(write),
            cancel: Mutex::new(None),
            gates_notified: Mutex::new(Default::default()),
        })
    }

    pub(crate) fn read(&self) -> std::sync::MutexGuard<'_, Inventory> {
        self.read.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Serialize)]
pub struct AppInfo {
    db_path: String,
    version: &'static str,
    /// The engine's clock (injected; the UI ticks from it so countdowns agree with the engine).
    now: chrono::DateTime<chrono::Utc>,
}

#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> Res<AppInfo> {
    guard("app_info", || {
        Ok(AppInfo {
            db_path: state.db_path.display().to_string(),
            version: env!("CARGO_PKG_VERSION"),
            now: state.read().clock().now(),
        })
    })
}

#[tauri::command]
pub fn list_hosts(state: State<'_, AppState>) -> Res<Vec<HostSummary>> {
    guard("list_hosts", || Ok(state.read().host_summaries()?))
}

#[derive(Serialize)]
pub struct HostView {
    host: HostDetail,
    history: Vec<ScanRecord>,
}

#[tauri::command]
pub fn host_detail(state: State<'_, AppState>, name: String) -> Res<HostView> {
    guard("host_detail", || {
        let inv = state.read();
        Ok(HostView {
            host: inv.host_detail(&name)?,
            history: inv.scan_history(&name, 20)?,
        })
    })
}

#[tauri::command]
pub async fn add_host(state: State<'_, AppState>, spec: HostSpec) -> Res<()> {
    guard_async("add_host", async {
        state.write.lock().await.add_host(&spec)?;
        Ok(())
    })
    .await
}

#[tauri::command]
pub fn preview_import(state: State<'_, AppState>, path: String) -> Res<ImportReport> {
    guard("preview_import", || {
        state
            .read()
            .refuse_own_file(Path::new(&path), "a host list")?;
        Ok(import::from_path(Path::new(&path), None)?)
    })
}

#[tauri::command]
pub async fn import_hosts(state: State<'_, AppState>, path: String, update: bool) -> Res<usize> {
    guard_async("import_hosts", async {
        state
            .read()
            .refuse_own_file(Path::new(&path), "a host list")?;
        let report = import::from_path(Path::new(&path), None)?;
        Ok(state
            .write
            .lock()
            .await
            .add_hosts(&report.hosts, update)?
            .len())
    })
    .await
}

#[tauri::command]
pub async fn update_host(state: State<'_, AppState>, spec: HostSpec) -> Res<()> {
    guard_async("update_host", async {
        Ok(ops::edit_host(
            &mut *state.write.lock().await,
            &spec,
            &user().who,
        )?)
    })
    .await
}

#[tauri::command]
pub async fn remove_host(state: State<'_, AppState>, name: String) -> Res<()> {
    guard_async("remove_host", async {
        Ok(state.write.lock().await.remove_host(&name)?)
    })
    .await
}

#[tauri::command]
pub async fn fetch_host_key(state: State<'_, AppState>, name: String) -> Res<ServerKey> {
    guard_async("fetch_host_key", async {
        let (ssh, host) = {
            let inv = state.read();
            (ops::ssh_options(&inv)?, inv.host(&name)?)
        };
        Ok(patchdesk_engine::ssh::fetch_host_key(&host.spec, &ssh)
            .await
            .map_err(|e| patchdesk_engine::Error::host(&name, e))?)
    })
    .await
}

/// The re-key panel: what the host presents now beside the key trusted until now and where it
/// came from (pinned, or a known_hosts line of Settings).
#[tauri::command]
pub async fn host_key_check(state: State<'_, AppState>, name: String) -> Res<HostKeyCheck> {
    guard_async("host_key_check", async {
        let (ssh, host) = {
            let inv = state.read();
            (ops::ssh_options(&inv)?, inv.host(&name)?)
        };
        Ok(ops::host_key_check(&host, &ssh).await?)
    })
    .await
}

#[tauri::command]
pub async fn tag_hosts(
    state: State<'_, AppState>,
    names: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
) -> Res<usize> {
    guard_async("tag_hosts", async {
        let mut inv = state.write.lock().await;
        Ok(ops::tag_hosts(
            &mut inv,
            &names,
            &add,
            &remove,
            &user().who,
        )?)
    })
    .await
}

#[tauri::command]
pub async fn host_filters(state: State<'_, AppState>) -> Res<Vec<SavedFilter>> {
    guard_async("host_filters", async {
        Ok(host_filter::list(&state.read())?)
    })
    .await
}

#[tauri::command]
pub async fn save_host_filter(
    state: State<'_, AppState>,
    name: String,
    filter: HostFilter,
) -> Res<SavedFilter> {
    guard_async("save_host_filter", async {
        Ok(host_filter::save(
            &*state.write.lock().await,
            &name,
            &filter,
        )?)
    })
    .await
}

#[tauri::command]
pub async fn delete_host_filter(state: State<'_, AppState>, name: String) -> Res<()> {
    guard_async("delete_host_filter", async {
        Ok(host_filter::delete(&*state.write.lock().await, &name)?)
    })
    .await
}

#[tauri::command]
pub async fn trust_host(
    state: State<'_, AppState>,
    name: String,
    fingerprint: String,
    replace: bool,
    reason: Option<String>,
) -> Res<ServerKey> {
    guard_async("trust_host", async {
        let reason = reason.filter(|r| !r.trim().is_empty());
        if replace && reason.is_none() {
            return Err(patchdesk_engine::Error::Invalid(format!(
                "{name}: say why the new key is genuine (who confirmed the re-key); nothing was trusted."
            ))
            .into());
        }
        let mut inv = state.write.lock().await;
        Ok(ops::trust_host(&mut inv, &name, &fingerprint, replace, reason.as_deref()).await?)
    })
    .await
}

#[tauri::command]
pub async fn start_scan(
    app: AppHandle,
    state: State<'_, AppState>,
    names: Vec<String>,
) -> Res<ScanSummary> {
    guard_async("start_scan", async {
        let cancel = CancellationToken::new();
        *state.cancel.lock().unwrap_or_else(|e| e.into_inner()) = Some(cancel.clone());
        let emitter = app.clone();
        let progress: ProgressFn = Arc::new(move |e: &ProgressEvent| {
            let _ = emitter.emit("scan-progress", e);
        });
        let mut inv = state.write.lock().await;
        let summary = ops::scan(&mut inv, &names, progress, cancel).await?;
        let alerts = classify::new_alerts(&inv)?;
        drop(inv);
        notify_scan_finished(&summary);
        notify_alerts(&alerts);
        Ok(summary)
    })
    .await
}

#[tauri::command]
pub fn patches(
    state: State<'_, AppState>,
    bucket: Option<String>,
    group: Option<String>,
    host: Option<String>,
) -> Res<Vec<PatchItem>> {
    guard("patches", || {
        let filter = PatchFilter {
            bucket: bucket.map(|b| b.parse()).transpose()?,
            group,
            host,
            ..PatchFilter::default()
        };
        Ok(classify::patches(&state.read(), &filter)?)
    })
}

#[tauri::command]
pub fn compliance(state: State<'_, AppState>, group: Option<String>) -> Res<Compliance> {
    guard("compliance", || {
        let inv = state.read();
        let scope = group.map_or(Scope::Fleet, Scope::Group);
        Ok(report::compliance(&inv, &scope, inv.clock().now())?)
    })
}

/// Where a CVE is tracked.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tracker {
    Debian,
    Nvd,
}

/// The tracker page of a CVE id; `None` for anything that is not a well-formed CVE id (the id
/// comes from advisory feeds: hostile text never becomes a URL).
pub(crate) fn cve_url(cve: &str, tracker: Tracker) -> Option<String> {
    let rest = cve.strip_prefix("CVE-")?;
    let (year, num) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if year.len() != 4 || !digits(year) || num.len() < 4 || num.len() > 12 || !digits(num) {
        return None;
    }
    Some(match tracker {
        Tracker::Debian => format!("https://security-tracker.debian.org/tracker/{cve}"),
        Tracker::Nvd => format!("https://nvd.nist.gov/vuln/detail/{cve}"),
    })
}

/// Open a CVE's tracker page in the desktop's browser. `PATCHDESK_OPEN_LOG` (the end-to-end
/// tests, which have no browser) records the URL there instead.
#[tauri::command]
pub fn open_cve(app: AppHandle, cve: String, tracker: Tracker) -> Res<()> {
    guard("open_cve", || {
        let url = cve_url(&cve, tracker).ok_or_else(|| UiError {
            code: "invalid".into(),
            message: format!(
                "{} is not a CVE id (CVE-YYYY-NNNN): nothing was opened.",
                patchdesk_engine::text::clip(&cve, 60)
            ),
        })?;
        if let Ok(log) = std::env::var("PATCHDESK_OPEN_LOG") {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|e| UiError {
                    code: "io".into(),
                    message: format!("cannot record the link to open: {e}"),
                })?;
            let _ = writeln!(f, "{url}");
            return Ok(());
        }
        app.opener()
            .open_url(&url, None::<&str>)
            .map_err(|e| UiError {
                code: "io".into(),
                message: format!("cannot open {url} in a browser ({e}): open it by hand."),
            })
    })
}

// Reports.

/// The scopes a report can cover now.
#[tauri::command]
pub fn report_scopes(state: State<'_, AppState>) -> Res<Vec<Scope>> {
    guard("report_scopes", || Ok(Scope::all(&state.read())?))
}

/// A report with the chart the PDF draws (as SVG) and the line a notification would say.
#[derive(Serialize)]
pub struct ReportPreview {
    report: WeeklyReport,
    chart_svg: String,
    notification: String,
}

fn parse_week(week: Option<String>) -> Res<Option<IsoWeek>> {
    Ok(week
        .filter(|w| !w.trim().is_empty())
        .map(|w| w.parse())
        .transpose()?)
}

fn report_progress(app: &AppHandle, message: &str) {
    let _ = app.emit(
        "report-progress",
        ProgressEvent {
            job: "report",
            host: None,
            phase: patchdesk_engine::progress::Phase::Running,
            done: 0,
            total: 0,
            message: message.to_string(),
        },
    );
}

/// The weekly report of a scope (built off the UI thread).
#[tauri::command]
pub async fn report_preview(
    app: AppHandle,
    scope: Scope,
    week: Option<String>,
) -> Res<ReportPreview> {
    guard_async("report_preview", async {
        let week = parse_week(week)?;
        tauri::async_runtime::spawn_blocking(move || {
            report_progress(&app, "reading the data");
            let state = app.state::<AppState>();
            let r = report::weekly_report(&state.read(), &scope, week)?;
            Ok(ReportPreview {
                chart_svg: patchdesk_report::chart_svg(&r),
                notification: report::notification(&r),
                report: r,
            })
        })
        .await
        .map_err(|e| UiError {
            code: "report".into(),
            message: format!("the report could not be made ({e}); try again"),
        })?
    })
    .await
}

/// A chooser failing to run, as an error reply.
fn chooser_error(e: String) -> UiError {
    UiError {
        code: "file_chooser".into(),
        message: format!("{e}; nothing was chosen. Type the path into the field instead"),
    }
}

/// Where to save: the native save dialog (a folder for CSV), opening in `near` (the weekly
/// reports folder). `None`: cancelled.
async fn ask_path(
    format: ReportFormat,
    suggested: &str,
    near: Option<&Path>,
) -> Res<Option<PathBuf>> {
    let spec = match format {
        ReportFormat::Csv => Spec::new(Kind::Folder, "Choose the folder for the CSV tables", near),
        _ => Spec {
            file_name: Some(format!("{suggested}.{}", format.as_str())),
            filters: vec![(
                format.as_str().to_uppercase(),
                vec![format.as_str().to_string()],
            )],
            ..Spec::new(Kind::SaveFile, "Save the report", near)
        },
    };
    chooser::choose(spec).await.map_err(chooser_error)
}

/// What the native file picker is asked for: its title, and whether it picks a file or a folder.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PickFor {
    /// A host list to import (ssh_config, Ansible inventory, CSV).
    HostImport,
    /// A known_hosts file for Settings.
    KnownHosts,
    /// The folder the weekly reports are written to.
    ReportsFolder,
    /// The folder a deployment is exported to as an Ansible playbook.
    AnsibleExport,
}

/// The native (GTK) file picker, run from Rust in a child process (see [`chooser`]; the window
/// has no dialog permission). Returns the chosen path, which the page passes to the same engine
/// operations a typed path goes to, or `None` when cancelled. It opens in `near` (the field's
/// current path) when that is a folder or in one.
#[tauri::command]
pub async fn pick_path(purpose: PickFor, near: Option<String>) -> Res<Option<String>> {
    guard_async("pick_path", async move {
        let near = near.as_deref().map(Path::new);
        let spec = match purpose {
            PickFor::HostImport => Spec::new(Kind::OpenFile, "Import hosts from a file", near),
            PickFor::KnownHosts => Spec::new(Kind::OpenFile, "Add a known_hosts file", near),
            PickFor::ReportsFolder => {
                Spec::new(Kind::Folder, "Choose the weekly reports folder", near)
            }
            PickFor::AnsibleExport => Spec::new(
                Kind::Folder,
                "Export as Ansible playbook into a folder",
                near,
            ),
        };
        let path = chooser::choose(spec).await.map_err(chooser_error)?;
        Ok(path.map(|p| p.display().to_string()))
    })
    .await
}

/// Export a report as PDF (or CSV tables into a folder) through the native save dialog, record
/// it in the history, and open it when asked. Returns the path, or `None` when cancelled.
#[tauri::command]
pub async fn report_export(
    app: AppHandle,
    scope: Scope,
    week: Option<String>,
    format: ReportFormat,
    open_after: bool,
) -> Res<Option<String>> {
    guard_async("report_export", async {
        let week = parse_week(week)?;
        let (r, settings) = {
            let state = app.state::<AppState>();
            let inv = state.read();
            (
                report::weekly_report(&inv, &scope, week)?,
                Settings::load(&inv)?,
            )
        };
        let paper = settings.report_paper;
        let stem = patchdesk_report::file_stem(&r);
        let Some(path) = ask_path(format, &stem, settings.reports_dir.as_deref()).await? else {
            return Ok(None);
        };
        app.state::<AppState>()
            .read()
            .refuse_own_file(&path, "a report")?;
        let worker = app.clone();
        let out = path.clone();
        tauri::async_runtime::spawn_blocking(move || -> Res<()> {
            let (files, bytes): (Vec<(PathBuf, Vec<u8>)>, u64) = match format {
                ReportFormat::Csv => {
                    report_progress(&worker, "writing the CSV tables");
                    let files: Vec<(PathBuf, Vec<u8>)> = patchdesk_report::csv_tables(&r)
                        .map_err(patchdesk_engine::Error::from)?
                        .into_iter()
                        .map(|(n, b)| (out.join(n), b))
                        .collect();
                    let n = files.iter().map(|(_, b)| b.len() as u64).sum();
                    std::fs::create_dir_all(&out).map_err(|e| {
                        patchdesk_engine::Error::Io(format!("cannot create {}", out.display()), e)
                    })?;
                    (files, n)
                }
                ReportFormat::Json => {
                    let b = patchdesk_report::json(&r).map_err(patchdesk_engine::Error::from)?;
                    let n = b.len() as u64;
                    (vec![(out.clone(), b)], n)
                }
                ReportFormat::Pdf => {
                    report_progress(&worker, "rendering the PDF");
                    let b =
                        patchdesk_report::pdf(&r, paper).map_err(patchdesk_engine::Error::from)?;
                    let n = b.len() as u64;
                    (vec![(out.clone(), b)], n)
                }
            };
            for (p, b) in &files {
                std::fs::write(p, b).map_err(|e| {
                    patchdesk_engine::Error::Io(
                        format!("cannot write {} (choose another place)", p.display()),
                        e,
                    )
                })?;
            }
            let state = worker.state::<AppState>();
            report::record_generated(&state.read(), &r, report::Origin::App, format, &out, bytes)?;
            Ok(())
        })
        .await
        .map_err(|e| UiError {
            code: "report".into(),
            message: format!("the report could not be written ({e}); try again"),
        })??;
        if open_after {
            if let Err(e) = app.opener().open_path(path.to_string_lossy(), None::<&str>) {
                tracing::warn!("cannot open {}: {e}", path.display());
            }
        }
        Ok(Some(path.display().to_string()))
    })
    .await
}

/// The reports generated so far, newest first.
#[tauri::command]
pub fn report_history(state: State<'_, AppState>) -> Res<Vec<HistoryEntry>> {
    guard("report_history", || {
        Ok(report::history(&state.read(), 100)?)
    })
}

#[tauri::command]
pub fn get_policy(state: State<'_, AppState>) -> Res<Policy> {
    guard("get_policy", || Ok(Policy::load(&state.read())?))
}

#[tauri::command]
pub async fn save_policy(state: State<'_, AppState>, policy: Policy) -> Res<()> {
    guard_async("save_policy", async {
        Ok(policy.save(&*state.write.lock().await)?)
    })
    .await
}

#[tauri::command]
pub fn advisory_sources(state: State<'_, AppState>) -> Res<Vec<SourceStatus>> {
    guard("advisory_sources", || Ok(advisory::sources(&state.read())?))
}

#[tauri::command]
pub async fn sync_advisories(state: State<'_, AppState>, location: String) -> Res<SyncReport> {
    guard_async("sync_advisories", async {
        let mut inv = state.write.lock().await;
        // Fetching is blocking I/O: keep it off the async workers.
        let report = tokio::task::block_in_place(|| classify::sync_feed(&mut inv, &location))?;
        let alerts = classify::new_alerts(&inv)?;
        notify_alerts(&alerts);
        Ok(report)
    })
    .await
}

/// Deadlines move with time, not only with scans: the UI calls this every minute.
#[tauri::command]
pub async fn check_alerts(state: State<'_, AppState>) -> Res<usize> {
    guard_async("check_alerts", async {
        let alerts = classify::new_alerts(&*state.write.lock().await)?;
        notify_alerts(&alerts);
        Ok(alerts.len())
    })
    .await
}

fn notify_alerts(alerts: &[classify::Alert]) {
    if let Some((title, body)) = classify::alert_message(alerts) {
        notify(title, body);
    }
}

#[tauri::command]
pub fn cancel_scan(state: State<'_, AppState>) -> Res<()> {
    guard("cancel_scan", || {
        if let Some(c) = state
            .cancel
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            c.cancel();
        }
        Ok(())
    })
}

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> Res<Settings> {
    guard("get_settings", || Ok(Settings::load(&state.read())?))
}

#[tauri::command]
pub async fn save_settings(state: State<'_, AppState>, settings: Settings) -> Res<()> {
    guard_async("save_settings", async {
        Ok(settings.save(&*state.write.lock().await)?)
    })
    .await
}

/// "Scan finished: 5 ok, 1 failed" on the desktop (notify-rust speaks D-Bus in pure Rust).
fn notify_scan_finished(summary: &ScanSummary) {
    let failed: Vec<&str> = summary
        .hosts
        .iter()
        .filter(|h| !h.ok)
        .map(|h| h.host.as_str())
        .collect();
    let body = if failed.is_empty() {
        format!("{} hosts scanned, all ok.", summary.succeeded())
    } else {
        format!(
            "{} ok, {} failed: {}. Open PatchDesk for the next steps.",
            summary.succeeded(),
            failed.len(),
            failed.join(", ")
        )
    };
    let summary_line = if summary.cancelled {
        "Scan cancelled"
    } else {
        "Scan finished"
    };
    notify(summary_line.to_string(), body);
}

/// A gate notification whose click ("Open", or the notification itself) brings the window up
/// on that deployment in the wizard.
pub(crate) fn notify_open_deployment(app: &AppHandle, id: i64, summary: String, body: String) {
    let app = app.clone();
    std::thread::spawn(move || {
        let shown = notify_rust::Notification::new()
            .appname("PatchDesk")
            .summary(&summary)
            .body(&body)
            .action("default", "Open")
            .action("open", "Open the deployment")
            .show();
        match shown {
            // Blocks this thread until the notification is clicked or closed.
            Ok(handle) => handle.wait_for_action(|action| {
                if action == "default" || action == "open" {
                    if let Some(w) = app.get_webview_window("main") {
                        let _ = w.unminimize();
                        let _ = w.show();
                        let _ = w.set_focus();
                    }
                    let _ = app.emit("open-deployment", id);
                }
            }),
            Err(e) => tracing::warn!("desktop notification failed: {e}"),
        }
    });
}

/// Show a desktop notification without blocking the caller.
pub(crate) fn notify(summary: String, body: String) {
    std::thread::spawn(move || {
        if let Err(e) = notify_rust::Notification::new()
            .appname("PatchDesk")
            .summary(&summary)
            .body(&body)
            .show()
        {
            tracing::warn!("desktop notification failed: {e}");
        }
    });
}

/// The person at the app: refused at once while another process changes the deployment (the
/// message says who, and until when).
fn user() -> ops::Writer {
    ops::Writer::user(OnBusy::Refuse)
}

fn deploy_progress(app: &AppHandle) -> ProgressFn {
    let emitter = app.clone();
    Arc::new(move |e: &ProgressEvent| {
        let _ = emitter.emit("deploy-progress", e);
    })
}

/// "canary gate: 2/2 healthy, go?" — once per gate (the engine's policy, `ops::GateNotices`);
/// clicking it opens the wizard there.
fn notify_gate(app: &AppHandle, state: &AppState, st: &DeploymentStatus) {
    let notice = state
        .gates_notified
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .notice(st);
    if let Some(n) = notice {
        notify_open_deployment(app, st.id, n.title, n.body);
    }
}

/// The overrides a plan request would apply (guards waived with a written reason).
fn overrides_of(request: &PlanRequest) -> Vec<(&str, &str)> {
    request
        .overrides
        .iter()
        .filter(|(_, reason)| !reason.trim().is_empty())
        .map(|(g, r)| (g.as_str(), r.as_str()))
        .collect()
}

#[tauri::command]
pub async fn deploy_plan(
    app: AppHandle,
    state: State<'_, AppState>,
    request: PlanRequest,
) -> Res<Plan> {
    guard_async("deploy_plan", async {
        let overrides = overrides_of(&request);
        if !overrides.is_empty() {
            let clean = patchdesk_engine::text::clean;
            let list: String = overrides
                .iter()
                .map(|(g, r)| format!("\n  • {}: \"{}\"", clean(g), clean(r)))
                .collect();
            let message = format!(
                "Plan \"{}\" for {} while overriding these guards:\n{list}\n\nA guard stops a deployment that skips the canary, goes to all of production at once, or has no way back. Override only if you checked what it warns about.",
                clean(&request.name),
                clean(&request.scope)
            );
            if !confirm(&app, "PatchDesk: override deployment guards?", message, "Override").await {
                return Err(not_confirmed("Overriding the guards"));
            }
        }
        Ok(ops::deploy_plan(&mut *state.write.lock().await, &request).await?)
    })
    .await
}

#[tauri::command]
pub fn deploy_list(state: State<'_, AppState>) -> Res<Vec<DeploymentStatus>> {
    guard("deploy_list", || Ok(rollout::list(&state.read())?))
}

/// One deployment as of now, with each host's transaction.
#[tauri::command]
pub fn deploy_status(state: State<'_, AppState>, id: i64) -> Res<DeploymentStatus> {
    guard("deploy_status", || Ok(rollout::status(&state.read(), id)?))
}

#[tauri::command]
pub async fn deploy_advance(
    app: AppHandle,
    state: State<'_, AppState>,
    id: i64,
) -> Res<DeploymentStatus> {
    guard_async("deploy_advance", async {
        let st = ops::deploy_start(
            &mut *state.write.lock().await,
            id,
            &user(),
            deploy_progress(&app),
        )
        .await?;
        notify_gate(&app, &state, &st);
        Ok(st)
    })
    .await
}

/// Go or no-go at the current gate. A go at a gate the engine judged no-go needs
/// `override_reason` (the app asks for it in a confirmation); the engine refuses it otherwise.
#[tauri::command]
pub async fn deploy_decide(
    app: AppHandle,
    state: State<'_, AppState>,
    id: i64,
    go: bool,
    override_reason: Option<String>,
    reason: Option<String>,
) -> Res<DeploymentStatus> {
    guard_async("deploy_decide", async {
        if let (true, Some(reason)) = (
            go,
            override_reason.as_deref().filter(|r| !r.trim().is_empty()),
        ) {
            let clean = patchdesk_engine::text::clean;
            let st = rollout::status(&state.read(), id)?;
            let message = format!(
                "Deployment \"{}\": go on past the engine's no-go at this gate, for this reason:\n\n  \"{}\"\n\nThe next stage will patch more hosts although the last one was not healthy.",
                clean(&st.name),
                clean(reason)
            );
            if !confirm(&app, "PatchDesk: go over the engine's no-go?", message, "Go anyway").await {
                return Err(not_confirmed("Going over the no-go"));
            }
        }
        let mut inv = state.write.lock().await;
        let st = ops::deploy_decide(
            &mut inv,
            id,
            go,
            override_reason.as_deref(),
            reason.as_deref(),
            &user(),
            deploy_progress(&app),
        )
        .await?;
        drop(inv);
        notify_gate(&app, &state, &st);
        Ok(st)
    })
    .await
}

/// Leave a host out of the rest of a deployment, with a written reason.
#[tauri::command]
pub async fn deploy_exclude(
    state: State<'_, AppState>,
    id: i64,
    host: String,
    reason: String,
) -> Res<DeploymentStatus> {
    guard_async("deploy_exclude", async {
        Ok(ops::deploy_exclude(
            &*state.write.lock().await,
            id,
            &host,
            &reason,
            &user(),
        )?)
    })
    .await
}

#[tauri::command]
pub async fn deploy_unpin(
    app: AppHandle,
    state: State<'_, AppState>,
    id: i64,
) -> Res<DeploymentStatus> {
    guard_async("deploy_unpin", async {
        let mut inv = state.write.lock().await;
        Ok(ops::deploy_unpin(&mut inv, id, &[], &user(), deploy_progress(&app)).await?)
    })
    .await
}

/// The "ask at the gate" reboot: reboot the waiting stage's hosts that need it, then measure it
/// again. The window asks for confirmation (with the hosts) before calling this.
#[tauri::command]
pub async fn deploy_reboot(
    app: AppHandle,
    state: State<'_, AppState>,
    id: i64,
    hosts: Vec<String>,
) -> Res<DeploymentStatus> {
    guard_async("deploy_reboot", async {
        let mut inv = state.write.lock().await;
        Ok(ops::deploy_reboot(&mut inv, id, &hosts, &user(), deploy_progress(&app)).await?)
    })
    .await
}

#[tauri::command]
pub fn audit_entries(
    state: State<'_, AppState>,
    host: Option<String>,
    limit: usize,
) -> Res<Vec<AuditEntry>> {
    guard("audit_entries", || {
        Ok(state
            .read()
            .audit_entries(host.as_deref(), limit.min(10_000))?)
    })
}

#[tauri::command]
pub fn deploy_selections(state: State<'_, AppState>) -> Res<Vec<Selection>> {
    guard("deploy_selections", || {
        Ok(rollout::selections(&state.read())?)
    })
}

#[tauri::command]
pub async fn save_selection(state: State<'_, AppState>, selection: Selection) -> Res<()> {
    guard_async("save_selection", async {
        Ok(rollout::save_selection(
            &*state.write.lock().await,
            &selection,
        )?)
    })
    .await
}

#[tauri::command]
pub fn group_settings(state: State<'_, AppState>) -> Res<Vec<GroupSettings>> {
    guard("group_settings", || {
        Ok(rollout::group_settings(&state.read())?)
    })
}

#[tauri::command]
pub async fn set_maintenance_window(
    state: State<'_, AppState>,
    group: String,
    window: Option<String>,
) -> Res<()> {
    guard_async("set_maintenance_window", async {
        let inv = state.write.lock().await;
        Ok(rollout::set_maintenance_window(
            &inv,
            &group,
            window.as_deref(),
        )?)
    })
    .await
}

#[tauri::command]
pub async fn set_smoke_tests(
    state: State<'_, AppState>,
    group: String,
    commands: Vec<String>,
) -> Res<()> {
    guard_async("set_smoke_tests", async {
        let inv = state.write.lock().await;
        Ok(rollout::set_smoke_tests(&inv, &group, &commands)?)
    })
    .await
}

#[tauri::command]
pub async fn set_health_checks(
    state: State<'_, AppState>,
    group: String,
    checks: Option<rollout::HealthChecks>,
) -> Res<()> {
    guard_async("set_health_checks", async {
        let inv = state.write.lock().await;
        Ok(rollout::set_health_checks(
            &inv,
            &group,
            checks.as_ref(),
            "user",
        )?)
    })
    .await
}

/// A local hook runs its commands with `sh -c` on this computer, as the person running
/// PatchDesk: setting one (or changing it) needs their confirmation in a native dialog.
#[tauri::command]
pub async fn set_snapshot_hook(
    app: AppHandle,
    state: State<'_, AppState>,
    group: String,
    hook: Option<SnapshotHook>,
) -> Res<()> {
    guard_async("set_snapshot_hook", async {
        if let Some(h) = hook.as_ref().filter(|h| h.on == "local") {
            let current = rollout::snapshot_hook(&state.read(), &group)?;
            if current.as_ref() != Some(h) {
                let clean = patchdesk_engine::text::clean;
                let message = format!(
                    "Group {}: before each of its hosts is patched, and to roll one back, PatchDesk will run these commands on THIS computer, with sh -c, as you:\n\n  snapshot: {}\n  restore:  {}\n\nAllow them only if you wrote them.",
                    clean(&group),
                    clean(&h.snapshot),
                    clean(&h.restore)
                );
                if !confirm(
                    &app,
                    "PatchDesk: run commands on this computer?",
                    message,
                    "Allow",
                )
                .await
                {
                    return Err(not_confirmed("The local snapshot hook"));
                }
            }
        }
        let inv = state.write.lock().await;
        Ok(rollout::set_snapshot_hook(&inv, &group, hook.as_ref())?)
    })
    .await
}

#[tauri::command]
pub async fn deploy_rollback(
    app: AppHandle,
    state: State<'_, AppState>,
    id: i64,
) -> Res<DeploymentStatus> {
    guard_async("deploy_rollback", async {
        Ok(ops::deploy_rollback(
            &mut *state.write.lock().await,
            id,
            &[],
            &user(),
            deploy_progress(&app),
        )
        .await?)
    })
    .await
}

/// A rollback drill of `packages` on the group's non-prod hosts, from the window.
#[tauri::command]
pub async fn deploy_drill(
    app: AppHandle,
    state: State<'_, AppState>,
    scope: String,
    packages: Vec<String>,
) -> Res<rollout::DrillStatus> {
    guard_async("deploy_drill", async {
        Ok(ops::deploy_drill(
            &mut *state.write.lock().await,
            &scope,
            packages,
            Vec::new(),
            deploy_progress(&app),
        )
        .await?)
    })
    .await
}

/// Delete an abandoned plan (planned, never started).
#[tauri::command]
pub async fn deploy_delete(state: State<'_, AppState>, id: i64) -> Res<()> {
    guard_async("deploy_delete", async {
        Ok(ops::deploy_delete(&*state.write.lock().await, id, &user())?)
    })
    .await
}

/// Write the deployment as an Ansible playbook, inventory and rollback playbook into `dir` (the
/// folder chosen in the native picker); changes no host.
#[tauri::command]
pub fn deploy_export_ansible(
    state: State<'_, AppState>,
    id: i64,
    dir: String,
) -> Res<rollout::AnsibleExport> {
    guard("deploy_export_ansible", || {
        Ok(ops::deploy_export_ansible(
            &state.read(),
            id,
            std::path::Path::new(&dir),
        )?)
    })
}

#[tauri::command]
pub fn deploy_drills(state: State<'_, AppState>) -> Res<Vec<rollout::DrillStatus>> {
    guard("deploy_drills", || Ok(rollout::drills(&state.read())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_cve_ids_become_tracker_urls() {
        assert_eq!(
            cve_url("CVE-2026-1001", Tracker::Nvd).as_deref(),
            Some("https://nvd.nist.gov/vuln/detail/CVE-2026-1001")
        );
        assert_eq!(
            cve_url("CVE-2024-123456", Tracker::Debian).as_deref(),
            Some("https://security-tracker.debian.org/tracker/CVE-2024-123456")
        );
        for bad in [
            "",
            "CVE-2026-1",
            "CVE-26-1001",
            "CVE-2026-1001/../../x",
            "CVE-2026-1001?q=1",
            "cve-2026-1001",
            "CVE-2026-10a1",
            "javascript:alert(1)",
        ] {
            assert_eq!(cve_url(bad, Tracker::Nvd), None, "{bad}");
        }
    }

    #[test]
    fn a_panic_in_a_command_is_an_error_reply() {
        let r: Res<u32> = guard("compliance", || {
            let d = chrono::DateTime::<chrono::Utc>::MAX_UTC;
            // What a far-future feed date did to classification before it was checked.
            let _ = d + chrono::Duration::days(7);
            Ok(1)
        });
        let e = r.unwrap_err();
        assert_eq!(e.code, "internal");
        assert!(
            e.message
                .starts_with("PatchDesk hit an internal error in compliance ("),
            "{}",
            e.message
        );
        assert!(e.message.contains("Try again"), "{}", e.message);
        assert_eq!(guard("x", || Ok(2)).unwrap(), 2);
    }

    #[tokio::test]
    async fn a_panic_in_an_async_command_is_an_error_reply() {
        let r: Res<u32> = guard_async("start_scan", async {
            tokio::task::yield_now().await;
            panic!("boom after an await");
        })
        .await;
        let e = r.unwrap_err();
        assert_eq!(e.code, "internal");
        assert!(e.message.contains("boom after an await"), "{}", e.message);
    }

    #[test]
    fn the_window_may_call_exactly_the_registered_commands() {
        let main = include_str!("main.rs");
        let registered: Vec<&str> = main
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                l.strip_prefix("commands::")
                    .or_else(|| l.strip_prefix("runner::"))
            })
            // The command list, not the calls (`runner::start(app.handle());`).
            .filter(|l| !l.contains('('))
            .map(|l| l.trim_end_matches(','))
            .collect();
        let mut listed: Vec<&str> = crate::allowlist::COMMANDS.to_vec();
        let mut reg = registered.clone();
        listed.sort();
        reg.sort();
        assert_eq!(reg, listed, "main.rs registers what allowlist.rs lists");
        let cap: serde_json::Value =
            serde_json::from_str(include_str!("../capabilities/default.json")).unwrap();
        let mut perms: Vec<String> = cap["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect();
        perms.sort();
        let mut want: Vec<String> = crate::allowlist::COMMANDS
            .iter()
            .map(|c| format!("allow-{}", c.replace('_', "-")))
            .chain([
                "core:event:allow-listen".into(),
                "core:event:allow-unlisten".into(),
            ])
            .collect();
        want.sort();
        assert_eq!(perms, want, "one permission per command, nothing else");
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../tauri.conf.json")).unwrap();
        assert_eq!(conf["app"]["withGlobalTauri"], false);
    }
}
