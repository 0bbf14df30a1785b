//! Injected time. Owns the notion of "now" for the whole engine; nothing else may call
//! `Utc::now()` directly, so tests can move days in milliseconds.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock the tests (and `PATCHDESK_CLOCK_OFFSET`) can move.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Move the clock forward (or backward, with a negative duration); it stops at the ends of
    /// the calendar.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now = now
            .checked_add_signed(by)
            .unwrap_or(if by < Duration::zero() {
                DateTime::<Utc>::MIN_UTC
            } else {
                DateTime::<Utc>::MAX_UTC
            });
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The shared clock handle every engine component takes.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock; or a fixed instant when `PATCHDESK_NOW` (RFC 3339) is set; or the wall clock
/// shifted by `PATCHDESK_CLOCK_OFFSET` seconds; or, with `PATCHDESK_CLOCK_FILE`, whatever that
/// file says each time the time is read (so a test can move the clock of a process that keeps
/// running, e.g. `patchdesk service run`). Used by end-to-end tests that drive the real binaries
/// across days.
pub fn from_env() -> SharedClock {
    if let Some(path) = std::env::var_os("PATCHDESK_CLOCK_FILE") {
        return Arc::new(FileClock {
            path: path.into(),
            last: Mutex::new(None),
        });
    }
    if let Some(at) = std::env::var("PATCHDESK_NOW")
        .ok()
        .and_then(|v| DateTime::parse_from_rfc3339(v.trim()).ok())
    {
        return Arc::new(ManualClock::new(at.with_timezone(&Utc)));
    }
    match std::env::var("PATCHDESK_CLOCK_OFFSET")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .and_then(Duration::try_seconds)
    {
        Some(offset) => Arc::new(OffsetClock(offset)),
        None => Arc::new(SystemClock),
    }
}

#[derive(Debug, Clone, Copy)]
struct OffsetClock(Duration);

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        now.checked_add_signed(self.0).unwrap_or(now)
    }
}

/// A clock read from a file at each `now()`: an RFC 3339 instant (time stands still there), or a
/// whole number of seconds added to the wall clock. An unreadable file keeps the last good
/// reading (the wall clock before any): a test writing the file never makes time jump back to
/// the wall clock.
#[derive(Debug)]
pub struct FileClock {
    path: std::path::PathBuf,
    last: Mutex<Option<Reading>>,
}

#[derive(Debug, Clone, Copy)]
enum Reading {
    At(DateTime<Utc>),
    Offset(Duration),
}

impl FileClock {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        Self {
            path: path.into(),
            last: Mutex::new(None),
        }
    }

    fn read(&self) -> Option<Reading> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let text = text.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Some(Reading::At(at.with_timezone(&Utc)));
        }
        text.trim_start_matches('+')
            .parse::<i64>()
            .ok()
            .and_then(Duration::try_seconds)
            .map(Reading::Offset)
    }
}

impl Clock for FileClock {
    fn now(&self) -> DateTime<Utc> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = self.read() {
            *last = Some(r);
        }
        let wall = Utc::now();
        match *last {
            Some(Reading::At(t)) => t,
            Some(Reading::Offset(d)) => wall.checked_add_signed(d).unwrap_or(wall),
            None => wall,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = ManualClock::new(start);
        c.advance(Duration::hours(48));
        assert_eq!(c.now(), start + Duration::hours(48));
    }

    #[test]
    fn a_file_clock_moves_a_running_process() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("clock");
        let c = FileClock::new(&p);
        let wall = Utc::now();
        assert!(
            (c.now() - wall).num_seconds().abs() < 5,
            "no file: the wall clock"
        );
        std::fs::write(&p, "2026-11-24T12:00:00Z\n").unwrap();
        assert_eq!(c.now().to_rfc3339(), "2026-11-24T12:00:00+00:00");
        std::fs::write(&p, "+90000").unwrap();
        let d = (c.now() - Utc::now()).num_seconds();
        assert!((89_990..=90_000).contains(&d), "{d}");
        std::fs::write(&p, "garbage").unwrap();
        let d = (c.now() - Utc::now()).num_seconds();
        assert!(
            (89_990..=90_000).contains(&d),
            "the last good reading stays: {d}"
        );
    }
}
