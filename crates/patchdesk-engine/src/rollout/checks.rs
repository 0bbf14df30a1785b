//! Health checks that decide a gate on evidence (issue #13): per group, an HTTP(S) probe from this
//! machine, the error rate in a log file or the journal on the host, a service / process / TCP
//! port, a PromQL query against the team's Prometheus and "no new alerts" from its Alertmanager.
//! Each is measured the same way as a baseline before a stage and again after it, and judged
//! into a [`CheckResult`] (passed, failed, inconclusive, not configured) with both values.
//!
//! Owns the `group_health_checks` and `stage_measurements` tables and the check command run on
//! hosts (read-only). Must not change hosts, decide gates (that is `run`) or touch other tables.
//! Everything read back (host output, HTTP bodies, Prometheus and Alertmanager JSON) is hostile
//! input: bounded, parsed without panics, shown only after `text::clean`.

use super::*;
use std::io::Read;
use std::time::{Duration as StdDuration, Instant};

/// The outcome of one check at a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Failed,
    /// No evidence either way (no data, a query error, missing baseline): the gate pauses and
    /// says why; never a pass.
    Inconclusive,
    NotConfigured,
}

/// What a check measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Reachable,
    Version,
    Smoke,
    FailedUnits,
    Journal,
    Reboot,
    Http,
    ErrorRate,
    Service,
    Prometheus,
    Alerts,
}

/// One line of a host's checklist at a gate: the value measured after the stage beside its
/// baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CheckResult {
    pub kind: CheckKind,
    pub status: CheckStatus,
    /// What was checked, e.g. `HTTP http://10.0.0.5:8080/`.
    pub label: String,
    pub baseline: Option<String>,
    pub value: Option<String>,
    /// Why it failed or is inconclusive, in words.
    pub detail: Option<String>,
}

impl CheckResult {
    pub(super) fn new(kind: CheckKind, status: CheckStatus, label: impl Into<String>) -> Self {
        Self {
            kind,
            status,
            label: label.into(),
            baseline: None,
            value: None,
            detail: None,
        }
    }
    fn values(mut self, baseline: Option<String>, value: Option<String>) -> Self {
        self.baseline = baseline;
        self.value = value;
        self
    }
    fn why(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(crate::text::clip(&crate::text::clean(&detail.into()), 400));
        self
    }
}

/// When a host whose update needs a reboot is rebooted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum RebootPolicy {
    /// Never by PatchDesk: the gate says the host still needs one.
    #[default]
    Never,
    /// The gate asks: a person reboots with `deploy reboot`.
    AskAtGate,
    /// Inside the stage (and its maintenance window), right after the apply.
    InWindow,
}

/// HTTP(S) probe from this machine: `requests` GETs, every status in the class of
/// `expect_status`, p50 latency at most `latency_factor` × the baseline's (and more than
/// `latency_slack_ms` above it), optional body substring. TLS is verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HttpCheck {
    /// URL template: `{address}` and `{host}` are replaced, e.g. `http://{address}:8080/`.
    pub url: String,
    #[serde(default = "default_status")]
    pub expect_status: u16,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default = "default_factor")]
    pub latency_factor: f64,
    #[serde(default = "default_slack")]
    pub latency_slack_ms: u32,
    #[serde(default = "default_requests")]
    pub requests: u32,
    /// For an https URL served under an internal CA: a PEM file on this machine with the CA
    /// certificate(s) the probe trusts instead of the public roots. The certificate is always
    /// verified (chain and host name); there is no way to turn verification off.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// Lines matching `pattern` (grep -E) in `path` on the host, or in the journal when `path` is
/// empty: lines per minute since the stage started against a window of `window_secs` measured
/// just before it; no-go when the rate rises by more than `max_increase_per_min`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LogCheck {
    #[serde(default)]
    pub path: Option<String>,
    pub pattern: String,
    #[serde(default = "default_window")]
    pub window_secs: u32,
    #[serde(default = "default_increase")]
    pub max_increase_per_min: f64,
}

/// Up = the systemd unit is active (where systemd runs), else a process of that name runs, else
/// the TCP port accepts connections at the host's address. The first that works on the host
/// decides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ServiceCheck {
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub process: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
}

/// A PromQL query (templates: `{instance}`, `{host}`, `{address}`) evaluated before and after,
/// reduced to one number (the sum of the series); no-go when it is above `max` or rose by more
/// than `max_increase`. No data or a query error is inconclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PromCheck {
    pub url: String,
    pub query: String,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub max_increase: Option<f64>,
}

/// No alert firing for the host (label `label` = `value`, templates as above) in the
/// Alertmanager at `url` that was not firing at the baseline; silenced ones are listed, not
/// counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AlertCheck {
    pub url: String,
    #[serde(default = "default_label")]
    pub label: String,
    #[serde(default = "default_label_value")]
    pub value: String,
}

/// A group's health checks and reboot policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HealthChecks {
    #[serde(default)]
    pub http: Option<HttpCheck>,
    #[serde(default)]
    pub log: Option<LogCheck>,
    #[serde(default)]
    pub service: Option<ServiceCheck>,
    #[serde(default)]
    pub prometheus: Option<PromCheck>,
    #[serde(default)]
    pub alerts: Option<AlertCheck>,
    /// The host's `instance` label in the monitoring, e.g. `{address}:9100`.
    #[serde(default)]
    pub instance: Option<String>,
    #[serde(default)]
    pub reboot: RebootPolicy,
    /// Seconds to wait after a stage's apply before measuring again, so the monitoring has
    /// scraped and evaluated the new version (e.g. two scrape intervals).
    #[serde(default)]
    pub settle_secs: u32,
    /// How long a rebooted host may take to answer SSH again before it is a no-go.
    #[serde(default = "default_reboot_timeout")]
    pub reboot_timeout_secs: u32,
}

fn default_reboot_timeout() -> u32 {
    600
}

impl Default for HealthChecks {
    fn default() -> Self {
        Self {
            http: None,
            log: None,
            service: None,
            prometheus: None,
            alerts: None,
            instance: None,
            reboot: RebootPolicy::Never,
            settle_secs: 0,
            reboot_timeout_secs: default_reboot_timeout(),
        }
    }
}

fn default_status() -> u16 {
    200
}
fn default_factor() -> f64 {
    2.0
}
fn default_slack() -> u32 {
    50
}
fn default_requests() -> u32 {
    5
}
fn default_window() -> u32 {
    10
}
fn default_increase() -> f64 {
    1.0
}
fn default_label() -> String {
    "instance".into()
}
fn default_label_value() -> String {
    "{instance}".into()
}

impl HealthChecks {
    /// Names of the checks configured beyond reachability, versions and smoke tests.
    pub fn configured(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.http.is_some() {
            v.push("HTTP probe");
        }
        if self.log.is_some() {
            v.push("error rate");
        }
        if self.service.is_some() {
            v.push("service up");
        }
        if self.prometheus.is_some() {
            v.push("Prometheus");
        }
        if self.alerts.is_some() {
            v.push("Alertmanager");
        }
        v
    }
}

const MAX_TEXT: usize = 1000;

fn one_line(what: &str, s: &str, max: usize) -> Result<()> {
    if s.trim().is_empty() || s.len() > max || s.chars().any(crate::text::is_unsafe) {
        return Err(Error::Invalid(format!(
            "{what}: one line of at most {max} characters (no control characters), not empty"
        )));
    }
    Ok(())
}

fn http_url(what: &str, s: &str) -> Result<()> {
    one_line(what, s, MAX_TEXT)?;
    if !(s.starts_with("http://") || s.starts_with("https://")) {
        return Err(Error::Invalid(format!(
            "{what} must start with http:// or https://: {}",
            crate::text::clip(s, 80)
        )));
    }
    Ok(())
}

/// Check a configuration before it is stored: every field within bounds and of the right shape.
pub fn validate(c: &HealthChecks) -> Result<()> {
    if let Some(h) = &c.http {
        http_url("the HTTP probe's URL", &h.url)?;
        if !(100..=599).contains(&h.expect_status) {
            return Err(Error::Invalid(
                "the expected HTTP status is a number from 100 to 599".into(),
            ));
        }
        if let Some(b) = &h.body {
            one_line("the HTTP body match", b, 200)?;
        }
        if let Some(f) = &h.ca_file {
            one_line("the CA file", f, 4096)?;
            if !f.starts_with('/') {
                return Err(Error::Invalid(format!(
                    "the CA file is an absolute path on this machine: {}",
                    crate::text::clean(f)
                )));
            }
        }
        if !(h.latency_factor.is_finite()
            && h.latency_factor >= 1.0
            && (1..=50).contains(&h.requests))
        {
            return Err(Error::Invalid(
                "the latency factor is at least 1 and the probe makes 1 to 50 requests".into(),
            ));
        }
    }
    if let Some(l) = &c.log {
        one_line("the error pattern", &l.pattern, 200)?;
        if let Some(p) = &l.path {
            if !p.starts_with('/')
                || p.len() > 256
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/._-+@".contains(&b))
            {
                return Err(Error::Invalid(format!(
                    "the log file is an absolute path of letters, digits and / . _ - + @: {}",
                    crate::text::clip(p, 80)
                )));
            }
        }
        if !((1..=600).contains(&l.window_secs)
            && l.max_increase_per_min.is_finite()
            && l.max_increase_per_min >= 0.0)
        {
            return Err(Error::Invalid(
                "the error-rate window is 1 to 600 seconds and the allowed rise is 0 or more lines per minute".into(),
            ));
        }
    }
    if let Some(s) = &c.service {
        if s.unit.is_none() && s.process.is_none() && s.port.is_none() {
            return Err(Error::Invalid(
                "a service check needs a systemd unit, a process name or a TCP port".into(),
            ));
        }
        let ok = |v: &Option<String>, max: usize| {
            v.as_ref().is_none_or(|v| {
                !v.is_empty()
                    && v.len() <= max
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-@:".contains(&b))
            })
        };
        if !ok(&s.unit, 128) || !ok(&s.process, 15) || s.port == Some(0) {
            return Err(Error::Invalid("a unit name (up to 128) or process name (up to 15 characters, as in /proc/PID/comm) is letters, digits and . _ - @ :; a port is 1-65535".into()));
        }
    }
    if let Some(p) = &c.prometheus {
        http_url("the Prometheus URL", &p.url)?;
        one_line("the PromQL query", &p.query, MAX_TEXT)?;
        if p.max.is_none() && p.max_increase.is_none() {
            return Err(Error::Invalid(
                "a Prometheus check needs --prom-max and/or --prom-max-increase".into(),
            ));
        }
        if p.max.is_some_and(|m| !m.is_finite()) || p.max_increase.is_some_and(|m| !m.is_finite()) {
            return Err(Error::Invalid("thresholds are finite numbers".into()));
        }
    }
    if let Some(a) = &c.alerts {
        http_url("the Alertmanager URL", &a.url)?;
        one_line("the alert label", &a.label, 100)?;
        one_line("the alert label value", &a.value, 200)?;
    }
    if !(5..=3600).contains(&c.reboot_timeout_secs) {
        return Err(Error::Invalid(
            "the reboot timeout is 5 to 3600 seconds".into(),
        ));
    }
    if c.settle_secs > 600 {
        return Err(Error::Invalid(
            "the settle time is at most 600 seconds".into(),
        ));
    }
    if let Some(i) = &c.instance {
        one_line("the instance label", i, 200)?;
    }
    let uses_instance = c
        .prometheus
        .as_ref()
        .is_some_and(|p| p.query.contains("{instance}"))
        || c.alerts
            .as_ref()
            .is_some_and(|a| a.value.contains("{instance}"));
    if uses_instance && c.instance.is_none() {
        return Err(Error::Invalid(
            "{instance} is used but the instance label is not set (e.g. --instance '{address}:9100')".into(),
        ));
    }
    Ok(())
}

/// A group's health checks (or a host's, when the scope is a host), if configured.
pub fn health_checks(inv: &Inventory, group: &str) -> Result<Option<HealthChecks>> {
    let json: Option<String> = inv
        .conn()
        .query_row(
            "SELECT config FROM group_health_checks WHERE group_name = ?1",
            [group],
            |r| r.get(0),
        )
        .optional()?;
    Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
}

/// Configure (or with `None` remove) a group's health checks; recorded in the audit log.
pub fn set_health_checks(
    inv: &Inventory,
    group: &str,
    checks: Option<&HealthChecks>,
    who: &str,
) -> Result<()> {
    crate::host::validate_label(group).map_err(Error::Invalid)?;
    let now = inv.clock().now();
    match checks {
        Some(c) => {
            validate(c)?;
            let json = serde_json::to_string(c).map_err(|e| Error::Invalid(e.to_string()))?;
            inv.conn().execute(
                "INSERT INTO group_health_checks (group_name, config, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(group_name) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                params![group, json, now, who],
            )?;
            inv.audit(
                who,
                None,
                "health-checks-set",
                "note",
                None,
                None,
                None,
                Some(&format!("{group}: {json}")),
            )?;
        }
        None => {
            inv.conn().execute(
                "DELETE FROM group_health_checks WHERE group_name = ?1",
                [group],
            )?;
            inv.audit(
                who,
                None,
                "health-checks-clear",
                "note",
                None,
                None,
                None,
                Some(group),
            )?;
        }
    }
    Ok(())
}

/// Every group with health checks, by name.
pub fn all_health_checks(inv: &Inventory) -> Result<Vec<(String, HealthChecks)>> {
    let rows: Vec<(String, String)> = inv
        .conn()
        .prepare("SELECT group_name, config FROM group_health_checks ORDER BY group_name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(g, j)| serde_json::from_str(&j).ok().map(|c| (g, c)))
        .collect())
}

// --- measurements -------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpSample {
    pub statuses: Vec<u16>,
    pub p50_ms: Option<u64>,
    pub body_ok: Option<bool>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogSample {
    pub lines: u64,
    pub secs: u64,
    /// Where the next measurement starts: the file's size, or the host's clock for the journal.
    pub offset: u64,
    pub host_time: i64,
    pub rotated: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceSample {
    pub up: Option<bool>,
    pub how: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromSample {
    pub value: Option<f64>,
    pub series: u32,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertSample {
    /// Firing (active, not silenced) alerts matching the host: `alertname{labels}`.
    pub firing: Vec<String>,
    pub silenced: Vec<String>,
    pub error: Option<String>,
}

/// What the checks measured on one host at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub http: Option<HttpSample>,
    pub log: Option<LogSample>,
    pub service: Option<ServiceSample>,
    pub prometheus: Option<PromSample>,
    pub alerts: Option<AlertSample>,
}

/// Before the stage or after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MeasurePhase {
    Baseline,
    After,
}

impl MeasurePhase {
    fn as_str(self) -> &'static str {
        match self {
            MeasurePhase::Baseline => "baseline",
            MeasurePhase::After => "after",
        }
    }
}

/// `{host}`, `{address}` and `{instance}` in a template.
pub(super) fn render(t: &str, host: &HostRecord, instance: Option<&str>) -> String {
    let inst = instance.map(|i| render(i, host, None)).unwrap_or_default();
    t.replace("{host}", &host.spec.name)
        .replace("{address}", &host.spec.address)
        .replace("{instance}", &inst)
}

/// At most this much of any HTTP answer is read.
const MAX_BODY: u64 = 4 * 1024 * 1024;

fn agent(timeout: StdDuration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("PatchDesk/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn read_body(resp: ureq::http::Response<ureq::Body>) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    resp.into_body()
        .into_reader()
        .take(MAX_BODY)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// At most this much of a CA file is read.
const MAX_CA_FILE: u64 = 1024 * 1024;

/// The certificates of a PEM CA file (bounded; a file with none is an error that says so).
fn ca_certs(path: &str) -> std::result::Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CA_FILE).read_to_end(&mut pem))
        .map_err(|e| format!("the CA file {path} cannot be read: {e}"))?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(format!("the CA file {path} holds no PEM certificate"));
    }
    Ok(certs)
}

fn probe_http(url: &str, c: &HttpCheck) -> HttpSample {
    let mut s = HttpSample::default();
    let agent = match &c.ca_file {
        None => agent(StdDuration::from_secs(5)),
        Some(path) => match ca_certs(path) {
            Ok(certs) => ureq::Agent::config_builder()
                .timeout_global(Some(StdDuration::from_secs(5)))
                .http_status_as_error(false)
                .user_agent(concat!("PatchDesk/", env!("CARGO_PKG_VERSION")))
                .tls_config(
                    ureq::tls::TlsConfig::builder()
                        .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                        .build(),
                )
                .build()
                .into(),
            Err(e) => {
                s.error = Some(crate::text::clip(&crate::text::clean(&e), 200));
                return s;
            }
        },
    };
    let mut times = Vec::new();
    for _ in 0..c.requests.clamp(1, 50) {
        let t = Instant::now();
        match agent.get(url).call() {
            Ok(resp) => {
                s.statuses.push(resp.status().as_u16());
                let body = read_body(resp);
                times.push(t.elapsed().as_millis() as u64);
                if let Some(want) = &c.body {
                    let ok = body
                        .map(|b| String::from_utf8_lossy(&b).contains(want.as_str()))
                        .unwrap_or(false);
                    s.body_ok = Some(s.body_ok.unwrap_or(true) && ok);
                }
            }
            Err(e) => {
                s.error = Some(crate::text::clip(&crate::text::clean(&e.to_string()), 200));
                break;
            }
        }
    }
    times.sort_unstable();
    s.p50_ms = times.get(times.len().saturating_sub(1) / 2).copied();
    s
}

/// Parse a Prometheus `/api/v1/query` answer: the sum of an instant vector's values, or a
/// scalar. `None` = no data.
pub(super) fn parse_prom(body: &[u8]) -> std::result::Result<(Option<f64>, u32), String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not a Prometheus answer ({e})"))?;
    if v["status"] != "success" {
        return Err(format!(
            "query error: {}",
            crate::text::clip(
                &crate::text::clean(v["error"].as_str().unwrap_or("unknown")),
                200
            )
        ));
    }
    let num = |x: &serde_json::Value| -> Option<f64> {
        x.get(1)
            .and_then(|s| s.as_str())
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|f| f.is_finite())
    };
    match v["data"]["resultType"].as_str() {
        Some("vector") => {
            let r = v["data"]["result"].as_array().cloned().unwrap_or_default();
            let vals: Vec<f64> = r.iter().filter_map(|s| num(&s["value"])).collect();
            if vals.is_empty() {
                Ok((None, 0))
            } else {
                Ok((Some(vals.iter().sum()), vals.len() as u32))
            }
        }
        Some("scalar") => Ok((num(&v["data"]["result"]), 1)),
        other => Err(format!(
            "the query returns {} (a vector or scalar is needed)",
            crate::text::clean(other.unwrap_or("nothing"))
        )),
    }
}

fn query_prom(c: &PromCheck, query: &str) -> PromSample {
    let url = format!("{}/api/v1/query", c.url.trim_end_matches('/'));
    let resp = agent(StdDuration::from_secs(10))
        .get(&url)
        .query("query", query)
        .call();
    let body = match resp {
        Ok(r) => {
            let status = r.status().as_u16();
            match read_body(r) {
                Ok(b) if status == 200 || status == 400 || status == 422 => b,
                Ok(_) => {
                    return PromSample {
                        error: Some(format!("Prometheus answered HTTP {status}")),
                        ..Default::default()
                    }
                }
                Err(e) => {
                    return PromSample {
                        error: Some(format!("reading Prometheus' answer: {e}")),
                        ..Default::default()
                    }
                }
            }
        }
        Err(e) => {
            return PromSample {
                error: Some(format!(
                    "Prometheus at {} cannot be queried: {}",
                    c.url,
                    crate::text::clip(&crate::text::clean(&e.to_string()), 200)
                )),
                ..Default::default()
            }
        }
    };
    match parse_prom(&body) {
        Ok((value, series)) => PromSample {
            value,
            series,
            error: None,
        },
        Err(e) => PromSample {
            error: Some(e),
            ..Default::default()
        },
    }
}

/// Parse Alertmanager's `/api/v2/alerts`: the alerts whose `label` equals `value`, firing
/// (active) and silenced or inhibited (suppressed), each as `alertname{k="v",…}` (sorted labels).
pub(super) fn parse_alerts(
    body: &[u8],
    label: &str,
    value: &str,
) -> std::result::Result<(Vec<String>, Vec<String>), String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not an Alertmanager answer ({e})"))?;
    let list = v
        .as_array()
        .ok_or("not an Alertmanager alert list".to_string())?;
    let (mut firing, mut silenced) = (Vec::new(), Vec::new());
    for a in list.iter().take(10_000) {
        let Some(labels) = a["labels"].as_object() else {
            continue;
        };
        if labels.get(label).and_then(|l| l.as_str()) != Some(value) {
            continue;
        }
        let name = labels
            .get("alertname")
            .and_then(|n| n.as_str())
            .unwrap_or("?");
        let mut kv: Vec<String> = labels
            .iter()
            .filter(|(k, _)| k.as_str() != "alertname")
            .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or("")))
            .collect();
        kv.sort();
        let key = crate::text::clip(
            &crate::text::clean(&format!("{name}{{{}}}", kv.join(","))),
            400,
        );
        match a["status"]["state"].as_str() {
            Some("active") => firing.push(key),
            Some("suppressed") => silenced.push(key),
            _ => {}
        }
    }
    firing.sort();
    firing.dedup();
    silenced.sort();
    silenced.dedup();
    Ok((firing, silenced))
}

fn query_alerts(c: &AlertCheck, value: &str) -> AlertSample {
    let url = format!("{}/api/v2/alerts", c.url.trim_end_matches('/'));
    let resp = agent(StdDuration::from_secs(10)).get(&url).call();
    let body = match resp {
        Ok(r) if r.status().as_u16() == 200 => read_body(r).map_err(|e| e.to_string()),
        Ok(r) => Err(format!(
            "Alertmanager answered HTTP {}",
            r.status().as_u16()
        )),
        Err(e) => Err(format!(
            "Alertmanager at {} cannot be queried: {}",
            c.url,
            crate::text::clip(&crate::text::clean(&e.to_string()), 200)
        )),
    };
    match body.and_then(|b| parse_alerts(&b, &c.label, value)) {
        Ok((firing, silenced)) => AlertSample {
            firing,
            silenced,
            error: None,
        },
        Err(e) => AlertSample {
            error: Some(e),
            ..Default::default()
        },
    }
}

/// The read-only command measuring the log and the service on the host. One `key …` line each.
pub(super) fn host_script(c: &HealthChecks, prev_log: Option<&LogSample>) -> String {
    let mut s = String::from("export LC_ALL=C\n");
    if let Some(l) = &c.log {
        let pat = shell_quote(&l.pattern);
        match (&l.path, prev_log) {
            (Some(path), None) => {
                // Baseline: the matching lines written during the window, from the file's end.
                s += &format!(
                    "f={f}; if [ -r \"$f\" ]; then a=$(wc -c <\"$f\"); t0=$(date +%s); sleep {w}; b=$(wc -c <\"$f\"); t1=$(date +%s); r=0; [ \"$b\" -ge \"$a\" ] || {{ a=0; r=1; }}; n=$(tail -c +$((a+1)) \"$f\" | head -c $((b-a)) | grep -c -E -e {pat}); echo \"log $n $((t1-t0)) $b $t1 $r\"; else echo 'log-error the log file cannot be read'; fi\n",
                    f = shell_quote(path),
                    w = l.window_secs
                );
            }
            (Some(path), Some(p)) => {
                s += &format!(
                    "f={f}; a={a}; if [ -r \"$f\" ]; then b=$(wc -c <\"$f\"); t1=$(date +%s); r=0; [ \"$b\" -ge \"$a\" ] || {{ a=0; r=1; }}; n=$(tail -c +$((a+1)) \"$f\" | head -c $((b-a)) | grep -c -E -e {pat}); echo \"log $n $((t1-{t0})) $b $t1 $r\"; else echo 'log-error the log file cannot be read'; fi\n",
                    f = shell_quote(path),
                    a = p.offset,
                    t0 = p.host_time
                );
            }
            (None, prev) => {
                let journal = "command -v journalctl >/dev/null 2>&1 && [ -d /run/systemd/system ]";
                match prev {
                    None => s += &format!(
                        "if {journal}; then t0=$(date +%s); sleep {w}; t1=$(date +%s); n=$(journalctl -q --no-pager -o cat --since \"@$t0\" --until \"@$t1\" 2>/dev/null | grep -c -E -e {pat}); echo \"log $n $((t1-t0)) $t1 $t1 0\"; else echo 'log-error no journal on this host (no systemd): configure a log file'; fi\n",
                        w = l.window_secs
                    ),
                    Some(p) => s += &format!(
                        "if {journal}; then t1=$(date +%s); n=$(journalctl -q --no-pager -o cat --since \"@{t0}\" --until \"@$t1\" 2>/dev/null | grep -c -E -e {pat}); echo \"log $n $((t1-{t0})) $t1 $t1 0\"; else echo 'log-error no journal on this host (no systemd): configure a log file'; fi\n",
                        t0 = p.host_time
                    ),
                }
            }
        }
    }
    if let Some(svc) = &c.service {
        if let Some(u) = &svc.unit {
            s += &format!(
                "if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then if systemctl is-active --quiet {u}; then echo 'service up unit'; else echo 'service down unit'; fi; else echo 'service na unit'; fi\n",
                u = shell_quote(u)
            );
        }
        if let Some(p) = &svc.process {
            s += &format!(
                "p=0; for c in /proc/[0-9]*/comm; do [ \"$(cat \"$c\" 2>/dev/null)\" = {n} ] && {{ p=1; break; }}; done; if [ -d /proc/1 ]; then [ $p = 1 ] && echo 'service up process' || echo 'service down process'; else echo 'service na process'; fi\n",
                n = shell_quote(p)
            );
        }
    }
    s
}

/// Read the host script's answer (hostile: bounded, every field validated).
pub(super) fn parse_host(out: &str) -> (Option<LogSample>, Vec<(String, Option<bool>)>) {
    let mut log = None;
    let mut svc = Vec::new();
    for line in out.lines().take(100) {
        let f: Vec<&str> = line.split_whitespace().take(8).collect();
        match f.as_slice() {
            ["log", n, secs, off, t, r] => {
                let p = |s: &str| s.parse::<u64>().ok();
                log = Some(match (p(n), p(secs), p(off), t.parse::<i64>().ok()) {
                    (Some(lines), Some(secs), Some(offset), Some(host_time)) => LogSample {
                        lines,
                        secs,
                        offset,
                        host_time,
                        rotated: *r == "1",
                        error: None,
                    },
                    _ => LogSample {
                        error: Some("unreadable answer from the host".into()),
                        ..Default::default()
                    },
                });
            }
            ["log-error", ..] => {
                log = Some(LogSample {
                    error: Some(crate::text::clip(
                        &crate::text::clean(line.trim_start_matches("log-error ")),
                        200,
                    )),
                    ..Default::default()
                })
            }
            ["service", state, how] if matches!(*how, "unit" | "process") => svc.push((
                how.to_string(),
                match *state {
                    "up" => Some(true),
                    "down" => Some(false),
                    _ => None,
                },
            )),
            _ => {}
        }
    }
    (log, svc)
}

async fn port_open(address: &str, port: u16) -> bool {
    matches!(
        tokio::time::timeout(
            StdDuration::from_secs(3),
            tokio::net::TcpStream::connect((address, port))
        )
        .await,
        Ok(Ok(_))
    )
}

/// Measure every configured check on a host. `prev`: the baseline, for the after measurement
/// (the error rate counts from where the baseline stopped).
pub(super) async fn measure(
    c: &HealthChecks,
    host: &HostRecord,
    prev: Option<&Measurement>,
    ssh: &SshOptions,
) -> Measurement {
    let mut m = Measurement::default();
    let instance = c.instance.as_deref();
    // This machine: HTTP, Prometheus, Alertmanager (blocking clients, off the async threads).
    let http = c.http.clone().map(|h| (render(&h.url, host, instance), h));
    let prom = c
        .prometheus
        .clone()
        .map(|p| (render(&p.query, host, instance), p));
    let am = c
        .alerts
        .clone()
        .map(|a| (render(&a.value, host, instance), a));
    let local = tokio::task::spawn_blocking(move || {
        (
            http.map(|(url, h)| probe_http(&url, &h)),
            prom.map(|(q, p)| query_prom(&p, &q)),
            am.map(|(v, a)| query_alerts(&a, &v)),
        )
    });
    // The host: log lines and service, in one read-only command.
    let prev_log = prev
        .and_then(|p| p.log.as_ref())
        .filter(|l| l.error.is_none());
    let needs_host = c.log.is_some()
        || c.service
            .as_ref()
            .is_some_and(|s| s.unit.is_some() || s.process.is_some());
    let mut host_svc = Vec::new();
    if needs_host {
        let script = host_script(c, prev_log);
        match connect(host, ssh).await {
            Ok(conn) => {
                match conn.run("sh -s", Some(script.as_bytes())).await {
                    Ok(out) => {
                        let (log, svc) = parse_host(&String::from_utf8_lossy(&out.stdout));
                        m.log = log;
                        host_svc = svc;
                    }
                    Err(e) => {
                        let err = crate::text::clip(&e.to_string(), 200);
                        if c.log.is_some() {
                            m.log = Some(LogSample {
                                error: Some(err),
                                ..Default::default()
                            });
                        }
                    }
                }
                conn.close().await;
            }
            Err(e) => {
                if c.log.is_some() {
                    m.log = Some(LogSample {
                        error: Some(format!(
                            "not reachable: {}",
                            crate::text::clip(&e.to_string(), 200)
                        )),
                        ..Default::default()
                    });
                }
            }
        }
        if c.log.is_some() && m.log.is_none() {
            m.log = Some(LogSample {
                error: Some("the host did not answer the log check".into()),
                ..Default::default()
            });
        }
    }
    if let Some(svc) = &c.service {
        let mut sample = ServiceSample {
            up: None,
            how: String::new(),
            error: None,
        };
        for (how, up) in &host_svc {
            if let Some(up) = up {
                sample.up = Some(*up);
                sample.how = match how.as_str() {
                    "unit" => format!("unit {}", svc.unit.clone().unwrap_or_default()),
                    _ => format!("process {}", svc.process.clone().unwrap_or_default()),
                };
                break;
            }
        }
        if sample.up.is_none() {
            if let Some(port) = svc.port {
                sample.up = Some(port_open(&host.spec.address, port).await);
                sample.how = format!("TCP {}:{port}", host.spec.address);
            } else {
                sample.error = Some(if svc.unit.is_some() && svc.process.is_none() {
                    "no systemd on this host: configure a process name or a port".into()
                } else {
                    "the host did not answer the service check".into()
                });
            }
        }
        m.service = Some(sample);
    }
    match local.await {
        Ok((http, prom, am)) => {
            m.http = http;
            m.prometheus = prom;
            m.alerts = am;
        }
        Err(e) => {
            let err = Some(format!("the local probe failed: {e}"));
            m.http = c.http.as_ref().map(|_| HttpSample {
                error: err.clone(),
                ..Default::default()
            });
            m.prometheus = c.prometheus.as_ref().map(|_| PromSample {
                error: err.clone(),
                ..Default::default()
            });
            m.alerts = c.alerts.as_ref().map(|_| AlertSample {
                error: err.clone(),
                ..Default::default()
            });
        }
    }
    m
}

/// Store a measurement of a host for a stage (the baseline is kept once taken).
pub(super) fn store(
    inv: &Inventory,
    id: i64,
    idx: i64,
    host: &HostRecord,
    phase: MeasurePhase,
    m: &Measurement,
) -> Result<()> {
    let json = serde_json::to_string(m).unwrap_or_default();
    let sql = match phase {
        MeasurePhase::Baseline => "INSERT OR IGNORE INTO stage_measurements (deployment_id, stage_idx, host_id, phase, taken_at, measured) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        MeasurePhase::After => "INSERT OR REPLACE INTO stage_measurements (deployment_id, stage_idx, host_id, phase, taken_at, measured) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    };
    inv.conn().execute(
        sql,
        params![id, idx, host.id, phase.as_str(), inv.clock().now(), json],
    )?;
    Ok(())
}

pub(super) fn load(
    inv: &Inventory,
    id: i64,
    idx: i64,
    host: &HostRecord,
    phase: MeasurePhase,
) -> Result<Option<Measurement>> {
    Ok(inv
        .conn()
        .query_row(
            "SELECT measured FROM stage_measurements WHERE deployment_id = ?1 AND stage_idx = ?2 AND host_id = ?3 AND phase = ?4",
            params![id, idx, host.id, phase.as_str()],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|j| serde_json::from_str(&j).ok()))
}

/// The health checks a deployment uses, copied when it was planned (a later change does not
/// move its goalposts): its scope's own when the scope has some, for every host; otherwise each
/// host's, from the first of its groups (by name) that has some — so a deployment over several
/// groups checks the canaries with the canary group's checks and the web servers with web's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlannedChecks {
    pub scope: Option<HealthChecks>,
    pub groups: BTreeMap<String, HealthChecks>,
}

/// How `deployments.health_checks` is stored: today's form, or the scope's checks alone (the
/// form before checks were taken per group; read as the scope's).
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredChecks {
    Planned(PlannedChecks),
    ScopeOnly(HealthChecks),
}

impl PlannedChecks {
    /// The checks as configured now, for a plan over `scope` whose hosts are in `groups`.
    pub(super) fn gather<'a>(
        inv: &Inventory,
        scope: &str,
        groups: impl IntoIterator<Item = &'a String>,
    ) -> Result<Self> {
        let mut out = PlannedChecks {
            scope: health_checks(inv, scope)?,
            groups: BTreeMap::new(),
        };
        if out.scope.is_none() {
            for g in groups {
                if !out.groups.contains_key(g) {
                    if let Some(c) = health_checks(inv, g)? {
                        out.groups.insert(g.clone(), c);
                    }
                }
            }
        }
        Ok(out)
    }

    /// A host's checks, and the group they come from (`None`: the scope's).
    pub fn for_host<'a>(
        &'a self,
        groups: &'a [String],
    ) -> Option<(&'a HealthChecks, Option<&'a str>)> {
        if let Some(c) = &self.scope {
            return Some((c, None));
        }
        let mut sorted: Vec<&String> = groups.iter().collect();
        sorted.sort();
        sorted
            .into_iter()
            .find_map(|g| self.groups.get(g).map(|c| (c, Some(g.as_str()))))
    }
}

/// The checks a deployment was planned with.
pub(super) fn planned_checks(inv: &Inventory, id: i64) -> Result<PlannedChecks> {
    let json: Option<String> = inv
        .conn()
        .query_row(
            "SELECT health_checks FROM deployments WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok(
        match json.and_then(|j| serde_json::from_str::<StoredChecks>(&j).ok()) {
            Some(StoredChecks::Planned(p)) => p,
            Some(StoredChecks::ScopeOnly(c)) => PlannedChecks {
                scope: Some(c),
                groups: BTreeMap::new(),
            },
            None => PlannedChecks::default(),
        },
    )
}

/// The checks a deployment uses on one host.
pub(super) fn host_checks(
    inv: &Inventory,
    id: i64,
    host: &HostRecord,
) -> Result<Option<HealthChecks>> {
    Ok(planned_checks(inv, id)?
        .for_host(&host.spec.groups)
        .map(|(c, _)| c.clone()))
}

/// Measure a host's baseline before its stage changes it (once: a resumed stage keeps the first).
pub(super) async fn take_baseline(
    db: &Db<'_>,
    id: i64,
    idx: i64,
    host: &HostRecord,
    ssh: &SshOptions,
) -> Result<()> {
    let Some(c) = db.with(|inv| host_checks(inv, id, host))? else {
        return Ok(());
    };
    if db
        .with(|inv| load(inv, id, idx, host, MeasurePhase::Baseline))?
        .is_some()
    {
        return Ok(());
    }
    let m = measure(&c, host, None, ssh).await;
    db.with(|inv| store(inv, id, idx, host, MeasurePhase::Baseline, &m))
}

/// Measure a host after its stage, judge it against its baseline and store the checklist.
pub(super) async fn check_after(
    db: &Db<'_>,
    id: i64,
    idx: i64,
    host: &HostRecord,
    ssh: &SshOptions,
) -> Result<Vec<CheckResult>> {
    let Some(c) = db.with(|inv| host_checks(inv, id, host))? else {
        return Ok(Vec::new());
    };
    let baseline = db.with(|inv| load(inv, id, idx, host, MeasurePhase::Baseline))?;
    let m = measure(&c, host, baseline.as_ref(), ssh).await;
    db.with(|inv| store(inv, id, idx, host, MeasurePhase::After, &m))?;
    Ok(judge(&c, host, baseline.as_ref(), &m))
}

/// Store a host's checklist at its gate (every check, the built-in ones included).
pub(super) fn store_checklist(
    inv: &Inventory,
    id: i64,
    host: &HostRecord,
    list: &[CheckResult],
) -> Result<()> {
    inv.conn().execute(
        "UPDATE deployment_hosts SET checks = ?3 WHERE deployment_id = ?1 AND host_id = ?2",
        params![id, host.id, serde_json::to_string(list).unwrap_or_default()],
    )?;
    Ok(())
}

// --- judging ------------------------------------------------------------------------------------

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

fn http_text(s: &HttpSample) -> String {
    if let Some(e) = &s.error {
        if s.statuses.is_empty() {
            return format!("no answer ({e})");
        }
    }
    let mut codes: Vec<String> = Vec::new();
    let mut uniq = s.statuses.clone();
    uniq.sort_unstable();
    uniq.dedup();
    for u in uniq {
        let n = s.statuses.iter().filter(|x| **x == u).count();
        codes.push(format!("{u}×{n}"));
    }
    format!(
        "HTTP {}, p50 {} ms",
        codes.join(" "),
        s.p50_ms
            .map(|p| p.to_string())
            .unwrap_or_else(|| "?".into())
    )
}

fn per_min(s: &LogSample) -> f64 {
    if s.secs == 0 {
        s.lines as f64 * 60.0
    } else {
        s.lines as f64 * 60.0 / s.secs as f64
    }
}

fn log_text(s: &LogSample) -> String {
    format!(
        "{} lines in {} s ({}/min){}",
        s.lines,
        s.secs,
        fmt_num((per_min(s) * 10.0).round() / 10.0),
        if s.rotated { ", file rotated" } else { "" }
    )
}

fn short_alert(key: &str) -> &str {
    key.split('{').next().unwrap_or(key)
}

/// Judge every configured check of a host: the after measurement against its baseline.
pub fn judge(
    c: &HealthChecks,
    host: &HostRecord,
    baseline: Option<&Measurement>,
    after: &Measurement,
) -> Vec<CheckResult> {
    use CheckKind as K;
    use CheckStatus as S;
    let mut out = Vec::new();
    let instance = c.instance.as_deref();
    let b = baseline.cloned().unwrap_or_default();
    if let Some(h) = &c.http {
        let label = format!("HTTP {}", render(&h.url, host, instance));
        let r = match (&b.http, &after.http) {
            (_, None) => CheckResult::new(K::Http, S::Inconclusive, label).why("not measured"),
            (bs, Some(a)) => {
                let bt = bs.as_ref().map(http_text);
                let at = Some(http_text(a));
                let base = CheckResult::new(K::Http, S::Passed, label).values(bt, at);
                let class = h.expect_status / 100;
                let bad: Vec<u16> = a
                    .statuses
                    .iter()
                    .copied()
                    .filter(|s| s / 100 != class)
                    .collect();
                let base_failed = bs.as_ref().is_some_and(|s| {
                    s.statuses.is_empty() || s.statuses.iter().any(|x| x / 100 != class)
                });
                if a.statuses.is_empty() || !bad.is_empty() {
                    let why = if a.statuses.is_empty() {
                        format!("no answer: {}", a.error.clone().unwrap_or_default())
                    } else {
                        format!("HTTP {} (expected {class}xx)", bad[0])
                    };
                    if base_failed {
                        CheckResult {
                            status: S::Inconclusive,
                            ..base
                        }
                        .why(format!(
                            "{why}, as at the baseline already: fix the service or the check"
                        ))
                    } else {
                        CheckResult {
                            status: S::Failed,
                            ..base
                        }
                        .why(why)
                    }
                } else if a.body_ok == Some(false) {
                    CheckResult {
                        status: S::Failed,
                        ..base
                    }
                    .why(format!(
                        "the body does not contain {:?}",
                        h.body.clone().unwrap_or_default()
                    ))
                } else {
                    match (bs.as_ref().and_then(|s| s.p50_ms), a.p50_ms) {
                        (Some(bp), Some(ap))
                            if ap as f64 > bp as f64 * h.latency_factor
                                && ap > bp + u64::from(h.latency_slack_ms) =>
                        {
                            CheckResult {
                                status: S::Failed,
                                ..base
                            }
                            .why(format!(
                                "p50 latency {bp} → {ap} ms: more than {}× the baseline",
                                fmt_num(h.latency_factor)
                            ))
                        }
                        (None, _) => CheckResult {
                            status: S::Inconclusive,
                            ..base
                        }
                        .why("no baseline latency to compare with"),
                        _ => base,
                    }
                }
            }
        };
        out.push(r);
    }
    if let Some(l) = &c.log {
        let label = format!(
            "error lines /{}/ in {}",
            l.pattern,
            l.path.as_deref().unwrap_or("the journal")
        );
        let r = match (&b.log, &after.log) {
            (_, None) => CheckResult::new(K::ErrorRate, S::Inconclusive, label).why("not measured"),
            (None, Some(a)) => CheckResult::new(K::ErrorRate, S::Inconclusive, label)
                .values(None, Some(log_text(a)))
                .why("no baseline was measured before the stage"),
            (Some(bs), Some(a)) => {
                let base = CheckResult::new(K::ErrorRate, S::Passed, label).values(
                    bs.error.is_none().then(|| log_text(bs)),
                    a.error.is_none().then(|| log_text(a)),
                );
                if let Some(e) = bs.error.as_ref().or(a.error.as_ref()) {
                    CheckResult {
                        status: S::Inconclusive,
                        ..base
                    }
                    .why(e.clone())
                } else {
                    let (rb, ra) = (per_min(bs), per_min(a));
                    if ra - rb > l.max_increase_per_min {
                        CheckResult {
                            status: S::Failed,
                            ..base
                        }
                        .why(format!(
                            "the error rate rose from {}/min to {}/min (allowed: +{}/min)",
                            fmt_num((rb * 10.0).round() / 10.0),
                            fmt_num((ra * 10.0).round() / 10.0),
                            fmt_num(l.max_increase_per_min)
                        ))
                    } else {
                        base
                    }
                }
            }
        };
        out.push(r);
    }
    if let Some(_svc) = &c.service {
        let txt = |s: &ServiceSample| match s.up {
            Some(true) => format!("{}: up", s.how),
            Some(false) => format!("{}: down", s.how),
            None => "not measurable".to_string(),
        };
        let r = match &after.service {
            None => CheckResult::new(K::Service, S::Inconclusive, "service").why("not measured"),
            Some(a) => {
                let base = CheckResult::new(K::Service, S::Passed, "service up")
                    .values(b.service.as_ref().map(txt), Some(txt(a)));
                match a.up {
                    Some(true) => base,
                    Some(false) => CheckResult {
                        status: S::Failed,
                        ..base
                    }
                    .why(format!("{} is down", a.how)),
                    None => CheckResult {
                        status: S::Inconclusive,
                        ..base
                    }
                    .why(a.error.clone().unwrap_or_else(|| "not measurable".into())),
                }
            }
        };
        out.push(r);
    }
    if let Some(p) = &c.prometheus {
        let label = format!("Prometheus {}", render(&p.query, host, instance));
        let txt = |s: &PromSample| match (&s.error, s.value) {
            (Some(e), _) => format!("error: {e}"),
            (None, Some(v)) => fmt_num(v),
            (None, None) => "no data".to_string(),
        };
        let r = match &after.prometheus {
            None => CheckResult::new(K::Prometheus, S::Inconclusive, label).why("not measured"),
            Some(a) => {
                let base = CheckResult::new(K::Prometheus, S::Passed, label)
                    .values(b.prometheus.as_ref().map(txt), Some(txt(a)));
                let bv = b.prometheus.as_ref().and_then(|s| s.value);
                match (a.error.as_ref(), a.value) {
                    (Some(e), _) => CheckResult {
                        status: S::Inconclusive,
                        ..base
                    }
                    .why(e.clone()),
                    (None, None) => CheckResult {
                        status: S::Inconclusive,
                        ..base
                    }
                    .why("the query returned no data for this host"),
                    (None, Some(av)) => {
                        if let Some(max) = p.max.filter(|m| av > *m) {
                            CheckResult {
                                status: S::Failed,
                                ..base
                            }
                            .why(format!(
                                "{} > {} (the allowed maximum)",
                                fmt_num(av),
                                fmt_num(max)
                            ))
                        } else if let Some(inc) = p.max_increase {
                            match bv {
                                Some(bv) if av - bv > inc => CheckResult { status: S::Failed, ..base }.why(format!(
                                    "rose from {} to {} (allowed: +{})",
                                    fmt_num(bv),
                                    fmt_num(av),
                                    fmt_num(inc)
                                )),
                                Some(_) => base,
                                None => CheckResult { status: S::Inconclusive, ..base }.why(
                                    "no baseline value to compare with (no data or an error before the stage)",
                                ),
                            }
                        } else {
                            base
                        }
                    }
                }
            }
        };
        out.push(r);
    }
    if let Some(al) = &c.alerts {
        let label = format!("alerts {}={}", al.label, render(&al.value, host, instance));
        let names = |v: &[String]| -> String {
            if v.is_empty() {
                "none".into()
            } else {
                v.iter()
                    .map(|k| short_alert(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let r = match (&b.alerts, &after.alerts) {
            (_, None) => CheckResult::new(K::Alerts, S::Inconclusive, label).why("not measured"),
            (bs, Some(a)) => {
                let bt = bs.as_ref().map(|s| match &s.error {
                    Some(e) => format!("error: {e}"),
                    None => format!("firing: {}", names(&s.firing)),
                });
                let new: Vec<String> = a
                    .firing
                    .iter()
                    .filter(|k| !bs.as_ref().is_some_and(|s| s.firing.contains(k)))
                    .cloned()
                    .collect();
                let old: Vec<String> = a
                    .firing
                    .iter()
                    .filter(|k| !new.contains(k))
                    .cloned()
                    .collect();
                let at = match &a.error {
                    Some(e) => format!("error: {e}"),
                    None => format!("new: {}", names(&new)),
                };
                let mut notes = Vec::new();
                if !old.is_empty() {
                    notes.push(format!(
                        "firing before the stage (not counted): {}",
                        names(&old)
                    ));
                }
                if !a.silenced.is_empty() {
                    notes.push(format!("silenced (not counted): {}", names(&a.silenced)));
                }
                let base = CheckResult::new(K::Alerts, S::Passed, label).values(bt, Some(at));
                let r = if let Some(e) = a
                    .error
                    .as_ref()
                    .or(bs.as_ref().and_then(|s| s.error.as_ref()))
                {
                    CheckResult {
                        status: S::Inconclusive,
                        ..base
                    }
                    .why(e.clone())
                } else if bs.is_none() {
                    CheckResult {
                        status: S::Inconclusive,
                        ..base
                    }
                    .why("no baseline was taken before the stage")
                } else if !new.is_empty() {
                    notes.insert(0, format!("new alerts firing: {}", names(&new)));
                    CheckResult {
                        status: S::Failed,
                        ..base
                    }
                    .why(notes.join("; "))
                } else if !notes.is_empty() {
                    base.why(notes.join("; "))
                } else {
                    base
                };
                r
            }
        };
        out.push(r);
    }
    out
}

/// The checks every gate makes anyway, as checklist lines: reachable, the versions of the
/// transaction, smoke tests, failed units and journal errors where systemd runs, reboot state.
pub(super) fn builtin(
    baseline: &Health,
    after: &Health,
    versions: &[String],
    version_problems: &[String],
) -> Vec<CheckResult> {
    use CheckKind as K;
    use CheckStatus as S;
    let mut out = Vec::new();
    out.push(if after.reachable {
        CheckResult::new(K::Reachable, S::Passed, "reachable")
            .values(Some(yes_no(baseline.reachable)), Some("yes".into()))
    } else {
        CheckResult::new(K::Reachable, S::Failed, "reachable")
            .values(Some(yes_no(baseline.reachable)), Some("no".into()))
            .why(format!(
                "not back: {}",
                after.error.clone().unwrap_or_default()
            ))
    });
    let v = CheckResult::new(K::Version, S::Passed, "versions as planned")
        .values(None, Some(crate::text::clip(&versions.join(", "), 300)));
    out.push(if version_problems.is_empty() {
        v
    } else {
        CheckResult {
            status: S::Failed,
            ..v
        }
        .why(version_problems.join("; "))
    });
    if after.smoke.is_empty() {
        out.push(CheckResult::new(K::Smoke, S::NotConfigured, "smoke tests"));
    }
    for (cmd, status) in &after.smoke {
        let before = baseline
            .smoke
            .iter()
            .find(|(c, _)| c == cmd)
            .map(|(_, s)| format!("exit {s}"));
        let r = CheckResult::new(
            K::Smoke,
            S::Passed,
            format!("smoke `{}`", crate::text::clip(cmd, 80)),
        )
        .values(before, Some(format!("exit {status}")));
        out.push(if *status == 0 {
            r
        } else {
            CheckResult {
                status: S::Failed,
                ..r
            }
            .why(format!("exit {status}"))
        });
    }
    let counted = |kind: K, label: &str, b: Option<u32>, a: Option<u32>| match a {
        None => CheckResult::new(kind, S::NotConfigured, label)
            .why("not available on this host (no systemd)"),
        Some(a) => {
            let r = CheckResult::new(kind, S::Passed, label)
                .values(b.map(|x| x.to_string()), Some(a.to_string()));
            match b {
                Some(b) if a > b => CheckResult {
                    status: S::Failed,
                    ..r
                }
                .why(format!("{b} → {a}")),
                _ => r,
            }
        }
    };
    out.push(counted(
        K::FailedUnits,
        "failed systemd units",
        baseline.failed_units,
        after.failed_units,
    ));
    out.push(counted(
        K::Journal,
        "journal errors since boot",
        baseline.journal_errors,
        after.journal_errors,
    ));
    out.push(if after.reboot_required {
        CheckResult::new(K::Reboot, S::NotConfigured, "reboot")
            .values(Some(needs(baseline.reboot_required)), Some(needs(true)))
            .why("the host needs a reboot to run the update")
    } else {
        CheckResult::new(K::Reboot, S::Passed, "reboot")
            .values(Some(needs(baseline.reboot_required)), Some(needs(false)))
    });
    out
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn needs(b: bool) -> String {
    if b { "needed" } else { "not needed" }.into()
}

/// The checks a plan's stages will use, in words, and whether they rest on reachability only.
pub fn describe(c: Option<&HealthChecks>, smoke: &[String]) -> (Vec<String>, bool) {
    let mut v = vec!["reachable".to_string(), "versions as planned".to_string()];
    if !smoke.is_empty() {
        v.push(format!("{} smoke test(s)", smoke.len()));
    }
    let extra = c.map(|c| c.configured()).unwrap_or_default();
    let only_reach = smoke.is_empty() && extra.is_empty();
    v.extend(extra.into_iter().map(str::to_string));
    (v, only_reach)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostRecord {
        let (inv, _) = crate::inventory::test_util::inv();
        inv.conn()
            .execute_batch(
                "INSERT INTO hosts (name, address, port, user, auth_kind, environment, created_at, updated_at)
                 VALUES ('web-1', '10.0.0.5', 22, 'root', 'agent', 'prod', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');",
            )
            .unwrap();
        inv.host("web-1").unwrap()
    }

    fn cfg() -> HealthChecks {
        HealthChecks {
            http: Some(HttpCheck {
                url: "http://{address}:8080/".into(),
                expect_status: 200,
                body: None,
                latency_factor: 2.0,
                latency_slack_ms: 50,
                requests: 5,
                ca_file: None,
            }),
            log: Some(LogCheck {
                path: Some("/var/log/app.log".into()),
                pattern: "ERROR".into(),
                window_secs: 10,
                max_increase_per_min: 1.0,
            }),
            service: Some(ServiceCheck {
                unit: Some("app.service".into()),
                process: Some("app".into()),
                port: Some(8080),
            }),
            prometheus: Some(PromCheck {
                url: "http://127.0.0.1:9090".into(),
                query: "sum(rate(x{instance=\"{instance}\",code=~\"5..\"}[1m]))".into(),
                max: Some(0.5),
                max_increase: None,
            }),
            alerts: Some(AlertCheck {
                url: "http://127.0.0.1:9093".into(),
                label: "instance".into(),
                value: "{instance}".into(),
            }),
            instance: Some("{address}:8080".into()),
            reboot: RebootPolicy::Never,
            settle_secs: 0,
            reboot_timeout_secs: 600,
        }
    }

    fn healthy() -> Measurement {
        Measurement {
            http: Some(HttpSample {
                statuses: vec![200; 5],
                p50_ms: Some(3),
                body_ok: None,
                error: None,
            }),
            log: Some(LogSample {
                lines: 0,
                secs: 10,
                offset: 100,
                host_time: 1000,
                rotated: false,
                error: None,
            }),
            service: Some(ServiceSample {
                up: Some(true),
                how: "process app".into(),
                error: None,
            }),
            prometheus: Some(PromSample {
                value: Some(0.0),
                series: 1,
                error: None,
            }),
            alerts: Some(AlertSample {
                firing: vec!["Old{instance=\"10.0.0.5:8080\"}".into()],
                silenced: vec![],
                error: None,
            }),
        }
    }

    #[test]
    fn a_healthy_host_passes_every_check_and_an_old_alert_is_not_counted() {
        let r = judge(&cfg(), &host(), Some(&healthy()), &healthy());
        assert_eq!(r.len(), 5);
        assert!(r.iter().all(|c| c.status == CheckStatus::Passed), "{r:#?}");
        assert_eq!(r[0].label, "HTTP http://10.0.0.5:8080/");
        assert_eq!(r[0].value.as_deref(), Some("HTTP 200×5, p50 3 ms"));
        assert_eq!(
            r[3].label,
            "Prometheus sum(rate(x{instance=\"10.0.0.5:8080\",code=~\"5..\"}[1m]))"
        );
        assert!(
            r[4].detail
                .as_deref()
                .unwrap()
                .contains("firing before the stage (not counted): Old"),
            "{:?}",
            r[4]
        );
    }

    #[test]
    fn failures_say_what_was_measured() {
        let mut a = healthy();
        a.http = Some(HttpSample {
            statuses: vec![500; 5],
            p50_ms: Some(2),
            body_ok: None,
            error: None,
        });
        a.log = Some(LogSample {
            lines: 60,
            secs: 6,
            offset: 900,
            host_time: 1010,
            rotated: false,
            error: None,
        });
        a.service = Some(ServiceSample {
            up: Some(false),
            how: "process app".into(),
            error: None,
        });
        a.prometheus = Some(PromSample {
            value: Some(20.0),
            series: 1,
            error: None,
        });
        a.alerts = Some(AlertSample {
            firing: vec![
                "Old{instance=\"10.0.0.5:8080\"}".into(),
                "New5xx{instance=\"10.0.0.5:8080\"}".into(),
            ],
            silenced: vec!["Quiet{instance=\"10.0.0.5:8080\"}".into()],
            error: None,
        });
        let r = judge(&cfg(), &host(), Some(&healthy()), &a);
        assert!(r.iter().all(|c| c.status == CheckStatus::Failed), "{r:#?}");
        assert_eq!(r[0].detail.as_deref(), Some("HTTP 500 (expected 2xx)"));
        assert_eq!(r[0].baseline.as_deref(), Some("HTTP 200×5, p50 3 ms"));
        assert_eq!(
            r[1].detail.as_deref(),
            Some("the error rate rose from 0/min to 600/min (allowed: +1/min)")
        );
        assert_eq!(
            r[3].detail.as_deref(),
            Some("20 > 0.5 (the allowed maximum)")
        );
        let d = r[4].detail.as_deref().unwrap();
        assert!(d.starts_with("new alerts firing: New5xx; firing before the stage (not counted): Old; silenced (not counted): Quiet"), "{d}");
    }

    #[test]
    fn no_data_and_errors_are_inconclusive_never_a_pass() {
        let mut a = healthy();
        a.prometheus = Some(PromSample {
            value: None,
            series: 0,
            error: Some(
                "Prometheus at http://127.0.0.1:9090 cannot be queried: connection refused".into(),
            ),
        });
        a.alerts = Some(AlertSample {
            error: Some("Alertmanager answered HTTP 503".into()),
            ..Default::default()
        });
        let r = judge(&cfg(), &host(), Some(&healthy()), &a);
        assert_eq!(r[3].status, CheckStatus::Inconclusive);
        assert!(r[3]
            .detail
            .as_deref()
            .unwrap()
            .contains("connection refused"));
        assert_eq!(r[4].status, CheckStatus::Inconclusive);
        a.prometheus = Some(PromSample::default());
        let r = judge(&cfg(), &host(), Some(&healthy()), &a);
        assert_eq!(
            r[3].detail.as_deref(),
            Some("the query returned no data for this host")
        );
        // No baseline at all: nothing compared is a pass.
        let r = judge(&cfg(), &host(), None, &healthy());
        let st: Vec<CheckStatus> = r.iter().map(|c| c.status).collect();
        use CheckStatus::*;
        assert_eq!(
            st,
            [Inconclusive, Inconclusive, Passed, Passed, Inconclusive]
        );
    }

    #[test]
    fn latency_beyond_the_factor_and_the_slack_fails() {
        let mut a = healthy();
        a.http.as_mut().unwrap().p50_ms = Some(9); // 3× but within the 50 ms slack
        assert_eq!(
            judge(&cfg(), &host(), Some(&healthy()), &a)[0].status,
            CheckStatus::Passed
        );
        a.http.as_mut().unwrap().p50_ms = Some(303);
        let r = &judge(&cfg(), &host(), Some(&healthy()), &a)[0];
        assert_eq!(r.status, CheckStatus::Failed);
        assert_eq!(
            r.detail.as_deref(),
            Some("p50 latency 3 → 303 ms: more than 2× the baseline")
        );
    }

    #[test]
    fn prometheus_and_alertmanager_answers_are_read_as_hostile() {
        let ok = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.5,"6.85"]},{"metric":{"a":"b"},"value":[1.5,"1"]}]}}"#;
        assert_eq!(parse_prom(ok).unwrap(), (Some(7.85), 2));
        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(parse_prom(empty).unwrap(), (None, 0));
        let nan = br#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"NaN"]}]}}"#;
        assert_eq!(parse_prom(nan).unwrap(), (None, 0));
        let err = br#"{"status":"error","errorType":"bad_data","error":"parse error\u001b[31m"}"#;
        assert_eq!(parse_prom(err).unwrap_err(), "query error: parse error[31m");
        assert!(parse_prom(b"\xff\x00garbage").is_err());
        assert!(
            parse_prom(br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#)
                .is_err()
        );
        let alerts = br#"[{"labels":{"alertname":"A","instance":"i1","severity":"critical"},"status":{"state":"active"}},
                          {"labels":{"alertname":"B","instance":"i1"},"status":{"state":"suppressed","silencedBy":["x"]}},
                          {"labels":{"alertname":"C","instance":"i2"},"status":{"state":"active"}},
                          {"labels":"nonsense"}, 5]"#;
        let (f, s) = parse_alerts(alerts, "instance", "i1").unwrap();
        assert_eq!(f, ["A{instance=\"i1\",severity=\"critical\"}"]);
        assert_eq!(s, ["B{instance=\"i1\"}"]);
        assert!(parse_alerts(b"{}", "instance", "i1").is_err());
    }

    #[test]
    fn the_host_answer_is_parsed_bounded() {
        let (log, svc) = parse_host(
            "log 12 10 4096 1700000000 0\nservice na unit\nservice up process\nservice x\n",
        );
        let log = log.unwrap();
        assert_eq!(
            (log.lines, log.secs, log.offset, log.host_time),
            (12, 10, 4096, 1_700_000_000)
        );
        assert_eq!(
            svc,
            [
                ("unit".to_string(), None),
                ("process".to_string(), Some(true))
            ]
        );
        let (log, _) = parse_host("log 12 x 4096 1 0\n");
        assert!(log.unwrap().error.is_some());
        let (log, _) = parse_host("log-error the log file cannot be read\u{1b}[2J");
        assert_eq!(
            log.unwrap().error.as_deref(),
            Some("the log file cannot be read[2J")
        );
        assert_eq!(parse_host(&"x\n".repeat(1_000_000)).1.len(), 0);
    }

    #[test]
    fn the_host_script_quotes_every_configured_value() {
        let mut c = cfg();
        c.log.as_mut().unwrap().pattern = "ERROR'; rm -rf / #".into();
        let s = host_script(&c, None);
        assert!(s.contains(&shell_quote("ERROR'; rm -rf / #")), "{s}");
        assert!(s.contains("sleep 10"));
        let prev = LogSample {
            offset: 77,
            host_time: 5,
            ..Default::default()
        };
        let s = host_script(&c, Some(&prev));
        assert!(
            s.contains("a=77;") && s.contains("$((t1-5))") && !s.contains("sleep"),
            "{s}"
        );
    }

    #[test]
    fn configurations_are_validated() {
        assert!(validate(&cfg()).is_ok());
        let mut c = cfg();
        c.instance = None;
        assert!(validate(&c)
            .unwrap_err()
            .to_string()
            .contains("{instance} is used"));
        let mut c = cfg();
        c.log.as_mut().unwrap().path = Some("relative/path".into());
        assert!(validate(&c).is_err());
        let mut c = cfg();
        c.http.as_mut().unwrap().url = "ftp://x".into();
        assert!(validate(&c).is_err());
        let mut c = cfg();
        c.service = Some(ServiceCheck::default());
        assert!(validate(&c).is_err());
        let mut c = cfg();
        c.prometheus.as_mut().unwrap().max = None;
        assert!(validate(&c).is_err());
        let mut c = cfg();
        c.service.as_mut().unwrap().process = Some("a-very-long-process-name".into());
        assert!(validate(&c).is_err());
    }

    #[test]
    fn a_deployment_uses_its_scopes_checks_else_each_hosts_group_and_reads_the_old_form() {
        let (inv, _) = crate::inventory::test_util::inv();
        let web = cfg();
        let canary = HealthChecks {
            reboot: RebootPolicy::AskAtGate,
            ..HealthChecks::default()
        };
        set_health_checks(&inv, "web", Some(&web), "test").unwrap();
        set_health_checks(&inv, "canary", Some(&canary), "test").unwrap();
        let groups: Vec<String> = ["web", "canary", "office"].map(String::from).to_vec();
        // A scope with no checks of its own: each host's group decides, the first by name.
        let p = PlannedChecks::gather(&inv, "office", &groups).unwrap();
        assert_eq!(p.scope, None);
        let of = |g: &[&str]| {
            let g: Vec<String> = g.iter().map(|s| s.to_string()).collect();
            p.for_host(&g)
                .map(|(c, from)| (c.clone(), from.map(str::to_string)))
        };
        assert_eq!(of(&["web"]), Some((web.clone(), Some("web".into()))));
        assert_eq!(
            of(&["web", "canary"]),
            Some((canary.clone(), Some("canary".into())))
        );
        assert_eq!(of(&["office"]), None);
        // A scope with checks: they apply to every host.
        let p = PlannedChecks::gather(&inv, "web", &groups).unwrap();
        assert_eq!(p.for_host(&["canary".into()]), Some((&web, None)));
        // Stored and read back; a deployment stored before (the scope's checks alone) reads as
        // its scope's.
        inv.conn()
            .execute_batch(
                "INSERT INTO deployments (id, name, scope, created_at, updated_at, state, current_stage, mode, canary_soak_secs, smoke_commands, warnings, overrides)
                 VALUES (1, 'a', 'office', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'planned', 0, 'manual', 0, '[]', '[]', '{}'),
                        (2, 'b', 'web', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'planned', 0, 'manual', 0, '[]', '[]', '{}');",
            )
            .unwrap();
        let planned = PlannedChecks::gather(&inv, "office", &groups).unwrap();
        inv.conn()
            .execute(
                "UPDATE deployments SET health_checks = ?1 WHERE id = 1",
                [serde_json::to_string(&planned).unwrap()],
            )
            .unwrap();
        inv.conn()
            .execute(
                "UPDATE deployments SET health_checks = ?1 WHERE id = 2",
                [serde_json::to_string(&web).unwrap()],
            )
            .unwrap();
        assert_eq!(planned_checks(&inv, 1).unwrap(), planned);
        assert_eq!(
            planned_checks(&inv, 2).unwrap(),
            PlannedChecks {
                scope: Some(web),
                groups: BTreeMap::new()
            }
        );
    }

    /// A real TLS server (python3's, on loopback) with a certificate from a CA made here by
    /// openssl: the probe verifies chain and name, against the public roots or the given CA.
    #[test]
    fn https_probes_verify_the_certificate_against_the_public_roots_or_the_given_ca() {
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let sh = |script: &str| {
            let out = Command::new("sh")
                .arg("-c")
                .arg(script)
                .current_dir(d)
                .output()
                .expect("sh runs");
            assert!(
                out.status.success(),
                "{script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        for ca in ["ca", "other-ca"] {
            sh(&format!("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN={ca} -keyout {ca}.key -out {ca}.pem 2>/dev/null"));
        }
        sh("openssl req -newkey rsa:2048 -nodes -subj /CN=web -keyout web.key -out web.csr 2>/dev/null \
            && printf 'subjectAltName=IP:127.0.0.1\n' >san.ext \
            && openssl x509 -req -in web.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out web.pem 2>/dev/null");
        std::fs::write(d.join("empty.pem"), "not a certificate\n").unwrap();
        let server = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain("web.pem", "web.key")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
        let mut child = Command::new("python3")
            .args(["-c", server])
            .current_dir(d)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        struct Kill(std::process::Child);
        impl Drop for Kill {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let _server = Kill(child);
        let port: u16 = line.trim().parse().unwrap();
        let check = |ca: Option<&str>| HttpCheck {
            url: String::new(),
            expect_status: 200,
            body: Some("ok".into()),
            latency_factor: 2.0,
            latency_slack_ms: 50,
            requests: 2,
            ca_file: ca.map(|f| d.join(f).display().to_string()),
        };
        let ip = format!("https://127.0.0.1:{port}/");
        let by_name = format!("https://localhost:{port}/");
        // The public roots do not know the office CA: no answer, and the error says why.
        let s = probe_http(&ip, &check(None));
        assert!(s.statuses.is_empty(), "{s:?}");
        let e = s.error.unwrap_or_default();
        assert!(
            e.to_lowercase().contains("certificate") || e.contains("UnknownIssuer"),
            "{e}"
        );
        // The office CA given: answered and verified.
        let s = probe_http(&ip, &check(Some("ca.pem")));
        assert_eq!(
            (s.statuses.as_slice(), s.body_ok, s.error.as_deref()),
            (&[200, 200][..], Some(true), None)
        );
        // Another CA, or a name the certificate does not carry: refused.
        let s = probe_http(&ip, &check(Some("other-ca.pem")));
        assert!(s.statuses.is_empty() && s.error.is_some(), "{s:?}");
        let s = probe_http(&by_name, &check(Some("ca.pem")));
        assert!(
            s.statuses.is_empty(),
            "a certificate for 127.0.0.1 only is not valid for localhost: {s:?}"
        );
        assert!(s.error.is_some());
        // A CA file with no certificate, or none at all: said so, never a pass.
        let s = probe_http(&ip, &check(Some("empty.pem")));
        assert_eq!(
            s.error
                .as_deref()
                .map(|e| e.ends_with("holds no PEM certificate")),
            Some(true),
            "{s:?}"
        );
        let s = probe_http(&ip, &check(Some("missing.pem")));
        assert!(s.error.unwrap_or_default().contains("cannot be read"));
        // A relative CA path is refused when the checks are stored.
        let mut c = cfg();
        c.http.as_mut().unwrap().ca_file = Some("ca.pem".into());
        assert!(validate(&c)
            .unwrap_err()
            .to_string()
            .contains("absolute path"));
    }
}
