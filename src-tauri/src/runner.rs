//! The app's job runner and tray: the engine's `jobs::Runner` starts with the app and ticks on
//! the write connection (so it never advances a deployment at the same time as a command of this
//! window); its job events go to the window as `job-event` Tauri events, what automation did as
//! desktop notifications. The window only listens. Closing the window keeps PatchDesk in the
//! tray while automation is on (tray menu: open, scan now, pause automation, quit).
//!
//! "Start at login" (opt-in) is an XDG autostart entry that starts the app hidden in the tray.
//!
//! Owns no domain logic: schedules, policies and what is due are the engine's.

use crate::commands::{self, guard, guard_async, AppState, Res};
use patchdesk_engine::jobs::{self, JobEvent, JobKind, JobRecord, JobScope, Notice, Overview};
use std::sync::Arc;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager, State};
use tokio_util::sync::CancellationToken;

/// The runner's handles, managed by Tauri.
pub struct Automation {
    canceller: jobs::runner::Canceller,
    wake: Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
}

/// Seconds between two ticks (`PATCHDESK_TICK_SECS`, default 30; the tests use 1).
fn tick() -> std::time::Duration {
    std::time::Duration::from_secs(
        std::env::var("PATCHDESK_TICK_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30u64)
            .max(1),
    )
}

fn notice(app: &AppHandle, n: &Notice) {
    match n.deployment_id {
        Some(id) => commands::notify_open_deployment(app, id, n.title.clone(), n.body.clone()),
        None => commands::notify(n.title.clone(), n.body.clone()),
    }
    let _ = app.emit("automation-notice", n);
}

/// Start the runner with the app.
pub fn start(app: &AppHandle) {
    let (ev_app, n_app) = (app.clone(), app.clone());
    let hooks = jobs::RunnerHooks {
        render: Arc::new(patchdesk_report::scheduled_files),
        on_event: Arc::new(move |e: &JobEvent| {
            let _ = ev_app.emit("job-event", e);
        }),
        on_notice: Arc::new(move |n: &Notice| notice(&n_app, n)),
        passphrase: None,
        // Deadlines come due with time, not only with scans (the UI no longer polls for them).
        alerts_every: Some(chrono::Duration::minutes(1)),
    };
    let mut runner = jobs::Runner::new("app", hooks);
    let wake = Arc::new(tokio::sync::Notify::new());
    let shutdown = runner.shutdown_token();
    app.manage(Automation {
        canceller: runner.canceller(),
        wake: wake.clone(),
        shutdown: shutdown.clone(),
    });
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        let every = tick();
        while !shutdown.is_cancelled() {
            {
                let state = handle.state::<AppState>();
                let mut inv = state.write.lock().await;
                if let Err(e) = runner.tick(&mut inv).await {
                    tracing::warn!("job runner: {e}");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = wake.notified() => {}
                _ = shutdown.cancelled() => break,
            }
        }
    });
}

/// Automation is on (not paused): closing the window keeps the app in the tray.
pub fn keeps_running(app: &AppHandle) -> bool {
    let state = app.state::<AppState>();
    let inv = state.read();
    jobs::paused(&inv).map(|p| p.is_none()).unwrap_or(true)
}

fn show(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

/// The tray icon and its menu. A desktop without a tray (no StatusNotifier host) gets a warning
/// in the log; the app works without it.
pub fn tray(app: &AppHandle) {
    let build = || -> tauri::Result<()> {
        let open = MenuItem::with_id(app, "open", "Open PatchDesk", true, None::<&str>)?;
        let scan = MenuItem::with_id(app, "scan", "Scan now", true, None::<&str>)?;
        let pause = MenuItem::with_id(app, "pause", "Pause automation", true, None::<&str>)?;
        let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
        let menu = Menu::with_items(app, &[&open, &scan, &pause, &quit])?;
        let mut b = TrayIconBuilder::with_id("patchdesk")
            .tooltip("PatchDesk")
            .menu(&menu)
            .on_menu_event(move |app, ev| match ev.id.as_ref() {
                "open" => show(app),
                "scan" => {
                    let _ = enqueue(app, JobKind::Scan, JobScope::All);
                }
                "pause" => {
                    let paused = toggle_pause(app);
                    let _ = pause.set_text(if paused {
                        "Resume automation"
                    } else {
                        "Pause automation"
                    });
                }
                "quit" => {
                    app.state::<Automation>().shutdown.cancel();
                    app.exit(0);
                }
                _ => {}
            });
        if let Some(icon) = app.default_window_icon() {
            b = b.icon(icon.clone());
        }
        b.build(app)?;
        Ok(())
    };
    if let Err(e) = build() {
        tracing::warn!("no tray icon ({e}); closing the window quits PatchDesk");
    }
}

fn enqueue(app: &AppHandle, kind: JobKind, scope: JobScope) -> patchdesk_engine::Result<i64> {
    let state = app.state::<AppState>();
    let id = jobs::enqueue(&state.read(), kind, scope)?;
    app.state::<Automation>().wake.notify_one();
    Ok(id)
}

/// Pause or resume automation; `true` when it is paused now.
fn toggle_pause(app: &AppHandle) -> bool {
    let state = app.state::<AppState>();
    let inv = state.read();
    match jobs::paused(&inv) {
        Ok(Some(_)) => {
            let _ = jobs::resume(&inv, "user");
            false
        }
        _ => {
            let _ = jobs::pause(&inv, "user");
            true
        }
    }
}

/// What ran, what is due next, and why something does not run.
#[tauri::command]
pub fn jobs_overview(state: State<'_, AppState>) -> Res<Overview> {
    guard("jobs_overview", || Ok(jobs::overview(&state.read(), 100)?))
}

/// Ask for a job now (scan, feed sync, weekly report); the runner starts it at once.
#[tauri::command]
pub async fn jobs_run(app: AppHandle, kind: JobKind, group: Option<String>) -> Res<i64> {
    guard_async("jobs_run", async {
        Ok(enqueue(
            &app,
            kind,
            group.map_or(JobScope::All, JobScope::Group),
        )?)
    })
    .await
}

/// Stop a running (or queued) job, deployments included (a deployment's advance stops where it
/// is and resumes from the database at its next advance).
#[tauri::command]
pub fn jobs_cancel(
    state: State<'_, AppState>,
    automation: State<'_, Automation>,
    id: i64,
) -> Res<JobRecord> {
    guard("jobs_cancel", || {
        let rec = jobs::request_cancel(&state.read(), id)?;
        automation.canceller.cancel(id);
        Ok(rec)
    })
}

/// Pause (`true`) or resume automation.
#[tauri::command]
pub fn automation_pause(
    state: State<'_, AppState>,
    automation: State<'_, Automation>,
    pause: bool,
) -> Res<Overview> {
    guard("automation_pause", || {
        let inv = state.read();
        if pause {
            jobs::pause(&inv, "user")?;
        } else {
            jobs::resume(&inv, "user")?;
            automation.wake.notify_one();
        }
        Ok(jobs::overview(&inv, 100)?)
    })
}

/// `$XDG_CONFIG_HOME/autostart/patchdesk.desktop` (or `~/.config/autostart/…`).
fn autostart_path() -> Option<std::path::PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config")))
        .map(|c| c.join("autostart/patchdesk.desktop"))
}

/// One `Exec=` argument as the desktop entry specification quotes it.
fn desktop_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '`' | '$' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The autostart entry: this program, started hidden (in the tray) at login.
pub fn autostart_entry(exe: &std::path::Path) -> String {
    format!(
        "[Desktop Entry]\nType=Application\nName=PatchDesk\nComment=Patch Linux hosts over SSH: scheduled scans, feed syncs and deployments (starts in the tray)\nExec={} --hidden\nTerminal=false\nX-GNOME-Autostart-enabled=true\n",
        desktop_quote(&exe.to_string_lossy())
    )
}

/// Started with `--hidden` (at login): the window stays hidden, PatchDesk waits in the tray.
pub fn started_hidden() -> bool {
    std::env::args().any(|a| a == "--hidden")
}

/// Whether PatchDesk starts at login.
#[tauri::command]
pub fn get_start_at_login() -> Res<bool> {
    guard("get_start_at_login", || {
        Ok(autostart_path().is_some_and(|p| p.exists()))
    })
}

/// Start PatchDesk at login (hidden, in the tray) or not: writes or removes the XDG autostart
/// entry. Returns the new setting.
#[tauri::command]
pub fn set_start_at_login(on: bool) -> Res<bool> {
    guard("set_start_at_login", || {
        let io = |what: String, e: std::io::Error| -> commands::UiError {
            patchdesk_engine::Error::Io(what, e).into()
        };
        let path = autostart_path().ok_or_else(|| {
            commands::UiError::from(patchdesk_engine::Error::Invalid(
                "neither XDG_CONFIG_HOME nor HOME is set: there is no autostart folder".into(),
            ))
        })?;
        if on {
            let exe = std::env::current_exe()
                .map_err(|e| io("cannot find the PatchDesk program".into(), e))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| io(format!("cannot create {}", dir.display()), e))?;
            }
            std::fs::write(&path, autostart_entry(&exe))
                .map_err(|e| io(format!("cannot write {}", path.display()), e))?;
        } else {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(format!("cannot remove {}", path.display()), e)),
            }
        }
        Ok(path.exists())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_autostart_entry_quotes_the_program_and_starts_hidden() {
        let e = autostart_entry(std::path::Path::new("/opt/Patch $Desk/100%/patchdesk-app"));
        assert!(
            e.contains("Exec=\"/opt/Patch \\$Desk/100%%/patchdesk-app\" --hidden\n"),
            "{e}"
        );
        assert!(e.starts_with("[Desktop Entry]\nType=Application\n"));
    }
}

/// What Settings edits of the automation: the schedules and every group's policy (the defaults,
/// off, for a group that has none stored).
#[derive(serde::Serialize)]
pub struct AutomationSettings {
    schedules: Vec<jobs::Schedule>,
    policies: Vec<jobs::policy::AutomationPolicy>,
}

fn automation_settings_of(inv: &patchdesk_engine::inventory::Inventory) -> Res<AutomationSettings> {
    let mut policies = Vec::new();
    for (g, _) in inv.groups()? {
        policies.push(jobs::policy::policy(inv, &g)?);
    }
    Ok(AutomationSettings {
        schedules: jobs::schedules(inv)?,
        policies,
    })
}

#[tauri::command]
pub fn automation_settings(state: State<'_, AppState>) -> Res<AutomationSettings> {
    guard("automation_settings", || {
        automation_settings_of(&state.read())
    })
}

/// Change one schedule (`when`: "07:00" daily, "mon 07:30" weekly); the runner looks again at once.
#[tauri::command]
pub fn save_schedule(
    state: State<'_, AppState>,
    automation: State<'_, Automation>,
    rule: String,
    when: String,
    enabled: bool,
    jitter_secs: u32,
) -> Res<AutomationSettings> {
    guard("save_schedule", || {
        let when: jobs::schedule::When = when
            .parse()
            .map_err(|e: String| patchdesk_engine::Error::Invalid(e))?;
        let inv = state.read();
        jobs::set_schedule(&inv, &rule, Some(when), Some(enabled), Some(jitter_secs))?;
        automation.wake.notify_one();
        automation_settings_of(&inv)
    })
}

/// Store a group's automation policy (audited).
#[tauri::command]
pub fn save_automation_policy(
    state: State<'_, AppState>,
    automation: State<'_, Automation>,
    policy: jobs::policy::AutomationPolicy,
) -> Res<AutomationSettings> {
    guard("save_automation_policy", || {
        let inv = state.read();
        jobs::policy::set_policy(&inv, &policy, "user")?;
        automation.wake.notify_one();
        automation_settings_of(&inv)
    })
}
