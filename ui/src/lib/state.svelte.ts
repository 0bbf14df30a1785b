// Shared UI state (Svelte 5 runes): the fleet, the running scan, the current view.
import type { HostSummary } from "./bindings/HostSummary";
import type { ProgressEvent } from "./bindings/ProgressEvent";
import type { ScanSummary } from "./bindings/ScanSummary";
import { api, errorText } from "./api";

export type View = "dashboard" | "hosts" | "host" | "patches" | "deploy" | "reports" | "activity" | "add" | "scan" | "settings";

/** Engine clock minus the browser clock, so the UI ticks on the engine's (injected) time. */
let clockOffset = 0;
export function setEngineNow(iso: string) {
  clockOffset = Date.parse(iso) - Date.now();
}
export function engineNow(): Date {
  return new Date(Date.now() + clockOffset);
}

export const app = $state({
  view: "dashboard" as View,
  host: "" as string,
  hosts: [] as HostSummary[],
  error: "" as string,
  now: new Date(),
  /** A deployment to show in the wizard (set by a clicked gate notification). */
  deployment: null as number | null,
  /** ...with this decision's confirmation open (Go / No-go asked from the Dashboard). */
  decision: null as "go" | "no-go" | null,
  /** An update (`package version`) to open in Patches. */
  update: null as string | null,
  /** The deploy wizard pre-filled (Patches' "Deploy to N hosts…", Hosts' selection, a host's
   *  page): a scope (group or host; "" with `hosts`), only these hosts of it, these packages. */
  prefill: null as { scope: string; hosts?: string[]; packages: string[] } | null,
});

export const scan = $state({
  running: false,
  total: 0,
  done: 0,
  perHost: {} as Record<string, ProgressEvent>,
  summary: null as ScanSummary | null,
  error: "",
});

export async function refresh() {
  try {
    app.hosts = await api.listHosts();
    app.error = "";
  } catch (e) {
    app.error = errorText(e);
  }
}

/** The views a person came through (for Esc / back), most recent last; bounded. */
const trail: { view: View; host: string }[] = [];

export function open(view: View, host = "") {
  if (view !== app.view || host !== app.host) {
    trail.push({ view: app.view, host: app.host });
    if (trail.length > 50) trail.shift();
  }
  app.view = view;
  app.host = host;
}

/** Back to the previous view (Esc); from a host's page without a trail, to Hosts. */
export function back() {
  const prev = trail.pop() ?? (app.view === "host" ? { view: "hosts" as View, host: "" } : null);
  if (!prev) return;
  app.view = prev.view;
  app.host = prev.host;
}

export async function runScan(names: string[]) {
  scan.running = true;
  scan.done = 0;
  scan.total = names.length || app.hosts.length;
  scan.perHost = {};
  scan.summary = null;
  scan.error = "";
  try {
    scan.summary = await api.startScan(names);
  } catch (e) {
    scan.error = errorText(e);
  } finally {
    scan.running = false;
    await refresh();
  }
}

export function onProgress(e: ProgressEvent) {
  if (e.host) scan.perHost[e.host] = e;
  scan.done = Math.max(scan.done, e.done);
  scan.total = e.total;
}
