//! Parsers for what a host prints during a scan. Owns turning untrusted bytes into typed facts;
//! owns no I/O and no database access.
//!
//! Everything here is hostile input: a host may send anything, of any size, in any encoding.
//! Parsers return [`FactsError`] (or skip a line with a recorded warning), never panic, and
//! bound what they keep *while reading*: each section has a line limit checked as lines arrive
//! (50 M newlines cost a few kilobytes, not a gigabyte of line slices), every stored field is
//! validated against what the tool that printed it can print and clipped, dates and clock values
//! outside a sane range are dropped with a warning, and at most [`MAX_WARNINGS`] warnings are
//! kept (the rest are counted).

use crate::text;
use crate::version::Version;
use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The marker that opens each section of the scan script's output.
pub const MARKER: &str = "@@PD ";
/// Output format version the parser understands.
pub const FORMAT_VERSION: &str = "1";

const MAX_FIELD: usize = 512;
const MAX_PACKAGES: usize = 200_000;
/// Most skipped-line warnings kept with a scan (the rest are counted in one last warning).
pub const MAX_WARNINGS: usize = 100;
/// Lines accepted before the format header (a login banner); more is not a PatchDesk scan.
const MAX_PREAMBLE_LINES: usize = 1000;
/// Most suites kept in a pending update's origin.
const MAX_SUITES: usize = 16;
/// Dates and clocks outside these years are not believed (a host's or a feed's, alike).
pub const SANE_YEARS: std::ops::RangeInclusive<i32> = 1970..=2200;

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
    #[error("section {section:?} has more than {limit} lines; refusing to read more")]
    TooMany { section: &'static str, limit: usize },
    /// `dpkg-query` is not on the host (exit status 127): not a Debian-family host.
    #[error("{os}: neither dpkg nor rpm on this host; PatchDesk reads Debian/Ubuntu (dpkg) and RHEL-family (rpm) hosts")]
    NoDpkg { os: String },
    /// A package tool ran but failed: the host's package state is unknown.
    #[error("{tool} failed on the host (exit status {status}), so its packages are unknown")]
    ListingFailed { tool: &'static str, status: i64 },
    /// An rpm-family host's part of the scan could not be read (`pkg::rpm::parse`).
    #[error("{0}")]
    Rpm(#[from] crate::pkg::rpm::parse::RpmParseError),
    /// dpkg listed no installed package at all: impossible on a Debian host (dpkg is a package).
    #[error("the host listed no installed package at all")]
    NoPackages,
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
    /// dpkg's abbreviated status, e.g. `ii`, `hi` (held), `iU`; only dpkg's own codes are stored.
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
    /// Held on the host (`apt-mark hold`, a dpkg selection): apt will not install it until the
    /// hold is released. Still pending: counted, classified, never silently fine.
    #[serde(default)]
    pub held: bool,
}

/// A security advisory the host's own repositories publish for one of its pending updates
/// (rpm: `dnf updateinfo`), one per CVE: what the Patches view shows beside the CVE, and the
/// vendor's severity the classification reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorAdvisory {
    /// `RLSA-2024:0101`, `ALSA-…`, `RHSA-…`.
    pub id: String,
    pub package: String,
    /// The version it brings.
    pub version: String,
    /// On the feeds' scale: `critical` (Critical), `high` (Important), `medium` (Moderate),
    /// `low` (Low), `unknown`.
    pub severity: String,
    pub cve: String,
    pub issued: Option<DateTime<Utc>>,
    pub summary: String,
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
    /// Security advisories of the host's own repositories for its pending updates (rpm hosts;
    /// empty on Debian, whose advisories come from the feeds).
    #[serde(default)]
    pub vendor_advisories: Vec<VendorAdvisory>,
    /// Lines that were skipped, with the reason (kept with the scan for the curious).
    pub warnings: Vec<String>,
}

fn clip(s: &str) -> String {
    text::clip(s, MAX_FIELD)
}

/// Skipped-line warnings: the first [`MAX_WARNINGS`] are kept, the rest only counted (a host can
/// make every line a warning). Messages are built only when kept.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    kept: Vec<String>,
    total: usize,
}

impl Warnings {
    pub(crate) fn push(&mut self, message: impl FnOnce() -> String) {
        self.total += 1;
        if self.kept.len() < MAX_WARNINGS {
            self.kept.push(message());
        }
    }

    fn extend(&mut self, other: Warnings) {
        let dropped = other.total - other.kept.len();
        for w in other.kept {
            self.push(|| w);
        }
        // Counted, not kept: they were dropped already.
        self.total += dropped;
    }

    pub(crate) fn finish(mut self) -> Vec<String> {
        if self.total > self.kept.len() {
            let more = self.total - self.kept.len();
            self.kept.push(format!(
                "… and {more} more ({} lines were skipped in all; only the first {MAX_WARNINGS} are listed)",
                self.total
            ));
        }
        self.kept
    }
}

/// The sections the parser reads, with their line limits. Sections it does not know are skipped
/// (a newer script may add some) without keeping their lines.
const SECTIONS: &[(&str, usize)] = &[
    ("os-release", 200),
    ("uname", 8),
    ("hostname", 8),
    ("time", 8),
    ("family", 8),
    ("reboot", 1001),
    ("privilege", 8),
    ("last-update", 8),
    ("state", 8),
    ("unchanged", 8),
    ("packages", MAX_PACKAGES),
    ("pending", MAX_PACKAGES),
    ("held", MAX_PACKAGES),
    ("end", 8),
];

/// The scan output split into its known sections (line slices, bounded per section), plus the
/// exit statuses the script reports on `@@PD NAME-exit N` lines.
#[derive(Debug, Default)]
struct Sections<'a> {
    lines: BTreeMap<&'static str, Vec<&'a str>>,
    exits: BTreeMap<&'static str, i64>,
}

impl<'a> Sections<'a> {
    fn get(&self, name: &'static str) -> Result<&[&'a str], FactsError> {
        self.lines
            .get(name)
            .map(Vec::as_slice)
            .ok_or(FactsError::Truncated(name))
    }

    fn has(&self, name: &str) -> bool {
        self.lines.contains_key(name)
    }
}

/// Split the scan output into its sections, enforcing the limits while reading.
fn sections(text: &str) -> Result<Sections<'_>, FactsError> {
    let mut out = Sections::default();
    // (name, limit) of the section being read; `None` before the header or in an unknown one.
    let mut current: Option<(&'static str, usize)> = None;
    let mut seen_header = false;
    for (i, line) in text.lines().enumerate() {
        if !seen_header && i >= MAX_PREAMBLE_LINES {
            return Err(FactsError::NoMarker);
        }
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
            // `@@PD packages-exit 127`: the exit status of the tool that printed a section.
            if let Some((tool, status)) = name.split_once("-exit ") {
                if let Some(&(known, _)) = SECTIONS.iter().find(|(n, _)| *n == tool) {
                    if let Ok(s) = status.trim().parse::<i64>() {
                        out.exits.insert(known, s);
                    }
                }
                current = None;
                continue;
            }
            current = SECTIONS.iter().find(|(n, _)| *n == name).copied();
            if let Some((known, _)) = current {
                out.lines.entry(known).or_default();
            }
        } else if let Some((name, limit)) = current {
            let v = out.lines.entry(name).or_default();
            if v.len() >= limit {
                return Err(FactsError::TooMany {
                    section: name,
                    limit,
                });
            }
            v.push(line);
        }
    }
    if !seen_header {
        return Err(FactsError::NoMarker);
    }
    if !out.has("end") {
        return Err(FactsError::Truncated("end"));
    }
    Ok(out)
}

/// A date PatchDesk believes: inside [`SANE_YEARS`].
pub fn sane_date(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    SANE_YEARS.contains(&t.year()).then_some(t)
}

/// Seconds since the epoch, when they make a sane date.
fn sane_timestamp(secs: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(secs, 0).single().and_then(sane_date)
}

fn all_bytes(s: &str, max: usize, ok: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(ok)
}

/// A field a host printed: kept only when it looks like what the tool prints, else empty with a
/// warning (an escape sequence must not become an OS id or a kernel version).
fn field(value: &str, what: &str, max: usize, ok: fn(u8) -> bool, w: &mut Warnings) -> String {
    let v = value.trim();
    if v.is_empty() {
        return String::new();
    }
    if all_bytes(v, max, ok) {
        return v.to_string();
    }
    w.push(|| {
        format!(
            "{what}: ignored an unreadable value {:?}",
            text::clip(v, 64)
        )
    });
    String::new()
}

fn id_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
}

fn version_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._+~-".contains(&b)
}

fn host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._-".contains(&b)
}

fn machine_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-".contains(&b)
}

/// "Rocky Linux 9.3" (NAME and VERSION_ID), else PRETTY_NAME, else ID, else "this host".
fn os_label(os: &BTreeMap<String, String>) -> String {
    match (os.get("NAME"), os.get("VERSION_ID")) {
        (Some(n), Some(v)) if !n.is_empty() => format!("{n} {v}"),
        _ => os
            .get("PRETTY_NAME")
            .or_else(|| os.get("NAME"))
            .or_else(|| os.get("ID"))
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| "this host".into()),
    }
}

/// Parse the whole output of the scan script.
pub fn parse_scan(text: &str) -> Result<HostFacts, FactsError> {
    let s = sections(text)?;
    let mut f = HostFacts::default();
    let mut w = Warnings::default();

    let os = parse_os_release_lines(s.get("os-release")?);
    f.os_id = field(
        os.get("ID").map_or("", String::as_str),
        "os-release ID",
        64,
        id_byte,
        &mut w,
    );
    f.os_version = field(
        os.get("VERSION_ID").map_or("", String::as_str),
        "os-release VERSION_ID",
        64,
        version_byte,
        &mut w,
    );
    f.os_codename = field(
        os.get("VERSION_CODENAME")
            .or_else(|| os.get("UBUNTU_CODENAME"))
            .map_or("", String::as_str),
        "os-release VERSION_CODENAME",
        64,
        id_byte,
        &mut w,
    );
    f.os_pretty = os.get("PRETTY_NAME").cloned().unwrap_or_default();

    let uname = s.get("uname")?;
    f.kernel = field(
        uname.first().copied().unwrap_or(""),
        "kernel release",
        128,
        version_byte,
        &mut w,
    );
    f.arch = field(
        uname.get(1).copied().unwrap_or(""),
        "machine",
        32,
        machine_byte,
        &mut w,
    );
    f.hostname = field(
        s.get("hostname")?.first().copied().unwrap_or(""),
        "hostname",
        253,
        host_byte,
        &mut w,
    );

    let time = s.get("time")?;
    let clock = time.first().map(|l| l.trim()).unwrap_or("");
    f.host_time = clock.parse::<i64>().ok().and_then(sane_timestamp);
    if f.host_time.is_none() && !clock.is_empty() {
        w.push(|| {
            format!(
                "time: the host's clock says {:?}, outside {}..{}: not stored",
                text::clip(clock, 32),
                SANE_YEARS.start(),
                SANE_YEARS.end()
            )
        });
    }
    f.uptime_secs = time
        .get(1)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse::<f64>().ok())
        .filter(|u| u.is_finite() && *u >= 0.0 && *u < 1e10)
        .map(|u| u as u64);
    if let (Some(now), Some(up)) = (f.host_time, f.uptime_secs) {
        f.booted_at = i64::try_from(up)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .and_then(|d| now.checked_sub_signed(d))
            .and_then(sane_date);
        if f.booted_at.is_none() {
            w.push(|| format!("time: an uptime of {up} s before the host's clock is not a sane boot time: not stored"));
        }
    }

    f.privilege = match s.get("privilege")?.first().map(|l| l.trim()) {
        Some(p @ ("root" | "sudo" | "none")) => p.to_string(),
        _ => "none".to_string(),
    };

    // An rpm-family host: its own part of the script, its own parser (`pkg::rpm`).
    if s.has("family") && s.get("family")?.first().map(|l| l.trim()) == Some("rpm") {
        rpm_facts(text, &mut f, &mut w)?;
        f.warnings = w.finish();
        return Ok(f);
    }

    let reboot = s.get("reboot")?;
    f.reboot_required = reboot.first().map(|l| l.trim() == "yes").unwrap_or(false);
    if f.reboot_required {
        let mut pkgs: Vec<String> = Vec::new();
        for l in reboot.iter().skip(1) {
            let l = l.trim();
            if l.is_empty() {
                continue;
            }
            if valid_package_name(l) {
                pkgs.push(l.to_string());
            } else {
                w.push(|| {
                    format!(
                        "reboot: skipped an invalid package name {:?}",
                        text::clip(l, 64)
                    )
                });
            }
        }
        pkgs.sort();
        pkgs.dedup();
        f.reboot_packages = pkgs;
    }

    let last = s.get("last-update")?;
    let value = |prefix: &str| {
        last.iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    f.last_update_at = value("log ").and_then(parse_dpkg_log_time).or_else(|| {
        value("mtime ")
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(sane_timestamp)
    });

    let state = s.get("state")?;
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

    if s.has("unchanged") {
        f.packages = None;
        f.pending = None;
    } else {
        // The package listing must have worked: a host whose dpkg is missing or failed is not a
        // fully patched host, it is a host PatchDesk cannot read.
        match s.exits.get("packages") {
            Some(127) => return Err(FactsError::NoDpkg { os: os_label(&os) }),
            Some(&status) if status != 0 => {
                return Err(FactsError::ListingFailed {
                    tool: "dpkg-query",
                    status,
                })
            }
            _ => {}
        }
        // Without apt at all the host cannot be assessed. An apt that fails (broken
        // dependencies, a lock, damaged lists) still leaves dpkg's list of what is installed,
        // which is what verification and rollback read: kept, with the failure said.
        match s.exits.get("pending") {
            Some(127) => {
                return Err(FactsError::ListingFailed {
                    tool: "apt-get -s dist-upgrade",
                    status: 127,
                })
            }
            Some(&status) if status != 0 => w.push(|| {
                format!(
                    "pending: `apt-get -s dist-upgrade` failed on the host (exit status {status}): the pending updates are unknown until it works (run it there to see why)"
                )
            }),
            _ => {}
        }
        let (pkgs, warn) = dpkg_query(s.get("packages")?)?;
        if pkgs.is_empty() {
            // Without an exit status (an older script), an empty list still means the same.
            return Err(if s.exits.contains_key("packages") {
                FactsError::NoPackages
            } else {
                FactsError::NoDpkg { os: os_label(&os) }
            });
        }
        f.packages = Some(pkgs);
        w.extend(warn);
        let (mut pending, warn) = apt_simulate(s.get("pending")?);
        w.extend(warn);
        // What a hold keeps back: in the simulation that ignores holds, of a package whose
        // dpkg selection is `hold`, and not pending anyway.
        if let Ok(lines) = s.get("held") {
            let holds: std::collections::HashSet<&str> = f
                .packages
                .iter()
                .flatten()
                .filter(|p| p.status.starts_with('h'))
                .map(|p| p.name.as_str())
                .collect();
            let (all, warn) = apt_simulate(lines);
            w.extend(warn);
            for mut u in all {
                if holds.contains(u.name.as_str())
                    && !pending.iter().any(|p| p.name == u.name && p.arch == u.arch)
                {
                    u.held = true;
                    pending.push(u);
                }
            }
            pending.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
        }
        f.pending = Some(pending);
    }
    f.warnings = w.finish();
    Ok(f)
}

/// The rpm family's sections ([`crate::pkg::rpm::scan::SCAN_FRAGMENT`]) as host facts: versions
/// are rpm's `[EPOCH:]VERSION-RELEASE` as dnf prints them (epoch only when not 0), a package
/// under a dnf version lock has the status `hi` (held, as dpkg's), pending updates are
/// `dnf check-update`'s with their repository as origin, security when an advisory of type
/// security from the host's own repositories brings that version.
fn rpm_facts(text: &str, f: &mut HostFacts, w: &mut Warnings) -> Result<(), FactsError> {
    use crate::pkg::rpm::parse::{parse_sections, split_sections, AdvisoryKind, VendorSeverity};
    let map = split_sections(text)?;
    let r = parse_sections(&map, &f.kernel)?;
    f.reboot_required = r.reboot.required;
    f.reboot_packages = r.reboot.packages.clone();
    f.last_update_at = r.last_update_at.and_then(sane_date);
    f.state_fingerprint = r.state_fingerprint.clone();
    for warning in r.warnings {
        w.push(|| warning);
    }
    let Some(pkgs) = r.packages else {
        return Ok(());
    };
    let locked: BTreeSet<&str> = r
        .versionlocks
        .iter()
        .flatten()
        .filter(|l| !l.exclude)
        .filter_map(|l| l.name.as_deref())
        .collect();
    let packages: Vec<Package> = pkgs
        .iter()
        .map(|p| Package {
            name: p.name.clone(),
            version: p.evr.normalized(),
            arch: p.arch.clone(),
            source: p.source.clone(),
            source_version: p.source_evr().normalized(),
            status: if locked.contains(p.name.as_str()) {
                "hi".into()
            } else {
                "ii".into()
            },
        })
        .collect();
    let advisories = r.advisories.unwrap_or_default();
    let pending: Vec<PendingUpdate> = r
        .pending
        .unwrap_or_default()
        .into_iter()
        .map(|u| {
            let installed = pkgs
                .iter()
                .filter(|p| p.name == u.name && (p.arch == u.arch || u.arch == "noarch"))
                .map(|p| &p.evr)
                .max();
            let security = advisories.iter().any(|a| {
                a.kind == AdvisoryKind::Security
                    && a.packages.iter().any(|t| {
                        t.name == u.name && t.evr <= u.evr && installed.is_none_or(|i| t.evr > *i)
                    })
            });
            PendingUpdate {
                name: u.name,
                arch: u.arch,
                installed_version: installed.map(|e| e.normalized()).unwrap_or_default(),
                candidate_version: u.evr.normalized(),
                origin: u.repo,
                security,
                // A versionlocked package is not offered by `dnf check-update`: not seen yet.
                held: false,
            }
        })
        .collect();
    f.vendor_advisories = advisories
        .iter()
        .filter(|a| a.kind == AdvisoryKind::Security)
        .flat_map(|a| {
            let pending = &pending;
            a.packages
                .iter()
                .filter(move |t| pending.iter().any(|u| u.name == t.name))
                .flat_map(move |t| {
                    a.cves.iter().map(move |cve| VendorAdvisory {
                        id: a.id.clone(),
                        package: t.name.clone(),
                        version: t.evr.normalized(),
                        severity: match a.severity {
                            Some(VendorSeverity::Critical) => "critical",
                            Some(VendorSeverity::Important) => "high",
                            Some(VendorSeverity::Moderate) => "medium",
                            Some(VendorSeverity::Low) => "low",
                            None => "unknown",
                        }
                        .to_string(),
                        cve: cve.clone(),
                        issued: a.issued,
                        summary: clip(&a.title),
                    })
                })
        })
        .take(MAX_PACKAGES)
        .collect();
    f.packages = Some(packages);
    f.pending = Some(pending);
    Ok(())
}

/// `/etc/os-release`: `KEY=value` lines, values optionally quoted.
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let lines: Vec<&str> = text.lines().take(200).collect();
    parse_os_release_lines(&lines)
}

fn parse_os_release_lines(lines: &[&str]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in lines.iter().take(200) {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.is_empty()
            || k.len() > 64
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
        map.insert(k.to_string(), clip(&clip(v).replace("\\\"", "\"")));
    }
    map
}

/// A dpkg.log line: `2026-11-24 12:00:01 upgrade pd-hello:all 1.0-1 1.1-1`. dpkg writes local time;
/// the scan script runs with `TZ=UTC`... but dpkg.log keeps the host's zone, so we take it as UTC
/// and accept up to a day of skew (documented in the README). Dates outside [`SANE_YEARS`] are
/// not believed.
pub fn parse_dpkg_log_time(line: &str) -> Option<DateTime<Utc>> {
    let mut it = line.split_whitespace();
    let date = it.next()?;
    let time = it.next()?;
    if date.len() != 10 || time.len() != 8 {
        return None;
    }
    let naive =
        NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M:%S").ok()?;
    sane_date(Utc.from_utc_datetime(&naive))
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
        && arch.as_bytes()[0].is_ascii_lowercase()
        && arch
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// dpkg's `${db:Status-Abbrev}`: desired action (`u`nknown, `i`nstall, `h`old, `r`emove,
/// `p`urge), package status (`n`ot-installed, `c`onfig-files, `H`alf-installed, `U`npacked,
/// `F` half-configured, `W` triggers-awaiting, `t` triggers-pending, `i`nstalled) and an optional
/// error flag (`R`: reinstall required). Nothing else is a status.
fn valid_status(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() == 2 || b.len() == 3)
        && b"uihrp".contains(&b[0])
        && b"ncHUFWti".contains(&b[1])
        && b.get(2).is_none_or(|c| *c == b'R')
}

/// `dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\t${db:Status-Abbrev}\n'`.
/// Only installed packages (status `?i` / `?U` / `?H`... with a version) are kept; packages that are
/// merely known (`rc`, `un`) are skipped.
pub fn parse_dpkg_query(lines: &[&str]) -> Result<(Vec<Package>, Vec<String>), FactsError> {
    dpkg_query(lines).map(|(p, w)| (p, w.finish()))
}

fn dpkg_query(lines: &[&str]) -> Result<(Vec<Package>, Warnings), FactsError> {
    let mut out = Vec::new();
    let mut w = Warnings::default();
    if lines.len() > MAX_PACKAGES {
        return Err(FactsError::TooMany {
            section: "packages",
            limit: MAX_PACKAGES,
        });
    }
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.splitn(8, '\t').collect();
        if cols.len() != 6 {
            return Err(FactsError::Line {
                section: "packages",
                line: i + 1,
                message: format!(
                    "expected 6 tab-separated fields, got {}",
                    if cols.len() == 8 {
                        "more".to_string()
                    } else {
                        cols.len().to_string()
                    }
                ),
            });
        }
        let status = cols[5].trim();
        if !valid_status(status) {
            w.push(|| {
                format!(
                    "packages line {}: skipped {:?}: unknown dpkg status {:?}",
                    i + 1,
                    text::clip(cols[0], 64),
                    text::clip(status, 16)
                )
            });
            continue;
        }
        // Second letter is the current state: i = installed, U = unpacked, F = half-configured...
        let state = status.as_bytes()[1];
        if state == b'n' || state == b'c' || cols[1].is_empty() {
            continue; // not installed, or only configuration files left
        }
        let name = cols[0].trim();
        if !valid_package_name(name) {
            w.push(|| {
                format!(
                    "packages line {}: skipped invalid package name {:?}",
                    i + 1,
                    text::clip(name, 64)
                )
            });
            continue;
        }
        let version = cols[1].trim();
        if let Err(e) = version.parse::<Version>() {
            w.push(|| format!("packages line {}: skipped {name}: {e}", i + 1));
            continue;
        }
        let arch = cols[2].trim();
        if !valid_arch(arch) {
            w.push(|| {
                format!(
                    "packages line {}: skipped {name}: invalid architecture",
                    i + 1
                )
            });
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
            status: status.to_string(),
        });
    }
    out.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    out.dedup_by(|a, b| a.name == b.name && a.arch == b.arch);
    Ok((out, w))
}

/// Lines of `apt-get -s dist-upgrade`:
/// `Inst pd-hello [1.0-1] (1.1-1 PatchDesk Security:bookworm-security [all])`
/// `Inst newdep (1.0-1 PatchDesk:bookworm [all])` (a new package: no installed version).
/// Other lines (`Conf`, `Remv`, notes) are ignored.
pub fn parse_apt_simulate(lines: &[&str]) -> (Vec<PendingUpdate>, Vec<String>) {
    let (p, w) = apt_simulate(lines);
    (p, w.finish())
}

fn apt_simulate(lines: &[&str]) -> (Vec<PendingUpdate>, Warnings) {
    let mut out = Vec::new();
    let mut w = Warnings::default();
    for (i, line) in lines.iter().enumerate().take(MAX_PACKAGES) {
        let Some(rest) = line.strip_prefix("Inst ") else {
            continue;
        };
        match parse_inst(rest) {
            Some(u) => out.push(u),
            None => w.push(|| format!("pending line {}: could not read {:?}", i + 1, clip(line))),
        }
    }
    out.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    out.dedup_by(|a, b| a.name == b.name && a.arch == b.arch);
    (out, w)
}

/// A suite (archive) name as apt prints it: `bookworm-security`, `stable`, `jammy-updates`.
fn valid_suite(s: &str) -> bool {
    all_bytes(s, 64, |b| {
        b.is_ascii_alphanumeric() || b"._+~-".contains(&b)
    })
}

/// One `Inst` line, read strictly: `NAME[:ARCH] [INSTALLED] (CANDIDATE RELEASES [ARCH])` with
/// nothing after the closing parenthesis; every part validated (an escape sequence anywhere
/// refuses the line instead of becoming an architecture or a suite).
fn parse_inst(rest: &str) -> Option<PendingUpdate> {
    if rest.len() > 4096 {
        return None;
    }
    let (name, rest) = rest.split_once(' ')?;
    // A multi-arch name may come as `libc6:amd64`.
    let (name, name_arch) = match name.split_once(':') {
        Some((n, a)) if valid_arch(a) => (n, Some(a)),
        Some(_) => return None,
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
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    let (candidate, inner) = inner.split_once(' ')?;
    candidate.parse::<Version>().ok()?;
    // The remainder is `Origin-ish:suite, other:suite [arch]`.
    let (releases, arch) = match inner.strip_suffix(']') {
        Some(r) => {
            let (releases, arch) = r.rsplit_once(" [")?;
            (releases, valid_arch(arch).then_some(arch)?)
        }
        None => (inner, name_arch.unwrap_or("")),
    };
    if releases.contains(['[', ']', '(', ')']) || releases.chars().any(text::is_unsafe) {
        return None;
    }
    let mut suites: Vec<String> = Vec::new();
    for r in releases.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        // `Label:version/suite` or `Label:suite`: the suite is after the last ':' or '/'.
        let suite = r.rsplit(['/', ':']).next()?.trim();
        if !valid_suite(suite) {
            return None;
        }
        if suites.len() < MAX_SUITES && !suites.iter().any(|s| s == suite) {
            suites.push(suite.to_string());
        }
    }
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
        held: false,
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

    /// The recorded scan with one section's body replaced (and `extra` lines after it).
    fn with_section(name: &str, body: &str) -> String {
        let mut out = String::new();
        let mut skipping = false;
        for line in SAMPLE.lines() {
            if let Some(n) = line.strip_prefix(MARKER) {
                skipping = n == name;
                out.push_str(line);
                out.push('\n');
                if skipping {
                    out.push_str(body);
                    out.push('\n');
                }
                continue;
            }
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    #[test]
    fn bidi_controls_never_survive() {
        // Issue #9 item 18: U+202E makes `gnp.exe` read as `exe.png`.
        let text = SAMPLE.replacen(
            "PRETTY_NAME=\"",
            "PRETTY_NAME=\"\u{202e}evil\u{2066}\u{200f} ",
            1,
        );
        let f = parse_scan(&text).unwrap();
        assert!(f.os_pretty.starts_with("evil Debian"), "{:?}", f.os_pretty);
        let (u, w) = parse_apt_simulate(&[
            "Inst pd-hello [1.0-1] (1.1-1 PatchDesk:bookworm\u{202e}-security [all])",
        ]);
        assert!(u.is_empty() && w.len() == 1, "{u:?}");
        assert!(!w[0].contains('\u{202e}'), "{w:?}");
    }

    #[test]
    fn every_stored_field_is_validated() {
        // Issue #9 item 19: an escape sequence became arch `31m` and origin `bookworm-security [all`.
        let (u, w) = parse_apt_simulate(&[
            "Inst pd-hello [1.0-1] (1.1-1 PatchDesk Security:bookworm-security [all\u{1b}[31m])",
            "Inst pd-tools [2.0-1] (2.1-1 PatchDesk:bookworm [all]) trailing",
            "Inst pd-agent [2.0~rc1-1] (2.0-1 PatchDesk:book worm [all])",
            "Inst pd-kernel:x\u{1b} [5.10-1] (5.10-2 PatchDesk:bookworm [all])",
            "Inst pd-daemon [1.0-1] (1.1-1 PatchDesk:bookworm [all])",
        ]);
        assert_eq!(u.len(), 1, "only the well-formed line is kept: {u:?}");
        assert_eq!(
            (u[0].arch.as_str(), u[0].origin.as_str()),
            ("all", "bookworm")
        );
        assert_eq!(w.len(), 4, "{w:?}");
        // dpkg's status: only dpkg's own codes are stored.
        let (p, w) = parse_dpkg_query(&[
            "pd-hello\t1.0-1\tall\t\t\tii ",
            "pd-held\t1.0-1\tall\t\t\thi ",
            "pd-reinst\t1.0-1\tall\t\t\tiUR",
            "pd-evil\t1.0-1\tall\t\t\t\u{1b}]0;x",
            "pd-odd\t1.0-1\tall\t\t\tzz",
        ])
        .unwrap();
        let kept: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.name.as_str(), p.status.as_str()))
            .collect();
        assert_eq!(
            kept,
            [("pd-held", "hi"), ("pd-hello", "ii"), ("pd-reinst", "iUR")]
        );
        assert_eq!(w.len(), 2, "{w:?}");
        // Host facts: kernel, machine, hostname, OS ids.
        let f = parse_scan(&with_section("hostname", "pd-01\u{7}$(id)")).unwrap();
        assert_eq!(f.hostname, "", "{f:?}");
        let text = with_section("uname", "6.1.0\u{1b}[2J-amd64\nx86_64; rm -rf /")
            .replace("ID=debian", "ID=\"debian;reboot\"")
            .replace("VERSION_CODENAME=bookworm", "VERSION_CODENAME=Book Worm");
        let f = parse_scan(&text).unwrap();
        assert_eq!((f.kernel.as_str(), f.arch.as_str()), ("", ""));
        assert_eq!((f.os_id.as_str(), f.os_codename.as_str()), ("", ""));
        assert!(
            f.warnings.len() >= 4,
            "each refusal is a warning: {:?}",
            f.warnings
        );
        let text = with_section("reboot", "yes\npd-kernel\n\u{1b}[31mevil");
        assert_eq!(parse_scan(&text).unwrap().reboot_packages, ["pd-kernel"]);
    }

    #[test]
    fn a_host_without_a_package_list_is_an_error() {
        // Issue #9 item 21: no dpkg (a Rocky Linux host) scanned "ok" with 0 packages.
        let rocky = with_section("os-release", "NAME=\"Rocky Linux\"\nVERSION_ID=\"9.3\"\nID=\"rocky\"\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"");
        let no_dpkg = with_section("packages", "@@PD packages-exit 127");
        let e = parse_scan(
            &rocky.replace("@@PD packages\n", "@@PD packages\n@@PD packages-exit 127\n"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Rocky Linux 9.3: neither dpkg nor rpm on this host; PatchDesk reads Debian/Ubuntu (dpkg) and RHEL-family (rpm) hosts"
        );
        assert!(matches!(
            parse_scan(&no_dpkg),
            Err(FactsError::NoDpkg { .. })
        ));
        // An older script (no exit status) with an empty list: the same conclusion.
        let empty = with_section("packages", "");
        assert!(matches!(parse_scan(&empty), Err(FactsError::NoDpkg { .. })));
        // dpkg-query ran, exited 0, listed nothing (issue #9 item 20: one huge blank line).
        let blank = with_section(
            "packages",
            &(" ".repeat(1_000_000) + "\n@@PD packages-exit 0"),
        );
        assert_eq!(parse_scan(&blank), Err(FactsError::NoPackages));
        let failed = with_section("packages", "@@PD packages-exit 2");
        assert_eq!(
            parse_scan(&failed),
            Err(FactsError::ListingFailed {
                tool: "dpkg-query",
                status: 2
            })
        );
        let no_apt = with_section("pending", "@@PD pending-exit 127");
        assert!(matches!(
            parse_scan(&no_apt),
            Err(FactsError::ListingFailed { status: 127, .. })
        ));
        // apt failing (broken dependencies) keeps dpkg's list and says so.
        let apt = parse_scan(&with_section("pending", "@@PD pending-exit 100")).unwrap();
        assert!(apt.packages.is_some_and(|p| !p.is_empty()));
        assert!(
            apt.warnings.iter().any(|w| w.contains("exit status 100")),
            "{:?}",
            apt.warnings
        );
        let ok = with_section("pending", "Inst pd-hello [1.0-1] (1.1-1 PatchDesk Security:bookworm-security [all])\n@@PD pending-exit 0");
        assert_eq!(parse_scan(&ok).unwrap().pending.unwrap().len(), 1);
    }

    #[test]
    fn held_updates_are_pending_and_marked_held() {
        // pd-hello held on the host: the normal simulation keeps it back, the one ignoring holds
        // shows it (and pd-tools, pending anyway, and pd-agent, not held: kept back for another
        // reason, not a hold).
        let text = SAMPLE
            .replace(
                "pd-hello\t1.0-1\tall\tpd-hello\t1.0-1\tii ",
                "pd-hello\t1.0-1\tall\tpd-hello\t1.0-1\thi ",
            )
            .replace(
                "Inst pd-hello [1.0-1] (1.1-1 PatchDesk-Security:bookworm-security [all])\n",
                "",
            )
            .replace(
                "Inst pd-agent [2.0~rc1-1] (2.0-1 PatchDesk:bookworm [all])\n",
                "",
            )
            .replace(
                "@@PD end",
                "@@PD held\nInst pd-hello [1.0-1] (1.1-1 PatchDesk-Security:bookworm-security [all])\nInst pd-tools [2.0-1] (2.1-1 PatchDesk:bookworm [all])\nInst pd-agent [2.0~rc1-1] (2.0-1 PatchDesk:bookworm [all])\n@@PD end",
            );
        let f = parse_scan(&text).unwrap();
        let pending = f.pending.unwrap();
        let held: Vec<_> = pending.iter().filter(|u| u.held).collect();
        assert_eq!(held.len(), 1, "{pending:?}");
        assert_eq!(
            (
                held[0].name.as_str(),
                held[0].candidate_version.as_str(),
                held[0].security
            ),
            ("pd-hello", "1.1-1", true)
        );
        assert!(pending.iter().any(|u| u.name == "pd-tools" && !u.held));
        assert!(!pending.iter().any(|u| u.name == "pd-agent"));
        assert_eq!(pending.len(), 5);
        // Without the held section nothing is marked held.
        assert!(parse_scan(SAMPLE)
            .unwrap()
            .pending
            .unwrap()
            .iter()
            .all(|u| !u.held));
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
