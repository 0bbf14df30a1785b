//! Debian version ordering, exactly as dpkg orders versions (epochs, `~`, revisions). Owns
//! parsing and comparing version strings; owns no I/O.
//!
//! The comparison itself is the `debversion` crate's (a maintained implementation of dpkg's
//! `verrevcmp`); this module adds a strict, panic-free parse for hostile input (length bound,
//! ASCII only, dpkg's epoch limit), one correction to the comparison (see [`Version::from_str`])
//! and serde as a plain string. `tests/version_dpkg.rs` checks the ordering against
//! `dpkg --compare-versions` on thousands of real version pairs (and the versions dpkg refuses).

use std::cmp::Ordering;
use std::str::FromStr;

/// The traits both version types share (dpkg's [`Version`] and rpm's
/// [`crate::pkg::rpm::version::Evr`]): equality is ordering equality (from their own `Ord`),
/// `Display` is the text as the host printed it, `Debug` names the type, serde is that text (and
/// deserializing parses it, so a stored version is checked again). The type needs `Ord`,
/// `FromStr` with a displayable error, and a `text: String` field.
macro_rules! text_version_traits {
    ($t:ident) => {
        impl PartialOrd for $t {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other) == std::cmp::Ordering::Equal
            }
        }

        impl Eq for $t {}

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.text)
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($t), "({:?})"), self.text)
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.text)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use text_version_traits;

/// Longest version string accepted (dpkg has no limit; real ones are < 100 characters).
pub const MAX_LEN: usize = 256;

/// A parsed Debian version. Equality is ordering equality, as in dpkg: `0:1.0` == `1.0`.
#[derive(Clone)]
pub struct Version {
    text: String,
    parsed: debversion::Version,
    /// `parsed` with dpkg's empty-digit-run rule made explicit; what comparisons use.
    ordered: debversion::Version,
}

/// The largest epoch dpkg accepts (it stores epochs in an `int`: "epoch in version is too big").
pub const MAX_EPOCH: u64 = 2_147_483_647;

/// Why a string is not a Debian version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("empty version")]
    Empty,
    #[error("version longer than {MAX_LEN} characters")]
    TooLong,
    #[error("{0:?} is not a Debian version (epoch:upstream-revision, letters, digits and . + ~ - : only)")]
    Invalid(String),
    #[error("{0:?} is not a Debian version: its epoch is above {MAX_EPOCH}, which dpkg refuses")]
    EpochTooBig(String),
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(VersionError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(VersionError::TooLong);
        }
        let invalid = || VersionError::Invalid(s.chars().take(64).collect());
        // dpkg: the upstream part must start with a digit (it only warns otherwise, but no real
        // archive has such versions; refusing keeps garbage out of the inventory).
        let upstream_start = match s.split_once(':') {
            Some((epoch, u)) if !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) => {
                if epoch.parse::<u64>().map_or(true, |e| e > MAX_EPOCH) {
                    return Err(VersionError::EpochTooBig(s.chars().take(64).collect()));
                }
                u
            }
            Some(_) => return Err(invalid()),
            None => s,
        };
        // dpkg: "revision number is empty".
        if !upstream_start.starts_with(|c: char| c.is_ascii_digit()) || s.ends_with('-') {
            return Err(invalid());
        }
        let parsed: debversion::Version = s.parse().map_err(|_| invalid())?;
        // dpkg's verrevcmp compares alternating non-digit and digit runs, and an empty digit run
        // counts as 0 (it skips leading zeros, then compares what is left): `1.0.` == `1.0.0`,
        // `1.0a` == `1.0a0`. debversion 0.5 orders an empty digit run below "0". An empty digit
        // run can only occur at the end of the upstream part or of the revision (runs
        // alternate), so appending "0" to a part that ends in a non-digit makes the two agree
        // without touching any other comparison: "" and "0" are the same number to dpkg.
        let mut ordered = parsed.clone();
        let ends_in_non_digit = |p: &str| p.bytes().last().is_some_and(|b| !b.is_ascii_digit());
        if ends_in_non_digit(&ordered.upstream_version) {
            ordered.upstream_version.push('0');
        }
        if let Some(r) = ordered
            .debian_revision
            .as_mut()
            .filter(|r| ends_in_non_digit(r))
        {
            r.push('0');
        }
        Ok(Version {
            text: s.to_string(),
            parsed,
            ordered,
        })
    }
}

impl Version {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn epoch(&self) -> u32 {
        self.parsed.epoch.unwrap_or(0)
    }

    pub fn upstream(&self) -> &str {
        &self.parsed.upstream_version
    }

    pub fn revision(&self) -> Option<&str> {
        self.parsed.debian_revision.as_deref()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.ordered.cmp(&other.ordered)
    }
}

text_version_traits!(Version);

/// Compare two version strings in dpkg order.
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(a.parse::<Version>()?.cmp(&b.parse::<Version>()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lt(a: &str, b: &str) {
        assert_eq!(compare(a, b), Ok(Ordering::Less), "{a} < {b}");
        assert_eq!(compare(b, a), Ok(Ordering::Greater), "{b} > {a}");
    }

    #[test]
    fn dpkg_classics() {
        lt("1.0~rc1", "1.0");
        lt("2.0", "1:0.1");
        lt("1.0-1", "1.0-1+deb12u1");
        lt("1.0", "1.0a");
        lt("1.0a", "1.0+");
        lt("1.0~~", "1.0~~a");
        lt("1.0~~a", "1.0~");
        lt("1.0~", "1.0");
        lt("1.2-3-4", "1.2-3-5");
        lt("1.9", "1.10");
        lt("1.0-1", "1.0-1.1");
        lt("2.0~rc1-1", "2.0-1");
        lt("3.0-1", "1:3.0-1");
        lt("99999999999999999999999", "100000000000000000000000");
        assert_eq!(compare("0:1.0", "1.0"), Ok(Ordering::Equal));
        assert_eq!(compare("1.0-0", "1.0"), Ok(Ordering::Equal));
        assert_eq!(compare("01.0", "1.0"), Ok(Ordering::Equal));
        // An empty digit run is 0, as in dpkg (issue #9 item 14).
        assert_eq!(compare("1.0.", "1.0.0"), Ok(Ordering::Equal));
        assert_eq!(compare("1.0-1.", "1.0-1.0"), Ok(Ordering::Equal));
        lt("1.0", "1.0.");
        lt("1.0.~", "1.0.");
        assert!(compare("2147483647:1.0", "1.0").is_ok());
    }

    #[test]
    fn parts() {
        let v: Version = "1:2.0~rc1-3-4".parse().unwrap();
        assert_eq!(v.epoch(), 1);
        assert_eq!(v.upstream(), "2.0~rc1-3");
        assert_eq!(v.revision(), Some("4"));
        assert_eq!(v.to_string(), "1:2.0~rc1-3-4");
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "",
            "abc",
            "1.0 2",
            "1.0;rm",
            "1:",
            ":1.0",
            "1.0-",
            "1.0_1",
            "é1",
            "99999999999:1.0",
            "2147483648:1.0",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?}");
        }
        assert!("1".repeat(300).parse::<Version>().is_err());
    }

    fn version_strategy() -> impl Strategy<Value = String> {
        (
            proptest::option::of(0u32..3),
            "[0-9][0-9a-z.+~]{0,8}",
            proptest::option::of("[0-9a-z+.~]{1,5}"),
        )
            .prop_map(|(e, u, r)| {
                let mut s = String::new();
                if let Some(e) = e {
                    s.push_str(&format!("{e}:"));
                }
                s.push_str(&u);
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
            let _ = s.parse::<Version>();
        }

        #[test]
        fn total_order(a in version_strategy(), b in version_strategy(), c in version_strategy()) {
            let (a, b, c): (Version, Version, Version) = (a.parse().unwrap(), b.parse().unwrap(), c.parse().unwrap());
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            if a <= b && b <= c {
                prop_assert!(a <= c);
            }
            prop_assert_eq!(a.to_string().parse::<Version>().unwrap(), a.clone());
        }
    }
}
