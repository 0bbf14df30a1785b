//! The scan job: for each host, one SSH connection and one round trip running a read-only POSIX
//! script, parsed by [`crate::facts`] and stored by [`crate::inventory`]. Owns concurrency,
//! cancellation, progress and the per-host error isolation (one bad host never spoils the
//! others). It never changes anything on a host.
//!
//! Unchanged hosts: the script is given the state fingerprint of the last stored package snapshot.
//! The host computes the fingerprint of its own dpkg/apt state (sizes, mtimes and inodes of the
//! dpkg status file, apt's lists and extended states, apt preferences) and sends the package list
//! only when it differs.

use crate::error::{Error, HostError, Result};
use crate::facts;
use crate::inventory::{HostRecord, Inventory, ScanOutcome};
use crate::progress::{Phase, ProgressEvent, ProgressFn};
use crate::ssh::{Connection, KeyVerdict, PassphraseFn, SshOptions, Trust};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The read-only scan script, run as `sh -s -- FINGERPRINT` with this text on standard input.
/// Only coreutils, dpkg-query and apt-get are used; nothing is written on the host.
pub const SCAN_SCRIPT: &str = r#"export LC_ALL=C LANG=C TZ=UTC PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
prev="${1:-}"
echo '@@PD format 1'
echo '@@PD os-release'
cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
echo '@@PD uname'
uname -r
uname -m
echo '@@PD hostname'
cat /proc/sys/kernel/hostname 2>/dev/null || hostname 2>/dev/null || cat /etc/hostname
echo '@@PD time'
date +%s
cat /proc/uptime 2>/dev/null
echo '@@PD reboot'
if [ -f /run/reboot-required ] || [ -f /var/run/reboot-required ]; then echo yes; cat /run/reboot-required.pkgs 2>/dev/null; else echo no; fi
echo '@@PD privilege'
if [ "$(id -u)" = 0 ]; then echo root; elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then echo sudo; else echo none; fi
echo '@@PD last-update'
echo "log $(grep -hE '^[0-9-]+ [0-9:]+ (install|upgrade|remove|purge) ' /var/log/dpkg.log 2>/dev/null | tail -n 1)"
echo "mtime $(stat -c %Y /var/lib/dpkg/status 2>/dev/null)"
echo '@@PD state'
fp=$( { stat -c '%n %s %Y %i' /var/lib/dpkg/status /var/lib/apt/extended_states /var/lib/apt/lists/*Packages* /var/lib/apt/lists/*Release 2>/dev/null; ls -ln --time-style=+%s /etc/apt/preferences /etc/apt/preferences.d /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null; } | md5sum | cut -d' ' -f1)
echo "$fp"
if [ -n "$prev" ] && [ "$fp" = "$prev" ]; then
echo '@@PD unchanged'
else
echo '@@PD packages'
dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\t${db:Status-Abbrev}\n'
echo '@@PD pending'
apt-get -s -o Debug::NoLocking=1 -o APT::Get::Show-User-Simulation-Note=false dist-upgrade 2>/dev/null | grep '^Inst '
fi
echo '@@PD end'
"#;

/// How to scan.
#[derive(Clone)]
pub struct ScanOptions {
    /// Hosts scanned at once.
    pub concurrency: usize,
    pub ssh: SshOptions,
    pub passphrase: Option<PassphraseFn>,
    /// Host name → SHA256 fingerprint the user explicitly accepted on first contact.
    pub accept: HashMap<String, String>,
    /// Ask for the full package list even when the host's state looks unchanged.
    pub full: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            concurrency: 32,
            ssh: SshOptions::default(),
            passphrase: None,
            accept: HashMap::new(),
            full: false,
        }
    }
}

/// The result of one host's scan, as reported back to the caller.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HostScanResult {
    pub host: String,
    pub ok: bool,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub packages_transferred: bool,
    pub bytes_received: u64,
    pub duration_ms: i64,
    pub pending: Option<usize>,
}

/// The whole job's result.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ScanSummary {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub hosts: Vec<HostScanResult>,
    pub cancelled: bool,
}

impl ScanSummary {
    pub fn failed(&self) -> usize {
        self.hosts.iter().filter(|h| !h.ok).count()
    }
    pub fn succeeded(&self) -> usize {
        self.hosts.iter().filter(|h| h.ok).count()
    }
}

struct Raw {
    host: String,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
    outcome: ScanOutcome,
    pin: Option<(String, String, String)>,
}

/// Scan the named hosts (all when `names` is empty). Results are stored as each host finishes,
/// so a cancelled or crashed job keeps what it had done.
pub async fn scan_hosts(
    inv: &mut Inventory,
    names: &[String],
    opts: &ScanOptions,
    progress: ProgressFn,
    cancel: CancellationToken,
) -> Result<ScanSummary> {
    let clock = inv.clock().clone();
    let all = inv.hosts()?;
    let targets: Vec<HostRecord> = if names.is_empty() {
        all
    } else {
        let mut by_name: HashMap<String, HostRecord> =
            all.into_iter().map(|h| (h.spec.name.clone(), h)).collect();
        names
            .iter()
            .map(|n| {
                by_name
                    .remove(n)
                    .ok_or_else(|| Error::UnknownHost(n.clone()))
            })
            .collect::<Result<_>>()?
    };
    let total = targets.len();
    let started_at = clock.now();
    let sem = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut set = JoinSet::new();
    for host in targets {
        let prev = if opts.full {
            None
        } else {
            inv.last_state_fingerprint(&host.spec.name)?
        };
        let sem = sem.clone();
        let opts = opts.clone();
        let progress = progress.clone();
        let cancel = cancel.clone();
        let clock = clock.clone();
        set.spawn(async move {
            let name = host.spec.name.clone();
            let _permit = tokio::select! {
                p = sem.acquire_owned() => p.ok(),
                _ = cancel.cancelled() => None,
            };
            if cancel.is_cancelled() {
                return None;
            }
            progress(&ProgressEvent {
                job: "scan",
                host: Some(name.clone()),
                phase: Phase::Connecting,
                done: 0,
                total,
                message: format!("connecting to {}", host.spec.address),
            });
            let started = clock.now();
            let res = tokio::select! {
                r = scan_one(&host, prev.as_deref(), &opts) => r,
                _ = cancel.cancelled() => return None,
            };
            let finished = clock.now();
            Some(match res {
                Ok((facts, bytes, pin)) => Raw {
                    host: name,
                    started,
                    finished,
                    outcome: ScanOutcome::Ok {
                        facts: Box::new(facts),
                        bytes_received: bytes,
                    },
                    pin,
                },
                Err(e) => Raw {
                    host: name,
                    started,
                    finished,
                    outcome: ScanOutcome::Failed {
                        code: e.code().to_string(),
                        message: e.to_string(),
                    },
                    pin: None,
                },
            })
        });
    }

    let mut results = Vec::with_capacity(total);
    while let Some(joined) = set.join_next().await {
        let Ok(Some(raw)) = joined else { continue };
        let pin = raw
            .pin
            .as_ref()
            .map(|(k, f, s)| (k.as_str(), f.as_str(), s.as_str()));
        let stored = inv
            .record_scan(&raw.host, raw.started, raw.finished, &raw.outcome, pin)
            .and_then(|st| {
                if st.set_id.is_some() {
                    crate::classify::update_exposures(inv, &raw.host, raw.finished)?;
                }
                Ok(st)
            });
        let duration_ms = (raw.finished - raw.started).num_milliseconds();
        let result = match (&raw.outcome, stored) {
            (
                ScanOutcome::Ok {
                    facts,
                    bytes_received,
                },
                Ok(st),
            ) => HostScanResult {
                host: raw.host.clone(),
                ok: true,
                error_code: None,
                error: None,
                packages_transferred: st.packages_transferred,
                bytes_received: *bytes_received,
                duration_ms,
                pending: facts.pending.as_ref().map(|p| p.len()),
            },
            (ScanOutcome::Failed { code, message }, Ok(_)) => HostScanResult {
                host: raw.host.clone(),
                ok: false,
                error_code: Some(code.clone()),
                error: Some(message.clone()),
                packages_transferred: false,
                bytes_received: 0,
                duration_ms,
                pending: None,
            },
            (_, Err(e)) => {
                // Storing failed (e.g. an "unchanged" claim we cannot honour): record the failure.
                let message = e.to_string();
                let _ = inv.record_scan(
                    &raw.host,
                    raw.started,
                    raw.finished,
                    &ScanOutcome::Failed {
                        code: e.code().into(),
                        message: message.clone(),
                    },
                    None,
                );
                HostScanResult {
                    host: raw.host.clone(),
                    ok: false,
                    error_code: Some(e.code().into()),
                    error: Some(message),
                    packages_transferred: false,
                    bytes_received: 0,
                    duration_ms,
                    pending: None,
                }
            }
        };
        results.push(result.clone());
        progress(&ProgressEvent {
            job: "scan",
            host: Some(result.host.clone()),
            phase: if result.ok {
                Phase::Done
            } else {
                Phase::Failed
            },
            done: results.len(),
            total,
            message: match &result.error {
                Some(e) => e.clone(),
                None => format!(
                    "{} pending update(s){}",
                    result
                        .pending
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "unchanged:".into()),
                    if result.packages_transferred {
                        ""
                    } else {
                        " (package state unchanged)"
                    }
                ),
            },
        });
    }
    results.sort_by(|a, b| a.host.cmp(&b.host));
    let cancelled = cancel.is_cancelled();
    if cancelled {
        progress(&ProgressEvent {
            job: "scan",
            host: None,
            phase: Phase::Cancelled,
            done: results.len(),
            total,
            message: format!("cancelled after {} of {} hosts", results.len(), total),
        });
    }
    Ok(ScanSummary {
        started_at,
        finished_at: clock.now(),
        hosts: results,
        cancelled,
    })
}

/// Connect, verify, run the script, parse. Returns the facts, the bytes received and the key to pin.
async fn scan_one(
    host: &HostRecord,
    prev: Option<&str>,
    opts: &ScanOptions,
) -> Result<(facts::HostFacts, u64, Option<(String, String, String)>), HostError> {
    let trust = Trust {
        pinned: host.host_key.clone(),
        accept_fingerprint: opts.accept.get(&host.spec.name).cloned(),
    };
    let conn = Connection::open(&host.spec, trust, &opts.ssh, opts.passphrase.clone()).await?;
    let pin = match &conn.verdict {
        KeyVerdict::Pinned => None,
        KeyVerdict::KnownHosts(p) => Some((
            conn.server_key.openssh.clone(),
            conn.server_key.fingerprint.clone(),
            format!("known_hosts:{}", p.display()),
        )),
        KeyVerdict::Accepted => Some((
            conn.server_key.openssh.clone(),
            conn.server_key.fingerprint.clone(),
            "accepted".to_string(),
        )),
    };
    // The fingerprint came from our own database, but is checked anyway: hex only.
    let arg = prev
        .filter(|p| !p.is_empty() && p.len() <= 64 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or("");
    let command = if arg.is_empty() {
        "sh -s".to_string()
    } else {
        format!("sh -s -- {arg}")
    };
    let out = conn.run(&command, Some(SCAN_SCRIPT.as_bytes())).await;
    conn.close().await;
    let out = out?;
    let bytes = (out.stdout.len() + out.stderr.len()) as u64;
    if out.truncated {
        return Err(HostError::Parse(format!(
            "the output exceeded {} bytes",
            opts.ssh.max_output
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let facts = facts::parse_scan(&text).map_err(|e| HostError::Parse(e.to_string()))?;
    if facts.os_id.is_empty() && facts.packages.as_ref().is_some_and(|p| p.is_empty()) {
        return Err(HostError::Unsupported(
            "no /etc/os-release and no dpkg packages: PatchDesk supports Debian and Ubuntu hosts"
                .into(),
        ));
    }
    Ok((facts, bytes, pin))
}

/// First contact: fetch a host's key fingerprint (nothing is run) so a person can compare it.
pub async fn host_key_fingerprint(
    inv: &Inventory,
    name: &str,
    ssh: &SshOptions,
) -> Result<crate::ssh::ServerKey> {
    let host = inv.host(name)?;
    crate::ssh::fetch_host_key(&host.spec, ssh)
        .await
        .map_err(|e| Error::host(name, e))
}

/// Pin a host's key after a person compared its fingerprint: the key is fetched again and must
/// still have the fingerprint they accepted (no trust in whatever answers next). With `replace`,
/// an already pinned key is replaced (the host was genuinely re-keyed).
pub async fn trust_host(
    inv: &mut Inventory,
    name: &str,
    accepted_fingerprint: &str,
    replace: bool,
    ssh: &SshOptions,
) -> Result<crate::ssh::ServerKey> {
    let host = inv.host(name)?;
    if host.host_key.is_some() && !replace {
        return Err(Error::Invalid(format!(
            "{name} already has a pinned key ({}). Replace it only if the host was genuinely re-keyed.",
            host.host_key_fingerprint.unwrap_or_default()
        )));
    }
    let key = crate::ssh::fetch_host_key(&host.spec, ssh)
        .await
        .map_err(|e| Error::host(name, e))?;
    let norm = |s: &str| {
        s.trim()
            .trim_start_matches("SHA256:")
            .trim_end_matches('=')
            .to_string()
    };
    if norm(accepted_fingerprint) != norm(&key.fingerprint) {
        return Err(Error::Invalid(format!(
            "{name}: the host presents {}, not the fingerprint you accepted ({accepted_fingerprint}). Nothing was trusted; check you are reaching the right host.",
            key.fingerprint
        )));
    }
    if replace {
        inv.unpin_host_key(name)?;
    }
    inv.pin_host_key(name, &key.openssh, &key.fingerprint, "accepted")?;
    inv.audit(
        "user",
        Some(name),
        "trust-host-key",
        "note",
        None,
        None,
        Some(&key.fingerprint),
        Some(if replace { "replaced" } else { "first contact" }),
    )?;
    Ok(key)
}
