//! `patchdesk jobs`, `patchdesk automation …` and `patchdesk service …`: the CLI side of the job
//! runner (issue #11). Arguments, dispatch and rendering only; schedules, policies, the runner and
//! what it decides live in the engine (`patchdesk_engine::jobs`).

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use patchdesk_engine::inventory::Inventory;
use patchdesk_engine::jobs::{
    self, runner::span, AutomationPolicy, JobEvent, JobKind, JobPhase, JobRecord, JobScope,
    JobState, Notice, Runner, RunnerHooks,
};
use std::sync::Arc;

#[derive(Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    cmd: Option<JobsCmd>,
    /// How many past jobs to list.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum JobsCmd {
    /// Ask for a job now (scan, feed-sync, weekly-report): the running service or app starts it
    /// at its next tick (`--wait` waits for its end and prints it).
    Run {
        /// scan, feed-sync or weekly-report.
        kind: String,
        /// Only this group's hosts (scan).
        #[arg(long)]
        group: Option<String>,
        /// Wait until it ended and print it.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// Stop a running (or queued) job; a deployment's advance stops where it is and resumes from
    /// the database at its next advance.
    Cancel { id: i64 },
}

#[derive(Subcommand)]
pub enum AutomationCmd {
    /// Schedules, policies, whether automation is paused, what the policies did.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Change a schedule: `scan`, `feed-sync`, `weekly-report`, or `scan:GROUP` (a group's own
    /// scan).
    Schedule {
        rule: String,
        /// `07:00` (daily) or `mon 07:30` (weekly), local time.
        #[arg(long)]
        at: Option<String>,
        #[arg(long, conflicts_with = "off")]
        on: bool,
        #[arg(long)]
        off: bool,
        /// Up to this many seconds later each day, so that many installations do not hit the
        /// feeds at the same second.
        #[arg(long)]
        jitter: Option<u32>,
    },
    /// A group's automation: `--auto-canary on` plans a new critical patch and starts it on the
    /// group's canary by itself; its deployments pass healthy gates after the soak by themselves.
    Policy {
        group: String,
        /// on or off.
        #[arg(long)]
        auto_canary: Option<String>,
        #[arg(long)]
        soak_hours: Option<i64>,
        #[arg(long, value_delimiter = ',')]
        waves: Option<Vec<u32>>,
        /// on or off.
        #[arg(long)]
        rollback_on_no_go: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Stop every scheduled and policy job (jobs you ask for still run).
    Pause,
    Resume,
}

#[derive(Args)]
pub struct UnitArgs {
    /// A system unit (/etc/systemd/system, runs at boot without anyone logged in) instead of a
    /// user unit (~/.config/systemd/user, runs while the user's session manager does).
    #[arg(long)]
    system: bool,
    /// Only write (or remove) the unit file; do not call systemctl.
    #[arg(long)]
    no_start: bool,
    /// Where the unit file goes (default: the user or system unit folder).
    #[arg(long, hide = true)]
    unit_dir: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
pub enum ServiceCmd {
    /// Write a systemd unit that runs `patchdesk service run` on this database, then enable
    /// and start it (`systemctl --user enable --now patchdesk.service`).
    Install(UnitArgs),
    /// Stop and disable the unit, then remove its file.
    Uninstall(UnitArgs),
    /// Whether the unit is installed and running, and what the runner did last.
    Status(UnitArgs),
    /// Run the job runner in the foreground (for systemd or a terminal) until stopped
    /// (Ctrl-C / SIGTERM). Announces what automation did on the desktop when a session bus is
    /// there, and always on standard output.
    Run {
        /// Seconds between two looks at what is due.
        #[arg(long, default_value_t = 30)]
        tick: u64,
        /// One tick, then exit.
        #[arg(long)]
        once: bool,
    },
}

fn on_off(s: &str) -> Result<bool> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => Ok(true),
        "off" | "no" | "false" => Ok(false),
        other => bail!("{other:?}: write on or off"),
    }
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_else(|| "-".into())
}

fn job_line(j: &JobRecord) -> String {
    let mut s = format!(
        "{:>5}  {:<18} {:<16} {:<9} {:<16} {:>6}  {:<11} {}",
        j.id,
        j.kind.as_str(),
        j.scope.label(),
        j.who.as_str(),
        when(j.started.or(Some(j.due))),
        j.duration_secs.map(span).unwrap_or_else(|| "-".into()),
        j.state.as_str(),
        j.result.as_deref().unwrap_or("")
    );
    if let Some(e) = &j.error {
        s.push_str(&format!("\n{:>7}error: {e}", ""));
    }
    s
}

pub fn jobs_cmd(inv: &Inventory, a: JobsArgs) -> Result<i32> {
    match a.cmd {
        None => {
            let o = jobs::overview(inv, a.limit)?;
            if a.json {
                crate::output::json(&o)?;
                return Ok(0);
            }
            if let Some(p) = &o.paused {
                outln!(
                    "automation is PAUSED since {} by {}: scheduled and policy jobs do not run (`patchdesk automation resume`)",
                    when(Some(p.since)),
                    p.by
                );
            }
            outln!("due next:");
            for u in &o.upcoming {
                outln!(
                    "  {:<16} {:<18} next {}{}{}",
                    u.schedule.rule,
                    u.when,
                    when(u.next_at),
                    if u.due_now { "  (due now)" } else { "" },
                    u.why_not
                        .as_deref()
                        .map(|w| format!("  — does not run: {w}"))
                        .unwrap_or_default()
                );
            }
            for d in &o.deployments {
                outln!(
                    "  deployment {:<4} {:<24} {:<6} {}",
                    d.deployment_id,
                    d.name,
                    d.mode.as_str(),
                    if d.due_now {
                        "advanced at the next tick".to_string()
                    } else {
                        format!(
                            "waits for {}",
                            d.waiting_for.as_deref().unwrap_or("nothing it can do now")
                        )
                    }
                );
            }
            for j in o.running.iter().chain(&o.queued) {
                outln!("  {}", job_line(j));
            }
            outln!("what ran (newest first):");
            if o.history.is_empty() {
                outln!("  nothing yet: is `patchdesk service run` or the app running?");
            }
            for j in &o.history {
                outln!("{}", job_line(j));
            }
            print_actions(&o.actions);
            Ok(0)
        }
        Some(JobsCmd::Run {
            kind,
            group,
            wait,
            json,
        }) => {
            let kind: JobKind = kind.parse()?;
            let scope = group.map_or(JobScope::All, JobScope::Group);
            let id = jobs::enqueue(inv, kind, scope)?;
            if !wait {
                if json {
                    crate::output::json(&jobs::job(inv, id)?)?;
                } else {
                    outln!("job {id} queued: the running service or app starts it at its next tick (`patchdesk jobs` shows it)");
                }
                return Ok(0);
            }
            loop {
                let j = jobs::job(inv, id)?;
                if !matches!(j.state, JobState::Queued | JobState::Running) {
                    if json {
                        crate::output::json(&j)?;
                    } else {
                        outln!("{}", job_line(&j));
                    }
                    return Ok(if j.state == JobState::Succeeded { 0 } else { 1 });
                }
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
        }
        Some(JobsCmd::Cancel { id }) => {
            let j = jobs::request_cancel(inv, id)?;
            outln!(
                "job {id} ({} {}): {}",
                j.kind.as_str(),
                j.scope.label(),
                if j.state == JobState::Cancelled {
                    "cancelled before it started"
                } else {
                    "cancel asked; the runner stops it within a second"
                }
            );
            Ok(0)
        }
    }
}

fn print_actions(actions: &[jobs::PolicyAction]) {
    if actions.is_empty() {
        return;
    }
    outln!("auto-canary decisions (disclosure → canary patched → last host patched):");
    for a in actions {
        outln!(
            "  {} {:<10} {:<8} {}  deployment {}  canary {}  done {}{}",
            when(Some(a.found_at)),
            a.group,
            format!("{:?}", a.outcome).to_lowercase(),
            a.cves.join(" "),
            a.deployment_id.map_or("-".into(), |d| d.to_string()),
            a.disclosure_to_canary_secs.map_or("-".into(), span),
            a.disclosure_to_done_secs.map_or("-".into(), span),
            a.reason
                .as_deref()
                .or(a.halt_reason.as_deref())
                .map(|r| format!("\n      {r}"))
                .unwrap_or_default()
        );
    }
}

pub fn automation_cmd(inv: &Inventory, cmd: AutomationCmd) -> Result<i32> {
    match cmd {
        AutomationCmd::Show { json } => {
            let o = jobs::overview(inv, 20)?;
            if json {
                crate::output::json(&serde_json::json!({
                    "paused": o.paused,
                    "schedules": o.upcoming,
                    "policies": o.policies,
                    "actions": o.actions,
                }))?;
                return Ok(0);
            }
            outln!(
                "automation: {}",
                o.paused
                    .as_ref()
                    .map(|p| format!("PAUSED since {} by {}", when(Some(p.since)), p.by))
                    .unwrap_or_else(|| "on".into())
            );
            for u in &o.upcoming {
                outln!(
                    "schedule {:<16} {:<18} {:<4} jitter {}s, next {}",
                    u.schedule.rule,
                    u.when,
                    if u.schedule.enabled { "on" } else { "off" },
                    u.schedule.jitter_secs,
                    when(u.next_at)
                );
            }
            if o.policies.is_empty() {
                outln!("no group has automation on (`patchdesk automation policy GROUP --auto-canary on`)");
            }
            for p in &o.policies {
                outln!(
                    "policy   {:<16} auto-canary {}, soak {} h, waves {}, rollback on no-go {}",
                    p.group,
                    if p.auto_canary { "on" } else { "off" },
                    p.soak_hours,
                    p.waves
                        .iter()
                        .map(|w| w.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                    if p.rollback_on_no_go { "on" } else { "off" }
                );
            }
            print_actions(&o.actions);
            Ok(0)
        }
        AutomationCmd::Schedule {
            rule,
            at,
            on,
            off,
            jitter,
        } => {
            let w = at
                .as_deref()
                .map(str::parse::<jobs::When>)
                .transpose()
                .map_err(|e| anyhow::anyhow!(e))?;
            let enabled = if on {
                Some(true)
            } else if off {
                Some(false)
            } else {
                None
            };
            let s = jobs::set_schedule(inv, &rule, w, enabled, jitter)?;
            outln!(
                "schedule {}: {} ({}), jitter up to {}s",
                s.rule,
                s.when.describe(),
                if s.enabled { "on" } else { "off" },
                s.jitter_secs
            );
            Ok(0)
        }
        AutomationCmd::Policy {
            group,
            auto_canary,
            soak_hours,
            waves,
            rollback_on_no_go,
            json,
        } => {
            let mut p: AutomationPolicy = jobs::policy::policy(inv, &group)?;
            let before = p.clone();
            if let Some(v) = auto_canary {
                p.auto_canary = on_off(&v)?;
            }
            if let Some(v) = soak_hours {
                p.soak_hours = v;
            }
            if let Some(v) = waves {
                p.waves = v;
            }
            if let Some(v) = rollback_on_no_go {
                p.rollback_on_no_go = on_off(&v)?;
            }
            if p != before {
                jobs::policy::set_policy(inv, &p, "user")?;
            }
            if json {
                crate::output::json(&p)?;
            } else {
                outln!(
                    "{}: auto-canary {}, soak {} h, waves {:?}, rollback on no-go {}",
                    p.group,
                    if p.auto_canary { "on" } else { "off" },
                    p.soak_hours,
                    p.waves,
                    if p.rollback_on_no_go { "on" } else { "off" }
                );
            }
            Ok(0)
        }
        AutomationCmd::Pause => {
            let p = jobs::pause(inv, "user")?;
            outln!(
                "automation paused (since {}): no scheduled or policy job starts until `patchdesk automation resume`",
                when(Some(p.since))
            );
            Ok(0)
        }
        AutomationCmd::Resume => {
            jobs::resume(inv, "user")?;
            outln!("automation resumed: what is owed runs at the next tick, once");
            Ok(0)
        }
    }
}

/// A desktop notification when there is a session bus to send it on (a headless box has none:
/// standard output is the record there).
fn desktop(n: &Notice) {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        return;
    }
    let (title, body) = (n.title.clone(), n.body.clone());
    std::thread::spawn(move || {
        if let Err(e) = notify_rust::Notification::new()
            .appname("PatchDesk")
            .summary(&title)
            .body(&body)
            .show()
        {
            tracing::warn!("desktop notification failed: {e}");
        }
    });
}

const UNIT: &str = "patchdesk.service";

/// A path or argument as systemd reads it on an `ExecStart=` line: double-quoted, with `\`, `"`
/// and `%` (a specifier) escaped, so that spaces and odd characters stay one argument.
fn systemd_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The unit file: `patchdesk --db DB service run`, restarted on failure, wanted by the user's
/// session (`default.target`) or the machine's (`multi-user.target`).
pub fn unit_text(exe: &std::path::Path, db: &std::path::Path, system: bool) -> String {
    format!(
        "# Written by `patchdesk service install`; remove it with `patchdesk service uninstall`.\n\
         [Unit]\n\
         Description=PatchDesk job runner (scheduled scans and feed syncs, weekly reports, automated deployments)\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={} --db {} service run\n\
         Restart=on-failure\n\
         RestartSec=30\n\
         # SIGTERM stops the runner; a deployment cut mid-step resumes from the database, as after a crash.\n\
         KillSignal=SIGTERM\n\
         TimeoutStopSec=120\n\
         \n\
         [Install]\n\
         WantedBy={}\n",
        systemd_quote(&exe.to_string_lossy()),
        systemd_quote(&db.to_string_lossy()),
        if system {
            "multi-user.target"
        } else {
            "default.target"
        }
    )
}

fn unit_dir(a: &UnitArgs) -> Result<std::path::PathBuf> {
    if let Some(d) = &a.unit_dir {
        return Ok(d.clone());
    }
    if a.system {
        return Ok("/etc/systemd/system".into());
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config")))
        .ok_or_else(|| anyhow::anyhow!("neither XDG_CONFIG_HOME nor HOME is set: cannot find the user unit folder (use --system)"))?;
    Ok(config.join("systemd/user"))
}

/// `systemctl [--user] ARGS`: its output, or why it could not run.
fn systemctl(system: bool, args: &[&str]) -> std::result::Result<String, String> {
    let mut c = std::process::Command::new("systemctl");
    if !system {
        c.arg("--user");
    }
    match c.args(args).output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => Err(format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout).trim(),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(e.to_string()),
    }
}

pub fn service_cmd(inv: &mut Inventory, cmd: ServiceCmd) -> Result<i32> {
    match cmd {
        ServiceCmd::Install(a) => {
            let dir = unit_dir(&a)?;
            let exe = std::env::current_exe()
                .map_err(|e| anyhow::anyhow!("cannot find the patchdesk program ({e})"))?;
            let db = crate::absolute(inv.path())?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("cannot create {} ({e})", dir.display()))?;
            let path = dir.join(UNIT);
            std::fs::write(&path, unit_text(&exe, &db, a.system))
                .map_err(|e| anyhow::anyhow!("cannot write {} ({e})", path.display()))?;
            outln!("wrote {}", path.display());
            if a.no_start {
                outln!(
                    "not started (--no-start): `systemctl{} enable --now {UNIT}` starts it",
                    if a.system { "" } else { " --user" }
                );
                return Ok(0);
            }
            let res = systemctl(a.system, &["daemon-reload"])
                .and_then(|_| systemctl(a.system, &["enable", "--now", UNIT]));
            match res {
                Ok(_) => {
                    outln!("{UNIT} enabled and started: it runs the jobs on {} (`patchdesk jobs` shows them)", db.display());
                    Ok(0)
                }
                Err(e) => bail!(
                    "the unit file is written, but systemctl could not start it ({e}). Start it by hand: `systemctl{} enable --now {UNIT}`{}",
                    if a.system { "" } else { " --user" },
                    if a.system { "" } else { ", and `loginctl enable-linger` to keep it running without a login" }
                ),
            }
        }
        ServiceCmd::Uninstall(a) => {
            let path = unit_dir(&a)?.join(UNIT);
            if !a.no_start {
                if let Err(e) = systemctl(a.system, &["disable", "--now", UNIT]) {
                    errln!("systemctl disable --now {UNIT}: {e} (removing the file anyway)");
                }
            }
            match std::fs::remove_file(&path) {
                Ok(()) => outln!("removed {}", path.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    outln!("{} is not installed", path.display())
                }
                Err(e) => bail!("cannot remove {} ({e})", path.display()),
            }
            if !a.no_start {
                let _ = systemctl(a.system, &["daemon-reload"]);
            }
            Ok(0)
        }
        ServiceCmd::Status(a) => {
            let path = unit_dir(&a)?.join(UNIT);
            let installed = path.exists();
            outln!(
                "unit     {} ({})",
                path.display(),
                if installed {
                    "installed"
                } else {
                    "not installed: `patchdesk service install`"
                }
            );
            if installed && !a.no_start {
                let active = systemctl(a.system, &["is-active", UNIT]).unwrap_or_else(|e| e);
                outln!(
                    "systemd  {}",
                    if active.is_empty() {
                        "unknown".into()
                    } else {
                        active
                    }
                );
            }
            let running = jobs::running(inv)?;
            let last = jobs::history(inv, 1)?;
            if running.is_empty() {
                outln!("running  no job right now");
            }
            for j in &running {
                outln!("running  {}", job_line(j));
            }
            match last.first() {
                Some(j) => outln!(
                    "last     {} by {}",
                    job_line(j),
                    j.runner.as_deref().unwrap_or("?")
                ),
                None => outln!("last     no job has run on {}", inv.path().display()),
            }
            Ok(0)
        }
        ServiceCmd::Run { tick, once } => {
            let hooks = RunnerHooks {
                render: Arc::new(patchdesk_report::scheduled_files),
                on_event: Arc::new(|e: &JobEvent| match e.phase {
                    JobPhase::Started => errln!(
                        "job {} started: {} {}",
                        e.job_id,
                        e.kind.as_str(),
                        e.scope.label()
                    ),
                    JobPhase::Finished => {
                        if let Some(r) = &e.record {
                            errln!(
                                "job {} {}: {}{}",
                                r.id,
                                r.state.as_str(),
                                r.result.as_deref().unwrap_or(""),
                                r.error
                                    .as_deref()
                                    .map(|x| format!(" — {x}"))
                                    .unwrap_or_default()
                            );
                        }
                    }
                    JobPhase::Progress => {}
                }),
                on_notice: Arc::new(|n: &Notice| {
                    outln!("notice: {} — {}", n.title, n.body);
                    desktop(n);
                }),
                passphrase: Some(Arc::new(|_: &std::path::Path| {
                    std::env::var("PATCHDESK_KEY_PASSPHRASE").ok()
                })),
                alerts_every: Some(chrono::Duration::minutes(10)),
            };
            let mut runner = Runner::new("service", hooks);
            let rt = crate::runtime()?;
            rt.block_on(async {
                if once {
                    runner.tick(inv).await?;
                    return anyhow::Ok(());
                }
                let stop = runner.shutdown_token();
                tokio::spawn(async move {
                    let mut term = match tokio::signal::unix::signal(
                        tokio::signal::unix::SignalKind::terminate(),
                    ) {
                        Ok(s) => s,
                        Err(_) => {
                            let _ = tokio::signal::ctrl_c().await;
                            stop.cancel();
                            return;
                        }
                    };
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                    stop.cancel();
                });
                errln!(
                    "patchdesk service: running (database {}, a look every {tick}s); Ctrl-C stops it",
                    inv.path().display()
                );
                runner
                    .run(inv, std::time::Duration::from_secs(tick.max(1)))
                    .await;
                errln!("patchdesk service: stopped");
                Ok(())
            })?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_this_database_and_quotes_odd_paths() {
        let u = unit_text(
            std::path::Path::new("/opt/patch desk/patchdesk"),
            std::path::Path::new("/srv/100% \"db\"/inv.db"),
            false,
        );
        assert!(
            u.contains(r#"ExecStart="/opt/patch desk/patchdesk" --db "/srv/100%% \"db\"/inv.db" service run"#),
            "{u}"
        );
        assert!(u.contains("WantedBy=default.target"));
        assert!(
            unit_text(std::path::Path::new("/p"), std::path::Path::new("/d"), true)
                .contains("WantedBy=multi-user.target")
        );
    }
}
