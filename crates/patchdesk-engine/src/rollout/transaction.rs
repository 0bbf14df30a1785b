//! The whole apt transaction of a deployment on one host: every package that
//! `apt-get -s install --only-upgrade pkg=ver …` would upgrade, newly install or remove, with the
//! exact versions on both sides, as recorded at plan time. Owns reading apt's simulation (hostile
//! input: bounded, validated, never panics), the exact install / rollback argument lists built
//! from a recorded transaction, and the check that what apt is about to do is exactly what was
//! planned. Must not talk to hosts or write the database: `plan`, `run` and `rollback` do.

use super::*;

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

/// One step of apt's simulation, merged per package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Step {
    pub package: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Apt never plans more than this for PatchDesk's exact-version installs; more is refused.
const MAX_STEPS: usize = 10_000;

/// A binary package as apt prints it: `name` or `name:arch`.
pub(super) fn valid_package_ref(s: &str) -> bool {
    let (name, arch) = match s.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (s, None),
    };
    valid_package(name)
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && arch.is_none_or(|a| {
            !a.is_empty()
                && a.len() <= 32
                && a.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// The package name without an `:arch` qualifier (how scans and `apt-cache madison` name it).
pub(super) fn base_name(package: &str) -> &str {
    package.split_once(':').map_or(package, |(n, _)| n)
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

fn version(s: &str) -> Option<String> {
    (s.len() <= 256 && s.parse::<Version>().is_ok()).then(|| s.to_string())
}

/// Read `apt-get -s` output: `Inst NAME [OLD] (NEW …)`, `Inst NAME (NEW …)` (a new package),
/// `Remv NAME [OLD]` / `Purg NAME [OLD]`. `Conf` and notes are ignored. A line of those three
/// kinds that cannot be read makes the whole transaction unknown: an error, never a guess.
pub(super) fn parse_simulation(text: &str) -> std::result::Result<Vec<Step>, String> {
    let mut steps: Vec<Step> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let (word, rest) = match line.split_once(' ') {
            Some((w @ ("Inst" | "Remv" | "Purg"), r)) => (w, r),
            _ => continue,
        };
        let bad = || format!("line {}: cannot read apt's {:?}", i + 1, clip(line));
        let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if !valid_package_ref(name) {
            return Err(bad());
        }
        let mut rest = rest.trim_start();
        let mut old = None;
        if let Some(r) = rest.strip_prefix('[') {
            let (v, r) = r.split_once(']').ok_or_else(bad)?;
            old = Some(version(v).ok_or_else(bad)?);
            rest = r.trim_start();
        }
        let new = if word == "Inst" {
            let inner = rest.strip_prefix('(').ok_or_else(bad)?;
            let v = inner.split([' ', ')']).next().unwrap_or_default();
            Some(version(v).ok_or_else(bad)?)
        } else {
            if old.is_none() {
                return Err(bad());
            }
            None
        };
        match steps.iter_mut().find(|s| s.package == name) {
            // Removed then installed again (or the reverse) in one run: first from, last to.
            Some(s) => s.to = new,
            None => {
                if steps.len() >= MAX_STEPS {
                    return Err(format!("more than {MAX_STEPS} packages in one transaction"));
                }
                steps.push(Step {
                    package: name.to_string(),
                    from: old,
                    to: new,
                })
            }
        }
    }
    steps.retain(|s| s.from != s.to);
    steps.sort_by(|a, b| a.package.cmp(&b.package));
    Ok(steps)
}

/// `apt-cache madison` lines (`pkg | version | source`): the (package, version) pairs offered.
pub(super) fn parse_madison(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            (f.len() >= 3 && valid_package_ref(f[0]) && version(f[1]).is_some())
                .then(|| (f[0].to_string(), f[1].to_string()))
        })
        .take(MAX_STEPS * 50)
        .collect()
}

/// Which way a recorded transaction is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// To the planned versions.
    Apply,
    /// Back to the versions before the deployment.
    Rollback,
}

/// The exact package arguments: `pkg=version` for every package that ends installed, `pkg-`
/// for every package that ends removed. Names and versions were validated when recorded.
pub(super) fn package_args(changes: &[Change], dir: Direction) -> Vec<String> {
    changes
        .iter()
        .map(|c| {
            let target = match dir {
                Direction::Apply => &c.to_version,
                Direction::Rollback => &c.from_version,
            };
            match target {
                Some(v) => format!("{}={v}", c.package),
                None => format!("{}-", c.package),
            }
        })
        .collect()
}

/// apt's options for a direction: downgrades only on rollback, packages removed on rollback
/// are purged (they did not exist before), and `--no-remove` whenever nothing is meant to be
/// removed, so apt aborts rather than remove anything unplanned.
fn apt_flags(changes: &[Change], dir: Direction) -> Vec<&'static str> {
    let removes = changes.iter().any(|c| match dir {
        Direction::Apply => c.to_version.is_none(),
        Direction::Rollback => c.from_version.is_none(),
    });
    let mut f = Vec::new();
    if dir == Direction::Rollback {
        f.extend(["--allow-downgrades", "--purge"]);
    }
    if !removes {
        f.push("--no-remove");
    }
    f
}

/// Read-only: what apt would do for exactly these arguments.
pub(super) fn simulate_command(changes: &[Change], dir: Direction) -> String {
    let args: Vec<String> = package_args(changes, dir)
        .iter()
        .map(|a| shell_quote(a))
        .collect();
    format!(
        "LC_ALL=C apt-get -s install {} {}",
        apt_flags(changes, dir).join(" "),
        args.join(" ")
    )
}

/// The plan's simulation: the named packages at their candidate versions, upgrades only.
pub(super) fn plan_simulate_command(pins: &[(String, String)]) -> String {
    let args: Vec<String> = pins
        .iter()
        .map(|(p, v)| shell_quote(&format!("{p}={v}")))
        .collect();
    format!(
        "LC_ALL=C apt-get -s install --only-upgrade {}",
        args.join(" ")
    )
}

/// The changing command: install exactly the recorded versions, then give back apt's
/// "automatically installed" mark to the packages that had it (naming a package marks it
/// manual) and, on apply, to the packages the upgrade pulled in (as apt would have).
pub(super) fn install_command(changes: &[Change], dir: Direction) -> String {
    let args: Vec<String> = package_args(changes, dir)
        .iter()
        .map(|a| shell_quote(a))
        .collect();
    let auto: Vec<String> = changes
        .iter()
        .filter(|c| match dir {
            Direction::Apply => c.to_version.is_some() && (c.was_auto || c.from_version.is_none()),
            Direction::Rollback => c.from_version.is_some() && c.was_auto,
        })
        .map(|c| shell_quote(&c.package))
        .collect();
    let mut cmd = format!(
        "env DEBIAN_FRONTEND=noninteractive apt-get install -y -q {} -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=0 {}",
        apt_flags(changes, dir).join(" "),
        args.join(" ")
    );
    if !auto.is_empty() {
        cmd.push_str(&format!(" && apt-mark auto {} >/dev/null", auto.join(" ")));
    }
    cmd
}

/// Check apt's simulation against the recorded transaction before anything runs. Apply: every
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

/// What a host has of a transaction's packages: `dpkg-query` lines `pkg\tversion\tstatus`
/// (status `ii`-style; only a second letter `i` counts as installed).
pub(super) fn parse_installed(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (p, v, s) = (f.next()?, f.next()?, f.next()?);
            (s.as_bytes().get(1) == Some(&b'i') && valid_package_ref(p) && version(v).is_some())
                .then(|| (p.to_string(), v.to_string()))
        })
        .take(MAX_STEPS)
        .collect()
}

/// `dpkg-query` for the packages of a transaction (unknown packages are simply absent).
pub(super) fn query_command(changes: &[Change]) -> String {
    format!(
        "dpkg-query -W -f='${{Package}}\\t${{Version}}\\t${{db:Status-Abbrev}}\\n' {} 2>/dev/null; true",
        changes
            .iter()
            .map(|c| shell_quote(base_name(&c.package)))
            .collect::<Vec<_>>()
            .join(" ")
    )
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
    use proptest::prelude::*;

    const SIM: &str = "Reading package lists...
The following packages will be REMOVED:
  pd-agent
Remv pd-agent [2.0~rc1-1]
Inst pd-libfoo1 [1:3.0-1] (1:3.1-1 PatchDesk:bookworm [all])
Inst pd-libbar1 (1.0-1 PatchDesk:bookworm [all])
Inst pd-daemon [1.0-1] (1.2-1 PatchDesk:bookworm [all])
Inst libc6:i386 [2.36-9] (2.36-9+deb12u1 Debian:12.1/stable [i386]) [libc-bin:amd64 ]
Conf pd-libfoo1 (1:3.1-1 PatchDesk:bookworm [all])
Conf pd-daemon (1.2-1 PatchDesk:bookworm [all])";

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
    fn reads_upgrades_new_installs_and_removals() {
        let s = parse_simulation(SIM).unwrap();
        let got: Vec<(&str, Option<&str>, Option<&str>)> = s
            .iter()
            .map(|s| (s.package.as_str(), s.from.as_deref(), s.to.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("libc6:i386", Some("2.36-9"), Some("2.36-9+deb12u1")),
                ("pd-agent", Some("2.0~rc1-1"), None),
                ("pd-daemon", Some("1.0-1"), Some("1.2-1")),
                ("pd-libbar1", None, Some("1.0-1")),
                ("pd-libfoo1", Some("1:3.0-1"), Some("1:3.1-1")),
            ]
        );
        assert_eq!(parse_simulation("").unwrap(), []);
        assert_eq!(
            parse_simulation("Purg pd-x [1.0]\nInst pd-x [1.0] (1.1 R:s [all])").unwrap(),
            [Step {
                package: "pd-x".into(),
                from: Some("1.0".into()),
                to: Some("1.1".into())
            }]
        );
    }

    #[test]
    fn an_unreadable_step_makes_the_transaction_unknown() {
        for bad in [
            "Inst ; rm -rf / [1] (2 x)",
            "Inst pd-x [1.0 (2.0 x)",
            "Inst pd-x [1.0] 2.0",
            "Inst pd-x [not a version!] (2.0 x)",
            "Remv pd-x",
            "Inst PD-X (1.0 x)",
            "Inst pd-x:$(id) (1.0 x)",
        ] {
            let e = parse_simulation(bad).unwrap_err();
            assert!(e.contains("cannot read apt's"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_exact_arguments_both_ways() {
        let t = [
            ch("pd-daemon", Some("1.0-1"), Some("1.2-1")),
            ch("pd-libbar1", None, Some("1.0-1")),
            ch("pd-agent", Some("2.0~rc1-1"), None),
        ];
        assert_eq!(
            package_args(&t, Direction::Apply),
            ["pd-daemon=1.2-1", "pd-libbar1=1.0-1", "pd-agent-"]
        );
        assert_eq!(
            package_args(&t, Direction::Rollback),
            ["pd-daemon=1.0-1", "pd-libbar1-", "pd-agent=2.0~rc1-1"]
        );
        let apply = install_command(&t, Direction::Apply);
        assert!(
            !apply.contains("--no-remove"),
            "it removes pd-agent: {apply}"
        );
        assert!(
            apply.ends_with("&& apt-mark auto pd-libbar1 >/dev/null"),
            "{apply}"
        );
        let back = install_command(&t, Direction::Rollback);
        assert!(back.contains("--allow-downgrades --purge"), "{back}");
        assert!(!back.contains("apt-mark"), "{back}");
        let only_up = [ch("pd-hello", Some("1.0-1"), Some("1:2.0~rc1-1"))];
        let c = install_command(&only_up, Direction::Apply);
        assert!(
            c.contains("--no-remove") && c.ends_with("'pd-hello=1:2.0~rc1-1'"),
            "{c}"
        );
        assert!(simulate_command(&only_up, Direction::Rollback)
            .starts_with("LC_ALL=C apt-get -s install --allow-downgrades --purge --no-remove"));
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
        assert!(
            query_command(&t).contains("}\\n' pd-daemon pd-libbar1 pd-agent 2>/dev/null"),
            "{}",
            query_command(&t)
        );
    }

    #[test]
    fn madison_lines_are_validated() {
        let m = parse_madison(" pd-daemon |      1.1-1 | file:/srv bookworm/main amd64 Packages\n x | ; rm | y\nPATCHDESK-PIN-OK\n");
        assert_eq!(
            m.into_iter().collect::<Vec<_>>(),
            [("pd-daemon".to_string(), "1.1-1".to_string())]
        );
    }

    proptest! {
        #[test]
        fn hostile_simulations_never_panic(s in "\\PC{0,400}", lines in proptest::collection::vec("(Inst|Remv|Purg|Conf) [a-z0-9:.+~\\[\\]() -]{0,60}", 0..20)) {
            let _ = parse_simulation(&s);
            let text = lines.join("\n");
            if let Ok(steps) = parse_simulation(&text) {
                for st in steps {
                    prop_assert!(valid_package_ref(&st.package));
                    prop_assert!(st.from.is_some() || st.to.is_some());
                }
            }
            let _ = parse_madison(&s);
            let _ = parse_installed(&s);
        }
    }
}
