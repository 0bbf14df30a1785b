//! Advisories end to end: fixture feeds served by a local HTTP server (the fetch code is the real
//! one, with ETag), the real fleet scanned, buckets, deadlines and countdowns as the injected
//! clock moves, time-to-patch after an upgrade done by hand on a host, compliance %, and bad feeds.

mod common;

use common::{Cli, Fleet};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A tiny HTTP/1.1 file server with strong ETags and 304 answers. Counts conditional hits.
struct FeedServer {
    port: u16,
    not_modified: Arc<AtomicUsize>,
}

fn serve(dir: std::path::PathBuf) -> FeedServer {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let not_modified = Arc::new(AtomicUsize::new(0));
    let nm = not_modified.clone();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let mut inm = None;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("if-none-match:") {
                    inm = Some(v.trim().to_string());
                }
            }
            let body = std::fs::read(dir.join(&path));
            let resp = match body {
                Ok(b) => {
                    let etag = format!(
                        "\"{:x}-{}\"",
                        b.iter()
                            .fold(0u64, |h, x| h.wrapping_mul(31).wrapping_add(*x as u64)),
                        b.len()
                    );
                    if inm.as_deref() == Some(etag.as_str()) {
                        nm.fetch_add(1, Ordering::SeqCst);
                        format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n").into_bytes()
                    } else {
                        let mut v = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: {etag}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len()).into_bytes();
                        v.extend_from_slice(&b);
                        v
                    }
                }
                Err(_) => {
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                }
            };
            let _ = s.write_all(&resp);
        }
    });
    FeedServer { port, not_modified }
}

/// Run the CLI with its injected clock reading `when`, whenever the test runs.
fn at(cli: &Cli, when: &str, args: &[&str]) -> std::process::Output {
    cli.cmd_with(args, &[("PATCHDESK_NOW", when)])
}

fn json_at(cli: &Cli, when: &str, args: &[&str]) -> Value {
    let out = at(cli, when, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn item<'a>(patches: &'a Value, host: &str, package: &str) -> &'a Value {
    patches
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["host"] == host && p["package"] == package)
        .unwrap_or_else(|| panic!("no patch {package} on {host}"))
}

#[test]
fn advisories_buckets_deadlines_time_to_patch_and_compliance() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let server = serve(common::repo_root().join("tests/fixtures/advisories"));
    let url = |f: &str| format!("http://127.0.0.1:{}/{f}", server.port);
    let t0 = "2026-11-24T12:00:00Z";
    let cli = Cli::with_fleet(&fleet);
    let out = at(&cli, t0, &["scan", "--all", "--json"]);
    assert_eq!(out.status.code(), Some(2), "pd-06 is down");

    // Sync three feeds over HTTP; the second sync of one is answered 304 from its ETag.
    for f in ["osv-debian.json", "debian-tracker.json", "nvd.json"] {
        let r = json_at(
            &cli,
            t0,
            &["advisories", "sync", "--from", &url(f), "--json"],
        );
        assert_eq!(r[0]["outcome"], "updated", "{r}");
    }
    let r = json_at(
        &cli,
        t0,
        &[
            "advisories",
            "sync",
            "--from",
            &url("osv-debian.json"),
            "--json",
        ],
    );
    assert_eq!(r[0]["outcome"], "not-modified");
    assert_eq!(r[0]["advisories"], 3);
    assert_eq!(
        server.not_modified.load(Ordering::SeqCst),
        1,
        "the conditional request reached the server"
    );

    let p = json_at(&cli, t0, &["patches", "--json"]);
    // pd-01: every bucket, each with its reason and deadline.
    let hello = item(&p, "pd-01", "pd-hello");
    assert_eq!(hello["bucket"], "critical");
    assert_eq!(hello["cves"][0]["cve"], "CVE-2026-1001");
    assert_eq!(hello["cves"][0]["cvss_version"], "3.1");
    assert_eq!(hello["max_cvss"], 9.8);
    assert!(hello["reason"].as_str().unwrap().contains("CVSS 9.8"));
    assert_eq!(
        hello["deadline"], "2026-11-27T09:00:00Z",
        "disclosure + 7 days"
    );
    assert_eq!(hello["seconds_left"], (2 * 86400 + 21 * 3600) as i64);
    assert_eq!(hello["overdue"], false);
    let foo = item(&p, "pd-01", "pd-libfoo1");
    assert_eq!(
        (foo["bucket"].as_str(), foo["source"].as_str()),
        (Some("high"), Some("pd-libfoo")),
        "binary mapped to its source package"
    );
    assert_eq!(foo["cves"][0]["cvss_version"], "4.0");
    assert_eq!(
        foo["deadline"], "2026-12-01T12:00:00Z",
        "disclosure + 30 days"
    );
    let kernel = item(&p, "pd-01", "pd-kernel");
    assert_eq!(kernel["bucket"], "moderate");
    assert_eq!(
        kernel["max_cvss"], 5.3,
        "CVSS from the NVD record, computed from its vector (the record claims 10.0)"
    );
    assert_eq!(kernel["vendor_severity"], "medium");
    let tools = item(&p, "pd-01", "pd-tools");
    assert_eq!(tools["bucket"], "low");
    assert_eq!(tools["deadline"], Value::Null);
    assert_eq!(
        item(&p, "pd-01", "pd-agent")["cves"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "open CVE: no fix, so not fixed by this update"
    );
    // pd-04 is fully patched; the Debian 11 advisory matches no host.
    assert!(!p.as_array().unwrap().iter().any(|x| x["host"] == "pd-04"));
    assert!(!p.to_string().contains("CVE-2026-1009"));
    // Buckets are ordered critical → low, nearest deadline first.
    let buckets: Vec<&str> = p
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["bucket"].as_str().unwrap())
        .collect();
    let mut sorted = buckets.clone();
    sorted.sort_by_key(|b| {
        ["critical", "high", "moderate", "low"]
            .iter()
            .position(|x| x == b)
    });
    assert_eq!(buckets, sorted);
    let crit = json_at(
        &cli,
        t0,
        &[
            "patches", "--bucket", "critical", "--group", "canary", "--json",
        ],
    );
    let hosts: Vec<&str> = crit
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["pd-01", "pd-02"]);

    let c0 = json_at(&cli, t0, &["compliance", "--json"]);
    assert_eq!(
        c0["open_critical"], 4,
        "pd-01, pd-02, pd-03, pd-05 need pd-hello"
    );

    // Time moves 4 days: the critical deadline is missed, the countdown is negative.
    let t4 = "2026-11-28T12:00:00Z";
    let p4 = json_at(&cli, t4, &["patches", "--bucket", "critical", "--json"]);
    let h4 = item(&p4, "pd-01", "pd-hello");
    assert_eq!(h4["overdue"], true);
    assert_eq!(h4["seconds_left"], -(27 * 3600) as i64);
    let c4 = json_at(&cli, t4, &["compliance", "--json"]);
    assert!(
        c4["percent"].as_f64().unwrap() < c0["percent"].as_f64().unwrap(),
        "{c0} vs {c4}"
    );

    // An upgrade done by hand on pd-05, seen by the next scan a day later: time-to-patch.
    fleet.exec(
        "pd-05",
        &["apt-get", "install", "-y", "-qq", "pd-hello=1.1-1"],
    );
    let t1 = "2026-11-25T12:00:00Z";
    let out = at(&cli, t1, &["scan", "pd-05", "--json"]);
    fleet.exec(
        "pd-05",
        &[
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--allow-downgrades",
            "pd-hello=1.0-1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let c1 = json_at(&cli, t1, &["compliance", "--json"]);
    let crit_ttp = &c1["time_to_patch"][0];
    assert_eq!(crit_ttp["bucket"], "critical");
    assert_eq!(crit_ttp["patched"], 1);
    assert_eq!(
        crit_ttp["median_hours"], 123.0,
        "from disclosure (11-20 09:00) to the scan that saw the fix (11-25 12:00)"
    );
    assert_eq!(c1["open_critical"], 3);
    let web = json_at(&cli, t1, &["compliance", "--group", "web", "--json"]);
    assert_eq!(web["scope"], "web");
    assert_eq!(
        web["time_to_patch"][0]["patched"], 1,
        "pd-05 is in the web group"
    );
    let db = json_at(&cli, t1, &["compliance", "--group", "db", "--json"]);
    assert_eq!(db["time_to_patch"][0]["patched"], 0);

    // A malformed feed: a clear one-line error, and the last good copy is intact.
    std::fs::write(
        cli.dir.path().join("broken.json"),
        b"{\"vulnerabilities\": [",
    )
    .unwrap();
    let before = json_at(&cli, t1, &["patches", "--json"]);
    let bad = at(
        &cli,
        t1,
        &["advisories", "sync", "--from", &url("malformed.json")],
    );
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("not valid JSON")
            && err.contains("last good copy is kept")
            && err.lines().count() == 1,
        "{err}"
    );
    let bad = at(
        &cli,
        t1,
        &[
            "advisories",
            "sync",
            "--from",
            "http://127.0.0.1:1/osv.json",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot fetch"));
    assert_eq!(
        json_at(&cli, t1, &["patches", "--json"]),
        before,
        "nothing was lost"
    );
    // Offline: the status says how old the copy in use is, and what went wrong.
    let st = json_at(
        &cli,
        "2026-11-26T12:00:00Z",
        &["advisories", "status", "--json"],
    );
    let osv = st
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["location"] == url("osv-debian.json"))
        .unwrap();
    assert_eq!(osv["age_secs"], 2 * 86400, "{osv}");
    assert_eq!(osv["advisory_count"], 3);
    let broken = st
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["location"] == url("malformed.json"))
        .unwrap();
    assert!(broken["last_error"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
}

#[test]
fn policy_is_stored_and_validated() {
    let _g = common::serial();
    let cli = Cli::new();
    let p = cli.json(&["policy", "--json"]);
    assert_eq!(
        (p["critical_days"].as_i64(), p["high_days"].as_i64()),
        (Some(7), Some(30))
    );
    let p = cli.json(&["policy", "--critical-days", "3", "--json"]);
    assert_eq!(p["critical_days"], 3);
    let bad = cli.cmd(&["policy", "--high-cvss", "9.5"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("thresholds must rise"));
    assert_eq!(
        cli.json(&["policy", "--json"])["high_cvss"],
        7.0,
        "a refused change changes nothing"
    );
}
