//! Real documents read back with the tools an auditor's machine has: qpdf checks the PDF's
//! structure, pdffonts that every font is embedded, pdftoppm renders every page, pdftotext
//! finds the figures, host names and CVE ids. CSV files are parsed back.

mod common;

use common::*;
use patchdesk_engine::host::Environment;
use patchdesk_engine::report::{weekly_report, Paper, Scope, WeeklyReport};

fn odd_fleet() -> Db {
    let mut db = db();
    add_host(
        &mut db,
        "web_01.example-corp",
        Environment::Prod,
        &["team:a/b", "web"],
    );
    add_host(&mut db, "web-02", Environment::Prod, &["web"]);
    add_host(&mut db, "db.01", Environment::NonProd, &["db"]);
    add_host(&mut db, "down-9", Environment::Prod, &["dark"]);
    advisory(
        &db,
        "CVE-2026-1001",
        "libc++1",
        "1.1-1",
        9.8,
        "2026-11-20T09:00:00Z",
        "heap overflow <script>alert(1)</script> & \"quotes\" é 漢字",
    );
    advisory(
        &db,
        "CVE-2026-2002",
        "pd-tools~odd",
        "2.1-1",
        7.5,
        "2026-10-01T00:00:00Z",
        "high",
    );
    let pk = |n: &str, v: &str, c: Option<&str>| pkg(n, v, c);
    scan(
        &mut db,
        "web_01.example-corp",
        &[
            pk("libc++1", "1.0-1", Some("1.1-1")),
            pk("pd-tools~odd", "2.0-1", Some("2.1-1")),
        ],
    );
    scan(&mut db, "web-02", &[pk("libc++1", "1.0-1", Some("1.1-1"))]);
    scan(
        &mut db,
        "db.01",
        &[
            pk("libc++1", "1.1-1", None),
            pk("pd-tools~odd", "2.0-1", Some("2.1-1")),
        ],
    );
    fail(&mut db, "down-9");
    db.inv
        .conn()
        .execute_batch(
            "INSERT INTO deployments (name, scope, created_at, updated_at, state, current_stage, mode, canary_soak_secs, smoke_commands, warnings, overrides)
               VALUES ('naïve <b>fix</b> & 漢', 'web', '2026-11-24 13:00:00+00:00', '2026-11-24 13:00:00+00:00', 'planned', 0, 'manual', 0, '[]', '[]',
                       '{\"no-canary\":\"=cmd|'' /C calc''!A0 accepted by Zoë\"}');
             INSERT INTO deployment_hosts (deployment_id, host_id, stage_idx, state) VALUES (1, 2, 0, 'pending');",
        )
        .unwrap();
    db
}

fn write_pdf(db: &Db, r: &WeeklyReport, paper: Paper, name: &str) -> std::path::PathBuf {
    let bytes = patchdesk_report::pdf(r, paper).unwrap();
    let path = db.dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    if let Ok(dir) = std::env::var("PATCHDESK_REPORT_ARTIFACTS") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&path, std::path::Path::new(&dir).join(name)).unwrap();
    }
    path
}

#[test]
fn fleet_pdf_is_valid_archivable_and_says_what_the_data_says() {
    let db = odd_fleet();
    db.clock.set(t("2026-11-28T12:00:00Z"));
    let r = weekly_report(&db.inv, &Scope::Fleet, None).unwrap();
    let c = &r.summary.compliance;
    // CVE-2026-1001 (critical, due 11-27) on two web hosts, CVE-2026-2002 (high, due 10-31) on
    // web_01 and db.01: all four past their deadline on Saturday.
    assert_eq!(
        (c.with_deadline, c.overdue, c.open_critical, c.open_high),
        (4, 4, 2, 2),
        "{c:?}"
    );
    let path = write_pdf(&db, &r, Paper::A4, "fleet-a4.pdf");
    let text = check_pdf(&path);
    for needle in [
        "Weekly patch status: the whole fleet",
        "2026-W48",
        &format!("{:.1} %", c.percent.unwrap()),
        "CVE-2026-1001",
        "CVE-2026-2002",
        "web_01.example-corp",
        "db.01",
        "down-9",
        "libc++1",
        "pd-tools~odd",
        "unreachable",
        "cannot connect to 127.0.0.9:22",
        "Group team:a/b",
        "accepted by Zoë",
        "Page 1 of",
    ] {
        assert!(
            text.contains(needle),
            "{needle:?} not in the PDF text:\n{text}"
        );
    }
    // Characters DejaVu Sans lacks are printed as '?', never as the missing glyph.
    assert!(text.contains("naïve <b>fix</b> & ?"), "{text}");
    // The scope and the week on every page.
    let n = pages(path.to_str().unwrap());
    for i in 1..=n {
        let (_, page) = tool(
            "pdftotext",
            &[
                "-f",
                &i.to_string(),
                "-l",
                &i.to_string(),
                path.to_str().unwrap(),
                "-",
            ],
        );
        assert!(
            page.contains("the whole fleet · 2026-W48"),
            "page {i}: {page}"
        );
        assert!(
            page.contains(&format!("Page {i} of {n}")),
            "page {i}: {page}"
        );
    }
    // PDF/A-2a: the XMP says so; tagged (a structure tree, marked).
    let raw = std::fs::read(&path).unwrap();
    let s = String::from_utf8_lossy(&raw);
    assert!(s.contains("pdfaid:part") && s.contains("StructTreeRoot") && s.contains("MarkInfo"));
    let (_, info) = tool("pdfinfo", &[path.to_str().unwrap()]);
    assert!(info.contains("Tagged:          yes"), "{info}");
    assert!(info.contains("595.28 x 841.89 pts (A4)"), "{info}");
    // Letter.
    let letter = write_pdf(&db, &r, Paper::Letter, "fleet-letter.pdf");
    check_pdf(&letter);
    let (_, info) = tool("pdfinfo", &[letter.to_str().unwrap()]);
    assert!(info.contains("612 x 792 pts (letter)"), "{info}");
}

#[test]
fn two_thousand_overdue_rows_break_across_pages_with_repeated_headers() {
    let mut db = db();
    add_host(&mut db, "big-1", Environment::Prod, &["big"]);
    let mut pkgs = Vec::new();
    for i in 0..2000 {
        let name = format!("pkg-{i:04}");
        advisory(
            &db,
            &format!("CVE-2026-{:05}", 10000 + i),
            &name,
            "2.0-1",
            9.1,
            "2026-10-01T00:00:00Z",
            "x",
        );
        pkgs.push(pkg(&name, "1.0-1", Some("2.0-1")));
    }
    scan(&mut db, "big-1", &pkgs);
    let r = weekly_report(&db.inv, &Scope::Group("big".into()), None).unwrap();
    assert_eq!(r.overdue.len(), 2000);
    let path = write_pdf(&db, &r, Paper::A4, "overdue-2000.pdf");
    let text = check_pdf(&path);
    assert!(text.contains("CVE-2026-10000") && text.contains("CVE-2026-11999"));
    assert!(text.contains("pkg-0000") && text.contains("pkg-1999"));
    let n = pages(path.to_str().unwrap());
    assert!(n > 25, "{n} pages");
    // Every page of the table after the first repeats the header row.
    let mut with_header = 0;
    for i in 2..n {
        let (_, page) = tool(
            "pdftotext",
            &[
                "-layout",
                "-f",
                &i.to_string(),
                "-l",
                &i.to_string(),
                path.to_str().unwrap(),
                "-",
            ],
        );
        if page.contains("pkg-") {
            assert!(
                page.contains("Package") && page.contains("Deadline (UTC)"),
                "page {i} has no header:\n{page}"
            );
            with_header += 1;
        }
    }
    assert!(with_header > 20);
    // CSV: the full table.
    let files = patchdesk_report::csv_tables(&r).unwrap();
    let (_, overdue) = files.iter().find(|(n, _)| n == "overdue.csv").unwrap();
    let mut rd = csv::Reader::from_reader(&overdue[..]);
    assert_eq!(rd.records().count(), 2000);
}

#[test]
fn empty_and_unreachable_scopes_make_readable_documents() {
    let db = odd_fleet();
    let empty = weekly_report(&db.inv, &Scope::Group("nobody".into()), None).unwrap();
    let text = check_pdf(&write_pdf(&db, &empty, Paper::A4, "empty.pdf"));
    assert!(
        text.contains("0 in scope") && text.contains("no data"),
        "{text}"
    );
    let dark = weekly_report(&db.inv, &Scope::Group("dark".into()), None).unwrap();
    let text = check_pdf(&write_pdf(&db, &dark, Paper::Letter, "dark.pdf"));
    assert!(
        text.contains("down-9")
            && text.contains("cannot connect to 127.0.0.9:22")
            && text.contains("MISSED"),
        "{text}"
    );
    let prod = weekly_report(&db.inv, &Scope::Environment(Environment::Prod), None).unwrap();
    let text = check_pdf(&write_pdf(&db, &prod, Paper::A4, "prod.pdf"));
    assert!(text.contains("environment prod"), "{text}");
}

#[test]
fn csv_and_json_carry_the_same_data_safely() {
    let db = odd_fleet();
    db.clock.set(t("2026-11-28T12:00:00Z"));
    let r = weekly_report(&db.inv, &Scope::Fleet, None).unwrap();
    let files = patchdesk_report::csv_tables(&r).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for n in [
        "summary.csv",
        "trend.csv",
        "buckets.csv",
        "groups.csv",
        "overdue.csv",
        "due_soon.csv",
        "deployments.csv",
        "overrides.csv",
        "drills.csv",
        "not_scanned.csv",
        "feeds.csv",
    ] {
        assert!(names.contains(&n), "{n} missing: {names:?}");
    }
    let get = |n: &str| -> Vec<csv::StringRecord> {
        let (_, b) = files.iter().find(|(x, _)| x == n).unwrap();
        csv::Reader::from_reader(&b[..])
            .records()
            .map(Result::unwrap)
            .collect()
    };
    let summary = get("summary.csv");
    assert_eq!(
        summary[0][5].parse::<f64>().unwrap(),
        r.summary.compliance.percent.unwrap()
    );
    let overdue = get("overdue.csv");
    assert!(overdue
        .iter()
        .any(|row| &row[0] == "libc++1" && row[6].contains("web_01.example-corp")));
    // A formula-looking reason is defused for spreadsheets.
    let ov = get("overrides.csv");
    assert!(ov[0][5].starts_with("'=cmd"), "{:?}", ov[0]);
    // JSON: the engine's structure, round-trips exactly.
    let j = patchdesk_report::json(&r).unwrap();
    let back: WeeklyReport = serde_json::from_slice(&j).unwrap();
    assert_eq!(back, r);
    // The preview's SVG is the PDF's chart: no inline style, text escaped.
    let svg = patchdesk_report::chart_svg(&r);
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    assert!(!svg.contains("style="));
    assert!(svg.contains("Compliance % by week"));
}
