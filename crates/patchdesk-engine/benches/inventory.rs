//! Inventory query benchmark: "what's on host X" on 1,000 hosts x 3,000 packages (generated),
//! in a real SQLite file. Prints figures and the ratio to the 5 ms target.
//!
//!     cargo bench -p patchdesk-engine --bench inventory
//!
//! A figure, not a test: nothing here asserts on time.

use chrono::{TimeZone, Utc};
use patchdesk_engine::clock::{ManualClock, SharedClock};
use patchdesk_engine::facts::{HostFacts, Package, PendingUpdate};
use patchdesk_engine::host::HostSpec;
use patchdesk_engine::inventory::{Inventory, ScanOutcome};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOSTS: usize = 1_000;
const PACKAGES: usize = 3_000;

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let hosts = std::env::var("BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(HOSTS);
    let packages = std::env::var("BENCH_PACKAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PACKAGES);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(t0));
    let mut inv = Inventory::open(&path, clock).unwrap();

    let gen = Instant::now();
    let specs: Vec<HostSpec> = (0..hosts)
        .map(|i| {
            let mut s = HostSpec::new(
                format!("host-{i:04}"),
                format!("10.0.{}.{}", i / 250, i % 250 + 1),
            );
            s.groups = vec![format!("g{}", i % 10)];
            s
        })
        .collect();
    inv.add_hosts(&specs, false).unwrap();
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
        inv.record_scan(
            &s.name,
            t0,
            t0,
            &ScanOutcome::Ok {
                facts: Box::new(facts),
                bytes_received: 0,
            },
            None,
        )
        .unwrap();
    }
    let gen_time = gen.elapsed();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.path().join("bench.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    // Reopen: measure on a cold connection, like the app after start-up.
    drop(inv);
    let inv = Inventory::open(&path, Arc::new(ManualClock::new(t0))).unwrap();

    let mut detail = Vec::new();
    let mut rng = 12345u64;
    for _ in 0..300 {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let h = format!("host-{:04}", (rng >> 33) as usize % hosts);
        let t = Instant::now();
        let d = inv.host_detail(&h).unwrap();
        detail.push(t.elapsed());
        assert_eq!(d.packages.len(), packages);
    }
    let mut who = Vec::new();
    for i in 0..50 {
        let t = Instant::now();
        let hits = inv
            .hosts_with_package(&format!("pkg-{:05}", i * 37), Some("3.5"))
            .unwrap();
        who.push(t.elapsed());
        assert!(hits.len() <= hosts);
    }
    let mut overview = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let s = inv.host_summaries().unwrap();
        overview.push(t.elapsed());
        assert_eq!(s.len(), hosts);
    }

    println!("inventory: {hosts} hosts x {packages} packages = {} package rows; generated in {:.1}s; file {:.0} MiB", hosts * packages, gen_time.as_secs_f64(), size as f64 / 1048576.0);
    println!(
        "{:<42} {:>9} {:>9} {:>9} {:>10}",
        "query", "p50 ms", "p99 ms", "target", "p99/target"
    );
    let target = 5.0;
    let p99 = ms(percentile(&mut detail, 0.99));
    println!(
        "{:<42} {:>9.2} {:>9.2} {:>9.1} {:>10.2}",
        "what's on host X (host_detail, 3000 pkgs)",
        ms(percentile(&mut detail, 0.5)),
        p99,
        target,
        p99 / target
    );
    let p99w = ms(percentile(&mut who, 0.99));
    println!(
        "{:<42} {:>9.2} {:>9.2} {:>9} {:>10}",
        "which hosts have P below V",
        ms(percentile(&mut who, 0.5)),
        p99w,
        "-",
        "-"
    );
    let p99o = ms(percentile(&mut overview, 0.99));
    println!(
        "{:<42} {:>9.2} {:>9.2} {:>9} {:>10}",
        "fleet overview (host_summaries)",
        ms(percentile(&mut overview, 0.5)),
        p99o,
        "-",
        "-"
    );
}
