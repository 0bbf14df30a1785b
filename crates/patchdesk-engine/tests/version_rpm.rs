//! Our rpm version ordering against rpm's own: a recorded fixture of version pairs judged by
//! python3-rpm (`labelCompare` and `rpm.ver`, which must agree), and fresh pairs generated and
//! judged live with a new seed on every run.

use patchdesk_engine::pkg::rpm::version::compare;
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
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            other => panic!("bad verdict {other:?}"),
        };
        match compare(f[0], f[2]) {
            Ok(got) if got == want => {}
            other => wrong.push(format!("{} {} {}: we say {other:?}", f[0], f[1], f[2])),
        }
        n += 1;
    }
    (n, wrong)
}

#[test]
fn recorded_pairs_match_rpm() {
    let tsv =
        std::fs::read_to_string(root().join("tests/fixtures/versions/rpm-pairs.tsv")).unwrap();
    let (n, wrong) = check(&tsv);
    assert!(n >= 5000, "the fixture has {n} pairs");
    assert!(
        wrong.is_empty(),
        "{} of {n} pairs differ from rpm, first: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}

#[test]
fn live_pairs_match_rpm() {
    let py = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import rpm"])
        .output();
    assert!(
        py.as_ref().is_ok_and(|o| o.status.success()),
        "python3-rpm is missing: this test needs `apt-get install python3-rpm` (scripts/deps.sh test installs it)"
    );
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_007;
    let out = std::process::Command::new("bash")
        .arg(root().join("tests/fixtures/versions/record-rpm.sh"))
        .arg("3000")
        .arg(seed.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "record-rpm.sh (seed {seed}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (n, wrong) = check(&String::from_utf8_lossy(&out.stdout));
    assert!(n >= 2500, "only {n} live pairs (seed {seed})");
    assert!(
        wrong.is_empty(),
        "{} of {n} live pairs (seed {seed}) differ from rpm: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}
