//! The Debian family (dpkg and apt): owns what the rollout knows about changing a Debian host —
//! the exact-version install / downgrade / purge command, apt's simulation of it and its reader,
//! the rollback-path probe (`apt-cache madison`, apt's auto marks, whether the host can pin),
//! hold and unhold (`apt-mark` + an apt preferences file), the interrupted-transaction check
//! (`dpkg --audit`), the dpkg lock holder (from `/proc/locks` and from apt's own error lines) and
//! the installed-version query (`dpkg-query`). Commands are argument vectors; the caller renders
//! them with [`super::render`] (every word through [`crate::ssh::shell_quote`]) and runs them
//! audited. Must not touch the database or SSH: text in, typed facts out, and the reverse.
//!
//! (The Debian scan script and its parser are still `scan::SCAN_SCRIPT` and `facts`, and the
//! version order `crate::version`.)

use super::Argv;
pub use super::Step;
use crate::version::Version;
use std::collections::{BTreeMap, BTreeSet};

/// Apt never plans more than this for PatchDesk's exact-version installs; more is refused.
pub const MAX_STEPS: usize = 10_000;

/// A Debian binary package name: lowercase letters, digits and `+ - .`, 2 to 128 characters.
pub fn valid_name(s: &str) -> bool {
    s.len() >= 2
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

/// A binary package as apt prints it: `name` or `name:arch`.
pub fn valid_package_ref(s: &str) -> bool {
    let (name, arch) = match s.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (s, None),
    };
    valid_name(name)
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
pub fn base_name(package: &str) -> &str {
    package.split_once(':').map_or(package, |(n, _)| n)
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

/// A Debian version PatchDesk accepts from a host (parsable, at most 256 bytes).
pub fn valid_version(s: &str) -> bool {
    s.len() <= 256 && s.parse::<Version>().is_ok()
}

fn version(s: &str) -> Option<String> {
    valid_version(s).then(|| s.to_string())
}

/// Read `apt-get -s` output: `Inst NAME [OLD] (NEW …)`, `Inst NAME (NEW …)` (a new package),
/// `Remv NAME [OLD]` / `Purg NAME [OLD]`. `Conf` and notes are ignored. A line of those three
/// kinds that cannot be read makes the whole transaction unknown: an error, never a guess.
pub fn parse_simulation(text: &str) -> Result<Vec<Step>, String> {
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
pub fn parse_madison(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            (f.len() >= 3 && valid_package_ref(f[0]) && version(f[1]).is_some())
                .then(|| (f[0].to_string(), f[1].to_string()))
        })
        .take(MAX_STEPS * 50)
        .collect()
}

/// One package a transaction ends with: `(package, Some(version))` installed at exactly that
/// version, `(package, None)` removed.
pub type Want<'a> = (&'a str, Option<&'a str>);

/// The exact package arguments: `pkg=version` for every package that ends installed, `pkg-`
/// for every package that ends removed. Names and versions were validated when recorded.
pub fn package_args(wants: &[Want<'_>]) -> Vec<String> {
    wants
        .iter()
        .map(|(p, v)| match v {
            Some(v) => format!("{p}={v}"),
            None => format!("{p}-"),
        })
        .collect()
}

/// apt's options: downgrades only on a rollback, packages removed on rollback are purged (they
/// did not exist before), and `--no-remove` whenever nothing is meant to be removed, so apt
/// aborts rather than remove anything unplanned.
fn apt_flags(wants: &[Want<'_>], rollback: bool) -> Vec<String> {
    let removes = wants.iter().any(|(_, v)| v.is_none());
    let mut f = Vec::new();
    if rollback {
        f.extend(["--allow-downgrades".to_string(), "--purge".to_string()]);
    }
    if !removes {
        f.push("--no-remove".to_string());
    }
    f
}

fn words(w: &[&str]) -> Argv {
    w.iter().map(|s| s.to_string()).collect()
}

/// Read-only: what apt would do to end with exactly these packages.
pub fn simulate(wants: &[Want<'_>], rollback: bool) -> Argv {
    let mut v = words(&["env", "LC_ALL=C", "apt-get", "-s", "install"]);
    v.extend(apt_flags(wants, rollback));
    v.extend(package_args(wants));
    v
}

/// The plan's simulation: the named packages at their candidate versions, upgrades only.
pub fn plan_simulate(pins: &[(String, String)]) -> Argv {
    let mut v = words(&[
        "env",
        "LC_ALL=C",
        "apt-get",
        "-s",
        "install",
        "--only-upgrade",
    ]);
    v.extend(pins.iter().map(|(p, ver)| format!("{p}={ver}")));
    v
}

/// The changing command: install exactly these versions (apt told not to wait for the dpkg lock:
/// the caller waits visibly, see [`lock_holder`]).
pub fn install(wants: &[Want<'_>], rollback: bool) -> Argv {
    let mut v = words(&[
        "env",
        "DEBIAN_FRONTEND=noninteractive",
        "apt-get",
        "install",
        "-y",
        "-q",
    ]);
    v.extend(apt_flags(wants, rollback));
    v.extend(words(&[
        "-o",
        "Dpkg::Options::=--force-confold",
        "-o",
        "DPkg::Lock::Timeout=0",
    ]));
    v.extend(package_args(wants));
    v
}

/// Give back apt's "automatically installed" mark (naming a package in an install marks it
/// manual). `None` when there is nothing to mark.
pub fn mark_auto(packages: &[&str]) -> Option<Argv> {
    if packages.is_empty() {
        return None;
    }
    let mut v = words(&["apt-mark", "auto"]);
    v.extend(packages.iter().map(|p| p.to_string()));
    Some(v)
}

/// The marker between the two parts of the rollback probe's output.
const PROBE_AUTO: &str = "PATCHDESK-AUTO";
const PROBE_PIN_OK: &str = "PATCHDESK-PIN-OK";

/// Read-only, one round trip: which versions of the transaction's packages the repositories
/// still offer (`apt-cache madison`), which of them apt marks automatically installed, and
/// whether the host can pin (apt-mark and `/etc/apt/preferences.d`). Read by
/// [`parse_rollback_probe`].
pub fn rollback_probe(steps: &[Step]) -> String {
    let names: Vec<String> = steps.iter().map(|s| s.package.clone()).collect();
    let bases: Vec<String> = steps
        .iter()
        .map(|s| base_name(&s.package).to_string())
        .collect();
    let part = |cmd: &[&str], args: Vec<String>| {
        if args.is_empty() {
            String::new()
        } else {
            let mut v = words(cmd);
            v.extend(args);
            format!("{}; ", super::render(&v))
        }
    };
    format!(
        "export LC_ALL=C; {}echo {PROBE_AUTO}; {}command -v apt-mark >/dev/null && [ -d /etc/apt/preferences.d ] && echo {PROBE_PIN_OK}; true",
        part(&["apt-cache", "madison"], bases),
        part(&["apt-mark", "showauto"], names),
    )
}

/// What the rollback probe found on a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackProbe {
    /// (package, version) pairs the repositories offer.
    pub offered: BTreeSet<(String, String)>,
    /// Packages apt marks automatically installed.
    pub auto: BTreeSet<String>,
    /// apt-mark and apt preferences are there.
    pub can_pin: bool,
}

/// Read [`rollback_probe`]'s output; `None` when it did not finish.
pub fn parse_rollback_probe(text: &str) -> Option<RollbackProbe> {
    let (madison, rest) = text.split_once(PROBE_AUTO)?;
    Some(RollbackProbe {
        offered: parse_madison(madison),
        auto: rest
            .lines()
            .map(str::trim)
            .filter(|l| valid_package_ref(l))
            .map(str::to_string)
            .take(MAX_STEPS)
            .collect(),
        can_pin: rest.lines().any(|l| l.trim() == PROBE_PIN_OK),
    })
}

/// The installed-version query for these packages (`dpkg-query` lines `pkg\tversion\tstatus`;
/// unknown packages are simply absent), read by [`parse_installed`]. Shell text: ends with
/// `2>/dev/null; true`.
pub fn query(packages: &[&str]) -> String {
    let mut v = words(&[
        "dpkg-query",
        "-W",
        "-f=${Package}\\t${Version}\\t${db:Status-Abbrev}\\n",
    ]);
    v.extend(packages.iter().map(|p| base_name(p).to_string()));
    format!("{} 2>/dev/null; true", super::render(&v))
}

/// What a host has of a transaction's packages: `dpkg-query` lines `pkg\tversion\tstatus`
/// (status `ii`-style; only a second letter `i` counts as installed).
pub fn parse_installed(text: &str) -> BTreeMap<String, String> {
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

/// The interrupted-transaction check: `dpkg --audit` prints nothing and exits 0 on a clean host.
pub fn audit() -> Argv {
    words(&["dpkg", "--audit"])
}

/// Who holds the dpkg locks right now (read-only: `/proc/locks` against the lock files' inodes,
/// then the holder's name). Prints `HOLDER PID NAME` lines, then `END`; read by
/// [`parse_holders`].
pub const LOCK_HOLDERS: &str = r#"for f in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock; do
  [ -e "$f" ] || continue
  ino=$(stat -c %i "$f" 2>/dev/null) || continue
  awk -v ino="$ino" '{ for (i = 2; i <= NF; i++) if ($i ~ /^[0-9a-f]+:[0-9a-f]+:[0-9]+$/) { split($i, a, ":"); if (a[3] == ino) print $(i - 1) } }' /proc/locks 2>/dev/null
done | sort -u | while read -r pid; do
  case $pid in ''|*[!0-9]*) continue ;; esac
  printf 'HOLDER %s %s
' "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null)"
done
echo END
"#;

/// `process 812 (dpkg)` for each holder line (bounded, printable); `None` when the probe did not
/// finish (no `END` line).
pub fn parse_holders(out: &str) -> Option<Vec<String>> {
    if !out.lines().any(|l| l == "END") {
        return None;
    }
    Some(
        out.lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("HOLDER ")?;
                let (pid, name) = rest.split_once(' ').unwrap_or((rest, ""));
                let pid: u32 = pid.parse().ok().filter(|p| *p > 0)?;
                let name: String = name
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(32)
                    .collect();
                Some(if name.is_empty() {
                    format!("process {pid}")
                } else {
                    format!("process {pid} ({name})")
                })
            })
            .take(16)
            .collect(),
    )
}

/// Who holds the dpkg lock, read from the `E:` lines apt writes to stderr when it cannot take
/// the lock (host output: bounded, control characters dropped); `None` when apt failed for
/// another reason.
pub fn lock_holder(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("E:"))
        .take(16)
        .collect();
    if !lines
        .iter()
        .any(|l| l.contains("Could not get lock") || l.contains("Unable to acquire the dpkg"))
    {
        return None;
    }
    Some(
        lines
            .iter()
            .find_map(|l| l.find("held by process").map(|i| &l[i..]))
            .map(|h| {
                h.trim_end_matches('.')
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(80)
                    .collect()
            })
            .unwrap_or_else(|| "held by another package manager".into()),
    )
}

/// Held by dpkg's selection (`apt-mark hold`): dpkg status `h…`.
pub fn is_held(status: &str) -> bool {
    status.starts_with('h')
}

/// `apt-mark hold NAME…`: dpkg's selection, seen by every apt front-end and by the next scan.
pub fn hold(packages: &[&str]) -> Argv {
    let mut v = words(&["apt-mark", "hold"]);
    v.extend(packages.iter().map(|p| p.to_string()));
    v
}

/// `apt-mark unhold NAME…`.
pub fn unhold(packages: &[&str]) -> Argv {
    let mut v = words(&["apt-mark", "unhold"]);
    v.extend(packages.iter().map(|p| p.to_string()));
    v
}

/// The apt preferences file a pin rollback writes on a host.
pub fn pin_file(id: i64) -> String {
    format!("/etc/apt/preferences.d/patchdesk-deployment-{id}")
}

/// The apt preferences stanzas that keep exact versions even against an explicit upgrade
/// (priority 1001).
pub fn pin_stanzas(pins: &[(String, String)]) -> String {
    pins.iter()
        .map(|(p, v)| format!("Package: {p}\nPin: version {v}\nPin-Priority: 1001\n\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::render;
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
    fn commands_are_rendered_words() {
        let w: [Want<'_>; 2] = [("pd-hello", Some("1:2.0~rc1-1")), ("pd-agent", None)];
        assert_eq!(
            render(&install(&w, false)),
            "env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=0 'pd-hello=1:2.0~rc1-1' pd-agent-"
        );
        assert_eq!(
            render(&simulate(&w[..1], true)),
            "env LC_ALL=C apt-get -s install --allow-downgrades --purge --no-remove 'pd-hello=1:2.0~rc1-1'"
        );
        assert_eq!(
            render(&plan_simulate(&[("pd-x".into(), "1.0;id".into())])),
            "env LC_ALL=C apt-get -s install --only-upgrade 'pd-x=1.0;id'"
        );
        assert_eq!(mark_auto(&[]), None);
        assert_eq!(
            render(&hold(&["pd-tools", "pd-hello"])),
            "apt-mark hold pd-tools pd-hello"
        );
        let q = query(&["pd-daemon", "libc6:i386"]);
        assert_eq!(
            q,
            "dpkg-query -W '-f=${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' pd-daemon libc6 2>/dev/null; true"
        );
        let s = [Step {
            package: "libc6:i386".into(),
            from: Some("1".into()),
            to: Some("2".into()),
        }];
        assert_eq!(
            rollback_probe(&s),
            "export LC_ALL=C; apt-cache madison libc6; echo PATCHDESK-AUTO; apt-mark showauto libc6:i386; command -v apt-mark >/dev/null && [ -d /etc/apt/preferences.d ] && echo PATCHDESK-PIN-OK; true"
        );
        assert_eq!(
            rollback_probe(&[]),
            "export LC_ALL=C; echo PATCHDESK-AUTO; command -v apt-mark >/dev/null && [ -d /etc/apt/preferences.d ] && echo PATCHDESK-PIN-OK; true"
        );
    }

    #[test]
    fn the_rollback_probe_is_read() {
        let p = parse_rollback_probe(" pd-daemon |      1.1-1 | file:/srv bookworm/main amd64 Packages\n x | ; rm | y\nPATCHDESK-AUTO\npd-libbar1\n$(id)\nPATCHDESK-PIN-OK\n").unwrap();
        assert_eq!(
            p.offered.into_iter().collect::<Vec<_>>(),
            [("pd-daemon".to_string(), "1.1-1".to_string())]
        );
        assert_eq!(p.auto.into_iter().collect::<Vec<_>>(), ["pd-libbar1"]);
        assert!(p.can_pin);
        assert_eq!(parse_rollback_probe("pd-daemon | 1 | x\n"), None);
    }

    #[test]
    fn lock_holders() {
        assert_eq!(
            parse_holders(
                "HOLDER 812 dpkg\nHOLDER 0 x\nHOLDER abc y\nHOLDER 9 \x1b[31mevil\nEND\n"
            )
            .unwrap(),
            ["process 812 (dpkg)", "process 9 ([31mevil)"]
        );
        assert_eq!(parse_holders("HOLDER 812 dpkg\n"), None);
        let e = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 19720 (apt-get)\nE: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?\n";
        assert_eq!(
            lock_holder(e).as_deref(),
            Some("held by process 19720 (apt-get)")
        );
        assert_eq!(lock_holder("E: Unable to locate package x\n"), None);
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
            let _ = parse_rollback_probe(&s);
            let _ = parse_holders(&s);
            let _ = lock_holder(&s);
        }
    }
}
