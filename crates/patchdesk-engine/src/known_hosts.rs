//! OpenSSH known_hosts files: which recorded keys apply to a host, and what they say about the key
//! it offers. Owns parsing (per line: one unreadable line never hides the others), host pattern
//! matching (plain names, `[host]:port`, wildcards and negations, hashed `|1|salt|hash` entries)
//! and the markers (`@revoked` refuses a key; `@cert-authority` is not supported, so a host that
//! only a CA vouches for is refused with a sentence saying so). Owns no network and no database.
//!
//! Written by hand: russh's reader gives up on a whole file at its first unreadable line (so a
//! changed key read as "unknown"), stops at the first mismatch, and ignores the markers; no
//! maintained crate exposes OpenSSH's matching rules as a pure function.

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{HashAlg, PublicKey};
use std::path::{Path, PathBuf};

/// What the known_hosts files say about the key a host offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line for this host records exactly this key.
    Known { file: PathBuf, line: usize },
    /// Lines for this host record other keys of the same algorithm, and none this one.
    Changed {
        file: PathBuf,
        line: usize,
        expected: String,
    },
    /// The offered key is listed `@revoked`.
    Revoked { file: PathBuf, line: usize },
    /// Only a `@cert-authority` line applies to this host: PatchDesk does not verify host
    /// certificates.
    CertAuthority { file: PathBuf, line: usize },
    /// Nothing recorded for this host (or only keys of other algorithms).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

/// One readable line that applies to the host.
struct Entry {
    line: usize,
    marker: Marker,
    key: PublicKey,
}

/// The name OpenSSH looks up: `host`, or `[host]:port` off port 22.
fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// OpenSSH's wildcard match (`*` any run, `?` one character), case-insensitive.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    // Iterative with one backtrack point: linear in practice, never exponential.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&name[n]) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

/// A hashed host field: `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
fn hashed_match(field: &str, name: &str) -> bool {
    let mut parts = field.split('|');
    let (Some(""), Some("1"), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (
        BASE64.decode(salt.as_bytes()),
        BASE64.decode(hash.as_bytes()),
    ) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// Does a host field (comma-separated patterns, `!` negates) apply to `name`?
fn host_matches(field: &str, name: &str) -> bool {
    if field.starts_with('|') {
        return hashed_match(field, name);
    }
    let mut matched = false;
    for pat in field.split(',') {
        match pat.strip_prefix('!') {
            Some(neg) if wildcard(neg.as_bytes(), name.as_bytes()) => return false,
            Some(_) => {}
            None => matched |= wildcard(pat.as_bytes(), name.as_bytes()),
        }
    }
    matched
}

/// The readable lines of one file that apply to `host:port`. Unreadable lines are skipped (and
/// logged), never the whole file.
fn entries(text: &str, file: &Path, host: &str, port: u16) -> Vec<Entry> {
    let name = lookup_name(host, port);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_ascii_whitespace();
        let mut first = fields.next().unwrap_or("");
        let marker = match first {
            "@revoked" => Marker::Revoked,
            "@cert-authority" => Marker::CertAuthority,
            m if m.starts_with('@') => {
                tracing::warn!(
                    "{}: line {}: unknown marker {m:?}; line ignored",
                    file.display(),
                    i + 1
                );
                continue;
            }
            _ => Marker::None,
        };
        if marker != Marker::None {
            first = fields.next().unwrap_or("");
        }
        if !host_matches(first, &name) {
            continue;
        }
        let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
            tracing::warn!("{}: line {}: no key; line ignored", file.display(), i + 1);
            continue;
        };
        match PublicKey::from_openssh(&format!("{kind} {blob}")) {
            Ok(key) => out.push(Entry {
                line: i + 1,
                marker,
                key,
            }),
            Err(e) => {
                tracing::warn!(
                    "{}: line {}: unreadable key ({e}); line ignored",
                    file.display(),
                    i + 1
                )
            }
        }
    }
    out
}

/// The verdict of known_hosts files (given as `(path, contents)`) on the key a host offers.
/// Precedence: a revoked key is refused wherever it is listed; a recorded identical key is
/// accepted; a different key of the same algorithm is a change; a host only a CA vouches for is
/// refused (unsupported); otherwise the host is unknown.
pub fn verdict_of(files: &[(PathBuf, String)], host: &str, port: u16, key: &PublicKey) -> Verdict {
    let mut changed = None;
    let mut ca = None;
    let mut known = None;
    for (file, text) in files {
        for e in entries(text, file, host, port) {
            let same = e.key.key_data() == key.key_data();
            match e.marker {
                Marker::Revoked if same => {
                    return Verdict::Revoked {
                        file: file.clone(),
                        line: e.line,
                    }
                }
                Marker::Revoked => {}
                Marker::CertAuthority => {
                    ca.get_or_insert((file.clone(), e.line));
                }
                Marker::None if same => {
                    known.get_or_insert((file.clone(), e.line));
                }
                Marker::None if e.key.algorithm() == key.algorithm() => {
                    changed.get_or_insert((
                        file.clone(),
                        e.line,
                        e.key.fingerprint(HashAlg::Sha256).to_string(),
                    ));
                }
                Marker::None => {}
            }
        }
    }
    if let Some((file, line)) = known {
        return Verdict::Known { file, line };
    }
    if let Some((file, line, expected)) = changed {
        return Verdict::Changed {
            file,
            line,
            expected,
        };
    }
    if let Some((file, line)) = ca {
        return Verdict::CertAuthority { file, line };
    }
    Verdict::Unknown
}

/// [`verdict_of`] over files on disk; a file that cannot be read is skipped (it may not exist).
pub fn verdict(paths: &[PathBuf], host: &str, port: u16, key: &PublicKey) -> Verdict {
    let files: Vec<(PathBuf, String)> = paths
        .iter()
        .filter_map(|p| {
            // known_hosts files are small; a huge one is not read whole.
            let meta = std::fs::metadata(p).ok()?;
            if meta.len() > 64 * 1024 * 1024 {
                tracing::warn!("{}: larger than 64 MiB; not read", p.display());
                return None;
            }
            let bytes = std::fs::read(p).ok()?;
            Some((p.clone(), String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect();
    verdict_of(&files, host, port, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real keys and a real `ssh-keygen -H` output (for web-01, 10.0.0.5 and [10.0.0.6]:2222).
    const A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF5aswBNkB5RlLL9Rf+lDnzbOXP6vgqZrAuJZK1RmW6J";
    const B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHyJ8/vqfnH1zuYdsmeMbCCItfy2gKUcZf5zdZYE2Sn9";
    const C: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOm6pFUyjNdlex6FeTivkPZz0E4B5SwWbAraiZ/LASyrdIJ38ukkT6OkY3iw62xZNgvclVR2/ccXaePhdg0Ui1A=";
    const HASHED: &str = "|1|Jjb2ahh4PMlPBXroqUjdZVx+bJQ=|2yBXXOmLMxyI5qFg8CtMD5ulXuk= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF5aswBNkB5RlLL9Rf+lDnzbOXP6vgqZrAuJZK1RmW6J
|1|LBzl6JBaVwzw3ENQa1UthOc2ir4=|/RxcXULgv2CvwPk9GCixGHMMIG0= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF5aswBNkB5RlLL9Rf+lDnzbOXP6vgqZrAuJZK1RmW6J
|1|ez5UMo4baspvvqLRbaGW2Gqgw/0=|LKpJ1Q+4XNZLjWiDNX4dS0PD3KA= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF5aswBNkB5RlLL9Rf+lDnzbOXP6vgqZrAuJZK1RmW6J
";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn v(text: &str, host: &str, port: u16, offered: &str) -> Verdict {
        verdict_of(
            &[(PathBuf::from("kh"), text.to_string())],
            host,
            port,
            &key(offered),
        )
    }

    #[test]
    fn plain_and_port_entries() {
        let text = format!("# comment\n\nweb-01,10.0.0.5 {A}\n[10.0.0.6]:2222 {A}\n");
        assert_eq!(
            v(&text, "10.0.0.5", 22, A),
            Verdict::Known {
                file: "kh".into(),
                line: 3
            }
        );
        assert_eq!(
            v(&text, "WEB-01", 22, A),
            Verdict::Known {
                file: "kh".into(),
                line: 3
            }
        );
        assert_eq!(
            v(&text, "10.0.0.6", 2222, A),
            Verdict::Known {
                file: "kh".into(),
                line: 4
            }
        );
        assert_eq!(
            v(&text, "10.0.0.6", 22, A),
            Verdict::Unknown,
            "another port is another host"
        );
        assert!(matches!(
            v(&text, "10.0.0.5", 22, B),
            Verdict::Changed { line: 3, .. }
        ));
        // A key of another algorithm is not a change (the host may have several keys).
        assert_eq!(v(&text, "10.0.0.5", 22, C), Verdict::Unknown);
    }

    #[test]
    fn hashed_entries() {
        assert!(matches!(
            v(HASHED, "web-01", 22, A),
            Verdict::Known { line: 1, .. }
        ));
        assert!(matches!(
            v(HASHED, "10.0.0.5", 22, A),
            Verdict::Known { line: 2, .. }
        ));
        assert!(matches!(
            v(HASHED, "10.0.0.6", 2222, A),
            Verdict::Known { line: 3, .. }
        ));
        assert!(matches!(
            v(HASHED, "10.0.0.5", 22, B),
            Verdict::Changed { line: 2, .. }
        ));
        assert_eq!(v(HASHED, "10.0.0.7", 22, A), Verdict::Unknown);
        assert_eq!(
            v("|1|bad|bad ssh-ed25519 AAAA\n", "10.0.0.7", 22, A),
            Verdict::Unknown
        );
    }

    #[test]
    fn a_garbled_line_before_a_valid_one_hides_nothing() {
        // Issue #9: one unparseable line made the whole file be ignored, so a changed key was
        // reported as unknown.
        let text = format!("10.0.0.5 ssh-ed25519 AAAA!!garbage\n10.0.0.5 {A}\n");
        assert!(matches!(
            v(&text, "10.0.0.5", 22, B),
            Verdict::Changed { line: 2, .. }
        ));
        assert!(matches!(
            v(&text, "10.0.0.5", 22, A),
            Verdict::Known { line: 2, .. }
        ));
        let text = format!("10.0.0.5 {A} trailing comment\n10.0.0.5\n10.0.0.5 ssh-ed25519\n");
        assert!(matches!(
            v(&text, "10.0.0.5", 22, A),
            Verdict::Known { line: 1, .. }
        ));
    }

    #[test]
    fn a_matching_line_after_a_mismatching_one_is_found() {
        let text = format!("10.0.0.5 {B}\n10.0.0.5 {A}\n");
        assert!(matches!(
            v(&text, "10.0.0.5", 22, A),
            Verdict::Known { line: 2, .. }
        ));
        // Across files too.
        let files = [
            (PathBuf::from("one"), format!("10.0.0.5 {B}\n")),
            (PathBuf::from("two"), format!("10.0.0.5 {A}\n")),
        ];
        assert_eq!(
            verdict_of(&files, "10.0.0.5", 22, &key(A)),
            Verdict::Known {
                file: "two".into(),
                line: 1
            }
        );
    }

    #[test]
    fn markers_are_honoured() {
        let text = format!("10.0.0.5 {A}\n@revoked * {A}\n");
        assert!(matches!(
            v(&text, "10.0.0.5", 22, A),
            Verdict::Revoked { line: 2, .. }
        ));
        assert!(matches!(
            v(&text, "10.0.0.5", 22, B),
            Verdict::Changed { line: 1, .. }
        ));
        let text = format!("@cert-authority *.example.org {C}\n");
        assert!(matches!(
            v(&text, "web.example.org", 22, A),
            Verdict::CertAuthority { line: 1, .. }
        ));
        assert_eq!(v(&text, "web.example.com", 22, A), Verdict::Unknown);
        let text = format!("@cert-authority *.example.org {C}\nweb.example.org {A}\n");
        assert!(matches!(
            v(&text, "web.example.org", 22, A),
            Verdict::Known { line: 2, .. }
        ));
        assert_eq!(
            v(&format!("@bogus 10.0.0.5 {A}\n"), "10.0.0.5", 22, A),
            Verdict::Unknown
        );
    }

    #[test]
    fn patterns() {
        assert!(host_matches("*.example.org", "web.example.org"));
        assert!(host_matches("web-??", "web-01"));
        assert!(!host_matches(
            "*.example.org,!db.example.org",
            "db.example.org"
        ));
        assert!(host_matches("[10.0.0.*]:2222", "[10.0.0.9]:2222"));
        assert!(!host_matches("10.0.0.1", "10.0.0.10"));
        // Linear, not exponential, on hostile patterns.
        let evil = "*a".repeat(5000) + "b";
        let t = std::time::Instant::now();
        assert!(!host_matches(&evil, &"a".repeat(10_000)));
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }
}
