//! ISO weeks (Monday 00:00 UTC to the next Monday), the period of a weekly report.

use crate::error::{Error, Result};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An ISO 8601 week, written `2026-W48`. Weeks run Monday 00:00 to Sunday 23:59:59 UTC, like
/// every other time in the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, type = "string"))]
pub struct IsoWeek {
    year: i32,
    week: u32,
}

impl IsoWeek {
    /// The week, or `None` when it does not exist (week 53 of a 52-week year, year out of range).
    pub fn new(year: i32, week: u32) -> Option<Self> {
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).map(|_| Self { year, week })
    }

    /// The week `t` falls in.
    pub fn of(t: DateTime<Utc>) -> Self {
        let w = t.iso_week();
        Self {
            year: w.year(),
            week: w.week(),
        }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn week(self) -> u32 {
        self.week
    }

    fn monday(self) -> NaiveDate {
        // Always valid: checked at construction.
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon).unwrap_or_default()
    }

    /// Monday 00:00:00 UTC.
    pub fn start(self) -> DateTime<Utc> {
        Utc.from_utc_datetime(&self.monday().and_time(chrono::NaiveTime::MIN))
    }

    /// The next Monday 00:00:00 UTC (exclusive end).
    pub fn end(self) -> DateTime<Utc> {
        self.start() + Duration::days(7)
    }

    /// The week's last second, Sunday 23:59:59 UTC: what "as of the end of the week" means.
    pub fn last_instant(self) -> DateTime<Utc> {
        self.end() - Duration::seconds(1)
    }

    pub fn next(self) -> Self {
        Self::of(self.end())
    }

    pub fn prev(self) -> Self {
        Self::of(self.start() - Duration::days(1))
    }

    /// Weeks from `self` to `other` (positive when `other` is later).
    pub fn weeks_until(self, other: IsoWeek) -> i64 {
        (other.start() - self.start()).num_days() / 7
    }
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-W{:02}", self.year, self.week)
    }
}

impl std::str::FromStr for IsoWeek {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::Invalid(format!(
                "{s:?} is not an ISO week: write it like 2026-W48 (year, W, week 01 to 53)"
            ))
        };
        let t = s.trim();
        let (y, w) = t.split_once(['W', 'w']).ok_or_else(bad)?;
        let y = y.strip_suffix('-').unwrap_or(y);
        if y.len() != 4 || w.is_empty() || w.len() > 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let week: u32 = w.parse().map_err(|_| bad())?;
        Self::new(year, week).ok_or_else(|| {
            Error::Invalid(format!(
                "{year} has no week {week}: ISO years have 52 or 53 weeks"
            ))
        })
    }
}

impl Serialize for IsoWeek {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IsoWeek {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn weeks_parse_print_and_bound() {
        let w: IsoWeek = "2026-W48".parse().unwrap();
        assert_eq!(w.to_string(), "2026-W48");
        assert_eq!(w.start(), t("2026-11-23T00:00:00Z"));
        assert_eq!(w.last_instant(), t("2026-11-29T23:59:59Z"));
        assert_eq!(IsoWeek::of(t("2026-11-24T12:00:00Z")), w);
        assert_eq!(IsoWeek::of(t("2026-11-29T23:59:59Z")), w);
        assert_eq!(IsoWeek::of(t("2026-11-30T00:00:00Z")), w.next());
        assert_eq!(w.next().prev(), w);
        assert_eq!("2026w5".parse::<IsoWeek>().unwrap().to_string(), "2026-W05");
        // Year boundaries: 2026-12-31 is in 2026-W53, 2027-01-04 in 2027-W01.
        assert_eq!(
            IsoWeek::of(t("2026-12-31T12:00:00Z")).to_string(),
            "2026-W53"
        );
        assert_eq!(
            "2026-W53".parse::<IsoWeek>().unwrap().next().to_string(),
            "2027-W01"
        );
        assert_eq!(w.weeks_until(w.next().next()), 2);
        for bad in [
            "",
            "2026",
            "2026-48",
            "2025-W53",
            "2026-W00",
            "2026-W99",
            "x-W1",
            "20266-W01",
        ] {
            let e = bad.parse::<IsoWeek>().unwrap_err().to_string();
            assert!(e.contains("week"), "{bad}: {e}");
        }
        let j = serde_json::to_string(&w).unwrap();
        assert_eq!(j, "\"2026-W48\"");
        assert_eq!(serde_json::from_str::<IsoWeek>(&j).unwrap(), w);
    }
}
