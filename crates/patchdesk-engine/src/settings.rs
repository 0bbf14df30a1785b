//! User settings stored in the inventory (`settings` table): scan concurrency, timeouts and the
//! known_hosts files to trust. Owns their defaults and validation; shells only display and edit.

use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::ssh::SshOptions;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Settings {
    /// Hosts scanned at once.
    pub concurrency: usize,
    pub connect_timeout_secs: u64,
    pub command_timeout_secs: u64,
    /// known_hosts files consulted for hosts whose key is not pinned yet.
    pub known_hosts: Vec<PathBuf>,
    /// How long a deployment waits for a busy dpkg lock on a host before that host fails.
    pub dpkg_lock_wait_secs: u64,
    /// Where the scheduled weekly reports are written (`<folder>/<ISO week>/`); none: the
    /// weekly snapshots are still taken, but no files are written.
    pub reports_dir: Option<PathBuf>,
    /// Paper size of the PDF reports.
    pub report_paper: crate::report::Paper,
    /// How long an apply, a rollback or a snapshot hook may run (a kernel and initramfs upgrade
    /// takes minutes); separate from the command timeout of scans and checks.
    pub apply_timeout_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        let ssh = SshOptions::default();
        Self {
            concurrency: 32,
            connect_timeout_secs: ssh.connect_timeout.as_secs(),
            command_timeout_secs: ssh.command_timeout.as_secs(),
            known_hosts: ssh.known_hosts,
            dpkg_lock_wait_secs: 600,
            reports_dir: None,
            report_paper: crate::report::Paper::default(),
            apply_timeout_secs: 3600,
        }
    }
}

const KEY: &str = "settings";

impl Settings {
    pub fn load(inv: &Inventory) -> Result<Self> {
        match inv.setting(KEY)? {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                Error::Invalid(format!(
                    "stored settings are unreadable ({e}); save them again in Settings"
                ))
            }),
            None => Ok(Self::default()),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !(1..=512).contains(&self.concurrency) {
            return Err(Error::Invalid(
                "concurrency must be between 1 and 512 hosts".into(),
            ));
        }
        if !(1..=600).contains(&self.connect_timeout_secs) {
            return Err(Error::Invalid(
                "the connect timeout must be between 1 and 600 seconds".into(),
            ));
        }
        if !(1..=86_400).contains(&self.command_timeout_secs) {
            return Err(Error::Invalid(
                "the command timeout must be between 1 and 86400 seconds".into(),
            ));
        }
        if !(1..=86_400).contains(&self.apply_timeout_secs) {
            return Err(Error::Invalid(
                "the apply timeout must be between 1 and 86400 seconds".into(),
            ));
        }
        if self.dpkg_lock_wait_secs > 86_400 {
            return Err(Error::Invalid(
                "the dpkg lock wait must be at most 86400 seconds".into(),
            ));
        }
        if let Some(d) = &self.reports_dir {
            if !d.is_absolute() {
                return Err(Error::Invalid(format!(
                    "the reports folder must be an absolute path, not {}",
                    d.display()
                )));
            }
        }
        Ok(())
    }

    pub fn save(&self, inv: &Inventory) -> Result<()> {
        self.validate()?;
        for k in &self.known_hosts {
            inv.refuse_own_file(k, "a known_hosts file")?;
        }
        inv.set_setting_json(KEY, self)
    }

    pub fn ssh_options(&self) -> SshOptions {
        SshOptions {
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            command_timeout: Duration::from_secs(self.command_timeout_secs),
            known_hosts: self.known_hosts.clone(),
            ..SshOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::test_util::inv;

    #[test]
    fn round_trip_and_validation() {
        let (inv, _) = inv();
        assert_eq!(Settings::load(&inv).unwrap(), Settings::default());
        let mut s = Settings {
            concurrency: 8,
            ..Settings::default()
        };
        s.save(&inv).unwrap();
        assert_eq!(Settings::load(&inv).unwrap().concurrency, 8);
        s.concurrency = 0;
        assert!(s.save(&inv).is_err());
        assert_eq!(
            Settings::load(&inv).unwrap().concurrency,
            8,
            "a bad save changes nothing"
        );
    }
}
