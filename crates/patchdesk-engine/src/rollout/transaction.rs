//! The whole transaction of a deployment on one host: every package the package manager's
//! simulation of the exact-version install would upgrade, newly install or remove, with the
//! exact versions on both sides, as recorded at plan time. Owns the family-neutral model of it
//! ([`Change`], [`Direction`]) and the check that what the package manager is about to do is
//! exactly what was planned. Reading a family's simulation and building its commands is
//! `crate::pkg`'s (through `manager`). Must not talk to hosts or write the database: `plan`,
//! `run` and `rollback` do.

use super::*;
pub(super) use crate::pkg::deb::{base_name, Step};

/// What a transaction does to one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum ChangeKind {
    /// Installed before, another version after.
    Upgrade,
    /// Not installed before: pulled in by the upgrade.
    Install,
    /// Installed before, removed by the upgrade.
    Remove,
}

/// One package of a host's transaction, with how a rollback restores it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Change {
    pub host: String,
    /// Binary package (`name`, or `name:arch` for a foreign architecture).
    pub package: String,
    pub kind: ChangeKind,
    /// `None`: newly installed by the transaction.
    pub from_version: Option<String>,
    /// `None`: removed by the transaction.
    pub to_version: Option<String>,
    /// Named in the plan; otherwise apt pulled it into the transaction.
    pub requested: bool,
    /// apt's "automatically installed" mark before the deployment (kept by apply and rollback).
    pub was_auto: bool,
    /// Its own rollback path was found on the host at plan time.
    pub rollback_ok: bool,
    /// How a rollback restores it, in words.
    pub rollback: String,
}

impl Change {
    pub(super) fn kind_of(from: &Option<String>, to: &Option<String>) -> ChangeKind {
        match (from, to) {
            (None, _) => ChangeKind::Install,
            (Some(_), None) => ChangeKind::Remove,
            (Some(_), Some(_)) => ChangeKind::Upgrade,
        }
    }

    /// How a rollback restores this package when its path exists: a downgrade to the version
    /// before, a purge of a package the upgrade installed, a reinstall of one it removed.
    pub fn rollback_words(&self) -> String {
        match (&self.from_version, self.kind) {
            (None, _) => "purge (installed by the upgrade)".into(),
            (Some(v), ChangeKind::Remove) => format!("reinstall {v}"),
            (Some(v), _) => format!("downgrade to {v}"),
        }
    }

    /// `pd-libfoo1 1:3.0-1 → 1:3.1-1`, `pd-libbar1 (new) → 1.0-1`, `pd-agent 2.0-1 → (removed)`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} → {}",
            self.package,
            self.from_version.as_deref().unwrap_or("(new)"),
            self.to_version.as_deref().unwrap_or("(removed)")
        )
    }
}

/// Which way a recorded transaction is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// To the planned versions.
    Apply,
    /// Back to the versions before the deployment.
    Rollback,
}

/// Check the package manager's simulation against the recorded transaction before anything runs. Apply: every
/// step apt would take is a planned change with the same versions on both sides (a planned
/// change apt does not list is already done). Rollback: every step brings a planned package
/// back to its version before the deployment. Anything else is named in the error.
pub(super) fn check_simulation(
    changes: &[Change],
    steps: &[Step],
    dir: Direction,
) -> std::result::Result<(), String> {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    let mut wrong = Vec::new();
    for s in steps {
        let planned = changes.iter().find(|c| c.package == s.package);
        let ok = match (planned, dir) {
            (Some(c), Direction::Apply) => c.from_version == s.from && c.to_version == s.to,
            (Some(c), Direction::Rollback) => c.from_version == s.to,
            (None, _) => false,
        };
        if !ok {
            wrong.push(match planned {
                Some(c) => format!(
                    "{} {} → {} (planned {} → {})",
                    s.package,
                    show(&s.from),
                    show(&s.to),
                    show(&c.from_version),
                    show(&c.to_version)
                ),
                None => format!(
                    "{} {} → {} (not planned)",
                    s.package,
                    show(&s.from),
                    show(&s.to)
                ),
            });
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join(", "))
    }
}

/// The changes not in the wanted state, described: `pd-daemon is 1.0-1, planned 1.2-1`.
pub(super) fn not_at(
    changes: &[Change],
    installed: &BTreeMap<String, String>,
    dir: Direction,
) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| {
            let want = match dir {
                Direction::Apply => &c.to_version,
                Direction::Rollback => &c.from_version,
            };
            let have = installed.get(base_name(&c.package));
            (have != want.as_ref()).then(|| {
                format!(
                    "{} is {}, {} {}",
                    c.package,
                    have.map(String::as_str).unwrap_or("not installed"),
                    match dir {
                        Direction::Apply => "planned",
                        Direction::Rollback => "was",
                    },
                    want.as_deref().unwrap_or("not installed")
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::deb::{parse_installed, parse_simulation};

    fn ch(p: &str, from: Option<&str>, to: Option<&str>) -> Change {
        let (from, to) = (from.map(String::from), to.map(String::from));
        Change {
            host: "h".into(),
            package: p.into(),
            kind: Change::kind_of(&from, &to),
            from_version: from,
            to_version: to,
            requested: false,
            was_auto: false,
            rollback_ok: true,
            rollback: String::new(),
        }
    }

    #[test]
    fn the_simulation_must_be_the_plan() {
        let t = [
            ch("pd-daemon", Some("1.0-1"), Some("1.2-1")),
            ch("pd-libfoo1", Some("1:3.0-1"), Some("1:3.1-1")),
        ];
        let sim = |s: &str| parse_simulation(s).unwrap();
        let exact = sim(
            "Inst pd-daemon [1.0-1] (1.2-1 x [all])\nInst pd-libfoo1 [1:3.0-1] (1:3.1-1 x [all])",
        );
        assert_eq!(check_simulation(&t, &exact, Direction::Apply), Ok(()));
        // Half done already (an interrupted apply): the rest is still the plan.
        let half = sim("Inst pd-daemon [1.0-1] (1.2-1 x [all])");
        assert_eq!(check_simulation(&t, &half, Direction::Apply), Ok(()));
        let moved = sim("Inst pd-daemon [1.0-1] (1.2-1 x [all])\nInst pd-libfoo1 [1:3.0-1+deb12u1] (1:3.1-1 x [all])\nInst pd-new (1 x [all])");
        let e = check_simulation(&t, &moved, Direction::Apply).unwrap_err();
        assert_eq!(
            e,
            "pd-libfoo1 1:3.0-1+deb12u1 → 1:3.1-1 (planned 1:3.0-1 → 1:3.1-1), pd-new none → 1 (not planned)"
        );
        let back = sim("Inst pd-daemon [1.2-1] (1.0-1 x [all])");
        assert_eq!(check_simulation(&t, &back, Direction::Rollback), Ok(()));
        assert!(check_simulation(&t, &sim("Remv pd-other [1]"), Direction::Rollback).is_err());
    }

    #[test]
    fn installed_state_and_what_is_missing() {
        let t = [
            ch("pd-daemon", Some("1.0-1"), Some("1.2-1")),
            ch("pd-libbar1", None, Some("1.0-1")),
            ch("pd-agent", Some("2.0-1"), None),
        ];
        let have = parse_installed(
            "pd-daemon\t1.2-1\tii \npd-libbar1\t1.0-1\tii \npd-agent\t2.0-1\trc \ngarbage\n",
        );
        assert!(not_at(&t, &have, Direction::Apply).is_empty(), "{have:?}");
        assert_eq!(
            not_at(&t, &have, Direction::Rollback),
            [
                "pd-daemon is 1.2-1, was 1.0-1",
                "pd-libbar1 is 1.0-1, was not installed",
                "pd-agent is not installed, was 2.0-1"
            ]
        );
    }
}
