//! Weekly reports end to end on the real fleet: fixture feeds served over HTTP (the real fetch
//! code), real scans, real upgrades with apt on the hosts, the injected clock moved across
//! three weeks. The report's JSON is checked against `compliance --json` and `patches --json`,
//! its PDF read back with pdftotext, qpdf, pdffonts and pdftoppm.

mod common;

use common::{at, Cli, Fleet};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

fn sync_feeds(cli: &Cli, when: &str) {
    let port = common::serve_files(common::repo_root().join("tests/fixtures/advisories"));
    for f in ["osv-debian.json", "debian-tracker.json", "nvd.json"] {
        let url = format!("http://127.0.0.1:{port}/{f}");
        let (r, code) = at(cli, when, &["advisories", "sync", "--from", &url, "--json"]);
        assert_eq!(code, 0, "{r}");
    }
}

fn ok_at(cli: &Cli, when: &str, args: &[&str]) -> Value {
    let (v, code) = at(cli, when, args);
    assert_eq!(code, 0, "{args:?}: {v}");
    v
}

fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} is needed (apt-get install poppler-utils qpdf): {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (host, package) of every patch in a `patches --json` answer matching `pred`.
fn pairs(patches: &Value, pred: impl Fn(&Value) -> bool) -> BTreeSet<(String, String)> {
    patches
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| pred(p))
        .map(|p| {
            (
                p["host"].as_str().unwrap().to_string(),
                p["package"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// (host, package) of every host listed on a report row.
fn row_pairs(rows: &Value) -> BTreeSet<(String, String)> {
    rows.as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["hosts"].as_array().unwrap().iter().map(move |h| {
                (
                    h.as_str().unwrap().to_string(),
                    r["package"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect()
}

#[test]
fn report_figures_equal_compliance_and_patches_and_the_pdf_says_the_same() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let t0 = "2026-11-24T12:00:00Z";
    let cli = common::scanned_cli(&fleet, t0);
    sync_feeds(&cli, t0);
    // Saturday: the critical deadline (11-27 09:00) has passed.
    let now = "2026-11-28T12:00:00Z";
    let pdf = cli.dir.path().join("fleet.pdf");
    let csv = cli.dir.path().join("csv");
    let r = ok_at(
        &cli,
        now,
        &[
            "report",
            "weekly",
            "--fleet",
            "--json",
            "--pdf",
            pdf.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    assert_eq!(r["week"], "2026-W48");
    assert_eq!(r["as_of"], now);
    let comp = ok_at(&cli, now, &["compliance", "--json"]);
    assert_eq!(
        r["summary"]["compliance"], comp,
        "the report's figures are compliance --json's"
    );
    let patches = ok_at(&cli, now, &["patches", "--json"]);
    assert_eq!(
        row_pairs(&r["overdue"]),
        pairs(&patches, |p| p["overdue"] == true)
    );
    assert!(!r["overdue"].as_array().unwrap().is_empty());
    let soon = pairs(&patches, |p| {
        p["overdue"] == false && p["seconds_left"].as_i64().is_some_and(|s| s <= 7 * 86400)
    });
    assert_eq!(row_pairs(&r["due_soon"]), soon);
    // Each scope agrees with compliance for that scope.
    for (args, cargs) in [
        (vec!["--scope", "web"], vec!["--group", "web"]),
        (vec!["--env", "prod"], vec!["--env", "prod"]),
    ] {
        let mut a = vec!["report", "weekly", "--json"];
        a.extend(&args);
        let mut c = vec!["compliance", "--json"];
        c.extend(&cargs);
        assert_eq!(
            ok_at(&cli, now, &a)["summary"]["compliance"],
            ok_at(&cli, now, &c)
        );
    }
    let groups: Vec<&str> = r["summary"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["canary", "db", "office", "web"]);
    let hosts = &r["summary"]["hosts"];
    assert_eq!(
        (hosts["total"].as_u64(), hosts["unreachable"].as_u64()),
        (Some(6), Some(1))
    );
    assert_eq!(
        r["not_scanned"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["state"] == "unreachable")
            .map(|h| h["host"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["pd-06"]
    );

    // The PDF: valid, fonts embedded, every page renders, and it says the same numbers.
    let p = pdf.to_str().unwrap();
    assert!(tool("qpdf", &["--check", p]).contains("No syntax or stream encoding errors"));
    let fonts = tool("pdffonts", &[p]);
    for row in fonts.lines().skip(2).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[cols.len() - 5], "yes", "not embedded: {row}");
    }
    let pages: usize = tool("pdfinfo", &[p])
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let img = tempfile::tempdir().unwrap();
    tool(
        "pdftoppm",
        &[
            "-r",
            "20",
            "-png",
            p,
            img.path().join("p").to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read_dir(img.path()).unwrap().count(), pages);
    let text = tool("pdftotext", &["-layout", p, "-"]);
    let pct = format!("{:.1} %", comp["percent"].as_f64().unwrap());
    assert!(text.contains(&pct), "{pct} not in the PDF:\n{text}");
    for h in ["pd-01", "pd-02", "pd-03", "pd-05", "pd-06"] {
        assert!(text.contains(h), "{h} not in the PDF");
    }
    for row in r["overdue"].as_array().unwrap() {
        for c in row["cves"].as_array().unwrap() {
            assert!(text.contains(c.as_str().unwrap()), "{c} not in the PDF");
        }
    }
    assert!(
        text.contains(&format!("{} overdue", comp["overdue"]))
            || text.contains(&format!("Overdue patches ({} on", comp["overdue"])),
        "{text}"
    );
    // CSV: one file per table, the overdue table complete.
    let overdue_csv = std::fs::read_to_string(csv.join("overdue.csv")).unwrap();
    assert_eq!(
        overdue_csv.lines().count(),
        1 + r["overdue"].as_array().unwrap().len()
    );
    // History: both files remembered.
    let h = ok_at(&cli, now, &["report", "history", "--json"]);
    let formats: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["csv", "pdf"]);
    // Bad input: a clear one-line error, nothing written.
    let bad = cli.cmd_with(
        &[
            "report", "weekly", "--fleet", "--week", "2026-W99", "--json",
        ],
        &[("PATCHDESK_NOW", now)],
    );
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("2026 has no week 99") && err.lines().count() == 1,
        "{err}"
    );
    let none = cli.cmd_with(&["report", "weekly", "--fleet"], &[("PATCHDESK_NOW", now)]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("choose at least one output"));
}

#[test]
fn three_weeks_give_three_true_trend_points_and_week_one_reads_the_same_in_week_three() {
    let _g = common::serial();
    let fleet = Fleet::get();
    let t0 = "2026-11-24T12:00:00Z";
    let cli = common::scanned_cli(&fleet, t0);
    sync_feeds(&cli, t0);
    let upgrade = |host: &str, pkg: &str, ver: &str| {
        fleet.exec(
            host,
            &[
                "apt-get",
                "install",
                "-y",
                "-qq",
                "--allow-downgrades",
                &format!("{pkg}={ver}"),
            ],
        );
    };
    // Week 48: pd-05 patched on Wednesday, seen by a scan; the others are left overdue.
    upgrade("pd-05", "pd-hello", "1.1-1");
    let (_, code) = at(&cli, "2026-11-25T12:00:00Z", &["scan", "pd-05", "--json"]);
    assert_eq!(code, 0);
    // Monday of week 49, before anything else: the scheduler closes week 48.
    let w49 = "2026-11-30T06:00:00Z";
    let done = ok_at(&cli, w49, &["report", "snapshot", "--json"]);
    assert!(done
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["week"] == "2026-W48" && d["scope"]["kind"] == "fleet"));
    assert_eq!(
        ok_at(&cli, w49, &["report", "snapshot", "--json"]),
        Value::Array(vec![]),
        "once"
    );
    let week1 = ok_at(
        &cli,
        w49,
        &[
            "report", "weekly", "--fleet", "--week", "2026-W48", "--json",
        ],
    );
    assert_eq!(week1["complete"], true);
    // Week 49: pd-03 patched (ops user, sudo) on Tuesday.
    upgrade("pd-03", "pd-hello", "1.1-1");
    let (_, code) = at(&cli, "2026-12-01T12:00:00Z", &["scan", "--all", "--json"]);
    assert_eq!(code, 2, "pd-06 is still down");
    ok_at(
        &cli,
        "2026-12-07T06:00:00Z",
        &["report", "snapshot", "--json"],
    );
    // Week 50: pd-01 gets the libfoo fix on Tuesday.
    upgrade("pd-01", "pd-libfoo1", "1:3.0-1+deb12u1");
    let w50 = "2026-12-08T12:00:00Z";
    let (_, code) = at(&cli, w50, &["scan", "--all", "--json"]);
    assert_eq!(code, 2);
    let now = ok_at(
        &cli,
        "2026-12-09T12:00:00Z",
        &["report", "weekly", "--fleet", "--json"],
    );
    // Put the hosts back as the fleet defines them before asserting anything else.
    upgrade("pd-05", "pd-hello", "1.0-1");
    upgrade("pd-03", "pd-hello", "1.0-2");
    upgrade("pd-01", "pd-libfoo1", "1:3.0-1");

    let trend = now["trend"].as_array().unwrap();
    assert_eq!(trend.len(), 12);
    let with_data: Vec<&str> = trend
        .iter()
        .filter(|p| p["has_data"] == true)
        .map(|p| p["week"].as_str().unwrap())
        .collect();
    assert_eq!(
        with_data,
        ["2026-W48", "2026-W49", "2026-W50"],
        "three points, nothing interpolated"
    );
    // Each point is true: what compliance says as of that week's last second (asked now).
    for (week, end) in [
        ("2026-W48", "2026-11-29T23:59:59Z"),
        ("2026-W49", "2026-12-06T23:59:59Z"),
    ] {
        let point = trend.iter().find(|p| p["week"] == week).unwrap();
        assert_eq!(point["is_final"], true);
        let c = ok_at(&cli, end, &["compliance", "--json"]);
        assert_eq!(point["percent"], c["percent"], "{week}");
        assert_eq!(point["overdue"], c["overdue"], "{week}");
        assert_eq!(
            point["critical_patched"], c["time_to_patch"][0]["patched"],
            "{week}"
        );
    }
    let p = |w: &str| {
        trend.iter().find(|p| p["week"] == w).unwrap()["critical_patched"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        (p("2026-W48"), p("2026-W49")),
        (1, 2),
        "pd-05 in week 48, pd-03 in week 49"
    );
    assert_ne!(
        trend.iter().find(|p| p["week"] == "2026-W49").unwrap()["overdue"],
        trend.iter().find(|p| p["week"] == "2026-W50").unwrap()["overdue"],
        "week 50's libfoo fix shows"
    );
    // The week-1 report generated in week 3 equals the one generated in week 1.
    let mut again = ok_at(
        &cli,
        "2026-12-09T12:00:00Z",
        &[
            "report", "weekly", "--fleet", "--week", "2026-W48", "--json",
        ],
    );
    let mut first = week1.clone();
    again["generated_at"] = Value::Null;
    first["generated_at"] = Value::Null;
    assert_eq!(again, first);
    // And it does not know about later weeks: pd-03 is still overdue in it.
    assert!(row_pairs(&again["overdue"]).contains(&("pd-03".into(), "pd-hello".into())));
}
