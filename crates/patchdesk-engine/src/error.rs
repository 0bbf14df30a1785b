//! Typed engine errors. Owns the wording people see: every variant renders as one clear
//! sentence naming the host (when there is one) and the next step to take.

use serde::Serialize;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database {path}: {source}. Check the path is writable, or choose another with --db.")]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database schema migration failed: {0}. The database was left as it was; restore a backup or report this.")]
    Migration(String),
    #[error("{0}")]
    Invalid(String),
    #[error("no host named {0:?}. Run `patchdesk host list` to see the known hosts.")]
    UnknownHost(String),
    #[error("a host named {0:?} already exists. Choose another name or remove the old one first.")]
    DuplicateHost(String),
    #[error("{file}: line {line}: {message}")]
    Import {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{host}: {kind}")]
    Host { host: String, kind: HostError },
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("the report could not be made: {0}. Nothing was written; report this if it persists.")]
    Report(String),
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Deploy(#[from] crate::rollout::DeployError),
}

impl Error {
    pub fn host(host: impl Into<String>, kind: HostError) -> Self {
        Error::Host {
            host: host.into(),
            kind,
        }
    }

    /// A short machine-readable code for the UI and `--json` output.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Database { .. } | Error::Sql(_) => "database",
            Error::Migration(_) => "migration",
            Error::Invalid(_) => "invalid",
            Error::UnknownHost(_) => "unknown_host",
            Error::DuplicateHost(_) => "duplicate_host",
            Error::Import { .. } => "import",
            Error::Host { kind, .. } => kind.code(),
            Error::Io(..) => "io",
            Error::Report(_) => "report",
            Error::Cancelled => "cancelled",
            Error::Deploy(e) => e.code(),
        }
    }
}

/// What went wrong with one host. The `Display` text says what happened and what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HostError {
    #[error("cannot connect to {address}: {reason}. Check the host is up and reachable, then scan again.")]
    Unreachable { address: String, reason: String },
    #[error("timed out after {seconds}s while {during}. Check the host is up and not overloaded, or raise the timeout in Settings.")]
    Timeout { seconds: u64, during: String },
    #[error("the host key is not known yet (SHA256 fingerprint {fingerprint}). Compare it with the host's own key (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host), then accept it with `patchdesk host trust {host}`.")]
    UnknownHostKey { host: String, fingerprint: String },
    #[error("THE HOST KEY HAS CHANGED: expected {expected}, the host offered {offered}. Nothing was run on this host. This may be a reinstall or a man-in-the-middle: check with the host's owner, then run `patchdesk host trust {host} --replace` only if the new key is genuine.")]
    HostKeyChanged {
        host: String,
        expected: String,
        offered: String,
    },
    #[error("the host key {fingerprint} is marked @revoked in {file} line {line}. Nothing was run on this host: find out why the key was withdrawn before trusting it again.")]
    HostKeyRevoked {
        fingerprint: String,
        file: String,
        line: usize,
    },
    #[error("authentication as {user} failed ({detail}). Check the key is authorised for {user} on the host (~/.ssh/authorized_keys) or that ssh-agent holds it.")]
    AuthFailed { user: String, detail: String },
    #[error("key file {path}: {detail}")]
    KeyFile { path: String, detail: String },
    #[error("SSH error: {0}. Scan again; if it persists, check the host's sshd logs.")]
    Ssh(String),
    #[error("{command:?} exited with status {status}: {stderr}")]
    Command {
        command: String,
        status: i64,
        stderr: String,
    },
    #[error("the host sent output PatchDesk cannot read ({0}). Nothing was stored from this scan; check the host runs Debian or Ubuntu with dpkg and apt.")]
    Parse(String),
    #[error("the connection was lost while {during} (after {bytes} bytes). Nothing was stored from this scan; check the host and the network, then scan again.")]
    ConnectionLost { during: String, bytes: u64 },
    #[error("{tool} failed on the host (exit status {status}), so its packages are unknown. Nothing was stored from this scan; run `{tool}` on the host to see why, then scan again.")]
    PackageListing { tool: String, status: i64 },
    #[error("the hosts being read at once sent more than {mib} MiB together, so this host's output was dropped. Scan fewer hosts at once (Settings: concurrency), or find the host that sends so much.")]
    OutputBudget { mib: usize, bytes: u64 },
    #[error("PatchDesk hit an internal error ({0}). Nothing was stored for this host; scan it again, and report this if it persists.")]
    Internal(String),
    #[error("{0}")]
    Unsupported(String),
}

impl HostError {
    pub fn code(&self) -> &'static str {
        match self {
            HostError::Unreachable { .. } => "unreachable",
            HostError::Timeout { .. } => "timeout",
            HostError::UnknownHostKey { .. } => "unknown_host_key",
            HostError::HostKeyChanged { .. } => "host_key_changed",
            HostError::AuthFailed { .. } => "auth_failed",
            HostError::KeyFile { .. } => "key_file",
            HostError::Ssh(_) => "ssh",
            HostError::Command { .. } => "command",
            HostError::Parse(_) => "parse",
            HostError::ConnectionLost { .. } => "connection_lost",
            HostError::PackageListing { .. } => "package_listing",
            HostError::OutputBudget { .. } => "output_budget",
            HostError::Internal(_) => "internal",
            HostError::HostKeyRevoked { .. } => "host_key_revoked",
            HostError::Unsupported(_) => "unsupported",
        }
    }
}
