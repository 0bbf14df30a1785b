// View logic of the PatchDesk UI: pure functions, tested with Vitest (view.test.ts).
import type { Compliance } from "./bindings/Compliance";
import type { GateReason } from "./bindings/GateReason";
import type { HostSummary } from "./bindings/HostSummary";
import type { NotAssessed } from "./bindings/NotAssessed";
import type { Package } from "./bindings/Package";

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
}

/** Case-insensitive search over name, address, OS and groups, plus exact group/env filters. */
export function filterHosts(hosts: HostSummary[], f: HostFilter): HostSummary[] {
  const q = f.query.trim().toLowerCase();
  return hosts.filter((h) => {
    if (f.group && !h.groups.includes(f.group)) return false;
    if (f.env && h.environment !== f.env) return false;
    if (!q) return true;
    const hay = [h.name, h.address, h.last_ok_scan?.os_pretty ?? "", h.last_ok_scan?.kernel ?? "", ...h.groups]
      .join(" ")
      .toLowerCase();
    return hay.includes(q);
  });
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
