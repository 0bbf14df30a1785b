//! The user-visible operations, one function each, called the same way by the CLI and the app
//! (their commands are a few lines: parse, call, render). Owns what both shells used to repeat:
//! the SSH options loaded from Settings (the one place), which hosts a scan covers, a saved
//! selection merged into a plan request, the writer of a deployment (who, and whether to wait
//! for another holder of its lease), and when a deployment deserves a desktop notification.
//! Must not render anything, parse command lines or know about Tauri; the work itself stays in
//! `scan`, `rollout` and the other modules.

use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::jobs::Notice;
use crate::progress::ProgressFn;
use crate::rollout::{
    self, DeploymentState, DeploymentStatus, DrillStatus, GateVerdict, HostState, Mode, OnBusy,
    Plan, PlanRequest, StageState,
};
use crate::scan::{self, ScanOptions, ScanSummary};
use crate::settings::Settings;
use crate::ssh::{PassphraseFn, ServerKey, SshOptions};
use std::collections::BTreeSet;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// The SSH options every operation uses: timeouts and known_hosts files from Settings.
pub fn ssh_options(inv: &Inventory) -> Result<SshOptions> {
    Ok(Settings::load(inv)?.ssh_options())
}

/// Who changes a deployment, and what to do while another process holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    /// Recorded with the decision and in the lease: `user`, `auto`, a person's name.
    pub who: String,
    pub on_busy: OnBusy,
}

impl Writer {
    /// A person at the CLI or in the app.
    pub fn user(on_busy: OnBusy) -> Self {
        Writer {
            who: "user".into(),
            on_busy,
        }
    }
}

// Scans.

/// Which hosts a scan covers: named hosts, plus a group's members, or all hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanTargets {
    pub names: Vec<String>,
    pub group: Option<String>,
    pub all: bool,
}

/// The host names to scan, sorted and once each; empty means every host (`all`).
pub fn scan_targets(inv: &Inventory, t: &ScanTargets) -> Result<Vec<String>> {
    let mut names = t.names.clone();
    if let Some(g) = &t.group {
        let members = inv.hosts_in_group(g)?;
        if members.is_empty() {
            return Err(Error::Invalid(format!(
                "group {g:?} has no hosts. Run `patchdesk host list` to see the groups."
            )));
        }
        names.extend(members);
    }
    if names.is_empty() && !t.all {
        return Err(Error::Invalid(
            "name the hosts to scan, or use --group G or --all".into(),
        ));
    }
    if t.all {
        names.clear();
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// What a person may change for one scan, over Settings.
#[derive(Clone, Default)]
pub struct ScanOverrides {
    pub connect_timeout: Option<std::time::Duration>,
    pub known_hosts: Vec<PathBuf>,
    pub concurrency: Option<usize>,
    pub full: bool,
    pub passphrase: Option<PassphraseFn>,
}

/// The options of a scan: Settings, then the overrides.
pub fn scan_options(inv: &Inventory, o: ScanOverrides) -> Result<ScanOptions> {
    let settings = Settings::load(inv)?;
    let mut ssh = settings.ssh_options();
    if let Some(t) = o.connect_timeout {
        ssh.connect_timeout = t;
    }
    ssh.known_hosts.extend(o.known_hosts);
    Ok(ScanOptions {
        concurrency: o.concurrency.unwrap_or(settings.concurrency),
        ssh,
        passphrase: o.passphrase,
        full: o.full,
        ..ScanOptions::default()
    })
}

/// Scan hosts (`names` empty: all of them) with the options of Settings.
pub async fn scan(
    inv: &mut Inventory,
    names: &[String],
    progress: ProgressFn,
    cancel: CancellationToken,
) -> Result<ScanSummary> {
    let opts = scan_options(inv, ScanOverrides::default())?;
    scan::scan_hosts(inv, names, &opts, progress, cancel).await
}

/// A host's key fingerprint, fetched for a person to compare (nothing is run).
pub async fn host_key(inv: &Inventory, name: &str) -> Result<ServerKey> {
    let ssh = ssh_options(inv)?;
    scan::host_key_fingerprint(inv, name, &ssh).await
}

/// What a host presents now beside the key trusted for it until now: pinned (and how), or the
/// known_hosts line of Settings that vouched for it when nothing is pinned. Nothing is run. Takes
/// the host and options (not the inventory) so a shell need not hold its database across the
/// network wait.
pub async fn host_key_check(
    host: &crate::inventory::HostRecord,
    ssh: &SshOptions,
) -> Result<crate::ssh::HostKeyCheck> {
    let name = &host.spec.name;
    let offered = crate::ssh::fetch_host_key(&host.spec, ssh)
        .await
        .map_err(|e| Error::host(name, e))?;
    let pinned = host
        .host_key_fingerprint
        .as_deref()
        .map(|fp| (fp, host.host_key_source.as_deref()));
    let trusted = crate::ssh::trusted_key(&host.spec, pinned, &ssh.known_hosts, &offered);
    Ok(crate::ssh::HostKeyCheck { offered, trusted })
}

/// Pin a host's key once a person compared its fingerprint; `replace` (a re-keyed host) needs
/// a reason, recorded in the audit log with the old and the new fingerprint.
pub async fn trust_host(
    inv: &mut Inventory,
    name: &str,
    fingerprint: &str,
    replace: bool,
    reason: Option<&str>,
) -> Result<ServerKey> {
    let ssh = ssh_options(inv)?;
    scan::trust_host(inv, name, fingerprint, replace, reason, &ssh).await
}

/// Change an existing host's connection (address, port, user, key), groups, tags and
/// environment; its history and pinned key stay. Audited with what changed.
pub fn edit_host(inv: &mut Inventory, spec: &crate::host::HostSpec, who: &str) -> Result<()> {
    let before = inv.host(&spec.name)?.spec;
    let mut changed = Vec::new();
    let mut note = |what: &str, a: String, b: String| {
        if a != b {
            changed.push(format!("{what} {a} → {b}"));
        }
    };
    note("address", before.address.clone(), spec.address.clone());
    note("port", before.port.to_string(), spec.port.to_string());
    note("user", before.user.clone(), spec.user.clone());
    note(
        "auth",
        format!("{:?}", before.auth),
        format!("{:?}", spec.auth),
    );
    note(
        "environment",
        before.environment.as_str().to_string(),
        spec.environment.as_str().to_string(),
    );
    note("groups", before.groups.join(","), spec.groups.join(","));
    note("tags", before.tags.join(","), spec.tags.join(","));
    inv.add_hosts(std::slice::from_ref(spec), true)?;
    if !changed.is_empty() {
        let detail = crate::text::clean(&changed.join("; "));
        inv.audit(
            who,
            Some(&spec.name),
            "edit-host",
            "note",
            None,
            None,
            None,
            Some(&detail),
        )?;
    }
    Ok(())
}

/// Add and remove tags on hosts (each checked like a group name); each host that changed is
/// audited as an edit (`tags a → b`). Returns how many hosts changed.
pub fn tag_hosts(
    inv: &mut Inventory,
    names: &[String],
    add: &[String],
    remove: &[String],
    who: &str,
) -> Result<usize> {
    for t in add.iter().chain(remove) {
        crate::host::validate_label(t).map_err(Error::Invalid)?;
    }
    if names.is_empty() || (add.is_empty() && remove.is_empty()) {
        return Err(Error::Invalid(
            "name the hosts and at least one tag to add or remove".into(),
        ));
    }
    let mut changed = 0;
    for name in names {
        let mut spec = inv.host(name)?.spec;
        let before = spec.tags.clone();
        spec.tags.retain(|t| !remove.contains(t));
        for t in add {
            if !spec.tags.contains(t) {
                spec.tags.push(t.clone());
            }
        }
        spec.tags.sort();
        let mut was = before;
        was.sort();
        if spec.tags != was {
            edit_host(inv, &spec, who)?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// The hosts a filter shows (for `host list --filter`; the app filters the list it holds by the
/// same rule).
pub fn hosts_matching(
    inv: &Inventory,
    filter: &crate::host_filter::HostFilter,
) -> Result<Vec<crate::inventory::HostSummary>> {
    let mut hosts = inv.host_summaries()?;
    hosts.retain(|h| filter.matches(h));
    Ok(hosts)
}

// Deployments.

/// A plan request with a saved selection merged in: its packages and CVEs added, its bucket
/// used unless the request names one.
pub fn with_selection(
    inv: &Inventory,
    mut req: PlanRequest,
    selection: Option<&str>,
) -> Result<PlanRequest> {
    if let Some(name) = selection {
        let sel = rollout::selection(inv, name)?;
        req.packages.extend(sel.packages);
        req.cves.extend(sel.cves);
        req.bucket = req.bucket.or(sel.bucket);
    }
    Ok(req)
}

/// Plan a deployment (stored unless a guard blocks it).
pub async fn deploy_plan(inv: &mut Inventory, req: &PlanRequest) -> Result<Plan> {
    let ssh = ssh_options(inv)?;
    rollout::plan(inv, req, &ssh).await
}

/// Start or resume a deployment: as far as it can go now.
pub async fn deploy_start(
    inv: &mut Inventory,
    id: i64,
    w: &Writer,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let ssh = ssh_options(inv)?;
    rollout::advance(inv, id, &w.who, &ssh, w.on_busy, progress).await
}

/// Go at the current gate (over a no-go only with a written reason), then continue.
pub async fn deploy_go(
    inv: &mut Inventory,
    id: i64,
    override_no_go: Option<&str>,
    w: &Writer,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let ssh = ssh_options(inv)?;
    rollout::go(inv, id, override_no_go, &w.who, &ssh, w.on_busy, progress).await
}

/// No-go at the current gate: the deployment halts (and rolls back by policy).
pub async fn deploy_no_go(
    inv: &mut Inventory,
    id: i64,
    reason: &str,
    w: &Writer,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let ssh = ssh_options(inv)?;
    rollout::no_go(inv, id, &w.who, reason, &ssh, w.on_busy, progress).await
}

/// The decision at a gate: go (with a reason when overriding a no-go) or no-go (always with a
/// reason, recorded with who and when).
pub async fn deploy_decide(
    inv: &mut Inventory,
    id: i64,
    go: bool,
    override_no_go: Option<&str>,
    no_go_reason: Option<&str>,
    w: &Writer,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    if go {
        deploy_go(inv, id, override_no_go, w, progress).await
    } else {
        deploy_no_go(inv, id, no_go_reason.unwrap_or(""), w, progress).await
    }
}

/// Leave a host out of the rest of a deployment, with a written reason.
pub fn deploy_exclude(
    inv: &Inventory,
    id: i64,
    host: &str,
    reason: &str,
    w: &Writer,
) -> Result<DeploymentStatus> {
    rollout::exclude(inv, id, host, reason, &w.who, w.on_busy)
}

/// Delete an abandoned plan (a deployment still planned, never started); audited.
pub fn deploy_delete(inv: &Inventory, id: i64, w: &Writer) -> Result<()> {
    rollout::delete_planned(inv, id, &w.who, w.on_busy)
}

/// Roll back the hosts that received the update (or only `hosts`).
pub async fn deploy_rollback(
    inv: &mut Inventory,
    id: i64,
    hosts: &[String],
    w: &Writer,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let ssh = ssh_options(inv)?;
    rollout::rollback(inv, id, hosts, &w.who, &ssh, w.on_busy, progress).await
}

/// Reboot, at the current waiting gate, the stage's hosts that need it (or only `hosts`), then
/// measure the stage again.
pub async fn deploy_reboot(
    inv: &mut Inventory,
    id: i64,
    hosts: &[String],
    w: &Writer,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let ssh = ssh_options(inv)?;
    rollout::reboot_at_gate(inv, id, hosts, &w.who, &ssh, w.on_busy, progress).await
}

/// Write the deployment as an Ansible playbook, inventory and rollback playbook into `dir`: the
/// same plan for `ansible-playbook` (see `rollout::export_ansible`). Changes no host.
pub fn deploy_export_ansible(
    inv: &Inventory,
    id: i64,
    dir: &std::path::Path,
) -> Result<rollout::AnsibleExport> {
    rollout::export_ansible(inv, id, dir)
}

/// Lift the pins a pin rollback left (or only on `hosts`).
pub async fn deploy_unpin(
    inv: &mut Inventory,
    id: i64,
    hosts: &[String],
    w: &Writer,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let ssh = ssh_options(inv)?;
    rollout::unpin(inv, id, hosts, &w.who, &ssh, w.on_busy, progress).await
}

/// A rollback drill of `packages` on the scope's non-prod hosts.
pub async fn deploy_drill(
    inv: &mut Inventory,
    scope: &str,
    packages: Vec<String>,
    smoke: Vec<String>,
    progress: ProgressFn,
) -> Result<DrillStatus> {
    let ssh = ssh_options(inv)?;
    let req = PlanRequest {
        name: format!("{scope} {}", packages.join(" ")),
        scope: scope.to_string(),
        packages,
        smoke,
        ..Default::default()
    };
    rollout::drill(inv, &req, &ssh, progress).await
}

// Notifications.

/// When a deployment a person is watching deserves a desktop notification: a manual gate
/// waiting for its decision ("canary gate: 2/2 healthy, go?"), or an auto deployment halted at
/// a no-go; each once per gate and deployment.
#[derive(Debug, Default)]
pub struct GateNotices {
    seen: BTreeSet<(i64, i64)>,
}

impl GateNotices {
    pub fn notice(&mut self, st: &DeploymentStatus) -> Option<Notice> {
        let stage = st.stages.get(usize::try_from(st.current_stage).ok()?)?;
        let notice = |title: String, body: String| Notice {
            title,
            body,
            deployment_id: Some(st.id),
            open: None,
        };
        if matches!(
            st.state,
            DeploymentState::Halted | DeploymentState::RolledBack
        ) {
            // An auto gate said no-go: say so once, and what was rolled back by policy.
            if !self.seen.insert((st.id, -1)) || st.mode != Mode::Auto {
                return None;
            }
            let rolled = stage
                .hosts
                .iter()
                .filter(|h| h.state == HostState::RolledBack)
                .count();
            return Some(notice(
                format!("{}: halted at the {} gate (no-go)", st.name, stage.name),
                if rolled > 0 {
                    format!("{rolled} host(s) rolled back by policy. Click to open the deployment.")
                } else {
                    "Click to open the deployment and roll back the affected hosts.".into()
                },
            ));
        }
        if stage.state != StageState::Gate || st.mode != Mode::Manual {
            return None;
        }
        if !self.seen.insert((st.id, stage.idx)) {
            return None;
        }
        let ok = stage
            .hosts
            .iter()
            .filter(|h| h.state == HostState::Applied)
            .count();
        let verdict = if stage.verdict == Some(GateVerdict::Go) {
            "go?"
        } else {
            "the engine says no-go"
        };
        Some(notice(
            format!(
                "{}: {} gate: {ok}/{} healthy, {verdict}",
                st.name,
                stage.name,
                stage.hosts.len()
            ),
            "Click to open the deployment and decide.".to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::{GateReason, HostStatus, StageStatus};

    fn st(
        state: DeploymentState,
        mode: Mode,
        stage: StageState,
        reasons: Vec<GateReason>,
    ) -> DeploymentStatus {
        let host = |n: &str, s: HostState| HostStatus {
            host: n.into(),
            state: s,
            error: None,
            pinned: false,
            note: None,
            excluded: None,
            changes: Vec::new(),
            checks: Vec::new(),
        };
        DeploymentStatus {
            id: 7,
            name: "hello".into(),
            scope: "web".into(),
            state,
            mode,
            current_stage: 0,
            stages: vec![StageStatus {
                idx: 0,
                name: "canary".into(),
                state: stage,
                soak_until: None,
                soak_seconds_left: None,
                verdict: Some(rollout::verdict(&reasons)),
                decision: None,
                decided_by: None,
                decided_at: None,
                decision_reason: None,
                override_reason: None,
                reasons,
                hosts: vec![
                    host("a", HostState::Applied),
                    host("b", HostState::RolledBack),
                ],
                window_opens_at: None,
            }],
            warnings: Vec::new(),
            overrides: Default::default(),
            waiting_for: None,
            rollback_on_no_go: false,
            held_by: None,
        }
    }

    #[test]
    fn a_manual_gate_is_announced_once_and_an_auto_halt_once() {
        let mut n = GateNotices::default();
        let gate = st(
            DeploymentState::Running,
            Mode::Manual,
            StageState::Gate,
            vec![],
        );
        let first = n.notice(&gate).unwrap();
        assert_eq!(first.title, "hello: canary gate: 1/2 healthy, go?");
        assert_eq!(first.deployment_id, Some(7));
        assert!(n.notice(&gate).is_none(), "once per gate");
        let bad = st(
            DeploymentState::Running,
            Mode::Manual,
            StageState::Gate,
            vec![GateReason::no_go("a", "smoke test failed")],
        );
        assert!(GateNotices::default()
            .notice(&bad)
            .unwrap()
            .title
            .ends_with("the engine says no-go"));
        let soaking = st(
            DeploymentState::Running,
            Mode::Manual,
            StageState::Soaking,
            vec![],
        );
        assert!(GateNotices::default().notice(&soaking).is_none());
        let auto_gate = st(
            DeploymentState::Running,
            Mode::Auto,
            StageState::Gate,
            vec![],
        );
        assert!(
            GateNotices::default().notice(&auto_gate).is_none(),
            "auto decides itself"
        );
        let halted = st(
            DeploymentState::Halted,
            Mode::Auto,
            StageState::Failed,
            vec![],
        );
        let h = n.notice(&halted).unwrap();
        assert_eq!(h.title, "hello: halted at the canary gate (no-go)");
        assert_eq!(
            h.body,
            "1 host(s) rolled back by policy. Click to open the deployment."
        );
        assert!(n.notice(&halted).is_none(), "once");
        let manual_halt = st(
            DeploymentState::Halted,
            Mode::Manual,
            StageState::Failed,
            vec![],
        );
        assert!(
            GateNotices::default().notice(&manual_halt).is_none(),
            "a person decided it"
        );
    }

    #[test]
    fn scan_targets_are_named_hosts_a_group_or_all() {
        let (mut inv, _) = crate::inventory::test_util::inv();
        let mut a = crate::host::HostSpec::new("b-1", "192.0.2.1");
        a.groups = vec!["web".into()];
        inv.add_host(&a).unwrap();
        inv.add_host(&crate::host::HostSpec::new("a-1", "192.0.2.2"))
            .unwrap();
        let t = |names: &[&str], group: Option<&str>, all: bool| ScanTargets {
            names: names.iter().map(|s| s.to_string()).collect(),
            group: group.map(str::to_string),
            all,
        };
        assert_eq!(
            scan_targets(&inv, &t(&["b-1", "a-1"], Some("web"), false)).unwrap(),
            ["a-1", "b-1"]
        );
        assert!(scan_targets(&inv, &t(&[], None, true)).unwrap().is_empty());
        assert_eq!(
            scan_targets(&inv, &t(&[], None, false))
                .unwrap_err()
                .to_string(),
            "name the hosts to scan, or use --group G or --all"
        );
        assert!(scan_targets(&inv, &t(&[], Some("db"), false))
            .unwrap_err()
            .to_string()
            .starts_with("group \"db\" has no hosts."));
    }
}
