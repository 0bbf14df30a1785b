//! Many hosts sending endless output at once (issue #9 item 16): the total held across concurrent
//! scans stays within the output budget. Five real fleet hosts whose dpkg-query is replaced by
//! `yes` are scanned at once, twice: with an unlimited budget (what PatchDesk did before: every
//! host holds up to its 64 MiB cap) and with a 64 MiB budget. The process's live heap is measured
//! by a counting allocator installed in this test binary (its own process: nothing else runs in
//! it while the scans do).

mod common;

use common::Fleet;
use patchdesk_engine::host::{Auth, HostSpec};
use patchdesk_engine::inventory::Inventory;
use patchdesk_engine::scan::{scan_hosts, ScanOptions};
use patchdesk_engine::ssh::{OutputBudget, SshOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: usize = 1 << 20;
const HOSTS: [&str; 5] = ["pd-01", "pd-02", "pd-03", "pd-04", "pd-05"];

fn fleet_exec(fleet: &Fleet, host: &str, cmd: &str) {
    let out = Command::new("bash")
        .arg(&fleet.script)
        .args(["exec", host, "--", "sh", "-c", cmd])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Undo the endless dpkg-query even when the test fails.
struct Restore<'a>(&'a Fleet);
impl Drop for Restore<'_> {
    fn drop(&mut self) {
        for h in HOSTS {
            let _ = Command::new("bash")
                .arg(&self.0.script)
                .args(["exec", h, "--", "rm", "-f", "/usr/local/bin/dpkg-query"])
                .output();
        }
    }
}

/// Scan the five endless hosts at once; the peak live heap during the scan, and the results.
async fn scan_all(fleet: &Fleet, budget: OutputBudget) -> (usize, Vec<(String, String, u64)>) {
    let clock = patchdesk_engine::clock::from_env();
    let mut inv = Inventory::open_in_memory(clock).unwrap();
    for name in HOSTS {
        let h = fleet.host(name);
        let mut spec = HostSpec::new(name, &h.address);
        spec.user = h.user.clone();
        spec.auth = Auth::KeyFile {
            path: fleet.path("key"),
        };
        inv.add_host(&spec).unwrap();
    }
    let opts = ScanOptions {
        concurrency: 8,
        ssh: SshOptions {
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(120),
            known_hosts: vec![fleet.path("known_hosts")],
            budget,
            ..SshOptions::default()
        },
        ..ScanOptions::default()
    };
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let s = scan_hosts(
        &mut inv,
        &[],
        &opts,
        patchdesk_engine::progress::silent(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let results = s
        .hosts
        .iter()
        .map(|h| {
            (
                h.host.clone(),
                h.error_code.clone().unwrap_or_else(|| "ok".into()),
                h.bytes_received,
            )
        })
        .collect();
    (peak, results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_output_from_many_hosts_stays_within_the_total_budget() {
    // The only test of this binary: nothing else changes these hosts while it runs.
    let fleet = Fleet::get();
    let _restore = Restore(&fleet);
    for h in HOSTS {
        fleet_exec(
            &fleet,
            h,
            "printf '#!/bin/sh\\nexec yes pd-x\\n' > /usr/local/bin/dpkg-query && chmod 755 /usr/local/bin/dpkg-query",
        );
    }
    let (unbounded, r1) = scan_all(&fleet, OutputBudget::new(usize::MAX)).await;
    let (bounded, r2) = scan_all(&fleet, OutputBudget::new(64 * MIB)).await;
    eprintln!(
        "5 hosts sending endless output at once: peak heap {} MiB with no total budget, {} MiB with a 64 MiB budget",
        unbounded / MIB,
        bounded / MIB
    );
    eprintln!("no budget: {r1:?}\n64 MiB budget: {r2:?}");
    // Without a total budget every host holds up to its own 64 MiB cap at once.
    assert!(unbounded > 200 * MIB, "{} MiB", unbounded / MIB);
    // With one, the held output never passes it (plus the text of the one host being parsed,
    // and the runtime's own buffers).
    assert!(bounded < 64 * MIB + 80 * MIB, "{} MiB", bounded / MIB);
    for (host, code, bytes) in &r2 {
        assert!(
            code == "parse" || code == "output_budget",
            "{host}: every host fails with its cap or the budget: {code}"
        );
        assert!(*bytes > 0, "{host}: what arrived is recorded");
    }
    assert!(
        r2.iter().any(|(_, c, _)| c == "output_budget"),
        "some host hit the total budget: {r2:?}"
    );
}
