//! SSH transport (russh). Owns connecting, host-key verification, authentication (ssh-agent or
//! key file) and running one command with a timeout and an output cap. It knows nothing of
//! scans or the database: callers pass the pinned key in and decide what to do with the verdict.
//!
//! Host-key policy, in order:
//! 1. a key pinned in the inventory must match exactly, otherwise [`HostError::HostKeyChanged`];
//! 2. otherwise the known_hosts files are consulted ([`crate::known_hosts`], line by line: a
//!    different key of the same algorithm there is also a change, a key listed `@revoked` is
//!    refused, a host only a `@cert-authority` vouches for is refused as unsupported); a match is
//!    returned so the caller can pin it;
//! 3. otherwise the connection is refused with [`HostError::UnknownHostKey`] carrying the SHA256
//!    fingerprint, unless the caller explicitly trusts that fingerprint (trust on first use).
//!
//! Nothing is ever executed on a host whose key was not accepted: russh aborts the handshake
//! before authentication when `check_server_key` answers `false`.
//!
//! Output is bounded twice: per command ([`SshOptions::max_output`]: reading stops and the channel
//! is closed at the cap) and across every command running at once ([`OutputBudget`]: a
//! process-wide byte budget that a command's output holds until it is dropped). Key files are
//! unlocked before connecting ([`KeyRing::unlock`]: the passphrase is asked once per file and the
//! decrypted key kept in memory for the run only), never inside a connection's timeouts.
//!
//! A [`Session`] runs commands on one host: over a connection of its own, or — when the options
//! carry a [`ConnectionPool`] (a deployment's stage step) — as channels of the one connection
//! that host has in the pool, so a host's whole step is one authenticated connection.

use crate::error::HostError;
use crate::host::{Auth, HostSpec};
use crate::known_hosts;
use russh::client;
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh::ChannelMsg;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Limits and trust sources for one connection.
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// known_hosts files consulted when no key is pinned yet (e.g. `~/.ssh/known_hosts`).
    pub known_hosts: Vec<PathBuf>,
    /// Stop reading a command's output past this many bytes (hostile hosts can send forever).
    pub max_output: usize,
    /// Bytes all commands running at once may hold together (default: the process-wide budget).
    pub budget: OutputBudget,
    /// Key files unlocked for this run (see [`KeyRing::unlock`]).
    pub keys: KeyRing,
    /// When set, [`Session::open`] shares one connection per host through this pool (a stage
    /// step of a deployment); otherwise every session is a connection of its own.
    pub pool: Option<ConnectionPool>,
}

impl SshOptions {
    /// These options with a fresh pool: every session opened with them (and their clones)
    /// shares one connection per host until the pool is closed.
    pub fn pooled(&self) -> SshOptions {
        SshOptions {
            pool: Some(ConnectionPool::default()),
            ..self.clone()
        }
    }

    /// These options without a pool: a session of its own (a rebooting host's probes).
    pub fn unpooled(&self) -> SshOptions {
        SshOptions {
            pool: None,
            ..self.clone()
        }
    }
}

/// The total bytes of command output held at once, across every concurrent command that shares
/// it (by default the whole process: scans, deployment rescans and health checks together).
#[derive(Clone)]
pub struct OutputBudget {
    sem: Arc<Semaphore>,
    bytes: usize,
}

/// The process-wide budget: 512 MiB of command output held at once.
pub const DEFAULT_OUTPUT_BUDGET: usize = 512 * 1024 * 1024;

impl OutputBudget {
    pub fn new(bytes: usize) -> Self {
        Self {
            sem: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
            bytes,
        }
    }

    /// The budget shared by the whole process.
    pub fn global() -> Self {
        static GLOBAL: OnceLock<OutputBudget> = OnceLock::new();
        GLOBAL
            .get_or_init(|| OutputBudget::new(DEFAULT_OUTPUT_BUDGET))
            .clone()
    }

    /// Bytes not held by anyone now.
    pub fn available(&self) -> usize {
        self.sem.available_permits()
    }

    /// Take `n` more bytes into `held`, or fail at once when the budget is spent (waiting could
    /// deadlock: every reader would hold part of the budget and wait for the rest).
    fn take(&self, held: &mut Option<OwnedSemaphorePermit>, n: usize) -> Result<(), HostError> {
        let exhausted = || HostError::OutputBudget {
            mib: self.bytes / (1024 * 1024),
            bytes: held.as_ref().map_or(0, |h| h.num_permits() as u64),
        };
        let n = u32::try_from(n).map_err(|_| exhausted())?;
        let p = self
            .sem
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| exhausted())?;
        match held {
            Some(h) => h.merge(p),
            None => *held = Some(p),
        }
        Ok(())
    }
}

impl std::fmt::Debug for OutputBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OutputBudget({} of {} bytes free)",
            self.available(),
            self.bytes
        )
    }
}

/// Private keys unlocked for one run, by key file. A passphrase is asked at most once per file,
/// before any connection; the decrypted key lives in memory until the ring is dropped and is
/// never written anywhere. A file that could not be unlocked keeps its error, so every host using
/// it fails with the same sentence instead of asking again.
#[derive(Clone, Default)]
pub struct KeyRing {
    keys: Arc<Mutex<HashMap<PathBuf, Unlocked>>>,
}

/// A key file's key, or why it could not be unlocked.
type Unlocked = Result<Arc<PrivateKey>, HostError>;

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.keys.lock().map(|k| k.len()).unwrap_or(0);
        write!(f, "KeyRing({n} key files)")
    }
}

impl KeyRing {
    fn get(&self, path: &Path) -> Option<Unlocked> {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned()
    }

    /// Load a key file now (blocking: call it from a blocking context, before connecting). An
    /// encrypted key asks `ask` for its passphrase, up to three times when the answer is wrong.
    pub fn unlock(&self, path: &Path, ask: Option<&PassphraseFn>) {
        if self.get(path).is_some() {
            return;
        }
        let res = unlock_key(path, ask).map(Arc::new);
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_path_buf(), res);
    }
}

fn unlock_key(path: &Path, ask: Option<&PassphraseFn>) -> Result<PrivateKey, HostError> {
    let err = |detail: String| HostError::KeyFile {
        path: path.display().to_string(),
        detail,
    };
    match russh::keys::load_secret_key(path, None) {
        Ok(k) => Ok(k),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            let Some(ask) = ask else {
                return Err(err(
                    "the key is protected by a passphrase and none was given; set PATCHDESK_KEY_PASSPHRASE or load the key into ssh-agent".into(),
                ));
            };
            for _ in 0..3 {
                let Some(pass) = ask(path) else {
                    return Err(err("no passphrase was given".into()));
                };
                if let Ok(k) = russh::keys::load_secret_key(path, Some(&pass)) {
                    return Ok(k);
                }
            }
            Err(err(
                "wrong passphrase (asked three times), or the key is damaged".into(),
            ))
        }
        Err(e) => Err(err(format!(
            "cannot read the key ({e}); check the path and permissions"
        ))),
    }
}

impl Default for SshOptions {
    fn default() -> Self {
        let mut known_hosts = Vec::new();
        if let Some(home) = std::env::var_os("HOME") {
            known_hosts.push(PathBuf::from(home).join(".ssh/known_hosts"));
        }
        Self {
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(120),
            known_hosts,
            max_output: 64 * 1024 * 1024,
            budget: OutputBudget::global(),
            keys: KeyRing::default(),
            pool: None,
        }
    }
}

/// What the caller already trusts for this host.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// The key pinned in the inventory (OpenSSH public key line: `ssh-ed25519 AAAA...`).
    pub pinned: Option<String>,
    /// A SHA256 fingerprint the user explicitly accepted for a first contact.
    pub accept_fingerprint: Option<String>,
}

/// How the server key was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
    /// Matches the key pinned in the inventory.
    Pinned,
    /// Found in a known_hosts file: the caller should pin it.
    KnownHosts(PathBuf),
    /// The fingerprint the user explicitly accepted: the caller should pin it.
    Accepted,
}

/// The host key the server presented, as a pinnable OpenSSH line and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ServerKey {
    pub openssh: String,
    pub fingerprint: String,
}

impl ServerKey {
    fn of(key: &PublicKey) -> Self {
        let mut k = key.clone();
        k.set_comment("");
        ServerKey {
            openssh: k.to_openssh().unwrap_or_default(),
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        }
    }
}

/// Output of one remote command. It holds its bytes in the [`OutputBudget`] until dropped.
#[derive(Debug)]
pub struct CommandOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_status: Option<u32>,
    /// True when the output cap was hit: reading stopped there and the channel was closed.
    pub truncated: bool,
    held: Option<OwnedSemaphorePermit>,
}

impl CommandOutput {
    /// Bytes received (stdout and stderr kept).
    pub fn bytes(&self) -> u64 {
        (self.stdout.len() + self.stderr.len()) as u64
    }
}

/// Asks for a key file's passphrase (the CLI prompts or reads an env var; the app shows a dialog).
/// Called by [`KeyRing::unlock`], before connecting; the passphrase itself is not kept.
pub type PassphraseFn = Arc<dyn Fn(&Path) -> Option<String> + Send + Sync>;

#[derive(Debug, Default)]
struct KeyCheck {
    offered: Option<PublicKey>,
    verdict: Option<Result<KeyVerdict, HostError>>,
}

struct Handler {
    host: String,
    address: String,
    port: u16,
    trust: Trust,
    known_hosts: Vec<PathBuf>,
    check: Arc<Mutex<KeyCheck>>,
}

impl Handler {
    fn decide(&self, key: &PublicKey) -> Result<KeyVerdict, HostError> {
        let offered = ServerKey::of(key);
        if let Some(pinned) = &self.trust.pinned {
            return match PublicKey::from_openssh(pinned) {
                Ok(p) if p.key_data() == key.key_data() => Ok(KeyVerdict::Pinned),
                Ok(p) => Err(HostError::HostKeyChanged {
                    host: self.host.clone(),
                    expected: p.fingerprint(HashAlg::Sha256).to_string(),
                    offered: offered.fingerprint,
                }),
                Err(_) => Err(HostError::HostKeyChanged {
                    host: self.host.clone(),
                    expected: "(unreadable pinned key)".into(),
                    offered: offered.fingerprint,
                }),
            };
        }
        match known_hosts::verdict(&self.known_hosts, &self.address, self.port, key) {
            known_hosts::Verdict::Known { file, .. } => return Ok(KeyVerdict::KnownHosts(file)),
            known_hosts::Verdict::Changed { expected, .. } => {
                return Err(HostError::HostKeyChanged {
                    host: self.host.clone(),
                    expected,
                    offered: offered.fingerprint,
                })
            }
            known_hosts::Verdict::Revoked { file, line } => {
                return Err(HostError::HostKeyRevoked {
                    fingerprint: offered.fingerprint,
                    file: file.display().to_string(),
                    line,
                })
            }
            known_hosts::Verdict::CertAuthority { file, line } => {
                return Err(HostError::Unsupported(format!(
                    "{} line {line} trusts a certificate authority (@cert-authority) for this host, and PatchDesk does not verify host certificates; nothing was run. Compare the host's own key ({}) with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host, then pin it with `patchdesk host trust {}`",
                    file.display(),
                    offered.fingerprint,
                    self.host
                )))
            }
            known_hosts::Verdict::Unknown => {}
        }
        if let Some(fp) = &self.trust.accept_fingerprint {
            if normalise_fingerprint(fp) == normalise_fingerprint(&offered.fingerprint) {
                return Ok(KeyVerdict::Accepted);
            }
        }
        Err(HostError::UnknownHostKey {
            host: self.host.clone(),
            fingerprint: offered.fingerprint,
        })
    }
}

fn normalise_fingerprint(fp: &str) -> String {
    fp.trim()
        .trim_start_matches("SHA256:")
        .trim_end_matches('=')
        .to_string()
}

impl client::Handler for Handler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = server_public_key.public_key();
        let verdict = self.decide(&key);
        let ok = verdict.is_ok();
        let mut check = self.check.lock().unwrap_or_else(|e| e.into_inner());
        check.offered = Some(key);
        check.verdict = Some(verdict);
        Ok(ok)
    }
}

/// An authenticated SSH connection to one host.
pub struct Connection {
    handle: client::Handle<Handler>,
    host: String,
    options: SshOptions,
    /// How the host key was accepted, and the key itself.
    pub verdict: KeyVerdict,
    pub server_key: ServerKey,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("host", &self.host)
            .field("verdict", &self.verdict)
            .finish()
    }
}

/// A keepalive every minute: a pooled connection waiting between a host's apply and its
/// verification, or a quiet command (a detached apply sends nothing until it ends), is not cut
/// by the inactivity timeout while the host answers; a host that stops answering three
/// keepalives in a row is a lost connection.
fn client_config() -> Arc<client::Config> {
    Arc::new(client::Config {
        inactivity_timeout: Some(Duration::from_secs(300)),
        keepalive_interval: Some(Duration::from_secs(60)),
        keepalive_max: 3,
        ..Default::default()
    })
}

/// Connect only far enough to learn the server's host key (no authentication, nothing run).
/// Used to show the fingerprint before a first-contact trust decision.
pub async fn fetch_host_key(spec: &HostSpec, options: &SshOptions) -> Result<ServerKey, HostError> {
    // Nothing trusted: the handshake is refused after the key is seen.
    let (res, check) = handshake(spec, Trust::default(), Vec::new(), options).await;
    let offered = check
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .offered
        .clone();
    match (offered, res) {
        (Some(key), _) => Ok(ServerKey::of(&key)),
        (None, Err(_)) => Err(HostError::Timeout {
            seconds: options.connect_timeout.as_secs(),
            during: "connecting".into(),
        }),
        (None, Ok(Err(e))) => Err(connect_error(&spec.address, spec.port, e)),
        (None, Ok(Ok(_))) => Err(HostError::Ssh("server presented no host key".into())),
    }
}

/// Where the key trusted for a host until now came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeySource {
    /// Pinned in the database after a person compared its fingerprint.
    Accepted,
    /// Pinned in the database at the host's first scan, from this known_hosts file.
    PinnedFromKnownHosts { file: String },
    /// Not pinned: this line of a known_hosts file of Settings vouches for the host.
    KnownHosts { file: String, line: usize },
}

/// The key trusted for a host until now: its fingerprint and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TrustedKey {
    pub fingerprint: String,
    pub source: KeySource,
}

/// What a host presents now beside the key trusted for it until now (`None`: nothing pinned and
/// no known_hosts line for it), for a person comparing a re-key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HostKeyCheck {
    pub offered: ServerKey,
    pub trusted: Option<TrustedKey>,
}

/// The key a scan compares `offered` against, as [`Handler::decide`] does: the pinned one (with
/// the `host_key_source` stored beside it), else the known_hosts line for the host with the
/// offered key's algorithm (the one it matches, else the one it replaced).
pub fn trusted_key(
    spec: &HostSpec,
    pinned: Option<(&str, Option<&str>)>,
    known_hosts: &[PathBuf],
    offered: &ServerKey,
) -> Option<TrustedKey> {
    if let Some((fingerprint, source)) = pinned {
        let source = match source.and_then(|s| s.strip_prefix("known_hosts:")) {
            Some(file) => KeySource::PinnedFromKnownHosts {
                file: file.to_string(),
            },
            None => KeySource::Accepted,
        };
        return Some(TrustedKey {
            fingerprint: fingerprint.to_string(),
            source,
        });
    }
    let key = PublicKey::from_openssh(&offered.openssh).ok()?;
    let (fingerprint, file, line) =
        match known_hosts::verdict(known_hosts, &spec.address, spec.port, &key) {
            known_hosts::Verdict::Changed {
                file,
                line,
                expected,
            } => (expected, file, line),
            known_hosts::Verdict::Known { file, line } => (offered.fingerprint.clone(), file, line),
            _ => return None,
        };
    Some(TrustedKey {
        fingerprint,
        source: KeySource::KnownHosts {
            file: file.display().to_string(),
            line,
        },
    })
}

type HandshakeResult =
    Result<Result<client::Handle<Handler>, russh::Error>, tokio::time::error::Elapsed>;

/// TCP connect and SSH handshake with our host-key policy, within the connect timeout.
async fn handshake(
    spec: &HostSpec,
    trust: Trust,
    known_hosts: Vec<PathBuf>,
    options: &SshOptions,
) -> (HandshakeResult, Arc<Mutex<KeyCheck>>) {
    let check = Arc::new(Mutex::new(KeyCheck::default()));
    let handler = Handler {
        host: spec.name.clone(),
        address: spec.address.clone(),
        port: spec.port,
        trust,
        known_hosts,
        check: check.clone(),
    };
    let addr = (spec.address.as_str(), spec.port);
    let res = tokio::time::timeout(
        options.connect_timeout,
        client::connect(client_config(), addr, handler),
    )
    .await;
    (res, check)
}

fn connect_error(address: &str, port: u16, e: russh::Error) -> HostError {
    match e {
        russh::Error::IO(io) => HostError::Unreachable {
            address: format!("{address}:{port}"),
            reason: io.to_string(),
        },
        other => HostError::Ssh(other.to_string()),
    }
}

impl Connection {
    /// Connect, verify the host key, and authenticate. A key file not unlocked yet in
    /// `options.keys` is unlocked first, with `passphrase` when it is encrypted: before the
    /// connection and its timeouts, once per key file for everyone sharing those options (a scan
    /// unlocks all its key files up front, see [`crate::scan::scan_hosts`]).
    pub async fn open(
        spec: &HostSpec,
        trust: Trust,
        options: &SshOptions,
        passphrase: Option<PassphraseFn>,
    ) -> Result<Connection, HostError> {
        if let (Auth::KeyFile { path }, Some(ask)) = (&spec.auth, passphrase) {
            if options.keys.get(path).is_none() {
                let (keys, path) = (options.keys.clone(), path.clone());
                let _ = tokio::task::spawn_blocking(move || keys.unlock(&path, Some(&ask))).await;
            }
        }
        let (res, check) = handshake(spec, trust, options.known_hosts.clone(), options).await;
        let (verdict, offered) = {
            let mut c = check.lock().unwrap_or_else(|e| e.into_inner());
            (c.verdict.take(), c.offered.take())
        };
        let mut handle = match res {
            Err(_) => {
                return Err(HostError::Timeout {
                    seconds: options.connect_timeout.as_secs(),
                    during: "connecting".into(),
                })
            }
            Ok(Err(e)) => {
                // A refused key surfaces as a russh error: report our verdict instead.
                if let Some(Err(key_err)) = verdict {
                    return Err(key_err);
                }
                return Err(connect_error(&spec.address, spec.port, e));
            }
            Ok(Ok(h)) => h,
        };
        let verdict = match verdict {
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(e),
            None => return Err(HostError::Ssh("host key was never checked".into())),
        };
        let server_key = offered
            .as_ref()
            .map(ServerKey::of)
            .ok_or_else(|| HostError::Ssh("server presented no host key".into()))?;

        let auth = tokio::time::timeout(
            options.connect_timeout,
            authenticate(&mut handle, spec, &options.keys),
        )
        .await
        .map_err(|_| HostError::Timeout {
            seconds: options.connect_timeout.as_secs(),
            during: "authenticating".into(),
        })?;
        auth?;
        Ok(Connection {
            handle,
            host: spec.name.clone(),
            // Never the pool itself: the pool holds this connection.
            options: options.unpooled(),
            verdict,
            server_key,
        })
    }

    /// Run one command (through the login shell, as sshd does) and collect its output.
    /// `stdin`, when given, is written to the command's standard input and then closed.
    pub async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<CommandOutput, HostError> {
        self.run_for(command, stdin, self.options.command_timeout)
            .await
    }

    /// [`Connection::run`] with its own timeout (a shared connection serves callers with
    /// different limits: an apply's long one, a check's short one).
    pub async fn run_for(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<CommandOutput, HostError> {
        tokio::time::timeout(timeout, self.run_inner(command, stdin))
            .await
            .map_err(|_| HostError::Timeout {
                seconds: timeout.as_secs(),
                during: "running a command".into(),
            })?
    }

    async fn run_inner(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<CommandOutput, HostError> {
        let mut channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| HostError::Ssh(format!("cannot open a session: {e}")))?;
        channel
            .exec(true, command)
            .await
            .map_err(|e| HostError::Ssh(format!("cannot start the command: {e}")))?;
        if let Some(input) = stdin {
            channel
                .data(input)
                .await
                .map_err(|e| HostError::Ssh(format!("cannot send input: {e}")))?;
        }
        channel
            .eof()
            .await
            .map_err(|e| HostError::Ssh(format!("cannot close input: {e}")))?;
        let mut out = CommandOutput {
            stdout: Vec::new(),
            stderr: Vec::new(),
            exit_status: None,
            truncated: false,
            held: None,
        };
        let cap = self.options.max_output;
        let budget = &self.options.budget;
        // How the command ended: a clean end has an exit status (or signal) or at least an EOF;
        // a channel that stops without either was cut (the session dropped).
        let mut ended = false;
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { ref data } => {
                    if out.stdout.len() + data.len() > cap {
                        // Stop reading here: the host may send forever; nothing more is wanted.
                        out.truncated = true;
                        let _ = channel.close().await;
                        return Ok(out);
                    }
                    budget.take(&mut out.held, data.len())?;
                    out.stdout.extend_from_slice(data);
                }
                ChannelMsg::ExtendedData { ref data, .. }
                    if out.stderr.len() + data.len() <= 1024 * 1024 =>
                {
                    budget.take(&mut out.held, data.len())?;
                    out.stderr.extend_from_slice(data);
                }
                ChannelMsg::ExitStatus { exit_status } => {
                    out.exit_status = Some(exit_status);
                    ended = true;
                }
                ChannelMsg::ExitSignal { .. } | ChannelMsg::Eof => ended = true,
                _ => {}
            }
        }
        if !ended {
            return Err(HostError::ConnectionLost {
                during: "reading the command's output".into(),
                bytes: out.bytes(),
            });
        }
        Ok(out)
    }

    /// Close the connection politely.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// Which connection of a pool a session may share: the same host, address, port, user and
/// pinned key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    name: String,
    address: String,
    port: u16,
    user: String,
    pinned: Option<String>,
}

impl PoolKey {
    fn of(spec: &HostSpec, trust: &Trust) -> Self {
        PoolKey {
            name: spec.name.clone(),
            address: spec.address.clone(),
            port: spec.port,
            user: spec.user.clone(),
            pinned: trust.pinned.clone(),
        }
    }
}

type PoolSlot = Arc<tokio::sync::OnceCell<Arc<Connection>>>;

/// One authenticated connection per host for a unit of work (issue #16: a deployment's stage
/// step — the apply, its verification and health, or a rollback): every command of that work
/// on that host is a channel of its own on the one connection, run in sequence. The first
/// session to a host opens the connection (others for the same host wait for it rather than
/// open a second); a failed open is not kept, so the next session tries again; a connection
/// found closed, or that lost a command's channel, is replaced by a fresh one on next use.
/// [`ConnectionPool::close`] ends them all politely; dropping the pool drops them.
#[derive(Clone, Default)]
pub struct ConnectionPool {
    slots: Arc<Mutex<HashMap<PoolKey, PoolSlot>>>,
}

impl std::fmt::Debug for ConnectionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.slots.lock().map(|s| s.len()).unwrap_or(0);
        write!(f, "ConnectionPool({n} hosts)")
    }
}

impl ConnectionPool {
    fn slot(&self, key: &PoolKey) -> PoolSlot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots.entry(key.clone()).or_default();
        if slot.get().is_some_and(|c| c.handle.is_closed()) {
            *slot = PoolSlot::default();
        }
        slot.clone()
    }

    /// Forget a host's connection if it is still `conn` (a lost one: the next session opens
    /// anew).
    fn evict(&self, key: &PoolKey, conn: &Arc<Connection>) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots
            .get(key)
            .and_then(|s| s.get())
            .is_some_and(|c| Arc::ptr_eq(c, conn))
        {
            slots.remove(key);
        }
    }

    /// Forget every connection to this host (it is rebooting: the old link is going away).
    pub fn forget(&self, spec: &HostSpec) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|k, _| {
            !(k.name == spec.name && k.address == spec.address && k.port == spec.port)
        });
    }

    /// How many hosts have a connection open in the pool now.
    pub fn open_connections(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .values()
            .filter(|s| s.get().is_some_and(|c| !c.handle.is_closed()))
            .count()
    }

    /// Close every connection of the pool (those still running a command close when it ends).
    pub async fn close(&self) {
        let slots: Vec<PoolSlot> = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.drain().map(|(_, s)| s).collect()
        };
        for slot in slots {
            if let Some(conn) = Arc::into_inner(slot).and_then(|s| s.into_inner()) {
                if let Some(conn) = Arc::into_inner(conn) {
                    conn.close().await;
                }
            }
        }
    }
}

/// Commands on one host: over a connection of its own, or over the host's shared connection in
/// the options' [`ConnectionPool`]. Each command runs with the timeout of the options the
/// session was opened with.
pub struct Session {
    conn: Arc<Connection>,
    timeout: Duration,
    pooled: Option<(ConnectionPool, PoolKey)>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.conn.host)
            .field("pooled", &self.pooled.is_some())
            .finish()
    }
}

impl Session {
    /// Open a session to a host ([`Connection::open`], or the host's connection in the pool).
    pub async fn open(
        spec: &HostSpec,
        trust: Trust,
        options: &SshOptions,
        passphrase: Option<PassphraseFn>,
    ) -> Result<Session, HostError> {
        let timeout = options.command_timeout;
        let Some(pool) = &options.pool else {
            let conn = Connection::open(spec, trust, options, passphrase).await?;
            return Ok(Session {
                conn: Arc::new(conn),
                timeout,
                pooled: None,
            });
        };
        let key = PoolKey::of(spec, &trust);
        let slot = pool.slot(&key);
        let conn = slot
            .get_or_try_init(|| async {
                Connection::open(spec, trust, options, passphrase)
                    .await
                    .map(Arc::new)
            })
            .await?
            .clone();
        Ok(Session {
            conn,
            timeout,
            pooled: Some((pool.clone(), key)),
        })
    }

    /// How the host key was accepted when the connection was opened.
    pub fn verdict(&self) -> &KeyVerdict {
        &self.conn.verdict
    }

    /// The host key the server presented.
    pub fn server_key(&self) -> &ServerKey {
        &self.conn.server_key
    }

    /// Run one command as a channel of the session's connection ([`Connection::run`]). A lost
    /// connection leaves the pool: the next session to the host opens a new one.
    pub async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<CommandOutput, HostError> {
        let res = self.conn.run_for(command, stdin, self.timeout).await;
        if let (Some((pool, key)), Err(HostError::ConnectionLost { .. } | HostError::Ssh(_))) =
            (&self.pooled, &res)
        {
            pool.evict(key, &self.conn);
        }
        res
    }

    /// End the session: a connection of its own is closed; a pooled one stays for the next
    /// command of the step (the pool closes it).
    pub async fn close(self) {
        if self.pooled.is_none() {
            if let Some(conn) = Arc::into_inner(self.conn) {
                conn.close().await;
            }
        }
    }
}

async fn authenticate(
    handle: &mut client::Handle<Handler>,
    spec: &HostSpec,
    keys: &KeyRing,
) -> Result<(), HostError> {
    let user = spec.user.clone();
    let fail = |detail: String| HostError::AuthFailed {
        user: user.clone(),
        detail,
    };
    match &spec.auth {
        Auth::KeyFile { path } => {
            let key = load_key(path, keys)?;
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(|e| HostError::Ssh(e.to_string()))?
                .flatten();
            let res = handle
                .authenticate_publickey(spec.user.clone(), PrivateKeyWithHashAlg::new(key, hash))
                .await
                .map_err(|e| HostError::Ssh(e.to_string()))?;
            if res.success() {
                Ok(())
            } else {
                Err(fail(format!("the server refused key {}", path.display())))
            }
        }
        Auth::Agent => {
            let mut agent = AgentClient::connect_env().await.map_err(|e| {
                fail(format!(
                    "no ssh-agent ({e}); start one and `ssh-add` your key, or give a key file"
                ))
            })?;
            let identities = agent
                .request_identities()
                .await
                .map_err(|e| fail(format!("ssh-agent did not answer: {e}")))?;
            if identities.is_empty() {
                return Err(fail("ssh-agent holds no keys; run `ssh-add`".into()));
            }
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(|e| HostError::Ssh(e.to_string()))?
                .flatten();
            for id in identities {
                let key = id.public_key().into_owned();
                match handle
                    .authenticate_publickey_with(spec.user.clone(), key, hash, &mut agent)
                    .await
                {
                    Ok(r) if r.success() => return Ok(()),
                    _ => continue,
                }
            }
            Err(fail("no key in ssh-agent was accepted".into()))
        }
    }
}

/// The key of a key file: unlocked before connecting (see [`KeyRing`]), or read now when it is
/// not encrypted. Never asks for a passphrase: that would block inside the auth timeout.
fn load_key(path: &Path, keys: &KeyRing) -> Result<Arc<PrivateKey>, HostError> {
    if let Some(k) = keys.get(path) {
        return k;
    }
    unlock_key(path, None).map(Arc::new)
}

/// Quote one word for a POSIX shell. Every value from the inventory, a user or a host that ends up
/// in a remote command goes through this (or a stricter validator) first.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_neutralises_shell() {
        assert_eq!(shell_quote("pd-hello"), "pd-hello");
        assert_eq!(shell_quote("1:2.0~rc1-1"), "'1:2.0~rc1-1'");
        assert_eq!(shell_quote("a'b; rm -rf /"), r"'a'\''b; rm -rf /'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(id)"), "'$(id)'");
    }

    #[test]
    fn fingerprints_normalise() {
        assert_eq!(
            normalise_fingerprint("SHA256:abc="),
            normalise_fingerprint(" abc ")
        );
    }
}
