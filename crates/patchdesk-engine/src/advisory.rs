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
use std::str::FromStr;

/// Largest feed accepted (the whole Debian tracker JSON is ~70 MB). Parsing holds the feed's bytes
/// plus the records kept from it (typed and streamed, never a JSON tree of the whole document):
/// about 1.2x the feed at most (measured by `tests/bounds.rs`).
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
                version: v.get(5..8).unwrap_or("3.x").to_string(),
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

/// At most `max` characters of a feed string, without control or bidi characters (only the
/// characters kept are looked at: a 2 MB description costs nothing).
fn text(v: &Str<'_>, max: usize) -> String {
    v.0.as_deref()
        .map(|s| {
            s.chars()
                .filter(|c| !crate::text::is_unsafe(*c))
                .take(max)
                .collect()
        })
        .unwrap_or_default()
}

/// A feed date PatchDesk believes (inside [`crate::facts::SANE_YEARS`]); anything else is dropped
/// with a warning, so no deadline is ever computed from the end of the calendar.
fn feed_date(
    id: &str,
    v: &Str<'_>,
    warnings: &mut crate::facts::Warnings,
) -> Option<DateTime<Utc>> {
    let raw = v.0.as_deref()?;
    let parsed = parse_time(raw).and_then(crate::facts::sane_date);
    if parsed.is_none() {
        warnings.push(|| {
            format!(
                "{id}: date {:?} is not a date between {} and {}; ignored",
                crate::text::clip(raw, 40),
                crate::facts::SANE_YEARS.start(),
                crate::facts::SANE_YEARS.end()
            )
        });
    }
    parsed
}

// ---------------------------------------------------------------------------------------------
// Typed, streaming parsing. A feed (up to MAX_FEED_BYTES) is never turned into a
// `serde_json::Value` (several times its size): the document is read twice with serde visitors,
// once to recognise its shape (nothing kept) and once into small typed structs, one entry at a
// time, keeping only the fields PatchDesk uses (strings are borrowed from the document when they
// have no escapes). Memory is the document plus the records kept. Every field is lenient: a value
// of the wrong JSON type counts as absent, as the former `Value` lookups did.

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// Implements the visitor methods for every JSON value that is not the expected kind: the value
/// is consumed and the default returned.
macro_rules! ignore_other_json {
    ($ret:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
            Ok($ret)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
            Ok($ret)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
            Ok($ret)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
            Ok($ret)
        }
        fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok($ret)
        }
        fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok($ret)
        }
    };
}

macro_rules! ignore_str {
    ($ret:expr) => {
        fn visit_str<E: serde::de::Error>(self, _: &str) -> std::result::Result<Self::Value, E> {
            Ok($ret)
        }
    };
}

macro_rules! ignore_seq {
    ($ret:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($ret)
        }
    };
}

macro_rules! ignore_map {
    ($ret:expr) => {
        fn visit_map<A: MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($ret)
        }
    };
}

/// A string, borrowed when possible; any other JSON value is `None`.
#[derive(Debug, Default)]
struct Str<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(Str(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(Str(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E: serde::de::Error>(
                self,
                v: String,
            ) -> std::result::Result<Self::Value, E> {
                Ok(Str(Some(Cow::Owned(v))))
            }
            ignore_other_json!(Str(None));
            ignore_seq!(Str(None));
            ignore_map!(Str(None));
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A list; any other JSON value is an empty list.
#[derive(Debug)]
struct List<T>(Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                Vec::<T>::deserialize(SeqAccessDeserializer::new(seq)).map(List)
            }
            ignore_other_json!(List(Vec::new()));
            ignore_str!(List(Vec::new()));
            ignore_map!(List(Vec::new()));
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An object's entries in document order; any other JSON value is no entries.
#[derive(Debug)]
struct Pairs<'a, T>(Vec<(Cow<'a, str>, T)>);

impl<T> Default for Pairs<'_, T> {
    fn default() -> Self {
        Pairs(Vec::new())
    }
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for Pairs<'a, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a, T>(std::marker::PhantomData<(&'a (), T)>);
        impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for V<'a, T> {
            type Value = Pairs<'a, T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Str<'a>, T>()? {
                    out.push((k.0.unwrap_or_default(), v));
                }
                Ok(Pairs(out))
            }
            ignore_other_json!(Pairs(Vec::new()));
            ignore_str!(Pairs(Vec::new()));
            ignore_seq!(Pairs(Vec::new()));
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An object read into `T`; any other JSON value is `T::default()`.
#[derive(Debug, Default)]
struct Obj<T>(T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Obj)
            }
            ignore_other_json!(Obj(T::default()));
            ignore_str!(Obj(T::default()));
            ignore_seq!(Obj(T::default()));
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

// OSV

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OsvItem<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    aliases: List<Str<'a>>,
    #[serde(borrow)]
    related: List<Str<'a>>,
    #[serde(borrow)]
    severity: List<Obj<OsvSeverity<'a>>>,
    #[serde(borrow)]
    database_specific: Obj<OsvDbSpecific<'a>>,
    #[serde(borrow)]
    published: Str<'a>,
    #[serde(borrow)]
    summary: Str<'a>,
    #[serde(borrow)]
    affected: List<Obj<OsvAffected<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OsvSeverity<'a> {
    #[serde(borrow, rename = "type")]
    kind: Str<'a>,
    #[serde(borrow)]
    score: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OsvDbSpecific<'a> {
    #[serde(borrow)]
    severity: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OsvAffected<'a> {
    #[serde(borrow)]
    package: Obj<OsvPackage<'a>>,
    #[serde(borrow)]
    ecosystem_specific: Obj<OsvEcosystemSpecific<'a>>,
    #[serde(borrow)]
    ranges: List<Obj<OsvRange<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OsvPackage<'a> {
    #[serde(borrow)]
    name: Str<'a>,
    #[serde(borrow)]
    ecosystem: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OsvEcosystemSpecific<'a> {
    #[serde(borrow)]
    urgency: Str<'a>,
    #[serde(borrow)]
    priority: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OsvRange<'a> {
    #[serde(borrow)]
    events: List<Obj<OsvEvent<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OsvEvent<'a> {
    #[serde(borrow)]
    fixed: Str<'a>,
}

// NVD

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NvdItem<'a> {
    #[serde(borrow)]
    cve: Obj<NvdCve<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NvdCve<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    published: Str<'a>,
    #[serde(borrow)]
    metrics: Obj<NvdMetrics<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NvdMetrics<'a> {
    #[serde(borrow)]
    cvss_metric_v40: List<Obj<NvdMetric<'a>>>,
    #[serde(borrow)]
    cvss_metric_v31: List<Obj<NvdMetric<'a>>>,
    #[serde(borrow)]
    cvss_metric_v30: List<Obj<NvdMetric<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NvdMetric<'a> {
    #[serde(borrow)]
    cvss_data: Obj<NvdCvssData<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NvdCvssData<'a> {
    #[serde(borrow)]
    vector_string: Str<'a>,
}

// Debian Security Tracker

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TrackerCve<'a> {
    #[serde(borrow)]
    description: Str<'a>,
    #[serde(borrow)]
    releases: Pairs<'a, Obj<TrackerRelease<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TrackerRelease<'a> {
    #[serde(borrow)]
    status: Str<'a>,
    #[serde(borrow)]
    fixed_version: Str<'a>,
    #[serde(borrow)]
    urgency: Str<'a>,
}

/// Pass 1: recognise a feed by its shape, keeping nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Nvd,
    OsvOne,
    OsvList,
    Tracker,
}

/// Does this object have one of these keys? (Everything is consumed.)
struct HasKey(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for HasKey {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HasKey {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<bool, A::Error> {
        let mut found = false;
        while let Some(k) = map.next_key::<Cow<'de, str>>()? {
            found |= self.0.contains(&k.as_ref());
            map.next_value::<IgnoredAny>()?;
        }
        Ok(found)
    }
    ignore_other_json!(false);
    ignore_str!(false);
    ignore_seq!(false);
}

/// Is this the first value of a tracker document: an object whose first value has `releases`?
struct TrackerProbe;

impl<'de> DeserializeSeed<'de> for TrackerProbe {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TrackerProbe {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<bool, A::Error> {
        let mut first = None;
        while map.next_key::<IgnoredAny>()?.is_some() {
            match first {
                None => first = Some(map.next_value_seed(HasKey(&["releases"]))?),
                Some(_) => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(first.unwrap_or(false))
    }
    ignore_other_json!(false);
    ignore_str!(false);
    ignore_seq!(false);
}

struct ShapeProbe;

impl<'de> Visitor<'de> for ShapeProbe {
    type Value = Option<Shape>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON document")
    }
    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let first = seq.next_element_seed(HasKey(&["affected", "id"]))?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok((first == Some(true)).then_some(Shape::OsvList))
    }
    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let (mut nvd, mut osv, mut tracker) = (false, false, None);
        while let Some(k) = map.next_key::<Cow<'de, str>>()? {
            nvd |= k == "vulnerabilities";
            osv |= k == "affected" || k == "schema_version";
            match tracker {
                None => tracker = Some(map.next_value_seed(TrackerProbe)?),
                Some(_) => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(if nvd {
            Some(Shape::Nvd)
        } else if osv {
            Some(Shape::OsvOne)
        } else if tracker == Some(true) {
            Some(Shape::Tracker)
        } else {
            None
        })
    }
    ignore_other_json!(None);
    ignore_str!(None);
}

/// Where parsed entries go (warnings capped like a scan's).
#[derive(Default)]
struct Sink {
    advisories: Vec<AdvisoryRecord>,
    cvss: Vec<CvssRecord>,
    warnings: crate::facts::Warnings,
    /// The NVD document had its `vulnerabilities` list.
    saw_list: bool,
}

impl Sink {
    fn finish(self) -> ParsedFeed {
        ParsedFeed {
            advisories: self.advisories,
            cvss: self.cvss,
            warnings: self.warnings.finish(),
        }
    }

    fn osv(&mut self, item: OsvItem<'_>) {
        let id = text(&item.id, 64);
        if id.is_empty() {
            self.warnings
                .push(|| "an OSV entry has no id; skipped".into());
            return;
        }
        let mut cves: Vec<String> = item
            .aliases
            .0
            .iter()
            .chain(item.related.0.iter())
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
        for Obj(sev) in &item.severity.0 {
            let kind = text(&sev.kind, 32);
            let score = text(&sev.score, 512);
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
        if let Some(s) = item.database_specific.0.severity.0.as_deref() {
            if vendor == "unknown" {
                vendor = normalise_severity(s);
            }
        }
        let disclosed = feed_date(&id, &item.published, &mut self.warnings);
        let summary = text(&item.summary, 300);
        for Obj(aff) in &item.affected.0 {
            let name = text(&aff.package.0.name, 128);
            if !valid_package(&name) {
                self.warnings
                    .push(|| format!("{id}: invalid package name; skipped"));
                continue;
            }
            let eco = text(&aff.package.0.ecosystem, 64).to_ascii_lowercase();
            // "Debian:12" -> "debian:12"; "Ubuntu:22.04:LTS" -> "ubuntu:22.04"; "Debian" -> "".
            let mut parts = eco.split(':');
            let release = match (parts.next(), parts.next()) {
                (Some(os), Some(ver)) if !ver.is_empty() => format!("{os}:{ver}"),
                _ => String::new(),
            };
            let mut affected_vendor = vendor.clone();
            for s in [
                &aff.ecosystem_specific.0.urgency,
                &aff.ecosystem_specific.0.priority,
            ] {
                if let Some(s) = s.0.as_deref() {
                    affected_vendor = normalise_severity(s);
                }
            }
            let mut fixed: Option<String> = None;
            for Obj(r) in &aff.ranges.0 {
                for Obj(e) in &r.events.0 {
                    if let Some(f) = e.fixed.0.as_deref() {
                        match f.parse::<Version>() {
                            Ok(_) => fixed = Some(f.to_string()),
                            Err(err) => self
                                .warnings
                                .push(|| format!("{id}: fixed version skipped: {err}")),
                        }
                    }
                }
            }
            for cve in &cves {
                self.advisories.push(AdvisoryRecord {
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

    fn nvd(&mut self, item: NvdItem<'_>) {
        let cve = &item.cve.0;
        let id = text(&cve.id, 64);
        if !valid_cve(&id) {
            self.warnings
                .push(|| "an NVD record has no valid id; skipped".into());
            return;
        }
        let m = &cve.metrics.0;
        let best = [&m.cvss_metric_v40, &m.cvss_metric_v31, &m.cvss_metric_v30]
            .into_iter()
            .find_map(|list| {
                list.0.iter().find_map(|Obj(x)| {
                    x.cvss_data
                        .0
                        .vector_string
                        .0
                        .as_deref()
                        .and_then(Cvss::parse)
                })
            });
        match best {
            Some(cvss) => {
                let published = feed_date(&id, &cve.published, &mut self.warnings);
                self.cvss.push(CvssRecord {
                    cve: id,
                    cvss,
                    published,
                })
            }
            None => self
                .warnings
                .push(|| format!("{id}: no CVSS v3/v4 vector; skipped")),
        }
    }

    fn tracker(&mut self, pkg: &str, cves: Pairs<'_, Obj<TrackerCve<'_>>>) {
        if !valid_package(pkg) {
            self.warnings.push(|| {
                format!(
                    "tracker: invalid package name {:?}; skipped",
                    crate::text::clip(pkg, 40)
                )
            });
            return;
        }
        for (cve, Obj(info)) in cves.0 {
            if !valid_cve(&cve) {
                continue;
            }
            let summary = text(&info.description, 300);
            for (codename, Obj(r)) in info.releases.0 {
                if !codename
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    || codename.len() > 32
                {
                    continue;
                }
                let status = text(&r.status, 32);
                let fixed = match r.fixed_version.0.as_deref() {
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
                self.advisories.push(AdvisoryRecord {
                    advisory_id: cve.to_string(),
                    cve: cve.to_string(),
                    package: pkg.to_string(),
                    release: format!("debian:{codename}"),
                    fixed_version: fixed,
                    cvss: None,
                    vendor_severity: normalise_severity(r.urgency.0.as_deref().unwrap_or("")),
                    disclosed_at: None,
                    summary: summary.clone(),
                });
            }
        }
    }
}

/// Pass 2: the document, entry by entry, into the sink.
struct Parse<'s> {
    shape: Shape,
    sink: &'s mut Sink,
}

impl<'de> Visitor<'de> for Parse<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an advisory feed")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        // An OSV list, or NVD's `vulnerabilities`.
        match self.shape {
            Shape::Nvd => {
                self.sink.saw_list = true;
                while let Some(Obj(item)) = seq.next_element::<Obj<NvdItem<'de>>>()? {
                    self.sink.nvd(item);
                }
            }
            _ => {
                while let Some(Obj(item)) = seq.next_element::<Obj<OsvItem<'de>>>()? {
                    self.sink.osv(item);
                }
            }
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        match self.shape {
            Shape::OsvOne => {
                let item = OsvItem::deserialize(MapAccessDeserializer::new(map))?;
                self.sink.osv(item);
            }
            Shape::Nvd => {
                while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                    if k == "vulnerabilities" {
                        map.next_value_seed(Parse {
                            shape: Shape::Nvd,
                            sink: &mut *self.sink,
                        })?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Shape::Tracker | Shape::OsvList => {
                while let Some(pkg) = map.next_key::<Cow<'de, str>>()? {
                    let cves = map.next_value::<Pairs<'de, Obj<TrackerCve<'de>>>>()?;
                    self.sink.tracker(&pkg, cves);
                }
            }
        }
        Ok(())
    }
    ignore_other_json!(());
    ignore_str!(());
}

impl<'de> DeserializeSeed<'de> for Parse<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

fn json_err(e: serde_json::Error) -> Error {
    feed_err(format!(
        "the feed is not valid JSON (line {}, column {}: {e})",
        e.line(),
        e.column()
    ))
}

/// Parse a feed's bytes (JSON) in any of the supported formats. Memory: the bytes plus the
/// records kept (see the module's parsing notes); at most [`MAX_FEED_BYTES`] are accepted.
pub fn parse_feed(bytes: &[u8]) -> Result<(FeedFormat, ParsedFeed)> {
    if bytes.len() as u64 > MAX_FEED_BYTES {
        return Err(feed_err(format!(
            "the feed is larger than {} MiB",
            MAX_FEED_BYTES / (1024 * 1024)
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let shape = de.deserialize_any(ShapeProbe).map_err(json_err)?;
    de.end().map_err(json_err)?;
    let shape = shape.ok_or_else(|| {
        feed_err("the feed is JSON but neither OSV, the Debian Security Tracker format, nor NVD CVE records")
    })?;
    let mut sink = Sink::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.deserialize_any(Parse {
        shape,
        sink: &mut sink,
    })
    .map_err(json_err)?;
    if shape == Shape::Nvd && !sink.saw_list {
        return Err(feed_err("the NVD feed has no \"vulnerabilities\" list"));
    }
    let format = match shape {
        Shape::Nvd => FeedFormat::Nvd,
        Shape::OsvOne | Shape::OsvList => FeedFormat::Osv,
        Shape::Tracker => FeedFormat::DebianTracker,
    };
    Ok((format, sink.finish()))
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
        let io = |e| Error::Io(format!("cannot read advisory feed {location}"), e);
        let mut bytes = Vec::new();
        std::fs::File::open(location)
            .map_err(io)?
            .take(MAX_FEED_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_FEED_BYTES {
            return Err(feed_err(format!(
                "{location} is larger than {} MiB (the most PatchDesk reads)",
                MAX_FEED_BYTES / (1024 * 1024)
            )));
        }
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
            "{location} is larger than {} MiB (the most PatchDesk reads)",
            MAX_FEED_BYTES / (1024 * 1024)
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

    #[test]
    fn dates_outside_a_sane_range_are_refused_at_parse_time() {
        // Issue #9 item 1: this date was stored, and every later classification crashed.
        let doc = br#"[{"id":"DSA-1","aliases":["CVE-2026-1001"],"published":"+262142-12-31T00:00:00",
            "affected":[{"package":{"name":"pd-hello","ecosystem":"Debian:12"},"ranges":[{"events":[{"fixed":"1.1-1"}]}]}]}]"#;
        let (_, p) = parse_feed(doc).unwrap();
        assert_eq!(p.advisories.len(), 1, "the advisory itself is kept");
        assert_eq!(p.advisories[0].disclosed_at, None);
        assert!(
            p.warnings[0].contains("+262142-12-31") && p.warnings[0].contains("1970"),
            "{:?}",
            p.warnings
        );
        let doc = br#"{"vulnerabilities":[{"cve":{"id":"CVE-1","published":"-262143-01-01T00:00:00Z",
            "metrics":{"cvssMetricV31":[{"cvssData":{"vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}]}}}]}"#;
        let (_, p) = parse_feed(doc).unwrap();
        assert_eq!((p.cvss.len(), p.cvss[0].published), (1, None));
        let ok = br#"[{"id":"DSA-1","published":"2026-11-20T09:00:00Z","affected":[]}]"#;
        assert!(parse_feed(ok).unwrap().1.warnings.is_empty());
    }

    #[test]
    fn wrong_json_types_count_as_absent() {
        let doc = br#"[{"id":"DSA-1","aliases":"CVE-2026-1","severity":{"x":1},"published":5,
            "affected":[{"package":["pd-hello"]},{"package":{"name":"pd-hello","ecosystem":7},"ranges":[{"events":[{"fixed":1.5}]}]}]}]"#;
        let (f, p) = parse_feed(doc).unwrap();
        assert_eq!(f, FeedFormat::Osv);
        assert_eq!(p.advisories.len(), 1, "{p:?}");
        assert_eq!(p.advisories[0].fixed_version, None);
        let e = parse_feed(br#"{"vulnerabilities": 5}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no \"vulnerabilities\" list"), "{e}");
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
