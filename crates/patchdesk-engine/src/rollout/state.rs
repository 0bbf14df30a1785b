//! The typed states of the deployment state machine: deployment, stage and host states, the
//! mode, rollback kinds, gate verdicts and the reasons behind them. Each is stored in SQLite as
//! its name (`ToSql` / `FromSql`: an unknown name in the database is a read error, never a
//! silent default), serialised with the same name for `--json` and the app, and exported to
//! TypeScript. Owns these names and nothing else: no I/O, no SQL of its own.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A state enum stored and shown as its name: `as_str`, `Display` (honours width and
/// alignment, for the CLI's columns), `FromStr`, `ToSql`, `FromSql`.
macro_rules! named {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The stored and shown name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $s),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$v),)+
                    other => Err(format!(
                        "unknown {} {other:?}",
                        stringify!($name)
                    )),
                }
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e: String| FromSqlError::Other(e.into()))
            }
        }
    };
}

named! {
    /// Where a whole deployment is.
    DeploymentState {
        /// Stored by the plan; nothing applied yet.
        Planned => "planned",
        Running => "running",
        /// Stopped at a no-go gate.
        Halted => "halted",
        RolledBack => "rolled-back",
        Finished => "finished",
    }
}

impl DeploymentState {
    /// Still moving: `advance` has work to do (or waits for time, a gate or a window).
    pub fn is_active(self) -> bool {
        matches!(self, DeploymentState::Planned | DeploymentState::Running)
    }
}

named! {
    /// Who passes the gates: a person, or the engine after the soak when healthy.
    Mode {
        Manual => "manual",
        Auto => "auto",
    }
}

named! {
    /// Where one stage (canary or a production wave) is.
    StageState {
        Pending => "pending",
        /// Every host applied (or failed); verification not run yet.
        Applied => "applied",
        /// Healthy canary waiting for its soak to end.
        Soaking => "soaking",
        /// Verified: waits for its go / no-go decision.
        Gate => "gate",
        /// Passed its gate.
        Done => "done",
        /// No-go at its gate.
        Failed => "failed",
    }
}

named! {
    /// Where one host of a deployment is.
    HostState {
        Pending => "pending",
        /// Its apply is running, or was cut off mid-apply (a crash): the resume checks it.
        Applying => "applying",
        Applied => "applied",
        Failed => "failed",
        /// Its apply was interrupted or cannot be checked: established on the next run.
        Attention => "attention",
        RollingBack => "rolling-back",
        RolledBack => "rolled-back",
    }
}

impl HostState {
    /// Its outcome is not established: it blocks the end of the deployment until repaired or
    /// excluded.
    pub fn is_unresolved(self) -> bool {
        matches!(self, HostState::Attention | HostState::Applying)
    }

    /// It may have received (part of) the update: a rollback takes it back.
    pub fn may_roll_back(self) -> bool {
        matches!(
            self,
            HostState::Applied | HostState::Failed | HostState::Attention | HostState::RollingBack
        )
    }

    /// It may be left out of the rest of the deployment.
    pub fn may_exclude(self) -> bool {
        matches!(
            self,
            HostState::Pending | HostState::Failed | HostState::Attention | HostState::Applying
        )
    }
}

named! {
    /// How a host's transaction is rolled back, recorded and checked at plan time.
    RollbackKind {
        /// Back to the exact previous versions with apt (downgrade, purge, reinstall).
        Downgrade => "downgrade",
        /// A downgrade, then the previous versions held (apt-mark hold + apt preferences).
        Pin => "pin",
        /// The group's snapshot hook restores the host.
        Snapshot => "snapshot",
        /// No working rollback path (a guard, unless overridden).
        None => "none",
    }
}

named! {
    /// The go / no-go of a gate: the engine's verdict on the measured health, the verdict a
    /// single reason implies, and the decision taken at the gate.
    GateVerdict {
        Go => "go",
        NoGo => "no-go",
        /// No evidence either way (a check with no data or a query error): the gate pauses,
        /// says why, and is measured again at the next run; never a go on its own.
        Inconclusive => "inconclusive",
    }
}

named! {
    /// An operation that changes a deployment, and so holds its lease while it runs.
    Operation {
        /// Apply, verify, soak, gate: as far as it can go now (`deploy start`, the app's resume).
        Advance => "advance",
        Go => "go",
        NoGo => "no-go",
        Rollback => "rollback",
        Unpin => "unpin",
        Exclude => "exclude",
        Drill => "drill",
        /// Reboot the hosts of a waiting gate that need it (the "ask at the gate" policy).
        Reboot => "reboot",
        /// Deleting a plan that never started.
        Delete => "delete",
    }
}

/// One finding of a stage's verification, per host: a no-go (the gate cannot pass on its
/// own) or a note that does not block (e.g. a check not available on the host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct GateReason {
    pub verdict: GateVerdict,
    pub host: String,
    pub message: String,
}

impl GateReason {
    pub fn no_go(host: &str, message: impl Into<String>) -> Self {
        Self {
            verdict: GateVerdict::NoGo,
            host: host.to_string(),
            message: message.into(),
        }
    }

    pub fn note(host: &str, message: impl Into<String>) -> Self {
        Self {
            verdict: GateVerdict::Go,
            host: host.to_string(),
            message: message.into(),
        }
    }

    /// A check that found no evidence: the gate pauses (see [`GateVerdict::Inconclusive`]).
    pub fn paused(host: &str, message: impl Into<String>) -> Self {
        Self {
            verdict: GateVerdict::Inconclusive,
            host: host.to_string(),
            message: message.into(),
        }
    }

    pub fn is_no_go(&self) -> bool {
        self.verdict == GateVerdict::NoGo
    }
}

/// `NO-GO web-2: smoke test failed`, or `web-2: …` for a note.
impl fmt::Display for GateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.verdict {
            GateVerdict::NoGo => f.write_str("NO-GO ")?,
            GateVerdict::Inconclusive => f.write_str("PAUSED ")?,
            GateVerdict::Go => {}
        }
        write!(f, "{}: {}", self.host, self.message)
    }
}

/// The engine's verdict over a stage's reasons: no-go when any reason is, else inconclusive
/// when any check found no evidence, else go.
pub fn verdict(reasons: &[GateReason]) -> GateVerdict {
    if reasons.iter().any(GateReason::is_no_go) {
        GateVerdict::NoGo
    } else if reasons
        .iter()
        .any(|r| r.verdict == GateVerdict::Inconclusive)
    {
        GateVerdict::Inconclusive
    } else {
        GateVerdict::Go
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_sql_serde_and_display() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for s in HostState::ALL {
            let back: HostState = conn.query_row("SELECT ?1", [s], |r| r.get(0)).unwrap();
            assert_eq!(back, *s);
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(s.to_string().parse::<HostState>().unwrap(), *s);
        }
        assert_eq!(
            serde_json::to_string(&DeploymentState::RolledBack).unwrap(),
            "\"rolled-back\""
        );
        assert_eq!(GateVerdict::NoGo.as_str(), "no-go");
        assert_eq!(format!("[{:<8}]", StageState::Gate), "[gate    ]");
        let bad: rusqlite::Result<StageState> = conn.query_row("SELECT 'soaked'", [], |r| r.get(0));
        assert!(bad.is_err(), "an unknown stored name is an error");
    }

    #[test]
    fn a_stage_is_no_go_when_any_reason_is() {
        let note = GateReason::note("h1", "failed units not available (no systemd): not checked");
        let bad = GateReason::no_go("h2", "smoke test `x` failed (exit 1)");
        assert_eq!(verdict(&[]), GateVerdict::Go);
        assert_eq!(verdict(std::slice::from_ref(&note)), GateVerdict::Go);
        assert_eq!(verdict(&[note.clone(), bad.clone()]), GateVerdict::NoGo);
        assert_eq!(bad.to_string(), "NO-GO h2: smoke test `x` failed (exit 1)");
        assert_eq!(
            note.to_string(),
            "h1: failed units not available (no systemd): not checked"
        );
        let json = serde_json::to_string(&bad).unwrap();
        assert_eq!(
            json,
            r#"{"verdict":"no-go","host":"h2","message":"smoke test `x` failed (exit 1)"}"#
        );
    }
}
