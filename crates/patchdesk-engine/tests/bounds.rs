//! Bounded time and memory on hostile input: the scan parser, the advisory feed parsers and the
//! host-list importers, fed *extreme* input (millions of lines, 10 MB lines, huge numbers, every
//! section marker, dates at the ends of the calendar). Memory is measured with a counting
//! allocator installed in this test binary: the peak of live heap bytes above what was live
//! before the call. Time is bounded generously (the machine is shared); the bounds exist to catch
//! blow-ups (a 1 GiB `Vec`, 10^12 host names), not to benchmark.
//!
//! Measured sections run one at a time (a lock), so the peak belongs to the call being measured.

use patchdesk_engine::advisory::parse_feed;
use patchdesk_engine::facts::{self, parse_scan};
use patchdesk_engine::import;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Live heap bytes of the current thread and their peak (the parsers are synchronous, so a
/// call's memory is its thread's; other tests generating inputs on their own threads do not
/// count), plus a process-wide ceiling: past it an allocation fails (the test binary aborts with
/// "memory allocation failed") instead of taking the machine down.
struct Counting;

static TOTAL: AtomicUsize = AtomicUsize::new(0);
const CEILING: usize = 3 << 30;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(n: usize) -> bool {
    let total = TOTAL.fetch_add(n, Ordering::Relaxed) + n;
    if total > CEILING {
        TOTAL.fetch_sub(n, Ordering::Relaxed);
        return false;
    }
    let _ = LIVE.try_with(|l| {
        let now = l.get() + n as isize;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
    true
}

fn shrank(n: usize) {
    TOTAL.fetch_sub(n, Ordering::Relaxed);
    let _ = LIVE.try_with(|l| l.set(l.get() - n as isize));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if !grew(l.size()) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        shrank(l.size());
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            if !grew(new - l.size()) {
                return std::ptr::null_mut();
            }
        } else {
            shrank(l.size() - new);
        }
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

static MEASURE: Mutex<()> = Mutex::new(());

/// What one call cost: peak extra heap bytes (on the calling thread) and wall time.
#[derive(Debug, Clone, Copy)]
struct Cost {
    peak: usize,
    time: Duration,
}

/// Run `f` and measure it. One measurement at a time, so the wall times are not shared.
fn measure<T>(f: impl FnOnce() -> T) -> (T, Cost) {
    let _g = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let t = Instant::now();
    let out = f();
    let time = t.elapsed();
    let peak = (PEAK.with(Cell::get) - base).max(0) as usize;
    (out, Cost { peak, time })
}

const MIB: usize = 1 << 20;

fn pd01() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/scan/pd-01.txt"
    ))
    .unwrap()
}

/// The recorded scan with one section's body replaced.
fn with_section(name: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 16 * 1024);
    let mut skipping = false;
    for line in pd01().lines() {
        if let Some(n) = line.strip_prefix("@@PD ") {
            if skipping {
                skipping = false;
            }
            out.push_str(line);
            out.push('\n');
            if n == name {
                out.push_str(body);
                if !body.ends_with('\n') {
                    out.push('\n');
                }
                skipping = true;
            }
            continue;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The concrete cases of issue #9.

#[test]
fn fifty_million_newlines_in_the_package_list_are_refused_in_bounded_memory() {
    let text = with_section("packages", &"\n".repeat(50_000_000));
    let (res, cost) = measure(|| parse_scan(&text));
    eprintln!("50 M newlines in the package list: {cost:?}");
    assert!(
        matches!(res, Err(facts::FactsError::TooMany { .. })),
        "{res:?}"
    );
    assert!(
        cost.peak < 16 * MIB,
        "peak {} MiB for 50 M newlines",
        cost.peak / MIB
    );
    assert!(cost.time < Duration::from_secs(20), "{cost:?}");
}

#[test]
fn fifty_million_newlines_anywhere_are_bounded() {
    // Before the header, and inside a small section.
    for text in [
        "\n".repeat(50_000_000) + &pd01(),
        with_section("hostname", &"\n".repeat(50_000_000)),
    ] {
        let (res, cost) = measure(|| parse_scan(&text));
        eprintln!(
            "50 M newlines elsewhere: {cost:?} -> {:?}",
            res.as_ref().err()
        );
        assert!(cost.peak < 16 * MIB, "peak {} MiB", cost.peak / MIB);
        assert!(cost.time < Duration::from_secs(20), "{cost:?}");
    }
}

#[test]
fn a_twenty_million_comma_origin_is_bounded() {
    let origin = "a,".repeat(20_000_000);
    let line = format!("Inst pd-hello [1.0-1] (1.1-1 {origin}Debian:bookworm-security [all])");
    let text = with_section("pending", &line);
    let (res, cost) = measure(|| parse_scan(&text));
    eprintln!("20 M-comma origin: {cost:?}");
    assert!(cost.peak < 16 * MIB, "peak {} MiB", cost.peak / MIB);
    assert!(cost.time < Duration::from_secs(20), "{cost:?}");
    if let Ok(f) = res {
        for u in f.pending.unwrap_or_default() {
            assert!(u.origin.len() <= 512, "origin of {} bytes", u.origin.len());
        }
    }
}

#[test]
fn warnings_are_capped_and_counted() {
    let body: String = (0..120_000)
        .map(|i| format!("EVIL;{i}\t1.0\tall\t\t\tii \n"))
        .collect::<String>()
        + "pd-hello\t1.0-1\tall\t\t\tii \n";
    let text = with_section("packages", &body);
    let (res, cost) = measure(|| parse_scan(&text));
    eprintln!("120,000 warning lines: {cost:?}");
    let f = res.unwrap();
    assert!(
        f.warnings.len() <= facts::MAX_WARNINGS + 1,
        "{} warnings kept",
        f.warnings.len()
    );
    let last = f.warnings.last().unwrap();
    assert!(
        last.contains("120000") && last.contains("more"),
        "the rest are counted: {last}"
    );
    assert!(cost.peak < 16 * MIB, "peak {} MiB", cost.peak / MIB);
}

#[test]
fn the_clock_overflow_fixture_is_a_warning_not_a_panic() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/scan/clock-overflow.txt"
    ))
    .unwrap();
    let f = parse_scan(&text).expect("the rest of the scan is readable");
    assert_eq!(f.booted_at, None);
    assert_eq!(
        f.host_time, None,
        "a time before the Unix epoch is not stored"
    );
    assert!(
        f.warnings.iter().any(|w| w.contains("clock")),
        "{:?}",
        f.warnings
    );
    assert!(!f.packages.unwrap().is_empty());
}

#[test]
fn a_host_range_product_is_capped_in_under_a_second() {
    for inv in [
        "[web]\nh[0:10000][0:10000][0:10000]\n",
        "[web]\nh[0:100][0:100][0:100]\n",
    ] {
        let (res, cost) = measure(|| import::from_ansible_ini(inv, "inv.ini"));
        eprintln!("range product {inv:?}: {cost:?}");
        let e = res.unwrap_err().to_string();
        assert!(e.contains("inv.ini: line 2") && e.contains("10000"), "{e}");
        assert!(cost.time < Duration::from_secs(1), "{cost:?}");
        assert!(cost.peak < 16 * MIB, "peak {} MiB", cost.peak / MIB);
    }
    let yaml = "all:\n  hosts:\n    \"h[0:10000][0:10000][0:10000]\":\n";
    let (res, cost) = measure(|| import::from_ansible_yaml(yaml, "inv.yml"));
    assert!(res.is_err() && cost.time < Duration::from_secs(1));
    // What is allowed still works: 100 x 100.
    let r = import::from_ansible_ini("[web]\nh[0:99]-[0:99]\n", "inv.ini").unwrap();
    assert_eq!(r.hosts.len(), 10_000);
}

#[test]
fn a_huge_ssh_config_is_refused_before_it_costs_a_gigabyte() {
    // 240,000 `Host` blocks cost ssh2-config a gigabyte and seconds; the cap is checked first.
    let text = "Host x\n".repeat(240_000);
    let (res, cost) = measure(|| import::from_ssh_config(&text, "config"));
    eprintln!("240,000 Host blocks: {cost:?}");
    assert!(res.unwrap_err().to_string().contains("2000 Host patterns"));
    assert!(cost.peak < MIB, "peak {} bytes", cost.peak);
    let text: String = (0..2000)
        .map(|i| format!("Host h{i}\n  HostName 10.0.0.1\n"))
        .collect();
    let (res, cost) = measure(|| import::from_ssh_config(&text, "config"));
    eprintln!("2,000 Host blocks: {cost:?}");
    assert_eq!(res.unwrap().hosts.len(), 2000);
    assert!(
        cost.peak < 64 * MIB && cost.time < Duration::from_secs(20),
        "{cost:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Feeds: typed, streaming parsing; memory is about the records kept, not the document.

fn big_osv(entries: usize) -> String {
    let details = "x".repeat(2000);
    let mut s = String::from("[");
    for i in 0..entries {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"id":"DSA-{i}-1","aliases":["CVE-2026-{i}"],"published":"2026-11-20T09:00:00Z","summary":"s","details":"{details}",
"references":[{{"type":"WEB","url":"https://example.org/{i}"}},{{"type":"WEB","url":"https://example.org/{i}/2"}}],
"severity":[{{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}],
"affected":[{{"package":{{"name":"pkg{i}","ecosystem":"Debian:12"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"1.{i}-1"}}]}}]}}]}}"#
        ));
    }
    s.push(']');
    s
}

fn big_tracker(pkgs: usize) -> String {
    let desc = "y".repeat(1500);
    let mut s = String::from("{");
    for p in 0..pkgs {
        if p > 0 {
            s.push(',');
        }
        s.push_str(&format!(r#""pkg{p}":{{"#));
        for c in 0..10 {
            if c > 0 {
                s.push(',');
            }
            s.push_str(&format!(
                r#""CVE-2026-{p}{c}":{{"description":"{desc}","scope":"local","debianbug":1,"releases":{{"bookworm":{{"status":"resolved","fixed_version":"1.{c}-1","urgency":"medium","repositories":{{"bookworm":"1.{c}-1"}}}},"trixie":{{"status":"open","urgency":"low","repositories":{{"trixie":"1.0-1"}}}}}}}}"#
            ));
        }
        s.push('}');
    }
    s.push('}');
    s
}

fn big_nvd(entries: usize) -> String {
    let desc = "z".repeat(2000);
    let mut s = String::from(
        r#"{"resultsPerPage":1,"format":"NVD_CVE","version":"2.0","vulnerabilities":["#,
    );
    for i in 0..entries {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"cve":{{"id":"CVE-2026-{i}","published":"2026-11-20T09:00:00.000","descriptions":[{{"lang":"en","value":"{desc}"}}],
"metrics":{{"cvssMetricV31":[{{"source":"nvd@nist.gov","type":"Primary","cvssData":{{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N","baseScore":5.3}}}}]}},
"references":[{{"url":"https://example.org/{i}"}}]}}}}"#
        ));
    }
    s.push_str("]}");
    s
}

#[test]
fn large_feeds_are_parsed_in_memory_proportional_to_what_is_kept() {
    for (what, doc, records) in [
        ("OSV", big_osv(20_000), 20_000),
        ("Debian tracker", big_tracker(3_000), 30_000),
        ("NVD", big_nvd(20_000), 20_000),
    ] {
        let (res, cost) = measure(|| parse_feed(doc.as_bytes()));
        let (_, feed) = res.unwrap();
        let kept = feed.advisories.len() + feed.cvss.len();
        eprintln!(
            "{what} feed of {} MiB, {kept} records: {cost:?}, peak {} MiB",
            doc.len() / MIB,
            cost.peak / MIB
        );
        assert!(kept >= records, "{what}: {kept} records");
        // The document itself is already in memory; parsing costs the records kept (at most
        // 1 KiB each, summaries included), never a copy of the document (a serde_json::Value of
        // it is several times its size).
        assert!(
            cost.peak < (kept * 1024 + 8 * MIB).min(doc.len()),
            "{what}: parsing a {} MiB feed into {kept} records took {} MiB",
            doc.len() / MIB,
            cost.peak / MIB
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests with extreme generators.

/// Pieces of scan output, most of them extreme.
fn scan_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        // every section marker, known or not
        prop::sample::select(vec![
            "@@PD format 1",
            "@@PD format 99999999999999999999",
            "@@PD os-release",
            "@@PD uname",
            "@@PD hostname",
            "@@PD time",
            "@@PD reboot",
            "@@PD privilege",
            "@@PD last-update",
            "@@PD state",
            "@@PD unchanged",
            "@@PD packages",
            "@@PD packages-exit",
            "@@PD pending",
            "@@PD pending-exit",
            "@@PD end",
            "@@PD ",
            "@@PD \u{202e}end",
        ])
        .prop_map(str::to_string),
        // huge and odd numbers
        prop::sample::select(vec![
            "9223372036854775807",
            "-9223372036854775808",
            "-8334601228800",
            "8210266876799",
            "99999999999999999999999999999999",
            "1e308 1e308",
            "NaN inf",
            "-0.0",
            "9999999999.99 0",
            "18446744073709551616",
        ])
        .prop_map(str::to_string),
        // dates at the calendar's ends
        prop::sample::select(vec![
            "log +262142-12-31 23:59:59 upgrade x 1 2",
            "log -262143-01-01 00:00:00 install x 1 2",
            "log 9999-12-31 23:59:59 upgrade x 1 2",
            "log 0000-01-01 00:00:00 upgrade x 1 2",
            "mtime 9223372036854775807",
            "mtime -9223372036854775808",
        ])
        .prop_map(str::to_string),
        // package and pending lines, valid and hostile
        "[a-z0-9.+-]{1,20}\t[0-9][0-9a-z.+~:-]{0,20}\t[a-z0-9-]{1,10}\t\t\t[uihrp][ncHUFWti] ?",
        "Inst [a-z0-9.+-]{1,20} \\[[0-9.:~-]{1,10}\\] \\([0-9.:~-]{1,10} [A-Za-z:, /\\[\\]\u{1b}-]{0,40}\\)",
        // long lines (up to 10 MB) and many lines (up to 2 M)
        (1usize..10_000_000, any::<u8>()).prop_map(|(n, b)| {
            let c = if b.is_ascii_graphic() { b as char } else { 'x' };
            c.to_string().repeat(n)
        }),
        (1usize..2_000_000).prop_map(|n| "p\tv\n".repeat(n)),
        (1usize..200_000).prop_map(|n| "a,".repeat(n)),
        // anything
        "\\PC{0,200}",
    ]
}

proptest! {
    // Few cases, each extreme (megabytes of input): the suite stays at seconds.
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 16, ..ProptestConfig::default() })]

    #[test]
    fn scan_parser_is_bounded_on_extreme_output(pieces in prop::collection::vec(scan_piece(), 1..24)) {
        let text = format!("@@PD format 1\n{}\n@@PD end\n", pieces.join("\n"));
        let (res, cost) = measure(|| parse_scan(&text));
        prop_assert!(cost.peak <= 16 * MIB + text.len() / 2, "peak {} MiB for {} MiB of output", cost.peak / MIB, text.len() / MIB);
        prop_assert!(cost.time < Duration::from_secs(20), "{:?}", cost);
        if let Ok(f) = res {
            prop_assert!(f.warnings.len() <= facts::MAX_WARNINGS + 1);
            for s in [&f.os_id, &f.os_version, &f.os_codename, &f.os_pretty, &f.kernel, &f.arch, &f.hostname] {
                prop_assert!(s.len() <= 512);
                let bad = s.chars().any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c));
                prop_assert!(!bad, "control or bidi characters kept: {:?}", s);
            }
            for p in f.packages.iter().flatten() {
                prop_assert!(p.status.len() <= 3);
            }
            for u in f.pending.iter().flatten() {
                prop_assert!(u.origin.len() <= 512 && !u.origin.contains('['));
                prop_assert!(!u.arch.is_empty() && !u.arch.contains('['));
            }
        }
    }

    #[test]
    fn feed_parsers_are_bounded_on_extreme_documents(
        date in prop::sample::select(vec![
            "+262142-12-31T00:00:00", "-262143-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
            "0000-01-01", "2026-02-30", "1e308", "", "2026-11-20T09:00:00Z",
        ]),
        score in prop::sample::select(vec!["1e308", "-1", "NaN", "18446744073709551616", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"]),
        n in 1usize..10_000,
        long in 0usize..2_000_000,
        kind in 0u8..3,
    ) {
        // The long string goes into the first entry only (n x long would be gigabytes).
        let long_text = "q".repeat(long);
        let big = |i: usize| if i == 0 { long_text.as_str() } else { "short" };
        let doc = match kind {
            0 => format!(r#"[{}]"#, (0..n).map(|i| format!(
                r#"{{"id":"DSA-{i}","aliases":["CVE-1-{i}"],"published":"{date}","summary":"{}","severity":[{{"type":"CVSS_V3","score":"{score}"}}],
                "affected":[{{"package":{{"name":"p{i}x","ecosystem":"Debian:12"}},"ranges":[{{"events":[{{"fixed":"{score}"}}]}}]}}]}}"#, big(i))).collect::<Vec<_>>().join(",")),
            1 => format!(r#"{{"vulnerabilities":[{}]}}"#, (0..n).map(|i| format!(
                r#"{{"cve":{{"id":"CVE-1-{i}","published":"{date}","descriptions":[{{"value":"{}"}}],"metrics":{{"cvssMetricV31":[{{"cvssData":{{"vectorString":"{score}","baseScore":1e308}}}}]}}}}}}"#, big(i))).collect::<Vec<_>>().join(",")),
            _ => format!(r#"{{"p{n}x":{{"CVE-1-1":{{"description":"{long_text}","releases":{{"bookworm":{{"status":"resolved","fixed_version":"{score}","urgency":"{date}"}}}}}}}}}}"#),
        };
        let (res, cost) = measure(|| parse_feed(doc.as_bytes()));
        prop_assert!(cost.peak <= 16 * MIB + doc.len() / 2, "peak {} MiB for a {} MiB feed", cost.peak / MIB, doc.len() / MIB);
        prop_assert!(cost.time < Duration::from_secs(20), "{:?}", cost);
        if let Ok((_, feed)) = res {
            let sane = |d: &chrono::DateTime<chrono::Utc>| (1970..=2200).contains(&chrono::Datelike::year(d));
            prop_assert!(feed.advisories.iter().filter_map(|a| a.disclosed_at.as_ref()).all(sane));
            prop_assert!(feed.cvss.iter().filter_map(|c| c.published.as_ref()).all(sane));
            prop_assert!(feed.advisories.iter().all(|a| a.summary.len() <= 1200));
            prop_assert!(feed.warnings.len() <= 101);
        }
    }

    #[test]
    fn importers_are_bounded_on_extreme_files(
        a in 0u64..100_000_000_000u64, b in 0u64..100_000_000_000u64,
        depth in 1usize..6, lines in 1usize..60_000, long in 0usize..5_000_000,
        kind in 0u8..5,
    ) {
        let text = match kind {
            0 => format!("[web]\n{}\n", (0..depth).map(|_| format!("h[{a}:{b}]")).collect::<String>()),
            1 => format!("[web]\n{}", "h1 ansible_host=10.0.0.1\n".repeat(lines)),
            2 => format!("name,address\n{},10.0.0.1\n", "n".repeat(long)),
            // YAML alias expansion (a "billion laughs")
            3 => {
                let mut y = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
                for i in 1..=depth + 4 {
                    y.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(", ")));
                }
                y.push_str(&format!("all:\n  hosts:\n    h1:\n      x: *a{}\n", depth + 4));
                y
            }
            _ => format!("Host {}\n  HostName 10.0.0.1\n", "w".repeat(long)) + &"Host x\n".repeat(lines),
        };
        let (_, cost) = measure(|| (
            import::from_ansible_ini(&text, "f"),
            import::from_ansible_yaml(&text, "f"),
            import::from_csv(&text, "f"),
            import::from_ssh_config(&text, "f"),
        ));
        prop_assert!(cost.peak <= 64 * MIB + 8 * text.len(), "peak {} MiB for {} KiB", cost.peak / MIB, text.len() / 1024);
        prop_assert!(cost.time < Duration::from_secs(20), "{:?}", cost);
    }
}
