//! When scheduled jobs are due: the pure `due(now, rules, last_runs)` function and the slot
//! arithmetic behind it (daily or weekly at a local time, jitter, DST, anacron-style catch-up).
//! Owns no I/O and no clock: every instant is passed in, so the tests cross days, DST changes
//! and sleep gaps in microseconds.
//!
//! A rule's *slot* is the instant it is meant to run (its local time on a matching day, shifted
//! by the rule's deterministic jitter for that day). A rule is due when its latest slot at or
//! before `now` is later than the slot of its last run (or than the instant the rule was set up,
//! when it never ran). After a sleep gap of any length only the latest slot is owed: a missed
//! daily job runs once on wake, never once per missed day.

use super::{JobKind, JobScope, Who};
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// When a rule runs, in the local time of the machine running PatchDesk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "every", rename_all = "lowercase")]
pub enum When {
    /// Every day at `at` (HH:MM).
    Daily {
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        at: NaiveTime,
    },
    /// Every week on `day` at `at`.
    Weekly {
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        day: Weekday,
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        at: NaiveTime,
    },
}

impl When {
    fn runs_on(&self, date: NaiveDate) -> bool {
        match self {
            When::Daily { .. } => true,
            When::Weekly { day, .. } => date.weekday() == *day,
        }
    }

    fn at(&self) -> NaiveTime {
        match self {
            When::Daily { at } | When::Weekly { at, .. } => *at,
        }
    }

    /// `daily 07:00`, `weekly mon 07:30`.
    pub fn describe(&self) -> String {
        match self {
            When::Daily { at } => format!("daily {}", at.format("%H:%M")),
            When::Weekly { day, at } => format!(
                "weekly {} {}",
                day.to_string().to_lowercase(),
                at.format("%H:%M")
            ),
        }
    }
}

impl std::str::FromStr for When {
    type Err = String;
    /// `07:00` or `daily 07:00`; `mon 07:30` or `weekly mon 07:30`.
    fn from_str(s: &str) -> Result<Self, String> {
        let words: Vec<String> = s.split_whitespace().map(str::to_ascii_lowercase).collect();
        let words: Vec<&str> = words
            .iter()
            .map(String::as_str)
            .filter(|w| *w != "daily" && *w != "weekly" && *w != "at")
            .collect();
        let time = |t: &str| {
            NaiveTime::parse_from_str(t, "%H:%M")
                .map_err(|_| format!("{t:?} is not a time of day (HH:MM, e.g. 07:00)"))
        };
        match words.as_slice() {
            [t] => Ok(When::Daily { at: time(t)? }),
            [d, t] => Ok(When::Weekly {
                day: d
                    .parse::<Weekday>()
                    .map_err(|_| format!("{d:?} is not a day (mon, tue, … sun)"))?,
                at: time(t)?,
            }),
            _ => Err(format!(
                "{s:?}: write a time (\"07:00\", daily) or a day and a time (\"mon 07:30\", weekly)"
            )),
        }
    }
}

/// One scheduled rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Schedule {
    /// `scan`, `scan:GROUP`, `feed-sync`, `weekly-report`.
    pub rule: String,
    pub kind: JobKind,
    pub scope: JobScope,
    pub when: When,
    /// Each day's slot is moved later by up to this many seconds (the same amount for the same
    /// rule and day, so the function stays pure), so that many PatchDesks do not hit the feeds
    /// and the hosts at the same second.
    pub jitter_secs: u32,
    pub enabled: bool,
    /// Slots before this instant are not owed (a rule set up at 15:00 runs first at its next
    /// slot, not at once for this morning's).
    pub since: DateTime<Utc>,
}

/// A job the runner should run now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DueJob {
    pub kind: JobKind,
    pub scope: JobScope,
    pub rule: Option<String>,
    pub who: Who,
    /// The slot it runs for.
    pub due: DateTime<Utc>,
}

/// The jitter of a rule for one day: `0..=max` seconds, fixed for that rule and day.
pub fn jitter(rule: &str, date: NaiveDate, max: u32) -> i64 {
    if max == 0 {
        return 0;
    }
    let h = Sha256::digest(format!("{rule}|{date}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    (u64::from_le_bytes(b) % (u64::from(max) + 1)) as i64
}

/// The instant a local date and time happens in `tz`: the earlier one when the clock goes back
/// (it happens twice), and the same wall time one hour later when the clock jumps forward over
/// it (02:30 on a spring-forward night is 03:30, the first moment the day reaches it).
fn local_instant<T: TimeZone>(date: NaiveDate, at: NaiveTime, tz: &T) -> Option<DateTime<Utc>> {
    let naive = date.and_time(at);
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
        LocalResult::None => {
            let later = naive.checked_add_signed(Duration::hours(1))?;
            tz.from_local_datetime(&later)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        }
    }
}

/// The slot of `rule` on a local date (none on a day it does not run).
fn slot_on<T: TimeZone>(s: &Schedule, date: NaiveDate, tz: &T) -> Option<DateTime<Utc>> {
    if !s.when.runs_on(date) {
        return None;
    }
    local_instant(date, s.when.at(), tz)?.checked_add_signed(Duration::seconds(jitter(
        &s.rule,
        date,
        s.jitter_secs,
    )))
}

/// The latest slot at or before `now`.
pub fn last_slot<T: TimeZone>(s: &Schedule, now: DateTime<Utc>, tz: &T) -> Option<DateTime<Utc>> {
    let today = now.with_timezone(tz).date_naive();
    // Jitter is under a day, so one day ahead of today's date may already have begun in UTC
    // terms; eight days back covers a weekly rule.
    (-1..=8)
        .filter_map(|back| today.checked_sub_signed(Duration::days(back)))
        .filter_map(|d| slot_on(s, d, tz))
        .filter(|t| *t <= now)
        .max()
}

/// The first slot after `now`.
pub fn next_slot<T: TimeZone>(s: &Schedule, now: DateTime<Utc>, tz: &T) -> Option<DateTime<Utc>> {
    let today = now.with_timezone(tz).date_naive();
    (-1..=8)
        .filter_map(|ahead| today.checked_add_signed(Duration::days(ahead)))
        .filter_map(|d| slot_on(s, d, tz))
        .filter(|t| *t > now)
        .min()
}

/// The jobs due at `now` in local time: see [`due_in`].
pub fn due(
    now: DateTime<Utc>,
    rules: &[Schedule],
    last_runs: &BTreeMap<String, DateTime<Utc>>,
) -> Vec<DueJob> {
    due_in(now, rules, last_runs, &chrono::Local)
}

/// The jobs due at `now` in time zone `tz`: one per enabled rule whose latest slot is later than
/// the slot of its last run (`last_runs`: rule → slot) and than the rule's `since`. A missed
/// slot is owed once, however many were missed.
pub fn due_in<T: TimeZone>(
    now: DateTime<Utc>,
    rules: &[Schedule],
    last_runs: &BTreeMap<String, DateTime<Utc>>,
    tz: &T,
) -> Vec<DueJob> {
    rules
        .iter()
        .filter(|r| r.enabled)
        .filter_map(|r| {
            let slot = last_slot(r, now, tz)?;
            let owed_after = last_runs
                .get(&r.rule)
                .copied()
                .map_or(r.since, |l| l.max(r.since));
            // A run is owed only for a slot after the last one run and not before `since`.
            let owed = slot > owed_after || (slot == r.since && !last_runs.contains_key(&r.rule));
            owed.then(|| DueJob {
                kind: r.kind,
                scope: r.scope.clone(),
                rule: Some(r.rule.clone()),
                who: Who::Schedule,
                due: slot,
            })
        })
        .collect()
}

/// The defaults: a daily scan of every host at 07:00 local, a daily feed sync at 06:30 (before
/// the scan), the weekly report on Monday at 07:30; each with up to 10 minutes of jitter.
pub fn defaults(since: DateTime<Utc>) -> Vec<Schedule> {
    let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
    vec![
        Schedule {
            rule: "feed-sync".into(),
            kind: JobKind::FeedSync,
            scope: JobScope::All,
            when: When::Daily { at: t(6, 30) },
            jitter_secs: 600,
            enabled: true,
            since,
        },
        Schedule {
            rule: "scan".into(),
            kind: JobKind::Scan,
            scope: JobScope::All,
            when: When::Daily { at: t(7, 0) },
            jitter_secs: 600,
            enabled: true,
            since,
        },
        Schedule {
            rule: "weekly-report".into(),
            kind: JobKind::WeeklyReport,
            scope: JobScope::All,
            when: When::Weekly {
                day: Weekday::Mon,
                at: t(7, 30),
            },
            jitter_secs: 600,
            enabled: true,
            since,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, MappedLocalTime, NaiveDateTime, Offset};

    /// Central European time with its real DST rule (last Sunday of March 01:00 UTC → +2, last
    /// Sunday of October 01:00 UTC → +1), so the tests do not depend on the machine's zone.
    #[derive(Debug, Clone, Copy)]
    struct Cet;

    fn last_sunday(year: i32, month: u32) -> NaiveDate {
        let mut d = NaiveDate::from_ymd_opt(year, month + 1, 1).unwrap() - Duration::days(1);
        while d.weekday() != Weekday::Sun {
            d -= Duration::days(1);
        }
        d
    }

    fn offset_at_utc(t: &NaiveDateTime) -> FixedOffset {
        let y = t.year();
        let start = last_sunday(y, 3).and_hms_opt(1, 0, 0).unwrap();
        let end = last_sunday(y, 10).and_hms_opt(1, 0, 0).unwrap();
        let h = if *t >= start && *t < end { 2 } else { 1 };
        FixedOffset::east_opt(h * 3600).unwrap()
    }

    impl TimeZone for Cet {
        type Offset = FixedOffset;
        fn from_offset(_: &FixedOffset) -> Self {
            Cet
        }
        fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<FixedOffset> {
            self.offset_from_local_datetime(&local.and_hms_opt(12, 0, 0).unwrap())
        }
        fn offset_from_local_datetime(
            &self,
            local: &NaiveDateTime,
        ) -> MappedLocalTime<FixedOffset> {
            let cands: Vec<FixedOffset> = [1, 2]
                .into_iter()
                .map(|h| FixedOffset::east_opt(h * 3600).unwrap())
                .filter(|o| {
                    let utc = *local - Duration::seconds(o.local_minus_utc() as i64);
                    offset_at_utc(&utc).fix() == *o
                })
                .collect();
            match cands.as_slice() {
                [] => MappedLocalTime::None,
                [o] => MappedLocalTime::Single(*o),
                // The earlier instant has the larger offset (summer time).
                [a, b] if a.local_minus_utc() > b.local_minus_utc() => {
                    MappedLocalTime::Ambiguous(*a, *b)
                }
                [a, b] => MappedLocalTime::Ambiguous(*b, *a),
                _ => unreachable!(),
            }
        }
        fn offset_from_utc_date(&self, utc: &NaiveDate) -> FixedOffset {
            offset_at_utc(&utc.and_hms_opt(12, 0, 0).unwrap())
        }
        fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
            offset_at_utc(utc)
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn daily(rule: &str, h: u32, m: u32, since: &str) -> Schedule {
        Schedule {
            rule: rule.into(),
            kind: JobKind::Scan,
            scope: JobScope::All,
            when: When::Daily {
                at: NaiveTime::from_hms_opt(h, m, 0).unwrap(),
            },
            jitter_secs: 0,
            enabled: true,
            since: utc(since),
        }
    }

    fn last(rule: &str, at: &str) -> BTreeMap<String, DateTime<Utc>> {
        [(rule.to_string(), utc(at))].into_iter().collect()
    }

    #[test]
    fn a_table_of_schedules_and_last_runs() {
        let tz = FixedOffset::east_opt(3600).unwrap(); // 07:00 local = 06:00 UTC
        let scan = daily("scan", 7, 0, "2026-11-01T00:00:00Z");
        let none = BTreeMap::new();
        // (now, last run's slot, due?)
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            // Never ran, the rule exists since Nov 1: today's 07:00 is owed once it passed.
            ("2026-11-24T05:59:59Z", None, Some("2026-11-23T06:00:00Z")),
            ("2026-11-24T06:00:00Z", None, Some("2026-11-24T06:00:00Z")),
            // Ran today: nothing until tomorrow.
            ("2026-11-24T12:00:00Z", Some("2026-11-24T06:00:00Z"), None),
            ("2026-11-25T05:59:00Z", Some("2026-11-24T06:00:00Z"), None),
            (
                "2026-11-25T06:00:00Z",
                Some("2026-11-24T06:00:00Z"),
                Some("2026-11-25T06:00:00Z"),
            ),
            // Asleep for three days: the latest slot is owed, once.
            (
                "2026-11-27T09:00:00Z",
                Some("2026-11-24T06:00:00Z"),
                Some("2026-11-27T06:00:00Z"),
            ),
            // Woke before today's slot: yesterday's is owed (once).
            (
                "2026-11-27T05:00:00Z",
                Some("2026-11-24T06:00:00Z"),
                Some("2026-11-26T06:00:00Z"),
            ),
        ];
        for (now, last_run, want) in cases {
            let lr = last_run
                .map(|l| last("scan", l))
                .unwrap_or_else(|| none.clone());
            let got = due_in(utc(now), std::slice::from_ref(&scan), &lr, &tz);
            assert_eq!(
                got.first().map(|j| j.due),
                want.map(utc),
                "now {now}, last {last_run:?}"
            );
            assert!(got.len() <= 1, "never more than one run per rule");
        }
    }

    #[test]
    fn a_sleep_gap_is_caught_up_once_never_n_times() {
        let tz = FixedOffset::east_opt(0).unwrap();
        let scan = daily("scan", 7, 0, "2026-11-01T00:00:00Z");
        let mut runs = last("scan", "2026-11-01T07:00:00Z");
        // Wake after 20 days: one job; once it ran (its slot recorded), nothing more is owed.
        let now = utc("2026-11-21T10:00:00Z");
        let jobs = due_in(now, std::slice::from_ref(&scan), &runs, &tz);
        assert_eq!(jobs.len(), 1);
        runs.insert("scan".into(), jobs[0].due);
        assert!(due_in(now, std::slice::from_ref(&scan), &runs, &tz).is_empty());
        assert!(due_in(
            utc("2026-11-22T06:59:59Z"),
            std::slice::from_ref(&scan),
            &runs,
            &tz
        )
        .is_empty());
        assert_eq!(
            due_in(
                utc("2026-11-22T07:00:00Z"),
                std::slice::from_ref(&scan),
                &runs,
                &tz
            )
            .len(),
            1
        );
    }

    #[test]
    fn a_rule_set_up_after_its_time_waits_for_the_next_slot() {
        let tz = FixedOffset::east_opt(0).unwrap();
        let scan = daily("scan", 7, 0, "2026-11-24T15:00:00Z");
        let none = BTreeMap::new();
        assert!(due_in(
            utc("2026-11-24T16:00:00Z"),
            std::slice::from_ref(&scan),
            &none,
            &tz
        )
        .is_empty());
        assert_eq!(
            due_in(
                utc("2026-11-25T07:00:00Z"),
                std::slice::from_ref(&scan),
                &none,
                &tz
            )[0]
            .due,
            utc("2026-11-25T07:00:00Z")
        );
        // Disabled: never.
        let off = Schedule {
            enabled: false,
            ..scan
        };
        assert!(due_in(utc("2026-11-30T07:00:00Z"), &[off], &none, &tz).is_empty());
    }

    #[test]
    fn dst_changes_keep_the_local_time_and_never_run_twice() {
        // 07:00 local across the spring change (2026-03-29) and the autumn one (2026-10-25).
        let scan = daily("scan", 7, 0, "2026-03-01T00:00:00Z");
        let slot = |now: &str| last_slot(&scan, utc(now), &Cet).unwrap();
        assert_eq!(slot("2026-03-28T12:00:00Z"), utc("2026-03-28T06:00:00Z")); // CET
        assert_eq!(slot("2026-03-29T12:00:00Z"), utc("2026-03-29T05:00:00Z")); // CEST
        assert_eq!(slot("2026-10-24T12:00:00Z"), utc("2026-10-24T05:00:00Z"));
        assert_eq!(slot("2026-10-25T12:00:00Z"), utc("2026-10-25T06:00:00Z"));
        // A slot inside the hour that does not exist (02:30 on the spring night) runs when the
        // day reaches that wall time: 03:30 CEST = 01:30 UTC.
        let night = daily("night", 2, 30, "2026-03-01T00:00:00Z");
        assert_eq!(
            last_slot(&night, utc("2026-03-29T12:00:00Z"), &Cet).unwrap(),
            utc("2026-03-29T01:30:00Z")
        );
        // The hour that happens twice (02:30 on the autumn night) runs once, at the first.
        let mut runs = BTreeMap::new();
        let mut ran = Vec::new();
        let mut t = utc("2026-10-24T23:00:00Z");
        while t < utc("2026-10-25T04:00:00Z") {
            for j in due_in(t, std::slice::from_ref(&night), &runs, &Cet) {
                runs.insert("night".into(), j.due);
                ran.push(j.due);
            }
            t += Duration::minutes(5);
        }
        // Oct 24's slot caught up, then Oct 25 00:30 UTC = 02:30 CEST (the first pass); 01:30 UTC
        // (02:30 CET, the second pass) is not a slot.
        assert_eq!(
            ran,
            vec![utc("2026-10-24T00:30:00Z"), utc("2026-10-25T00:30:00Z")]
        );
    }

    #[test]
    fn jitter_is_bounded_stable_per_day_and_spreads_rules() {
        let mut scan = daily("scan", 7, 0, "2026-11-01T00:00:00Z");
        scan.jitter_secs = 600;
        let tz = FixedOffset::east_opt(0).unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let j = jitter("scan", d, 600);
        assert!((0..=600).contains(&j));
        assert_eq!(
            j,
            jitter("scan", d, 600),
            "the same for the same rule and day"
        );
        let days: std::collections::BTreeSet<i64> = (0..30)
            .map(|i| jitter("scan", d + Duration::days(i), 600))
            .collect();
        assert!(days.len() > 20, "it varies from day to day: {days:?}");
        let slot = utc("2026-11-24T07:00:00Z") + Duration::seconds(j);
        let prev = utc("2026-11-23T07:00:00Z")
            + Duration::seconds(jitter("scan", d - Duration::days(1), 600));
        let runs: BTreeMap<String, DateTime<Utc>> = [("scan".to_string(), prev)].into();
        if j > 0 {
            assert!(due_in(
                slot - Duration::seconds(1),
                std::slice::from_ref(&scan),
                &runs,
                &tz
            )
            .is_empty());
        }
        assert_eq!(
            due_in(slot, std::slice::from_ref(&scan), &runs, &tz)[0].due,
            slot
        );
    }

    #[test]
    fn weekly_rules_and_the_next_slot() {
        let tz = FixedOffset::east_opt(0).unwrap();
        let mut report = daily("weekly-report", 7, 30, "2026-11-01T00:00:00Z");
        report.when = When::Weekly {
            day: Weekday::Mon,
            at: NaiveTime::from_hms_opt(7, 30, 0).unwrap(),
        };
        // 2026-11-30 is a Monday.
        assert_eq!(
            last_slot(&report, utc("2026-12-03T00:00:00Z"), &tz),
            Some(utc("2026-11-30T07:30:00Z"))
        );
        assert_eq!(
            next_slot(&report, utc("2026-12-03T00:00:00Z"), &tz),
            Some(utc("2026-12-07T07:30:00Z"))
        );
        let runs = last("weekly-report", "2026-11-23T07:30:00Z");
        assert_eq!(
            due_in(
                utc("2026-12-03T00:00:00Z"),
                std::slice::from_ref(&report),
                &runs,
                &tz
            )
            .len(),
            1
        );
    }

    #[test]
    fn when_is_written_the_way_people_say_it() {
        assert_eq!(
            "07:00".parse::<When>().unwrap(),
            When::Daily {
                at: NaiveTime::from_hms_opt(7, 0, 0).unwrap()
            }
        );
        assert_eq!(
            "weekly mon 07:30".parse::<When>().unwrap().describe(),
            "weekly mon 07:30"
        );
        assert_eq!(
            "daily 06:15".parse::<When>().unwrap().describe(),
            "daily 06:15"
        );
        for bad in ["", "25:00", "funday 07:00", "mon 07:00 extra"] {
            assert!(bad.parse::<When>().is_err(), "{bad}");
        }
    }
}
