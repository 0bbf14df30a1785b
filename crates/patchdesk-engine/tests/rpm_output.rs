//! What rpm hosts print, read by the rpm family's parsers: golden fixtures recorded from the
//! fleet's real rpm hosts (`tests/fixtures/scan/rpm/pd-r*.txt`, see `rpm_fleet.rs`), and hostile
//! variants derived from them (shell metacharacters, huge fields, invalid UTF-8, missing fields,
//! a failed or busy dnf, a truncated output): each is a clear error or is neutralised, and
//! nothing panics.

use patchdesk_engine::pkg::rpm::parse::{
    parse_sections, split_sections, AdvisoryKind, RebootSource, RpmParseError, RpmScan,
    VendorSeverity,
};

fn raw(name: &str) -> Vec<u8> {
    std::fs::read(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/scan/rpm/"
        )
        .to_string()
            + name,
    )
    .unwrap()
}

/// As the scan reads a host's output: bytes, lossily decoded.
fn parse_bytes(bytes: &[u8]) -> Result<RpmScan, RpmParseError> {
    let text = String::from_utf8_lossy(bytes);
    let map = split_sections(&text)?;
    let uname = map
        .get("uname")
        .and_then(|l| l.first())
        .copied()
        .unwrap_or("");
    parse_sections(&map, uname)
}

fn parse(name: &str) -> Result<RpmScan, RpmParseError> {
    parse_bytes(&raw(name))
}

#[test]
fn golden_pd_r1() {
    let s = parse("pd-r1.txt").unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let pkgs = s.packages.as_ref().unwrap();
    let evr = |n: &str| {
        pkgs.iter()
            .find(|p| p.name == n)
            .unwrap()
            .evr
            .as_str()
            .to_string()
    };
    assert_eq!(pkgs.len(), 7);
    assert_eq!(evr("pd-hello"), "1.0-1.el9");
    assert_eq!(evr("pd-libfoo-libs"), "1:3.0-1.el9");
    assert_eq!(evr("pd-agent"), "2.0~rc1-1.el9");
    let kernel = pkgs.iter().find(|p| p.name == "pd-kernel").unwrap();
    assert_eq!(kernel.arch, "x86_64");
    let pending = s.pending.as_ref().unwrap();
    assert_eq!(pending.len(), 6);
    let agent = pending.iter().find(|p| p.name == "pd-agent").unwrap();
    assert_eq!(
        (agent.evr.as_str(), agent.repo.as_str()),
        ("2.0-1.el9", "pd-baseos")
    );
    // The candidate really is newer in rpm's order (2.0~rc1 < 2.0).
    assert!(agent.evr > pkgs.iter().find(|p| p.name == "pd-agent").unwrap().evr);

    let adv = s.advisories.as_ref().unwrap();
    let sev: Vec<(&str, AdvisoryKind, Option<VendorSeverity>)> = adv
        .iter()
        .map(|a| (a.id.as_str(), a.kind, a.severity))
        .collect();
    assert_eq!(
        sev,
        [
            ("RLBA-2024:0106", AdvisoryKind::Bugfix, None),
            (
                "RLSA-2024:0101",
                AdvisoryKind::Security,
                Some(VendorSeverity::Important)
            ),
            (
                "RLSA-2024:0102",
                AdvisoryKind::Security,
                Some(VendorSeverity::Critical)
            ),
            (
                "RLSA-2024:0104",
                AdvisoryKind::Security,
                Some(VendorSeverity::Moderate)
            ),
            (
                "RLSA-2024:0105",
                AdvisoryKind::Security,
                Some(VendorSeverity::Low)
            ),
        ]
    );
    let lib = adv.iter().find(|a| a.id == "RLSA-2024:0104").unwrap();
    assert_eq!(lib.cves, ["CVE-2024-0104"]);
    assert_eq!(lib.packages[0].evr.as_str(), "1:3.0-2.el9");
    assert_eq!(
        lib.issued.unwrap().to_rfc3339(),
        "2024-01-15T00:00:00+00:00"
    );
    assert!(!s.reboot.required);
    assert_eq!(s.reboot.source, RebootSource::NeedsRestarting);
    assert_eq!(s.versionlocks.as_ref().unwrap().len(), 0);
    assert_eq!(s.state_fingerprint.len(), 32);
}

#[test]
fn golden_unchanged_versionlock_and_reboot() {
    let u = parse("pd-r1-unchanged.txt").unwrap();
    assert!(u.packages.is_none() && u.pending.is_none() && u.advisories.is_none());
    assert!(!u.state_fingerprint.is_empty());
    assert!(u.last_update_at.is_some());

    let l = parse("pd-r1-versionlock.txt").unwrap();
    let locks = l.versionlocks.as_ref().unwrap();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].evr.as_ref().unwrap().as_str(), "0:1.0-1.el9");
    assert!(!l
        .pending
        .as_ref()
        .unwrap()
        .iter()
        .any(|p| p.name == "pd-hello"));

    let r = parse("pd-r2-reboot.txt").unwrap();
    assert!(r.reboot.required);
    assert_eq!(r.reboot.packages, ["pd-kernel"]);
    let r2 = parse("pd-r2.txt").unwrap();
    assert!(!r2.reboot.required);
    assert_eq!(r2.packages.as_ref().unwrap().len(), 6);
}

#[test]
fn hostile_but_readable_output_is_neutralised() {
    let good = parse("pd-r1.txt").unwrap();
    let s = parse("hostile-but-readable.txt").unwrap();
    let meta = |v: &str| {
        v.contains(['$', '`', ';', '|', ' ', '(', ')']) || v.chars().any(char::is_control)
    };
    let pkgs = s.packages.as_ref().unwrap();
    assert_eq!(
        pkgs,
        good.packages.as_ref().unwrap(),
        "only the good packages remain"
    );
    assert!(pkgs
        .iter()
        .all(|p| !meta(&p.name) && !meta(p.evr.as_str()) && !meta(&p.arch)));
    assert_eq!(s.pending, good.pending, "bad pending lines are dropped");
    let adv = s.advisories.as_ref().unwrap();
    assert!(adv.iter().all(|a| !meta(&a.id)));
    assert!(adv.iter().all(|a| !a.title.chars().any(char::is_control)));
    let escaped = adv.iter().find(|a| a.id == "RLSA-2024:9997").unwrap();
    assert_eq!(
        escaped.cves,
        ["CVE-2024-9997"],
        "the CVE with a command substitution is dropped"
    );
    assert!(!adv
        .iter()
        .any(|a| a.id.contains("9999") || a.id.contains("9998")));
    assert!(s.versionlocks.as_ref().unwrap().is_empty());
    assert!(
        s.warnings.len() >= 11,
        "each dropped record is reported: {:#?}",
        s.warnings
    );
    assert!(s.warnings.iter().all(|w| !w.chars().any(char::is_control)));
}

#[test]
fn huge_fields_are_bounded() {
    let src = raw("pd-r1.txt");
    let text = String::from_utf8(src).unwrap();
    let big = format!("pd-{}", "a".repeat(1 << 20));
    let text = text
        .replacen(
            "@@PD rpm-packages\n",
            &format!("@@PD rpm-packages\n{big}\t\t1.0\t1\tnoarch\t(none)\t0\n"),
            1,
        )
        .replacen(
            "Description: Critical: pd-kernel security update (a PatchDesk test advisory).",
            &format!("Description: {}", "x".repeat(1 << 20)),
            1,
        );
    let s = parse_bytes(text.as_bytes()).unwrap();
    assert_eq!(
        s.packages.as_ref().unwrap().len(),
        7,
        "the huge name is skipped"
    );
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].len() < 1024, "the warning is bounded");
    let bytes = serde_json::to_string(&s).unwrap().len();
    assert!(bytes < 16 * 1024, "what is kept stays small: {bytes} bytes");
}

#[test]
fn invalid_utf8_is_dropped_with_warnings() {
    let s = parse("invalid-utf8.txt").unwrap();
    assert_eq!(s.packages.as_ref().unwrap().len(), 7);
    assert!(s
        .packages
        .as_ref()
        .unwrap()
        .iter()
        .all(|p| p.name.is_ascii()));
    assert!(s
        .pending
        .as_ref()
        .unwrap()
        .iter()
        .all(|p| p.repo.is_ascii() && p.evr.as_str() != "1.3-1.el9"));
    assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
    // A title is text for people: kept, with the undecodable bytes replaced, never raw.
    let k = s
        .advisories
        .as_ref()
        .unwrap()
        .iter()
        .find(|a| a.id == "RLSA-2024:0102")
        .unwrap();
    assert!(k.title.contains('\u{fffd}'), "{}", k.title);
}

#[test]
fn broken_outputs_are_clear_errors() {
    let cases: [(&str, &str); 5] = [
        ("missing-fields.txt", "rpm-packages: line 1: expected 7 tab-separated fields, got 5"),
        ("truncated.txt", "the output ended early, before section \"end\""),
        (
            "dnf-failed.txt",
            "`dnf check-update` failed with exit status 1: Error: Failed to download metadata for repo 'pd-baseos'",
        ),
        (
            "dnf-busy.txt",
            "dnf is busy (dnf's rpm database lock is held by process 6 (dnf)) and nothing was read; scan again when it has finished",
        ),
        (
            "no-packages.txt",
            "rpm -qa listed no installed packages (is the rpm database readable by the scanning user?)",
        ),
    ];
    for (file, expected) in cases {
        let e = parse(file).expect_err(file).to_string();
        assert!(e.contains(expected), "{file}: {e}");
    }
    assert_eq!(
        parse_bytes(b"Welcome!\n").unwrap_err(),
        RpmParseError::NoMarker
    );
    assert_eq!(
        parse_bytes(b"@@PD format 9\n").unwrap_err(),
        RpmParseError::Format("9".into())
    );
    assert_eq!(
        parse_bytes(&[0xff; 4096]).unwrap_err(),
        RpmParseError::NoMarker
    );
}
