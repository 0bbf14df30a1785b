//! Hosts that lie, feeds from the end of the calendar, a terminal under attack (issue #9): the
//! real `patchdesk` binary against real fleet hosts made hostile for one test each (a program on
//! the host replaced or hidden, its os-release rewritten), undone afterwards even when the test
//! fails. One regression test per item 14-21, the far-future feed case, the database's
//! permissions, the closed pipe and the passphrase asked once.

mod common;

use common::{Cli, Fleet};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// Changes to one fleet host, undone (in reverse order) when dropped.
struct Tamper<'a> {
    fleet: &'a Fleet,
    host: String,
    undo: Vec<String>,
}

impl<'a> Tamper<'a> {
    fn new(fleet: &'a Fleet, host: &str) -> Self {
        Tamper {
            fleet,
            host: host.into(),
            undo: Vec::new(),
        }
    }

    /// Run `cmd` in the host's root; `undo` restores it.
    fn change(&mut self, cmd: &str, undo: &str) {
        self.undo.push(undo.into());
        self.fleet.exec(&self.host, &["sh", "-c", cmd]);
    }

    /// A program first on the PATH of SSH sessions (/usr/local/bin) with this script.
    fn fake(&mut self, program: &str, script: &str) {
        let path = format!("/usr/local/bin/{program}");
        self.undo.push(format!("rm -f {path}"));
        let root = self.fleet.host(&self.host).root;
        std::fs::write(root.join(path.trim_start_matches('/')), script).unwrap();
        self.fleet.exec(&self.host, &["chmod", "755", &path]);
    }

    /// Hide a real program (as if the host did not have it).
    fn hide(&mut self, path: &str) {
        self.change(
            &format!("mv {path} {path}.pd-hidden"),
            &format!("mv {path}.pd-hidden {path}"),
        );
    }

    /// Replace /etc/os-release (a symlink to ../usr/lib/os-release on Debian).
    fn os_release(&mut self, text: &str) {
        self.change(
            "rm /etc/os-release && touch /etc/os-release",
            "rm -f /etc/os-release && ln -s ../usr/lib/os-release /etc/os-release",
        );
        let p = self.fleet.host(&self.host).root.join("etc/os-release");
        std::fs::write(p, text).unwrap();
    }
}

impl Drop for Tamper<'_> {
    fn drop(&mut self) {
        for cmd in self.undo.iter().rev() {
            let _ = Command::new("bash")
                .arg(&self.fleet.script)
                .args(["exec", &self.host, "--", "sh", "-c", cmd])
                .output();
        }
    }
}

/// A CLI with one fleet host under a name of its own (so a test scans only what it tampers with).
fn cli_for(fleet: &Fleet, host: &str, name: &str, group: &str) -> Cli {
    let cli = Cli::new();
    cli.ok(&[
        "settings",
        "--known-hosts",
        fleet.path("known_hosts").to_str().unwrap(),
    ]);
    cli.add_fleet_host(fleet, host, name, &["--group", group]);
    cli
}

fn scan(cli: &Cli, name: &str) -> (Value, i32, Duration) {
    let t = Instant::now();
    let out = cli.cmd(&["scan", name, "--json"]);
    let took = t.elapsed();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let r = v["hosts"][0].clone();
    (r, out.status.code().unwrap_or(-1), took)
}

fn last_scan(cli: &Cli, name: &str) -> Value {
    cli.json(&["host", "show", name, "--json"])["history"][0].clone()
}

const ROCKY: &str = "NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\nPLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"\n";

#[test]
fn item_21_a_host_without_dpkg_is_a_stored_error_never_counted_as_patched() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = cli_for(&fleet, "pd-05", "rocky", "el");
    // Scanned once as the Debian host it was.
    let (r, code, _) = scan(&cli, "rocky");
    assert_eq!((r["ok"].as_bool(), code), (Some(true), 0), "{r}");
    let mut t = Tamper::new(&fleet, "pd-05");
    t.hide("/usr/bin/dpkg-query");
    t.hide("/usr/bin/apt-get");
    t.os_release(ROCKY);
    // The first round keeps dpkg's state files (only the tools are gone); the second has none,
    // as a host reinstalled with Rocky Linux.
    let sentence = "Rocky Linux 9.3: neither dpkg nor rpm on this host; PatchDesk reads Debian/Ubuntu (dpkg) and RHEL-family (rpm) hosts";
    for attempt in 0..2 {
        let (r, code, _) = scan(&cli, "rocky");
        assert_eq!(code, 2, "{r}");
        assert_eq!(r["error_code"], "unsupported", "attempt {attempt}: {r}");
        assert_eq!(r["error"], sentence, "never \"unchanged\", never ok");
        let stored = last_scan(&cli, "rocky");
        assert_eq!(
            (stored["ok"].as_bool(), &stored["error_message"]),
            (Some(false), &Value::from(sentence))
        );
        if attempt == 0 {
            t.hide("/var/lib/dpkg");
        }
    }
    // Never counted as patched or compliant: compliance names it, patches has nothing from it.
    let c = cli.json(&["compliance", "--json"]);
    let na = c["not_assessed"].as_array().unwrap();
    assert!(
        na.iter()
            .any(|n| n["host"] == "rocky" && n["reason"] == sentence),
        "{c}"
    );
    let text = String::from_utf8(cli.cmd(&["compliance"]).stdout).unwrap();
    assert!(
        text.contains(&format!("not assessed     rocky: {sentence}")),
        "{text}"
    );
    // A fresh inventory that never saw it as Debian: no good scan at all.
    let fresh = cli_for(&fleet, "pd-05", "rocky", "el");
    let (r, _, _) = scan(&fresh, "rocky");
    assert_eq!(r["error"], sentence);
    let h = &fresh.json(&["host", "list", "--json"])[0];
    assert!(h["last_ok_scan"].is_null(), "{h}");
    let c = fresh.json(&["compliance", "--json"]);
    assert_eq!(c["not_assessed"][0]["host"], "rocky", "{c}");
    assert_eq!(c["percent"], Value::Null, "nothing counted as compliant");
    drop(t);
    let (r, _, _) = scan(&fresh, "rocky");
    assert_eq!(r["ok"], true, "the host is restored: {r}");
}

#[test]
fn item_20_a_single_huge_line_is_an_error_and_its_bytes_are_recorded() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = cli_for(&fleet, "pd-05", "huge", "x");
    let mut t = Tamper::new(&fleet, "pd-05");
    t.fake(
        "dpkg-query",
        "#!/bin/sh\nhead -c 10000000 /dev/zero | tr '\\0' ' '\n",
    );
    let (r, code, _) = scan(&cli, "huge");
    drop(t);
    assert_eq!(code, 2, "{r}");
    assert_eq!(r["error_code"], "parse", "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("no installed package"),
        "{r}"
    );
    let bytes = r["bytes_received"].as_u64().unwrap();
    assert!(bytes > 10_000_000, "{bytes} bytes");
    assert_eq!(
        last_scan(&cli, "huge")["bytes_received"].as_u64(),
        Some(bytes)
    );
}

#[test]
fn item_17_a_session_cut_mid_output_says_the_connection_was_lost() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = cli_for(&fleet, "pd-05", "cut", "x");
    let mut t = Tamper::new(&fleet, "pd-05");
    // Part of a package list, then the host's sshd session dies (as when the network drops).
    t.fake(
        "dpkg-query",
        "#!/bin/sh\nprintf 'pd-hello\\t1.0-1\\tall\\t\\t\\tii \\n'\nsleep 0.3\nme=$PPID\nwhile [ \"$me\" -gt 1 ]; do\n  set -- $(cat /proc/$me/stat)\n  [ \"$2\" = '(sshd)' ] && [ \"$4\" != 1 ] && kill -9 \"$me\"\n  me=$4\ndone\nsleep 5\n",
    );
    let (r, code, _) = scan(&cli, "cut");
    drop(t);
    assert_eq!(code, 2, "{r}");
    assert_eq!(r["error_code"], "connection_lost", "{r}");
    let e = r["error"].as_str().unwrap();
    assert!(e.contains("the connection was lost"), "{e}");
    assert!(
        !e.contains("Debian or Ubuntu"),
        "not an unreadable-output error: {e}"
    );
    assert!(r["bytes_received"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn item_16_a_host_sending_forever_is_cut_at_the_cap_not_at_the_timeout() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = cli_for(&fleet, "pd-05", "endless", "x");
    cli.ok(&["settings", "--command-timeout", "90"]);
    let mut t = Tamper::new(&fleet, "pd-05");
    t.fake(
        "dpkg-query",
        "#!/bin/sh\nexec yes 'pd-x\t1.0\tall\t\t\tii '\n",
    );
    let (r, code, took) = scan(&cli, "endless");
    drop(t);
    eprintln!(
        "endless output: cut after {took:?}, {} bytes",
        r["bytes_received"]
    );
    assert_eq!(code, 2, "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("exceeded 67108864 bytes"),
        "{r}"
    );
    assert!(
        took < Duration::from_secs(45),
        "reading stopped at the cap, not at the 90 s command timeout: {took:?}"
    );
    let b = r["bytes_received"].as_u64().unwrap();
    assert!((60 << 20..=64 << 20).contains(&b), "{b} bytes recorded");
}

/// Bytes no terminal should receive from a host: ESC, BEL, and the bidi override U+202E.
fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(
        !bytes.contains(&0x1b) && !bytes.contains(&0x07) && !text.contains('\u{202e}'),
        "{what} carries a host's control sequences: {text:?}"
    );
}

#[test]
fn items_11_18_19_what_a_host_says_never_drives_the_terminal() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let cli = cli_for(&fleet, "pd-05", "evil", "hostile");
    let mut t = Tamper::new(&fleet, "pd-05");
    // os-release with escapes and a bidi override; apt-get -s adds a line whose "arch" is an
    // escape sequence; a real apply fails with an escape-laden stderr.
    t.os_release("NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nPRETTY_NAME=\"\u{1b}]0;pwned\u{7}\u{1b}[2JDebian \u{202e}21 mrowkoob\"\n");
    t.fake(
        "apt-get",
        "#!/bin/sh\ncase \" $* \" in *\" dist-upgrade \"*) /usr/bin/apt-get \"$@\"; rc=$?; printf 'Inst pd-evil [1.0-1] (1.1-1 PatchDesk Security:bookworm-security [all\\033[31m])\\n'; exit $rc;; *\" -s \"*) exec /usr/bin/apt-get \"$@\";; esac\nprintf '\\033]0;pwned\\007\\033[2J\\342\\200\\256E: evil failure\\n' >&2\nexit 100\n",
    );
    let (r, _, _) = scan(&cli, "evil");
    assert_eq!(r["ok"], true, "{r}");
    let d = cli.json(&["host", "show", "evil", "--json"]);
    let scan = &d["host"]["last_ok_scan"];
    let pretty = scan["os_pretty"].as_str().unwrap();
    assert!(
        !pretty.contains('\u{1b}') && !pretty.contains('\u{202e}'),
        "item 18: {pretty:?}"
    );
    let pending = d["host"]["pending"].as_array().unwrap();
    assert!(
        pending
            .iter()
            .all(|u| u["name"] != "pd-evil" && u["arch"] == "all"),
        "item 19: the escape-laden line is refused: {pending:?}"
    );
    assert!(
        scan["warnings"].to_string().contains("pd-evil"),
        "and reported: {scan}"
    );
    let show = cli.cmd(&["host", "show", "evil", "--packages"]);
    assert_clean("host show", &[show.stdout, show.stderr].concat());
    // A deployment whose apply fails with the host's hostile stderr.
    let plan = cli.json(&[
        "deploy",
        "plan",
        "--name",
        "evil",
        "--scope",
        "hostile",
        "--package",
        "pd-hello",
        "--soak-hours",
        "0",
        "--override",
        "no-canary=test of a hostile host",
        "--json",
    ]);
    let id = plan["deployment_id"].as_i64().expect("planned").to_string();
    let start = cli.cmd(&["deploy", "start", &id]);
    let status = cli.cmd(&["deploy", "status", &id]);
    let audit = cli.cmd(&["audit", "--host", "evil"]);
    let _ = cli.cmd(&["deploy", "no-go", &id, "--reason", "stop"]);
    drop(t);
    let shown =
        String::from_utf8_lossy(&[&start.stderr[..], &start.stdout[..]].concat()).into_owned();
    assert!(
        shown.contains("E: evil failure"),
        "the failure is shown: {shown}"
    );
    assert_clean("deploy start", &[start.stdout, start.stderr].concat());
    assert_clean("deploy status", &[status.stdout, status.stderr].concat());
    assert_clean("audit", &[audit.stdout, audit.stderr].concat());
}

#[test]
fn item_15_a_closed_output_pipe_ends_the_cli_quietly() {
    let fleet = Fleet::get();
    let cli = Cli::with_fleet(&fleet);
    for args in [
        &["host", "list"][..],
        &["host", "list", "--json"],
        &["host", "show", "pd-01", "--json"],
        &["scan-script"],
    ] {
        // The reading end is closed before the CLI writes: every write is EPIPE (`| true`).
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_patchdesk"))
            .arg("--db")
            .arg(&cli.db)
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: quiet: {err}");
    }
    // And through a real pipeline that stops reading after 10 bytes.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; {} --db {} host list --json | head -c 10 >/dev/null",
            env!("CARGO_BIN_EXE_patchdesk"),
            cli.db.display()
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && out.status.success(), "{err}");
}

#[test]
fn item_14_an_invalid_version_is_said_once() {
    let cli = Cli::new();
    let out = cli.cmd(&["query", "package", "pd-hello", "--below", "1.0 2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(err.matches("1.0 2").count(), 1, "{err}");
    assert_eq!(err.matches("not a Debian version").count(), 1, "{err}");
    let out = cli.cmd(&["query", "package", "pd-hello", "--below", "2147483648:1.0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("epoch is above 2147483647"), "{err}");
}

#[test]
fn item_1_a_far_future_feed_date_synced_into_a_scanned_fleet() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let when = "2026-11-24T12:00:00Z";
    let cli = common::scanned_cli(&fleet, when);
    let feed = cli.dir.path().join("far.json");
    std::fs::write(
        &feed,
        r#"[{"id": "DSA-9999-1", "aliases": ["CVE-2026-9999"], "published": "+262142-12-31T00:00:00",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "affected": [{"package": {"ecosystem": "Debian:12", "name": "pd-hello"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1-1"}]}]}]}]"#,
    )
    .unwrap();
    let (r, code) = common::at(
        &cli,
        when,
        &[
            "advisories",
            "sync",
            "--from",
            feed.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{r}");
    assert!(
        r[0]["warnings"].to_string().contains("+262142-12-31"),
        "{r}"
    );
    // Also what an older PatchDesk stored: the date itself, in the database.
    rusqlite::Connection::open(&cli.db)
        .unwrap()
        .execute(
            "UPDATE advisories SET disclosed_at = '+262142-12-31 00:00:00+00:00'",
            [],
        )
        .unwrap();
    for args in [
        &["patches", "--json"][..],
        &["compliance", "--json"],
        &["patches"],
    ] {
        let out = cli.cmd_with(args, &[("PATCHDESK_NOW", when)]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (p, _) = common::at(&cli, when, &["patches", "--bucket", "critical", "--json"]);
    assert!(
        p.as_array()
            .unwrap()
            .iter()
            .any(|i| i["package"] == "pd-hello"
                && i["deadline"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("2026-12"))),
        "classified, with a deadline counted from when the host was first seen exposed: {p}"
    );
    // new_alerts (what the app calls every minute) on the same database file.
    let inv =
        patchdesk_engine::inventory::Inventory::open(&cli.db, patchdesk_engine::clock::from_env())
            .unwrap();
    let alerts = patchdesk_engine::classify::new_alerts(&inv).unwrap();
    assert!(alerts.iter().any(|a| a.kind == "critical"), "{alerts:?}");
}

#[test]
fn item_10_the_default_database_is_private() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join(".local/share/patchdesk");
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_patchdesk"))
            .args(["host", "list"])
            .env("HOME", home.path())
            .env_remove("XDG_DATA_HOME")
            .env_remove("PATCHDESK_DB")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    run();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("patchdesk.db")), 0o600);
    // Made world-readable by an older PatchDesk: tightened on the next open.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        data.join("patchdesk.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    run();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("patchdesk.db")), 0o600);
}

#[test]
fn item_12_a_passphrase_is_asked_once_before_connecting() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let key = fleet.path("key_pass");
    let pass = fleet.manifest["key_passphrase"]
        .as_str()
        .unwrap()
        .to_string();
    let cli = Cli::new();
    cli.ok(&[
        "settings",
        "--known-hosts",
        fleet.path("known_hosts").to_str().unwrap(),
    ]);
    // Three hosts, one key file, a connect/auth timeout shorter than a person takes to type.
    cli.ok(&["settings", "--connect-timeout", "2"]);
    for (name, host) in [("a", "pd-01"), ("b", "pd-02"), ("c", "pd-05")] {
        let h = fleet.host(host);
        cli.ok(&[
            "host",
            "add",
            name,
            &h.address,
            "--key",
            key.to_str().unwrap(),
        ]);
    }
    // A real terminal (script(1) gives the CLI a pty): the prompt is answered after 3 s.
    let cmd = format!(
        "{} --db {} scan --all --json",
        env!("CARGO_BIN_EXE_patchdesk"),
        cli.db.display()
    );
    let out = Command::new("sh")
        .arg("-c")
        // (timeout: a CLI that asks once per host would wait for answers that never come)
        .arg("(sleep 3; printf '%s\\n' \"$PASS\") | timeout 60 script -qec \"$CMD\" /dev/null")
        .env("PASS", &pass)
        .env("CMD", &cmd)
        .env("HOME", "/nonexistent-home")
        .env("SSH_AUTH_SOCK", "/nonexistent")
        .env_remove("PATCHDESK_KEY_PASSPHRASE")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("Passphrase for").count(),
        1,
        "asked once for the one key file: {text}"
    );
    for name in ["a", "b", "c"] {
        let s = last_scan(&cli, name);
        assert_eq!(
            s["ok"], true,
            "{name}: the slow answer did not time out the login: {s}"
        );
    }
    // The passphrase was kept in memory for that run only: nothing in the database.
    let db = std::fs::read(&cli.db).unwrap();
    assert!(!db.windows(pass.len()).any(|w| w == pass.as_bytes()));
}

/// Put pd-01's pd-tools back to 2.0-1 and the repository as it was, even when the test fails.
struct SlowRepo<'a>(&'a Fleet);

impl Drop for SlowRepo<'_> {
    fn drop(&mut self) {
        let f = self.0;
        let run = |args: &[&str]| {
            let _ = Command::new("bash").arg(&f.script).args(args).output();
        };
        run(&["exec", "pd-01", "--", "sh", "-c", "dpkg --configure -a; apt-get install -y -q -o DPkg::Lock::Timeout=120 --allow-downgrades pd-tools=2.0-1 >/dev/null 2>&1"]);
        run(&["unpublish", "pd-tools", "2.3-1"]);
        run(&["unpublish", "pd-tools", "2.4-1"]);
        run(&["exec", "pd-01", "--", "apt-get", "update", "-qq"]);
    }
}

fn host_state(st: &Value) -> (String, String) {
    let h = &st["stages"][0]["hosts"][0];
    (
        h["state"].as_str().unwrap_or("").to_string(),
        h["error"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn item_9_apply_has_its_own_long_timeout_and_a_cut_apply_is_checked_on_resume() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let _restore = SlowRepo(&fleet);
    let cli = cli_for(&fleet, "pd-01", "slow", "slowgroup");
    // Scans and checks must finish in 3 s; the package's maintainer script takes 4 s.
    cli.ok(&["settings", "--command-timeout", "3"]);
    let plan = |name: &str| -> String {
        assert_eq!(scan(&cli, "slow").0["ok"], true);
        let p = cli.json(&[
            "deploy",
            "plan",
            "--name",
            name,
            "--scope",
            "slowgroup",
            "--package",
            "pd-tools",
            "--soak-hours",
            "0",
            "--override",
            "no-canary=a single test host",
            "--json",
        ]);
        p["deployment_id"].as_i64().expect("planned").to_string()
    };
    fleet.run(&["publish", "pd-tools", "2.3-1", "--slow"]);
    fleet.exec("pd-01", &["apt-get", "update", "-qq"]);
    let id = plan("slow apply");
    let st = cli.json(&["deploy", "start", &id, "--json"]);
    assert_eq!(
        host_state(&st).0,
        "applied",
        "the apply outlived the 3 s command timeout: {st}"
    );
    assert_eq!(common::installed(&fleet, "pd-01", "pd-tools"), "2.3-1");

    // An apply cut by its own timeout: attention, not failed; the next run checks dpkg first.
    fleet.run(&["publish", "pd-tools", "2.4-1", "--slow"]);
    fleet.exec("pd-01", &["apt-get", "update", "-qq"]);
    let id = plan("cut apply");
    cli.ok(&["settings", "--apply-timeout", "2"]);
    let st = cli.json(&["deploy", "start", &id, "--json"]);
    let (state, error) = host_state(&st);
    assert_eq!(state, "attention", "{st}");
    assert!(
        error.contains("timed out after 2s") && error.contains("dpkg --audit"),
        "{error}"
    );
    assert_eq!(st["state"], "running");
    assert_eq!(
        st["stages"][0]["state"], "pending",
        "the stage stops there: {st}"
    );
    let audit = cli.json(&["audit", "--host", "slow", "--json"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "apply"
                && a["phase"] == "after"
                && a["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("timed out"))),
        "the cut apply is in the audit log: {audit}"
    );
    cli.ok(&["settings", "--apply-timeout", "3600"]);
    std::thread::sleep(Duration::from_secs(6)); // whatever still ran on the host settles
    let out = cli.cmd(&["deploy", "start", &id, "--json"]);
    let mut st: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dpkg --audit"),
        "resumed with dpkg --audit first: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if host_state(&st).0 == "attention" {
        // dpkg was left half-way: the repair the message names, then resume.
        fleet.exec("pd-01", &["dpkg", "--configure", "-a"]);
        st = cli.json(&["deploy", "start", &id, "--json"]);
    }
    assert_eq!(host_state(&st).0, "applied", "{st}");
    assert_eq!(common::installed(&fleet, "pd-01", "pd-tools"), "2.4-1");
}
