// View logic of the PatchDesk UI: pure functions, tested with Vitest (view.test.ts).
import type { Compliance } from "./bindings/Compliance";
import type { GateReason } from "./bindings/GateReason";
import type { HostSummary } from "./bindings/HostSummary";
import type { NotAssessed } from "./bindings/NotAssessed";
import type { Package } from "./bindings/Package";
import type { TrustedKey } from "./bindings/TrustedKey";
import type { HostFilter as EngineHostFilter } from "./bindings/HostFilter";
import type { Environment } from "./bindings/Environment";

export type HostState = "ok" | "stale" | "unreachable" | "error" | "never";

/** A host whose last good scan is older than this is stale. */
export const STALE_MS = 24 * 3600 * 1000;

export function hostState(h: HostSummary, now: Date): HostState {
  if (!h.last_scan) return "never";
  if (!h.last_scan.ok) {
    return h.last_scan.error_code === "unreachable" || h.last_scan.error_code === "timeout" ? "unreachable" : "error";
  }
  const t = Date.parse(h.last_scan.finished_at);
  return now.getTime() - t > STALE_MS ? "stale" : "ok";
}

export interface FleetStats {
  total: number;
  ok: number;
  stale: number;
  unreachable: number;
  /** Last scan failed for another reason (host key, authentication, unreadable output). */
  error: number;
  never: number;
  reboot: number;
  pending: number;
  security: number;
  hostsWithPending: number;
  lastScan: string | null;
}

export function fleetStats(hosts: HostSummary[], now: Date): FleetStats {
  const s: FleetStats = {
    total: hosts.length, ok: 0, stale: 0, unreachable: 0, error: 0, never: 0, reboot: 0,
    pending: 0, security: 0, hostsWithPending: 0, lastScan: null,
  };
  for (const h of hosts) {
    s[hostState(h, now)] += 1;
    if (h.last_ok_scan?.reboot_required) s.reboot += 1;
    s.pending += Number(h.pending_count);
    s.security += Number(h.security_count);
    if (Number(h.pending_count) > 0) s.hostsWithPending += 1;
    const t = h.last_scan?.finished_at;
    if (t && (!s.lastScan || Date.parse(t) > Date.parse(s.lastScan))) s.lastScan = t;
  }
  return s;
}

export interface HostFilter {
  query: string;
  group: string;
  env: string;
  /** A tag the host must carry ("" any). */
  tag?: string;
}

/** Case-insensitive search over name, address, OS, family, kernel, groups and tags, plus exact
 *  group/env/tag filters: the same rule as the engine's `HostFilter::matches` (the CLI's
 *  `host list --filter`). */
export function filterHosts(hosts: HostSummary[], f: HostFilter): HostSummary[] {
  const q = f.query.trim().toLowerCase();
  return hosts.filter((h) => {
    if (f.group && !h.groups.includes(f.group)) return false;
    if (f.env && h.environment !== f.env) return false;
    if (f.tag && !h.tags.includes(f.tag)) return false;
    if (!q) return true;
    const hay = [h.name, h.address, h.last_ok_scan?.os_pretty ?? "", h.last_ok_scan?.family ?? "", h.last_ok_scan?.kernel ?? "", ...h.groups, ...h.tags]
      .join(" ")
      .toLowerCase();
    return hay.includes(q);
  });
}

/** Every tag on any host, sorted. */
export function tagsOf(hosts: HostSummary[]): string[] {
  return [...new Set(hosts.flatMap((h) => h.tags))].sort();
}

/** The view's filter fields as the engine's saved filter, and back. */
export function toSavedFilter(f: HostFilter): EngineHostFilter {
  return { query: f.query.trim(), group: f.group || null, environment: f.env ? (f.env as Environment) : null, tag: f.tag || null };
}
export function fromSavedFilter(f: EngineHostFilter): Required<HostFilter> {
  return { query: f.query, group: f.group ?? "", env: f.environment ?? "", tag: f.tag ?? "" };
}

export type SortKey = "name" | "os" | "kernel" | "pending" | "security" | "reboot" | "scanned" | "updated" | "state";

function sortValue(h: HostSummary, key: SortKey): string | number {
  const s = h.last_ok_scan;
  switch (key) {
    case "name": return h.name;
    case "os": return `${s?.os_id ?? ""} ${s?.os_version ?? ""}`;
    case "kernel": return s?.kernel ?? "";
    case "pending": return Number(h.pending_count);
    case "security": return Number(h.security_count);
    case "reboot": return s?.reboot_required ? 1 : 0;
    case "scanned": return h.last_scan ? Date.parse(h.last_scan.finished_at) : 0;
    case "updated": return s?.last_update_at ? Date.parse(s.last_update_at) : 0;
    case "state": return h.last_scan ? (h.last_scan.ok ? 0 : 1) : 2;
  }
}

export function sortHosts(hosts: HostSummary[], key: SortKey, ascending: boolean): HostSummary[] {
  const dir = ascending ? 1 : -1;
  return [...hosts].sort((a, b) => {
    const x = sortValue(a, key);
    const y = sortValue(b, key);
    const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return c !== 0 ? c * dir : a.name.localeCompare(b.name);
  });
}

/** The rows to render for a virtualised list: only what is visible plus some overscan. */
export function visibleWindow(scrollTop: number, viewport: number, rowHeight: number, count: number, overscan = 8) {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);
  return { start: first, end: last, offset: first * rowHeight, total: count * rowHeight };
}

export function filterPackages(pkgs: Package[], q: string): Package[] {
  const needle = q.trim().toLowerCase();
  if (!needle) return pkgs;
  return pkgs.filter((p) => p.name.includes(needle) || p.source.includes(needle) || p.version.toLowerCase().includes(needle));
}

export function ago(iso: string | null | undefined, now: Date): string {
  if (!iso) return "never";
  const secs = Math.round((now.getTime() - Date.parse(iso)) / 1000);
  if (Number.isNaN(secs)) return "unknown";
  if (secs < 0) return "just now";
  if (secs < 60) return `${secs}s ago`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.floor(secs / 3600)} h ago`;
  return `${Math.floor(secs / 86400)} d ago`;
}

export function groupsOf(hosts: HostSummary[]): string[] {
  return [...new Set(hosts.flatMap((h) => h.groups))].sort();
}

/** "2d 21h", "5h 03m", "overdue 1d 3h" from seconds left (negative: overdue). */
export function countdown(secondsLeft: number | null | undefined): string {
  if (secondsLeft === null || secondsLeft === undefined) return "no deadline";
  const over = secondsLeft < 0;
  const s = Math.abs(Math.trunc(secondsLeft));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const body = d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}m ${String(sec).padStart(2, "0")}s`;
  return over ? `overdue ${body}` : body;
}

/** Seconds left now, from what the engine said at `fetchedAt` (both on the engine's clock). */
export function secondsLeftNow(secondsLeft: number | null, fetchedAt: Date, now: Date): number | null {
  if (secondsLeft === null) return null;
  return secondsLeft - Math.floor((now.getTime() - fetchedAt.getTime()) / 1000);
}

/** Seconds from `now` until `iso` (an engine instant), never negative: a time passed is 0. */
export function secondsUntil(iso: string | null | undefined, now: Date): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.round((t - now.getTime()) / 1000));
}

/** One package of a deployment's transaction: `pd-libfoo1 1:3.0-1 → 1:3.1-1`. */
export function changeLine(c: { package: string; from_version: string | null; to_version: string | null }): string {
  return `${c.package} ${c.from_version ?? "(new)"} → ${c.to_version ?? "(removed)"}`;
}

/** A gate reason as one line, as the CLI prints it: `NO-GO web-2: smoke test … failed`. */
export function reasonText(r: GateReason): string {
  return `${r.verdict === "no-go" ? "NO-GO " : ""}${r.host}: ${r.message}`;
}

/** Why a package is in the transaction. */
export function changeWhy(c: { requested: boolean; kind: string }): string {
  if (c.requested) return "named";
  if (c.kind === "install") return "new, pulled in by apt";
  if (c.kind === "remove") return "REMOVED by apt";
  return "pulled in by apt";
}

export const BUCKETS = ["critical", "high", "moderate", "low"] as const;
export type BucketName = (typeof BUCKETS)[number];

/** Group patches by bucket, keeping the engine's order (nearest deadline first). */
export function byBucket<T extends { bucket: string }>(items: T[]): Record<BucketName, T[]> {
  const out = { critical: [], high: [], moderate: [], low: [] } as Record<BucketName, T[]>;
  for (const i of items) (out[i.bucket as BucketName] ??= []).push(i);
  return out;
}

// Reports.

/** The ISO week (`2026-W48`) an instant falls in, in UTC like the engine. */
export function isoWeek(t: Date): string {
  const d = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
  const day = d.getUTCDay() || 7; // Monday 1 … Sunday 7
  d.setUTCDate(d.getUTCDate() + 4 - day); // the week's Thursday decides its year
  const year = d.getUTCFullYear();
  const week = Math.ceil(((d.getTime() - Date.UTC(year, 0, 1)) / 86400000 + 1) / 7);
  return `${year}-W${String(week).padStart(2, "0")}`;
}

/** This week and the `count - 1` before it, newest first. */
export function recentWeeks(now: Date, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(isoWeek(new Date(now.getTime() - i * 7 * 86400000)));
  return out;
}

/** A scope as the engine serialises it. */
export type ScopeValue = { kind: "fleet" } | { kind: "group"; name: string } | { kind: "environment"; name: string };

export function scopeKey(s: ScopeValue): string {
  return s.kind === "fleet" ? "fleet" : `${s.kind}:${s.name}`;
}

export function scopeLabel(s: ScopeValue): string {
  return s.kind === "fleet" ? "Whole fleet" : s.kind === "group" ? `Group ${s.name}` : `Environment ${s.name}`;
}

/** The chart SVG as an image URL (an <img> cannot run anything; the CSP allows data: images). */
export function svgDataUrl(svg: string): string {
  return "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
}

export function hoursText(h: number | null): string {
  if (h === null) return "none yet";
  return h < 48 ? `${h.toFixed(1)} h` : `${(h / 24).toFixed(1)} days`;
}

/** Hosts whose packages cannot be read (no dpkg, a failing package listing): never counted as
 *  patched. Never-scanned and unreachable hosts are left out: they have cards of their own. */
export function unreadableHosts(comp: Compliance | null): NotAssessed[] {
  return (comp?.not_assessed ?? []).filter((n) => n.kind === "unreadable");
}

/** The mark of a checklist line: ✓ passed, ✗ failed, ? inconclusive, – not configured. */
export function checkMark(status: string): string {
  return ({ passed: "✓", failed: "✗", inconclusive: "?", not_configured: "–" } as Record<string, string>)[status] ?? "?";
}

/** A checklist line's value beside its baseline: `HTTP 500×5 (baseline HTTP 200×5)`. */
export function checkValue(c: { value: string | null; baseline: string | null; status: string; detail: string | null }): string {
  const v = c.value ?? (c.status === "not_configured" ? (c.detail ?? "not configured") : "");
  return c.baseline !== null && c.baseline !== undefined ? `${v} (baseline ${c.baseline})` : v;
}

interface ChangeLike { package: string; from_version: string | null; to_version: string | null }
interface HostLike { host: string; state: string; excluded: string | null; changes: ChangeLike[] }

/** What a rollback would do: each host that received the update, its packages back to where they were. */
export function rollbackLines(hosts: HostLike[]): string[] {
  return hosts
    .filter((h) => !h.excluded && ["applied", "failed", "attention", "applying"].includes(h.state))
    .map((h) => `${h.host}: ${h.changes.map((c) => `${c.package} ${c.to_version ?? "(removed)"} → ${c.from_version ?? "(purged)"}`).join(", ") || "its planned transaction"}`);
}

/** What a go would start: the next stage's hosts with their planned versions. */
export function goLines(hosts: HostLike[]): string[] {
  return hosts
    .filter((h) => !h.excluded)
    .map((h) => `${h.host}: ${h.changes.map(changeLine).join(", ") || "its planned transaction"}`);
}

/** The checks a healthy verdict rests on: every kind that passed on some host, in checklist order. */
export function restsOn(hosts: { checks: { kind: string; status: string }[] }[]): string[] {
  const names: Record<string, string> = {
    reachable: "reachable", version: "versions", smoke: "smoke tests", failed_units: "failed units", journal: "journal",
    reboot: "reboot state", http: "HTTP probe", error_rate: "error rate", service: "service", prometheus: "Prometheus", alerts: "alerts",
  };
  const out: string[] = [];
  for (const h of hosts) for (const c of h.checks) {
    const n = names[c.kind] ?? c.kind;
    if (c.status === "passed" && !out.includes(n)) out.push(n);
  }
  return out;
}

// Patches, one row per update.

/** One update (package + target version) across the hosts it is pending on. */
export interface UpdateRow<T extends PatchLike = PatchLike> {
  key: string;
  package: string;
  candidate_version: string;
  bucket: BucketName;
  /** The nearest deadline's seconds left over its hosts (negative: overdue), as the engine said. */
  seconds_left: number | null;
  overdue: number;
  /** Hosts where the update is held (apt-mark hold): pending, not installable until released. */
  held: number;
  security: boolean;
  cves: string[];
  /** The advisories behind those CVEs (a vendor's RLSA/ALSA/RHSA/DSA ids), each once. */
  advisories: string[];
  max_cvss: number | null;
  hosts: T[];
}

export interface PatchLike {
  host: string;
  package: string;
  candidate_version: string;
  bucket: string;
  seconds_left: number | null;
  overdue: boolean;
  held?: boolean;
  security: boolean;
  cves: { cve: string; advisory_id?: string }[];
  max_cvss: number | null;
}

const BUCKET_RANK: Record<string, number> = { critical: 0, high: 1, moderate: 2, low: 3 };

/** Group per-host patches into one row per update, most urgent first: the worse bucket, then the
 *  nearest deadline (overdue first), then the package name. */
export function groupUpdates<T extends PatchLike>(items: T[]): UpdateRow<T>[] {
  const rows = new Map<string, UpdateRow<T>>();
  for (const p of items) {
    const key = `${p.package} ${p.candidate_version}`;
    let r = rows.get(key);
    if (!r) {
      r = { key, package: p.package, candidate_version: p.candidate_version, bucket: p.bucket as BucketName, seconds_left: null,
        overdue: 0, held: 0, security: false, cves: [], advisories: [], max_cvss: null, hosts: [] };
      rows.set(key, r);
    }
    r.hosts.push(p);
    if ((BUCKET_RANK[p.bucket] ?? 9) < (BUCKET_RANK[r.bucket] ?? 9)) r.bucket = p.bucket as BucketName;
    if (p.seconds_left !== null && (r.seconds_left === null || p.seconds_left < r.seconds_left)) r.seconds_left = p.seconds_left;
    if (p.overdue) r.overdue += 1;
    if (p.held) r.held += 1;
    r.security ||= p.security;
    for (const c of p.cves) {
      if (!r.cves.includes(c.cve)) r.cves.push(c.cve);
      const a = c.advisory_id;
      if (a && a !== c.cve && !r.advisories.includes(a)) r.advisories.push(a);
    }
    if (p.max_cvss !== null && (r.max_cvss === null || p.max_cvss > r.max_cvss)) r.max_cvss = p.max_cvss;
  }
  const left = (r: UpdateRow<T>) => r.seconds_left ?? Number.POSITIVE_INFINITY;
  return [...rows.values()].sort((a, b) =>
    (BUCKET_RANK[a.bucket] ?? 9) - (BUCKET_RANK[b.bucket] ?? 9) || left(a) - left(b) || a.package.localeCompare(b.package));
}

/** Where a CVE is tracked: Debian's security tracker, and NVD. Only well-formed ids get a link. */
export function cveLinks(cve: string): { debian: string; nvd: string } | null {
  if (!/^CVE-\d{4}-\d{4,}$/.test(cve)) return null;
  return { debian: `https://security-tracker.debian.org/tracker/${cve}`, nvd: `https://nvd.nist.gov/vuln/detail/${cve}` };
}

// "Needs you now".

export type NeedKind = "gate" | "overdue" | "critical" | "host-key" | "unreachable" | "never-scanned" | "feed";

/** Where an entry is resolved. */
export type NeedTarget =
  | { view: "deploy"; deployment: number }
  | { view: "host"; host: string }
  | { view: "patches"; update?: string }
  | { view: "scan" };

export interface Need {
  kind: NeedKind;
  severity: "bad" | "warn";
  /** Stable key (for the list and the e2e). */
  key: string;
  title: string;
  detail: string;
  target: NeedTarget;
  /** A gate: the engine's verdict (Go is offered only on a healthy gate). */
  verdict?: string | null;
}

interface DeploymentLike {
  id: number;
  name: string;
  state: string;
  current_stage: number;
  stages: { idx: number; name: string; state: string; verdict: string | null; hosts: unknown[] }[];
}
interface SourceLike { location: string; format: string; age_secs: number | null; last_error: string | null }

/** A feed older than this needs a sync. */
export const FEED_MAX_AGE_SECS = 24 * 3600;

/** What needs a decision or a fix now, most important first: gates waiting for go/no-go,
 *  overdue updates, critical updates by time left, changed host keys, unreachable and
 *  never-scanned hosts, feeds older than a day (or failing). */
export function needsYou(
  input: { deployments: DeploymentLike[]; patches: PatchLike[]; hosts: HostSummary[]; sources: SourceLike[] },
  now: Date,
): Need[] {
  const out: Need[] = [];
  for (const d of input.deployments) {
    if (d.state !== "running") continue;
    const s = d.stages.find((x) => x.idx === d.current_stage);
    if (!s || s.state !== "gate") continue;
    const verdict = s.verdict === "go" ? "healthy" : s.verdict === "no-go" ? "not healthy" : "no evidence yet";
    out.push({ kind: "gate", severity: s.verdict === "go" ? "warn" : "bad", key: `gate-${d.id}`,
      title: `#${d.id} ${d.name}: ${s.name} gate waits for go/no-go`, detail: `${s.hosts.length} host(s), ${verdict}`,
      target: { view: "deploy", deployment: d.id }, verdict: s.verdict });
  }
  const updates = groupUpdates(input.patches);
  for (const u of updates.filter((x) => x.overdue > 0)) {
    out.push({ kind: "overdue", severity: "bad", key: `overdue-${u.key}`, title: `${u.package} ${u.candidate_version} is overdue`,
      detail: `${u.bucket} · ${u.overdue} of ${u.hosts.length} host(s) past the deadline · ${countdown(u.seconds_left)}`,
      target: { view: "patches", update: u.key } });
  }
  for (const u of updates.filter((x) => x.bucket === "critical" && x.overdue === 0)) {
    out.push({ kind: "critical", severity: "bad", key: `critical-${u.key}`, title: `${u.package} ${u.candidate_version}: critical, ${countdown(u.seconds_left)} left`,
      detail: `${u.hosts.length} host(s)${u.cves.length ? " · " + u.cves.join(" ") : ""}`, target: { view: "patches", update: u.key } });
  }
  const byName = [...input.hosts].sort((a, b) => a.name.localeCompare(b.name));
  for (const h of byName) {
    const s = h.last_scan;
    if (s && !s.ok && (s.error_code === "host_key_changed" || s.error_code === "host_key_revoked")) {
      out.push({ kind: "host-key", severity: "bad", key: `host-key-${h.name}`, title: `${h.name}: its host key changed`,
        detail: "not scanned or patched until you check and re-trust the key", target: { view: "host", host: h.name } });
    }
  }
  for (const h of byName) {
    const st = hostState(h, now);
    if (st === "unreachable" || (st === "error" && !["host_key_changed", "host_key_revoked"].includes(h.last_scan?.error_code ?? ""))) {
      out.push({ kind: "unreachable", severity: "warn", key: `unreachable-${h.name}`,
        title: `${h.name}: ${st === "unreachable" ? "unreachable" : "last scan failed"} ${ago(h.last_scan?.finished_at, now)}`,
        detail: `patch level unknown${Number(h.security_count) > 0 ? `, ${h.security_count} security update(s) pending at the last good scan` : ""}`,
        target: { view: "host", host: h.name } });
    }
  }
  const never = byName.filter((h) => hostState(h, now) === "never");
  if (never.length) {
    out.push({ kind: "never-scanned", severity: "warn", key: "never-scanned", title: `${never.length} host(s) never scanned`,
      detail: never.slice(0, 5).map((h) => h.name).join(", ") + (never.length > 5 ? ", …" : ""), target: { view: "scan" } });
  }
  for (const f of input.sources) {
    const old = f.age_secs === null || f.age_secs > FEED_MAX_AGE_SECS;
    if (!old && !f.last_error) continue;
    out.push({ kind: "feed", severity: "warn", key: `feed-${f.location}`,
      title: `${f.format} feed ${f.age_secs === null ? "never synced" : `is ${countdown(f.age_secs)} old`}`,
      detail: f.last_error ? `last sync failed: ${f.last_error}` : "critical advisories may be missing: sync it", target: { view: "patches" } });
  }
  return out;
}

/** A percentage for people: one decimal, rounded down, so 99.96 never reads "100%". */
export function percentText(p: number | null | undefined): string {
  if (p === null || p === undefined || Number.isNaN(p)) return "–";
  if (p >= 100) return "100%";
  const d = Math.floor(p * 10) / 10;
  return `${Number.isInteger(d) ? d.toFixed(0) : d.toFixed(1)}%`;
}

/** Where to deploy an update to exactly its hosts (those in the inventory): the one host; or the
 *  smallest group holding all of them (its smoke tests and snapshot hook apply), narrowed to them;
 *  else no scope, the hosts themselves (a selection). */
export function deployScopeFor(affected: string[], hosts: { name: string; groups: string[] }[]): { scope: string; hosts: string[] } | null {
  const known = [...new Set(affected)].filter((a) => hosts.some((h) => h.name === a));
  if (known.length === 0) return null;
  if (known.length === 1) return { scope: known[0], hosts: [] };
  let best: { scope: string; size: number } | null = null;
  for (const g of groupsOf(hosts as HostSummary[])) {
    const members = hosts.filter((h) => h.groups.includes(g)).map((h) => h.name);
    if (known.every((a) => members.includes(a)) && (!best || members.length < best.size)) best = { scope: g, size: members.length };
  }
  return { scope: best?.scope ?? "", hosts: known };
}

export interface UpdateFilter { query: string; bucket: string; securityOnly: boolean; overdueOnly: boolean; heldOnly?: boolean }

/** Why a held update is not installed, for people. */
export const HELD_WHY = "held on the host (apt-mark hold): apt keeps it back until someone releases the hold there";

/** Search (package, version, CVE, host) and filters over update rows. */
export function filterUpdates<T extends PatchLike>(rows: UpdateRow<T>[], f: UpdateFilter): UpdateRow<T>[] {
  const q = f.query.trim().toLowerCase();
  return rows.filter((r) => {
    if (f.bucket && r.bucket !== f.bucket) return false;
    if (f.securityOnly && !r.security) return false;
    if (f.overdueOnly && r.overdue === 0) return false;
    if (f.heldOnly && r.held === 0) return false;
    if (!q) return true;
    return [r.package, r.candidate_version, ...r.cves, ...r.advisories, ...r.hosts.map((h) => h.host)].some((s) => s.toLowerCase().includes(q));
  });
}

/** The package manager of a host's family, in words (`undefined`: never scanned). */
export function familyText(f: "deb" | "rpm" | null | undefined): string {
  if (f === undefined) return "–";
  if (f === "deb") return "dpkg / apt (Debian family)";
  if (f === "rpm") return "rpm / dnf (RHEL family)";
  return "not managed (no dpkg or rpm family)";
}

/** dpkg's two-letter status (`${db:Status-Abbrev}`) in words: `ii` → "installed", `hi` →
 *  "installed, held", `rc` → "removed, config files left", `iU` → "unpacked, not configured". */
export function dpkgStatusText(code: string): string {
  const c = code.trim();
  if (!/^[a-zA-Z]{2,3}$/.test(c)) return c || "unknown";
  const want: Record<string, string> = { u: "", i: "", h: "held", r: "marked for removal", p: "marked for purge" };
  const state: Record<string, string> = {
    n: "not installed", i: "installed", c: "removed, config files left", U: "unpacked, not configured",
    F: "half-configured", H: "half-installed", W: "awaiting triggers", t: "triggers pending",
  };
  const words = [state[c[1]] ?? `state ${c[1]}`];
  const w = want[c[0]];
  if (w && c[1] !== "c" && c[1] !== "n") words.push(w);
  if (c[2] && c[2] !== " ") words.push(c[2] === "R" ? "needs reinstall" : `error ${c[2]}`);
  return words.join(", ");
}

/** An instant as the person's local date and time, beside how long ago. */
export function whenText(iso: string | null | undefined, now: Date): string {
  if (!iso) return "never";
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return "unknown";
  return `${t.toLocaleString()} (${ago(iso, now)})`;
}

/** Where the key trusted for a host until now came from, for the re-key panel. */
export function keySourceText(t: TrustedKey | null): string {
  if (!t) return "no key pinned, and none recorded for this host in the known_hosts files of Settings";
  switch (t.source.kind) {
    case "accepted": return "pinned in PatchDesk when a person accepted its fingerprint";
    case "pinned_from_known_hosts": return `pinned in PatchDesk at its first scan, from ${t.source.file}`;
    case "known_hosts": return `not pinned: trusted from ${t.source.file} line ${t.source.line} (known_hosts files in Settings)`;
  }
}
