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
use crate::ssh::{KeyVerdict, PassphraseFn, Session, SshOptions, Trust};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The part of the scan script every host runs: OS, kernel, clock, privilege.
const SCAN_COMMON: &str = r#"export LC_ALL=C LANG=C TZ=UTC PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
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
echo '@@PD privilege'
if [ "$(id -u)" = 0 ]; then echo root; elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then echo sudo; else echo none; fi
"#;

/// The Debian family's part of the scan script: reboot flag, last dpkg change, the state
/// fingerprint, then (unless unchanged) `dpkg-query` and apt's dist-upgrade simulation. When a
/// package is held (`apt-mark hold`), the simulation runs again ignoring holds (`@@PD held`):
/// what apt holds back is pending too, marked held.
const SCAN_DEB: &str = r#"echo '@@PD reboot'
if [ -f /run/reboot-required ] || [ -f /var/run/reboot-required ]; then echo yes; cat /run/reboot-required.pkgs 2>/dev/null; else echo no; fi
echo '@@PD last-update'
echo "log $(grep -hE '^[0-9-]+ [0-9:]+ (install|upgrade|remove|purge) ' /var/log/dpkg.log 2>/dev/null | tail -n 1)"
echo "mtime $(stat -c %Y /var/lib/dpkg/status 2>/dev/null)"
echo '@@PD state'
fp=$( { stat -c '%n %s %Y %i' /var/lib/dpkg/status /var/lib/apt/extended_states /var/lib/apt/lists/*Packages* /var/lib/apt/lists/*Release 2>/dev/null; ls -ln --time-style=+%s /etc/apt/preferences /etc/apt/preferences.d /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null; } | md5sum | cut -d' ' -f1)
echo "$fp"
if [ -n "$prev" ] && [ "$fp" = "$prev" ] && command -v dpkg-query >/dev/null 2>&1; then
echo '@@PD unchanged'
else
echo '@@PD packages'
dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\t${db:Status-Abbrev}\n'
rc=$?; echo; echo "@@PD packages-exit $rc"
echo '@@PD pending'
{ apt-get -s -o Debug::NoLocking=1 -o APT::Get::Show-User-Simulation-Note=false dist-upgrade 2>/dev/null; rc=$?; echo; echo "@@PD pending-exit $rc"; } | grep -E '^(Inst |@@PD pending-exit )'
if dpkg-query -W -f='${db:Status-Abbrev}\n' 2>/dev/null | grep -q '^h'; then
echo '@@PD held'
apt-get -s -o Debug::NoLocking=1 -o APT::Ignore-Hold=true -o APT::Get::Show-User-Simulation-Note=false dist-upgrade 2>/dev/null | grep -E '^Inst '
fi
fi
"#;

/// The read-only scan script, run as `sh -s -- FINGERPRINT` with this text on standard input:
/// the common part, then the host's package family ([`crate::pkg::DETECT_SCRIPT`], said in the
/// `family` section; an rpm-family os-release without `rpm` counts as unknown) picks its own
/// part — unknown is read as Debian, which says what is missing — Debian: only coreutils, dpkg-query and apt-get; rpm:
/// [`crate::pkg::rpm::scan::SCAN_FRAGMENT`] (rpm and dnf queries). Nothing is written on the
/// host. On Debian the exit status of the package listing and of the pending-update simulation
/// follow their sections (`@@PD packages-exit N`, on a line of its own even when the tool's
/// output ends without a newline): a host where they failed, or where dpkg is missing, is an
/// error, never a host with nothing to patch; a host without dpkg-query never claims an
/// unchanged state.
pub static SCAN_SCRIPT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{SCAN_COMMON}{}if [ \"$pd_family\" = rpm ] && ! command -v rpm >/dev/null 2>&1; then pd_family=unknown; fi\necho '@@PD family'\necho \"$pd_family\"\nif [ \"$pd_family\" = rpm ]; then\n{}else\n{SCAN_DEB}fi\necho '@@PD end'\n",
        crate::pkg::DETECT_SCRIPT,
        crate::pkg::rpm::scan::SCAN_FRAGMENT
    )
});

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
    pin: Option<Pin>,
}

/// A host key to pin after a scan: (OpenSSH line, fingerprint, where it came from).
type Pin = (String, String, String);

/// What scanning one host produced: the facts, or the error; the bytes received either way.
pub(crate) struct HostScan {
    result: std::result::Result<(facts::HostFacts, Option<Pin>), HostError>,
    bytes: u64,
}

/// md5 of nothing: the state fingerprint of a host with no dpkg/apt state at all (a host without
/// dpkg). It is never sent as "the last state" and never accepted as "unchanged".
const EMPTY_FINGERPRINT: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// Scan the named hosts (all when `names` is empty). Results are stored as each host finishes,
/// so a cancelled or crashed job keeps what it had done.
pub async fn scan_hosts(
    inv: &mut Inventory,
    names: &[String],
    opts: &ScanOptions,
    progress: ProgressFn,
    cancel: CancellationToken,
) -> Result<ScanSummary> {
    scan_hosts_with(inv, names, opts, progress, cancel, |host, prev, opts| {
        Box::pin(async move { scan_one(&host, prev.as_deref(), &opts).await })
    })
    .await
}

type ScanFuture = std::pin::Pin<Box<dyn std::future::Future<Output = HostScan> + Send>>;

/// [`scan_hosts`] with the per-host work given: the seam that lets a test make one host's task
/// panic and see that host get a stored error.
pub(crate) async fn scan_hosts_with(
    inv: &mut Inventory,
    names: &[String],
    opts: &ScanOptions,
    progress: ProgressFn,
    cancel: CancellationToken,
    scan_fn: impl Fn(HostRecord, Option<String>, ScanOptions) -> ScanFuture,
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
    // Key files are unlocked before any connection: a passphrase is asked once per file, off the
    // async workers and outside every connect/auth timeout, and kept in memory for this run only.
    let opts = opts.clone();
    let key_files: std::collections::BTreeSet<std::path::PathBuf> = targets
        .iter()
        .filter_map(|h| match &h.spec.auth {
            crate::host::Auth::KeyFile { path } => Some(path.clone()),
            crate::host::Auth::Agent => None,
        })
        .collect();
    if !key_files.is_empty() {
        let keys = opts.ssh.keys.clone();
        let ask = opts.passphrase.clone();
        tokio::task::spawn_blocking(move || {
            for path in &key_files {
                keys.unlock(path, ask.as_ref());
            }
        })
        .await
        .map_err(|e| Error::Invalid(format!("unlocking the SSH keys failed ({e}); scan again")))?;
    }
    let sem = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut set = JoinSet::new();
    // Which host each task scans, so a task that panics still gets its host a stored error.
    let mut task_host: HashMap<tokio::task::Id, (String, DateTime<Utc>)> = HashMap::new();
    for host in targets {
        let prev = if opts.full {
            None
        } else {
            inv.last_state_fingerprint(&host.spec.name)?
                .filter(|fp| fp != EMPTY_FINGERPRINT)
        };
        let sem = sem.clone();
        let opts = opts.clone();
        let progress = progress.clone();
        let cancel = cancel.clone();
        let task_clock = clock.clone();
        let name = host.spec.name.clone();
        let work = scan_fn(host.clone(), prev, opts);
        let handle = set.spawn(async move {
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
            let started = task_clock.now();
            let res = tokio::select! {
                r = work => r,
                _ = cancel.cancelled() => return None,
            };
            let finished = task_clock.now();
            Some(match res.result {
                Ok((facts, pin)) => Raw {
                    host: name,
                    started,
                    finished,
                    outcome: ScanOutcome::Ok {
                        facts: Box::new(facts),
                        bytes_received: res.bytes,
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
                        bytes_received: res.bytes,
                    },
                    pin: None,
                },
            })
        });
        task_host.insert(handle.id(), (name, clock.now()));
    }

    let mut results = Vec::with_capacity(total);
    // The advisory knowledge, loaded at the first host whose packages arrived and shared by all.
    let mut know: Option<crate::classify::Knowledge> = None;
    while let Some(joined) = set.join_next_with_id().await {
        let raw = match joined {
            Ok((_, Some(raw))) => raw,
            Ok((_, None)) => continue, // cancelled before it finished: nothing half-done is stored
            Err(e) if e.is_cancelled() => continue,
            Err(e) => {
                // The task panicked: that host gets a stored error; the others go on.
                let Some((host, started)) = task_host.remove(&e.id()) else {
                    continue;
                };
                let what = e
                    .try_into_panic()
                    .ok()
                    .and_then(|p| {
                        p.downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                    })
                    .unwrap_or_else(|| "a panic".into());
                tracing::error!("scan of {host} panicked: {what}");
                let err = HostError::Internal(format!(
                    "the scan task stopped: {}",
                    crate::text::clip(&what, 200)
                ));
                Raw {
                    host,
                    started,
                    finished: clock.now(),
                    outcome: ScanOutcome::Failed {
                        code: err.code().into(),
                        message: err.to_string(),
                        bytes_received: 0,
                    },
                    pin: None,
                }
            }
        };
        let pin = raw
            .pin
            .as_ref()
            .map(|(k, f, s)| (k.as_str(), f.as_str(), s.as_str()));
        let stored = inv
            .record_scan(&raw.host, raw.started, raw.finished, &raw.outcome, pin)
            .and_then(|st| {
                // An unchanged host keeps the package set its exposures were last computed from
                // (a feed sync recomputes every host's): only a transferred set is classified.
                if st.set_id.is_some() && st.packages_transferred {
                    if know.is_none() {
                        know = Some(crate::classify::load_knowledge(inv)?);
                    }
                    if let Some(k) = &know {
                        crate::classify::update_exposures_with(inv, k, &raw.host, raw.finished)?;
                    }
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
            (
                ScanOutcome::Failed {
                    code,
                    message,
                    bytes_received,
                },
                Ok(_),
            ) => HostScanResult {
                host: raw.host.clone(),
                ok: false,
                error_code: Some(code.clone()),
                error: Some(message.clone()),
                packages_transferred: false,
                bytes_received: *bytes_received,
                duration_ms,
                pending: None,
            },
            (outcome, Err(e)) => {
                // Storing failed (e.g. an "unchanged" claim we cannot honour): record the failure.
                let message = e.to_string();
                let bytes_received = match outcome {
                    ScanOutcome::Ok { bytes_received, .. }
                    | ScanOutcome::Failed { bytes_received, .. } => *bytes_received,
                };
                let _ = inv.record_scan(
                    &raw.host,
                    raw.started,
                    raw.finished,
                    &ScanOutcome::Failed {
                        code: e.code().into(),
                        message: message.clone(),
                        bytes_received,
                    },
                    None,
                );
                HostScanResult {
                    host: raw.host.clone(),
                    ok: false,
                    error_code: Some(e.code().into()),
                    error: Some(message),
                    packages_transferred: false,
                    bytes_received,
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

/// Connect, verify, run the script, parse. The facts and the key to pin, or the error; and the
/// bytes received in both cases.
async fn scan_one(host: &HostRecord, prev: Option<&str>, opts: &ScanOptions) -> HostScan {
    let trust = Trust {
        pinned: host.host_key.clone(),
        accept_fingerprint: opts.accept.get(&host.spec.name).cloned(),
    };
    let conn = match Session::open(&host.spec, trust, &opts.ssh, None).await {
        Ok(c) => c,
        Err(e) => {
            return HostScan {
                result: Err(e),
                bytes: 0,
            }
        }
    };
    let pin = match conn.verdict() {
        KeyVerdict::Pinned => None,
        KeyVerdict::KnownHosts(p) => Some((
            conn.server_key().openssh.clone(),
            conn.server_key().fingerprint.clone(),
            format!("known_hosts:{}", p.display()),
        )),
        KeyVerdict::Accepted => Some((
            conn.server_key().openssh.clone(),
            conn.server_key().fingerprint.clone(),
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
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            let bytes = match &e {
                HostError::ConnectionLost { bytes, .. } | HostError::OutputBudget { bytes, .. } => {
                    *bytes
                }
                _ => 0,
            };
            return HostScan {
                result: Err(e),
                bytes,
            };
        }
    };
    let bytes = out.bytes();
    let fail = |e: HostError| HostScan {
        result: Err(e),
        bytes,
    };
    if out.truncated {
        return fail(HostError::Parse(format!(
            "the output exceeded {} bytes; reading stopped there",
            opts.ssh.max_output
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let facts = match facts::parse_scan(&text) {
        Ok(f) => f,
        Err(e @ facts::FactsError::NoDpkg { .. }) => {
            return fail(HostError::Unsupported(e.to_string()))
        }
        Err(facts::FactsError::ListingFailed { tool, status }) => {
            return fail(HostError::PackageListing {
                tool: tool.to_string(),
                status,
            })
        }
        Err(e) => return fail(HostError::Parse(e.to_string())),
    };
    if facts.packages.is_none() && facts.state_fingerprint == EMPTY_FINGERPRINT {
        // "Unchanged" against the fingerprint of nothing: a host with no dpkg state.
        return fail(HostError::Parse(
            "the host claims an unchanged package state, but it has no dpkg state at all".into(),
        ));
    }
    HostScan {
        result: Ok((facts, pin)),
        bytes,
    }
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
/// an already pinned key is replaced (the host was genuinely re-keyed); the audit record keeps
/// the old fingerprint, the new one and the person's `reason`.
pub async fn trust_host(
    inv: &mut Inventory,
    name: &str,
    accepted_fingerprint: &str,
    replace: bool,
    reason: Option<&str>,
    ssh: &SshOptions,
) -> Result<crate::ssh::ServerKey> {
    let host = inv.host(name)?;
    let reason = reason
        .map(crate::text::clean)
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
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
    let old = host.host_key_fingerprint.clone();
    // Nothing pinned: the key replaced is the one a known_hosts file of Settings vouched for.
    let old_known_hosts = match (&old, replace) {
        (None, true) => match crate::ssh::trusted_key(&host.spec, None, &ssh.known_hosts, &key) {
            Some(crate::ssh::TrustedKey {
                fingerprint,
                source: crate::ssh::KeySource::KnownHosts { file, line },
            }) => Some(format!("{fingerprint} (known_hosts {file} line {line})")),
            _ => None,
        },
        _ => None,
    };
    if replace {
        inv.unpin_host_key(name)?;
    }
    inv.pin_host_key(name, &key.openssh, &key.fingerprint, "accepted")?;
    let what = match (replace, &old) {
        (true, Some(old)) => format!("replaced {old} with {}", key.fingerprint),
        (true, None) => match &old_known_hosts {
            Some(k) => format!("replaced {k} with {}", key.fingerprint),
            None => "replaced (no key was pinned)".to_string(),
        },
        (false, _) => "first contact".to_string(),
    };
    let detail = match &reason {
        Some(r) => format!("{what}; reason: {r}"),
        None => what,
    };
    inv.audit(
        "user",
        Some(name),
        "trust-host-key",
        "note",
        None,
        None,
        Some(&key.fingerprint),
        Some(&detail),
    )?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostSpec;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_host_whose_scan_task_panics_gets_a_stored_error_and_the_others_go_on() {
        let (mut inv, _) = crate::inventory::test_util::inv();
        inv.add_host(&HostSpec::new("bad", "192.0.2.1")).unwrap();
        inv.add_host(&HostSpec::new("good", "192.0.2.2")).unwrap();
        let s = scan_hosts_with(
            &mut inv,
            &[],
            &ScanOptions::default(),
            crate::progress::silent(),
            CancellationToken::new(),
            |host, _, _| {
                Box::pin(async move {
                    if host.spec.name == "bad" {
                        // What an arithmetic overflow on a hostile clock did before.
                        panic!("overflow when subtracting durations");
                    }
                    HostScan {
                        result: Err(HostError::Timeout {
                            seconds: 1,
                            during: "connecting".into(),
                        }),
                        bytes: 7,
                    }
                })
            },
        )
        .await
        .unwrap();
        assert_eq!(s.hosts.len(), 2, "no host silently drops out: {s:?}");
        let bad = s.hosts.iter().find(|h| h.host == "bad").unwrap();
        assert_eq!(bad.error_code.as_deref(), Some("internal"));
        assert!(
            bad.error
                .as_deref()
                .unwrap()
                .contains("overflow when subtracting"),
            "{bad:?}"
        );
        let stored = inv.scan_history("bad", 1).unwrap();
        assert_eq!(stored.len(), 1, "the error is stored with the host");
        assert_eq!(stored[0].error_code.as_deref(), Some("internal"));
        let good = inv.scan_history("good", 1).unwrap();
        assert_eq!(
            (good[0].error_code.as_deref(), good[0].bytes_received),
            (Some("timeout"), 7),
            "a failed scan records the bytes that arrived"
        );
    }
}
