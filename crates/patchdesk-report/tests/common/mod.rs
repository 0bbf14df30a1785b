//! A real SQLite inventory filled through the engine's public API: hosts (odd names allowed by
//! the validator), scans with pending updates, advisories, exposures, a deployment with an
//! overridden guard. Shared by the render tests.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use patchdesk_engine::clock::ManualClock;
use patchdesk_engine::facts::{HostFacts, Package, PendingUpdate};
use patchdesk_engine::host::{Environment, HostSpec};
use patchdesk_engine::inventory::{Inventory, ScanOutcome};
use std::process::Command;
use std::sync::Arc;

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub struct Db {
    pub inv: Inventory,
    pub clock: ManualClock,
    pub dir: tempfile::TempDir,
}

pub fn db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t("2026-11-24T12:00:00Z"));
    let inv = Inventory::open(dir.path().join("inv.db"), Arc::new(clock.clone())).unwrap();
    Db { inv, clock, dir }
}

pub fn add_host(db: &mut Db, name: &str, env: Environment, groups: &[&str]) {
    let mut h = HostSpec::new(name, "127.0.0.1");
    h.environment = env;
    h.groups = groups.iter().map(|g| g.to_string()).collect();
    db.inv.add_host(&h).unwrap();
}

/// An advisory fixing `package` (a source package) in `fixed`.
pub fn advisory(
    db: &Db,
    cve: &str,
    package: &str,
    fixed: &str,
    score: f64,
    disclosed: &str,
    summary: &str,
) {
    db.inv
        .conn()
        .execute(
            "INSERT OR IGNORE INTO advisory_sources (location, format, last_ok_at, advisory_count) VALUES ('https://feeds.example/osv.json', 'osv', '2026-11-24 06:00:00+00:00', 0)",
            [],
        )
        .unwrap();
    db.inv
        .conn()
        .execute(
            "INSERT INTO advisories (source_id, advisory_id, cve, package, release, fixed_version, cvss_vector, cvss_version, cvss_score, vendor_severity, disclosed_at, summary)
             VALUES (1, ?1, ?2, ?3, '', ?4, 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', '3.1', ?5, 'unknown', ?6, ?7)",
            rusqlite::params![format!("DSA-{cve}"), cve, package, fixed, score, t(disclosed), summary],
        )
        .unwrap();
}

/// A good scan: `packages` as (name, installed, candidate or None).
pub fn scan(db: &mut Db, host: &str, packages: &[(String, String, Option<String>)]) {
    let at = patchdesk_engine::clock::Clock::now(&db.clock);
    let facts = HostFacts {
        os_id: "debian".into(),
        os_version: "12".into(),
        kernel: "6.1.0".into(),
        reboot_required: host.ends_with('2'),
        state_fingerprint: format!("{host}-{at}-{}", packages.len()),
        packages: Some(
            packages
                .iter()
                .map(|(n, v, _)| Package {
                    name: n.clone(),
                    version: v.clone(),
                    arch: "amd64".into(),
                    source: n.clone(),
                    source_version: v.clone(),
                    status: "ii".into(),
                })
                .collect(),
        ),
        pending: Some(
            packages
                .iter()
                .filter_map(|(n, v, c)| {
                    c.as_ref().map(|c| PendingUpdate {
                        name: n.clone(),
                        arch: "amd64".into(),
                        installed_version: v.clone(),
                        candidate_version: c.clone(),
                        origin: "bookworm-security".into(),
                        security: true,
                        held: false,
                    })
                })
                .collect(),
        ),
        ..Default::default()
    };
    db.inv
        .record_scan(
            host,
            at,
            at,
            &ScanOutcome::Ok {
                facts: Box::new(facts),
                bytes_received: 1,
            },
            None,
        )
        .unwrap();
    patchdesk_engine::classify::update_exposures(&mut db.inv, host, at).unwrap();
}

pub fn fail(db: &mut Db, host: &str) {
    let at = patchdesk_engine::clock::Clock::now(&db.clock);
    db.inv
        .record_scan(
            host,
            at,
            at,
            &ScanOutcome::Failed {
                code: "unreachable".into(),
                message: "cannot connect to 127.0.0.9:22: connection refused. Check the host is up and reachable, then scan again.".into(),
                bytes_received: 0,
            },
            None,
        )
        .unwrap();
}

pub fn pkg(n: &str, v: &str, c: Option<&str>) -> (String, String, Option<String>) {
    (n.into(), v.into(), c.map(str::to_string))
}

/// Run a tool (poppler-utils, qpdf); they are test dependencies installed by scripts/deps.sh.
pub fn tool(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| {
        panic!("{cmd} is needed by this test (apt-get install poppler-utils qpdf): {e}")
    });
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Page count from pdfinfo.
pub fn pages(pdf: &str) -> usize {
    let (ok, info) = tool("pdfinfo", &[pdf]);
    assert!(ok, "{info}");
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

/// The checks every rendered PDF must pass: qpdf --check, every font embedded, pdftoppm renders
/// every page. Returns the text (pdftotext -layout).
pub fn check_pdf(path: &std::path::Path) -> String {
    let p = path.to_str().unwrap();
    let (ok, out) = tool("qpdf", &["--check", p]);
    assert!(
        ok && out.contains("No syntax or stream encoding errors"),
        "qpdf --check: {out}"
    );
    let (ok, fonts) = tool("pdffonts", &[p]);
    assert!(ok, "{fonts}");
    let rows: Vec<&str> = fonts
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(!rows.is_empty(), "no fonts? {fonts}");
    for r in &rows {
        let cols: Vec<&str> = r.split_whitespace().collect();
        // name type [encoding] emb sub uni object ID: "yes yes yes" after the type columns.
        let n = cols.len();
        assert_eq!(cols[n - 5], "yes", "font not embedded: {r}");
    }
    let n = pages(p);
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("page");
    let (ok, out) = tool(
        "pdftoppm",
        &["-r", "20", "-png", p, prefix.to_str().unwrap()],
    );
    assert!(ok, "pdftoppm: {out}");
    let rendered = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(rendered, n, "pdftoppm rendered every page");
    let (ok, text) = tool("pdftotext", &["-layout", p, "-"]);
    assert!(ok, "{text}");
    text
}
