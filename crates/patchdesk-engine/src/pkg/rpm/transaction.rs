//! The whole dnf transaction of an exact-version change, planned without changing anything:
//! `dnf --assumeno upgrade NAME-EVR…` (the same command as the change, told to answer no)
//! prints the transaction table, read here into one [`Step`] per package with the versions on
//! both sides (the installed side from `rpm -q`, [`query`]). Also the rollout's other rpm
//! commands: the change itself in both directions, the interrupted-transaction check
//! (`dnf check`), the probe of what a rollback needs. Owns the text; runs nothing and must not
//! touch the database or SSH. Everything read is hostile input: bounded, validated, an
//! unreadable row makes the whole transaction unknown (an error, never a guess).

use super::commands::{self, Target};
use super::parse::{valid_arch, valid_name};
use super::version::Evr;
use crate::pkg::{Argv, Step};
use std::collections::BTreeMap;

/// More packages than this in one transaction are refused.
pub const MAX_ROWS: usize = 10_000;

/// What dnf's table says it would do to a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Install,
    Upgrade,
    Downgrade,
    Reinstall,
    Remove,
}

/// One row of dnf's transaction table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub action: Action,
    pub name: String,
    pub arch: String,
    pub evr: Evr,
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(120).collect()
}

/// The section headers of dnf 4's transaction table, and what they mean.
fn section(header: &str) -> Option<Action> {
    Some(match header {
        "Installing" | "Installing dependencies" | "Installing weak dependencies" => {
            Action::Install
        }
        "Upgrading" | "Upgrading dependencies" => Action::Upgrade,
        "Downgrading" | "Downgrading dependencies" => Action::Downgrade,
        "Reinstalling" => Action::Reinstall,
        "Removing" | "Removing dependent packages" | "Removing unused dependencies" => {
            Action::Remove
        }
        _ => return None,
    })
}

/// A repository id as dnf prints it (`@System` for installed packages).
fn valid_repo(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@-_.:".contains(&b))
}

/// Read `dnf --assumeno` output: the rows of the table between the rule under the column
/// header and `Transaction Summary`, per section (`Upgrading:`, `Installing dependencies:`,
/// `Removing:`…). A row is `NAME ARCH [EPOCH:]VERSION-RELEASE REPO SIZE`; one wrapped over
/// several lines (a long name on a line of its own) is joined. `replacing NAME.ARCH EVR` under
/// a row (an obsoleted package) is a removal. `Nothing to do.` is an empty transaction. A
/// section PatchDesk does not know (modules, skipped packages) or a row it cannot read is an
/// error.
pub fn parse_table(text: &str) -> Result<Vec<Row>, String> {
    let mut rows: Vec<Row> = Vec::new();
    let mut in_table = false;
    let mut current: Option<Action> = None;
    let mut pending: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate().take(MAX_ROWS * 4) {
        let bad = |why: &str| format!("line {}: {why}: {:?}", i + 1, clip(line));
        let t = line.trim();
        if !in_table {
            if t.starts_with(" Package") || t.starts_with("Package ") {
                in_table = true;
            }
            continue;
        }
        if t.starts_with("Transaction Summary") {
            break;
        }
        if t.is_empty() || t.bytes().all(|b| b == b'=') {
            continue;
        }
        if !line.starts_with(' ') {
            let header = t
                .strip_suffix(':')
                .ok_or_else(|| bad("not a section of dnf's transaction table"))?;
            current = Some(
                section(header)
                    .ok_or_else(|| bad("a part of the transaction PatchDesk does not handle"))?,
            );
            if !pending.is_empty() {
                return Err(bad("a row ends early"));
            }
            continue;
        }
        let action = current.ok_or_else(|| bad("a row outside any section"))?;
        let words: Vec<&str> = t.split_whitespace().collect();
        if words.first() == Some(&"replacing") && pending.is_empty() {
            // `replacing  NAME.ARCH  EVR`: an obsoleted package goes.
            let (na, evr) = match words.as_slice() {
                [_, na, evr] => (*na, *evr),
                _ => return Err(bad("cannot read dnf's replacing line")),
            };
            let (name, arch) = na.rsplit_once('.').ok_or_else(|| bad("no architecture"))?;
            push(&mut rows, Action::Remove, name, arch, evr).map_err(|e| bad(&e))?;
            continue;
        }
        pending.extend(words.iter().map(|w| w.to_string()));
        if pending.len() < 4 {
            continue;
        }
        push(&mut rows, action, &pending[0], &pending[1], &pending[2]).map_err(|e| bad(&e))?;
        if !valid_repo(&pending[3]) {
            return Err(bad("not a repository id"));
        }
        pending.clear();
    }
    if !pending.is_empty() {
        return Err("the transaction table ends in the middle of a row".into());
    }
    if !in_table && !text.lines().any(|l| l.trim() == "Nothing to do.") {
        return Err("dnf printed no transaction table".into());
    }
    Ok(rows)
}

fn push(
    rows: &mut Vec<Row>,
    action: Action,
    name: &str,
    arch: &str,
    evr: &str,
) -> Result<(), String> {
    if !valid_name(name) {
        return Err("not an rpm package name".into());
    }
    if !valid_arch(arch) {
        return Err("not an rpm architecture".into());
    }
    let evr: Evr = evr
        .parse()
        .map_err(|e| format!("not an rpm version ({e})"))?;
    if rows.len() >= MAX_ROWS {
        return Err(format!("more than {MAX_ROWS} packages in one transaction"));
    }
    rows.push(Row {
        action,
        name: name.to_string(),
        arch: arch.to_string(),
        evr,
    });
    Ok(())
}

/// The transaction per package, versions on both sides: `installed` is what `rpm -q` said
/// before ([`parse_query`]). Versions are dnf's spelling ([`Evr::normalized`]).
pub fn steps(rows: &[Row], installed: &BTreeMap<String, Evr>) -> Vec<Step> {
    let mut out: BTreeMap<String, Step> = BTreeMap::new();
    for r in rows {
        let from = installed.get(&r.name).map(Evr::normalized);
        let to = match r.action {
            Action::Remove => None,
            _ => Some(r.evr.normalized()),
        };
        let s = out.entry(r.name.clone()).or_insert_with(|| Step {
            package: r.name.clone(),
            from: from.clone(),
            to: to.clone(),
        });
        // An obsoleted package replaced by a package of the same name keeps the new version.
        if to.is_some() {
            s.to = to;
        }
    }
    out.into_values().filter(|s| s.from != s.to).collect()
}

fn words(w: &[&str]) -> Argv {
    w.iter().map(|s| s.to_string()).collect()
}

/// Read-only: what dnf would do for exactly this change (`dnf --assumeno VERB SPEC…` with the
/// same options as the change). Exit status 1 and "Operation aborted." when there is something
/// to do, 0 and "Nothing to do." otherwise.
pub fn simulate(verb: &str, targets: &[Target]) -> Argv {
    let mut v = words(&[
        "env",
        "LC_ALL=C",
        "dnf",
        "--assumeno",
        "--setopt=install_weak_deps=False",
        "--setopt=exit_on_lock=True",
        verb,
    ]);
    v.extend(targets.iter().map(Target::spec));
    v
}

/// What `rpm -q` says of these packages, one `NAME\tEPOCH\tVERSION\tRELEASE\tARCH` line each
/// (packages not installed print a line of their own, ignored), read by [`parse_query`]. Shell
/// text: ends with `; true`.
pub fn query(names: &[&str]) -> String {
    let mut v = words(&[
        "rpm",
        "-q",
        "--qf",
        "%{NAME}\\t%|EPOCH?{%{EPOCH}}:{}|\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n",
    ]);
    v.extend(names.iter().map(|n| n.to_string()));
    format!("LC_ALL=C {} 2>/dev/null; true", crate::pkg::render(&v))
}

/// `rpm -q` lines → name → the highest installed version (several for install-only packages).
pub fn parse_query(text: &str) -> BTreeMap<String, Evr> {
    let mut out: BTreeMap<String, Evr> = BTreeMap::new();
    for l in text.lines().take(MAX_ROWS) {
        let f: Vec<&str> = l.split('\t').collect();
        let [name, e, v, r, arch] = f.as_slice() else {
            continue;
        };
        if !valid_name(name) || !valid_arch(arch) {
            continue;
        }
        let Ok(evr) = Evr::from_parts(e, v, r) else {
            continue;
        };
        match out.get(*name) {
            Some(have) if *have >= evr => {}
            _ => {
                out.insert(name.to_string(), evr);
            }
        }
    }
    out
}

/// The marker between the parts of [`rollback_probe`]'s output.
const PROBE_PIN: &str = "PATCHDESK-PIN";
const PROBE_PIN_OK: &str = "PATCHDESK-PIN-OK";

/// Read-only, one round trip: which of these exact versions a repository still offers
/// (`dnf repoquery`, what a downgrade or a reinstall needs) and whether the host can pin (the
/// versionlock plugin answers). Read by [`parse_rollback_probe`].
pub fn rollback_probe(targets: &[Target]) -> String {
    let repo = commands::rollback_probe(targets)
        .map(|v| {
            format!(
                "LC_ALL=C {} </dev/null 2>/dev/null; ",
                crate::pkg::render(&v)
            )
        })
        .unwrap_or_default();
    format!(
        "{repo}echo {PROBE_PIN}; LC_ALL=C dnf -q --disablerepo='*' versionlock list </dev/null >/dev/null 2>&1 && echo {PROBE_PIN_OK}; true"
    )
}

/// What the rollback probe found: for each target whether it is offered, and whether the
/// host can pin. `None` when the probe did not finish.
pub fn parse_rollback_probe(text: &str, targets: &[Target]) -> Option<(Vec<bool>, bool)> {
    let (offered, rest) = text.split_once(PROBE_PIN)?;
    Some((
        commands::parse_rollback_probe(offered, targets),
        rest.lines().any(|l| l.trim() == PROBE_PIN_OK),
    ))
}

/// The interrupted-transaction check: `dnf check` (duplicates, broken dependencies, obsoleted
/// packages still installed: what a transaction cut off half-way leaves) prints nothing and
/// exits 0 on a clean host.
pub fn check() -> Argv {
    words(&["env", "LC_ALL=C", "dnf", "-q", "--disablerepo=*", "check"])
}

/// The change for a recorded transaction, as one `&&` chain of dnf calls. `upgrades`: packages
/// taken to a newer version (apply) or back to an older one (rollback); dnf resolves the rest
/// and PatchDesk has checked beforehand, with [`simulate`], that it resolves to exactly the
/// plan. On rollback `remove` are the packages the upgrade installed, `reinstall` those it
/// removed (at their old versions).
pub fn change(
    rollback: bool,
    moved: &[Target],
    remove: &[&str],
    reinstall: &[Target],
) -> Result<Vec<Argv>, commands::CommandError> {
    let mut out = Vec::new();
    if !moved.is_empty() {
        out.push(if rollback {
            commands::downgrade(moved)?
        } else {
            commands::upgrade(moved)?
        });
    }
    if !remove.is_empty() {
        let mut v = words(&[
            "dnf",
            "-y",
            "-q",
            "--setopt=clean_requirements_on_remove=False",
            "--setopt=exit_on_lock=True",
            "remove",
        ]);
        for n in remove {
            if !valid_name(n) {
                return Err(commands::CommandError::Name(n.chars().take(64).collect()));
            }
            v.push(n.to_string());
        }
        out.push(v);
    }
    if !reinstall.is_empty() {
        out.push(commands::install(reinstall)?);
    }
    if out.is_empty() {
        return Err(commands::CommandError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TABLE: &str =
        "Last metadata expiration check: 0:00:03 ago on Thu 03 Dec 2026 10:00:00 AM UTC.
Dependencies resolved.
================================================================================
 Package               Architecture  Version               Repository     Size
================================================================================
Upgrading:
 pd-daemon             noarch        1.1-1.el9             pd-baseos     6.8 k
Upgrading dependencies:
 pd-libfoo-libs        noarch        1:3.0-2.el9           pd-baseos     6.9 k
Installing dependencies:
 pd-a-very-long-package-name-that-wraps-the-column
                       x86_64        2.0~rc1-1.el9         pd-baseos     7.1 k
     replacing  pd-old.noarch 0.9-1.el9
Removing dependent packages:
 pd-agent              noarch        2.0-1.el9             @System       120

Transaction Summary
================================================================================
Upgrade  2 Packages
Install  1 Package
Remove   2 Packages

Total size: 21 k
";

    #[test]
    fn reads_dnfs_table() {
        let rows = parse_table(TABLE).unwrap();
        let got: Vec<(Action, &str, &str, String)> = rows
            .iter()
            .map(|r| {
                (
                    r.action,
                    r.name.as_str(),
                    r.arch.as_str(),
                    r.evr.normalized(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    Action::Upgrade,
                    "pd-daemon",
                    "noarch",
                    "1.1-1.el9".to_string()
                ),
                (
                    Action::Upgrade,
                    "pd-libfoo-libs",
                    "noarch",
                    "1:3.0-2.el9".into()
                ),
                (
                    Action::Install,
                    "pd-a-very-long-package-name-that-wraps-the-column",
                    "x86_64",
                    "2.0~rc1-1.el9".into()
                ),
                (Action::Remove, "pd-old", "noarch", "0.9-1.el9".into()),
                (Action::Remove, "pd-agent", "noarch", "2.0-1.el9".into()),
            ]
        );
        let installed = parse_query(
            "pd-daemon\t\t1.0\t1.el9\tnoarch\npd-libfoo-libs\t1\t3.0\t1.el9\tnoarch\npd-agent\t\t2.0\t1.el9\tnoarch\npd-old\t\t0.9\t1.el9\tnoarch\npackage pd-x is not installed\n$(id)\t\t1\t1\tnoarch\n",
        );
        assert_eq!(installed.len(), 4);
        let s = steps(&rows, &installed);
        let got: Vec<(&str, Option<&str>, Option<&str>)> = s
            .iter()
            .map(|s| (s.package.as_str(), s.from.as_deref(), s.to.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "pd-a-very-long-package-name-that-wraps-the-column",
                    None,
                    Some("2.0~rc1-1.el9")
                ),
                ("pd-agent", Some("2.0-1.el9"), None),
                ("pd-daemon", Some("1.0-1.el9"), Some("1.1-1.el9")),
                ("pd-libfoo-libs", Some("1:3.0-1.el9"), Some("1:3.0-2.el9")),
                ("pd-old", Some("0.9-1.el9"), None),
            ]
        );
        assert_eq!(
            parse_table("Dependencies resolved.\nNothing to do.\nComplete!\n"),
            Ok(vec![])
        );
    }

    #[test]
    fn an_unreadable_table_is_an_error() {
        let head = " Package  Arch  Version  Repository  Size\n=====\n";
        for (bad, why) in [
            ("Upgrading:\n pd-x;id noarch 1.0-1 r 1 k\n", "package name"),
            ("Upgrading:\n pd-x noarch 1.0-1 r$(x) 1 k\n", "repository"),
            (
                "Upgrading:\n pd-x noar\u{1b}ch 1.0-1 r 1 k\n",
                "architecture",
            ),
            ("Upgrading:\n pd-x noarch :: r 1 k\n", "version"),
            ("Installing module profiles:\n pd/x\n", "does not handle"),
            (" pd-x noarch 1.0-1 r 1 k\n", "outside any section"),
            ("Upgrading:\n pd-x noarch\n", "middle of a row"),
            ("Upgrading:\n     replacing pd-x 1.0-1\n", "architecture"),
        ] {
            let e = parse_table(&format!("{head}{bad}")).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        assert!(parse_table("Error: Unable to find a match: pd-x-9\n").is_err());
    }

    #[test]
    fn commands() {
        let t = |n: &str, e: &str| Target::new(n, &e.parse().unwrap(), None).unwrap();
        let up = [
            t("pd-daemon", "1.1-1.el9"),
            t("pd-libfoo-libs", "1:3.0-2.el9"),
        ];
        assert_eq!(
            crate::pkg::render(&simulate("upgrade", &up)),
            "env LC_ALL=C dnf --assumeno --setopt=install_weak_deps=False --setopt=exit_on_lock=True upgrade pd-daemon-1.1-1.el9 pd-libfoo-libs-1:3.0-2.el9"
        );
        let back = change(
            true,
            &[t("pd-daemon", "1.0-1.el9")],
            &["pd-new"],
            &[t("pd-agent", "2.0~rc1-1.el9")],
        )
        .unwrap();
        assert_eq!(
            crate::pkg::render_all(&back),
            "dnf -y -q --setopt=install_weak_deps=False --setopt=exit_on_lock=True downgrade pd-daemon-1.0-1.el9 && dnf -y -q --setopt=clean_requirements_on_remove=False --setopt=exit_on_lock=True remove pd-new && dnf -y -q --setopt=install_weak_deps=False --setopt=exit_on_lock=True install 'pd-agent-2.0~rc1-1.el9'"
        );
        assert!(change(false, &[], &["x;y"], &[]).is_err());
        assert!(change(false, &[], &[], &[]).is_err());
        assert_eq!(
            query(&["pd-hello"]),
            "LC_ALL=C rpm -q --qf '%{NAME}\\t%|EPOCH?{%{EPOCH}}:{}|\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n' pd-hello 2>/dev/null; true"
        );
        let p = rollback_probe(&up);
        assert!(
            p.starts_with("LC_ALL=C dnf -q repoquery --available"),
            "{p}"
        );
        let (found, pin) = parse_rollback_probe(
            "pd-daemon 1.1-1.el9 noarch\nPATCHDESK-PIN\nPATCHDESK-PIN-OK\n",
            &up,
        )
        .unwrap();
        assert_eq!((found, pin), (vec![true, false], true));
        assert_eq!(
            parse_rollback_probe("pd-daemon 1.1-1.el9 noarch\n", &up),
            None
        );
    }

    proptest! {
        #[test]
        fn hostile_tables_never_panic(s in "\\PC{0,400}", lines in proptest::collection::vec("( |  |Upgrading:|Removing:)[a-z0-9:.+~_@ -]{0,60}", 0..20)) {
            let _ = parse_table(&s);
            let _ = parse_query(&s);
            let text = format!(" Package Arch\n{}", lines.join("\n"));
            if let Ok(rows) = parse_table(&text) {
                for r in rows {
                    prop_assert!(valid_name(&r.name) && valid_arch(&r.arch));
                }
            }
        }
    }
}
