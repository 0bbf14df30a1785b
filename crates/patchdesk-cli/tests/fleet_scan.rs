//! End-to-end: the real `patchdesk` binary scans the real fleet (sshd + dpkg/apt per host) into a
//! real SQLite file, and what it stored is compared with dpkg and apt run directly on each host.

mod common;

use common::{Cli, Fleet};
use serde_json::Value;
use std::collections::BTreeSet;

/// Ground truth of installed packages on a host: (name, version, arch).
fn dpkg_truth(fleet: &Fleet, host: &str) -> BTreeSet<(String, String, String)> {
    fleet
        .exec(
            host,
            &[
                "dpkg-query",
                "-W",
                "-f=${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\n",
            ],
        )
        .lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            // installed (second status letter i/U/F/W/t...), not config-files or not-installed
            let st = c.get(3)?.as_bytes().get(1).copied()?;
            (st != b'n' && st != b'c' && !c[1].is_empty())
                .then(|| (c[0].to_string(), c[1].to_string(), c[2].to_string()))
        })
        .collect()
}

/// Ground truth of pending updates: `apt list --upgradable` → (name, candidate).
fn apt_truth(fleet: &Fleet, host: &str) -> BTreeSet<(String, String)> {
    fleet
        .exec(host, &["sh", "-c", "apt list --upgradable 2>/dev/null"])
        .lines()
        .filter(|l| l.contains("[upgradable from:"))
        .map(|l| {
            // pd-hello/bookworm-security 1.1-1 all [upgradable from: 1.0-1]
            let mut it = l.split_whitespace();
            let name = it.next().unwrap().split('/').next().unwrap().to_string();
            let cand = it.next().unwrap().to_string();
            (name, cand)
        })
        .collect()
}

fn stored_packages(detail: &Value) -> BTreeSet<(String, String, String)> {
    detail["host"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
                p["arch"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn scan_json(cli: &Cli, args: &[&str]) -> (Value, i32) {
    let out = cli.cmd(args);
    let code = out.status.code().unwrap_or(-1);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "scan output is not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, code)
}

fn result_of<'a>(summary: &'a Value, host: &str) -> &'a Value {
    summary["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("{host} missing from scan summary"))
}

#[test]
fn scan_matches_dpkg_and_apt_on_every_host() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = Cli::with_fleet(&fleet);
    let (summary, code) = scan_json(&cli, &["scan", "--all", "--json"]);

    let hosts = fleet.hosts();
    assert!(hosts.len() >= 6, "the fleet has at least 6 hosts");
    let down: Vec<_> = hosts.iter().filter(|h| !h.running).collect();
    assert!(!down.is_empty(), "the fleet has a stopped host");
    // One unreachable host fails the run (exit 2) but every other host completes.
    assert_eq!(code, 2, "exit code 2 when some hosts failed");

    for h in &hosts {
        let r = result_of(&summary, &h.name);
        if !h.running {
            assert_eq!(r["ok"], false);
            assert_eq!(r["error_code"], "unreachable", "{r}");
            let msg = r["error"].as_str().unwrap();
            assert!(
                msg.contains(&h.address) && msg.contains("Check the host is up"),
                "{msg}"
            );
            // The error is stored and shown with the host.
            let d = cli.json(&["host", "show", &h.name, "--json"]);
            assert_eq!(d["host"]["last_scan"]["ok"], false);
            assert!(d["host"]["last_scan"]["error_message"]
                .as_str()
                .unwrap()
                .contains("Check the host is up"));
            continue;
        }
        assert_eq!(r["ok"], true, "{}: {r}", h.name);
        assert_eq!(r["packages_transferred"], true);

        let d = cli.json(&["host", "show", &h.name, "--json"]);
        let truth = dpkg_truth(&fleet, &h.name);
        let stored = stored_packages(&d);
        assert!(
            truth.len() > 50,
            "{}: a real system has many packages",
            h.name
        );
        assert_eq!(
            stored, truth,
            "{}: inventory == dpkg-query on the host",
            h.name
        );

        let pending: BTreeSet<(String, String)> = d["host"]["pending"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                (
                    u["name"].as_str().unwrap().to_string(),
                    u["candidate_version"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            pending,
            apt_truth(&fleet, &h.name),
            "{}: pending == apt list --upgradable",
            h.name
        );
        for u in d["host"]["pending"].as_array().unwrap() {
            let from_security = u["origin"].as_str().unwrap().contains("bookworm-security");
            assert_eq!(u["security"].as_bool().unwrap(), from_security, "{u}");
        }

        let scan = &d["host"]["last_ok_scan"];
        let os = fleet.exec(
            &h.name,
            &["sh", "-c", ". /etc/os-release; echo $ID $VERSION_ID"],
        );
        assert_eq!(
            format!(
                "{} {}",
                scan["os_id"].as_str().unwrap(),
                scan["os_version"].as_str().unwrap()
            ),
            os.trim()
        );
        assert_eq!(scan["hostname"], h.name.as_str());
        assert_eq!(scan["reboot_required"], h.reboot_required, "{}", h.name);
        if h.reboot_required {
            assert!(scan["reboot_packages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == "pd-kernel"));
        }
        let expected_priv = if h.user == "root" { "root" } else { "sudo" };
        assert_eq!(scan["privilege"], expected_priv, "{}", h.name);
        assert!(
            scan["last_update_at"].is_string(),
            "{}: last update time known",
            h.name
        );
        assert!(!scan["kernel"].as_str().unwrap().is_empty());
    }

    // Queries over what was stored, compared with dpkg's own ordering on a host.
    let hits = cli.json(&["query", "package", "pd-hello", "--below", "1.1-1", "--json"]);
    let got: BTreeSet<String> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap().to_string())
        .collect();
    let mut want = BTreeSet::new();
    for h in hosts.iter().filter(|h| h.running) {
        if let Some((_, v, _)) = dpkg_truth(&fleet, &h.name)
            .into_iter()
            .find(|p| p.0 == "pd-hello")
        {
            let lt = std::process::Command::new("dpkg")
                .args(["--compare-versions", &v, "lt", "1.1-1"])
                .status()
                .unwrap()
                .success();
            if lt {
                want.insert(h.name.clone());
            }
        }
    }
    assert!(!want.is_empty());
    assert_eq!(got, want, "query package --below uses dpkg ordering");

    // The human table also renders (and names the unreachable host's state).
    let table = cli.ok(&["host", "list"]);
    assert!(table.contains("error: unreachable"), "{table}");
}

#[test]
fn unchanged_rescan_transfers_no_package_list() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = Cli::with_fleet(&fleet);
    let host = "pd-05";
    let (first, _) = scan_json(&cli, &["scan", host, "--json"]);
    let first = result_of(&first, host).clone();
    assert_eq!(first["packages_transferred"], true);
    let (second, code) = scan_json(&cli, &["scan", host, "--json"]);
    assert_eq!(code, 0);
    let second = result_of(&second, host).clone();
    assert_eq!(second["ok"], true);
    assert_eq!(
        second["packages_transferred"], false,
        "unchanged host: no package list"
    );
    let (b1, b2) = (
        first["bytes_received"].as_u64().unwrap(),
        second["bytes_received"].as_u64().unwrap(),
    );
    assert!(
        b2 * 5 < b1,
        "unchanged rescan received {b2} bytes vs {b1} for the full one"
    );
    let d = cli.json(&["host", "show", host, "--json"]);
    assert_eq!(
        stored_packages(&d),
        dpkg_truth(&fleet, host),
        "the snapshot is still the host's packages"
    );
    assert_eq!(
        d["history"].as_array().unwrap().len(),
        2,
        "history keeps both scans"
    );

    // A change made by hand on the host (a hold) is seen by the next scan.
    fleet.exec(host, &["apt-mark", "hold", "pd-hello"]);
    // apt itself keeps the held update back: not in its simulation, shown as kept back.
    let sim = fleet.exec(
        host,
        &[
            "sh",
            "-c",
            "apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>/dev/null",
        ],
    );
    let (third, _) = scan_json(&cli, &["scan", host, "--json"]);
    fleet.exec(host, &["apt-mark", "unhold", "pd-hello"]);
    assert!(
        !sim.contains("Inst pd-hello") && sim.contains("kept back"),
        "apt holds pd-hello back: {sim}"
    );
    assert_eq!(
        result_of(&third, host)["packages_transferred"],
        true,
        "changed state is sent again"
    );
    let d = cli.json(&["host", "show", host, "--json"]);
    let hello = d["host"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pd-hello")
        .unwrap()
        .clone();
    assert_eq!(
        hello["status"].as_str().unwrap().chars().next(),
        Some('h'),
        "held: {hello}"
    );
    // ...and its update is still pending, marked held, with its security origin (issue #14:
    // before, a held update was in neither the pending nor the security counts).
    let pending = d["host"]["pending"].as_array().unwrap();
    let held: Vec<&Value> = pending.iter().filter(|u| u["held"] == true).collect();
    assert_eq!(held.len(), 1, "{pending:?}");
    assert_eq!(
        (
            &held[0]["name"],
            &held[0]["candidate_version"],
            &held[0]["security"]
        ),
        (
            &Value::from("pd-hello"),
            &Value::from("1.1-1"),
            &Value::from(true)
        ),
        "{pending:?}"
    );
    let apt_pending = apt_truth(&fleet, host).len();
    assert_eq!(
        pending.len(),
        apt_pending,
        "every update apt knows of is pending, the held one included"
    );
    let list = cli.json(&["host", "list", "--json"]);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == host)
        .unwrap();
    assert_eq!(
        row["pending_count"].as_u64(),
        Some(apt_pending as u64),
        "{row}"
    );
    assert!(row["security_count"].as_u64().unwrap() >= 1, "{row}");
}

#[test]
fn unknown_key_needs_explicit_trust_and_changed_key_is_refused() {
    let _g = common::serial();
    let fleet = Fleet::get();
    // No known_hosts configured: first contact must be confirmed by fingerprint.
    let cli = Cli::new();
    let csv = fleet.path("dir").join("hosts.csv");
    cli.ok(&["host", "import", csv.to_str().unwrap()]);
    let host = "pd-04";
    let (s, code) = scan_json(&cli, &["scan", host, "--json"]);
    assert_eq!(code, 2);
    let r = result_of(&s, host);
    assert_eq!(r["error_code"], "unknown_host_key");
    let msg = r["error"].as_str().unwrap();
    assert!(
        msg.contains("SHA256:") && msg.contains("patchdesk host trust pd-04"),
        "{msg}"
    );

    // The true fingerprint, read from the host's own key file.
    let root = fleet.host(host).root;
    let keygen = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(root.join("etc/ssh/ssh_host_ed25519_key.pub"))
        .output()
        .unwrap();
    let fp = String::from_utf8_lossy(&keygen.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(
        msg.contains(&fp),
        "the error shows the host's real fingerprint {fp}: {msg}"
    );

    // A wrong expected fingerprint is refused and pins nothing.
    let bad = cli.cmd(&[
        "host",
        "trust",
        host,
        "--fingerprint",
        "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("Nothing was trusted") && err.lines().count() == 1,
        "{err}"
    );
    cli.ok(&["host", "trust", host, "--fingerprint", &fp]);
    let (s, code) = scan_json(&cli, &["scan", host, "--json"]);
    assert_eq!(code, 0, "{s}");

    // Re-key the host: the next scan stops with a clear error and runs nothing there.
    let log = root.parent().unwrap().join("sshd.log");
    fleet.run(&["rekey", host]);
    let log_before = std::fs::read_to_string(&log).unwrap_or_default().len();
    let before = cli.json(&["host", "show", host, "--json"]);
    let (s, code) = scan_json(&cli, &["scan", host, "--json"]);
    let restore = || fleet.run(&["rekey", host, "--restore"]);
    if code != 2 {
        restore();
    }
    assert_eq!(code, 2);
    let r = result_of(&s, host);
    assert_eq!(r["error_code"], "host_key_changed", "{r}");
    let msg = r["error"].as_str().unwrap();
    assert!(
        msg.contains("HOST KEY HAS CHANGED") && msg.contains("Nothing was run"),
        "{msg}"
    );
    let log_after = std::fs::read_to_string(&log).unwrap_or_default();
    let new_lines = &log_after[log_before.min(log_after.len())..];
    restore();
    assert!(
        !new_lines.contains("Accepted publickey"),
        "no login happened after the key change: {new_lines}"
    );
    // What was known before is still there.
    let after = cli.json(&["host", "show", host, "--json"]);
    assert_eq!(stored_packages(&before), stored_packages(&after));
    assert_eq!(after["host"]["last_scan"]["error_code"], "host_key_changed");
}

#[test]
fn passphrase_key_and_agent_auth() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let h = fleet.host("pd-01");
    let kh = fleet.path("known_hosts");
    let key_pass = fleet.path("key_pass");
    let pass = fleet.manifest["key_passphrase"]
        .as_str()
        .unwrap()
        .to_string();

    let cli = Cli::new();
    cli.ok(&["settings", "--known-hosts", kh.to_str().unwrap()]);
    let port = h.port.to_string();
    cli.ok(&[
        "host",
        "add",
        "enc",
        &h.address,
        "--port",
        &port,
        "--key",
        key_pass.to_str().unwrap(),
    ]);
    // Without the passphrase: a clear error naming the key and what to do.
    let (s, _) = scan_json(&cli, &["scan", "enc", "--json"]);
    let r = result_of(&s, "enc");
    assert_eq!(r["error_code"], "key_file", "{r}");
    assert!(r["error"].as_str().unwrap().contains("passphrase"), "{r}");
    // Wrong passphrase.
    let out = cli.cmd_with(
        &["scan", "enc", "--json"],
        &[("PATCHDESK_KEY_PASSPHRASE", "wrong")],
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        result_of(&s, "enc")["error"]
            .as_str()
            .unwrap()
            .contains("wrong passphrase"),
        "{s}"
    );
    // Right passphrase.
    let out = cli.cmd_with(
        &["scan", "enc", "--json"],
        &[("PATCHDESK_KEY_PASSPHRASE", &pass)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The passphrase is nowhere in the database file.
    let db = std::fs::read(&cli.db).unwrap();
    assert!(!db.windows(pass.len()).any(|w| w == pass.as_bytes()));

    // ssh-agent: a real agent holding the plain key.
    let sock = cli.dir.path().join("agent.sock");
    let agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .spawn()
        .expect("ssh-agent");
    let mut agent = Guard(agent);
    for _ in 0..50 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let key = fleet.path("key");
    let add = std::process::Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    cli.ok(&["host", "add", "viaagent", &h.address, "--port", &port]);
    let out = cli.cmd_with(
        &["scan", "viaagent", "--json"],
        &[("SSH_AUTH_SOCK", sock.to_str().unwrap())],
    );
    let _ = agent.0.kill();
    assert!(
        out.status.success(),
        "agent scan: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

struct Guard(std::process::Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn imports_the_fleet_from_ssh_config_and_ansible() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let dir = fleet.path("dir");
    let names: BTreeSet<String> = fleet.hosts().into_iter().map(|h| h.name).collect();
    for file in ["ssh_config", "inventory.ini"] {
        let cli = Cli::new();
        cli.ok(&["host", "import", dir.join(file).to_str().unwrap()]);
        let list = cli.json(&["host", "list", "--json"]);
        let got: BTreeSet<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, names, "{file}");
        // And the imported hosts really scan (pd-03 through its sudo user).
        cli.ok(&[
            "settings",
            "--known-hosts",
            fleet.path("known_hosts").to_str().unwrap(),
        ]);
        let out = cli.cmd(&["scan", "pd-01", "pd-03", "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// PatchDesk's own database given as a host list or a known_hosts file is refused
/// with a clear sentence before it is opened as one — reading it would drop the POSIX locks
/// SQLite holds on it in this process — and nothing is lost.
#[test]
fn its_own_database_is_refused_as_a_host_list_or_a_known_hosts_file() {
    let cli = Cli::new();
    cli.ok(&["host", "add", "keep-me", "127.0.0.1"]);
    let db = cli.db.to_str().unwrap().to_string();
    // The same file under another name (a hard link) counts too.
    let link = cli.dir.path().join("hosts.csv");
    std::fs::hard_link(&cli.db, &link).unwrap();
    let before = cli.json(&["settings", "--json"]);
    for args in [
        vec!["host", "import", link.to_str().unwrap()],
        vec!["settings", "--known-hosts", db.as_str()],
    ] {
        let out = cli.cmd(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("is PatchDesk's own database, not a")
                && err.contains("choose another file")
                && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    let list = cli.json(&["host", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(cli.json(&["settings", "--json"]), before);
}
