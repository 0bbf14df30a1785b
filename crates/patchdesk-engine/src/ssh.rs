//! SSH transport (russh). Owns connecting, host-key verification, authentication (ssh-agent or
//! key file) and running one command with a timeout and an output cap. It knows nothing of
//! scans or the database: callers pass the pinned key in and decide what to do with the verdict.
//!
//! Host-key policy, in order:
//! 1. a key pinned in the inventory must match exactly, otherwise [`HostError::HostKeyChanged`];
//! 2. otherwise the known_hosts files are consulted (a different key of the same algorithm there
//!    is also a change); a match is returned so the caller can pin it;
//! 3. otherwise the connection is refused with [`HostError::UnknownHostKey`] carrying the SHA256
//!    fingerprint, unless the caller explicitly trusts that fingerprint (trust on first use).
//!
//! Nothing is ever executed on a host whose key was not accepted: russh aborts the handshake
//! before authentication when `check_server_key` answers `false`.

use crate::error::HostError;
use crate::host::{Auth, HostSpec};
use russh::client;
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh::ChannelMsg;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Limits and trust sources for one connection.
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// known_hosts files consulted when no key is pinned yet (e.g. `~/.ssh/known_hosts`).
    pub known_hosts: Vec<PathBuf>,
    /// Stop reading a command's output past this many bytes (hostile hosts can send forever).
    pub max_output: usize,
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

/// Output of one remote command.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_status: Option<u32>,
    /// True when the output cap was hit and the rest was dropped.
    pub truncated: bool,
}

/// Asks for a key file's passphrase (the CLI prompts or reads an env var; the app shows a dialog).
/// The passphrase is used once and never stored.
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
        for path in &self.known_hosts {
            let entries = match russh::keys::known_hosts::known_host_keys_path(
                &self.address,
                self.port,
                path,
            ) {
                Ok(e) => e,
                Err(_) => continue,
            };
            for (_line, recorded) in entries {
                if recorded.key_data() == key.key_data() {
                    return Ok(KeyVerdict::KnownHosts(path.clone()));
                }
                if recorded.algorithm() == key.algorithm() {
                    return Err(HostError::HostKeyChanged {
                        host: self.host.clone(),
                        expected: recorded.fingerprint(HashAlg::Sha256).to_string(),
                        offered: offered.fingerprint,
                    });
                }
            }
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

fn client_config() -> Arc<client::Config> {
    Arc::new(client::Config {
        inactivity_timeout: Some(Duration::from_secs(300)),
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
    /// Connect, verify the host key, and authenticate.
    pub async fn open(
        spec: &HostSpec,
        trust: Trust,
        options: &SshOptions,
        passphrase: Option<PassphraseFn>,
    ) -> Result<Connection, HostError> {
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
            authenticate(&mut handle, spec, passphrase),
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
            options: options.clone(),
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
        let timeout = self.options.command_timeout;
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
        };
        let cap = self.options.max_output;
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { ref data } => {
                    if out.stdout.len() + data.len() > cap {
                        out.truncated = true;
                    } else {
                        out.stdout.extend_from_slice(data);
                    }
                }
                ChannelMsg::ExtendedData { ref data, .. }
                    if out.stderr.len() + data.len() <= 1024 * 1024 =>
                {
                    out.stderr.extend_from_slice(data);
                }
                ChannelMsg::ExitStatus { exit_status } => out.exit_status = Some(exit_status),
                _ => {}
            }
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

async fn authenticate(
    handle: &mut client::Handle<Handler>,
    spec: &HostSpec,
    passphrase: Option<PassphraseFn>,
) -> Result<(), HostError> {
    let user = spec.user.clone();
    let fail = |detail: String| HostError::AuthFailed {
        user: user.clone(),
        detail,
    };
    match &spec.auth {
        Auth::KeyFile { path } => {
            let key = load_key(path, passphrase)?;
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(|e| HostError::Ssh(e.to_string()))?
                .flatten();
            let res = handle
                .authenticate_publickey(
                    spec.user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
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

fn load_key(path: &Path, passphrase: Option<PassphraseFn>) -> Result<PrivateKey, HostError> {
    let err = |detail: String| HostError::KeyFile {
        path: path.display().to_string(),
        detail,
    };
    match russh::keys::load_secret_key(path, None) {
        Ok(k) => Ok(k),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            let Some(ask) = passphrase else {
                return Err(err(
                    "the key is protected by a passphrase and none was given; set PATCHDESK_KEY_PASSPHRASE or load the key into ssh-agent".into(),
                ));
            };
            let Some(pass) = ask(path) else {
                return Err(err("no passphrase was given".into()));
            };
            russh::keys::load_secret_key(path, Some(&pass))
                .map_err(|_| err("wrong passphrase, or the key is damaged".into()))
        }
        Err(e) => Err(err(format!(
            "cannot read the key ({e}); check the path and permissions"
        ))),
    }
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
