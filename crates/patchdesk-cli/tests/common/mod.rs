//! Shared helpers for the tests that drive the real `patchdesk` binary against the real test
//! fleet (`tests/fleet/fleet.sh`): real sshd, real dpkg/apt, a real SQLite file.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// Fleet tests change hosts (holds, upgrades, re-keys): they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub struct Fleet {
    pub manifest: Value,
    pub script: PathBuf,
}

pub struct FleetHost {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    pub environment: String,
    pub running: bool,
    pub root: PathBuf,
    pub reboot_required: bool,
}

impl Fleet {
    /// The fleet described by `$PATCHDESK_FLEET` (default `/var/tmp/patchdesk-fleet/fleet.json`).
    /// Missing fleet = failed test, never a silent pass.
    pub fn get() -> Fleet {
        let path = std::env::var("PATCHDESK_FLEET")
            .unwrap_or_else(|_| "/var/tmp/patchdesk-fleet/fleet.json".into());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("the test fleet is not up ({path}: {e}). Run `tests/fleet/fleet.sh up 6` first, or use the README's test command.")
        });
        Fleet {
            manifest: serde_json::from_str(&text).expect("fleet.json parses"),
            script: repo_root().join("tests/fleet/fleet.sh"),
        }
    }

    pub fn path(&self, key: &str) -> PathBuf {
        PathBuf::from(
            self.manifest[key]
                .as_str()
                .unwrap_or_else(|| panic!("fleet.json has no {key}")),
        )
    }

    pub fn hosts(&self) -> Vec<FleetHost> {
        self.manifest["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .map(|h| FleetHost {
                name: h["name"].as_str().unwrap().to_string(),
                address: h["address"].as_str().unwrap().to_string(),
                port: h["port"].as_u64().unwrap() as u16,
                user: h["user"].as_str().unwrap().to_string(),
                environment: h["environment"].as_str().unwrap().to_string(),
                running: h["running"].as_bool().unwrap(),
                root: PathBuf::from(h["root"].as_str().unwrap()),
                reboot_required: h["reboot_required"].as_bool().unwrap_or(false),
            })
            .collect()
    }

    pub fn host(&self, name: &str) -> FleetHost {
        self.hosts()
            .into_iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no fleet host {name}"))
    }

    /// Run a command directly inside a host's root (not over SSH): the ground truth.
    pub fn exec(&self, host: &str, cmd: &[&str]) -> String {
        let out = Command::new("bash")
            .arg(&self.script)
            .args(["exec", host, "--"])
            .args(cmd)
            .output()
            .expect("fleet.sh runs");
        assert!(
            out.status.success(),
            "fleet exec {host} {cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn run(&self, args: &[&str]) {
        let out = Command::new("bash")
            .arg(&self.script)
            .args(args)
            .output()
            .expect("fleet.sh runs");
        assert!(
            out.status.success(),
            "fleet.sh {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A throw-away inventory database and a way to run the real CLI on it.
pub struct Cli {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub envs: Vec<(String, String)>,
}

impl Cli {
    pub fn new() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("inventory.db");
        Cli {
            dir,
            db,
            // No agent and no personal known_hosts leak into the tests.
            envs: vec![
                ("SSH_AUTH_SOCK".into(), "/nonexistent".into()),
                ("HOME".into(), "/nonexistent-home".into()),
            ],
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        self.cmd_with(args, &[])
    }

    /// Run with extra environment variables (e.g. a passphrase or an agent socket).
    pub fn cmd_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_patchdesk"));
        c.arg("--db").arg(&self.db).args(args);
        c.env_remove("PATCHDESK_KEY_PASSPHRASE");
        for (k, v) in &self.envs {
            c.env(k, v);
        }
        for (k, v) in extra {
            c.env(k, v);
        }
        c.output().expect("patchdesk runs")
    }

    /// Run and require exit 0.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "patchdesk {args:?} exited {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
    }

    /// Add fleet host `host` under `name` with its address, port, user and the fleet's key file,
    /// plus `extra` flags (groups, environment).
    pub fn add_fleet_host(&self, fleet: &Fleet, host: &str, name: &str, extra: &[&str]) {
        let h = fleet.host(host);
        let key = fleet.path("key");
        let port = h.port.to_string();
        let mut args = vec![
            "host",
            "add",
            name,
            &h.address,
            "--port",
            &port,
            "--user",
            &h.user,
            "--key",
            key.to_str().expect("a UTF-8 key path"),
        ];
        args.extend_from_slice(extra);
        self.ok(&args);
    }

    /// `scan --all` at `when`, required to exit 0 (every host of this database answers).
    pub fn scan_all_ok(&self, when: &str) {
        let out = self.cmd_with(&["scan", "--all"], &[("PATCHDESK_NOW", when)]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// Import the fleet and trust its known_hosts file.
    pub fn with_fleet(fleet: &Fleet) -> Cli {
        let cli = Cli::new();
        let csv = fleet.path("dir").join("hosts.csv");
        cli.ok(&["host", "import", csv.to_str().unwrap()]);
        let kh = fleet.path("known_hosts");
        cli.ok(&["settings", "--known-hosts", kh.to_str().unwrap()]);
        cli
    }
}

// Deployment helpers.

/// Run the CLI at an injected instant; its JSON and exit code.
pub fn at(cli: &Cli, when: &str, args: &[&str]) -> (Value, i32) {
    let out = cli.cmd_with(args, &[("PATCHDESK_NOW", when)]);
    let code = out.status.code().unwrap_or(-1);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} -> {code}: not JSON ({e})\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, code)
}

pub fn installed(fleet: &Fleet, host: &str, pkg: &str) -> String {
    fleet
        .exec(host, &["dpkg-query", "-W", "-f=${Version}", pkg])
        .trim()
        .to_string()
}

/// `deploy plan ARGS --json` at `when`: its JSON and exit code.
pub fn deploy_plan(cli: &Cli, when: &str, args: &[&str]) -> (Value, i32) {
    let mut a = vec!["deploy", "plan", "--json"];
    a.extend_from_slice(args);
    at(cli, when, &a)
}

/// A plan that must be stored (exit 0): its JSON and the deployment id.
pub fn planned(cli: &Cli, when: &str, args: &[&str]) -> (Value, String) {
    let (plan, code) = deploy_plan(cli, when, args);
    assert_eq!(code, 0, "{plan}");
    let id = plan["deployment_id"]
        .as_i64()
        .expect("a stored plan has an id");
    (plan, id.to_string())
}

/// `deploy export ID --ansible DIR --json` at `when`, required to succeed: its JSON.
pub fn export_ansible(cli: &Cli, when: &str, id: &str, dir: &Path) -> Value {
    let (x, code) = at(
        cli,
        when,
        &[
            "deploy",
            "export",
            id,
            "--ansible",
            dir.to_str().expect("a UTF-8 export folder"),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{x}");
    x
}

/// A plan's stages as (name, host names), from `deploy plan --json`.
pub fn plan_stages(plan: &Value) -> Vec<(String, Vec<String>)> {
    plan["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("a stage name").to_string(),
                s["hosts"]
                    .as_array()
                    .expect("stage hosts")
                    .iter()
                    .map(|h| h.as_str().expect("a host name").to_string())
                    .collect(),
            )
        })
        .collect()
}

pub fn stage<'a>(st: &'a Value, name: &str) -> &'a Value {
    st["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stage {name}: {st}"))
}

pub fn scanned_cli(fleet: &Fleet, when: &str) -> Cli {
    let cli = Cli::with_fleet(fleet);
    let out = cli.cmd_with(&["scan", "--all"], &[("PATCHDESK_NOW", when)]);
    assert_eq!(out.status.code(), Some(2), "pd-06 is down, the rest scan");
    cli
}

/// Run a command on a fleet host over plain OpenSSH (not PatchDesk's SSH): ground truth as an
/// administrator would read it.
pub fn ssh(fleet: &Fleet, host: &str, cmd: &str) -> String {
    let cfg = fleet.path("dir").join("ssh_config");
    let out = Command::new("ssh")
        .arg("-F")
        .arg(&cfg)
        .args(["-o", "BatchMode=yes", host, cmd])
        .output()
        .expect("ssh runs");
    assert!(
        out.status.success(),
        "ssh {host} {cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every package dpkg knows on a host, with its version and state, and apt's auto marks, read
/// over plain ssh: compared before a deployment and after its rollback.
pub fn package_state(fleet: &Fleet, host: &str) -> String {
    ssh(
        fleet,
        host,
        "dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n' | sort; echo '-- auto:'; apt-mark showauto | sort",
    )
}

/// Package versions published into the fleet's repository for one test: removed again (and the
/// hosts' apt lists refreshed) when dropped, even when the test fails.
pub struct Published<'a> {
    fleet: &'a Fleet,
    versions: Vec<(String, String)>,
    hosts: Vec<String>,
}

impl<'a> Published<'a> {
    /// `publish` arguments per version, e.g. `&["pd-daemon", "1.2-1", "--depends", "…"]`; the
    /// hosts whose apt lists are refreshed now and on drop.
    pub fn new(fleet: &'a Fleet, versions: &[&[&str]], hosts: &[&str]) -> Published<'a> {
        let p = Published {
            fleet,
            versions: versions
                .iter()
                .map(|v| (v[0].to_string(), v[1].to_string()))
                .collect(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        };
        for v in versions {
            let mut args = vec!["publish"];
            args.extend_from_slice(v);
            fleet.run(&args);
        }
        p.refresh();
        p
    }

    fn refresh(&self) {
        for h in &self.hosts {
            self.fleet.exec(h, &["apt-get", "update", "-qq"]);
        }
    }
}

impl Drop for Published<'_> {
    fn drop(&mut self) {
        for (p, v) in &self.versions {
            let _ = Command::new("bash")
                .arg(&self.fleet.script)
                .args(["unpublish", p, v])
                .output();
        }
        for h in &self.hosts {
            let _ = Command::new("bash")
                .arg(&self.fleet.script)
                .args(["exec", h, "--", "apt-get", "update", "-qq"])
                .output();
        }
    }
}

/// The audit log of a CLI's database: (host, action, phase, exit status, detail), oldest first.
pub fn audit_rows(cli: &Cli) -> Vec<(String, String, String, Option<i64>, String)> {
    let db = rusqlite::Connection::open(&cli.db).unwrap();
    let mut stmt = db
        .prepare("SELECT coalesce(host, ''), action, phase, exit_status, coalesce(detail, '') FROM audit_log ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// A tiny HTTP/1.1 server of the files in `dir` (200 or 404), read at each request (a test
/// rewrites them): the fixture feeds, fetched by the real fetch code.
pub fn serve_files(dir: PathBuf) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
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
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let resp = match std::fs::read(dir.join(&path)) {
                Ok(b) => {
                    let mut v = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len()).into_bytes();
                    v.extend_from_slice(&b);
                    v
                }
                Err(_) => {
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                }
            };
            let _ = s.write_all(&resp);
        }
    });
    port
}

/// Hold `host`'s dpkg frontend lock (a real fcntl lock, as apt and dpkg take it) for `secs`.
/// Returns once the lock is held; the child ends when the time is up.
pub fn hold_dpkg_lock(fleet: &Fleet, host: &str, secs: u32) -> std::process::Child {
    use std::io::{BufRead, BufReader};
    let script = format!(
        r#"use Fcntl; $| = 1; open(my $f, ">>", "/var/lib/dpkg/lock-frontend") or die "open: $!"; my $s = pack("ssx4qqix4", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLKW, $s) or die "lock: $!"; print "locked\n"; sleep {secs};"#
    );
    let mut child = Command::new(&fleet.script)
        .args(["exec", host, "perl", "-e", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("fleet.sh exec runs");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("piped stdout"))
        .read_line(&mut line)
        .expect("the lock holder writes a line");
    assert_eq!(line.trim(), "locked", "the lock holder started");
    child
}

/// Start `patchdesk ARGS` on the test's database at time `when` without waiting for it (stdout
/// and stderr piped), for tests that run several processes at once.
pub fn spawn_cli(cli: &Cli, when: &str, args: &[&str]) -> std::process::Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patchdesk"));
    c.arg("--db").arg(&cli.db).args(args);
    for (k, v) in &cli.envs {
        c.env(k, v);
    }
    c.env("PATCHDESK_NOW", when)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("patchdesk runs")
}

/// ansible-playbook of the venv the bench and scripts/test.sh install ansible-core into.
pub fn ansible_playbook() -> PathBuf {
    let cache = std::env::var("PATCHDESK_CACHE").unwrap_or_else(|_| "/var/cache/patchdesk".into());
    PathBuf::from(cache).join("ansible-venv/bin/ansible-playbook")
}

/// The version of `pkg` in a host's last scan (`host show --packages --json`).
pub fn scanned_version(cli: &Cli, when: &str, host: &str, pkg: &str) -> Option<String> {
    fn find(v: &Value, pkg: &str) -> Option<String> {
        match v {
            Value::Object(m) => {
                if m.get("name").and_then(Value::as_str) == Some(pkg) {
                    if let Some(ver) = m.get("version").and_then(Value::as_str) {
                        return Some(ver.to_string());
                    }
                }
                m.values().find_map(|x| find(x, pkg))
            }
            Value::Array(a) => a.iter().find_map(|x| find(x, pkg)),
            _ => None,
        }
    }
    let (v, code) = at(cli, when, &["host", "show", host, "--packages", "--json"]);
    assert_eq!(code, 0, "{v}");
    find(&v["host"], pkg)
}

/// Run a playbook: whether it succeeded, and its output.
pub fn run_playbook(dir: &Path, playbook: &str) -> (bool, String) {
    let out = Command::new(ansible_playbook())
        .current_dir(dir)
        .args(["-i", "inventory.ini", playbook])
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .output()
        .expect("ansible-playbook runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
