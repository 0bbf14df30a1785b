//! Weekly snapshots per scope: the history trends read. A snapshot taken after its week ended
//! is final and never written again; while the week runs, generating a report refreshes the
//! week's provisional snapshot.

use super::build::{Facts, Summary, TrendPoint};
use super::{IsoWeek, Scope};
use crate::classify::Bucket;
use crate::error::{Error, Result};
use crate::inventory::Inventory;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

/// Open, overdue and applied patches of one bucket, with time-to-patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct BucketFigures {
    pub bucket: Bucket,
    pub open: usize,
    pub overdue: usize,
    pub patched: usize,
    pub mean_hours: Option<f64>,
    pub median_hours: Option<f64>,
}

/// One scope's figures for one week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Snapshot {
    pub scope: Scope,
    pub week: IsoWeek,
    pub as_of: DateTime<Utc>,
    pub taken_at: DateTime<Utc>,
    pub is_final: bool,
    pub summary: Summary,
}

fn bucket_str(b: Bucket) -> &'static str {
    match b {
        Bucket::Critical => "critical",
        Bucket::High => "high",
        Bucket::Moderate => "moderate",
        Bucket::Low => "low",
    }
}

/// The stored snapshot of a scope's week, if any.
pub fn snapshot(inv: &Inventory, scope: &Scope, week: IsoWeek) -> Result<Option<Snapshot>> {
    let row = inv
        .conn()
        .prepare_cached(
            "SELECT as_of, taken_at, final, summary FROM report_snapshots WHERE scope = ?1 AND week = ?2",
        )?
        .query_row(params![scope.key(), week.to_string()], |r| {
            Ok((
                r.get::<_, DateTime<Utc>>(0)?,
                r.get::<_, DateTime<Utc>>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .optional()?;
    let Some((as_of, taken_at, is_final, summary)) = row else {
        return Ok(None);
    };
    let summary: Summary = serde_json::from_str(&summary).map_err(|e| {
        Error::Report(format!(
            "the stored snapshot of {scope} for {week} is unreadable ({e})"
        ))
    })?;
    Ok(Some(Snapshot {
        scope: scope.clone(),
        week,
        as_of,
        taken_at,
        is_final,
        summary,
    }))
}

/// Store a snapshot in one transaction. A final snapshot already stored is never replaced
/// (returns false then).
pub(crate) fn store(inv: &Inventory, s: &Snapshot) -> Result<bool> {
    let summary = serde_json::to_string(&s.summary)
        .map_err(|e| Error::Report(format!("the snapshot cannot be encoded ({e})")))?;
    let c = &s.summary.compliance;
    let h = &s.summary.hosts;
    let tx = inv.conn().unchecked_transaction()?;
    let changed = tx.execute(
        "INSERT INTO report_snapshots (scope, week, as_of, taken_at, final, hosts, scanned, stale, unreachable, never_scanned, reboot_pending, with_deadline, compliant, percent, overdue, summary)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT (scope, week) DO UPDATE SET as_of = excluded.as_of, taken_at = excluded.taken_at, final = excluded.final,
           hosts = excluded.hosts, scanned = excluded.scanned, stale = excluded.stale, unreachable = excluded.unreachable,
           never_scanned = excluded.never_scanned, reboot_pending = excluded.reboot_pending, with_deadline = excluded.with_deadline,
           compliant = excluded.compliant, percent = excluded.percent, overdue = excluded.overdue, summary = excluded.summary
         WHERE report_snapshots.final = 0",
        params![
            s.scope.key(),
            s.week.to_string(),
            s.as_of,
            s.taken_at,
            s.is_final,
            h.total as i64,
            h.scanned as i64,
            h.stale as i64,
            h.unreachable as i64,
            h.never_scanned as i64,
            h.reboot_pending as i64,
            c.with_deadline as i64,
            c.compliant as i64,
            c.percent,
            c.overdue as i64,
            summary
        ],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    let id: i64 = tx.query_row(
        "SELECT id FROM report_snapshots WHERE scope = ?1 AND week = ?2",
        params![s.scope.key(), s.week.to_string()],
        |r| r.get(0),
    )?;
    tx.execute(
        "DELETE FROM report_snapshot_buckets WHERE snapshot_id = ?1",
        [id],
    )?;
    for b in &s.summary.buckets {
        tx.execute(
            "INSERT INTO report_snapshot_buckets (snapshot_id, bucket, open, overdue, patched, mean_hours, median_hours) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, bucket_str(b.bucket), b.open as i64, b.overdue as i64, b.patched as i64, b.mean_hours, b.median_hours],
        )?;
    }
    tx.commit()?;
    Ok(true)
}

/// The trend point of a summary.
pub(crate) fn trend_point(week: IsoWeek, is_final: bool, s: &Summary) -> TrendPoint {
    let crit = s.compliance.ttp(Bucket::Critical);
    TrendPoint {
        week,
        has_data: s.hosts.scanned + s.hosts.stale + s.hosts.unreachable > 0,
        is_final,
        percent: s.compliance.percent,
        overdue: Some(s.compliance.overdue),
        critical_median_hours: crit.and_then(|t| t.median_hours),
        critical_patched: crit.map(|t| t.patched),
    }
}

/// The `weeks` weeks ending with `last`, oldest first, from the stored snapshots; a week
/// without one is a point with no data.
pub(crate) fn trend(
    inv: &Inventory,
    scope: &Scope,
    last: IsoWeek,
    weeks: usize,
) -> Result<Vec<TrendPoint>> {
    let mut list = Vec::with_capacity(weeks);
    let mut w = last;
    for _ in 0..weeks {
        list.push(w);
        w = w.prev();
    }
    list.reverse();
    let mut stmt = inv.conn().prepare_cached(
        "SELECT s.final, s.hosts - s.never_scanned, s.percent, s.overdue, b.median_hours, b.patched
         FROM report_snapshots s LEFT JOIN report_snapshot_buckets b ON b.snapshot_id = s.id AND b.bucket = 'critical'
         WHERE s.scope = ?1 AND s.week = ?2",
    )?;
    let mut out = Vec::with_capacity(weeks);
    for week in list {
        let row = stmt
            .query_row(params![scope.key(), week.to_string()], |r| {
                Ok((
                    r.get::<_, bool>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<f64>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<f64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            })
            .optional()?;
        out.push(match row {
            Some((is_final, seen, percent, overdue, median, patched)) => TrendPoint {
                week,
                has_data: seen > 0,
                is_final,
                percent,
                overdue: Some(overdue as usize),
                critical_median_hours: median,
                critical_patched: patched.map(|p| p as usize),
            },
            None => TrendPoint {
                week,
                has_data: false,
                is_final: false,
                percent: None,
                overdue: None,
                critical_median_hours: None,
                critical_patched: None,
            },
        });
    }
    Ok(out)
}

/// Take the final snapshot of every scope for every week that has ended and has none yet, each
/// measured as of that week's last second: what the scheduler runs at the end of each policy
/// week. Idempotent; a missed week is caught up exactly once (back to the first week with a
/// scan, at most 12 weeks back). Returns the (scope, week) pairs stored.
pub fn close_weeks(inv: &Inventory) -> Result<Vec<(Scope, IsoWeek)>> {
    let now = inv.clock().now();
    let last_ended = IsoWeek::of(now).prev();
    let first_scan: Option<DateTime<Utc>> =
        inv.conn()
            .query_row("SELECT min(finished_at) FROM scans", [], |r| r.get(0))?;
    let Some(first_scan) = first_scan else {
        return Ok(Vec::new());
    };
    let mut from = IsoWeek::of(first_scan);
    let horizon = {
        let mut w = last_ended;
        for _ in 1..super::TREND_WEEKS {
            w = w.prev();
        }
        w
    };
    if from < horizon {
        from = horizon;
    }
    let scopes = Scope::all(inv)?;
    let mut done = Vec::new();
    let mut week = from;
    while week <= last_ended {
        let missing: Vec<&Scope> = scopes
            .iter()
            .map(|s| Ok((s, snapshot(inv, s, week)?)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter(|(_, snap)| !snap.as_ref().is_some_and(|x| x.is_final))
            .map(|(s, _)| s)
            .collect();
        if !missing.is_empty() {
            let at = week.last_instant();
            let facts = {
                let tx = inv.conn().unchecked_transaction()?;
                let f = Facts::load(inv, at)?;
                tx.commit()?;
                f
            };
            for scope in missing {
                let stored = store(
                    inv,
                    &Snapshot {
                        scope: scope.clone(),
                        week,
                        as_of: at,
                        taken_at: now,
                        is_final: true,
                        summary: facts.summary(scope),
                    },
                )?;
                if stored {
                    done.push((scope.clone(), week));
                }
            }
        }
        week = week.next();
    }
    Ok(done)
}
