//! Hostile scan output (fixtures derived from a real recording of a fleet host): every case is a
//! clear error or is neutralised, nothing panics, and what the inventory knew is kept.

use chrono::{TimeZone, Utc};
use patchdesk_engine::clock::ManualClock;
use patchdesk_engine::error::HostError;
use patchdesk_engine::facts::parse_scan;
use patchdesk_engine::host::HostSpec;
use patchdesk_engine::inventory::{Inventory, ScanOutcome};
use std::sync::Arc;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/scan/").to_string() + name,
    )
    .unwrap()
}

#[test]
fn hostile_outputs_are_clear_errors_and_lose_nothing() {
    let t = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    let mut inv = Inventory::open_in_memory(Arc::new(ManualClock::new(t))).unwrap();
    inv.add_host(&HostSpec::new("pd-01", "127.77.0.1")).unwrap();
    let good = parse_scan(&fixture("pd-01.txt")).unwrap();
    let n = good.packages.as_ref().unwrap().len();
    inv.record_scan(
        "pd-01",
        t,
        t,
        &ScanOutcome::Ok {
            facts: Box::new(good),
            bytes_received: 1,
        },
        None,
    )
    .unwrap();

    let cases = [
        (
            "banner.txt",
            "does not start with the PatchDesk scan marker",
        ),
        (
            "not-posix-shell.txt",
            "does not start with the PatchDesk scan marker",
        ),
        ("future-format.txt", "unsupported scan output format \"7\""),
        ("truncated.txt", "the output ended early"),
        (
            "bad-package-line.txt",
            "expected 6 tab-separated fields, got 7",
        ),
        ("binary-garbage.txt", "the output ended early"),
    ];
    for (file, expected) in cases {
        let err = parse_scan(&fixture(file)).expect_err(file);
        // What a person sees: the engine's sentence with the next step.
        let shown = HostError::Parse(err.to_string()).to_string();
        assert!(shown.contains(expected), "{file}: {shown}");
        assert!(
            shown.contains("Nothing was stored from this scan"),
            "{file}: {shown}"
        );
        inv.record_scan(
            "pd-01",
            t,
            t,
            &ScanOutcome::Failed {
                code: "parse".into(),
                message: shown,
                bytes_received: 0,
            },
            None,
        )
        .unwrap();
        let d = inv.host_detail("pd-01").unwrap();
        assert_eq!(
            d.packages.len(),
            n,
            "{file}: the last good packages are kept"
        );
        assert_eq!(
            d.summary.last_scan.as_ref().unwrap().error_code.as_deref(),
            Some("parse")
        );
    }
}

#[test]
fn hostile_but_readable_output_is_neutralised() {
    let f = parse_scan(&fixture("hostile-but-readable.txt")).unwrap();
    assert!(
        !f.os_pretty.chars().any(|c| c.is_control()),
        "no terminal escapes survive: {:?}",
        f.os_pretty
    );
    let pkgs = f.packages.as_ref().unwrap();
    assert!(pkgs.iter().all(|p| p
        .name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))));
    assert!(!pkgs.iter().any(|p| p.version.contains('`')));
    let pending = f.pending.as_ref().unwrap();
    assert!(!pending
        .iter()
        .any(|u| u.name.contains('$') || u.installed_version.contains(';')));
    assert!(
        f.warnings.len() >= 4,
        "each dropped line is reported: {:?}",
        f.warnings
    );
}
