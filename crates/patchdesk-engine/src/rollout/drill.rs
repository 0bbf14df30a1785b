//! Rollback drills: a plan applied and rolled back on non-prod only, dated per group.

use super::*;

/// The last rollback drill of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DrillStatus {
    pub group: String,
    pub last_at: DateTime<Utc>,
    pub ok: bool,
    pub deployment_id: i64,
    pub age_days: i64,
    /// Older than 90 days: practise rollback at least quarterly.
    pub overdue: bool,
}

const DRILL_PREFIX: &str = "drill:";

/// A rollback drill: apply the plan on the scope's non-prod hosts only, verify, roll back, verify
/// again, and record the date and the result for the group.
pub async fn drill(
    inv: &mut Inventory,
    req: &PlanRequest,
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<DrillStatus> {
    let mut r = req.clone();
    r.non_prod_only = true;
    r.auto = true;
    r.canary_soak_hours = 0;
    r.name = format!("drill: {}", req.name);
    // A drill never touches production; the single-stage guard does not apply to it.
    r.overrides
        .entry("single-stage".into())
        .or_insert_with(|| "drill on non-prod only".into());
    let plan = plan(inv, &r, ssh).await?;
    let Some(id) = plan.deployment_id else {
        let blocked: Vec<String> = plan.blocked().iter().map(|g| g.message.clone()).collect();
        return Err(Error::Invalid(format!(
            "the drill cannot start: {}",
            blocked.join("; ")
        )));
    };
    // Nobody else may advance the drill's deployment meanwhile (it is new: never busy).
    let lease =
        super::lease::acquire(inv, id, Operation::Drill, "user", OnBusy::Refuse, &progress).await?;
    let applied = super::run::advance_held(inv, id, ssh, progress.clone()).await?;
    let rolled = super::rollback::rollback_held(inv, id, &[], ssh, progress).await?;
    drop(lease);
    let ok =
        applied.state == DeploymentState::Finished && rolled.state == DeploymentState::RolledBack;
    let now = inv.clock().now();
    let st = DrillStatus {
        group: req.scope.clone(),
        last_at: now,
        ok,
        deployment_id: id,
        age_days: 0,
        overdue: false,
    };
    let json = serde_json::to_string(&st)
        .map_err(|e| Error::Invalid(format!("the drill result cannot be stored ({e})")))?;
    inv.set_setting(&format!("{DRILL_PREFIX}{}", req.scope), &json)?;
    inv.audit(
        "user",
        None,
        "rollback-drill",
        "note",
        None,
        None,
        None,
        Some(&format!(
            "group {} deployment {id}: {}",
            req.scope,
            if ok { "ok" } else { "FAILED" }
        )),
    )?;
    Ok(st)
}

/// The last drill of every group that has hosts (groups never drilled are listed as overdue
/// with `last_at` at the epoch).
pub fn drills(inv: &Inventory) -> Result<Vec<DrillStatus>> {
    let now = inv.clock().now();
    let mut out = Vec::new();
    for (group, _) in inv.groups()? {
        let mut st: DrillStatus = match inv
            .setting(&format!("{DRILL_PREFIX}{group}"))?
            .and_then(|j| serde_json::from_str(&j).ok())
        {
            Some(s) => s,
            None => DrillStatus {
                group: group.clone(),
                last_at: DateTime::<Utc>::UNIX_EPOCH,
                ok: false,
                deployment_id: 0,
                age_days: i64::MAX / 2,
                overdue: true,
            },
        };
        if st.deployment_id != 0 {
            st.age_days = (now - st.last_at).num_days();
            st.overdue = st.age_days > 90 || !st.ok;
        }
        out.push(st);
    }
    Ok(out)
}
