//! Maintenance windows per group: when a stage may change its hosts. Owns the `window:*`
//! settings and the weekly-window arithmetic; decides nothing about health or gates.
//!
//! A window is written the way a sysadmin says it: `sat 22:00-06:00`, `mon-fri 20:00-23:00`,
//! `daily 01:00-05:00`, several separated by commas, in the local time of the machine running
//! PatchDesk. An end before the start crosses midnight (`sat 22:00-06:00` ends Sunday 06:00).
//! Hand-written: cron crates describe instants, not ranges with a duration, and this grammar is
//! a dozen lines.

use super::*;
use chrono::{Datelike, Local, NaiveTime, TimeZone, Timelike};

const WINDOW_PREFIX: &str = "window:";
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Monday = 0.
    days: [bool; 7],
    start: u32,
    end: u32,
}

fn day(s: &str) -> std::result::Result<usize, String> {
    DAYS.iter()
        .position(|d| *d == s)
        .ok_or_else(|| format!("{s:?} is not a day (mon, tue, … sun, or daily)"))
}

fn minutes(s: &str) -> std::result::Result<u32, String> {
    let t = NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| format!("{s:?} is not a time (HH:MM)"))?;
    Ok(t.hour() * 60 + t.minute())
}

/// Parse a window list; the error says what to write.
pub fn parse(spec: &str) -> std::result::Result<Vec<Window>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let lower = part.to_ascii_lowercase();
        let (days_s, range) = lower
            .split_once(' ')
            .ok_or_else(|| format!("{part:?}: write days and hours, e.g. \"sat 22:00-06:00\""))?;
        let mut days = [false; 7];
        for d in days_s.split('+') {
            if d == "daily" || d == "*" {
                days = [true; 7];
            } else if let Some((a, b)) = d.split_once('-') {
                let (a, b) = (day(a)?, day(b)?);
                let mut i = a;
                loop {
                    days[i] = true;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            } else {
                days[day(d)?] = true;
            }
        }
        let (a, b) = range
            .trim()
            .split_once('-')
            .ok_or_else(|| format!("{part:?}: the hours are a range, e.g. 22:00-06:00"))?;
        let (start, end) = (minutes(a.trim())?, minutes(b.trim())?);
        if start == end {
            return Err(format!("{part:?}: the window is empty"));
        }
        out.push(Window { days, start, end });
    }
    if out.is_empty() {
        return Err("no window given, e.g. \"sat 22:00-06:00\"".into());
    }
    Ok(out)
}

/// Is any window open at `now` (local time)?
pub fn is_open(windows: &[Window], now: DateTime<Utc>) -> bool {
    is_open_in(windows, now, &Local)
}

/// When the next window opens (`now` if one is open), local time.
pub fn next_open(windows: &[Window], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    next_open_in(windows, now, &Local)
}

fn is_open_in<T: TimeZone>(windows: &[Window], now: DateTime<Utc>, tz: &T) -> bool {
    let t = now.with_timezone(tz);
    let (d, m) = (
        t.weekday().num_days_from_monday() as usize,
        t.hour() * 60 + t.minute(),
    );
    let yesterday = (d + 6) % 7;
    windows.iter().any(|w| {
        if w.start < w.end {
            w.days[d] && (w.start..w.end).contains(&m)
        } else {
            (w.days[d] && m >= w.start) || (w.days[yesterday] && m < w.end)
        }
    })
}

fn next_open_in<T: TimeZone>(
    windows: &[Window],
    now: DateTime<Utc>,
    tz: &T,
) -> Option<DateTime<Utc>> {
    if is_open_in(windows, now, tz) {
        return Some(now);
    }
    let today = now.with_timezone(tz).date_naive();
    (0..=7)
        .filter_map(|off| today.checked_add_signed(Duration::try_days(off)?))
        .flat_map(|date| {
            windows.iter().filter_map(move |w| {
                let wd = date.weekday().num_days_from_monday() as usize;
                if !w.days[wd] {
                    return None;
                }
                let t = date.and_hms_opt(w.start / 60, w.start % 60, 0)?;
                tz.from_local_datetime(&t)
                    .earliest()
                    .map(|l| l.with_timezone(&Utc))
            })
        })
        .filter(|t| *t > now)
        .min()
}

/// The maintenance window of a group, as written.
pub fn maintenance_window(inv: &Inventory, group: &str) -> Result<Option<String>> {
    inv.setting(&format!("{WINDOW_PREFIX}{group}"))
}

/// Set (or with `None`, remove) a group's maintenance window; refused unless it parses.
pub fn set_maintenance_window(inv: &Inventory, group: &str, spec: Option<&str>) -> Result<()> {
    crate::host::validate_label(group).map_err(Error::Invalid)?;
    let key = format!("{WINDOW_PREFIX}{group}");
    match spec {
        Some(s) => {
            parse(s).map_err(|e| Error::Invalid(format!("maintenance window: {e}")))?;
            inv.set_setting(&key, s.trim())
        }
        None => inv.remove_setting(&key),
    }
}

/// Every group's maintenance window.
pub fn maintenance_windows(inv: &Inventory) -> Result<BTreeMap<String, String>> {
    Ok(inv
        .settings_with_prefix(WINDOW_PREFIX)?
        .into_iter()
        .collect())
}

/// A closed window that keeps a stage from starting: (group, window as written, opens at).
type Closed = (String, String, Option<DateTime<Utc>>);

pub(super) fn closed_window(inv: &Inventory, hosts: &[HostRecord]) -> Result<Option<Closed>> {
    let now = inv.clock().now();
    let groups: BTreeSet<&String> = hosts.iter().flat_map(|h| &h.spec.groups).collect();
    for g in groups {
        let Some(spec) = maintenance_window(inv, g)? else {
            continue;
        };
        // Stored windows were validated; one that no longer parses blocks rather than ignores.
        let ws = parse(&spec).unwrap_or_default();
        if !is_open(&ws, now) {
            return Ok(Some((g.clone(), spec, next_open(&ws, now))));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_parse_the_way_people_write_them() {
        assert_eq!(parse("sat 22:00-06:00").unwrap().len(), 1);
        assert_eq!(
            parse("Mon-Fri 20:00-23:00, sun 02:00-04:00").unwrap().len(),
            2
        );
        assert!(parse("daily 01:00-05:00").unwrap()[0]
            .days
            .iter()
            .all(|d| *d));
        let w = &parse("fri-mon 01:00-02:00").unwrap()[0];
        assert_eq!(w.days, [true, false, false, false, true, true, true]);
        for bad in [
            "",
            "sat",
            "sat 22:00",
            "funday 01:00-02:00",
            "sat 25:00-26:00",
            "sat 01:00-01:00",
            "sat 1-2",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn open_closed_and_next_across_midnight() {
        let is_open = |w: &[Window], t| is_open_in(w, t, &Utc);
        let next_open = |w: &[Window], t| next_open_in(w, t, &Utc);
        let w = parse("sat 22:00-06:00").unwrap();
        // 2026-11-28 is a Saturday.
        assert!(!is_open(&w, at("2026-11-28T21:59:00Z")));
        assert!(is_open(&w, at("2026-11-28T22:00:00Z")));
        assert!(is_open(&w, at("2026-11-29T05:59:00Z")), "Sunday morning");
        assert!(!is_open(&w, at("2026-11-29T06:00:00Z")));
        assert_eq!(
            next_open(&w, at("2026-11-25T12:00:00Z")),
            Some(at("2026-11-28T22:00:00Z"))
        );
        assert_eq!(
            next_open(&w, at("2026-11-29T07:00:00Z")),
            Some(at("2026-12-05T22:00:00Z")),
            "the next Saturday"
        );
        let d = parse("daily 01:00-05:00").unwrap();
        assert_eq!(
            next_open(&d, at("2026-11-25T12:00:00Z")),
            Some(at("2026-11-26T01:00:00Z"))
        );
        // In another zone the same window is another instant: 22:00 in UTC+2 is 20:00 UTC.
        let plus2 = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
        assert_eq!(
            next_open_in(&w, at("2026-11-25T12:00:00Z"), &plus2),
            Some(at("2026-11-28T20:00:00Z"))
        );
    }
}
