//! Package-manager families. Owns the knowledge of each family and which family a host belongs
//! to; must not touch the database or SSH.
//!
//! One seam per family: [`deb`] (dpkg and apt) and [`rpm`] (rpm and dnf) hold the commands that
//! change a host (exact-version install / downgrade, hold / version lock, the rollback-path
//! probe, the interrupted-transaction check, the lock holder) as argument vectors ([`Argv`],
//! rendered only by [`render`], every word through [`crate::ssh::shell_quote`]) and the pure
//! parsers of what the package manager prints. [`Family::from_os_release`] and the scan
//! script's [`DETECT_SCRIPT`] say which family a host belongs to. The rollout picks the family
//! of each host and never spells a package-manager command itself. (The Debian scan script and
//! its parser are still `scan` and `facts`, its version order `crate::version`.)

use serde::{Deserialize, Serialize};

pub mod deb;
pub mod rpm;

/// One package of a transaction a package manager would run (its simulation read by the
/// family's parser), merged per package: `from` `None` = newly installed, `to` `None` = removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub package: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A command as its words, not yet shell text: rendered only by [`render`].
pub type Argv = Vec<String>;

/// One shell command line: every word quoted with [`crate::ssh::shell_quote`].
pub fn render(argv: &[String]) -> String {
    argv.iter()
        .map(|w| crate::ssh::shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Commands run one after the other while each succeeds (`a && b`), each rendered by [`render`].
pub fn render_all(commands: &[Argv]) -> String {
    commands
        .iter()
        .map(|c| render(c))
        .collect::<Vec<_>>()
        .join(" && ")
}

/// A package-manager family. A version belongs to one family: a Debian version is never compared
/// with an rpm one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Family {
    /// dpkg and apt: Debian, Ubuntu and their derivatives.
    Deb,
    /// rpm and dnf (yum): RHEL, Rocky, AlmaLinux, CentOS Stream, Fedora, Oracle Linux, Amazon Linux.
    Rpm,
}

const DEB_IDS: &[&str] = &[
    "debian",
    "ubuntu",
    "raspbian",
    "linuxmint",
    "pop",
    "kali",
    "devuan",
    "elementary",
];
const RPM_IDS: &[&str] = &[
    "rhel",
    "fedora",
    "centos",
    "rocky",
    "almalinux",
    "ol",
    "amzn",
    "eurolinux",
    "navylinux",
    "circle",
];

impl Family {
    /// The family of a host from `/etc/os-release`: `ID` first, then each `ID_LIKE` entry.
    /// `None` for families PatchDesk does not manage (SUSE's rpm + zypper, Arch, Alpine...).
    pub fn from_os_release(id: &str, id_like: &str) -> Option<Family> {
        std::iter::once(id)
            .chain(id_like.split_whitespace())
            .map(|t| t.trim().to_ascii_lowercase())
            .find_map(|t| {
                if DEB_IDS.contains(&t.as_str()) {
                    Some(Family::Deb)
                } else if RPM_IDS.contains(&t.as_str()) {
                    Some(Family::Rpm)
                } else {
                    None
                }
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Deb => "deb",
            Family::Rpm => "rpm",
        }
    }
}

/// The same rule as [`Family::from_os_release`] in POSIX sh, for the scan script to pick its
/// family's fragment within the one round trip: sets `pd_family` to `deb`, `rpm` or `unknown`.
/// It reads os-release with `sed` (never sources it).
pub const DETECT_SCRIPT: &str = r#"pd_osr=/etc/os-release; [ -r "$pd_osr" ] || pd_osr=/usr/lib/os-release
pd_family=unknown
for pd_t in $(sed -n 's/^ID=//p' "$pd_osr" 2>/dev/null | tr -d "\"'") $(sed -n 's/^ID_LIKE=//p' "$pd_osr" 2>/dev/null | tr -d "\"'"); do
case $(printf '%s' "$pd_t" | tr 'A-Z' 'a-z') in
debian|ubuntu|raspbian|linuxmint|pop|kali|devuan|elementary) pd_family=deb; break ;;
rhel|fedora|centos|rocky|almalinux|ol|amzn|eurolinux|navylinux|circle) pd_family=rpm; break ;;
esac
done
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&str, &str, Option<Family>)] = &[
        ("debian", "", Some(Family::Deb)),
        ("ubuntu", "debian", Some(Family::Deb)),
        ("linuxmint", "ubuntu debian", Some(Family::Deb)),
        ("rocky", "rhel centos fedora", Some(Family::Rpm)),
        ("almalinux", "rhel centos fedora", Some(Family::Rpm)),
        ("rhel", "fedora", Some(Family::Rpm)),
        ("centos", "rhel fedora", Some(Family::Rpm)),
        ("fedora", "", Some(Family::Rpm)),
        ("ol", "fedora", Some(Family::Rpm)),
        ("amzn", "centos rhel fedora", Some(Family::Rpm)),
        ("opensuse-leap", "suse opensuse", None),
        ("arch", "", None),
        ("", "", None),
        ("Rocky", "", Some(Family::Rpm)),
        ("something", "weird debian", Some(Family::Deb)),
    ];

    #[test]
    fn families_from_os_release() {
        for (id, like, want) in CASES {
            assert_eq!(Family::from_os_release(id, like), *want, "{id} / {like}");
        }
        assert_eq!(serde_json::to_string(&Family::Rpm).unwrap(), "\"rpm\"");
    }

    /// The shell rule agrees with the engine's on every case (run by this machine's `sh`).
    #[test]
    fn the_script_agrees() {
        let dir = tempfile::tempdir().unwrap();
        for (id, like, want) in CASES {
            let osr = dir.path().join("os-release");
            std::fs::write(
                &osr,
                format!("NAME=\"X\"\nID_LIKE=\"{like}\"\nID={id}\nPRETTY_NAME=\"$(reboot)\"\n"),
            )
            .unwrap();
            let script = DETECT_SCRIPT.replacen(
                "pd_osr=/etc/os-release",
                &format!("pd_osr={}", osr.display()),
                1,
            ) + "echo \"$pd_family\"\n";
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let want = want.map(Family::as_str).unwrap_or("unknown");
            assert_eq!(got, want, "{id} / {like}");
        }
    }
}
