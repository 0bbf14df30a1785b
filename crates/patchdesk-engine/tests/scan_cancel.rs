//! A scan can be cancelled while a host hangs, and a host that never answers times out with a
//! clear error while the others complete. The "hung host" is a real TCP listener that accepts and
//! then says nothing (as a host with a wedged sshd does).

use chrono::Utc;
use patchdesk_engine::clock::SystemClock;
use patchdesk_engine::host::HostSpec;
use patchdesk_engine::inventory::Inventory;
use patchdesk_engine::progress;
use patchdesk_engine::scan::{scan_hosts, ScanOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

async fn silent_listener() -> (u16, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let h = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s); // keep it open, send nothing
        }
    });
    (port, h)
}

fn inv_with(hosts: &[(&str, u16)]) -> Inventory {
    let mut inv = Inventory::open_in_memory(Arc::new(SystemClock)).unwrap();
    for (name, port) in hosts {
        let mut s = HostSpec::new(*name, "127.0.0.1");
        s.port = *port;
        inv.add_host(&s).unwrap();
    }
    inv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_hung_scan_promptly() {
    let (port, _h) = silent_listener().await;
    let mut inv = inv_with(&[("hung", port)]);
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.cancel();
    });
    let opts = ScanOptions {
        ssh: patchdesk_engine::ssh::SshOptions {
            connect_timeout: Duration::from_secs(60),
            ..Default::default()
        },
        ..ScanOptions::default()
    };
    let t = Instant::now();
    let s = scan_hosts(&mut inv, &[], &opts, progress::silent(), cancel)
        .await
        .unwrap();
    assert!(s.cancelled);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "cancel took {:?}",
        t.elapsed()
    );
    assert!(
        s.hosts.is_empty(),
        "nothing half-done is reported as a result"
    );
    assert!(
        inv.scan_history("hung", 10).unwrap().is_empty(),
        "nothing was stored for the cancelled host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_host_times_out_with_a_clear_error() {
    let (port, _h) = silent_listener().await;
    // A closed port next to it: refused at once.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut inv = inv_with(&[("hung", port), ("closed", closed)]);
    let opts = ScanOptions {
        ssh: patchdesk_engine::ssh::SshOptions {
            connect_timeout: Duration::from_millis(800),
            ..Default::default()
        },
        ..ScanOptions::default()
    };
    let before = Utc::now();
    let s = scan_hosts(
        &mut inv,
        &[],
        &opts,
        progress::silent(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let hung = s.hosts.iter().find(|h| h.host == "hung").unwrap();
    assert_eq!(hung.error_code.as_deref(), Some("timeout"));
    assert!(
        hung.error
            .as_deref()
            .unwrap()
            .contains("raise the timeout in Settings"),
        "{hung:?}"
    );
    let closed = s.hosts.iter().find(|h| h.host == "closed").unwrap();
    assert_eq!(closed.error_code.as_deref(), Some("unreachable"));
    let d = inv.host_detail("hung").unwrap();
    assert!(d.summary.last_scan.unwrap().finished_at >= before);
}
