//! RPM version ordering, exactly as rpm orders versions: `[EPOCH:]VERSION[-RELEASE]` compared
//! epoch first (a number), then version, then release, each with rpm's `rpmvercmp` (alternating
//! digit and letter segments, separators ignored, `~` before anything, `^` after the base
//! version but before the next one). Owns parsing and comparing rpm versions; owns no I/O and
//! must not touch the database or SSH.
//!
//! The segment comparison is the `rpm-version` crate's (a maintained Rust implementation of
//! rpm's `rpmvercmp`, "sort algorithm identical to RPM"); this module adds a strict, panic-free
//! parse for hostile input (length bound, rpm's own character set for versions and releases, a
//! numeric epoch) and serde as a plain string. A Debian version is a different type
//! ([`crate::version::Version`]): the two are never compared. `tests/version_rpm.rs` checks the
//! ordering against rpm's own comparison (python3-rpm) on thousands of pairs.

use std::cmp::Ordering;
use std::str::FromStr;

/// Longest version string accepted (rpm has no limit; real ones are well under 100 characters).
pub const MAX_LEN: usize = 256;

/// A parsed rpm `[EPOCH:]VERSION[-RELEASE]`. Equality is ordering equality, as in rpm:
/// `0:1.0-1` == `1.0-1`, `1.0-01` == `1.0-1`, `1_0-1` == `1.0-1`. A missing release sorts
/// before any release (`1.0` < `1.0-1`), as rpm's `labelCompare` does.
#[derive(Clone)]
pub struct Evr {
    text: String,
    epoch: Option<u32>,
    version: String,
    release: Option<String>,
}

/// Why a string is not an rpm version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvrError {
    #[error("empty rpm version")]
    Empty,
    #[error("rpm version longer than {MAX_LEN} characters")]
    TooLong,
    #[error("{0:?} is not an rpm version ([EPOCH:]VERSION-RELEASE with letters, digits and . _ + ~ ^ only)")]
    Invalid(String),
}

/// rpm's allowed characters in Version and Release (rpmbuild refuses others; `-` separates them).
fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+~^".contains(&b))
        && s.bytes().any(|b| b.is_ascii_alphanumeric())
}

impl FromStr for Evr {
    type Err = EvrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(EvrError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(EvrError::TooLong);
        }
        let invalid = || EvrError::Invalid(s.chars().take(64).collect());
        let (epoch, vr) = match s.split_once(':') {
            Some((e, vr)) => {
                if e.is_empty() || e.len() > 10 || !e.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid());
                }
                (Some(e.parse::<u32>().map_err(|_| invalid())?), vr)
            }
            None => (None, s),
        };
        let (version, release) = match vr.split_once('-') {
            Some((v, r)) => (v, Some(r)),
            None => (vr, None),
        };
        if !valid_part(version) || release.is_some_and(|r| !valid_part(r)) {
            return Err(invalid());
        }
        Ok(Evr {
            text: s.to_string(),
            epoch,
            version: version.to_string(),
            release: release.map(str::to_string),
        })
    }
}

/// rpm's `rpmvercmp` on one part. `rpm-version` exposes it through its EVR type only: an EVR with
/// equal epochs and empty releases compares exactly the two version strings.
fn rpmvercmp(a: &str, b: &str) -> Ordering {
    rpm_version::Evr::new("0", a, "").cmp(&rpm_version::Evr::new("0", b, ""))
}

impl Evr {
    /// The text as it was given (as the host printed it).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The epoch; 0 when none was given (rpm treats a missing epoch as 0).
    pub fn epoch(&self) -> u32 {
        self.epoch.unwrap_or(0)
    }

    /// Whether the text carried an explicit epoch (`0:1.0-1` does, `1.0-1` does not).
    pub fn has_epoch(&self) -> bool {
        self.epoch.is_some()
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
    }

    /// The form dnf prints and accepts in `NAME-EVR`: `E:V-R` with the epoch only when it is not 0.
    pub fn normalized(&self) -> String {
        let mut s = String::with_capacity(self.text.len());
        if self.epoch() != 0 {
            s.push_str(&format!("{}:", self.epoch()));
        }
        s.push_str(&self.version);
        if let Some(r) = &self.release {
            s.push('-');
            s.push_str(r);
        }
        s
    }

    /// Build from the parts rpm prints separately (`%{EPOCH}`, `%{VERSION}`, `%{RELEASE}`), with
    /// the same checks as parsing. An empty epoch means none.
    pub fn from_parts(epoch: &str, version: &str, release: &str) -> Result<Evr, EvrError> {
        let text = match (epoch.is_empty(), release.is_empty()) {
            (true, true) => version.to_string(),
            (true, false) => format!("{version}-{release}"),
            (false, true) => format!("{epoch}:{version}"),
            (false, false) => format!("{epoch}:{version}-{release}"),
        };
        // A part containing the separators would parse as something else: refuse it.
        if epoch.contains([':', '-'])
            || version.contains([':', '-'])
            || release.contains([':', '-'])
        {
            return Err(EvrError::Invalid(text.chars().take(64).collect()));
        }
        text.parse()
    }
}

impl Ord for Evr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch()
            .cmp(&other.epoch())
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
            })
    }
}

crate::version::text_version_traits!(Evr);

/// Compare two rpm version strings in rpm order.
pub fn compare(a: &str, b: &str) -> Result<Ordering, EvrError> {
    Ok(a.parse::<Evr>()?.cmp(&b.parse::<Evr>()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lt(a: &str, b: &str) {
        assert_eq!(compare(a, b), Ok(Ordering::Less), "{a} < {b}");
        assert_eq!(compare(b, a), Ok(Ordering::Greater), "{b} > {a}");
    }

    fn eq(a: &str, b: &str) {
        assert_eq!(compare(a, b), Ok(Ordering::Equal), "{a} = {b}");
        assert_eq!(a.parse::<Evr>().unwrap(), b.parse::<Evr>().unwrap());
    }

    // Each verdict here was checked with python3-rpm's labelCompare (rpm 4.18).
    #[test]
    fn rpm_classics() {
        lt("1.0~rc1", "1.0");
        lt("1.0", "1.0^");
        lt("1.0^git1", "1.0.1");
        lt("1.0^git1", "1.1");
        lt("1.0~rc1", "1.0~rc1^git");
        lt("1.0~", "1.0^");
        lt("1~~", "1~");
        lt("1^", "1^^");
        lt("1.0", "1.0.0");
        lt("1.0", "1.0a");
        lt("1.0", "1.0.a");
        lt("a", "1");
        lt("5.5p1", "5.5p10");
        lt("10a1", "10b2");
        lt("1.0a", "1.0aa");
        lt("2.0", "1:1.0");
        lt("1.0-1.el9", "1.0-2.el9");
        lt("1.0-1.el9", "1.0-1.el9_3");
        lt("5.14.0-362.8.1.el9_3", "5.14.0-362.13.1.el9_3");
        lt("2.0~rc1-1.el9", "2.0-1.el9");
        lt("1.0", "1.0-1");
        lt("99999999999999999999999", "100000000000000000000000");
        eq("1a", "1.a");
        eq("1_0", "1.0");
        eq("001", "1");
        eq("0:1.0-1", "1.0-1");
        eq("1.0-01", "1.0-1");
        eq("1++0", "1.0");
    }

    #[test]
    fn parts() {
        let v: Evr = "1:2.0~rc1-1.el9".parse().unwrap();
        assert_eq!(v.epoch(), 1);
        assert!(v.has_epoch());
        assert_eq!(v.version(), "2.0~rc1");
        assert_eq!(v.release(), Some("1.el9"));
        assert_eq!(v.to_string(), "1:2.0~rc1-1.el9");
        assert_eq!(v.normalized(), "1:2.0~rc1-1.el9");
        let z: Evr = "0:1.0-1".parse().unwrap();
        assert_eq!(z.normalized(), "1.0-1");
        assert_eq!(
            Evr::from_parts("", "1.0", "1.el9").unwrap().as_str(),
            "1.0-1.el9"
        );
        assert_eq!(
            Evr::from_parts("2", "1.0", "1").unwrap().as_str(),
            "2:1.0-1"
        );
        assert!(Evr::from_parts("", "1.0-2", "1").is_err());
        assert!(Evr::from_parts("x", "1.0", "1").is_err());
        let j = serde_json::to_string(&v).unwrap();
        assert_eq!(j, "\"1:2.0~rc1-1.el9\"");
        assert_eq!(serde_json::from_str::<Evr>(&j).unwrap(), v);
        assert!(serde_json::from_str::<Evr>("\"1.0;rm\"").is_err());
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "",
            "1.0 2",
            "1.0;rm",
            "$(id)",
            "1:",
            ":1.0",
            "a:1.0",
            "1.0-",
            "-1",
            "1.0-1-2",
            "1:2:3",
            "é1",
            "99999999999:1.0",
            "4294967296:1.0",
            "...",
            "1.0-~",
            "1.0\n",
        ] {
            assert!(bad.parse::<Evr>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "1".repeat(300).parse::<Evr>().err(),
            Some(EvrError::TooLong)
        );
        assert!("4294967295:1.0".parse::<Evr>().is_ok());
        let e = "1.0;rm".parse::<Evr>().unwrap_err().to_string();
        assert!(e.contains("is not an rpm version"), "{e}");
    }

    fn part() -> impl Strategy<Value = String> {
        "[0-9a-z.~^_+]{0,6}[0-9a-z][0-9a-z.~^]{0,4}"
    }

    fn evr_strategy() -> impl Strategy<Value = String> {
        (
            proptest::option::of(0u32..3),
            part(),
            proptest::option::of(part()),
        )
            .prop_map(|(e, v, r)| {
                let mut s = String::new();
                if let Some(e) = e {
                    s.push_str(&format!("{e}:"));
                }
                s.push_str(&v);
                if let Some(r) = r {
                    s.push('-');
                    s.push_str(&r);
                }
                s
            })
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = s.parse::<Evr>();
        }

        #[test]
        fn never_panics_on_rpm_alphabet(s in "[0-9a-zA-Z.~^_+:-]{0,300}") {
            if let Ok(v) = s.parse::<Evr>() {
                let _ = v.cmp(&v);
                prop_assert_eq!(v.to_string(), s);
            }
        }

        // Sorting must never meet an inconsistent order (Rust's sort may panic on one).
        #[test]
        fn total_order(a in evr_strategy(), b in evr_strategy(), c in evr_strategy()) {
            let (a, b, c): (Evr, Evr, Evr) = (a.parse().unwrap(), b.parse().unwrap(), c.parse().unwrap());
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            prop_assert_eq!(a.cmp(&a), Ordering::Equal);
            if a <= b && b <= c {
                prop_assert!(a <= c, "{:?} <= {:?} <= {:?}", a, b, c);
            }
            if a == b && b == c {
                prop_assert!(a == c);
            }
            prop_assert_eq!(a.to_string().parse::<Evr>().unwrap(), a.clone());
            prop_assert_eq!(a.normalized().parse::<Evr>().unwrap(), a.clone());
        }
    }
}
