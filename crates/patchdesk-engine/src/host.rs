//! The host model shared by every module: where a host is, how to log in, which environment
//! and scopes it belongs to. Owns validation of these fields; owns no I/O.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// How PatchDesk authenticates to a host. Secrets are never stored: only the path of a key
/// file (whose passphrase is asked for at use time) or "use the SSH agent".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Auth {
    /// Keys offered by the running ssh-agent (`SSH_AUTH_SOCK`).
    Agent,
    /// A private key file, possibly passphrase-protected.
    KeyFile { path: PathBuf },
}

impl fmt::Display for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Agent => f.write_str("agent"),
            Auth::KeyFile { path } => write!(f, "key:{}", path.display()),
        }
    }
}

/// Production or not: canaries run on non-prod hosts, waves on prod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Environment {
    #[default]
    Prod,
    NonProd,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Prod => "prod",
            Environment::NonProd => "non-prod",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "prod" | "production" | "prd" => Ok(Environment::Prod),
            "non-prod" | "nonprod" | "non_prod" | "staging" | "stage" | "test" | "dev"
            | "development" | "qa" | "preprod" | "pre-prod" => Ok(Environment::NonProd),
            other => Err(format!(
                "unknown environment {other:?}: use \"prod\" or \"non-prod\""
            )),
        }
    }
}

/// A host as the user declares it (before any scan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HostSpec {
    /// Unique short name, e.g. `web-01`.
    pub name: String,
    /// DNS name or IP address to connect to.
    pub address: String,
    pub port: u16,
    /// Login user: `root`, or a user allowed `sudo -n`.
    pub user: String,
    pub auth: Auth,
    pub environment: Environment,
    /// Scopes the host belongs to (Ansible groups, CSV `groups` column...).
    pub groups: Vec<String>,
    pub tags: Vec<String>,
    pub notes: String,
    /// Recorded from `~/.ssh/config` (`ProxyJump`); not used for connecting yet.
    pub proxy_jump: Option<String>,
}

impl HostSpec {
    /// A spec with the usual defaults: port 22, user root, agent auth, prod.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            address: address.into(),
            port: 22,
            user: "root".into(),
            auth: Auth::Agent,
            environment: Environment::Prod,
            groups: Vec::new(),
            tags: Vec::new(),
            notes: String::new(),
            proxy_jump: None,
        }
    }

    /// Check the fields a person typed or a file gave us. Returns a sentence saying what to fix.
    pub fn validate(&self) -> Result<(), String> {
        validate_name(&self.name)?;
        if self.address.is_empty()
            || self.address.len() > 253
            || !self.address.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_' | '[' | ']')
            })
        {
            return Err(format!(
                "host {:?}: address {:?} is not a host name or IP address",
                self.name, self.address
            ));
        }
        if self.port == 0 {
            return Err(format!("host {:?}: port 0 is not valid", self.name));
        }
        if self.user.is_empty()
            || self.user.len() > 32
            || !self
                .user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            || self.user.starts_with('-')
        {
            return Err(format!(
                "host {:?}: user {:?} is not a valid login name",
                self.name, self.user
            ));
        }
        for g in self.groups.iter().chain(self.tags.iter()) {
            validate_label(g).map_err(|e| format!("host {:?}: {e}", self.name))?;
        }
        Ok(())
    }
}

/// Host names: letters, digits, `.`, `-`, `_`; 1..=64 characters.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || name.starts_with('-')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(format!(
            "{name:?} is not a valid host name: use 1 to 64 letters, digits, '.', '-' or '_'"
        ));
    }
    Ok(())
}

/// Group and tag names: same alphabet as host names, plus `:` and `/`.
pub fn validate_label(label: &str) -> Result<(), String> {
    if label.is_empty()
        || label.len() > 64
        || !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/'))
    {
        return Err(format!(
            "{label:?} is not a valid group or tag: use letters, digits, '.', '-', '_', ':' or '/'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_hostile_fields() {
        let mut h = HostSpec::new("web-01", "10.0.0.1");
        assert!(h.validate().is_ok());
        h.address = "host; rm -rf /".into();
        assert!(h.validate().is_err());
        h.address = "example.org".into();
        h.user = "-oProxyCommand=x".into();
        assert!(h.validate().is_err());
        h.user = "ops".into();
        h.groups = vec!["web servers".into()];
        assert!(h.validate().is_err());
    }

    #[test]
    fn environment_parses() {
        assert_eq!("Production".parse::<Environment>(), Ok(Environment::Prod));
        assert_eq!("staging".parse::<Environment>(), Ok(Environment::NonProd));
        assert!("mars".parse::<Environment>().is_err());
    }
}
