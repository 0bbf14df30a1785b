//! The rpm family's scan fragment on the real rpm hosts of the test fleet (`fleet.sh up 6 --rpm 2`:
//! a Rocky-9-like root with real rpm and dnf behind its own sshd), over the engine's own SSH
//! transport. What it parses is compared with rpm and dnf run directly on each host
//! (`fleet.sh exec`): installed packages == `rpm -qa`, pending == `dnf check-update`,
//! advisories == `dnf updateinfo list`, reboot == `dnf needs-restarting -r`, version locks ==
//! `dnf versionlock list`; the unchanged-rescan shortcut holds until the rpm database, the
//! repository metadata or the version locks change; the lock probe names a real dnf holding the
//! rpm database; the exact-version command lines (`pkg::rpm::commands`) change a real host as
//! intended, one dnf transaction each.
//!
//! The rpm hosts are opt-in (`fleet.sh up 6` keeps the Debian-only fleet the other tests
//! expect), so these tests are `#[ignore]`d in a plain `cargo test` and `scripts/test.sh` runs
//! them in their own step: `fleet.sh up 6 --rpm 2`, `cargo test --test rpm_fleet -- --ignored`.
//!
//! `PATCHDESK_RECORD_RPM_FIXTURES=DIR` also writes the raw outputs there (how
//! `tests/fixtures/scan/rpm/pd-r1*.txt` were recorded).

use patchdesk_engine::host::{Auth, HostSpec};
use patchdesk_engine::pkg::rpm::parse::{
    parse_sections, split_sections, RebootSource, RpmScan, VendorSeverity,
};
use patchdesk_engine::pkg::rpm::scan::{HISTORY_LAST, LOCK_PROBE, SCAN_FRAGMENT};
use patchdesk_engine::ssh::{Connection, SshOptions, Trust};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// These tests change rpm hosts: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .unwrap()
}

struct Fleet {
    m: Value,
}

impl Fleet {
    fn get() -> Fleet {
        let path = std::env::var("PATCHDESK_FLEET")
            .unwrap_or_else(|_| "/var/tmp/patchdesk-fleet/fleet.json".into());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("the test fleet is not up ({path}: {e}). Run `tests/fleet/fleet.sh up 6 --rpm 2` first.")
        });
        Fleet {
            m: serde_json::from_str(&text).unwrap(),
        }
    }

    /// The rpm hosts; a fleet without them fails the test (never a silent pass).
    fn rpm_hosts(&self) -> Vec<Value> {
        let hosts: Vec<Value> = self.m["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["family"] == "rpm" && h["running"] == true)
            .cloned()
            .collect();
        assert!(
            hosts.len() >= 2,
            "the fleet has no rpm hosts: run `tests/fleet/fleet.sh up 6 --rpm 2`"
        );
        hosts
    }

    fn host(&self, name: &str) -> Value {
        self.rpm_hosts()
            .into_iter()
            .find(|h| h["name"] == name)
            .unwrap_or_else(|| panic!("no rpm host {name}"))
    }

    fn fleet_sh(&self, args: &[&str]) -> (String, i32) {
        let out = Command::new("bash")
            .arg(root().join("tests/fleet/fleet.sh"))
            .args(args)
            .output()
            .expect("fleet.sh runs");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    }

    /// Run CMD on the host directly (inside its namespaces, not over SSH): the ground truth.
    fn exec(&self, host: &str, cmd: &[&str]) -> (String, i32) {
        let mut args = vec!["exec", host, "--"];
        args.extend_from_slice(cmd);
        self.fleet_sh(&args)
    }

    fn exec_ok(&self, host: &str, cmd: &[&str]) -> String {
        let (out, code) = self.exec(host, cmd);
        assert_eq!(code, 0, "{host}: {cmd:?} exited {code}: {out}");
        out
    }
}

/// The fragment inside the smallest script the parser accepts: header, `uname`, fragment, end.
fn script() -> String {
    format!(
        "prev=\"${{1:-}}\"\necho '@@PD format 1'\necho '@@PD uname'\nuname -r\n{SCAN_FRAGMENT}echo '@@PD end'\n"
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Run a command on the host over the engine's SSH transport (host key checked against the
/// fleet's known_hosts), with `stdin`.
fn ssh_run(fleet: &Fleet, h: &Value, command: &str, stdin: &str) -> String {
    let mut spec = HostSpec::new(h["name"].as_str().unwrap(), h["address"].as_str().unwrap());
    spec.port = h["port"].as_u64().unwrap() as u16;
    spec.user = h["user"].as_str().unwrap().to_string();
    spec.auth = Auth::KeyFile {
        path: PathBuf::from(fleet.m["key"].as_str().unwrap()),
    };
    let opts = SshOptions {
        known_hosts: vec![PathBuf::from(fleet.m["known_hosts"].as_str().unwrap())],
        ..SshOptions::default()
    };
    rt().block_on(async {
        let conn = Connection::open(&spec, Trust::default(), &opts, None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        let out = conn.run(command, Some(stdin.as_bytes())).await.unwrap();
        conn.close().await;
        assert_eq!(out.exit_status, Some(0), "{}: {command}", spec.name);
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
}

/// Like [`ssh_run`], but any exit status: (stdout, stderr, status).
fn ssh_try(fleet: &Fleet, h: &Value, command: &str) -> (String, String, Option<u32>) {
    let mut spec = HostSpec::new(h["name"].as_str().unwrap(), h["address"].as_str().unwrap());
    spec.auth = Auth::KeyFile {
        path: PathBuf::from(fleet.m["key"].as_str().unwrap()),
    };
    let opts = SshOptions {
        known_hosts: vec![PathBuf::from(fleet.m["known_hosts"].as_str().unwrap())],
        ..SshOptions::default()
    };
    rt().block_on(async {
        let conn = Connection::open(&spec, Trust::default(), &opts, None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        let out = conn.run(command, None).await.unwrap();
        conn.close().await;
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.exit_status,
        )
    })
}

/// One scan of the fragment: the raw text and what the parser made of it.
fn scan(fleet: &Fleet, h: &Value, prev: &str) -> (String, RpmScan) {
    let command = if prev.is_empty() {
        "sh -s".to_string()
    } else {
        format!("sh -s -- {prev}")
    };
    let text = ssh_run(fleet, h, &command, &script());
    let map = split_sections(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let uname = map
        .get("uname")
        .and_then(|l| l.first())
        .copied()
        .unwrap_or("");
    let parsed = parse_sections(&map, uname).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (text, parsed)
}

fn record(name: &str, text: &str) {
    if let Ok(dir) = std::env::var("PATCHDESK_RECORD_RPM_FIXTURES") {
        std::fs::write(Path::new(&dir).join(name), text).unwrap();
    }
}

/// `rpm -qa` on the host: (name, [epoch:]version-release, arch, source rpm).
fn rpm_truth(fleet: &Fleet, host: &str) -> BTreeSet<(String, String, String, String)> {
    fleet
        .exec_ok(
            host,
            &[
                "rpm",
                "-qa",
                "--qf",
                "%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n",
            ],
        )
        .lines()
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[0].into(), c[1].into(), c[2].into(), c[3].into())
        })
        .collect()
}

/// `dnf check-update` on the host: (name, arch, evr, repo) of each upgrade (obsoletes aside).
fn dnf_truth(fleet: &Fleet, host: &str) -> BTreeSet<(String, String, String, String)> {
    let (out, code) = fleet.exec(host, &["dnf", "-q", "check-update"]);
    assert!(code == 0 || code == 100, "{host}: dnf check-update: {code}");
    let mut set = BTreeSet::new();
    for l in out.lines() {
        if l.trim() == "Obsoleting Packages" {
            break;
        }
        let t: Vec<&str> = l.split_whitespace().collect();
        if t.len() == 3 {
            let (n, a) = t[0].rsplit_once('.').unwrap();
            set.insert((n.into(), a.into(), t[1].into(), t[2].into()));
        }
    }
    assert_eq!(
        code == 100,
        !set.is_empty(),
        "{host}: exit code 100 iff updates"
    );
    set
}

fn pending_of(s: &RpmScan) -> BTreeSet<(String, String, String, String)> {
    s.pending
        .as_ref()
        .unwrap()
        .iter()
        .filter(|p| p.obsoletes.is_empty())
        .map(|p| {
            (
                p.name.clone(),
                p.arch.clone(),
                p.evr.as_str().to_string(),
                p.repo.clone(),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs the fleet's rpm hosts: tests/fleet/fleet.sh up 6 --rpm 2, then --ignored (scripts/test.sh does both)"]
fn fragment_matches_rpm_and_dnf_on_every_rpm_host() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fleet = Fleet::get();
    for h in fleet.rpm_hosts() {
        let name = h["name"].as_str().unwrap();
        let (text, s) = scan(&fleet, &h, "");
        record(&format!("{name}.txt"), &text);
        assert!(s.warnings.is_empty(), "{name}: {:?}", s.warnings);

        // Installed packages == rpm -qa.
        let stored: BTreeSet<(String, String, String, String)> = s
            .packages
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.evr.as_str().to_string(),
                    p.arch.clone(),
                    p.source_rpm.clone(),
                )
            })
            .collect();
        let truth = rpm_truth(&fleet, name);
        assert!(truth.len() >= 5, "{name}: the host has packages");
        assert_eq!(stored, truth, "{name}: parsed packages == rpm -qa");
        let lib = s
            .packages
            .as_ref()
            .unwrap()
            .iter()
            .find(|p| p.name == "pd-libfoo-libs")
            .unwrap();
        assert_eq!(
            lib.source, "pd-libfoo",
            "source package from the source rpm"
        );
        assert_eq!(lib.evr.epoch(), 1);

        // Pending == dnf check-update.
        let pending = pending_of(&s);
        assert_eq!(
            pending,
            dnf_truth(&fleet, name),
            "{name}: parsed pending == dnf check-update"
        );
        assert!(
            !pending.is_empty(),
            "{name}: the fleet leaves updates pending"
        );

        // Advisories == dnf updateinfo list, with what the fleet's updateinfo.xml says.
        let truth_adv: BTreeSet<(String, String)> = fleet
            .exec_ok(name, &["dnf", "-q", "updateinfo", "list"])
            .lines()
            .filter_map(|l| {
                let t: Vec<&str> = l.split_whitespace().collect();
                (t.len() == 3).then(|| (t[0].to_string(), t[2].to_string()))
            })
            .collect();
        let adv = s.advisories.as_ref().unwrap();
        let parsed_adv: BTreeSet<(String, String)> = adv
            .iter()
            .flat_map(|a| {
                a.packages.iter().map(|p| {
                    (
                        a.id.clone(),
                        format!("{}-{}.{}", p.name, p.evr.normalized(), p.arch),
                    )
                })
            })
            .collect();
        assert_eq!(
            parsed_adv, truth_adv,
            "{name}: advisories == dnf updateinfo list"
        );
        if let Some(k) = adv.iter().find(|a| a.id == "RLSA-2024:0102") {
            assert_eq!(k.severity, Some(VendorSeverity::Critical));
            assert_eq!(k.cves, ["CVE-2024-0102", "CVE-2024-0103"]);
            assert_eq!(k.issued.unwrap().to_rfc3339(), "2024-01-12T00:00:00+00:00");
            assert_eq!(k.title, "Critical: pd-kernel security update");
        }

        // Reboot == dnf needs-restarting -r (exit 1 when required).
        let (_, nr) = fleet.exec(name, &["dnf", "-q", "needs-restarting", "-r"]);
        assert_eq!(s.reboot.source, RebootSource::NeedsRestarting, "{name}");
        assert_eq!(
            s.reboot.required,
            nr == 1,
            "{name}: reboot == needs-restarting"
        );
        assert_eq!(
            h["reboot_required"].as_bool(),
            Some(s.reboot.required),
            "{name}: the manifest says so too"
        );
        assert!(s.kernels.is_empty(), "no kernel package on a fleet host");

        // Version locks == dnf versionlock list (none on a fresh host).
        let locks = fleet.exec_ok(name, &["dnf", "-q", "versionlock", "list"]);
        assert_eq!(
            s.versionlocks.as_ref().unwrap().len(),
            locks.lines().count()
        );

        // The repository's new pd-daemon needs the new library: dnf pulls it along.
        if name == "pd-r1" {
            let (plan, _) = fleet.exec(name, &["dnf", "--assumeno", "upgrade", "pd-daemon"]);
            assert!(
                plan.contains("pd-daemon") && plan.contains("pd-libfoo-libs"),
                "{plan}"
            );
        }

        // A user without root (sudo is not needed to read rpm and dnf) sees the same.
        if name == "pd-r1" {
            let mut ops = h.clone();
            ops["user"] = "ops".into();
            let (_, as_ops) = scan(&fleet, &ops, "");
            assert_eq!(as_ops.packages, s.packages, "as ops");
            assert_eq!(pending_of(&as_ops), pending);
            assert_eq!(as_ops.advisories, s.advisories);
        }

        // Last update == the rpm database's mtime.
        let mtime: i64 = fleet
            .exec_ok(name, &["stat", "-c", "%Y", "/var/lib/rpm/rpmdb.sqlite"])
            .trim()
            .parse()
            .unwrap();
        assert!(s.last_update_at.unwrap().timestamp() >= mtime);
        assert!(!s.state_fingerprint.is_empty());
    }
}

#[test]
#[ignore = "needs the fleet's rpm hosts: tests/fleet/fleet.sh up 6 --rpm 2, then --ignored (scripts/test.sh does both)"]
fn unchanged_rescan_until_rpmdb_repo_or_locks_change() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fleet = Fleet::get();
    let h = fleet.host("pd-r1");
    let (_, first) = scan(&fleet, &h, "");
    let (text, again) = scan(&fleet, &h, &first.state_fingerprint);
    record("pd-r1-unchanged.txt", &text);
    assert_eq!(
        again.state_fingerprint, first.state_fingerprint,
        "reads change nothing"
    );
    assert!(
        again.packages.is_none() && again.pending.is_none(),
        "unchanged: nothing sent"
    );

    // A version lock (dnf-plugins-core): the state changes, dnf hides the update.
    fleet.exec_ok("pd-r1", &["dnf", "-q", "versionlock", "add", "pd-hello"]);
    let (text, locked) = scan(&fleet, &h, &first.state_fingerprint);
    record("pd-r1-versionlock.txt", &text);
    // New repository metadata (a published package, after dnf makecache): the state changes
    // again and the new version is pending.
    fleet.fleet_sh(&["publish", "pd-tools", "2.2-1.el9", "--family", "rpm"]);
    fleet.exec_ok("pd-r1", &["dnf", "-q", "makecache", "--refresh"]);
    let (_, newer) = scan(&fleet, &h, &locked.state_fingerprint);
    let _ = fleet.exec("pd-r1", &["dnf", "-q", "versionlock", "clear"]);
    fleet.fleet_sh(&["unpublish", "pd-tools", "2.2-1.el9"]);
    fleet.exec_ok("pd-r1", &["dnf", "-q", "makecache", "--refresh"]);
    let (_, after) = scan(&fleet, &h, &newer.state_fingerprint);

    assert_ne!(locked.state_fingerprint, first.state_fingerprint);
    let locks = locked
        .versionlocks
        .as_ref()
        .expect("a full scan after the change");
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0].name.as_deref(), Some("pd-hello"));
    let installed = first
        .packages
        .as_ref()
        .unwrap()
        .iter()
        .find(|p| p.name == "pd-hello")
        .unwrap();
    assert_eq!(
        locks[0].evr.as_ref(),
        Some(&installed.evr),
        "locked at the installed version"
    );
    assert!(pending_of(&first).iter().any(|p| p.0 == "pd-hello"));
    assert!(
        !pending_of(&locked).iter().any(|p| p.0 == "pd-hello"),
        "a locked package is not pending"
    );
    assert_ne!(newer.state_fingerprint, locked.state_fingerprint);
    assert!(pending_of(&newer).contains(&(
        "pd-tools".into(),
        "noarch".into(),
        "2.2-1.el9".into(),
        "pd-baseos".into()
    )));
    assert!(
        after.packages.is_some(),
        "lock and metadata changed back: a full scan"
    );
    assert_eq!(after.versionlocks.as_ref().map(Vec::len), Some(0));
    assert_eq!(pending_of(&after), dnf_truth(&fleet, "pd-r1"));
    assert_eq!(pending_of(&after), pending_of(&first));
}

#[test]
#[ignore = "needs the fleet's rpm hosts: tests/fleet/fleet.sh up 6 --rpm 2, then --ignored (scripts/test.sh does both)"]
fn reboot_required_after_a_kernel_update_until_the_host_reboots() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fleet = Fleet::get();
    let h = fleet.host("pd-r2");
    let (_, code) = fleet.fleet_sh(&["snapshot", "pd-r2"]);
    assert_eq!(code, 0);
    let history_before = ssh_run(&fleet, &h, "sh -s", HISTORY_LAST);
    fleet.exec_ok("pd-r2", &["dnf", "-y", "-q", "upgrade", "pd-kernel"]);
    let (text, s) = scan(&fleet, &h, "");
    let history_after = ssh_run(&fleet, &h, "sh -s", HISTORY_LAST);
    let probe = ssh_run(&fleet, &h, "sh -s", LOCK_PROBE);
    // "Reboot" the host: a new sshd in fresh namespaces, a fresh /proc.
    fleet.fleet_sh(&["stop-host", "pd-r2"]);
    fleet.fleet_sh(&["start-host", "pd-r2"]);
    let (_, rebooted) = scan(&fleet, &h, "");
    let (_, code) = fleet.fleet_sh(&["restore", "pd-r2"]);
    assert_eq!(code, 0);
    record("pd-r2-reboot.txt", &text);

    assert!(s.reboot.required, "{:?}", s.reboot);
    assert_eq!(s.reboot.packages, ["pd-kernel"]);
    assert_eq!(s.reboot.source, RebootSource::NeedsRestarting);
    assert!(
        !rebooted.reboot.required,
        "after a reboot: {:?}",
        rebooted.reboot
    );
    let (b, a) = (
        patchdesk_engine::pkg::rpm::parse::parse_history_last_id(&history_before).unwrap(),
        patchdesk_engine::pkg::rpm::parse::parse_history_last_id(&history_after).unwrap(),
    );
    assert_eq!(a, b + 1, "one dnf transaction: {history_after}");
    assert!(
        patchdesk_engine::pkg::rpm::parse::parse_lock_probe(&probe).is_empty(),
        "no lock held: {probe:?}"
    );
}

#[test]
#[ignore = "needs the fleet's rpm hosts: tests/fleet/fleet.sh up 6 --rpm 2, then --ignored (scripts/test.sh does both)"]
fn lock_probe_names_the_dnf_that_holds_the_rpm_database() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fleet = Fleet::get();
    let h = fleet.host("pd-r2");
    let (_, code) = fleet.fleet_sh(&["snapshot", "pd-r2"]);
    assert_eq!(code, 0);
    // A package with a slow %post keeps a real dnf transaction (and rpm's lock) busy.
    fleet.fleet_sh(&[
        "publish",
        "pd-hello",
        "1.3-1.el9",
        "--family",
        "rpm",
        "--slow",
    ]);
    fleet.exec_ok("pd-r2", &["dnf", "-q", "makecache", "--refresh"]);
    let script = root().join("tests/fleet/fleet.sh");
    let mut upgrade = Command::new("bash")
        .arg(&script)
        .args([
            "exec",
            "pd-r2",
            "--",
            "dnf",
            "-y",
            "-q",
            "upgrade",
            "pd-hello-1.3-1.el9",
        ])
        .spawn()
        .unwrap();
    let mut holders = Vec::new();
    for _ in 0..60 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        holders = patchdesk_engine::pkg::rpm::parse::parse_lock_probe(&ssh_run(
            &fleet, &h, "sh -s", LOCK_PROBE,
        ));
        if !holders.is_empty() {
            break;
        }
    }
    // While it runs, a second transaction is refused (exit_on_lock) with the holder named.
    let (busy, busy_code) = fleet.exec(
        "pd-r2",
        &[
            "sh",
            "-c",
            "dnf -y -q --setopt=exit_on_lock=True upgrade pd-kernel 2>&1",
        ],
    );
    let status = upgrade.wait().unwrap();
    fleet.fleet_sh(&["unpublish", "pd-hello", "1.3-1.el9"]);
    let (_, code) = fleet.fleet_sh(&["restore", "pd-r2"]);
    assert_eq!(code, 0);
    fleet.exec_ok("pd-r2", &["dnf", "-q", "makecache", "--refresh"]);

    assert!(status.success());
    assert!(!holders.is_empty(), "the probe saw the lock");
    assert!(
        holders
            .iter()
            .all(|h| h.command.contains("dnf") && h.command.contains("upgrade")),
        "{holders:?}"
    );
    assert_eq!(busy_code, 200, "{busy}");
    let holder = patchdesk_engine::pkg::rpm::parse::lock_busy(&busy).expect("the holder is named");
    assert_eq!(holder.pid, holders[0].pid, "{busy}");
}

#[test]
#[ignore = "needs the fleet's rpm hosts: tests/fleet/fleet.sh up 6 --rpm 2, then --ignored (scripts/test.sh does both)"]
fn family_detection_agrees_with_the_fleet() {
    let fleet = Fleet::get();
    let script = format!(
        "{}echo \"$pd_family\"\n",
        patchdesk_engine::pkg::DETECT_SCRIPT
    );
    let hosts: Vec<Value> = fleet.m["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["running"] == true && h["user"] == "root")
        .cloned()
        .collect();
    assert!(
        hosts.iter().any(|h| h["family"] == "deb") && hosts.iter().any(|h| h["family"] == "rpm")
    );
    for h in hosts {
        let got = ssh_run(&fleet, &h, "sh -s", &script);
        assert_eq!(got.trim(), h["family"].as_str().unwrap(), "{}", h["name"]);
    }
}

#[test]
#[ignore = "needs the fleet's rpm hosts: tests/fleet/fleet.sh up 6 --rpm 2, then --ignored (scripts/test.sh does both)"]
fn exact_versions_rollback_and_locks_with_real_dnf() {
    use patchdesk_engine::pkg::rpm::commands::{self, render, Target};
    use patchdesk_engine::pkg::rpm::parse::parse_history_last_id;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fleet = Fleet::get();
    let h = fleet.host("pd-r2");
    let t = |n: &str, v: &str| Target::new(n, &v.parse().unwrap(), None).unwrap();
    let installed = |n: &str| {
        fleet.exec_ok(
            "pd-r2",
            &[
                "rpm",
                "-q",
                "--qf",
                "%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}",
                n,
            ],
        )
    };
    let history = || parse_history_last_id(&ssh_run(&fleet, &h, "sh -s", HISTORY_LAST)).unwrap();
    let (_, code) = fleet.fleet_sh(&["snapshot", "pd-r2"]);
    assert_eq!(code, 0);

    // The rollback-path probe: which exact versions a repository still offers.
    let probe = [
        t("pd-hello", "1.0-1.el9"),
        t("pd-hello", "0.5-1.el9"),
        t("pd-libfoo-libs", "1:3.0-1.el9"),
    ];
    let (out, _, st) = ssh_try(
        &fleet,
        &h,
        &render(&commands::rollback_probe(&probe).unwrap()),
    );
    let offered = commands::parse_rollback_probe(&out, &probe);

    // Exact upgrade, then the rollback by downgrade (with an epoch), each one dnf transaction.
    let h0 = history();
    let up = ssh_try(
        &fleet,
        &h,
        &render(&commands::upgrade(&[t("pd-hello", "1.1-1.el9")]).unwrap()),
    );
    let after_up = (installed("pd-hello"), history());
    let down = ssh_try(
        &fleet,
        &h,
        &render(
            &commands::downgrade(&[
                t("pd-hello", "1.0-2.el9"),
                t("pd-libfoo-libs", "1:3.0-1.el9"),
            ])
            .unwrap(),
        ),
    );
    let after_down = (
        installed("pd-hello"),
        installed("pd-libfoo-libs"),
        history(),
    );
    // A version no repository offers: a clear failure, nothing changed.
    let gone = ssh_try(
        &fleet,
        &h,
        &render(&commands::downgrade(&[t("pd-hello", "0.5-1.el9")]).unwrap()),
    );
    let after_gone = installed("pd-hello");

    // Pin and unpin (dnf versionlock): the lock shows in `dnf versionlock list`, in the scan,
    // and hides the update from check-update.
    let lock = ssh_try(
        &fleet,
        &h,
        &render(&commands::versionlock_add(&[t("pd-hello", "1.0-2.el9")]).unwrap()),
    );
    let list_locked = fleet.exec_ok("pd-r2", &["dnf", "-q", "versionlock", "list"]);
    let (_, scanned) = scan(&fleet, &h, "");
    let unlock = ssh_try(
        &fleet,
        &h,
        &render(&commands::versionlock_delete(&["pd-hello"]).unwrap()),
    );
    let list_unlocked = fleet.exec_ok("pd-r2", &["dnf", "-q", "versionlock", "list"]);
    let (_, code) = fleet.fleet_sh(&["restore", "pd-r2"]);
    assert_eq!(code, 0);

    assert_eq!(st, Some(0));
    assert_eq!(offered, [true, false, true], "{out}");
    assert_eq!(up.2, Some(0), "{up:?}");
    assert_eq!(after_up, ("1.1-1.el9".to_string(), h0 + 1));
    assert_eq!(down.2, Some(0), "{down:?}");
    assert_eq!(
        after_down,
        ("1.0-2.el9".to_string(), "1:3.0-1.el9".to_string(), h0 + 2)
    );
    assert_eq!(gone.2, Some(1), "{gone:?}");
    assert!(
        gone.1.contains("No packages marked for downgrade"),
        "{gone:?}"
    );
    assert_eq!(after_gone, "1.0-2.el9");
    assert_eq!(
        (lock.2, unlock.2),
        (Some(0), Some(0)),
        "{lock:?} {unlock:?}"
    );
    assert_eq!(list_locked.trim(), "pd-hello-0:1.0-2.el9.*");
    let locks = scanned.versionlocks.as_ref().unwrap();
    assert_eq!(
        locks[0].evr.as_ref().unwrap(),
        &"1.0-2.el9".parse().unwrap()
    );
    assert!(!pending_of(&scanned).iter().any(|p| p.0 == "pd-hello"));
    assert_eq!(list_unlocked.trim(), "");
}
