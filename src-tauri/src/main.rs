//! PatchDesk desktop app: a thin Tauri 2 shell. Commands are one-liners into the engine; state
//! lives in `tauri::State`; long jobs stream `ProgressEvent`s as Tauri events; every error reaches
//! the front-end as one `UiError { code, message }` whose message names the host and the next step.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

#[cfg(test)]
mod allowlist;
mod chooser;
mod commands;
mod runner;

use commands::AppState;
use tauri::Manager;

fn main() {
    // `patchdesk-app --file-chooser SPEC`: only show one native file chooser (see `chooser`).
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(chooser::SWITCH) {
        std::process::exit(chooser::run_child(args.get(2).map(String::as_str)));
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PATCHDESK_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let state = match AppState::open() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("patchdesk-app: {e}");
            std::process::exit(1);
        }
    };
    tauri::Builder::default()
        // Native dialogs, opened from Rust only (no dialog permission for the window).
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .manage(state)
        .setup(|app| {
            // The engine's job runner starts with the app; the window only listens.
            runner::start(app.handle());
            runner::tray(app.handle());
            if runner::started_hidden() {
                // Started at login: wait in the tray.
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.hide();
                }
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // While automation is on, closing the window keeps PatchDesk in the tray.
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                if runner::keeps_running(window.app_handle()) {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::list_hosts,
            commands::host_detail,
            commands::add_host,
            commands::preview_import,
            commands::pick_path,
            commands::import_hosts,
            commands::remove_host,
            commands::fetch_host_key,
            commands::host_key_check,
            commands::tag_hosts,
            commands::host_filters,
            commands::save_host_filter,
            commands::delete_host_filter,
            commands::trust_host,
            commands::start_scan,
            commands::cancel_scan,
            commands::get_settings,
            commands::save_settings,
            commands::patches,
            commands::compliance,
            commands::get_policy,
            commands::save_policy,
            commands::advisory_sources,
            commands::sync_advisories,
            commands::check_alerts,
            commands::deploy_plan,
            commands::deploy_list,
            commands::deploy_status,
            commands::deploy_advance,
            commands::deploy_decide,
            commands::deploy_exclude,
            commands::deploy_rollback,
            commands::deploy_export_ansible,
            commands::deploy_drills,
            commands::deploy_drill,
            commands::deploy_delete,
            commands::update_host,
            commands::deploy_unpin,
            commands::deploy_reboot,
            commands::deploy_selections,
            commands::audit_entries,
            commands::save_selection,
            commands::group_settings,
            commands::set_maintenance_window,
            commands::set_snapshot_hook,
            commands::set_smoke_tests,
            commands::set_health_checks,
            commands::report_scopes,
            commands::report_preview,
            commands::report_export,
            commands::report_history,
            runner::jobs_overview,
            runner::jobs_run,
            runner::jobs_cancel,
            runner::automation_pause,
            runner::automation_settings,
            runner::save_schedule,
            runner::save_automation_policy,
            runner::get_start_at_login,
            runner::set_start_at_login,
            commands::open_cve,
        ])
        .run(tauri::generate_context!())
        .unwrap_or_else(|e| {
            eprintln!("patchdesk-app: cannot start the window: {e}");
            std::process::exit(1);
        });
}
