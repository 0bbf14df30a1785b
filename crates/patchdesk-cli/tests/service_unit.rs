//! `patchdesk service install|status|uninstall` (issue #11): the systemd unit written for this
//! database, checked by systemd's own parser (`systemd-analyze verify`: the program must exist
//! and every line must parse), then removed. `--no-start` keeps systemctl out (the test machine's
//! systemd is not the test's to change).

mod common;

use common::Cli;
use std::process::Command;

#[test]
fn the_unit_is_written_for_this_database_verified_by_systemd_and_removed() {
    let cli = Cli::new();
    let units = cli.dir.path().join("units");
    let dir = units.to_str().unwrap();
    let out = cli.ok(&["service", "install", "--no-start", "--unit-dir", dir]);
    assert!(out.contains("patchdesk.service"), "{out}");
    let unit_path = units.join("patchdesk.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    assert!(
        unit.contains(&format!(
            "ExecStart=\"{}\" --db \"{}\" service run",
            env!("CARGO_BIN_EXE_patchdesk"),
            cli.db.display()
        )),
        "{unit}"
    );
    assert!(unit.contains("WantedBy=default.target"), "{unit}");
    let v = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_path)
        .output()
        .expect("systemd-analyze runs (package systemd)");
    assert!(
        v.status.success(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    let st = cli.ok(&["service", "status", "--no-start", "--unit-dir", dir]);
    assert!(
        st.contains("(installed)") && st.contains("no job has run"),
        "{st}"
    );
    // The service's work shows up in the status.
    cli.ok(&["jobs", "run", "feed-sync"]);
    cli.ok(&["service", "run", "--once"]);
    let st = cli.ok(&["service", "status", "--no-start", "--unit-dir", dir]);
    assert!(
        st.contains("feed-sync") && st.contains("by service "),
        "{st}"
    );
    let out = cli.ok(&["service", "uninstall", "--no-start", "--unit-dir", dir]);
    assert!(out.contains("removed"), "{out}");
    assert!(!unit_path.exists());
    let st = cli.ok(&["service", "status", "--no-start", "--unit-dir", dir]);
    assert!(st.contains("not installed"), "{st}");
}
