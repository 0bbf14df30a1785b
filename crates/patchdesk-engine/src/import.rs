//! Host lists from `~/.ssh/config`, Ansible inventories (INI and YAML) and CSV, turned into
//! validated [`HostSpec`]s. Owns the formats; touches no database and no network.
//!
//! An import is all or nothing: the first bad entry stops it with the file, the line and what to
//! fix, and nothing is imported. Groups become scopes; membership of a group named like
//! `staging`, `dev`, `test`, `nonprod`, `non-prod` or `canary` (or a `patchdesk_environment` /
//! `env` variable) makes a host non-prod.

use crate::error::{Error, Result};
use crate::host::{Auth, Environment, HostSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What an import produced.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ImportReport {
    pub hosts: Vec<HostSpec>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    SshConfig,
    AnsibleIni,
    AnsibleYaml,
    Csv,
}

const NON_PROD_GROUPS: &[&str] = &[
    "staging",
    "stage",
    "dev",
    "development",
    "test",
    "testing",
    "qa",
    "nonprod",
    "non-prod",
    "non_prod",
    "canary",
    "preprod",
];

fn import_err(file: &str, line: usize, message: impl Into<String>) -> Error {
    Error::Import {
        file: file.to_string(),
        line,
        message: message.into(),
    }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// Guess the format from the file name, then from the content.
pub fn detect_format(path: &Path, text: &str) -> Option<Format> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".csv") {
        return Some(Format::Csv);
    }
    if name.ends_with(".yml") || name.ends_with(".yaml") {
        return Some(Format::AnsibleYaml);
    }
    if name.ends_with(".ini") || name == "hosts" || name == "inventory" {
        return Some(Format::AnsibleIni);
    }
    if name == "config" || name.contains("ssh_config") || name.ends_with(".conf") {
        return Some(Format::SshConfig);
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let lower = first.to_ascii_lowercase();
    if lower.starts_with("host ") || lower.starts_with("host\t") || lower.starts_with("match ") {
        Some(Format::SshConfig)
    } else if first.starts_with('[') {
        Some(Format::AnsibleIni)
    } else if first.starts_with("all:") || first.ends_with(':') {
        Some(Format::AnsibleYaml)
    } else if first.contains(',') {
        Some(Format::Csv)
    } else {
        None
    }
}

/// Read a file and import it (the format is detected when not given).
pub fn from_path(path: &Path, format: Option<Format>) -> Result<ImportReport> {
    use std::io::Read;
    let io = |e| Error::Io(format!("cannot read {}", path.display()), e);
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_IMPORT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_IMPORT_BYTES {
        return Err(import_err(
            &path.display().to_string(),
            0,
            format!(
                "the file is larger than {} MiB: not a host list PatchDesk reads",
                MAX_IMPORT_BYTES / (1024 * 1024)
            ),
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| import_err(&path.display().to_string(), 0, "the file is not UTF-8 text"))?;
    let name = path.display().to_string();
    let format = format
        .or_else(|| detect_format(path, &text))
        .ok_or_else(|| {
            import_err(
                &name,
                0,
                "unknown format: use --format ssh-config, ansible-ini, ansible-yaml or csv",
            )
        })?;
    match format {
        Format::SshConfig => from_ssh_config(&text, &name),
        Format::AnsibleIni => from_ansible_ini(&text, &name),
        Format::AnsibleYaml => from_ansible_yaml(&text, &name),
        Format::Csv => from_csv(&text, &name),
    }
}

fn finish(
    file: &str,
    hosts: Vec<(usize, HostSpec)>,
    warnings: Vec<String>,
) -> Result<ImportReport> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (line, h) in &hosts {
        if let Some(first) = seen.insert(h.name.clone(), *line) {
            return Err(import_err(
                file,
                *line,
                format!("host {:?} is already defined on line {first}", h.name),
            ));
        }
        h.validate().map_err(|m| import_err(file, *line, m))?;
    }
    Ok(ImportReport {
        hosts: hosts.into_iter().map(|(_, h)| h).collect(),
        warnings,
    })
}

// ---------------------------------------------------------------------------------------------
// ~/.ssh/config, through the ssh2-config crate (it applies `Host *` defaults the way OpenSSH does).

pub fn from_ssh_config(text: &str, file: &str) -> Result<ImportReport> {
    use ssh2_config::{ParseRule, SshConfig};
    let mut warnings = Vec::new();
    // ssh2-config keeps a few kilobytes per Host block and answers each query by walking every
    // block: the number of host patterns is capped before it sees the file.
    let patterns: usize = text
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let (kw, rest) = l.split_once(|c: char| c.is_whitespace() || c == '=')?;
            (kw.eq_ignore_ascii_case("host") || kw.eq_ignore_ascii_case("match"))
                .then(|| rest.split_whitespace().count().max(1))
        })
        .sum();
    if patterns > MAX_SSH_CONFIG_PATTERNS {
        return Err(import_err(
            file,
            0,
            format!(
                "more than {MAX_SSH_CONFIG_PATTERNS} Host patterns in one ssh config; split the file"
            ),
        ));
    }
    // Include lines are not followed: an import reads one file.
    let mut filtered = String::with_capacity(text.len());
    for (i, l) in text.lines().enumerate() {
        if l.trim_start().to_ascii_lowercase().starts_with("include") {
            warnings.push(format!(
                "{file}: line {}: Include is not followed; import the included file too",
                i + 1
            ));
            filtered.push('\n');
        } else {
            filtered.push_str(l);
            filtered.push('\n');
        }
    }
    let mut reader = std::io::Cursor::new(filtered.as_bytes());
    let mut cfg = SshConfig::default();
    if let Some(home) = std::env::var_os("HOME") {
        cfg = cfg.home_dir(PathBuf::from(home));
    }
    let cfg = cfg
        .parse(
            &mut reader,
            ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
        )
        .map_err(|e| import_err(file, 0, format!("cannot read this ssh config: {e}")))?;
    // Line numbers of each `Host` line, to point errors at them.
    let host_lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            l.trim_start().to_ascii_lowercase().starts_with("host ")
                || l.trim_start().to_ascii_lowercase().starts_with("host\t")
        })
        .map(|(i, _)| i + 1)
        .collect();
    let mut hosts = Vec::new();
    let mut names = BTreeSet::new();
    let mut idx = 0;
    for block in cfg.get_hosts() {
        let is_default = block.pattern.iter().all(|c| c.pattern == "*");
        if is_default {
            continue;
        }
        let line = host_lines.get(idx).copied().unwrap_or(0);
        idx += 1;
        for clause in &block.pattern {
            let p = &clause.pattern;
            if clause.negated || p.contains(['*', '?', '!']) {
                continue;
            }
            if !names.insert(p.clone()) {
                continue;
            }
            let params = cfg.query(p);
            let mut spec = HostSpec::new(
                p.clone(),
                params.host_name.clone().unwrap_or_else(|| p.clone()),
            );
            spec.port = params.port.unwrap_or(22);
            match &params.user {
                Some(u) => spec.user = u.clone(),
                None => warnings.push(format!("{p}: no User in the ssh config; assuming root")),
            }
            if let Some(key) = params.identity_file.as_ref().and_then(|v| v.first()) {
                let s = key.to_string_lossy();
                if s.contains('%') {
                    warnings.push(format!(
                        "{p}: IdentityFile {s} uses % tokens, which are not expanded"
                    ));
                }
                spec.auth = Auth::KeyFile {
                    path: expand_home(&s),
                };
            }
            spec.proxy_jump = params.proxy_jump.as_ref().map(|j| j.join(","));
            hosts.push((line, spec));
        }
    }
    finish(file, hosts, warnings)
}

// ---------------------------------------------------------------------------------------------
// Ansible inventories. INI is hand-parsed: Ansible's INI dialect (bare host lines with inline
// variables, `:children`/`:vars` sections, host ranges) is not standard INI, and no crate parses it.

#[derive(Default, Debug)]
struct AnsibleModel {
    /// host -> (first line, own vars)
    hosts: BTreeMap<String, (usize, BTreeMap<String, String>)>,
    host_order: Vec<String>,
    /// group -> direct member hosts
    members: BTreeMap<String, BTreeSet<String>>,
    /// group -> child groups
    children: BTreeMap<String, BTreeSet<String>>,
    group_vars: BTreeMap<String, BTreeMap<String, String>>,
}

impl AnsibleModel {
    /// Refuse an import that would define more than [`MAX_IMPORT_HOSTS`] hosts.
    fn check_room(&self, more: usize, file: &str, line: usize) -> Result<()> {
        if self.hosts.len() + more > MAX_IMPORT_HOSTS {
            return Err(import_err(
                file,
                line,
                format!("more than {MAX_IMPORT_HOSTS} hosts in one import; split the file"),
            ));
        }
        Ok(())
    }

    fn add_host(
        &mut self,
        name: &str,
        line: usize,
        vars: BTreeMap<String, String>,
        group: Option<&str>,
    ) {
        let entry = self.hosts.entry(name.to_string()).or_insert_with(|| {
            self.host_order.push(name.to_string());
            (line, BTreeMap::new())
        });
        entry.1.extend(vars);
        if let Some(g) = group {
            self.members
                .entry(g.to_string())
                .or_default()
                .insert(name.to_string());
        }
    }

    /// Every group a host belongs to, through children.
    fn groups_of(&self, host: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (g, m) in &self.members {
            if m.contains(host) {
                out.insert(g.clone());
            }
        }
        // Parents of member groups, to a fixed point (cycles are harmless: sets only grow).
        loop {
            let mut added = false;
            for (parent, kids) in &self.children {
                if !out.contains(parent) && kids.iter().any(|k| out.contains(k)) {
                    out.insert(parent.clone());
                    added = true;
                }
            }
            if !added {
                break;
            }
        }
        out
    }

    fn into_report(self, file: &str) -> Result<ImportReport> {
        let mut hosts = Vec::new();
        let warnings = Vec::new();
        for name in &self.host_order {
            let (line, own) = &self.hosts[name];
            let groups = self.groups_of(name);
            // Variables: `all` first, then groups (alphabetical, as Ansible merges same-depth
            // groups), then the host's own.
            let mut vars = self.group_vars.get("all").cloned().unwrap_or_default();
            for g in &groups {
                if let Some(v) = self.group_vars.get(g) {
                    vars.extend(v.clone());
                }
            }
            vars.extend(own.clone());
            let get = |k: &str| vars.get(k).map(|s| s.as_str());
            let mut spec = HostSpec::new(name.clone(), get("ansible_host").unwrap_or(name));
            if let Some(p) = get("ansible_port") {
                spec.port = p.parse().map_err(|_| {
                    import_err(
                        file,
                        *line,
                        format!("{name}: ansible_port {p:?} is not a port number"),
                    )
                })?;
            }
            if let Some(u) = get("ansible_user").or(get("ansible_ssh_user")) {
                spec.user = u.to_string();
            }
            if let Some(k) = get("ansible_ssh_private_key_file").or(get("ansible_private_key_file"))
            {
                spec.auth = Auth::KeyFile {
                    path: expand_home(k),
                };
            }
            let env_var = get("patchdesk_environment")
                .or(get("env"))
                .or(get("environment"));
            spec.environment = match env_var {
                Some(e) => e
                    .parse()
                    .map_err(|m: String| import_err(file, *line, format!("{name}: {m}")))?,
                None if groups
                    .iter()
                    .any(|g| NON_PROD_GROUPS.contains(&g.to_ascii_lowercase().as_str())) =>
                {
                    Environment::NonProd
                }
                None => Environment::Prod,
            };
            spec.groups = groups
                .into_iter()
                .filter(|g| g != "all" && g != "ungrouped")
                .collect();
            hosts.push((*line, spec));
        }
        finish(file, hosts, warnings)
    }
}

/// Split `key=value key2="quoted value"` (shell-like quoting, as Ansible does).
fn split_vars(s: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() || chars.peek() == Some(&'#') {
            break;
        }
        let mut token = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => token.push(c),
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c.is_whitespace() => break,
                None => token.push(c),
            }
            chars.next();
        }
        if quote.is_some() {
            return Err("unterminated quote".into());
        }
        match token.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            _ => return Err(format!("{token:?} is not key=value")),
        }
    }
    Ok(out)
}

/// Most names one host pattern may expand to (each range is also capped at 10,000).
pub const MAX_RANGE_HOSTS: u64 = 10_000;
/// Most hosts one import may define.
pub const MAX_IMPORT_HOSTS: usize = 100_000;
/// Most `Host` / `Match` patterns read from one ssh config.
pub const MAX_SSH_CONFIG_PATTERNS: usize = 2_000;
/// Largest host-list file read.
pub const MAX_IMPORT_BYTES: u64 = 64 * 1024 * 1024;

/// One `[a:b]` range of a host pattern, not expanded yet.
enum Range {
    Numeric { from: u64, to: u64, width: usize },
    Alpha { from: u8, to: u8 },
}

impl Range {
    fn len(&self) -> u64 {
        match self {
            Range::Numeric { from, to, .. } => to - from + 1,
            Range::Alpha { from, to } => u64::from(to - from) + 1,
        }
    }

    fn item(&self, i: u64) -> String {
        match self {
            Range::Numeric { from, width, .. } => format!("{:0width$}", from + i),
            Range::Alpha { from, .. } => char::from(from + i as u8).to_string(),
        }
    }
}

/// Expand Ansible host ranges: `web[01:03].example.com`, `db-[a:c]`. The number of names is
/// computed before anything is expanded: several ranges multiply, and the product is capped at
/// [`MAX_RANGE_HOSTS`] (`h[0:10000][0:10000][0:10000]` is 10^12 names, refused at once).
fn expand_range(pattern: &str) -> std::result::Result<Vec<String>, String> {
    // Literal pieces around the ranges: lits.len() == ranges.len() + 1.
    let mut lits: Vec<&str> = Vec::new();
    let mut ranges: Vec<Range> = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('[') {
        let close = rest[open..]
            .find(']')
            .map(|c| c + open)
            .ok_or("unclosed [ in host range")?;
        lits.push(&rest[..open]);
        let inner = &rest[open + 1..close];
        let (a, b) = inner
            .split_once(':')
            .ok_or("a host range needs [start:end]")?;
        let b = b.split(':').next().unwrap_or(b);
        let range = if let (Ok(x), Ok(y)) = (a.parse::<u64>(), b.parse::<u64>()) {
            if y < x || y - x > MAX_RANGE_HOSTS {
                return Err(format!(
                    "host range [{inner}] is empty or larger than {MAX_RANGE_HOSTS}"
                ));
            }
            let width = if a.starts_with('0') && a.len() > 1 {
                a.len().min(32)
            } else {
                0
            };
            Range::Numeric {
                from: x,
                to: y,
                width,
            }
        } else if a.len() == 1 && b.len() == 1 && a < b {
            let (x, y) = (a.as_bytes()[0], b.as_bytes()[0]);
            if !(x.is_ascii_alphabetic() && y.is_ascii_alphabetic()) {
                return Err("alphabetic ranges go from one letter to another".into());
            }
            Range::Alpha { from: x, to: y }
        } else {
            return Err(format!(
                "[{}] is not a numeric or alphabetic range",
                crate::text::clip(inner, 40)
            ));
        };
        ranges.push(range);
        rest = &rest[close + 1..];
    }
    lits.push(rest);
    let total = ranges
        .iter()
        .try_fold(1u64, |acc, r| acc.checked_mul(r.len()))
        .filter(|n| *n <= MAX_RANGE_HOSTS)
        .ok_or_else(|| {
            format!(
                "this host pattern expands to more than {MAX_RANGE_HOSTS} names; split it into smaller ranges"
            )
        })?;
    let mut out = Vec::with_capacity(total as usize);
    for mut n in 0..total {
        // Mixed radix: the last range varies fastest, as Ansible lists them.
        let mut idx = vec![0u64; ranges.len()];
        for (i, r) in ranges.iter().enumerate().rev() {
            idx[i] = n % r.len();
            n /= r.len();
        }
        let mut name = String::from(lits[0]);
        for (i, r) in ranges.iter().enumerate() {
            name.push_str(&r.item(idx[i]));
            name.push_str(lits[i + 1]);
        }
        out.push(name);
    }
    Ok(out)
}

pub fn from_ansible_ini(text: &str, file: &str) -> Result<ImportReport> {
    enum Section {
        Hosts(String),
        Children(String),
        Vars(String),
    }
    let mut m = AnsibleModel::default();
    let mut section = Section::Hosts("ungrouped".into());
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some(rest) = l.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| import_err(file, line, "a section header must end with ]"))?;
            section = match name.split_once(':') {
                Some((g, "children")) => Section::Children(g.to_string()),
                Some((g, "vars")) => Section::Vars(g.to_string()),
                Some((_, other)) => {
                    return Err(import_err(
                        file,
                        line,
                        format!("unknown section type :{other}"),
                    ))
                }
                None => Section::Hosts(name.to_string()),
            };
            let (Section::Hosts(g) | Section::Children(g) | Section::Vars(g)) = &section;
            crate::host::validate_label(g).map_err(|e| import_err(file, line, e))?;
            m.members.entry(g.clone()).or_default();
            continue;
        }
        match &section {
            Section::Hosts(g) => {
                let (name, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
                let vars = split_vars(rest).map_err(|e| import_err(file, line, e))?;
                let names = expand_range(name).map_err(|e| import_err(file, line, e))?;
                m.check_room(names.len(), file, line)?;
                for host in names {
                    m.add_host(&host, line, vars.iter().cloned().collect(), Some(g));
                }
            }
            Section::Children(g) => {
                m.children
                    .entry(g.clone())
                    .or_default()
                    .insert(l.to_string());
            }
            Section::Vars(g) => {
                let (k, v) = l
                    .split_once('=')
                    .ok_or_else(|| import_err(file, line, format!("{l:?} is not key=value")))?;
                let v = v.trim().trim_matches(['"', '\'']).to_string();
                m.group_vars
                    .entry(g.clone())
                    .or_default()
                    .insert(k.trim().to_string(), v);
            }
        }
    }
    m.into_report(file)
}

pub fn from_ansible_yaml(text: &str, file: &str) -> Result<ImportReport> {
    use serde_norway::Value;
    let doc: Value = serde_norway::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(0);
        import_err(file, line, format!("not valid YAML: {e}"))
    })?;
    let Value::Mapping(top) = doc else {
        return Err(import_err(
            file,
            1,
            "an Ansible YAML inventory is a mapping of groups (all: ...)",
        ));
    };
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    fn vars_of(v: Option<&Value>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(Value::Mapping(m)) = v {
            for (k, v) in m {
                if let (Some(k), Some(v)) = (scalar(k), scalar(v)) {
                    out.insert(k, v);
                }
            }
        }
        out
    }
    fn walk(
        m: &mut AnsibleModel,
        file: &str,
        group: &str,
        body: &Value,
        depth: usize,
    ) -> Result<()> {
        if depth > 32 {
            return Err(import_err(file, 0, "groups nested deeper than 32 levels"));
        }
        crate::host::validate_label(group).map_err(|e| import_err(file, 0, e))?;
        m.members.entry(group.to_string()).or_default();
        let Value::Mapping(b) = body else {
            return Ok(()); // `group:` with nothing under it
        };
        if let Some(Value::Mapping(hosts)) = b.get("hosts") {
            for (h, hv) in hosts {
                let name = scalar(h).ok_or_else(|| {
                    import_err(file, 0, format!("group {group}: a host name must be text"))
                })?;
                let names = expand_range(&name).map_err(|e| import_err(file, 0, e))?;
                m.check_room(names.len(), file, 0)?;
                for host in names {
                    m.add_host(&host, 0, vars_of(Some(hv)), Some(group));
                }
            }
        }
        let vars = vars_of(b.get("vars"));
        if !vars.is_empty() {
            m.group_vars
                .entry(group.to_string())
                .or_default()
                .extend(vars);
        }
        if let Some(Value::Mapping(children)) = b.get("children") {
            for (c, cv) in children {
                let child =
                    scalar(c).ok_or_else(|| import_err(file, 0, "a group name must be text"))?;
                m.children
                    .entry(group.to_string())
                    .or_default()
                    .insert(child.clone());
                walk(m, file, &child, cv, depth + 1)?;
            }
        }
        Ok(())
    }
    let mut m = AnsibleModel::default();
    for (g, body) in &top {
        let g = scalar(g).ok_or_else(|| import_err(file, 0, "a group name must be text"))?;
        walk(&mut m, file, &g, body, 0)?;
    }
    m.into_report(file)
}

// ---------------------------------------------------------------------------------------------
// CSV (the `csv` crate): header row; name and address required.

pub fn from_csv(text: &str, file: &str) -> Result<ImportReport> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| import_err(file, 1, format!("cannot read the header row: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let name_c = col(&["name"])
        .ok_or_else(|| import_err(file, 1, "the header row needs a \"name\" column"))?;
    let addr_c = col(&["address", "host", "hostname", "ip"])
        .ok_or_else(|| import_err(file, 1, "the header row needs an \"address\" column"))?;
    let (port_c, user_c, key_c, env_c, groups_c, tags_c, notes_c) = (
        col(&["port"]),
        col(&["user", "username"]),
        col(&["key", "identity_file", "key_file"]),
        col(&["environment", "env"]),
        col(&["groups", "group"]),
        col(&["tags", "tag"]),
        col(&["notes", "note"]),
    );
    let known = [
        "name",
        "address",
        "host",
        "hostname",
        "ip",
        "port",
        "user",
        "username",
        "key",
        "identity_file",
        "key_file",
        "environment",
        "env",
        "groups",
        "group",
        "tags",
        "tag",
        "notes",
        "note",
    ];
    let mut warnings: Vec<String> = headers
        .iter()
        .filter(|h| !known.contains(&h.as_str()))
        .map(|h| format!("{file}: column {h:?} is not used"))
        .collect();
    let mut hosts = Vec::new();
    for rec in rdr.records() {
        if hosts.len() >= MAX_IMPORT_HOSTS {
            return Err(import_err(
                file,
                0,
                format!("more than {MAX_IMPORT_HOSTS} hosts in one import; split the file"),
            ));
        }
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
            import_err(file, line, format!("{e}"))
        })?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").to_string();
        let mut spec = HostSpec::new(get(Some(name_c)), get(Some(addr_c)));
        let port = get(port_c);
        if !port.is_empty() {
            spec.port = port
                .parse()
                .map_err(|_| import_err(file, line, format!("port {port:?} is not a number")))?;
        }
        let user = get(user_c);
        if !user.is_empty() {
            spec.user = user;
        } else {
            warnings.push(format!("{}: no user given; assuming root", spec.name));
        }
        let key = get(key_c);
        if !key.is_empty() {
            spec.auth = Auth::KeyFile {
                path: expand_home(&key),
            };
        }
        let env = get(env_c);
        if !env.is_empty() {
            spec.environment = env.parse().map_err(|m: String| import_err(file, line, m))?;
        }
        let split = |s: String| -> Vec<String> {
            s.split([';', ' '])
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        };
        spec.groups = split(get(groups_c));
        spec.tags = split(get(tags_c));
        spec.notes = get(notes_c);
        hosts.push((line, spec));
    }
    finish(file, hosts, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SSH: &str = include_str!("../../../tests/fixtures/import/ssh_config");
    const INI: &str = include_str!("../../../tests/fixtures/import/inventory.ini");
    const YAML: &str = include_str!("../../../tests/fixtures/import/inventory.yml");
    const CSV: &str = include_str!("../../../tests/fixtures/import/hosts.csv");

    fn by_name<'a>(r: &'a ImportReport, n: &str) -> &'a HostSpec {
        r.hosts
            .iter()
            .find(|h| h.name == n)
            .unwrap_or_else(|| panic!("{n} missing: {:?}", r.hosts))
    }

    #[test]
    fn ssh_config() {
        let r = from_ssh_config(SSH, "ssh_config").unwrap();
        let names: Vec<&str> = r.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["web-01", "web-02", "db-01", "bastion"]);
        let w = by_name(&r, "web-01");
        assert_eq!(
            (w.address.as_str(), w.port, w.user.as_str()),
            ("10.0.0.11", 22, "ops")
        );
        assert_eq!(
            w.auth,
            Auth::KeyFile {
                path: PathBuf::from("/keys/fleet")
            }
        );
        let db = by_name(&r, "db-01");
        assert_eq!(
            (db.address.as_str(), db.port, db.user.as_str()),
            ("db1.internal", 2222, "root")
        );
        assert_eq!(db.proxy_jump.as_deref(), Some("bastion"));
        let b = by_name(&r, "bastion");
        assert_eq!(b.auth, Auth::Agent, "{b:?}");
        assert!(r.warnings.iter().any(|w| w.contains("Include")));
    }

    #[test]
    fn ansible_ini() {
        let r = from_ansible_ini(INI, "inventory.ini").unwrap();
        assert_eq!(r.hosts.len(), 5, "{:?}", r.hosts);
        let w = by_name(&r, "web02.example.com");
        assert_eq!(w.groups, vec!["office", "web"]);
        assert_eq!(w.user, "ops");
        assert_eq!(w.environment, Environment::Prod);
        let s = by_name(&r, "stage-1");
        assert_eq!(s.environment, Environment::NonProd);
        assert_eq!(s.address, "192.0.2.50");
        assert_eq!(s.port, 2200);
        let db = by_name(&r, "db-b");
        assert_eq!(
            db.auth,
            Auth::KeyFile {
                path: PathBuf::from("/keys/db")
            }
        );
        assert!(db.groups.contains(&"office".to_string()));
    }

    #[test]
    fn ansible_yaml() {
        let r = from_ansible_yaml(YAML, "inventory.yml").unwrap();
        let names: BTreeSet<&str> = r.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, BTreeSet::from(["app1", "app2", "qa1", "lonely"]));
        let a = by_name(&r, "app1");
        assert_eq!(
            (a.address.as_str(), a.user.as_str(), a.port),
            ("192.0.2.1", "deploy", 22)
        );
        assert_eq!(a.groups, vec!["app", "prod"]);
        let q = by_name(&r, "qa1");
        assert_eq!(q.environment, Environment::NonProd);
        assert_eq!(q.port, 2222);
    }

    #[test]
    fn csv_file() {
        let r = from_csv(CSV, "hosts.csv").unwrap();
        assert_eq!(r.hosts.len(), 3);
        let h = by_name(&r, "pd-01");
        assert_eq!(h.groups, vec!["canary", "web"]);
        assert_eq!(h.environment, Environment::NonProd);
        assert_eq!(
            h.auth,
            Auth::KeyFile {
                path: PathBuf::from("/keys/id")
            }
        );
        assert_eq!(by_name(&r, "plain").auth, Auth::Agent);
        assert!(r.warnings.iter().any(|w| w.contains("colour")));
    }

    #[test]
    fn bad_files_say_where_and_what() {
        let e = from_csv(
            "name,address,port\na,10.0.0.1,22\nb,10.0.0.2,abc\n",
            "h.csv",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "h.csv: line 3: port \"abc\" is not a number");
        let e = from_csv("name,address\na,10.0.0.1\na,10.0.0.2\n", "h.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("already defined on line 2"),
            "{e}"
        );
        let e = from_csv("name,address\nweb,evil;reboot\n", "h.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("not a host name"), "{e}");
        let e = from_ansible_ini("[web]\nweb[1:x]\n", "i.ini")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("i.ini: line 2:"), "{e}");
        let e = from_ansible_ini("[web]\nh ansible_port=eighty\n", "i.ini")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a port number"), "{e}");
        let e = from_ansible_yaml("all: [unclosed", "i.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid YAML"), "{e}");
        let e = from_csv("address\n1.2.3.4\n", "h.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"name\" column"), "{e}");
    }

    #[test]
    fn ranges() {
        assert_eq!(
            expand_range("web[01:03].x").unwrap(),
            ["web01.x", "web02.x", "web03.x"]
        );
        assert_eq!(expand_range("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
        assert!(expand_range("x[1:999999]").is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,400}") {
            let _ = from_ssh_config(&s, "f");
            let _ = from_ansible_ini(&s, "f");
            let _ = from_ansible_yaml(&s, "f");
            let _ = from_csv(&s, "f");
        }
    }
}
