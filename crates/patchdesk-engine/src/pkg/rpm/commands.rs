//! The dnf command lines that change an rpm host, and the rollback-path probe, as argument
//! vectors: exact-version upgrade / install / downgrade (`NAME-[EPOCH:]VERSION-RELEASE`, assume
//! yes, no weak dependencies pulled in unasked, fail at once instead of waiting silently for
//! another dnf's lock), version lock and unlock (dnf-plugins-core's versionlock), and the probe
//! that tells whether an exact version is still offered by a repository. Owns what to run; runs
//! nothing and must not touch the database or SSH: the caller renders a vector with [`render`]
//! (every word through [`crate::ssh::shell_quote`]) and runs it audited.

use super::parse::{valid_arch, valid_name};
use super::version::Evr;

/// One exact package version to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    name: String,
    evr: Evr,
    arch: Option<String>,
}

/// Why a command cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("{0:?} is not an rpm package name (letters, digits and . _ + - only)")]
    Name(String),
    #[error("{0:?} is not an rpm architecture")]
    Arch(String),
    #[error("{0}: an exact version needs a release (VERSION-RELEASE)")]
    NoRelease(String),
    #[error("no package given")]
    Empty,
}

impl Target {
    /// `arch` is optional: without it dnf picks the package's installed architecture.
    pub fn new(name: &str, evr: &Evr, arch: Option<&str>) -> Result<Target, CommandError> {
        if !valid_name(name) {
            return Err(CommandError::Name(name.chars().take(64).collect()));
        }
        if evr.release().is_none() {
            return Err(CommandError::NoRelease(format!("{name}-{evr}")));
        }
        if let Some(a) = arch {
            if !valid_arch(a) {
                return Err(CommandError::Arch(a.chars().take(32).collect()));
            }
        }
        Ok(Target {
            name: name.to_string(),
            evr: evr.clone(),
            arch: arch.map(str::to_string),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn evr(&self) -> &Evr {
        &self.evr
    }

    /// dnf's package spec: `NAME-[EPOCH:]VERSION-RELEASE[.ARCH]`.
    pub fn spec(&self) -> String {
        match &self.arch {
            Some(a) => format!("{}-{}.{a}", self.name, self.evr.normalized()),
            None => format!("{}-{}", self.name, self.evr.normalized()),
        }
    }
}

/// What every changing dnf call starts with.
const DNF_CHANGE: &[&str] = &[
    "dnf",
    "-y",
    "-q",
    "--setopt=install_weak_deps=False",
    "--setopt=exit_on_lock=True",
];

fn change(verb: &str, targets: &[Target]) -> Result<Vec<String>, CommandError> {
    if targets.is_empty() {
        return Err(CommandError::Empty);
    }
    let mut v: Vec<String> = DNF_CHANGE.iter().map(|s| s.to_string()).collect();
    v.push(verb.to_string());
    v.extend(targets.iter().map(Target::spec));
    Ok(v)
}

/// Upgrade installed packages to exactly these versions.
pub fn upgrade(targets: &[Target]) -> Result<Vec<String>, CommandError> {
    change("upgrade", targets)
}

/// Install exactly these versions (new packages, or an installed one moved up or down).
pub fn install(targets: &[Target]) -> Result<Vec<String>, CommandError> {
    change("install", targets)
}

/// Downgrade to exactly these versions (the rollback).
pub fn downgrade(targets: &[Target]) -> Result<Vec<String>, CommandError> {
    change("downgrade", targets)
}

/// Lock packages at these versions (`dnf versionlock add`; needs dnf-plugins-core).
pub fn versionlock_add(targets: &[Target]) -> Result<Vec<String>, CommandError> {
    if targets.is_empty() {
        return Err(CommandError::Empty);
    }
    let mut v: Vec<String> = ["dnf", "-q", "versionlock", "add"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(targets.iter().map(Target::spec));
    Ok(v)
}

/// Lift the locks of these packages (every version).
pub fn versionlock_delete(names: &[&str]) -> Result<Vec<String>, CommandError> {
    if names.is_empty() {
        return Err(CommandError::Empty);
    }
    let mut v: Vec<String> = ["dnf", "-q", "versionlock", "delete"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for n in names {
        if !valid_name(n) {
            return Err(CommandError::Name(n.chars().take(64).collect()));
        }
        v.push(n.to_string());
    }
    Ok(v)
}

/// Which of these exact versions a repository still offers (a downgrade needs it): prints
/// `NAME EVR ARCH` for each one found; read by [`parse_rollback_probe`].
pub fn rollback_probe(targets: &[Target]) -> Result<Vec<String>, CommandError> {
    if targets.is_empty() {
        return Err(CommandError::Empty);
    }
    let mut v: Vec<String> = [
        "dnf",
        "-q",
        "repoquery",
        "--available",
        "--qf",
        "%{name} %{evr} %{arch}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(targets.iter().map(Target::spec));
    Ok(v)
}

/// For each target, whether the probe's output lists it.
pub fn parse_rollback_probe(output: &str, targets: &[Target]) -> Vec<bool> {
    let found: Vec<(String, Option<Evr>, String)> = output
        .lines()
        .take(100_000)
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (n, e, a) = (it.next()?, it.next()?, it.next()?);
            Some((n.to_string(), e.parse().ok(), a.to_string()))
        })
        .collect();
    targets
        .iter()
        .map(|t| {
            found.iter().any(|(n, e, a)| {
                *n == t.name
                    && e.as_ref() == Some(&t.evr)
                    && t.arch.as_ref().is_none_or(|ta| ta == a)
            })
        })
        .collect()
}

/// One shell command line: every word quoted with [`crate::ssh::shell_quote`].
pub fn render(argv: &[String]) -> String {
    crate::pkg::render(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, evr: &str) -> Target {
        Target::new(name, &evr.parse().unwrap(), None).unwrap()
    }

    #[test]
    fn exact_specs_and_argv() {
        let lib = t("pd-libfoo-libs", "1:3.0-1.el9");
        assert_eq!(lib.spec(), "pd-libfoo-libs-1:3.0-1.el9");
        let zero = t("pd-hello", "0:1.0-1.el9");
        assert_eq!(
            zero.spec(),
            "pd-hello-1.0-1.el9",
            "epoch 0 is left out as dnf prints it"
        );
        let k = Target::new(
            "pd-kernel",
            &"5.14.0-2.el9".parse().unwrap(),
            Some("x86_64"),
        )
        .unwrap();
        assert_eq!(k.spec(), "pd-kernel-5.14.0-2.el9.x86_64");
        assert_eq!(
            render(&downgrade(&[lib.clone(), t("pd-agent", "2.0~rc1-1.el9")]).unwrap()),
            "dnf -y -q --setopt=install_weak_deps=False --setopt=exit_on_lock=True downgrade \
             pd-libfoo-libs-1:3.0-1.el9 'pd-agent-2.0~rc1-1.el9'"
        );
        assert_eq!(upgrade(std::slice::from_ref(&zero)).unwrap()[5], "upgrade");
        assert_eq!(install(std::slice::from_ref(&zero)).unwrap()[5], "install");
        assert_eq!(
            render(&versionlock_add(&[zero]).unwrap()),
            "dnf -q versionlock add pd-hello-1.0-1.el9"
        );
        assert_eq!(
            render(&versionlock_delete(&["pd-hello"]).unwrap()),
            "dnf -q versionlock delete pd-hello"
        );
        assert_eq!(
            render(&rollback_probe(&[lib]).unwrap()),
            "dnf -q repoquery --available --qf '%{name} %{evr} %{arch}' pd-libfoo-libs-1:3.0-1.el9"
        );
    }

    #[test]
    fn refuses_what_is_not_a_package() {
        let v: Evr = "1.0-1".parse().unwrap();
        assert!(matches!(
            Target::new("pd;rm -rf /", &v, None),
            Err(CommandError::Name(_))
        ));
        assert!(matches!(
            Target::new("$(id)", &v, None),
            Err(CommandError::Name(_))
        ));
        assert!(matches!(
            Target::new("pd-x", &v, Some("x86 64")),
            Err(CommandError::Arch(_))
        ));
        let e = Target::new("pd-x", &"1.0".parse().unwrap(), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "pd-x-1.0: an exact version needs a release (VERSION-RELEASE)"
        );
        assert_eq!(upgrade(&[]), Err(CommandError::Empty));
        assert!(versionlock_delete(&["ok", "`id`"]).is_err());
    }

    #[test]
    fn probe_output() {
        let ts = [
            t("pd-hello", "1.0-1.el9"),
            t("pd-hello", "0.5-1.el9"),
            t("pd-libfoo-libs", "1:3.0-1.el9"),
        ];
        let out = "pd-hello 1.0-1.el9 noarch\npd-libfoo-libs 1:3.0-1.el9 noarch\ngarbage\n";
        assert_eq!(parse_rollback_probe(out, &ts), [true, false, true]);
        assert_eq!(parse_rollback_probe("", &ts), [false, false, false]);
    }
}
