//! Security advisory feeds: OSV (Debian DSA/DLA, Ubuntu USN), the Debian Security Tracker JSON
//! and NVD-format CVE records. Owns parsing them (hostile input: errors, never panics), fetching
//! them over HTTP(S) with ETag / If-Modified-Since (ureq + rustls) or from a file, and storing them
//! in SQLite so an offline laptop keeps working on the last good copy. It does not classify: see
//! [`crate::classify`].
//!
//! CVSS vectors are parsed and scored with the `cvss` crate (v3.0/3.1 and v4.0); a score a feed
//! states is never trusted over the one computed from its vector.

use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::version::Version;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use std::str::FromStr;

/// Largest feed accepted (the whole Debian tracker JSON is ~70 MB).
pub const MAX_FEED_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedFormat {
    Osv,
    DebianTracker,
    Nvd,
}

impl FeedFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::Osv => "osv",
            FeedFormat::DebianTracker => "debian-tracker",
            FeedFormat::Nvd => "nvd",
        }
    }
}

/// One advisory row: a CVE fixed (or not yet) in a source package for a release.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdvisoryRecord {
    pub advisory_id: String,
    pub cve: String,
    pub package: String,
    pub release: String,
    pub fixed_version: Option<String>,
    pub cvss: Option<Cvss>,
    pub vendor_severity: String,
    pub disclosed_at: Option<DateTime<Utc>>,
    pub summary: String,
}

/// A CVSS vector with the base score computed from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cvss {
    pub vector: String,
    pub version: String,
    pub score: f64,
}

impl Cvss {
    /// Parse and score a CVSS v3.x or v4.0 vector with the `cvss` crate.
    pub fn parse(vector: &str) -> Option<Cvss> {
        let v = vector.trim();
        if v.len() > 512 {
            return None;
        }
        if v.starts_with("CVSS:4.0/") {
            let parsed = cvss::v4::Vector::from_str(v).ok()?;
            Some(Cvss {
                vector: v.to_string(),
                version: "4.0".into(),
                score: parsed.score().value(),
            })
        } else if v.starts_with("CVSS:3.") {
            let parsed = cvss::v3::Vector::from_str(v).ok()?;
            Some(Cvss {
                vector: v.to_string(),
                version: v[5..8].to_string(),
                score: parsed.base_score().value(),
            })
        } else {
            None
        }
    }
}

/// A CVSS record from an NVD-format feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CvssRecord {
    pub cve: String,
    pub cvss: Cvss,
    pub published: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParsedFeed {
    pub advisories: Vec<AdvisoryRecord>,
    pub cvss: Vec<CvssRecord>,
    /// Entries skipped, with the reason.
    pub warnings: Vec<String>,
}

fn feed_err(what: impl Into<String>) -> Error {
    Error::Invalid(what.into())
}

/// Vendor severities normalised: Debian urgency and Ubuntu priority words.
pub fn normalise_severity(s: &str) -> String {
    let s = s.trim().trim_end_matches('*').to_ascii_lowercase();
    match s.as_str() {
        "critical" => "critical",
        "high" | "important" => "high",
        "medium" | "moderate" => "medium",
        "low" => "low",
        "unimportant" | "negligible" | "end-of-life" => "negligible",
        _ => "unknown",
    }
    .to_string()
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
}

fn valid_cve(s: &str) -> bool {
    s.len() <= 64
        && !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn valid_package(s: &str) -> bool {
    s.len() >= 2
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

fn text(v: &Value, max: usize) -> String {
    v.as_str()
        .map(|s| s.chars().filter(|c| !c.is_control()).take(max).collect())
        .unwrap_or_default()
}

/// Recognise a feed by its shape.
pub fn detect_format(v: &Value) -> Option<FeedFormat> {
    match v {
        Value::Object(o) if o.contains_key("vulnerabilities") => Some(FeedFormat::Nvd),
        Value::Object(o) if o.contains_key("affected") || o.contains_key("schema_version") => {
            Some(FeedFormat::Osv)
        }
        Value::Array(a)
            if a.first()
                .is_some_and(|x| x.get("affected").is_some() || x.get("id").is_some()) =>
        {
            Some(FeedFormat::Osv)
        }
        Value::Object(o)
            if o.values().next().is_some_and(|p| {
                p.as_object()
                    .and_then(|m| m.values().next())
                    .is_some_and(|c| c.get("releases").is_some())
            }) =>
        {
            Some(FeedFormat::DebianTracker)
        }
        _ => None,
    }
}

/// Parse a feed's bytes (JSON) in any of the supported formats.
pub fn parse_feed(bytes: &[u8]) -> Result<(FeedFormat, ParsedFeed)> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        feed_err(format!(
            "the feed is not valid JSON (line {}, column {}: {e})",
            e.line(),
            e.column()
        ))
    })?;
    let format = detect_format(&v).ok_or_else(|| {
        feed_err("the feed is JSON but neither OSV, the Debian Security Tracker format, nor NVD CVE records")
    })?;
    let parsed = match format {
        FeedFormat::Osv => parse_osv(&v)?,
        FeedFormat::DebianTracker => parse_tracker(&v)?,
        FeedFormat::Nvd => parse_nvd(&v)?,
    };
    Ok((format, parsed))
}

/// OSV: one object or an array of them.
fn parse_osv(v: &Value) -> Result<ParsedFeed> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out = ParsedFeed::default();
    for item in items {
        let id = text(&item["id"], 64);
        if id.is_empty() {
            out.warnings.push("an OSV entry has no id; skipped".into());
            continue;
        }
        let mut cves: Vec<String> = item["aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(item["related"].as_array().into_iter().flatten())
            .map(|c| text(c, 64))
            .filter(|c| c.starts_with("CVE-") && valid_cve(c))
            .collect();
        if id.starts_with("CVE-") && valid_cve(&id) {
            cves.push(id.clone());
        }
        cves.sort();
        cves.dedup();
        if cves.is_empty() && valid_cve(&id) {
            cves.push(id.clone());
        }
        let mut cvss: Option<Cvss> = None;
        let mut vendor = String::from("unknown");
        for s in item["severity"].as_array().into_iter().flatten() {
            let kind = text(&s["type"], 32);
            let score = text(&s["score"], 512);
            match kind.as_str() {
                "CVSS_V3" | "CVSS_V4" => {
                    if let Some(c) = Cvss::parse(&score) {
                        // Prefer v4 when both are given.
                        if cvss
                            .as_ref()
                            .is_none_or(|old| c.version == "4.0" && old.version != "4.0")
                        {
                            cvss = Some(c);
                        }
                    }
                }
                "Ubuntu" | "Debian" => vendor = normalise_severity(&score),
                _ => {}
            }
        }
        if let Some(s) = item["database_specific"]["severity"].as_str() {
            if vendor == "unknown" {
                vendor = normalise_severity(s);
            }
        }
        let disclosed = item["published"].as_str().and_then(parse_time);
        let summary = text(&item["summary"], 300);
        for aff in item["affected"].as_array().into_iter().flatten() {
            let name = text(&aff["package"]["name"], 128);
            if !valid_package(&name) {
                out.warnings
                    .push(format!("{id}: invalid package name; skipped"));
                continue;
            }
            let eco = text(&aff["package"]["ecosystem"], 64).to_ascii_lowercase();
            // "Debian:12" -> "debian:12"; "Ubuntu:22.04:LTS" -> "ubuntu:22.04"; "Debian" -> "".
            let mut parts = eco.split(':');
            let release = match (parts.next(), parts.next()) {
                (Some(os), Some(ver)) if !ver.is_empty() => format!("{os}:{ver}"),
                _ => String::new(),
            };
            let mut affected_vendor = vendor.clone();
            for key in ["urgency", "priority"] {
                if let Some(s) = aff["ecosystem_specific"][key].as_str() {
                    affected_vendor = normalise_severity(s);
                }
            }
            let mut fixed: Option<String> = None;
            for r in aff["ranges"].as_array().into_iter().flatten() {
                for e in r["events"].as_array().into_iter().flatten() {
                    if let Some(f) = e["fixed"].as_str() {
                        if f.parse::<Version>().is_ok() {
                            fixed = Some(f.to_string());
                        } else {
                            out.warnings.push(format!(
                                "{id}: fixed version {f:?} is not a Debian version; skipped"
                            ));
                        }
                    }
                }
            }
            for cve in &cves {
                out.advisories.push(AdvisoryRecord {
                    advisory_id: id.clone(),
                    cve: cve.clone(),
                    package: name.clone(),
                    release: release.clone(),
                    fixed_version: fixed.clone(),
                    cvss: cvss.clone(),
                    vendor_severity: affected_vendor.clone(),
                    disclosed_at: disclosed,
                    summary: summary.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// Debian Security Tracker: `{package: {CVE: {description, releases: {codename: {status,
/// fixed_version, urgency}}}}}`.
fn parse_tracker(v: &Value) -> Result<ParsedFeed> {
    let Value::Object(pkgs) = v else {
        return Err(feed_err(
            "the tracker feed must be a JSON object of packages",
        ));
    };
    let mut out = ParsedFeed::default();
    for (pkg, cves) in pkgs {
        if !valid_package(pkg) {
            out.warnings.push(format!(
                "tracker: invalid package name {:?}; skipped",
                pkg.chars().take(40).collect::<String>()
            ));
            continue;
        }
        let Value::Object(cves) = cves else { continue };
        for (cve, info) in cves {
            if !valid_cve(cve) {
                continue;
            }
            let summary = text(&info["description"], 300);
            let Some(releases) = info["releases"].as_object() else {
                continue;
            };
            for (codename, r) in releases {
                if !codename
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    || codename.len() > 32
                {
                    continue;
                }
                let status = text(&r["status"], 32);
                let fixed = match r["fixed_version"].as_str() {
                    Some(f) if status == "resolved" && f.parse::<Version>().is_ok() => {
                        Some(f.to_string())
                    }
                    // "0" means "never affected" in the tracker.
                    _ if status == "resolved" => continue,
                    _ => None,
                };
                if fixed.as_deref() == Some("0") {
                    continue;
                }
                out.advisories.push(AdvisoryRecord {
                    advisory_id: cve.clone(),
                    cve: cve.clone(),
                    package: pkg.clone(),
                    release: format!("debian:{codename}"),
                    fixed_version: fixed,
                    cvss: None,
                    vendor_severity: normalise_severity(r["urgency"].as_str().unwrap_or("")),
                    disclosed_at: None,
                    summary: summary.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// NVD CVE API 2.0 format: `{"vulnerabilities": [{"cve": {id, published, metrics}}]}`.
fn parse_nvd(v: &Value) -> Result<ParsedFeed> {
    let Some(list) = v["vulnerabilities"].as_array() else {
        return Err(feed_err("the NVD feed has no \"vulnerabilities\" list"));
    };
    let mut out = ParsedFeed::default();
    for item in list {
        let cve = &item["cve"];
        let id = text(&cve["id"], 64);
        if !valid_cve(&id) {
            out.warnings
                .push("an NVD record has no valid id; skipped".into());
            continue;
        }
        let mut best: Option<Cvss> = None;
        for key in ["cvssMetricV40", "cvssMetricV31", "cvssMetricV30"] {
            if best.is_some() {
                break;
            }
            for m in cve["metrics"][key].as_array().into_iter().flatten() {
                if let Some(c) = m["cvssData"]["vectorString"].as_str().and_then(Cvss::parse) {
                    best = Some(c);
                    break;
                }
            }
        }
        match best {
            Some(cvss) => out.cvss.push(CvssRecord {
                cve: id,
                cvss,
                published: cve["published"].as_str().and_then(parse_time),
            }),
            None => out
                .warnings
                .push(format!("{id}: no CVSS v3/v4 vector; skipped")),
        }
    }
    Ok(out)
}

/// One feed's state, for `advisories status` and the UI.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SourceStatus {
    pub location: String,
    pub format: String,
    pub fetched_at: Option<DateTime<Utc>>,
    pub last_ok_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub advisory_count: i64,
    /// Seconds since the last good copy (how old what we work on is).
    pub age_secs: Option<i64>,
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SyncReport {
    pub location: String,
    pub format: Option<String>,
    /// `updated`, or `not-modified` (HTTP 304: the stored copy is current).
    pub outcome: String,
    pub advisories: i64,
    pub cvss_records: i64,
    pub warnings: Vec<String>,
}

enum Fetched {
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
    NotModified,
}

fn fetch(location: &str, etag: Option<&str>, last_modified: Option<&str>) -> Result<Fetched> {
    use std::io::Read;
    if !(location.starts_with("http://") || location.starts_with("https://")) {
        let meta = std::fs::metadata(location)
            .map_err(|e| Error::Io(format!("cannot read advisory feed {location}"), e))?;
        if meta.len() > MAX_FEED_BYTES {
            return Err(feed_err(format!(
                "{location} is larger than {MAX_FEED_BYTES} bytes"
            )));
        }
        let bytes = std::fs::read(location)
            .map_err(|e| Error::Io(format!("cannot read advisory feed {location}"), e))?;
        return Ok(Fetched::Body {
            bytes,
            etag: None,
            last_modified: None,
        });
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(120)))
        .http_status_as_error(false)
        .user_agent(concat!("PatchDesk/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut req = agent.get(location);
    if let Some(e) = etag {
        req = req.header("If-None-Match", e);
    }
    if let Some(m) = last_modified {
        req = req.header("If-Modified-Since", m);
    }
    let resp = req.call().map_err(|e| {
        feed_err(format!(
            "cannot fetch {location}: {e}. PatchDesk keeps working on the last good copy; check the network or the URL."
        ))
    })?;
    let status = resp.status().as_u16();
    if status == 304 {
        return Ok(Fetched::NotModified);
    }
    if status != 200 {
        return Err(feed_err(format!(
            "{location} answered HTTP {status}; the last good copy is kept. Check the URL."
        )));
    }
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect::<String>())
    };
    let (etag, last_modified) = (header("etag"), header("last-modified"));
    let mut bytes = Vec::new();
    resp.into_body()
        .into_reader()
        .take(MAX_FEED_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Io(format!("reading {location}"), e))?;
    if bytes.len() as u64 > MAX_FEED_BYTES {
        return Err(feed_err(format!(
            "{location} is larger than {MAX_FEED_BYTES} bytes"
        )));
    }
    Ok(Fetched::Body {
        bytes,
        etag,
        last_modified,
    })
}

/// Import a feed from a file or URL. A feed that cannot be fetched or parsed leaves the stored
/// copy untouched (the error is recorded with the source); a good one replaces that source's
/// rows in one transaction. Blocking: call it from a blocking context (`spawn_blocking`).
pub fn sync(inv: &mut Inventory, location: &str) -> Result<SyncReport> {
    let now = inv.clock().now();
    let prev: Option<(i64, Option<String>, Option<String>)> = inv
        .conn()
        .query_row(
            "SELECT id, etag, last_modified FROM advisory_sources WHERE location = ?1",
            [location],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let record_error = |inv: &Inventory, msg: &str| -> Result<()> {
        inv.conn().execute(
            "INSERT INTO advisory_sources (location, format, fetched_at, last_error) VALUES (?1, '?', ?2, ?3)
             ON CONFLICT(location) DO UPDATE SET fetched_at = excluded.fetched_at, last_error = excluded.last_error",
            params![location, now, msg],
        )?;
        Ok(())
    };
    let fetched = match fetch(
        location,
        prev.as_ref().and_then(|p| p.1.as_deref()),
        prev.as_ref().and_then(|p| p.2.as_deref()),
    ) {
        Ok(f) => f,
        Err(e) => {
            record_error(inv, &e.to_string())?;
            return Err(e);
        }
    };
    let (bytes, etag, last_modified) = match fetched {
        Fetched::NotModified => {
            inv.conn().execute(
                "UPDATE advisory_sources SET fetched_at = ?2, last_ok_at = ?2, last_error = NULL WHERE location = ?1",
                params![location, now],
            )?;
            let count: i64 = inv.conn().query_row(
                "SELECT advisory_count FROM advisory_sources WHERE location = ?1",
                [location],
                |r| r.get(0),
            )?;
            return Ok(SyncReport {
                location: location.to_string(),
                format: None,
                outcome: "not-modified".into(),
                advisories: count,
                cvss_records: 0,
                warnings: Vec::new(),
            });
        }
        Fetched::Body {
            bytes,
            etag,
            last_modified,
        } => (bytes, etag, last_modified),
    };
    let (format, feed) = match parse_feed(&bytes) {
        Ok(p) => p,
        Err(e) => {
            let msg = format!("{location}: {e}. The last good copy is kept.");
            record_error(inv, &msg)?;
            return Err(Error::Invalid(msg));
        }
    };
    let tx = inv.conn_mut().transaction()?;
    tx.execute(
        "INSERT INTO advisory_sources (location, format, etag, last_modified, fetched_at, last_ok_at, last_error, advisory_count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, NULL, ?6)
         ON CONFLICT(location) DO UPDATE SET format = excluded.format, etag = excluded.etag,
           last_modified = excluded.last_modified, fetched_at = excluded.fetched_at,
           last_ok_at = excluded.last_ok_at, last_error = NULL, advisory_count = excluded.advisory_count",
        params![location, format.as_str(), etag, last_modified, now, feed.advisories.len() as i64],
    )?;
    let source_id: i64 = tx.query_row(
        "SELECT id FROM advisory_sources WHERE location = ?1",
        [location],
        |r| r.get(0),
    )?;
    tx.execute("DELETE FROM advisories WHERE source_id = ?1", [source_id])?;
    tx.execute("DELETE FROM cvss_records WHERE source_id = ?1", [source_id])?;
    {
        let mut ins = tx.prepare_cached(
            "INSERT OR REPLACE INTO advisories (source_id, advisory_id, cve, package, release, fixed_version,
               cvss_vector, cvss_version, cvss_score, vendor_severity, disclosed_at, summary)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for a in &feed.advisories {
            ins.execute(params![
                source_id,
                a.advisory_id,
                a.cve,
                a.package,
                a.release,
                a.fixed_version,
                a.cvss.as_ref().map(|c| c.vector.clone()),
                a.cvss.as_ref().map(|c| c.version.clone()),
                a.cvss.as_ref().map(|c| c.score),
                a.vendor_severity,
                a.disclosed_at,
                a.summary
            ])?;
        }
        let mut ins = tx.prepare_cached(
            "INSERT OR REPLACE INTO cvss_records (cve, source_id, vector, version, score, published)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for c in &feed.cvss {
            ins.execute(params![
                c.cve,
                source_id,
                c.cvss.vector,
                c.cvss.version,
                c.cvss.score,
                c.published
            ])?;
        }
    }
    tx.commit()?;
    Ok(SyncReport {
        location: location.to_string(),
        format: Some(format.as_str().into()),
        outcome: "updated".into(),
        advisories: feed.advisories.len() as i64,
        cvss_records: feed.cvss.len() as i64,
        warnings: feed.warnings,
    })
}

/// Every feed with its age.
pub fn sources(inv: &Inventory) -> Result<Vec<SourceStatus>> {
    let now = inv.clock().now();
    let mut stmt = inv.conn().prepare(
        "SELECT location, format, fetched_at, last_ok_at, last_error, advisory_count FROM advisory_sources ORDER BY location",
    )?;
    let v = stmt
        .query_map([], |r| {
            let last_ok: Option<DateTime<Utc>> = r.get(3)?;
            Ok(SourceStatus {
                location: r.get(0)?,
                format: r.get(1)?,
                fetched_at: r.get(2)?,
                last_ok_at: last_ok,
                last_error: r.get(4)?,
                advisory_count: r.get(5)?,
                age_secs: last_ok.map(|t| (now - t).num_seconds()),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../tests/fixtures/advisories/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn cvss_scores_come_from_the_crate() {
        let v3 = Cvss::parse("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap();
        assert_eq!((v3.version.as_str(), v3.score), ("3.1", 9.8));
        let v4 =
            Cvss::parse("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N").unwrap();
        assert_eq!((v4.version.as_str(), v4.score), ("4.0", 9.3));
        assert!(Cvss::parse("CVSS:3.1/AV:X").is_none());
        assert!(Cvss::parse("9.8").is_none());
    }

    #[test]
    fn osv_feed() {
        let (f, p) = parse_feed(&fixture("osv-debian.json")).unwrap();
        assert_eq!(f, FeedFormat::Osv);
        let hello = p
            .advisories
            .iter()
            .find(|a| a.package == "pd-hello")
            .unwrap();
        assert_eq!(hello.cve, "CVE-2026-1001");
        assert_eq!(hello.fixed_version.as_deref(), Some("1.1-1"));
        assert_eq!(hello.release, "debian:12");
        assert_eq!(hello.cvss.as_ref().unwrap().score, 9.8);
        let foo = p
            .advisories
            .iter()
            .find(|a| a.package == "pd-libfoo")
            .unwrap();
        assert_eq!(foo.cvss.as_ref().unwrap().version, "4.0");
        assert_eq!(foo.vendor_severity, "high");
    }

    #[test]
    fn tracker_and_nvd_feeds() {
        let (f, p) = parse_feed(&fixture("debian-tracker.json")).unwrap();
        assert_eq!(f, FeedFormat::DebianTracker);
        let k = p
            .advisories
            .iter()
            .find(|a| a.package == "pd-kernel")
            .unwrap();
        assert_eq!(
            (
                k.release.as_str(),
                k.fixed_version.as_deref(),
                k.vendor_severity.as_str()
            ),
            ("debian:bookworm", Some("5.10-2"), "medium")
        );
        let open = p
            .advisories
            .iter()
            .find(|a| a.package == "pd-agent")
            .unwrap();
        assert_eq!(open.fixed_version, None, "open issues have no fix yet");
        let (f, p) = parse_feed(&fixture("nvd.json")).unwrap();
        assert_eq!(f, FeedFormat::Nvd);
        assert_eq!(p.cvss[0].cve, "CVE-2026-1003");
        assert_eq!(p.cvss[0].cvss.score, 5.3);
    }

    #[test]
    fn malformed_feeds_are_clear_errors() {
        let e = parse_feed(b"{\"vulnerabilities\": ")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid JSON") && e.contains("line 1"), "{e}");
        let e = parse_feed(b"[1, 2, 3]").unwrap_err().to_string();
        assert!(e.contains("neither OSV"), "{e}");
        let e = parse_feed(&fixture("malformed.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid JSON"), "{e}");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,500}") {
            let _ = parse_feed(s.as_bytes());
        }

        #[test]
        fn never_panics_on_json_shapes(pkg in "[a-z0-9.+-]{0,10}", ver in "\\PC{0,20}", eco in "\\PC{0,20}") {
            let doc = serde_json::json!([{"id": "DSA-1", "aliases": ["CVE-1"], "affected": [{"package": {"name": pkg, "ecosystem": eco},
                "ranges": [{"events": [{"introduced": "0"}, {"fixed": ver}]}]}], "severity": [{"type": "CVSS_V3", "score": ver}]}]);
            let _ = parse_feed(doc.to_string().as_bytes());
        }
    }
}
