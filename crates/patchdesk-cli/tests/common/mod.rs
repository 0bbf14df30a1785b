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
