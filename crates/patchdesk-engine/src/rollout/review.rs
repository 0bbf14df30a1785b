//! What a plan shows before anything runs (issue #13's plan review): the scope's hosts left out
//! and why, which hosts will need a reboot (and whether the stage does it), the timeline (the
//! canary soak's end if started now, the maintenance windows of the hosts' groups), and the
//! health checks each stage's gate will rest on, flagging a stage with nothing beyond
//! reachability and versions.
//!
//! Owns nothing in the database (reads hosts, scans, settings and the group's checks). Must not
//! change hosts or the plan's stages.

use super::*;

/// A host of the scope that the plan leaves out, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LeftOut {
    pub host: String,
    pub reason: String,
}

/// The checks one stage's gate will rest on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StageChecks {
    pub stage: String,
    pub checks: Vec<String>,
    /// Nothing beyond reachability and versions: flagged.
    pub only_reachability: bool,
}

/// A host the plan expects to need a reboot, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RebootForecast {
    pub host: String,
    pub stage: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PlanReview {
    pub left_out: Vec<LeftOut>,
    pub reboots: Vec<RebootForecast>,
    pub reboot_policy: RebootPolicy,
    pub stage_checks: Vec<StageChecks>,
    /// The canary soak ends then if the deployment starts now.
    pub canary_soak_ends: Option<DateTime<Utc>>,
    /// Maintenance windows of the groups of the plan's hosts: (group, window).
    pub windows: Vec<(String, String)>,
}

/// Build the review of a plan.
pub(super) fn review(
    inv: &Inventory,
    req: &PlanRequest,
    stages: &[StagePlan],
    transaction: &[Change],
    smoke: &[String],
) -> Result<PlanReview> {
    let planned: BTreeSet<&str> = stages
        .iter()
        .flat_map(|s| s.hosts.iter().map(String::as_str))
        .collect();
    let scope_hosts = if !req.hosts.is_empty() {
        req.hosts.iter().map(|h| h.trim().to_string()).collect()
    } else if inv.groups()?.iter().any(|(g, _)| g == &req.scope) {
        inv.hosts_in_group(&req.scope)?
    } else {
        vec![req.scope.clone()]
    };
    let summaries = inv.host_summaries()?;
    let mut left_out = Vec::new();
    for h in scope_hosts.iter().filter(|h| !planned.contains(h.as_str())) {
        let s = summaries.iter().find(|s| &s.host.spec.name == h);
        let reason = match s {
            None => "not in the inventory".to_string(),
            Some(s) if req.non_prod_only && s.host.spec.environment == Environment::Prod => {
                "outside the scope of a drill (production)".to_string()
            }
            Some(s) => match (&s.last_scan, &s.last_ok_scan) {
                (None, _) => "never scanned: scan it first".to_string(),
                (Some(l), _) if !l.ok => format!(
                    "unreachable at its last scan ({}): nothing is known of its updates",
                    crate::text::clip(
                        &crate::text::clean(l.error_message.as_deref().unwrap_or("failed")),
                        120
                    )
                ),
                _ => "nothing pending that the selection names (already patched)".to_string(),
            },
        };
        left_out.push(LeftOut {
            host: h.clone(),
            reason,
        });
    }
    let mut host_groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in stages.iter().flat_map(|s| &s.hosts) {
        if let Ok(r) = inv.host(h) {
            host_groups.insert(h.clone(), r.spec.groups);
        }
    }
    let checks =
        super::checks::PlannedChecks::gather(inv, &req.scope, host_groups.values().flatten())?;
    let no_groups = Vec::new();
    let of_host = |h: &String| checks.for_host(host_groups.get(h).unwrap_or(&no_groups));
    let mut reboots = Vec::new();
    for s in stages {
        for h in &s.hosts {
            let pkgs: Vec<&str> = transaction
                .iter()
                .filter(|c| &c.host == h && super::reboot::reboot_package(&c.package))
                .map(|c| c.package.as_str())
                .collect();
            let flagged = summaries
                .iter()
                .find(|x| &x.host.spec.name == h)
                .and_then(|x| x.last_ok_scan.as_ref())
                .and_then(|x| x.reboot_required)
                .unwrap_or(false);
            let why = match (pkgs.is_empty(), flagged) {
                (false, _) => format!("its update changes {}", pkgs.join(", ")),
                (true, true) => "it already needs one (last scan)".to_string(),
                (true, false) => continue,
            };
            reboots.push(RebootForecast {
                host: h.clone(),
                stage: s.name.clone(),
                why,
            });
        }
    }
    // The policy of the hosts that will need a reboot (the scope's, or their group's).
    let policy = reboots
        .first()
        .map(|r| &r.host)
        .or_else(|| host_groups.keys().next())
        .and_then(of_host)
        .map(|(c, _)| c.reboot)
        .unwrap_or_default();
    // Each stage's checks: those of its hosts (a stage over several groups lists each group's),
    // flagged when a host of it has nothing beyond reachability and versions.
    let stage_checks = stages
        .iter()
        .map(|s| {
            let mut checks: Vec<String> = Vec::new();
            let mut only = false;
            let mut from: BTreeSet<&str> = BTreeSet::new();
            for h in &s.hosts {
                let c = of_host(h);
                if let Some((_, Some(g))) = c {
                    from.insert(g);
                }
                let (described, none) = super::checks::describe(c.map(|(c, _)| c), smoke);
                only |= none;
                for d in described {
                    if !checks.contains(&d) {
                        checks.push(d);
                    }
                }
            }
            if !from.is_empty() {
                checks.push(format!(
                    "(checks of group {})",
                    from.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
            StageChecks {
                stage: s.name.clone(),
                checks,
                only_reachability: only,
            }
        })
        .collect();
    let now = inv.clock().now();
    let canary_soak_ends = stages
        .first()
        .filter(|s| s.name == "canary")
        .and_then(|_| Duration::try_hours(req.canary_soak_hours))
        .and_then(|d| now.checked_add_signed(d));
    let all_windows = super::maintenance_windows(inv)?;
    let mut groups: BTreeSet<String> = BTreeSet::new();
    for h in &planned {
        if let Ok(r) = inv.host(h) {
            groups.extend(r.spec.groups.iter().cloned());
        }
    }
    let windows = all_windows
        .into_iter()
        .filter(|(g, _)| groups.contains(g))
        .collect();
    Ok(PlanReview {
        left_out,
        reboots,
        reboot_policy: policy,
        stage_checks,
        canary_soak_ends,
        windows,
    })
}
