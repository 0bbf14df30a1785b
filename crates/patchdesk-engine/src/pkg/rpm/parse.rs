//! Pure parsers for what rpm hosts print: `rpm -qa --qf`, `dnf check-update` / `dnf list
//! --upgrades`, `dnf updateinfo list` / `info`, `dnf needs-restarting -r`, `dnf versionlock
//! list`, the rpm lock holder and `dnf history`. Owns turning untrusted text into typed rpm
//! facts; must not touch the database or SSH.
//!
//! Everything here is hostile input: a host may send anything, of any size. Parsers return
//! [`RpmParseError`] (or skip a line with a recorded warning), never panic, and bound what they
//! keep (field lengths, line counts). Names, architectures, versions, repository and advisory
//! ids are checked against rpm's and dnf's own character sets, so nothing that could reach a
//! shell command or the UI unquoted survives.

use super::version::Evr;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The marker that opens each section of the scan script's output.
pub const MARKER: &str = "@@PD ";
/// Output format version the parser understands (shared with the Debian family).
pub const FORMAT_VERSION: &str = "1";
/// Installed packages accepted from one host.
pub const MAX_PACKAGES: usize = 200_000;
/// Lines of pending updates and of advisory lists accepted from one host.
pub const MAX_LINES: usize = 500_000;
/// Advisories accepted from one host.
pub const MAX_ADVISORIES: usize = 50_000;
const MAX_FIELD: usize = 512;
const MAX_ITEMS: usize = 1_000;
const MAX_DESCRIPTION: usize = 4_096;
const MAX_WARNINGS: usize = 200;

/// Why the output of an rpm host cannot be read. Each renders as one sentence; the scan adds
/// the host and the next step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpmParseError {
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
    #[error("too many {what} ({count}); refusing to store more than {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error(
        "rpm -qa listed no installed packages (is the rpm database readable by the scanning user?)"
    )]
    NoPackages,
    #[error("`dnf {command}` failed with exit status {status}: {message}")]
    Dnf {
        command: &'static str,
        status: i64,
        message: String,
    },
    #[error("dnf is busy ({0}) and nothing was read; scan again when it has finished")]
    Busy(String),
}

/// Record a skipped line, up to [`MAX_WARNINGS`] (a hostile host could send millions).
fn warn(w: &mut Vec<String>, msg: impl FnOnce() -> String) {
    if w.len() < MAX_WARNINGS {
        w.push(msg());
    } else if w.len() == MAX_WARNINGS {
        w.push("more lines were skipped; they are not listed".to_string());
    }
}

/// Trim, bound and strip control characters (terminal escapes) from a remote string.
fn clip(s: &str) -> String {
    let s = s.trim();
    let mut end = s.len().min(MAX_FIELD);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].chars().filter(|c| !c.is_control()).collect()
}

/// rpm package names: letters, digits and `. _ + -`, starting with a letter, digit or `_`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

/// rpm architectures: `x86_64`, `noarch`, `aarch64`, `i686`, `ppc64le`, `s390x`...
pub fn valid_arch(arch: &str) -> bool {
    !arch.is_empty()
        && arch.len() <= 32
        && arch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// dnf repository ids (`@System`, `@pd-baseos` for installed packages).
fn valid_repo(repo: &str) -> bool {
    let r = repo.strip_prefix('@').unwrap_or(repo);
    !r.is_empty()
        && r.len() <= 128
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// Advisory ids: `RLSA-2024:0101`, `ALSA-2024:1234`, `RHSA-2024:1234`, `ELSA-2024-1234`,
/// `FEDORA-2024-1a2b3c4d5e`.
pub fn valid_advisory_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:+-".contains(&b))
}

/// `CVE-YYYY-NNNN...`
pub fn valid_cve(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, num)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && (4..=19).contains(&num.len())
        && num.bytes().all(|b| b.is_ascii_digit())
}

/// `NAME-[EPOCH:]VERSION-RELEASE.ARCH`, as dnf prints packages. `None` when it is not one.
pub fn parse_nevra(s: &str) -> Option<(String, Evr, String)> {
    if s.len() > MAX_FIELD {
        return None;
    }
    let (nevr, arch) = s.rsplit_once('.')?;
    let (nev, release) = nevr.rsplit_once('-')?;
    let (name, ev) = nev.rsplit_once('-')?;
    if !valid_name(name) || !valid_arch(arch) {
        return None;
    }
    let evr: Evr = format!("{ev}-{release}").parse().ok()?;
    Some((name.to_string(), evr, arch.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Sections

/// Split the scan output into its sections, in order. (The same rules as the Debian parser's:
/// a `@@PD format 1` header first, a final `@@PD end`; lines before the header are ignored.)
pub fn split_sections(text: &str) -> Result<BTreeMap<&str, Vec<&str>>, RpmParseError> {
    let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut current: Option<&str> = None;
    let mut seen_header = false;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix(MARKER) {
            let name = name.trim();
            if let Some(v) = name.strip_prefix("format ") {
                if v.trim() != FORMAT_VERSION {
                    return Err(RpmParseError::Format(clip(v)));
                }
                seen_header = true;
                continue;
            }
            if !seen_header {
                return Err(RpmParseError::NoMarker);
            }
            current = Some(name);
            map.entry(name).or_default();
        } else if let Some(cur) = current {
            map.entry(cur).or_default().push(line);
        }
    }
    if !seen_header {
        return Err(RpmParseError::NoMarker);
    }
    if !map.contains_key("end") {
        return Err(RpmParseError::Truncated("end"));
    }
    Ok(map)
}

/// What a `-status` section says about the command before it: its exit status and the last
/// lines of its standard error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandStatus {
    /// `None` when the section has no `rc N` line (cut short, or not a PatchDesk script).
    pub code: Option<i64>,
    pub stderr: Vec<String>,
}

impl CommandStatus {
    /// The first standard-error line that says something (dnf's "Error:" line first).
    pub fn message(&self) -> String {
        self.stderr
            .iter()
            .find(|l| l.starts_with("Error:") || l.starts_with("error:"))
            .or_else(|| self.stderr.iter().find(|l| !l.trim().is_empty()))
            .cloned()
            .unwrap_or_else(|| "no error message".to_string())
    }
}

pub fn parse_status(lines: &[&str]) -> CommandStatus {
    let mut st = CommandStatus::default();
    for line in lines.iter().take(100) {
        if let Some(e) = line.strip_prefix("| ").or_else(|| line.strip_prefix('|')) {
            st.stderr.push(clip(e));
        } else if let Some(rc) = line.strip_prefix("rc ") {
            st.code = rc.trim().parse::<i64>().ok();
        }
    }
    st
}

// ---------------------------------------------------------------------------------------------
// Installed packages

/// One installed package, as rpm knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpmPackage {
    pub name: String,
    pub evr: Evr,
    pub arch: String,
    /// Source package name from the source RPM's file name (`pd-libfoo` for
    /// `pd-libfoo-3.0-1.el9.src.rpm`); equals `name` when rpm reports none.
    pub source: String,
    /// The source RPM's file name as rpm reports it (empty when none).
    pub source_rpm: String,
    pub installed_at: Option<DateTime<Utc>>,
}

impl RpmPackage {
    /// The source package's version: the source RPM's `VERSION-RELEASE` with this package's
    /// epoch (subpackages share it), or this package's own when rpm reports no source RPM.
    pub fn source_evr(&self) -> Evr {
        source_parts(&self.source_rpm)
            .and_then(|(_, v, r)| {
                let e = if self.evr.has_epoch() {
                    self.evr.epoch().to_string()
                } else {
                    String::new()
                };
                Evr::from_parts(&e, v, r).ok()
            })
            .unwrap_or_else(|| self.evr.clone())
    }
}

/// `NAME-VERSION-RELEASE.src.rpm` → (name, version, release).
fn source_parts(srpm: &str) -> Option<(&str, &str, &str)> {
    let base = srpm
        .strip_suffix(".src.rpm")
        .or_else(|| srpm.strip_suffix(".nosrc.rpm"))?;
    let (nv, release) = base.rsplit_once('-')?;
    let (name, version) = nv.rsplit_once('-')?;
    valid_name(name).then_some((name, version, release))
}

/// Lines of `rpm -qa --qf '%{NAME}\t%|EPOCH?{%{EPOCH}}:{}|\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\t%{INSTALLTIME}\n'`.
/// A line with the wrong number of fields is an error (the script and the parser disagree);
/// a package with an invalid name, version or architecture is skipped with a warning; rpm's
/// `gpg-pubkey` entries (imported signing keys, not packages) are left out.
pub fn parse_rpm_qa(lines: &[&str]) -> Result<(Vec<RpmPackage>, Vec<String>), RpmParseError> {
    if lines.len() > MAX_PACKAGES {
        return Err(RpmParseError::TooMany {
            what: "installed packages",
            count: lines.len(),
            max: MAX_PACKAGES,
        });
    }
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != 7 {
            return Err(RpmParseError::Line {
                section: "rpm-packages",
                line: i + 1,
                message: format!("expected 7 tab-separated fields, got {}", cols.len()),
            });
        }
        match package_from_fields(&cols) {
            Ok(Some(p)) => out.push(p),
            Ok(None) => {}
            Err(why) => warn(&mut warnings, || {
                format!("rpm-packages line {}: skipped {why}", i + 1)
            }),
        }
    }
    sort_packages(&mut out);
    Ok((out, warnings))
}

fn sort_packages(v: &mut Vec<RpmPackage>) {
    v.sort_by(|a, b| {
        (&a.name, &a.arch)
            .cmp(&(&b.name, &b.arch))
            .then_with(|| a.evr.cmp(&b.evr))
    });
    v.dedup_by(|a, b| a.name == b.name && a.arch == b.arch && a.evr == b.evr);
}

/// One `rpm -qa` record; `Ok(None)` for what is not a package (gpg-pubkey).
fn package_from_fields(cols: &[&str]) -> Result<Option<RpmPackage>, String> {
    let [name, epoch, version, release, arch, srpm, itime] = cols else {
        return Err("a record with the wrong number of fields".into());
    };
    let name = name.trim();
    if name == "gpg-pubkey" {
        return Ok(None);
    }
    if !valid_name(name) {
        return Err(format!("invalid package name {:?}", clip(name)));
    }
    let epoch = match epoch.trim() {
        "(none)" => "",
        e => e,
    };
    let evr = Evr::from_parts(epoch, version.trim(), release.trim())
        .map_err(|e| format!("{name}: {e}"))?;
    let arch = arch.trim();
    if !valid_arch(arch) {
        return Err(format!("{name}: invalid architecture {:?}", clip(arch)));
    }
    let srpm = srpm.trim();
    let (source, source_rpm) = match source_parts(srpm) {
        Some((s, _, _)) => (s.to_string(), srpm.to_string()),
        None => (name.to_string(), String::new()),
    };
    let installed_at = itime
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|t| Utc.timestamp_opt(t, 0).single());
    Ok(Some(RpmPackage {
        name: name.to_string(),
        evr,
        arch: arch.to_string(),
        source,
        source_rpm,
        installed_at,
    }))
}

// ---------------------------------------------------------------------------------------------
// Pending updates

/// One update dnf would install now (the newest candidate of a `name.arch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpmPending {
    pub name: String,
    pub arch: String,
    /// The candidate version.
    pub evr: Evr,
    /// The repository offering it.
    pub repo: String,
    /// For an obsoleting package (listed under "Obsoleting Packages"): the installed packages it
    /// replaces (`name.arch`). Empty for plain upgrades.
    pub obsoletes: Vec<String>,
}

/// `dnf check-update` (exit 100 when there are updates) or `dnf list --upgrades`:
/// `NAME.ARCH  [EPOCH:]VERSION-RELEASE  REPO` per line; a record wrapped over several lines (a
/// narrow terminal, yum) is joined. Under "Obsoleting Packages", each obsoleting package is
/// followed by the indented installed package it replaces.
pub fn parse_check_update(lines: &[&str]) -> (Vec<RpmPending>, Vec<String>) {
    let mut out: Vec<RpmPending> = Vec::new();
    let mut warnings = Vec::new();
    let mut pending_tokens: Vec<&str> = Vec::new();
    let mut first_line = 0;
    let mut obsoleting = false;
    for (i, line) in lines.iter().enumerate().take(MAX_LINES) {
        let t = line.trim();
        if t.is_empty()
            || t == "Available Upgrades"
            || t == "Upgraded Packages"
            || t.starts_with("Last metadata expiration check")
            || t.starts_with("Security: ")
        {
            continue;
        }
        if t == "Obsoleting Packages" {
            obsoleting = true;
            pending_tokens.clear();
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        if obsoleting && indented && pending_tokens.is_empty() {
            // The installed package the previous record obsoletes.
            match t
                .split_whitespace()
                .next()
                .and_then(|na| na.rsplit_once('.'))
            {
                Some((n, a)) if valid_name(n) && valid_arch(a) => {
                    if let Some(last) = out.last_mut() {
                        if last.obsoletes.len() < MAX_ITEMS {
                            last.obsoletes.push(format!("{n}.{a}"));
                        }
                    }
                }
                _ => warn(&mut warnings, || {
                    format!(
                        "rpm-pending line {}: could not read the obsoleted package {:?}",
                        i + 1,
                        clip(t)
                    )
                }),
            }
            continue;
        }
        if pending_tokens.is_empty() {
            first_line = i + 1;
        }
        pending_tokens.extend(t.split_whitespace());
        if pending_tokens.len() < 3 {
            continue;
        }
        let tokens = std::mem::take(&mut pending_tokens);
        match pending_from_tokens(&tokens) {
            Some(p) => out.push(p),
            None => warn(&mut warnings, || {
                format!(
                    "rpm-pending line {first_line}: could not read {:?}",
                    clip(&tokens.join(" "))
                )
            }),
        }
    }
    if !pending_tokens.is_empty() {
        warn(&mut warnings, || {
            format!(
                "rpm-pending line {first_line}: incomplete record {:?}",
                clip(&pending_tokens.join(" "))
            )
        });
    }
    out.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    out.dedup_by(|a, b| a.name == b.name && a.arch == b.arch);
    (out, warnings)
}

fn pending_from_tokens(tokens: &[&str]) -> Option<RpmPending> {
    let [na, evr, repo] = tokens else {
        return None;
    };
    let (name, arch) = na.rsplit_once('.')?;
    if !valid_name(name) || !valid_arch(arch) || !valid_repo(repo) {
        return None;
    }
    Some(RpmPending {
        name: name.to_string(),
        arch: arch.to_string(),
        evr: evr.parse().ok()?,
        repo: repo.to_string(),
        obsoletes: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------------
// Advisories

/// The advisory's type, as updateinfo.xml and dnf name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdvisoryKind {
    Security,
    Bugfix,
    Enhancement,
    Newpackage,
    Unknown,
}

impl AdvisoryKind {
    fn parse(s: &str) -> AdvisoryKind {
        match s.trim().to_ascii_lowercase().as_str() {
            "security" => AdvisoryKind::Security,
            "bugfix" => AdvisoryKind::Bugfix,
            "enhancement" => AdvisoryKind::Enhancement,
            "newpackage" => AdvisoryKind::Newpackage,
            _ => AdvisoryKind::Unknown,
        }
    }
}

/// The vendor's severity of a security advisory (Red Hat's scale, used by Rocky, Alma, Oracle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VendorSeverity {
    Low,
    Moderate,
    Important,
    Critical,
}

impl VendorSeverity {
    pub fn parse(s: &str) -> Option<VendorSeverity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(VendorSeverity::Critical),
            "important" | "high" => Some(VendorSeverity::Important),
            "moderate" | "medium" => Some(VendorSeverity::Moderate),
            "low" => Some(VendorSeverity::Low),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VendorSeverity::Critical => "Critical",
            VendorSeverity::Important => "Important",
            VendorSeverity::Moderate => "Moderate",
            VendorSeverity::Low => "Low",
        }
    }
}

/// One line of `dnf updateinfo list`: an advisory and one package version it brings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvisoryPackage {
    pub advisory: String,
    pub kind: AdvisoryKind,
    pub severity: Option<VendorSeverity>,
    pub name: String,
    pub evr: Evr,
    pub arch: String,
}

/// `dnf updateinfo list`: `ID  LABEL  NEVRA` (`LABEL` is `Critical/Sec.`... for security
/// advisories, the type otherwise; `-v` adds the date, `--all` an `i` column).
pub fn parse_updateinfo_list(lines: &[&str]) -> (Vec<AdvisoryPackage>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (i, line) in lines.iter().enumerate().take(MAX_LINES) {
        let t = line.trim();
        if t.is_empty() || t.starts_with("Last metadata expiration check") {
            continue;
        }
        let mut tokens: Vec<&str> = t.split_whitespace().take(8).collect();
        if tokens.first() == Some(&"i") {
            tokens.remove(0);
        }
        match advisory_package(&tokens) {
            Some(p) => out.push(p),
            None => warn(&mut warnings, || {
                format!(
                    "rpm-advisories line {}: could not read {:?}",
                    i + 1,
                    clip(t)
                )
            }),
        }
    }
    out.sort_by(|a, b| {
        (&a.advisory, &a.name, &a.arch)
            .cmp(&(&b.advisory, &b.name, &b.arch))
            .then_with(|| a.evr.cmp(&b.evr))
    });
    out.dedup_by(|a, b| {
        a.advisory == b.advisory && a.name == b.name && a.arch == b.arch && a.evr == b.evr
    });
    (out, warnings)
}

fn advisory_package(tokens: &[&str]) -> Option<AdvisoryPackage> {
    // 3 tokens, or 5 with `-v` (date and time at the end).
    let (id, label, nevra) = match tokens {
        [id, label, nevra] | [id, label, nevra, _, _] => (*id, *label, *nevra),
        _ => return None,
    };
    if !valid_advisory_id(id) {
        return None;
    }
    let (kind, severity) = match label.strip_suffix("/Sec.") {
        Some(sev) => (AdvisoryKind::Security, VendorSeverity::parse(sev)),
        None => (AdvisoryKind::parse(label), None),
    };
    let (name, evr, arch) = parse_nevra(nevra)?;
    Some(AdvisoryPackage {
        advisory: id.to_string(),
        kind,
        severity,
        name,
        evr,
        arch,
    })
}

/// One block of `dnf updateinfo info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvisoryInfo {
    pub id: String,
    pub title: String,
    pub kind: AdvisoryKind,
    /// dnf's "Updated": the advisory's updated date, or its issued date when never updated.
    pub updated: Option<DateTime<Utc>>,
    pub severity: Option<VendorSeverity>,
    pub cves: Vec<String>,
    pub bugs: Vec<String>,
    pub description: String,
}

/// `dnf updateinfo info`: blocks opened by a title between two lines of `=`, then `Key: value`
/// lines; a value continues on lines whose key is blank (`           : CVE-2024-0103`).
pub fn parse_updateinfo_info(lines: &[&str]) -> (Vec<AdvisoryInfo>, Vec<String>) {
    #[derive(PartialEq)]
    enum St {
        Outside,
        Title,
        AfterTitle,
        Fields,
    }
    let mut out: Vec<AdvisoryInfo> = Vec::new();
    let mut warnings = Vec::new();
    let mut st = St::Outside;
    let mut title = String::new();
    let mut fields: Vec<(String, Vec<String>)> = Vec::new();
    let mut start = 0;
    let is_rule = |t: &str| t.len() >= 20 && t.bytes().all(|b| b == b'=');
    let flush = |title: &mut String,
                 fields: &mut Vec<(String, Vec<String>)>,
                 start: usize,
                 out: &mut Vec<AdvisoryInfo>,
                 warnings: &mut Vec<String>| {
        if fields.is_empty() {
            return;
        }
        match advisory_info(std::mem::take(title), std::mem::take(fields), warnings) {
            Some(a) if out.len() < MAX_ADVISORIES => out.push(a),
            Some(_) => {}
            None => warn(warnings, || {
                format!(
                "rpm-advisory-info line {start}: an advisory without a valid Update ID was skipped"
            )
            }),
        }
    };
    for (i, line) in lines.iter().enumerate().take(MAX_LINES) {
        let t = line.trim();
        match st {
            St::Outside | St::Fields if is_rule(t) => {
                flush(&mut title, &mut fields, start, &mut out, &mut warnings);
                start = i + 1;
                st = St::Title;
            }
            St::Title => {
                title = clip(t);
                st = St::AfterTitle;
            }
            St::AfterTitle => {
                st = St::Fields;
                if !is_rule(t) {
                    warn(&mut warnings, || {
                        format!(
                            "rpm-advisory-info line {}: expected a line of '=' after the title",
                            i + 1
                        )
                    });
                }
            }
            St::Fields => {
                if t.is_empty() {
                    continue;
                }
                let Some((k, v)) = line.split_once(':') else {
                    continue;
                };
                let k = k.trim();
                let v = clip(v);
                if k.is_empty() {
                    if let Some((_, vals)) = fields.last_mut() {
                        if vals.len() < MAX_ITEMS {
                            vals.push(v);
                        }
                    }
                } else if fields.len() < 64 {
                    fields.push((k.to_string(), vec![v]));
                }
            }
            St::Outside => {}
        }
    }
    flush(&mut title, &mut fields, start, &mut out, &mut warnings);
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out.dedup_by(|a, b| a.id == b.id);
    (out, warnings)
}

fn advisory_info(
    title: String,
    fields: Vec<(String, Vec<String>)>,
    warnings: &mut Vec<String>,
) -> Option<AdvisoryInfo> {
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let first = |k: &str| get(k).and_then(|v| v.first()).cloned().unwrap_or_default();
    let id = first("Update ID");
    if !valid_advisory_id(&id) {
        return None;
    }
    let mut cves = Vec::new();
    for c in get("CVEs").into_iter().flatten() {
        if valid_cve(c) {
            cves.push(c.clone());
        } else if !c.is_empty() {
            warn(warnings, || format!("{id}: skipped invalid CVE id {c:?}"));
        }
    }
    cves.sort();
    cves.dedup();
    let bugs = get("Bugs").cloned().unwrap_or_default();
    let mut description = get("Description").map(|v| v.join("\n")).unwrap_or_default();
    if description.len() > MAX_DESCRIPTION {
        let mut end = MAX_DESCRIPTION;
        while !description.is_char_boundary(end) {
            end -= 1;
        }
        description.truncate(end);
    }
    // dnf prints "Updated"; yum (EL7) prints "Issued" and "Updated" only when updated.
    let date = match first("Updated") {
        d if d.is_empty() => first("Issued"),
        d => d,
    };
    let updated = NaiveDateTime::parse_from_str(&date, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|n| Utc.from_utc_datetime(&n));
    Some(AdvisoryInfo {
        kind: AdvisoryKind::parse(&first("Type")),
        severity: VendorSeverity::parse(&first("Severity")),
        id,
        title,
        updated,
        cves,
        bugs,
        description,
    })
}

/// A package version an advisory brings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvisoryTarget {
    pub name: String,
    pub arch: String,
    pub evr: Evr,
}

/// An advisory the host's own repositories publish for it: `dnf updateinfo list` (which
/// packages) joined with `dnf updateinfo info` (severity, CVEs, date).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisory {
    pub id: String,
    pub kind: AdvisoryKind,
    pub severity: Option<VendorSeverity>,
    pub title: String,
    pub issued: Option<DateTime<Utc>>,
    pub cves: Vec<String>,
    pub packages: Vec<AdvisoryTarget>,
}

/// Join the two views of the host's advisories by id.
pub fn join_advisories(list: Vec<AdvisoryPackage>, info: Vec<AdvisoryInfo>) -> Vec<Advisory> {
    let mut by_id: BTreeMap<String, Advisory> = BTreeMap::new();
    for i in info {
        by_id.insert(
            i.id.clone(),
            Advisory {
                id: i.id,
                kind: i.kind,
                severity: i.severity,
                title: i.title,
                issued: i.updated,
                cves: i.cves,
                packages: Vec::new(),
            },
        );
    }
    for p in list {
        if by_id.len() >= MAX_ADVISORIES && !by_id.contains_key(&p.advisory) {
            continue;
        }
        let a = by_id.entry(p.advisory.clone()).or_insert_with(|| Advisory {
            id: p.advisory.clone(),
            kind: p.kind,
            severity: p.severity,
            title: String::new(),
            issued: None,
            cves: Vec::new(),
            packages: Vec::new(),
        });
        if a.severity.is_none() {
            a.severity = p.severity;
        }
        if a.packages.len() < MAX_ITEMS {
            a.packages.push(AdvisoryTarget {
                name: p.name,
                arch: p.arch,
                evr: p.evr,
            });
        }
    }
    by_id.into_values().collect()
}

// ---------------------------------------------------------------------------------------------
// Reboot

/// What `dnf needs-restarting -r` said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "hint", content = "packages", rename_all = "snake_case")]
pub enum RebootHint {
    /// Packages on its reboot list (kernel, glibc, systemd... and needs-restarting.d) were
    /// installed after boot.
    Required(Vec<String>),
    NotRequired,
    /// The command is missing (no dnf-plugins-core, yum) or said something else.
    Unknown,
}

pub fn parse_needs_restarting(lines: &[&str]) -> RebootHint {
    let mut required = false;
    let mut not_required = false;
    let mut pkgs = Vec::new();
    for line in lines.iter().take(MAX_LINES) {
        let t = line.trim();
        if t.starts_with("Reboot is required")
            || t.starts_with("Core libraries or services have been updated")
        {
            required = true;
        } else if t.starts_with("Reboot should not be necessary")
            || t.starts_with("No core libraries or services have been updated")
        {
            not_required = true;
        } else if let Some(p) = t.strip_prefix("* ") {
            let p = p.trim();
            if valid_name(p) && pkgs.len() < MAX_ITEMS {
                pkgs.push(p.to_string());
            }
        }
    }
    pkgs.sort();
    pkgs.dedup();
    match (required, not_required) {
        (true, _) => RebootHint::Required(pkgs),
        (false, true) => RebootHint::NotRequired,
        _ => RebootHint::Unknown,
    }
}

/// Where the reboot verdict came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RebootSource {
    NeedsRestarting,
    /// No usable `needs-restarting`: the newest installed kernel package against `uname -r`.
    KernelNewerThanRunning,
    /// Neither could tell (no kernel package: a container, or an unreadable `uname -r`).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootStatus {
    pub required: bool,
    pub packages: Vec<String>,
    pub source: RebootSource,
}

/// The kernel rule: is an installed kernel package newer than the running kernel? `running` is
/// `uname -r` (`5.14.0-362.8.1.el9_3.x86_64`, maybe with `+debug`); `kernels` the installed
/// kernel packages. `None` when it cannot tell.
pub fn kernel_newer_than_running(running: &str, kernels: &[RpmPackage]) -> Option<bool> {
    let r = running.trim();
    let r = r.split_once('+').map_or(r, |(base, _)| base);
    let r = match r.rsplit_once('.') {
        Some((vr, "x86_64" | "aarch64" | "ppc64le" | "ppc64" | "s390x" | "i686" | "armv7hl")) => vr,
        _ => r,
    };
    let running: Evr = r.parse().ok()?;
    // A kernel without a release is not an rpm kernel (a custom build): no verdict.
    running.release()?;
    let newest = kernels.iter().map(|k| &k.evr).max()?;
    Some(*newest > running)
}

/// needs-restarting where it answers; the kernel rule otherwise.
pub fn reboot_status(hint: RebootHint, running: &str, kernels: &[RpmPackage]) -> RebootStatus {
    match hint {
        RebootHint::Required(packages) => RebootStatus {
            required: true,
            packages,
            source: RebootSource::NeedsRestarting,
        },
        RebootHint::NotRequired => RebootStatus {
            required: false,
            packages: Vec::new(),
            source: RebootSource::NeedsRestarting,
        },
        RebootHint::Unknown => match kernel_newer_than_running(running, kernels) {
            Some(required) => {
                let mut packages: Vec<String> = if required {
                    kernels.iter().map(|k| k.name.clone()).collect()
                } else {
                    Vec::new()
                };
                packages.sort();
                packages.dedup();
                RebootStatus {
                    required,
                    packages,
                    source: RebootSource::KernelNewerThanRunning,
                }
            }
            None => RebootStatus {
                required: false,
                packages: Vec::new(),
                source: RebootSource::Unknown,
            },
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Version locks

/// One entry of `dnf versionlock list`: `pd-hello-0:1.0-1.el9.*` locks pd-hello at that version;
/// a leading `!` excludes that version instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionLock {
    pub pattern: String,
    pub exclude: bool,
    /// The package name, when the pattern names one (not a glob).
    pub name: Option<String>,
    pub evr: Option<Evr>,
    /// `None` for `*` (every architecture).
    pub arch: Option<String>,
}

pub fn parse_versionlock(lines: &[&str]) -> (Vec<VersionLock>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (i, line) in lines.iter().enumerate().take(MAX_LINES) {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with("Last metadata expiration check") {
            continue;
        }
        let ok_chars = t.len() <= MAX_FIELD
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+~^:*?[]!-".contains(&b));
        if !ok_chars {
            warn(&mut warnings, || {
                format!("rpm-versionlock line {}: skipped {:?}", i + 1, clip(t))
            });
            continue;
        }
        let (exclude, pat) = match t.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, t),
        };
        let mut lock = VersionLock {
            pattern: t.to_string(),
            exclude,
            name: None,
            evr: None,
            arch: None,
        };
        // yum (EL7) writes the epoch first: `0:pd-hello-1.0-1.el7.*`.
        let (epoch, pat) = match pat.split_once(':') {
            Some((e, rest))
                if !e.is_empty()
                    && e.len() <= 10
                    && e.bytes().all(|b| b.is_ascii_digit())
                    && !rest.contains(':') =>
            {
                (Some(e), rest)
            }
            _ => (None, pat),
        };
        let with_epoch = |n: String, e: Evr| match epoch {
            Some(ep) if !e.has_epoch() => {
                Evr::from_parts(ep, e.version(), e.release().unwrap_or_default())
                    .ok()
                    .map(|e| (n, e))
            }
            _ => Some((n, e)),
        };
        let (nevr, arch) = match pat.strip_suffix(".*") {
            Some(nevr) => (format!("{nevr}.noarch"), None),
            None => (pat.to_string(), Some(())),
        };
        if let Some((n, e, a)) = parse_nevra(&nevr) {
            if let Some((n, e)) = with_epoch(n, e) {
                lock.name = Some(n);
                lock.evr = Some(e);
                lock.arch = arch.map(|_| a);
            }
        } else if epoch.is_none() && valid_name(pat) {
            lock.name = Some(pat.to_string());
        }
        if out.len() < MAX_ITEMS * 100 {
            out.push(lock);
        }
    }
    (out, warnings)
}

// ---------------------------------------------------------------------------------------------
// Locks and history

/// Which lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockKind {
    /// rpm's transaction lock (`/var/lib/rpm/.rpm.lock`): another rpm or dnf is changing packages.
    RpmTransaction,
    /// dnf's RPMDB lock (another dnf runs a transaction).
    DnfRpmdb,
    /// dnf's metadata, cache or log lock (another dnf refreshes or downloads).
    DnfOther,
}

/// Who holds an rpm or dnf lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub kind: LockKind,
    pub pid: Option<u32>,
    /// The holder's command line as the host reports it (bounded, control characters removed).
    pub command: String,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            LockKind::RpmTransaction => "the rpm database",
            LockKind::DnfRpmdb => "dnf's rpm database lock",
            LockKind::DnfOther => "a dnf lock",
        };
        match (self.pid, self.command.is_empty()) {
            (Some(pid), false) => write!(f, "{what} is held by process {pid} ({})", self.command),
            (Some(pid), true) => write!(f, "{what} is held by process {pid}"),
            (None, _) => write!(f, "{what} is held by another package manager"),
        }
    }
}

/// Who holds a lock, from the message of a dnf or rpm command that could not take it (dnf
/// with `exit_on_lock`: exit 200, "RPMDB already locked by 6"; rpm: "can't create transaction
/// lock on /var/lib/rpm/.rpm.lock"). `None` when the failure was something else.
pub fn lock_busy(error: &str) -> Option<LockHolder> {
    let mut holder: Option<LockHolder> = None;
    for line in error.lines().take(200) {
        let t = line.trim();
        if let Some((what, pid)) = t.split_once(" already locked by ") {
            let kind = if what.trim() == "RPMDB" {
                LockKind::DnfRpmdb
            } else {
                LockKind::DnfOther
            };
            holder = Some(LockHolder {
                kind,
                pid: pid.trim().trim_end_matches('.').parse().ok(),
                command: String::new(),
            });
        } else if let Some(rest) = t.strip_prefix("The application with PID ") {
            if let (Some(h), Some((_, cmd))) = (holder.as_mut(), rest.split_once(" is: ")) {
                h.command = clip(cmd).chars().take(200).collect();
            }
        } else if let Some(pid) = t
            .strip_prefix("Waiting for process with pid ")
            .and_then(|r| r.strip_suffix(" to finish."))
        {
            holder.get_or_insert(LockHolder {
                kind: LockKind::DnfOther,
                pid: pid.trim().parse().ok(),
                command: String::new(),
            });
        } else if (t.contains("can't create transaction lock on")
            || t.contains("waiting for transaction lock on"))
            && holder.is_none()
        {
            holder = Some(LockHolder {
                kind: LockKind::RpmTransaction,
                pid: None,
                command: String::new(),
            });
        }
    }
    holder
}

/// The output of [`super::scan::LOCK_PROBE`]: `rpm PID CMD` / `dnf PID CMD` lines.
pub fn parse_lock_probe(text: &str) -> Vec<LockHolder> {
    let mut out: Vec<LockHolder> = Vec::new();
    for line in text.lines().take(100) {
        let mut it = line.trim().splitn(3, ' ');
        let kind = match it.next() {
            Some("rpm") => LockKind::RpmTransaction,
            Some("dnf") => LockKind::DnfRpmdb,
            _ => continue,
        };
        let Some(pid) = it.next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let command: String = clip(it.next().unwrap_or_default())
            .chars()
            .take(200)
            .collect();
        if !out.iter().any(|h| h.kind == kind && h.pid == Some(pid)) {
            out.push(LockHolder {
                kind,
                pid: Some(pid),
                command,
            });
        }
    }
    out
}

/// The id of the last dnf transaction from `dnf history info last` (`Transaction ID : 2`) or
/// `dnf history list` (the first row of the table). `None` when there is no history.
pub fn parse_history_last_id(text: &str) -> Option<u64> {
    let mut after_rule = false;
    for line in text.lines().take(10_000) {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Transaction ID") {
            return v.trim().strip_prefix(':')?.trim().parse().ok();
        }
        if t.len() >= 20 && t.bytes().all(|b| b == b'-') {
            after_rule = true;
            continue;
        }
        if after_rule {
            let id = t.split('|').next()?.trim();
            return id.parse().ok();
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The whole fragment

/// Everything the rpm fragment of one scan said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpmScan {
    /// Digest of the rpm database, repository metadata and dnf configuration.
    pub state_fingerprint: String,
    /// Last change of the rpm database.
    pub last_update_at: Option<DateTime<Utc>>,
    pub reboot: RebootStatus,
    /// Installed kernel packages (for the kernel rule).
    pub kernels: Vec<RpmPackage>,
    /// `None` when the host said its state is unchanged since `state_fingerprint` (then the
    /// fields below are `None` too).
    pub packages: Option<Vec<RpmPackage>>,
    pub pending: Option<Vec<RpmPending>>,
    pub advisories: Option<Vec<Advisory>>,
    pub versionlocks: Option<Vec<VersionLock>>,
    /// Lines that were skipped, with the reason.
    pub warnings: Vec<String>,
}

/// Read the rpm fragment's sections ([`super::scan::SCAN_FRAGMENT`]). `running_kernel` is the
/// host's `uname -r` (from the common part of the script), for the kernel rule.
pub fn parse_sections(
    s: &BTreeMap<&str, Vec<&str>>,
    running_kernel: &str,
) -> Result<RpmScan, RpmParseError> {
    let get = |name: &'static str| -> Result<&[&str], RpmParseError> {
        s.get(name)
            .map(Vec::as_slice)
            .ok_or(RpmParseError::Truncated(name))
    };
    let mut warnings = Vec::new();

    let hint = parse_needs_restarting(get("rpm-reboot")?);
    get("rpm-reboot-status")?;
    let kernel_lines: Vec<&str> = get("rpm-kernels")?
        .iter()
        .copied()
        .filter(|l| l.split('\t').count() == 7)
        .take(MAX_ITEMS)
        .collect();
    let (kernels, mut w) = parse_rpm_qa(&kernel_lines)?;
    warnings.append(&mut w);
    let reboot = reboot_status(hint, running_kernel, &kernels);

    let last_update_at = get("rpm-last-update")?
        .iter()
        .find_map(|l| l.strip_prefix("mtime "))
        .and_then(|t| t.trim().parse::<i64>().ok())
        .and_then(|t| Utc.timestamp_opt(t, 0).single());

    let state_fingerprint: String = get("state")?
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

    let mut scan = RpmScan {
        state_fingerprint,
        last_update_at,
        reboot,
        kernels,
        packages: None,
        pending: None,
        advisories: None,
        versionlocks: None,
        warnings: Vec::new(),
    };
    if s.contains_key("unchanged") {
        scan.warnings = warnings;
        return Ok(scan);
    }

    let (packages, mut w) = parse_rpm_qa(get("rpm-packages")?)?;
    if packages.is_empty() {
        return Err(RpmParseError::NoPackages);
    }
    warnings.append(&mut w);

    dnf_ok(
        "check-update",
        &parse_status(get("rpm-pending-status")?),
        &[0, 100],
    )?;
    let (pending, mut w) = parse_check_update(get("rpm-pending")?);
    warnings.append(&mut w);

    dnf_ok(
        "updateinfo list",
        &parse_status(get("rpm-advisories-status")?),
        &[0],
    )?;
    let (list, mut w) = parse_updateinfo_list(get("rpm-advisories")?);
    warnings.append(&mut w);
    dnf_ok(
        "updateinfo info",
        &parse_status(get("rpm-advisory-info-status")?),
        &[0],
    )?;
    let (info, mut w) = parse_updateinfo_info(get("rpm-advisory-info")?);
    warnings.append(&mut w);

    let lock_status = parse_status(get("rpm-versionlock-status")?);
    let versionlocks = if lock_status.code == Some(0) {
        let (locks, mut w) = parse_versionlock(get("rpm-versionlock")?);
        warnings.append(&mut w);
        locks
    } else {
        // No versionlock plugin (dnf-plugins-core not installed): nothing can be locked.
        warn(&mut warnings, || {
            format!(
                "dnf versionlock list is not available ({}): no version locks read",
                lock_status.message()
            )
        });
        Vec::new()
    };

    warnings.truncate(MAX_WARNINGS + 1);
    scan.packages = Some(packages);
    scan.pending = Some(pending);
    scan.advisories = Some(join_advisories(list, info));
    scan.versionlocks = Some(versionlocks);
    scan.warnings = warnings;
    Ok(scan)
}

/// A dnf query's status: fine, busy (another dnf holds a lock) or failed.
fn dnf_ok(command: &'static str, st: &CommandStatus, ok: &[i64]) -> Result<(), RpmParseError> {
    match st.code {
        Some(c) if ok.contains(&c) => Ok(()),
        Some(c) => {
            let text = st.stderr.join("\n");
            match lock_busy(&text) {
                Some(h) if c == 200 || h.pid.is_some() => Err(RpmParseError::Busy(h.to_string())),
                _ => Err(RpmParseError::Dnf {
                    command,
                    status: c,
                    message: st.message(),
                }),
            }
        }
        None => Err(RpmParseError::Dnf {
            command,
            status: -1,
            message: "its exit status is missing from the output".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fx(name: &str) -> String {
        std::fs::read_to_string(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/scan/rpm/"
            )
            .to_string()
                + name,
        )
        .unwrap()
    }

    #[test]
    fn nevra() {
        let (n, e, a) = parse_nevra("pd-libfoo-libs-1:3.0-2.el9.noarch").unwrap();
        assert_eq!(
            (n.as_str(), e.as_str(), a.as_str()),
            ("pd-libfoo-libs", "1:3.0-2.el9", "noarch")
        );
        let (n, e, a) = parse_nevra("kernel-core-5.14.0-362.8.1.el9_3.x86_64").unwrap();
        assert_eq!(
            (n.as_str(), e.as_str(), a.as_str()),
            ("kernel-core", "5.14.0-362.8.1.el9_3", "x86_64")
        );
        for bad in [
            "pd-hello",
            "$(id)-1.0-1.noarch",
            "a-1-1.no arch",
            "",
            "x-1:-1.noarch",
            "x-1-1.",
        ] {
            assert!(parse_nevra(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn rpm_qa_lines() {
        let (p, w) = parse_rpm_qa(&[
            "pd-libfoo-libs\t1\t3.0\t1.el9\tnoarch\tpd-libfoo-3.0-1.el9.src.rpm\t1796223862",
            "pd-hello\t\t1.0\t1.el9\tnoarch\tpd-hello-1.0-1.el9.src.rpm\t1796223862",
            "gpg-pubkey\t\t8483c65d\t5ccc5b19\t(none)\t(none)\t1700000000",
            "evil;name\t\t1.0\t1\tnoarch\t(none)\t0",
            "pd-x\t\tnot a version\t1\tnoarch\t(none)\t0",
            "pd-y\t\t1.0\t1\tno-arch\t(none)\t0",
            "kernel-core\t\t5.14.0\t362.el9\tx86_64\tkernel-5.14.0-362.el9.src.rpm\t1",
            "kernel-core\t\t5.14.0\t284.el9\tx86_64\tkernel-5.14.0-284.el9.src.rpm\t1",
        ])
        .unwrap();
        assert_eq!(p.len(), 4, "{p:?}");
        assert_eq!(w.len(), 3, "{w:?}");
        let lib = p.iter().find(|x| x.name == "pd-libfoo-libs").unwrap();
        assert_eq!(lib.evr.as_str(), "1:3.0-1.el9");
        assert_eq!(lib.source, "pd-libfoo");
        assert_eq!(lib.source_evr().as_str(), "1:3.0-1.el9");
        assert_eq!(lib.installed_at.unwrap().timestamp(), 1796223862);
        let kernels: Vec<_> = p.iter().filter(|x| x.name == "kernel-core").collect();
        assert_eq!(kernels.len(), 2, "installonly: both kernels are kept");
        assert!(kernels[0].evr < kernels[1].evr);
        let e = parse_rpm_qa(&["pd-hello\t1.0\tnoarch"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("expected 7 tab-separated fields, got 3"),
            "{e}"
        );
    }

    #[test]
    fn check_update_with_obsoletes_and_wraps() {
        let text = fx("check-update-obsoletes.txt");
        let lines: Vec<&str> = text.lines().collect();
        let (p, w) = parse_check_update(&lines);
        assert!(w.is_empty(), "{w:?}");
        let names: Vec<&str> = p.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pd-a-very-long-package-name-for-the-wrapping-of-dnf-columns",
                "pd-hello",
                "pd-kernel",
                "pd-tools-ng"
            ]
        );
        let ng = p.iter().find(|x| x.name == "pd-tools-ng").unwrap();
        assert_eq!(ng.obsoletes, ["pd-tools.noarch"]);
        assert_eq!(ng.repo, "pd-baseos");
        let long = &p[0];
        assert_eq!(
            long.evr.as_str(),
            "1.0.0.1~really.long.version.string-1.el9_3.something.long"
        );
        // yum and narrow terminals wrap a long record over two lines.
        let (p, w) = parse_check_update(&[
            "",
            "a-very-long-package-name-that-does-not-fit.x86_64",
            "                      1:2.0-1.el9            baseos",
            "short.noarch 1.0-1 appstream",
            "broken.noarch $(reboot) appstream",
        ]);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].evr.as_str(), "1:2.0-1.el9");
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn list_upgrades() {
        let text = fx("list-upgrades.txt");
        let lines: Vec<&str> = text.lines().collect();
        let (p, w) = parse_check_update(&lines);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(p.len(), 3);
    }

    #[test]
    fn updateinfo_list_labels() {
        let (a, w) = parse_updateinfo_list(&[
            "RLSA-2024:0105 Low/Sec.       pd-agent-2.0-1.el9.noarch",
            "RLSA-2024:0104 Moderate/Sec.  pd-libfoo-libs-1:3.0-2.el9.noarch",
            "RLBA-2024:0106 bugfix         pd-tools-2.1-1.el9.noarch",
            "RLEA-2024:0107 enhancement    pd-tools-2.1-1.el9.noarch",
            "FEDORA-2024-1a2b Unknown/Sec. pd-x-1-1.fc40.noarch",
            "i RLSA-2024:0101 Important/Sec. pd-hello-1.1-1.el9.noarch",
            "RLSA-2024:0102 Critical/Sec. pd-kernel-5.14.0-2.el9.x86_64 2024-01-12 00:00:00",
            "$(rm) Critical/Sec. pd-hello-1.1-1.el9.noarch",
            "RLSA-2024:0101 Important/Sec.",
        ]);
        assert_eq!(a.len(), 7, "{a:?}");
        assert_eq!(w.len(), 2, "{w:?}");
        let lib = a.iter().find(|x| x.advisory == "RLSA-2024:0104").unwrap();
        assert_eq!(lib.severity, Some(VendorSeverity::Moderate));
        assert_eq!(lib.evr.as_str(), "1:3.0-2.el9");
        let bf = a.iter().find(|x| x.advisory == "RLBA-2024:0106").unwrap();
        assert_eq!((bf.kind, bf.severity), (AdvisoryKind::Bugfix, None));
        let unk = a.iter().find(|x| x.advisory == "FEDORA-2024-1a2b").unwrap();
        assert_eq!((unk.kind, unk.severity), (AdvisoryKind::Security, None));
    }

    #[test]
    fn updateinfo_info_blocks() {
        let text = "\
===============================================================================
  Critical: pd-kernel security update
===============================================================================
  Update ID: RLSA-2024:0102
       Type: security
    Updated: 2024-01-12 00:00:00
       Bugs: 1001 - pd-kernel: something
       CVEs: CVE-2024-0102
           : CVE-2024-0103
           : not-a-cve
Description: First line: with a colon.
           : Second line.
   Severity: Critical

===============================================================================
  no id here
===============================================================================
       Type: security
";
        let lines: Vec<&str> = text.lines().collect();
        let (a, w) = parse_updateinfo_info(&lines);
        assert_eq!(a.len(), 1, "{a:?}");
        let k = &a[0];
        assert_eq!(k.id, "RLSA-2024:0102");
        assert_eq!(k.title, "Critical: pd-kernel security update");
        assert_eq!(k.kind, AdvisoryKind::Security);
        assert_eq!(k.severity, Some(VendorSeverity::Critical));
        assert_eq!(k.cves, ["CVE-2024-0102", "CVE-2024-0103"]);
        assert_eq!(k.bugs, ["1001 - pd-kernel: something"]);
        assert_eq!(k.description, "First line: with a colon.\nSecond line.");
        assert_eq!(k.updated.unwrap().to_rfc3339(), "2024-01-12T00:00:00+00:00");
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn warnings_are_bounded() {
        let bad = vec!["evil;name\t\t1.0\t1\tnoarch\t(none)\t0"; 100_000];
        let (p, w) = parse_rpm_qa(&bad).unwrap();
        assert!(p.is_empty());
        assert_eq!(w.len(), MAX_WARNINGS + 1);
        assert_eq!(
            w[MAX_WARNINGS],
            "more lines were skipped; they are not listed"
        );
        let (_, w) = parse_check_update(&vec!["x y"; 100_000]);
        assert!(w.len() <= MAX_WARNINGS + 1);
    }

    #[test]
    fn yum_style_info_block() {
        // yum (EL7) pads keys differently and says "Issued".
        let text = "\
===============================================================================
  Important: openssl security update
===============================================================================
  Update ID : RHSA-2024:1234
    Release : 0
       Type : security
     Status : final
     Issued : 2024-03-01 00:00:00
       CVEs : CVE-2024-1111
            : CVE-2024-2222
   Severity : Important
";
        let lines: Vec<&str> = text.lines().collect();
        let (a, w) = parse_updateinfo_info(&lines);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(a[0].id, "RHSA-2024:1234");
        assert_eq!(a[0].cves, ["CVE-2024-1111", "CVE-2024-2222"]);
        assert_eq!(a[0].severity, Some(VendorSeverity::Important));
        assert_eq!(
            a[0].updated.unwrap().to_rfc3339(),
            "2024-03-01T00:00:00+00:00"
        );
    }

    #[test]
    fn needs_restarting_and_kernel_rule() {
        let req = parse_needs_restarting(&[
            "Core libraries or services have been updated since boot-up:",
            "  * pd-kernel",
            "  * glibc",
            "",
            "Reboot is required to fully utilize these updates.",
            "More information: https://access.redhat.com/solutions/27943",
        ]);
        assert_eq!(
            req,
            RebootHint::Required(vec!["glibc".into(), "pd-kernel".into()])
        );
        assert_eq!(
            parse_needs_restarting(&[
                "No core libraries or services have been updated since boot-up.",
                "Reboot should not be necessary."
            ]),
            RebootHint::NotRequired
        );
        assert_eq!(
            parse_needs_restarting(&[
                "No such command: needs-restarting. Please use /usr/bin/yum --help"
            ]),
            RebootHint::Unknown
        );
        let (k, _) = parse_rpm_qa(&[
            "kernel-core\t\t5.14.0\t362.8.1.el9_3\tx86_64\tkernel-5.14.0-362.8.1.el9_3.src.rpm\t1",
            "kernel-core\t\t5.14.0\t362.13.1.el9_3\tx86_64\tkernel-5.14.0-362.13.1.el9_3.src.rpm\t2",
        ])
        .unwrap();
        assert_eq!(
            kernel_newer_than_running("5.14.0-362.8.1.el9_3.x86_64", &k),
            Some(true)
        );
        assert_eq!(
            kernel_newer_than_running("5.14.0-362.13.1.el9_3.x86_64", &k),
            Some(false)
        );
        assert_eq!(
            kernel_newer_than_running("5.14.0-362.13.1.el9_3.x86_64+debug", &k),
            Some(false)
        );
        assert_eq!(
            kernel_newer_than_running("6.1.0-28-amd64", &k),
            None,
            "not an rpm kernel"
        );
        assert_eq!(
            kernel_newer_than_running("5.14.0-362.8.1.el9_3.x86_64", &[]),
            None
        );
        let st = reboot_status(RebootHint::Unknown, "5.14.0-362.8.1.el9_3.x86_64", &k);
        assert!(st.required);
        assert_eq!(st.source, RebootSource::KernelNewerThanRunning);
        assert_eq!(st.packages, ["kernel-core"]);
        let st = reboot_status(RebootHint::NotRequired, "5.14.0-362.8.1.el9_3.x86_64", &k);
        assert!(
            !st.required,
            "needs-restarting is authoritative where it answers"
        );
        assert_eq!(
            reboot_status(RebootHint::Unknown, "6.1.0-28-amd64", &[]).source,
            RebootSource::Unknown
        );
    }

    #[test]
    fn versionlocks() {
        let (l, w) = parse_versionlock(&[
            "# comment",
            "pd-hello-0:1.0-1.el9.*",
            "!pd-kernel-0:5.14.0-2.el9.x86_64",
            "pd-tools",
            "pd-*",
            "pd-hello; rm -rf /",
            "1:pd-libfoo-libs-3.0-1.el7.*",
        ]);
        assert_eq!(l.len(), 5, "{l:?}");
        assert_eq!(
            l[4].name.as_deref(),
            Some("pd-libfoo-libs"),
            "yum's epoch-first form"
        );
        assert_eq!(l[4].evr.as_ref().unwrap().as_str(), "1:3.0-1.el7");
        assert_eq!(w.len(), 1);
        assert_eq!(l[0].name.as_deref(), Some("pd-hello"));
        assert_eq!(l[0].evr.as_ref().unwrap().as_str(), "0:1.0-1.el9");
        assert_eq!(l[0].arch, None);
        assert!(!l[0].exclude);
        assert!(l[1].exclude);
        assert_eq!(l[1].arch.as_deref(), Some("x86_64"));
        assert_eq!(
            (l[2].name.as_deref(), l[2].evr.is_none()),
            (Some("pd-tools"), true)
        );
        assert_eq!(l[3].name, None, "a glob names no single package");
    }

    #[test]
    fn lock_messages_from_the_fleet() {
        let h = lock_busy(&fx("lock-dnf.txt")).unwrap();
        assert_eq!(h.kind, LockKind::DnfRpmdb);
        assert_eq!(h.pid, Some(6));
        assert_eq!(h.command, "dnf");
        assert_eq!(
            h.to_string(),
            "dnf's rpm database lock is held by process 6 (dnf)"
        );
        let h = lock_busy(&fx("lock-rpm.txt")).unwrap();
        assert_eq!(h.kind, LockKind::RpmTransaction);
        assert_eq!(h.pid, None);
        assert!(lock_busy("Error: Unable to find a match: pd-nothing").is_none());
        let p = parse_lock_probe(
            "rpm 7 /usr/bin/python3 /usr/bin/dnf -y upgrade pd-hello \nrpm 7 dup\ndnf 7 /usr/bin/python3 /usr/bin/dnf\nrpm x y\nevil 1 2\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(
            p[0].command,
            "/usr/bin/python3 /usr/bin/dnf -y upgrade pd-hello"
        );
        assert!(parse_lock_probe("").is_empty());
    }

    #[test]
    fn history_ids_from_the_fleet() {
        assert_eq!(parse_history_last_id(&fx("history-info.txt")), Some(2));
        assert_eq!(parse_history_last_id(&fx("history-list.txt")), Some(2));
        assert_eq!(
            parse_history_last_id("No transaction which manipulates package 'x' was found."),
            None
        );
        assert_eq!(parse_history_last_id("Transaction ID : ; reboot"), None);
    }

    #[test]
    fn statuses() {
        let st = parse_status(&["| Error: Failed to download metadata for repo 'x'", "rc 1"]);
        assert_eq!(st.code, Some(1));
        assert_eq!(
            st.message(),
            "Error: Failed to download metadata for repo 'x'"
        );
        assert_eq!(parse_status(&["| cut short"]).code, None);
        let e = dnf_ok("check-update", &st, &[0, 100]).unwrap_err();
        assert!(
            e.to_string().contains(
                "`dnf check-update` failed with exit status 1: Error: Failed to download"
            ),
            "{e}"
        );
        let busy = parse_status(&[
            "| RPMDB already locked by 6",
            "|   The application with PID 6 is: dnf",
            "rc 200",
        ]);
        let e = dnf_ok("check-update", &busy, &[0, 100]).unwrap_err();
        assert_eq!(
            e,
            RpmParseError::Busy("dnf's rpm database lock is held by process 6 (dnf)".into())
        );
    }

    fn any_line() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,120}",
            "[a-z0-9._+-]{0,40}\\.[a-z0-9_]{0,8} [0-9a-z.:~^_+-]{0,30} @?[a-z0-9._:-]{0,20}",
            "[A-Z]{2,6}-[0-9]{4}:[0-9]{1,5} [A-Za-z]{0,10}/Sec\\. [a-z0-9.:~^_+-]{0,60}",
            "[a-z0-9._+-]{0,30}\t[0-9]{0,3}\t[0-9a-z.~^_+]{0,12}\t[0-9a-z.~^_+]{0,12}\t[a-z0-9_()]{0,8}\t[a-z0-9.()-]{0,40}\t[0-9]{0,12}",
            Just("=".repeat(79)),
            Just("Obsoleting Packages".to_string()),
            "[ ]{0,12}[A-Za-z ]{0,12}: .{0,60}",
            "[ ]{0,4}\\* [a-z0-9.-]{0,20}",
            "(rpm|dnf) [0-9]{0,12} .{0,40}",
            "rc -?[0-9]{0,20}",
            "\\| .{0,80}",
        ]
    }

    fn fragment_output() -> impl Strategy<Value = String> {
        let sections = prop_oneof![
            Just("rpm-reboot"),
            Just("rpm-reboot-status"),
            Just("rpm-kernels"),
            Just("rpm-last-update"),
            Just("state"),
            Just("unchanged"),
            Just("rpm-packages"),
            Just("rpm-pending"),
            Just("rpm-pending-status"),
            Just("rpm-advisories"),
            Just("rpm-advisories-status"),
            Just("rpm-advisory-info"),
            Just("rpm-advisory-info-status"),
            Just("rpm-versionlock"),
            Just("rpm-versionlock-status"),
            Just("end"),
        ];
        proptest::collection::vec(
            (sections, proptest::collection::vec(any_line(), 0..8)),
            0..20,
        )
        .prop_map(|parts| {
            let mut s = String::from("@@PD format 1\n");
            for (name, lines) in parts {
                s.push_str(&format!("@@PD {name}\n"));
                for l in lines {
                    s.push_str(&l);
                    s.push('\n');
                }
            }
            s
        })
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(s in "\\PC{0,2000}") {
            let lines: Vec<&str> = s.lines().collect();
            let _ = parse_rpm_qa(&lines);
            let _ = parse_check_update(&lines);
            let _ = parse_updateinfo_list(&lines);
            let _ = parse_updateinfo_info(&lines);
            let _ = parse_needs_restarting(&lines);
            let _ = parse_versionlock(&lines);
            let _ = parse_lock_probe(&s);
            let _ = lock_busy(&s);
            let _ = parse_history_last_id(&s);
            let _ = parse_nevra(&s);
            let _ = kernel_newer_than_running(&s, &[]);
            if let Ok(map) = split_sections(&s) {
                let _ = parse_sections(&map, &s);
            }
        }

        #[test]
        fn never_panics_on_shaped_lines(lines in proptest::collection::vec(any_line(), 0..60)) {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let _ = parse_rpm_qa(&refs);
            let (p, _) = parse_check_update(&refs);
            for u in &p {
                prop_assert!(valid_name(&u.name) && valid_arch(&u.arch) && valid_repo(&u.repo));
            }
            let (l, _) = parse_updateinfo_list(&refs);
            let (i, _) = parse_updateinfo_info(&refs);
            for a in join_advisories(l, i) {
                prop_assert!(valid_advisory_id(&a.id));
                prop_assert!(a.cves.iter().all(|c| valid_cve(c)));
                prop_assert!(!a.title.chars().any(char::is_control));
            }
            let _ = parse_needs_restarting(&refs);
            let _ = parse_versionlock(&refs);
            let _ = parse_lock_probe(&lines.join("\n"));
            let _ = lock_busy(&lines.join("\n"));
        }

        #[test]
        fn never_panics_on_fragment_shapes(text in fragment_output()) {
            if let Ok(map) = split_sections(&text) {
                let _ = parse_sections(&map, "5.14.0-362.el9.x86_64");
            }
        }

        // Extreme sizes: huge fields and many lines stay bounded and fail or pass cleanly.
        #[test]
        fn huge_fields_are_bounded(n in 1usize..4, len in 10_000usize..200_000) {
            let long = "x".repeat(len);
            let line = format!("{long}\t\t1.0\t1\tnoarch\t{long}\t1");
            let lines: Vec<&str> = std::iter::repeat_n(line.as_str(), n).collect();
            let (p, w) = parse_rpm_qa(&lines).unwrap();
            prop_assert!(p.is_empty());
            prop_assert_eq!(w.len(), n);
            prop_assert!(w.iter().all(|w| w.len() < 2 * MAX_FIELD));
            let (i, _) = parse_updateinfo_info(&[&"=".repeat(79), &long, &"=".repeat(79), "  Update ID: RLSA-2024:1", &format!("Description: {long}")]);
            prop_assert!(i.iter().all(|a| a.description.len() <= MAX_DESCRIPTION && a.title.len() <= MAX_FIELD));
        }
    }
}
