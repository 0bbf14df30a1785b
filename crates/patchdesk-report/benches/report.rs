//! Report benchmark: the fleet report of 1,000 hosts x 3,000 packages (generated like the
//! inventory benchmark, in a real SQLite file, with advisories so that every host has critical,
//! high and moderate patches, overdue ones among them). Prints the time to build the report's
//! data (one read transaction), to render the PDF and the CSV, and the PDF's size.
//!
//!     cargo bench -p patchdesk-report --bench report
//!
//! A figure, not a test: nothing here asserts on time. BENCH_HOSTS / BENCH_PACKAGES shrink it.

use chrono::{Duration, TimeZone, Utc};
use patchdesk_engine::clock::{ManualClock, SharedClock};
use patchdesk_engine::facts::{HostFacts, Package, PendingUpdate};
use patchdesk_engine::host::HostSpec;
use patchdesk_engine::inventory::{Inventory, ScanOutcome};
use patchdesk_engine::report::{weekly_report, Paper, Scope};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let hosts: usize = std::env::var("BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let packages: usize = std::env::var("BENCH_PACKAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
    let clock = ManualClock::new(t0);
    let shared: SharedClock = Arc::new(clock.clone());
    let mut inv = Inventory::open(&path, shared).unwrap();

    let gen = Instant::now();
    let specs: Vec<HostSpec> = (0..hosts)
        .map(|i| {
            let mut s = HostSpec::new(
                format!("host-{i:04}"),
                format!("10.0.{}.{}", i / 250, i % 250 + 1),
            );
            s.groups = vec![format!("g{}", i % 10)];
            if i % 5 == 0 {
                s.environment = patchdesk_engine::host::Environment::NonProd;
            }
            s
        })
        .collect();
    inv.add_hosts(&specs, false).unwrap();
    // Advisories for the source packages of the 20 pending updates every host has: a third
    // critical and overdue (disclosed a month ago), a third high, a third moderate.
    inv.conn().execute(
        "INSERT INTO advisory_sources (location, format, last_ok_at, advisory_count) VALUES ('bench-osv.json', 'osv', ?1, 20)",
        [t0 - Duration::hours(6)],
    ).unwrap();
    for p in 0..20usize {
        let (score, vector, disclosed) = match p % 3 {
            0 => (
                9.8,
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                t0 - Duration::days(30),
            ),
            1 => (
                7.5,
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
                t0 - Duration::days(3),
            ),
            _ => (
                5.3,
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N",
                t0 - Duration::days(2),
            ),
        };
        inv.conn().execute(
            "INSERT INTO advisories (source_id, advisory_id, cve, package, release, fixed_version, cvss_vector, cvss_version, cvss_score, vendor_severity, disclosed_at, summary)
             VALUES (1, ?1, ?2, ?3, '', '1.1-1', ?4, '3.1', ?5, 'unknown', ?6, 'bench')",
            rusqlite::params![format!("DSA-{p}"), format!("CVE-2026-{:04}", 5000 + p), format!("src-{:05}", p * 7 / 3), vector, score, disclosed],
        ).unwrap();
    }
    for (i, s) in specs.iter().enumerate() {
        let pkgs: Vec<Package> = (0..packages)
            .map(|p| Package {
                name: format!("pkg-{p:05}"),
                version: format!("{}.{}-{}", p % 7, (p + i) % 13, 1 + i % 3),
                arch: if p % 5 == 0 {
                    "all".into()
                } else {
                    "amd64".into()
                },
                source: format!("src-{:05}", p / 3),
                source_version: format!("{}.{}", p % 7, (p + i) % 13),
                status: "ii".into(),
            })
            .collect();
        let pending: Vec<PendingUpdate> = (0..20)
            .map(|p| PendingUpdate {
                name: format!("pkg-{:05}", p * 7),
                arch: "amd64".into(),
                installed_version: "1.0-1".into(),
                candidate_version: "1.1-1".into(),
                origin: "bookworm-security".into(),
                security: p % 2 == 0,
                held: false,
            })
            .collect();
        let facts = HostFacts {
            os_id: "debian".into(),
            os_version: "12".into(),
            kernel: "6.1.0-28-amd64".into(),
            state_fingerprint: format!("{i:032x}"),
            packages: Some(pkgs),
            pending: Some(pending),
            ..Default::default()
        };
        let outcome = if i % 97 == 13 {
            ScanOutcome::Failed {
                code: "unreachable".into(),
                message: "connection refused".into(),
                bytes_received: 0,
            }
        } else {
            ScanOutcome::Ok {
                facts: Box::new(facts),
                bytes_received: 0,
            }
        };
        inv.record_scan(&s.name, t0, t0, &outcome, None).unwrap();
    }
    patchdesk_engine::classify::update_all_exposures(&mut inv).unwrap();
    let gen_time = gen.elapsed();
    drop(inv);
    // The report is made two days later, on a cold connection (like the app after start-up).
    clock.set(t0 + Duration::days(2));
    let inv = Inventory::open(&path, Arc::new(clock.clone())).unwrap();

    let mut build = Vec::new();
    let mut report = None;
    for _ in 0..3 {
        let t = Instant::now();
        let r = weekly_report(&inv, &Scope::Fleet, None).unwrap();
        build.push(t.elapsed());
        report = Some(r);
    }
    let r = report.unwrap();
    let t = Instant::now();
    let pdf = patchdesk_report::pdf(&r, Paper::A4).unwrap();
    let pdf_time = t.elapsed();
    let t = Instant::now();
    let csv = patchdesk_report::csv_tables(&r).unwrap();
    let csv_time = t.elapsed();
    let csv_bytes: usize = csv.iter().map(|(_, b)| b.len()).sum();
    let group_t = Instant::now();
    let g = weekly_report(&inv, &Scope::Group("g3".into()), None).unwrap();
    let group_time = group_t.elapsed();
    let pages = pdf
        .windows(b"/Type /Page\n".len())
        .filter(|w| *w == b"/Type /Page\n")
        .count();
    std::fs::write(dir.path().join("fleet.pdf"), &pdf).unwrap();

    println!("fleet: {hosts} hosts x {packages} packages, {} open patches ({} overdue) in {} rows; generated in {:.1}s",
        r.summary.compliance.open_critical + r.summary.compliance.open_high + r.summary.compliance.open_moderate + r.summary.compliance.open_low,
        r.summary.compliance.overdue, r.overdue.len() + r.due_soon.len(), gen_time.as_secs_f64());
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!("{:<44} {:>10}", "step", "ms");
    println!(
        "{:<44} {:>10.0}",
        "build the fleet report data (first, cold)",
        ms(build[0])
    );
    println!(
        "{:<44} {:>10.0}",
        "build the fleet report data (warm, best of 2)",
        ms(build[1].min(build[2]))
    );
    println!(
        "{:<44} {:>10.0}",
        "build one group's report (100 hosts)",
        ms(group_time)
    );
    println!(
        "{:<44} {:>10.0}",
        "render the PDF (A4, PDF/A-2a)",
        ms(pdf_time)
    );
    println!("{:<44} {:>10.0}", "write the CSV tables", ms(csv_time));
    println!(
        "PDF: {:.0} KiB{}; CSV: {:.0} KiB in {} files; group g3: {} hosts",
        pdf.len() as f64 / 1024.0,
        if pages > 0 {
            format!(", {pages} pages")
        } else {
            String::new()
        },
        csv_bytes as f64 / 1024.0,
        csv.len(),
        g.summary.hosts.total
    );
}
