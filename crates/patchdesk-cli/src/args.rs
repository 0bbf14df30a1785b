//! The command line's argument types (clap): every command, option and help text of
//! `patchdesk`. Owns the command-line surface only: no engine calls, no rendering.

use crate::automation;
use clap::{Args, Parser, Subcommand, ValueEnum};
use patchdesk_engine::host::Environment;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "patchdesk",
    version,
    about = "Patch Linux hosts over SSH, and prove it."
)]
pub(crate) struct Cli {
    /// The inventory database (default: the platform data directory).
    #[arg(long, global = true, env = "PATCHDESK_DB")]
    pub(crate) db: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Add, import, list, show, remove hosts, and trust their SSH keys.
    #[command(subcommand)]
    Host(HostCmd),
    /// Scan hosts over SSH and store what is on them.
    Scan(ScanArgs),
    /// Ask the inventory questions.
    #[command(subcommand)]
    Query(QueryCmd),
    /// Show or change settings (concurrency, timeouts, known_hosts files, dpkg lock wait).
    Settings(SettingsArgs),
    /// Security advisory feeds: sync from a file or URL, show their age.
    #[command(subcommand)]
    Advisories(AdvisoriesCmd),
    /// Pending patches classified into buckets, with deadlines and countdowns.
    Patches {
        /// critical, high, moderate or low.
        #[arg(long)]
        bucket: Option<String>,
        #[arg(long)]
        group: Option<String>,
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Compliance % (patches inside their deadline) and time-to-patch, for a group, an
    /// environment or the fleet.
    Compliance {
        #[arg(long, conflicts_with = "env")]
        group: Option<String>,
        /// prod or non-prod.
        #[arg(long)]
        env: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Weekly patch status reports: PDF, CSV, JSON; weekly snapshots; the history.
    #[command(subcommand)]
    Report(ReportCmd),
    /// Show or change the patch policy (thresholds, deadlines, regular cycle).
    Policy(PolicyArgs),
    /// The audit log: every change to a host, before and after (newest first).
    Audit {
        /// Only this host.
        #[arg(long)]
        host: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Deployments: plan rings with rollback paths, run stages through go/no-go gates, roll back.
    #[command(subcommand)]
    Deploy(DeployCmd),
    /// What the job runner ran, what is due next, and why something did not run; ask for a job
    /// now (`jobs run scan`) or cancel one.
    Jobs(automation::JobsArgs),
    /// Schedules (daily scan, feed sync, weekly report), automation policies per group
    /// (auto-canary), pause and resume.
    #[command(subcommand)]
    Automation(automation::AutomationCmd),
    /// The headless job runner: `service run` in the foreground (systemd or a terminal).
    #[command(subcommand)]
    Service(automation::ServiceCmd),
    /// Print the read-only script a scan runs on each host (for review, and for the benchmark's
    /// raw-OpenSSH baseline).
    ScanScript,
}

#[derive(Subcommand)]
pub(crate) enum ReportCmd {
    /// The weekly patch status report of a group, an environment or the fleet.
    Weekly(WeeklyArgs),
    /// Take the final snapshot of every scope for each week that ended and has none (what the
    /// scheduler runs at the end of each policy week; safe to run any time).
    Snapshot {
        #[arg(long)]
        json: bool,
    },
    /// The scheduled weekly run by hand: snapshots, then each scope's report for the week that
    /// ended into the reports folder of Settings (once per scope and week).
    Scheduled {
        #[arg(long)]
        json: bool,
    },
    /// The reports generated so far, newest first.
    History {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub(crate) struct WeeklyArgs {
    /// A group.
    #[arg(long, group = "which")]
    pub(crate) scope: Option<String>,
    /// An environment: prod or non-prod.
    #[arg(long, group = "which")]
    pub(crate) env: Option<String>,
    /// The whole fleet: totals and a section per group.
    #[arg(long, group = "which")]
    pub(crate) fleet: bool,
    /// The ISO week, e.g. 2026-W48 (default: this week, figures as of now).
    #[arg(long)]
    pub(crate) week: Option<String>,
    /// Write the PDF here.
    #[arg(long)]
    pub(crate) pdf: Option<PathBuf>,
    /// Write one CSV file per table into this folder.
    #[arg(long)]
    pub(crate) csv: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// a4 or letter.
    #[arg(long, default_value = "a4")]
    pub(crate) paper: String,
}

#[derive(Subcommand)]
pub(crate) enum HostCmd {
    /// Add one host.
    Add(AddArgs),
    /// Import hosts from ~/.ssh/config, an Ansible inventory (INI or YAML) or a CSV file.
    Import {
        file: PathBuf,
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// Update hosts that already exist instead of refusing the import.
        #[arg(long)]
        update: bool,
        /// Print what would be imported; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List hosts with their latest facts.
    List {
        #[arg(long)]
        group: Option<String>,
        #[arg(long)]
        env: Option<Environment>,
        /// Only hosts with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Text looked for in the name, address, OS, family, kernel, groups and tags.
        #[arg(long)]
        search: Option<String>,
        /// A filter saved in the app or with `host filter save` (the options above narrow it).
        #[arg(long)]
        filter: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Add or remove tags on hosts (audited per host).
    Tag {
        #[arg(required = true)]
        names: Vec<String>,
        /// Tag to add (repeatable).
        #[arg(long)]
        add: Vec<String>,
        /// Tag to remove (repeatable).
        #[arg(long)]
        remove: Vec<String>,
    },
    /// Saved host filters (also picked in the app's Hosts view).
    #[command(subcommand)]
    Filter(FilterCmd),
    /// Everything known about one host: facts, packages, pending updates, scan history.
    Show {
        name: String,
        /// Also list every installed package.
        #[arg(long)]
        packages: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove a host and its history.
    Remove { name: String },
    /// Trust a host's SSH key on first contact, after comparing its SHA256 fingerprint.
    Trust {
        name: String,
        /// The fingerprint you expect (e.g. SHA256:abc...). Without it, you are asked to confirm.
        #[arg(long)]
        fingerprint: Option<String>,
        /// Replace a pinned key (only after confirming the host was genuinely re-keyed).
        #[arg(long)]
        replace: bool,
        /// Why the key is trusted (recorded in the audit log with the old and new fingerprint).
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum FilterCmd {
    /// Save (or replace) a filter under a name.
    Save {
        name: String,
        #[arg(long)]
        group: Option<String>,
        #[arg(long)]
        env: Option<Environment>,
        #[arg(long)]
        tag: Option<String>,
        #[arg(long, default_value = "")]
        search: String,
    },
    /// The saved filters.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a saved filter (the hosts are not touched).
    Delete { name: String },
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    SshConfig,
    AnsibleIni,
    AnsibleYaml,
    Csv,
}

#[derive(Args)]
pub(crate) struct AddArgs {
    pub(crate) name: String,
    pub(crate) address: String,
    #[arg(long, default_value_t = 22)]
    pub(crate) port: u16,
    #[arg(long, default_value = "root")]
    pub(crate) user: String,
    /// Private key file; without it the ssh-agent is used.
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    #[arg(long, default_value = "prod")]
    pub(crate) env: Environment,
    #[arg(long = "group")]
    pub(crate) groups: Vec<String>,
    #[arg(long = "tag")]
    pub(crate) tags: Vec<String>,
    #[arg(long, default_value = "")]
    pub(crate) notes: String,
}

#[derive(Args)]
pub(crate) struct ScanArgs {
    /// Host names to scan.
    pub(crate) names: Vec<String>,
    /// Scan every host of a group.
    #[arg(long)]
    pub(crate) group: Option<String>,
    /// Scan every host.
    #[arg(long)]
    pub(crate) all: bool,
    /// Hosts scanned at once (default from settings).
    #[arg(long)]
    pub(crate) concurrency: Option<usize>,
    /// Connect timeout in seconds (default from settings).
    #[arg(long)]
    pub(crate) timeout: Option<u64>,
    /// Extra known_hosts file to trust (repeatable).
    #[arg(long = "known-hosts")]
    pub(crate) known_hosts: Vec<PathBuf>,
    /// Transfer the full package list even when the host's package state is unchanged.
    #[arg(long)]
    pub(crate) full: bool,
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Subcommand)]
pub(crate) enum QueryCmd {
    /// Which hosts have a package (optionally below a version, in dpkg order).
    Package {
        name: String,
        #[arg(long)]
        below: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum AdvisoriesCmd {
    /// Import a feed (OSV, Debian Security Tracker JSON, NVD CVE records) from a file or URL.
    Sync {
        #[arg(long = "from")]
        from: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// The feeds, when each was last fetched, and how old the copy in use is.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum DeployCmd {
    /// Propose rings (canary on non-prod, then production waves), record and check every host's
    /// rollback path, and store the deployment (unless a guard blocks it).
    Plan {
        #[arg(long)]
        name: String,
        /// The group (scope) to patch, or one host.
        #[arg(long, required_unless_present = "hosts")]
        scope: Option<String>,
        /// Only these hosts (repeatable or comma-separated): of --scope when given, else the
        /// deployment's scope is these hosts.
        #[arg(long = "host", value_delimiter = ',')]
        hosts: Vec<String>,
        /// Only these packages (repeatable); default: every pending update of --bucket or all.
        #[arg(long = "package")]
        packages: Vec<String>,
        /// Only the updates that fix these CVEs (repeatable; combines with --package).
        #[arg(long = "cve")]
        cves: Vec<String>,
        /// Start from a saved selection (`deploy selection save`).
        #[arg(long)]
        selection: Option<String>,
        #[arg(long)]
        bucket: Option<String>,
        /// Cumulative production waves in percent.
        #[arg(long, value_delimiter = ',', default_value = "5,25,50,100")]
        waves: Vec<u32>,
        #[arg(long, default_value_t = 24)]
        soak_hours: i64,
        /// Smoke test command run on each host after its stage (repeatable); exit 0 = pass.
        #[arg(long = "smoke")]
        smoke: Vec<String>,
        /// Progress through healthy gates by itself after the soak.
        #[arg(long)]
        auto: bool,
        /// Override a guard with a written reason: GUARD=REASON (repeatable).
        #[arg(long = "override")]
        overrides: Vec<String>,
        /// Roll back by downgrading and pinning the previous versions (apt-mark hold + apt
        /// preferences) until `deploy unpin`.
        #[arg(long)]
        pin: bool,
        /// On a no-go, roll back the failed stage's hosts at once.
        #[arg(long)]
        rollback_on_no_go: bool,
        #[arg(long)]
        json: bool,
    },
    /// Start or resume a deployment: runs until it must wait (soak, gate) or ends.
    Start {
        id: i64,
        /// If another PatchDesk is changing this deployment, wait for it instead of refusing.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// Where a deployment is, as of now (all deployments without an id).
    Status {
        id: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Every deployment, newest first: id, name, scope, state, what it waits for.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Go at the current gate (once a soak is over, health is measured again first), then
    /// continue. At a no-go gate a plain go is refused: --override-no-go --reason "…".
    Go {
        id: i64,
        /// Go although the engine says no-go (recorded in the audit log and the summary).
        #[arg(long, requires = "reason")]
        override_no_go: bool,
        /// The written reason for --override-no-go.
        #[arg(long, requires = "override_no_go")]
        reason: Option<String>,
        /// If another PatchDesk is changing this deployment, wait for it instead of refusing.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// Leave a host out of the rest of a deployment with a written reason (e.g. a host in
    /// attention that blocks it from finishing); recorded in the audit log.
    Exclude {
        id: i64,
        #[arg(long)]
        host: String,
        #[arg(long)]
        reason: String,
        /// If another PatchDesk is changing this deployment, wait for it instead of refusing.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// Delete an abandoned plan (a deployment still planned, never started); audited.
    Delete {
        id: i64,
        /// If another PatchDesk is changing this deployment, wait for it instead of refusing.
        #[arg(long)]
        wait: bool,
    },
    /// No-go at the current gate: the deployment halts. The reason is recorded with who and when.
    NoGo {
        id: i64,
        /// Why (asked for on a terminal when not given).
        #[arg(long)]
        reason: Option<String>,
        /// If another PatchDesk is changing this deployment, wait for it instead of refusing.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// Rehearse a rollback on the scope's non-prod hosts: apply, verify, roll back, verify; the date
    /// is recorded for the group.
    Drill {
        #[arg(long)]
        scope: String,
        #[arg(long = "package")]
        packages: Vec<String>,
        #[arg(long = "smoke")]
        smoke: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Configure a group's snapshot hook (run before each host is patched; restore = rollback path
    /// where no downgrade is possible). `--clear` removes it.
    Hook {
        #[arg(long)]
        group: String,
        #[arg(long)]
        snapshot: Option<String>,
        #[arg(long)]
        restore: Option<String>,
        /// Where the commands run: on the host (over SSH) or local (this machine).
        #[arg(long, default_value = "host")]
        on: String,
        #[arg(long)]
        clear: bool,
    },
    /// A group's smoke tests, used by plans of that scope that name none (--set repeatable;
    /// --clear removes them; neither shows them).
    Smoke {
        #[arg(long)]
        group: String,
        #[arg(long = "set")]
        set: Vec<String>,
        #[arg(long)]
        clear: bool,
    },
    /// A group's health checks, measured before and after each stage and judged at its gate
    /// (HTTP probe, error rate in a log, service up, PromQL, Alertmanager) and its reboot policy.
    /// The options given replace the group's whole configuration; none shows it; --clear removes it.
    Checks(Box<ChecksArgs>),
    /// Last rollback drill per group (overdue after 90 days).
    Drills {
        #[arg(long)]
        json: bool,
    },
    /// Roll back the hosts that received the update (or only --host ...), verified by a rescan.
    Rollback {
        id: i64,
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// If another PatchDesk is changing this deployment, wait for it instead of refusing.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// At a waiting gate: reboot the stage's hosts that need it (or only --host ...), wait for
    /// them to come back, and measure the stage again (the "ask at the gate" reboot policy).
    Reboot {
        id: i64,
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// If another PatchDesk is changing this deployment, wait for it instead of refusing.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// Saved selections: what to deploy, by name.
    #[command(subcommand)]
    Selection(SelectionCmd),
    /// Write the deployment as an Ansible playbook + inventory (rings as `serial` batches,
    /// exact versions, snapshot hook, smoke tests, version check) and a rollback playbook.
    Export {
        id: i64,
        /// The directory to write into.
        #[arg(long)]
        ansible: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Lift the pins a pin rollback left (all its pinned hosts, or only --host ...).
    Unpin {
        id: i64,
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// If another PatchDesk is changing this deployment, wait for it instead of refusing.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// A group's maintenance window, e.g. "sat 22:00-06:00" or "mon-fri 20:00-23:00" (local time):
    /// stages change its hosts only inside it. Without --group, lists every window.
    Window {
        #[arg(long)]
        group: Option<String>,
        #[arg(long)]
        set: Option<String>,
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Args)]
pub(crate) struct ChecksArgs {
    #[arg(long)]
    pub(crate) group: String,
    /// HTTP(S) probe URL from this machine; {address} and {host} are replaced per host.
    #[arg(long)]
    pub(crate) http: Option<String>,
    /// Expected status (its class counts: 200 = any 2xx).
    #[arg(long, default_value_t = 200)]
    pub(crate) http_status: u16,
    /// Text the answer's body must contain.
    #[arg(long)]
    pub(crate) http_body: Option<String>,
    /// For https under an internal CA: a PEM file with the CA certificate(s) trusted for the
    /// probe instead of the public roots (the certificate is always verified).
    #[arg(long)]
    pub(crate) http_ca_file: Option<String>,
    /// No-go when the p50 latency grows past this factor of the baseline's.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) latency_factor: f64,
    /// ... and by more than these milliseconds.
    #[arg(long, default_value_t = 50)]
    pub(crate) latency_slack_ms: u32,
    /// Requests per probe (the p50 is taken over them).
    #[arg(long, default_value_t = 5)]
    pub(crate) http_requests: u32,
    /// Error lines: the pattern (grep -E) counted in --log-file, or in the journal without one.
    #[arg(long)]
    pub(crate) log_pattern: Option<String>,
    #[arg(long)]
    pub(crate) log_file: Option<String>,
    /// Seconds of the baseline window measured before the stage.
    #[arg(long, default_value_t = 10)]
    pub(crate) log_window: u32,
    /// No-go when the error lines per minute rise by more than this.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) log_max_increase: f64,
    /// Service up: a systemd unit (where systemd runs), else --process, else --port.
    #[arg(long)]
    pub(crate) unit: Option<String>,
    #[arg(long)]
    pub(crate) process: Option<String>,
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// Prometheus base URL and a PromQL query ({instance}, {host}, {address} replaced).
    #[arg(long, requires = "prom_query")]
    pub(crate) prom_url: Option<String>,
    #[arg(long, requires = "prom_url")]
    pub(crate) prom_query: Option<String>,
    /// No-go when the query's value is above this.
    #[arg(long)]
    pub(crate) prom_max: Option<f64>,
    /// No-go when the query's value rose by more than this over the baseline.
    #[arg(long)]
    pub(crate) prom_max_increase: Option<f64>,
    /// Alertmanager base URL: no-go on an alert for the host that was not firing before.
    #[arg(long)]
    pub(crate) am_url: Option<String>,
    /// The alert label that names the host, and its value (templates as above).
    #[arg(long, default_value = "instance")]
    pub(crate) am_label: String,
    #[arg(long, default_value = "{instance}")]
    pub(crate) am_value: String,
    /// The host's `instance` label in the monitoring, e.g. '{address}:9100'.
    #[arg(long)]
    pub(crate) instance: Option<String>,
    /// When a host whose update needs a reboot is rebooted: never, ask (at the gate), window
    /// (inside its stage).
    #[arg(long, value_enum)]
    pub(crate) reboot: Option<RebootArg>,
    /// Seconds to wait after a stage's apply before measuring (the monitoring scrapes first).
    #[arg(long, default_value_t = 0)]
    pub(crate) settle: u32,
    /// Seconds a rebooted host may take to answer SSH again.
    #[arg(long, default_value_t = 600)]
    pub(crate) reboot_timeout: u32,
    #[arg(long)]
    pub(crate) clear: bool,
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RebootArg {
    Never,
    Ask,
    Window,
}

impl ChecksArgs {
    pub(crate) fn any_set(&self) -> bool {
        self.http.is_some()
            || self.log_pattern.is_some()
            || self.unit.is_some()
            || self.process.is_some()
            || self.port.is_some()
            || self.prom_url.is_some()
            || self.am_url.is_some()
            || self.instance.is_some()
            || self.reboot.is_some()
    }

    pub(crate) fn config(&self) -> patchdesk_engine::rollout::HealthChecks {
        patchdesk_engine::rollout::HealthChecks {
            http: self
                .http
                .clone()
                .map(|url| patchdesk_engine::rollout::HttpCheck {
                    url,
                    expect_status: self.http_status,
                    body: self.http_body.clone(),
                    latency_factor: self.latency_factor,
                    latency_slack_ms: self.latency_slack_ms,
                    requests: self.http_requests,
                    ca_file: self.http_ca_file.clone(),
                }),
            log: self
                .log_pattern
                .clone()
                .map(|pattern| patchdesk_engine::rollout::LogCheck {
                    path: self.log_file.clone(),
                    pattern,
                    window_secs: self.log_window,
                    max_increase_per_min: self.log_max_increase,
                }),
            service: (self.unit.is_some() || self.process.is_some() || self.port.is_some()).then(
                || patchdesk_engine::rollout::ServiceCheck {
                    unit: self.unit.clone(),
                    process: self.process.clone(),
                    port: self.port,
                },
            ),
            prometheus: self
                .prom_url
                .clone()
                .map(|url| patchdesk_engine::rollout::PromCheck {
                    url,
                    query: self.prom_query.clone().unwrap_or_default(),
                    max: self.prom_max,
                    max_increase: self.prom_max_increase,
                }),
            alerts: self
                .am_url
                .clone()
                .map(|url| patchdesk_engine::rollout::AlertCheck {
                    url,
                    label: self.am_label.clone(),
                    value: self.am_value.clone(),
                }),
            instance: self.instance.clone(),
            reboot: match self.reboot {
                None | Some(RebootArg::Never) => patchdesk_engine::rollout::RebootPolicy::Never,
                Some(RebootArg::Ask) => patchdesk_engine::rollout::RebootPolicy::AskAtGate,
                Some(RebootArg::Window) => patchdesk_engine::rollout::RebootPolicy::InWindow,
            },
            settle_secs: self.settle,
            reboot_timeout_secs: self.reboot_timeout,
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum SelectionCmd {
    /// Save (or replace) a selection.
    Save {
        name: String,
        #[arg(long = "package")]
        packages: Vec<String>,
        #[arg(long = "cve")]
        cves: Vec<String>,
        #[arg(long)]
        bucket: Option<String>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Delete {
        name: String,
    },
}

#[derive(Args)]
pub(crate) struct PolicyArgs {
    #[arg(long)]
    pub(crate) critical_cvss: Option<f64>,
    #[arg(long)]
    pub(crate) high_cvss: Option<f64>,
    #[arg(long)]
    pub(crate) moderate_cvss: Option<f64>,
    #[arg(long)]
    pub(crate) critical_days: Option<i64>,
    #[arg(long)]
    pub(crate) high_days: Option<i64>,
    /// Weekday of the regular cycle, 0 = Monday.
    #[arg(long)]
    pub(crate) cycle_weekday: Option<u32>,
    /// UTC hour of the regular cycle.
    #[arg(long)]
    pub(crate) cycle_hour: Option<u32>,
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct SettingsArgs {
    #[arg(long)]
    pub(crate) concurrency: Option<usize>,
    #[arg(long)]
    pub(crate) connect_timeout: Option<u64>,
    #[arg(long)]
    pub(crate) command_timeout: Option<u64>,
    /// Replace the list of known_hosts files (repeatable).
    #[arg(long = "known-hosts")]
    pub(crate) known_hosts: Vec<PathBuf>,
    /// How long a deployment waits for a busy dpkg lock on a host, in seconds.
    #[arg(long)]
    pub(crate) dpkg_lock_wait: Option<u64>,
    /// The folder the scheduled weekly reports are written to ("" to unset).
    #[arg(long)]
    pub(crate) reports_dir: Option<PathBuf>,
    /// Paper size of PDF reports: a4 or letter.
    #[arg(long)]
    pub(crate) report_paper: Option<String>,
    /// How long an apply, a rollback or a snapshot hook may run, in seconds (default 3600).
    #[arg(long)]
    pub(crate) apply_timeout: Option<u64>,
    #[arg(long)]
    pub(crate) json: bool,
}
