//! Dispatch: each command of `patchdesk` as parse result → one engine call (mostly
//! `patchdesk_engine::ops`, the functions the app calls too) → rendering (`output`) and an exit
//! code. Owns the glue between the two; must not hold domain rules (they are the engine's).

use crate::args::*;
use crate::{automation, open, output, term};
use crate::{EXIT_HALTED, EXIT_PLAN_BLOCKED};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use patchdesk_engine::host::{Auth, Environment, HostSpec};
use patchdesk_engine::host_filter::{self, HostFilter};
use patchdesk_engine::import;
use patchdesk_engine::inventory::Inventory;
use patchdesk_engine::ops;
use patchdesk_engine::progress::{Phase, ProgressEvent};
use patchdesk_engine::scan;
use patchdesk_engine::settings::Settings;
use patchdesk_engine::ssh::PassphraseFn;
use patchdesk_engine::{advisory, classify, report, rollout};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub(crate) fn run(cli: Cli) -> Result<i32> {
    let mut inv = open(&cli.db)?;
    match cli.command {
        Command::Host(cmd) => host(&mut inv, cmd),
        Command::Scan(args) => scan_cmd(&mut inv, args),
        Command::Query(QueryCmd::Package { name, below, json }) => {
            let hits = inv.hosts_with_package(&name, below.as_deref())?;
            if json {
                output::json(&hits)?;
            } else {
                output::package_hits(&hits);
            }
            Ok(0)
        }
        Command::Settings(args) => settings_cmd(&inv, args),
        Command::Advisories(AdvisoriesCmd::Sync { from, json }) => {
            if from.is_empty() {
                bail!("give at least one feed: --from FILE|URL (repeatable)");
            }
            let mut reports = Vec::new();
            for loc in &from {
                let r = classify::sync_feed(&mut inv, loc)?;
                if !json {
                    outln!(
                        "{}: {} ({} advisories, {} CVSS records{})",
                        r.location,
                        r.outcome,
                        r.advisories,
                        r.cvss_records,
                        r.format
                            .as_deref()
                            .map(|f| format!(", {f}"))
                            .unwrap_or_default()
                    );
                    for w in &r.warnings {
                        errln!("warning: {w}");
                    }
                }
                reports.push(r);
            }
            if json {
                output::json(&reports)?;
            }
            Ok(0)
        }
        Command::Advisories(AdvisoriesCmd::Status { json }) => {
            let s = advisory::sources(&inv)?;
            if json {
                output::json(&s)?;
            } else {
                output::sources(&s);
            }
            Ok(0)
        }
        Command::Patches {
            bucket,
            group,
            host,
            json,
        } => {
            let filter = classify::PatchFilter {
                bucket: bucket.map(|b| b.parse()).transpose()?,
                group,
                host,
                ..Default::default()
            };
            let items = classify::patches(&inv, &filter)?;
            if json {
                output::json(&items)?;
            } else {
                output::patches(&items);
            }
            Ok(0)
        }
        Command::Compliance { group, env, json } => {
            let scope = match (group, env) {
                (Some(g), _) => report::Scope::Group(g),
                (None, Some(e)) => report::Scope::Environment(parse_env(&e)?),
                (None, None) => report::Scope::Fleet,
            };
            let c = report::compliance(&inv, &scope, inv.clock().now())?;
            if json {
                output::json(&c)?;
            } else {
                output::compliance(&c);
            }
            Ok(0)
        }
        Command::Report(cmd) => report_cmd(&inv, cmd),
        Command::Policy(a) => {
            let mut p = classify::Policy::load(&inv)?;
            let before = p.clone();
            if let Some(v) = a.critical_cvss {
                p.critical_cvss = v;
            }
            if let Some(v) = a.high_cvss {
                p.high_cvss = v;
            }
            if let Some(v) = a.moderate_cvss {
                p.moderate_cvss = v;
            }
            if let Some(v) = a.critical_days {
                p.critical_days = v;
            }
            if let Some(v) = a.high_days {
                p.high_days = v;
            }
            if let Some(v) = a.cycle_weekday {
                p.cycle_weekday = v;
            }
            if let Some(v) = a.cycle_hour {
                p.cycle_hour = v;
            }
            if p != before {
                p.save(&inv).context("policy not saved")?;
            }
            if a.json {
                output::json(&p)?;
            } else {
                outln!(
                    "critical: CVSS >= {:.1} or vendor critical, due {} days after disclosure",
                    p.critical_cvss,
                    p.critical_days
                );
                outln!("high:     CVSS >= {:.1} or vendor high/important, due {} days after disclosure", p.high_cvss, p.high_days);
                outln!("moderate: CVSS >= {:.1}, vendor medium, or a security suite with no score: the next regular cycle", p.moderate_cvss);
                outln!(
                    "cycle:    weekly, weekday {} (0 = Monday) at {:02}:00 UTC",
                    p.cycle_weekday,
                    p.cycle_hour
                );
                outln!("low:      at convenience");
            }
            Ok(0)
        }
        Command::Deploy(cmd) => deploy_cmd(&mut inv, cmd),
        Command::Audit { host, limit, json } => {
            let rows = inv.audit_entries(host.as_deref(), limit)?;
            if json {
                output::json(&rows)?;
            } else {
                output::audit(&rows);
            }
            Ok(0)
        }
        Command::Jobs(a) => automation::jobs_cmd(&inv, a),
        Command::Automation(c) => automation::automation_cmd(&inv, c),
        Command::Service(c) => automation::service_cmd(&mut inv, c),
        Command::ScanScript => {
            out!("{}", &*scan::SCAN_SCRIPT);
            Ok(0)
        }
    }
}

fn host(inv: &mut Inventory, cmd: HostCmd) -> Result<i32> {
    match cmd {
        HostCmd::Add(a) => {
            let spec = HostSpec {
                name: a.name,
                address: a.address,
                port: a.port,
                user: a.user,
                auth: match a.key {
                    Some(path) => Auth::KeyFile {
                        path: absolute(&path)?,
                    },
                    None => Auth::Agent,
                },
                environment: a.env,
                groups: a.groups,
                tags: a.tags,
                notes: a.notes,
                proxy_jump: None,
            };
            inv.add_host(&spec)?;
            outln!(
                "added {} ({}@{}:{}). Next: `patchdesk host trust {}` or `patchdesk scan {}`.",
                spec.name,
                spec.user,
                spec.address,
                spec.port,
                spec.name,
                spec.name
            );
            Ok(0)
        }
        HostCmd::Import {
            file,
            format,
            update,
            dry_run,
        } => {
            let format = format.map(|f| match f {
                FormatArg::SshConfig => import::Format::SshConfig,
                FormatArg::AnsibleIni => import::Format::AnsibleIni,
                FormatArg::AnsibleYaml => import::Format::AnsibleYaml,
                FormatArg::Csv => import::Format::Csv,
            });
            inv.refuse_own_file(&file, "a host list")?;
            let report = import::from_path(&file, format)?;
            for w in &report.warnings {
                errln!("warning: {w}");
            }
            if dry_run {
                output::json(&report.hosts)?;
                return Ok(0);
            }
            inv.add_hosts(&report.hosts, update)?;
            outln!(
                "imported {} host(s) from {}",
                report.hosts.len(),
                file.display()
            );
            Ok(0)
        }
        HostCmd::List {
            group,
            env,
            tag,
            search,
            filter,
            json,
        } => {
            let mut f = match filter {
                Some(name) => host_filter::get(inv, &name)?.filter,
                None => HostFilter::default(),
            };
            f.group = group.or(f.group);
            f.environment = env.or(f.environment);
            f.tag = tag.or(f.tag);
            if let Some(q) = search {
                f.query = q;
            }
            let hosts = ops::hosts_matching(inv, &f)?;
            if hosts.is_empty() && f != HostFilter::default() && !json {
                outln!("no host matches this filter");
                return Ok(0);
            }
            if json {
                output::json(&hosts)?;
            } else {
                output::host_table(&hosts);
            }
            Ok(0)
        }
        HostCmd::Show {
            name,
            packages,
            json,
        } => {
            let detail = inv.host_detail(&name)?;
            let history = inv.scan_history(&name, 10)?;
            if json {
                output::json(&serde_json::json!({ "host": detail, "history": history }))?;
            } else {
                output::host_detail(&detail, &history, packages);
            }
            Ok(0)
        }
        HostCmd::Remove { name } => {
            inv.remove_host(&name)?;
            outln!("removed {name} and its history");
            Ok(0)
        }
        HostCmd::Trust {
            name,
            fingerprint,
            replace,
            reason,
        } => trust(inv, &name, fingerprint, replace, reason.as_deref()),
        HostCmd::Tag { names, add, remove } => {
            let n = ops::tag_hosts(inv, &names, &add, &remove, "user")?;
            outln!("tags changed on {n} of {} host(s)", names.len());
            Ok(0)
        }
        HostCmd::Filter(FilterCmd::Save {
            name,
            group,
            env,
            tag,
            search,
        }) => {
            let f = HostFilter {
                query: search,
                group,
                environment: env,
                tag,
            };
            let saved = host_filter::save(inv, &name, &f)?;
            outln!("saved the filter {:?}", saved.name);
            Ok(0)
        }
        HostCmd::Filter(FilterCmd::List { json }) => {
            let filters = host_filter::list(inv)?;
            if json {
                output::json(&filters)?;
            } else {
                output::host_filters(&filters);
            }
            Ok(0)
        }
        HostCmd::Filter(FilterCmd::Delete { name }) => {
            host_filter::delete(inv, &name)?;
            outln!("deleted the filter {name:?}");
            Ok(0)
        }
    }
}

pub(crate) fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn trust(
    inv: &mut Inventory,
    name: &str,
    expected: Option<String>,
    replace: bool,
    reason: Option<&str>,
) -> Result<i32> {
    let host = inv.host(name)?;
    if host.host_key.is_some() && !replace {
        bail!(
            "{name} already has a pinned key ({}). Use --replace only if the host was genuinely re-keyed.",
            host.host_key_fingerprint.unwrap_or_default()
        );
    }
    let rt = runtime()?;
    let fingerprint = match expected {
        Some(fp) => fp,
        None => {
            let key = rt.block_on(ops::host_key(inv, name))?;
            outln!(
                "{name} ({}:{}) presents host key {}",
                host.spec.address,
                host.spec.port,
                key.fingerprint
            );
            if !std::io::stdin().is_terminal() {
                bail!(
                    "{name}: confirm the fingerprint with --fingerprint {} (no terminal to ask on)",
                    key.fingerprint
                );
            }
            err!("Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host. Trust it? Type yes: ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            if line.trim() != "yes" {
                bail!("{name}: not trusted; nothing changed");
            }
            key.fingerprint
        }
    };
    let key = rt.block_on(ops::trust_host(inv, name, &fingerprint, replace, reason))?;
    outln!("trusted {name}: {}", key.fingerprint);
    Ok(0)
}

fn passphrase_fn() -> PassphraseFn {
    Arc::new(|path: &Path| {
        if let Ok(p) = std::env::var("PATCHDESK_KEY_PASSPHRASE") {
            return Some(p);
        }
        if std::io::stdin().is_terminal() {
            rpassword::prompt_password(format!("Passphrase for {}: ", path.display())).ok()
        } else {
            None
        }
    })
}

fn scan_cmd(inv: &mut Inventory, a: ScanArgs) -> Result<i32> {
    let names = ops::scan_targets(
        inv,
        &ops::ScanTargets {
            names: a.names.clone(),
            group: a.group.clone(),
            all: a.all,
        },
    )?;
    let opts = ops::scan_options(
        inv,
        ops::ScanOverrides {
            connect_timeout: a.timeout.map(std::time::Duration::from_secs),
            known_hosts: a.known_hosts.clone(),
            concurrency: a.concurrency,
            full: a.full,
            passphrase: Some(passphrase_fn()),
        },
    )?;
    let total = if names.is_empty() {
        inv.hosts()?.len()
    } else {
        names.len()
    };
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} scanning [{bar:30}] {pos}/{len} hosts {wide_msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    let pb = bar.clone();
    let progress: patchdesk_engine::progress::ProgressFn = Arc::new(move |e: &ProgressEvent| {
        match e.phase {
            Phase::Done | Phase::Failed => {
                pb.set_position(e.done as u64);
                if e.phase == Phase::Failed {
                    pb.println(term::clean(&format!(
                        "  ✗ {}: {}",
                        e.host.as_deref().unwrap_or("?"),
                        e.message
                    )));
                }
            }
            _ => {}
        }
        if let Some(h) = &e.host {
            pb.set_message(term::clean(h));
        }
    });
    let cancel = CancellationToken::new();
    let rt = runtime()?;
    let summary = rt.block_on(async {
        let c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                c.cancel();
            }
        });
        scan::scan_hosts(inv, &names, &opts, progress, cancel).await
    })?;
    bar.finish_and_clear();
    if a.json {
        output::json(&summary)?;
    } else {
        output::scan_summary(&summary);
    }
    let failed = summary.failed();
    if summary.cancelled {
        errln!("patchdesk: scan cancelled; what finished was stored");
        return Ok(130);
    }
    if failed > 0 {
        errln!(
            "patchdesk: {failed} of {} host(s) failed; see the errors above (`patchdesk host show NAME` keeps them)",
            summary.hosts.len()
        );
        return Ok(2);
    }
    Ok(0)
}

fn deploy_progress() -> patchdesk_engine::progress::ProgressFn {
    Arc::new(|e: &ProgressEvent| {
        let host = e.host.as_deref().unwrap_or("-");
        let mark = match e.phase {
            Phase::Failed => "✗",
            Phase::Done => "✓",
            _ => "·",
        };
        errln!("  {mark} {host}: {}", e.message);
    })
}

/// The person at the terminal; `--wait`: wait for another holder of the deployment.
fn user(wait: bool) -> ops::Writer {
    ops::Writer::user(if wait {
        rollout::OnBusy::Wait
    } else {
        rollout::OnBusy::Refuse
    })
}

fn print_status(st: &rollout::DeploymentStatus, json: bool) -> Result<i32> {
    if json {
        output::json(st)?;
    } else {
        output::deployment(st);
    }
    Ok(match st.state {
        rollout::DeploymentState::Halted => EXIT_HALTED,
        _ => 0,
    })
}

fn deploy_cmd(inv: &mut Inventory, cmd: DeployCmd) -> Result<i32> {
    let rt = runtime()?;
    match cmd {
        DeployCmd::Plan {
            name,
            scope,
            hosts,
            packages,
            cves,
            selection,
            bucket,
            waves,
            soak_hours,
            smoke,
            auto,
            overrides,
            pin,
            rollback_on_no_go,
            json,
        } => {
            let mut ov = std::collections::BTreeMap::new();
            for o in overrides {
                let (k, v) = o.split_once('=').context("--override takes GUARD=REASON")?;
                ov.insert(k.trim().to_string(), v.trim().to_string());
            }
            let req = rollout::PlanRequest {
                name,
                scope: scope.unwrap_or_default(),
                hosts,
                packages,
                cves,
                bucket: bucket.map(|b| b.parse()).transpose()?,
                waves,
                canary_soak_hours: soak_hours,
                smoke,
                auto,
                overrides: ov,
                non_prod_only: false,
                pin,
                rollback_on_no_go,
            };
            let req = ops::with_selection(inv, req, selection.as_deref())?;
            let plan = rt.block_on(ops::deploy_plan(inv, &req))?;
            if json {
                output::json(&plan)?;
            } else {
                output::plan(&plan);
            }
            if !plan.blocked().is_empty() {
                errln!(
                    "patchdesk: the plan is blocked by {}; nothing was stored: fix it, or override with --override GUARD=\"written reason\"",
                    plan.blocked().iter().map(|g| g.code.as_str()).collect::<Vec<_>>().join(", ")
                );
                return Ok(EXIT_PLAN_BLOCKED);
            }
            Ok(0)
        }
        DeployCmd::Start { id, wait, json } => {
            let st = rt.block_on(ops::deploy_start(inv, id, &user(wait), deploy_progress()))?;
            print_status(&st, json)
        }
        DeployCmd::Status { id: Some(id), json } => print_status(&rollout::status(inv, id)?, json),
        DeployCmd::Status { id: None, json } | DeployCmd::List { json } => {
            let all = rollout::list(inv)?;
            if json {
                output::json(&all)?;
            } else {
                for d in &all {
                    outln!(
                        "{:>4}  {:<24} {:<10} {:<12} {}",
                        d.id,
                        d.name,
                        d.scope,
                        d.state,
                        d.waiting_for.clone().unwrap_or_default()
                    );
                }
            }
            Ok(0)
        }
        DeployCmd::Go {
            id,
            override_no_go,
            reason,
            wait,
            json,
        } => {
            let reason = if override_no_go { reason } else { None };
            let st = rt.block_on(ops::deploy_go(
                inv,
                id,
                reason.as_deref(),
                &user(wait),
                deploy_progress(),
            ))?;
            print_status(&st, json)
        }
        DeployCmd::Exclude {
            id,
            host,
            reason,
            wait,
            json,
        } => print_status(
            &ops::deploy_exclude(inv, id, &host, &reason, &user(wait))?,
            json,
        ),
        DeployCmd::Delete { id, wait } => {
            ops::deploy_delete(inv, id, &user(wait))?;
            outln!("deleted deployment {id} (it was planned, never started)");
            Ok(0)
        }
        DeployCmd::NoGo {
            id,
            reason,
            wait,
            json,
        } => {
            let reason = match reason {
                Some(r) => r,
                None if std::io::stdin().is_terminal() => {
                    err!("Why no-go? (recorded with your decision): ");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line
                }
                None => String::new(),
            };
            let st = rt.block_on(ops::deploy_no_go(
                inv,
                id,
                &reason,
                &user(wait),
                deploy_progress(),
            ))?;
            print_status(&st, json)
        }
        DeployCmd::Drill {
            scope,
            packages,
            smoke,
            json,
        } => {
            let d = rt.block_on(ops::deploy_drill(
                inv,
                &scope,
                packages,
                smoke,
                deploy_progress(),
            ))?;
            if json {
                output::json(&d)?;
            } else {
                outln!(
                    "drill of {} (deployment {}): {}",
                    d.group,
                    d.deployment_id,
                    if d.ok {
                        "applied and rolled back, verified"
                    } else {
                        "FAILED: see `patchdesk deploy status`"
                    }
                );
            }
            Ok(if d.ok { 0 } else { EXIT_HALTED })
        }
        DeployCmd::Hook {
            group,
            snapshot,
            restore,
            on,
            clear,
        } => {
            if clear {
                rollout::set_snapshot_hook(inv, &group, None)?;
                outln!("{group}: snapshot hook removed");
                return Ok(0);
            }
            let hook = rollout::SnapshotHook {
                snapshot: snapshot.unwrap_or_default(),
                restore: restore.unwrap_or_default(),
                on,
            };
            rollout::set_snapshot_hook(inv, &group, Some(&hook))?;
            outln!(
                "{group}: snapshot hook set ({} on {})",
                hook.snapshot,
                hook.on
            );
            Ok(0)
        }
        DeployCmd::Smoke { group, set, clear } => {
            if clear {
                rollout::set_smoke_tests(inv, &group, &[])?;
            } else if !set.is_empty() {
                rollout::set_smoke_tests(inv, &group, &set)?;
            }
            let now = rollout::smoke_tests(inv, &group)?;
            if now.is_empty() {
                outln!("{group}: no smoke tests");
            }
            for c in now {
                outln!("{group}: {c}");
            }
            Ok(0)
        }
        DeployCmd::Checks(a) => {
            if a.clear {
                rollout::set_health_checks(inv, &a.group, None, "user")?;
            } else if a.any_set() {
                rollout::set_health_checks(inv, &a.group, Some(&a.config()), "user")?;
            }
            let now = rollout::health_checks(inv, &a.group)?;
            if a.json {
                output::json(&now)?;
            } else {
                match now {
                    None => outln!(
                        "{}: no health checks beyond reachability, versions and smoke tests",
                        a.group
                    ),
                    Some(c) => {
                        let text = serde_json::to_string_pretty(&c).unwrap_or_default();
                        outln!("{}: {}", a.group, text);
                    }
                }
            }
            Ok(0)
        }
        DeployCmd::Drills { json } => {
            let all = rollout::drills(inv)?;
            if json {
                output::json(&all)?;
            } else {
                for d in &all {
                    let when = if d.deployment_id == 0 {
                        "never".to_string()
                    } else {
                        format!(
                            "{} days ago ({})",
                            d.age_days,
                            if d.ok { "ok" } else { "failed" }
                        )
                    };
                    outln!(
                        "{:<16} last drill {when}{}",
                        d.group,
                        if d.overdue {
                            "  ← overdue: practise rollback at least quarterly"
                        } else {
                            ""
                        }
                    );
                }
            }
            Ok(0)
        }
        DeployCmd::Rollback {
            id,
            hosts,
            wait,
            json,
        } => {
            let st = rt.block_on(ops::deploy_rollback(
                inv,
                id,
                &hosts,
                &user(wait),
                deploy_progress(),
            ))?;
            print_status(&st, json)
        }
        DeployCmd::Export { id, ansible, json } => {
            let x = ops::deploy_export_ansible(inv, id, &ansible)?;
            if json {
                output::json(&x)?;
            } else {
                outln!(
                    "{} hosts in batches {:?}: ansible-playbook -i {} {}  (rollback: {})",
                    x.hosts,
                    x.batches,
                    x.inventory.display(),
                    x.playbook.display(),
                    x.rollback.display()
                );
                if let Some(u) = &x.unpin {
                    outln!("the rollback pins: {} lifts the pins", u.display());
                }
                for n in &x.notes {
                    outln!("note: {n}");
                }
            }
            Ok(0)
        }
        DeployCmd::Selection(SelectionCmd::Save {
            name,
            packages,
            cves,
            bucket,
        }) => {
            let sel = rollout::Selection {
                name,
                packages,
                cves,
                bucket: bucket.map(|b| b.parse()).transpose()?,
            };
            rollout::save_selection(inv, &sel)?;
            outln!("selection {} saved", sel.name);
            Ok(0)
        }
        DeployCmd::Selection(SelectionCmd::List { json }) => {
            let all = rollout::selections(inv)?;
            if json {
                output::json(&all)?;
            } else {
                for s in &all {
                    outln!(
                        "{:<20} packages: {}  cves: {}  bucket: {}",
                        s.name,
                        s.packages.join(" "),
                        s.cves.join(" "),
                        s.bucket
                            .map(|b| format!("{b:?}").to_lowercase())
                            .unwrap_or_else(|| "any".into())
                    );
                }
            }
            Ok(0)
        }
        DeployCmd::Selection(SelectionCmd::Delete { name }) => {
            rollout::delete_selection(inv, &name)?;
            outln!("selection {name} deleted");
            Ok(0)
        }
        DeployCmd::Reboot {
            id,
            hosts,
            wait,
            json,
        } => {
            let st = rt.block_on(ops::deploy_reboot(
                inv,
                id,
                &hosts,
                &user(wait),
                deploy_progress(),
            ))?;
            print_status(&st, json)
        }
        DeployCmd::Unpin {
            id,
            hosts,
            wait,
            json,
        } => {
            let st = rt.block_on(ops::deploy_unpin(
                inv,
                id,
                &hosts,
                &user(wait),
                deploy_progress(),
            ))?;
            print_status(&st, json)
        }
        DeployCmd::Window {
            group: None,
            set: None,
            clear: false,
        } => {
            for (g, w) in rollout::maintenance_windows(inv)? {
                outln!("{g:<16} {w}");
            }
            Ok(0)
        }
        DeployCmd::Window {
            group: Some(group),
            set,
            clear,
        } => {
            if clear {
                rollout::set_maintenance_window(inv, &group, None)?;
                outln!("{group}: no maintenance window (stages run at any time)");
            } else if let Some(spec) = set {
                rollout::set_maintenance_window(inv, &group, Some(&spec))?;
                outln!("{group}: maintenance window {spec}");
            } else {
                match rollout::maintenance_window(inv, &group)? {
                    Some(w) => outln!("{group}: maintenance window {w}"),
                    None => outln!("{group}: no maintenance window"),
                }
            }
            Ok(0)
        }
        DeployCmd::Window { group: None, .. } => {
            anyhow::bail!("--set and --clear need --group GROUP")
        }
    }
}

fn settings_cmd(inv: &Inventory, a: SettingsArgs) -> Result<i32> {
    let mut s = Settings::load(inv)?;
    let mut changed = false;
    if let Some(c) = a.concurrency {
        s.concurrency = c;
        changed = true;
    }
    if let Some(t) = a.dpkg_lock_wait {
        s.dpkg_lock_wait_secs = t;
        changed = true;
    }
    if let Some(t) = a.apply_timeout {
        s.apply_timeout_secs = t;
        changed = true;
    }
    if let Some(t) = a.connect_timeout {
        s.connect_timeout_secs = t;
        changed = true;
    }
    if let Some(t) = a.command_timeout {
        s.command_timeout_secs = t;
        changed = true;
    }
    if let Some(d) = &a.reports_dir {
        s.reports_dir = if d.as_os_str().is_empty() {
            None
        } else {
            Some(absolute(d)?)
        };
        changed = true;
    }
    if let Some(p) = &a.report_paper {
        s.report_paper = p.parse()?;
        changed = true;
    }
    if !a.known_hosts.is_empty() {
        s.known_hosts = a
            .known_hosts
            .iter()
            .map(|p| absolute(p))
            .collect::<Result<_>>()?;
        changed = true;
    }
    if changed {
        s.save(inv).context("settings not saved")?;
    }
    if a.json {
        output::json(&s)?;
    } else {
        outln!("database         {}", inv.path().display());
        outln!("concurrency      {}", s.concurrency);
        outln!("connect timeout  {}s", s.connect_timeout_secs);
        outln!("command timeout  {}s", s.command_timeout_secs);
        outln!("dpkg lock wait   {}s", s.dpkg_lock_wait_secs);
        outln!("apply timeout    {}s", s.apply_timeout_secs);
        outln!(
            "reports folder   {}",
            s.reports_dir
                .as_ref()
                .map_or("(none: weekly snapshots only)".into(), |d| d
                    .display()
                    .to_string())
        );
        outln!("report paper     {:?}", s.report_paper);
        for k in &s.known_hosts {
            outln!("known_hosts      {}", k.display());
        }
    }
    Ok(0)
}

fn parse_env(e: &str) -> Result<Environment> {
    e.parse::<Environment>().map_err(|m| anyhow::anyhow!(m))
}

/// A spinner on stderr with the current step (reports are built and rendered in seconds, but a
/// fleet of thousands of hosts takes long enough to want to see it move).
fn spinner(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

fn report_cmd(inv: &Inventory, cmd: ReportCmd) -> Result<i32> {
    match cmd {
        ReportCmd::Weekly(a) => {
            let scope = match (a.scope, a.env, a.fleet) {
                (Some(g), _, _) => report::Scope::Group(g),
                (None, Some(e), _) => report::Scope::Environment(parse_env(&e)?),
                (None, None, true) => report::Scope::Fleet,
                (None, None, false) => {
                    bail!("choose what the report covers: --scope GROUP, --env prod|non-prod or --fleet")
                }
            };
            if a.pdf.is_none() && a.csv.is_none() && !a.json {
                bail!("choose at least one output: --pdf FILE, --csv DIR or --json");
            }
            let week = a.week.as_deref().map(str::parse).transpose()?;
            let paper: report::Paper = a.paper.parse()?;
            let bar = spinner(false);
            bar.set_message(format!(
                "{}: reading the data (one transaction)",
                scope.title()
            ));
            let r = report::weekly_report(inv, &scope, week)?;
            if r.summary.hosts.total == 0 {
                bar.suspend(|| {
                    errln!(
                        "warning: no host is in {} (known groups: {}); the report says so",
                        scope.title(),
                        inv.groups()
                            .map(|g| g.into_iter().map(|(n, _)| n).collect::<Vec<_>>().join(", "))
                            .unwrap_or_default()
                    )
                });
            }
            if let Some(path) = &a.pdf {
                bar.set_message(format!(
                    "rendering the PDF ({} overdue rows)",
                    r.overdue.len()
                ));
                let bytes = patchdesk_report::pdf(&r, paper)?;
                bar.set_message(format!("writing {}", path.display()));
                std::fs::write(path, &bytes).with_context(|| {
                    format!(
                        "cannot write {} (check the folder exists and is writable)",
                        path.display()
                    )
                })?;
                report::record_generated(
                    inv,
                    &r,
                    report::Origin::Cli,
                    report::ReportFormat::Pdf,
                    path,
                    bytes.len() as u64,
                )?;
                bar.suspend(|| {
                    errln!(
                        "wrote {} ({} KiB)",
                        path.display(),
                        bytes.len().div_ceil(1024)
                    )
                });
            }
            if let Some(dir) = &a.csv {
                bar.set_message("writing the CSV tables");
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let files = patchdesk_report::csv_tables(&r)?;
                for (name, bytes) in &files {
                    let p = dir.join(name);
                    std::fs::write(&p, bytes)
                        .with_context(|| format!("cannot write {}", p.display()))?;
                }
                report::record_generated(
                    inv,
                    &r,
                    report::Origin::Cli,
                    report::ReportFormat::Csv,
                    dir,
                    files.iter().map(|(_, b)| b.len() as u64).sum(),
                )?;
                bar.suspend(|| errln!("wrote {} CSV files into {}", files.len(), dir.display()));
            }
            bar.finish_and_clear();
            if a.json {
                output::json(&r)?;
            }
            Ok(0)
        }
        ReportCmd::Snapshot { json } => {
            let done = report::close_weeks(inv)?;
            if json {
                let v: Vec<serde_json::Value> = done
                    .iter()
                    .map(|(s, w)| serde_json::json!({"scope": s, "week": w}))
                    .collect();
                output::json(&v)?;
            } else if done.is_empty() {
                outln!("every week that ended has its snapshots");
            } else {
                for (s, w) in &done {
                    outln!("{w}  {}", s.title());
                }
            }
            Ok(0)
        }
        ReportCmd::Scheduled { json } => {
            let done = report::run_scheduled(inv, &patchdesk_report::scheduled_files)?;
            if json {
                let v: Vec<serde_json::Value> = done
                    .iter()
                    .map(|d| serde_json::json!({"scope": d.scope, "week": d.week, "notification": d.notification, "open": d.open, "files": d.files}))
                    .collect();
                output::json(&v)?;
            } else if done.is_empty() {
                outln!("nothing to do: snapshots are taken, and the reports of the last week are written (or no reports folder is set: settings --reports-dir DIR)");
            } else {
                for d in &done {
                    outln!(
                        "{}  {}",
                        d.notification,
                        d.open
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    );
                }
            }
            Ok(0)
        }
        ReportCmd::History { limit, json } => {
            let h = report::history(inv, limit)?;
            if json {
                output::json(&h)?;
            } else if h.is_empty() {
                outln!("no report generated yet");
            } else {
                for e in &h {
                    outln!(
                        "{}  {}  {:<22} {:<5} {:<9} {:>8}  {}",
                        e.generated_at.format("%Y-%m-%d %H:%M"),
                        e.week,
                        e.scope.title(),
                        e.format.as_str(),
                        format!("{:?}", e.origin).to_lowercase(),
                        e.percent.map_or("-".into(), |p| format!("{p:.1} %")),
                        e.path
                    );
                }
            }
            Ok(0)
        }
    }
}
