//! Our version ordering against dpkg's own: a recorded fixture of real version pairs judged by
//! `dpkg --compare-versions`, and a fresh live sample from this machine's apt lists.

use patchdesk_engine::version::compare;
use std::cmp::Ordering;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn check(tsv: &str) -> (usize, Vec<String>) {
    let mut n = 0;
    let mut wrong = Vec::new();
    for line in tsv.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 3, "bad fixture line {line:?}");
        let want = match f[1] {
            "<" => Some(Ordering::Less),
            "=" => Some(Ordering::Equal),
            ">" => Some(Ordering::Greater),
            // dpkg refuses one of the versions ("bad syntax"): so must we.
            "!" => None,
            other => panic!("bad verdict {other:?}"),
        };
        match (compare(f[0], f[2]), want) {
            (Ok(got), Some(want)) if got == want => {}
            (Err(_), None) => {}
            (other, _) => wrong.push(format!("{} {} {}: we say {other:?}", f[0], f[1], f[2])),
        }
        n += 1;
    }
    (n, wrong)
}

#[test]
fn recorded_pairs_match_dpkg() {
    let tsv =
        std::fs::read_to_string(root().join("tests/fixtures/versions/dpkg-pairs.tsv")).unwrap();
    let (n, wrong) = check(&tsv);
    assert!(n >= 5000, "the fixture has {n} pairs");
    assert!(
        wrong.is_empty(),
        "{} of {n} pairs differ from dpkg, first: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}

#[test]
fn live_pairs_match_dpkg() {
    if std::process::Command::new("dpkg")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("dpkg is not installed: this test needs a Debian/Ubuntu machine");
    }
    let out = std::process::Command::new("bash")
        .arg(root().join("tests/fixtures/versions/record.sh"))
        .arg("2000")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "record.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (n, wrong) = check(&String::from_utf8_lossy(&out.stdout));
    assert!(
        n >= 1500,
        "only {n} live pairs (are apt lists present? run apt-get update)"
    );
    assert!(
        wrong.is_empty(),
        "{} of {n} live pairs differ from dpkg: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}

#[test]
fn the_recorded_edge_cases_are_there() {
    // Issue #9 item 14: a version ending in a separator, and epochs dpkg refuses.
    let tsv =
        std::fs::read_to_string(root().join("tests/fixtures/versions/dpkg-pairs.tsv")).unwrap();
    for line in ["1.0.\t=\t1.0.0", "1.0a\t=\t1.0a0", "2147483648:1.0\t!\t1.0"] {
        assert!(tsv.lines().any(|l| l == line), "{line:?} missing");
    }
}

#[test]
fn an_invalid_version_is_said_once() {
    let e = compare("1.0 2", "1.0").unwrap_err().to_string();
    assert_eq!(e.matches("1.0 2").count(), 1, "{e}");
    assert_eq!(e.matches("not a Debian version").count(), 1, "{e}");
    let e = compare("2147483648:1.0", "1.0").unwrap_err().to_string();
    assert!(e.contains("epoch") && e.contains("2147483647"), "{e}");
}
