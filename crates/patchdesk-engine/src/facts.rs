//! Parsers for what a host prints during a scan. Owns turning untrusted bytes into typed facts;
//! owns no I/O and no database access.
//!
//! Everything here is hostile input: a host may send anything, of any size, in any encoding.
//! Parsers return [`FactsError`] (or skip a line with a recorded warning), never panic, and
//! bound what they keep (field lengths, line counts).

use crate::version::Version;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The marker that opens each section of the scan script's output.
pub const MARKER: &str = "@@PD ";
/// Output format version the parser understands.
pub const FORMAT_VERSION: &str = "1";

const MAX_FIELD: usize = 512;
const MAX_PACKAGES: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    #[error("the output does not start with the PatchDesk scan marker (is the login shell printing a banner or is this not a POSIX shell?)")]
    NoMarker,
    #[error("unsupported scan output format {0:?}")]
    Format(String),
    #[error("the output ended early, before section {0:?}")]
    Truncated(&'static str),
    #[error("{section}: line {line}: {message}")]
    Line {
        section: &'static str,
        line: usize,
        message: String,
    },
    #[error("too many packages ({0}); refusing to store more than {MAX_PACKAGES}")]
    TooMany(usize),
}

/// One installed package, as dpkg knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Package {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// Source package (equals `name` when dpkg reports none).
    pub source: String,
    pub source_version: String,
    /// dpkg's abbreviated status, e.g. `ii`, `hi` (held), `iU`.
    pub status: String,
}

/// One update apt would install now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PendingUpdate {
    pub name: String,
    pub arch: String,
    /// Empty when the update would newly install the package (a new dependency).
    pub installed_version: String,
    pub candidate_version: String,
    /// Suites (archives) offering the candidate, e.g. `bookworm-security`, comma-separated.
    pub origin: String,
    /// True when one of the suites is a security suite.
    pub security: bool,
}

/// Everything one scan learned about a host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFacts {
    pub os_id: String,
    pub os_version: String,
    pub os_codename: String,
    pub os_pretty: String,
    pub kernel: String,
    pub arch: String,
    pub hostname: String,
    pub uptime_secs: Option<u64>,
    pub booted_at: Option<DateTime<Utc>>,
    pub host_time: Option<DateTime<Utc>>,
    pub reboot_required: bool,
    pub reboot_packages: Vec<String>,
    /// Last time dpkg installed, upgraded or removed a package (from `/var/log/dpkg.log`), or the
    /// modification time of dpkg's status file when the log is gone.
    pub last_update_at: Option<DateTime<Utc>>,
    /// `root`, `sudo` (passwordless sudo works) or `none`.
    pub privilege: String,
    /// Digest of dpkg/apt state; equal digests mean equal package lists.
    pub state_fingerprint: String,
    /// `None` when the host said its package state is unchanged since `state_fingerprint`.
    pub packages: Option<Vec<Package>>,
    pub pending: Option<Vec<PendingUpdate>>,
    /// Lines that were skipped, with the reason (kept with the scan for the curious).
    pub warnings: Vec<String>,
}

fn clip(s: &str) -> String {
    let s = s.trim();
    if s.len() <= MAX_FIELD {
        return s.chars().filter(|c| !c.is_control()).collect();
    }
    let mut end = MAX_FIELD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].chars().filter(|c| !c.is_control()).collect()
}

/// Split the scan output into its sections, in order.
fn sections(text: &str) -> Result<BTreeMap<&str, Vec<&str>>, FactsError> {
    let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut current: Option<&str> = None;
    let mut seen_header = false;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix(MARKER) {
            let name = name.trim();
            if let Some(v) = name.strip_prefix("format ") {
                if v.trim() != FORMAT_VERSION {
                    return Err(FactsError::Format(clip(v)));
                }
                seen_header = true;
                continue;
            }
            if !seen_header {
                return Err(FactsError::NoMarker);
            }
            current = Some(name);
            map.entry(name).or_default();
        } else if let Some(cur) = current {
            map.entry(cur).or_default().push(line);
        }
    }
    if !seen_header {
        return Err(FactsError::NoMarker);
    }
    if !map.contains_key("end") {
        return Err(FactsError::Truncated("end"));
    }
    Ok(map)
}

/// Parse the whole output of the scan script.
pub fn parse_scan(text: &str) -> Result<HostFacts, FactsError> {
    let s = sections(text)?;
    let get = |name: &'static str| -> Result<&Vec<&str>, FactsError> {
        s.get(name).ok_or(FactsError::Truncated(name))
    };
    let mut f = HostFacts::default();

    let os = parse_os_release(&get("os-release")?.join("\n"));
    f.os_id = os.get("ID").cloned().unwrap_or_default();
    f.os_version = os.get("VERSION_ID").cloned().unwrap_or_default();
    f.os_codename = os
        .get("VERSION_CODENAME")
        .or_else(|| os.get("UBUNTU_CODENAME"))
        .cloned()
        .unwrap_or_default();
    f.os_pretty = os.get("PRETTY_NAME").cloned().unwrap_or_default();

    let uname = get("uname")?;
    f.kernel = uname.first().map(|l| clip(l)).unwrap_or_default();
    f.arch = uname.get(1).map(|l| clip(l)).unwrap_or_default();
    f.hostname = get("hostname")?
        .first()
        .map(|l| clip(l))
        .unwrap_or_default();

    let time = get("time")?;
    f.host_time = time
        .first()
        .and_then(|l| l.trim().parse::<i64>().ok())
        .and_then(|t| Utc.timestamp_opt(t, 0).single());
    f.uptime_secs = time
        .get(1)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse::<f64>().ok())
        .filter(|u| u.is_finite() && *u >= 0.0 && *u < 1e10)
        .map(|u| u as u64);
    if let (Some(now), Some(up)) = (f.host_time, f.uptime_secs) {
        f.booted_at = Some(now - chrono::Duration::seconds(up as i64));
    }

    let reboot = get("reboot")?;
    f.reboot_required = reboot.first().map(|l| l.trim() == "yes").unwrap_or(false);
    if f.reboot_required {
        let mut pkgs: Vec<String> = reboot[1..]
            .iter()
            .map(|l| clip(l))
            .filter(|l| !l.is_empty())
            .collect();
        pkgs.sort();
        pkgs.dedup();
        pkgs.truncate(1000);
        f.reboot_packages = pkgs;
    }

    f.privilege = match get("privilege")?.first().map(|l| l.trim()) {
        Some(p @ ("root" | "sudo" | "none")) => p.to_string(),
        _ => "none".to_string(),
    };

    let last = get("last-update")?;
    let field = |prefix: &str| {
        last.iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    f.last_update_at = field("log ").and_then(parse_dpkg_log_time).or_else(|| {
        field("mtime ")
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|t| Utc.timestamp_opt(t, 0).single())
    });

    let state = get("state")?;
    f.state_fingerprint = state
        .first()
        .map(|l| {
            l.split_whitespace()
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| c.is_ascii_hexdigit())
                .take(64)
                .collect()
        })
        .unwrap_or_default();

    if s.contains_key("unchanged") {
        f.packages = None;
        f.pending = None;
    } else {
        let (pkgs, mut warn) = parse_dpkg_query(get("packages")?)?;
        f.packages = Some(pkgs);
        f.warnings.append(&mut warn);
        let (pending, mut warn) = parse_apt_simulate(get("pending")?);
        f.pending = Some(pending);
        f.warnings.append(&mut warn);
    }
    Ok(f)
}

/// `/etc/os-release`: `KEY=value` lines, values optionally quoted.
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in text.lines().take(200) {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
        {
            continue;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        map.insert(k.to_string(), clip(&v.replace("\\\"", "\"")));
    }
    map
}

/// A dpkg.log line: `2026-11-24 12:00:01 upgrade pd-hello:all 1.0-1 1.1-1`. dpkg writes local time;
/// the scan script runs with `TZ=UTC`... but dpkg.log keeps the host's zone, so we take it as UTC
/// and accept up to a day of skew (documented in the README).
pub fn parse_dpkg_log_time(line: &str) -> Option<DateTime<Utc>> {
    let mut it = line.split_whitespace();
    let date = it.next()?;
    let time = it.next()?;
    let naive =
        NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M:%S").ok()?;
    Some(Utc.from_utc_datetime(&naive))
}

fn valid_package_name(name: &str) -> bool {
    // Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters,
    // starting with an alphanumeric.
    name.len() >= 2
        && name.len() <= 128
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

fn valid_arch(arch: &str) -> bool {
    !arch.is_empty()
        && arch.len() <= 32
        && arch
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\t${db:Status-Abbrev}\n'`.
/// Only installed packages (status `?i` / `?U` / `?H`... with a version) are kept; packages that are
/// merely known (`rc`, `un`) are skipped.
pub fn parse_dpkg_query(lines: &[&str]) -> Result<(Vec<Package>, Vec<String>), FactsError> {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    if lines.len() > MAX_PACKAGES {
        return Err(FactsError::TooMany(lines.len()));
    }
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != 6 {
            return Err(FactsError::Line {
                section: "packages",
                line: i + 1,
                message: format!("expected 6 tab-separated fields, got {}", cols.len()),
            });
        }
        let status = cols[5].trim();
        // Second letter is the current state: i = installed, U = unpacked, F = half-configured...
        let state = status.as_bytes().get(1).copied().unwrap_or(b'n');
        if state == b'n' || state == b'c' || cols[1].is_empty() {
            continue; // not installed, or only configuration files left
        }
        let name = cols[0].trim();
        if !valid_package_name(name) {
            warnings.push(format!(
                "packages line {}: skipped invalid package name {:?}",
                i + 1,
                clip(name)
            ));
            continue;
        }
        let version = cols[1].trim();
        if version.parse::<Version>().is_err() {
            warnings.push(format!(
                "packages line {}: skipped {name}: invalid version {:?}",
                i + 1,
                clip(version)
            ));
            continue;
        }
        let arch = cols[2].trim();
        if !valid_arch(arch) {
            warnings.push(format!(
                "packages line {}: skipped {name}: invalid architecture",
                i + 1
            ));
            continue;
        }
        let source = match cols[3].trim() {
            "" => name,
            s if valid_package_name(s) => s,
            _ => name,
        };
        let source_version = match cols[4].trim() {
            "" => version,
            v if v.parse::<Version>().is_ok() => v,
            _ => version,
        };
        out.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            arch: arch.to_string(),
            source: source.to_string(),
            source_version: source_version.to_string(),
            status: clip(status),
        });
    }
    out.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    out.dedup_by(|a, b| a.name == b.name && a.arch == b.arch);
    Ok((out, warnings))
}

/// Lines of `apt-get -s dist-upgrade`:
/// `Inst pd-hello [1.0-1] (1.1-1 PatchDesk Security:bookworm-security [all])`
/// `Inst newdep (1.0-1 PatchDesk:bookworm [all])` (a new package: no installed version).
/// Other lines (`Conf`, `Remv`, notes) are ignored.
pub fn parse_apt_simulate(lines: &[&str]) -> (Vec<PendingUpdate>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (i, line) in lines.iter().enumerate().take(MAX_PACKAGES) {
        let Some(rest) = line.strip_prefix("Inst ") else {
            continue;
        };
        match parse_inst(rest) {
            Some(u) => out.push(u),
            None => warnings.push(format!(
                "pending line {}: could not read {:?}",
                i + 1,
                clip(line)
            )),
        }
    }
    out.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    out.dedup_by(|a, b| a.name == b.name && a.arch == b.arch);
    (out, warnings)
}

fn parse_inst(rest: &str) -> Option<PendingUpdate> {
    let (name, rest) = rest.split_once(' ')?;
    // A multi-arch name may come as `libc6:amd64`.
    let (name, name_arch) = match name.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (name, None),
    };
    if !valid_package_name(name) {
        return None;
    }
    let mut rest = rest.trim_start();
    let mut installed = String::new();
    if let Some(r) = rest.strip_prefix('[') {
        let (v, r) = r.split_once(']')?;
        v.parse::<Version>().ok()?;
        installed = v.to_string();
        rest = r.trim_start();
    }
    let inner = rest.strip_prefix('(')?;
    let inner = &inner[..inner.rfind(')')?];
    let (candidate, inner) = inner.split_once(' ')?;
    candidate.parse::<Version>().ok()?;
    // The remainder is `Origin-ish:suite, other:suite [arch]`.
    let (releases, arch) = match inner.rfind('[') {
        Some(p) => (&inner[..p], inner[p + 1..].trim_end_matches(']').trim()),
        None => (inner, name_arch.unwrap_or("")),
    };
    let arch = if valid_arch(arch) {
        arch
    } else {
        name_arch.unwrap_or("")
    };
    let suites: Vec<String> = releases
        .split(',')
        .filter_map(|r| {
            let r = r.trim();
            // `Label:version/suite` or `Label:suite`: the suite is after the last ':' or '/'.
            let suite = r.rsplit(['/', ':']).next()?.trim();
            (!suite.is_empty()).then(|| clip(suite))
        })
        .collect();
    let security = suites
        .iter()
        .any(|s| s.ends_with("-security") || s.contains("security"))
        || releases.to_ascii_lowercase().contains("security");
    Some(PendingUpdate {
        name: name.to_string(),
        arch: arch.to_string(),
        installed_version: installed,
        candidate_version: candidate.to_string(),
        origin: suites.join(","),
        security,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = include_str!("../../../tests/fixtures/scan/pd-01.txt");

    #[test]
    fn parses_recorded_scan() {
        let f = parse_scan(SAMPLE).expect("fixture parses");
        assert_eq!(f.os_id, "debian");
        assert_eq!(f.os_codename, "bookworm");
        assert!(!f.kernel.is_empty());
        let pkgs = f.packages.as_ref().unwrap();
        assert!(pkgs
            .iter()
            .any(|p| p.name == "pd-hello" && p.version == "1.0-1"));
        let libfoo = pkgs.iter().find(|p| p.name == "pd-libfoo1").unwrap();
        assert_eq!(libfoo.source, "pd-libfoo");
        let pending = f.pending.as_ref().unwrap();
        let hello = pending.iter().find(|u| u.name == "pd-hello").unwrap();
        assert_eq!(hello.installed_version, "1.0-1");
        assert_eq!(hello.candidate_version, "1.1-1");
        assert!(hello.security);
        assert!(hello.origin.contains("bookworm-security"));
    }

    #[test]
    fn inst_lines() {
        let (u, w) = parse_apt_simulate(&[
            "Inst pd-hello [1.0-1] (1.1-1 PatchDesk Security:bookworm-security [all])",
            "Inst base-files [12.4+deb12u5] (12.4+deb12u6 Debian:12.6/stable [amd64])",
            "Inst newdep (1:2.0~rc1-1 PatchDesk:bookworm [all])",
            "Conf pd-hello (1.1-1 PatchDesk Security:bookworm-security [all])",
            "Inst ; rm -rf / [x] (y)",
        ]);
        assert_eq!(u.len(), 3, "{u:?}");
        assert_eq!(w.len(), 1);
        let bf = u.iter().find(|x| x.name == "base-files").unwrap();
        assert_eq!(bf.origin, "stable");
        assert!(!bf.security);
        let nd = u.iter().find(|x| x.name == "newdep").unwrap();
        assert_eq!(nd.installed_version, "");
        assert_eq!(nd.candidate_version, "1:2.0~rc1-1");
    }

    #[test]
    fn hostile_outputs_are_clear_errors() {
        assert_eq!(parse_scan(""), Err(FactsError::NoMarker));
        assert_eq!(
            parse_scan("Welcome to my banner\n"),
            Err(FactsError::NoMarker)
        );
        assert_eq!(
            parse_scan("@@PD format 99\n"),
            Err(FactsError::Format("99".into()))
        );
        let cut = &SAMPLE[..SAMPLE.len() / 2];
        assert!(matches!(parse_scan(cut), Err(FactsError::Truncated(_))));
        let bad = SAMPLE.replacen("\tii", "\tii\textra", 1);
        assert!(matches!(
            parse_scan(&bad),
            Err(FactsError::Line {
                section: "packages",
                ..
            })
        ));
    }

    #[test]
    fn skips_bad_package_lines_with_warning() {
        let (p, w) = parse_dpkg_query(&[
            "pd-hello\t1.0-1\tall\t\t\tii ",
            "Evil;Name\t1.0\tall\t\t\tii ",
            "pd-x\tnot a version\tall\t\t\tii ",
            "pd-gone\t1.0\tall\t\t\trc ",
        ])
        .unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].source, "pd-hello");
        assert_eq!(w.len(), 2);
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,2000}") {
            let _ = parse_scan(&s);
            let lines: Vec<&str> = s.lines().collect();
            let _ = parse_dpkg_query(&lines);
            let _ = parse_apt_simulate(&lines);
            let _ = parse_os_release(&s);
        }

        #[test]
        fn never_panics_with_markers(parts in proptest::collection::vec(
            prop_oneof![
                Just("@@PD format 1".to_string()),
                Just("@@PD packages".to_string()),
                Just("@@PD pending".to_string()),
                Just("@@PD end".to_string()),
                Just("@@PD time".to_string()),
                Just("@@PD reboot".to_string()),
                ".{0,80}",
            ], 0..40)) {
            let _ = parse_scan(&parts.join("\n"));
        }
    }
}
