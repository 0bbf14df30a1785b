// Typed calls into the Tauri shell. Every type comes from the Rust engine (ts-rs, ./bindings).
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { appText, ipcText } from "./words";
import type { AnsibleExport } from "./bindings/AnsibleExport";
import type { Compliance } from "./bindings/Compliance";
import type { Schedule } from "./bindings/Schedule";
import type { AutomationPolicy } from "./bindings/AutomationPolicy";
import type { DeploymentStatus } from "./bindings/DeploymentStatus";
import type { DrillStatus } from "./bindings/DrillStatus";
import type { GroupSettings } from "./bindings/GroupSettings";
import type { HealthChecks } from "./bindings/HealthChecks";
import type { SnapshotHook } from "./bindings/SnapshotHook";
import type { Selection } from "./bindings/Selection";
import type { AuditEntry } from "./bindings/AuditEntry";
import type { Plan } from "./bindings/Plan";
import type { PlanRequest } from "./bindings/PlanRequest";
import type { HostDetail } from "./bindings/HostDetail";
import type { PatchItem } from "./bindings/PatchItem";
import type { Policy } from "./bindings/Policy";
import type { SourceStatus } from "./bindings/SourceStatus";
import type { SyncReport } from "./bindings/SyncReport";
import type { HostSpec } from "./bindings/HostSpec";
import type { HostSummary } from "./bindings/HostSummary";
import type { ImportReport } from "./bindings/ImportReport";
import type { ProgressEvent } from "./bindings/ProgressEvent";
import type { ScanRecord } from "./bindings/ScanRecord";
import type { ScanSummary } from "./bindings/ScanSummary";
import type { ServerKey } from "./bindings/ServerKey";
import type { HostKeyCheck } from "./bindings/HostKeyCheck";
import type { HostFilter } from "./bindings/HostFilter";
import type { SavedFilter } from "./bindings/SavedFilter";
import type { Settings } from "./bindings/Settings";
import type { Scope } from "./bindings/Scope";
import type { WeeklyReport } from "./bindings/WeeklyReport";
import type { HistoryEntry } from "./bindings/HistoryEntry";
import type { ReportFormat } from "./bindings/ReportFormat";
import type { Overview } from "./bindings/Overview";
import type { JobEvent } from "./bindings/JobEvent";
import type { JobKind } from "./bindings/JobKind";
import type { JobRecord } from "./bindings/JobRecord";
import type { Notice } from "./bindings/Notice";

/** A report with the chart the PDF draws (SVG) and the line its notification says. */
export interface ReportPreview {
  report: WeeklyReport;
  chart_svg: string;
  notification: string;
}

/** The one error shape the shell sends: a code and a sentence with the host and the next step. */
export interface UiError {
  code: string;
  message: string;
}

/** Any rejection as a sentence for a person: the engine's with the app's next step, the IPC
 *  layer's own ("invalid args …") turned into a sentence. */
export function errorText(e: unknown): string {
  if (e && typeof e === "object" && "message" in e) return appText(String((e as UiError).message));
  return ipcText(String(e));
}

export interface AppInfo {
  db_path: string;
  version: string;
  /** The engine's (injected) clock when asked. */
  now: string;
}

export const api = {
  appInfo: () => invoke<AppInfo>("app_info"),
  listHosts: () => invoke<HostSummary[]>("list_hosts"),
  hostDetail: (name: string) => invoke<{ host: HostDetail; history: ScanRecord[] }>("host_detail", { name }),
  addHost: (spec: HostSpec) => invoke<void>("add_host", { spec }),
  previewImport: (path: string) => invoke<ImportReport>("preview_import", { path }),
  /** The native file picker (GTK); resolves to the chosen path, or null when cancelled. */
  /** The native picker, opening in `near` (the field's current path) when that is or is in a folder. */
  pickPath: (purpose: "host_import" | "known_hosts" | "reports_folder" | "ansible_export", near: string | null = null) =>
    invoke<string | null>("pick_path", { purpose, near }),
  importHosts: (path: string, update: boolean) => invoke<number>("import_hosts", { path, update }),
  removeHost: (name: string) => invoke<void>("remove_host", { name }),
  /** Change a host's connection (address, port, user, key file), groups and environment; audited. */
  updateHost: (spec: HostSpec) => invoke<void>("update_host", { spec }),
  /** Add and remove tags on hosts (audited per host); resolves to how many hosts changed. */
  tagHosts: (names: string[], add: string[], remove: string[]) => invoke<number>("tag_hosts", { names, add, remove }),
  hostFilters: () => invoke<SavedFilter[]>("host_filters"),
  saveHostFilter: (name: string, filter: HostFilter) => invoke<SavedFilter>("save_host_filter", { name, filter }),
  deleteHostFilter: (name: string) => invoke<void>("delete_host_filter", { name }),
  fetchHostKey: (name: string) => invoke<ServerKey>("fetch_host_key", { name }),
  /** What the host presents now beside the key trusted for it until now (pinned or known_hosts). */
  hostKeyCheck: (name: string) => invoke<HostKeyCheck>("host_key_check", { name }),
  /** `replace` (a re-keyed host) needs a `reason`, recorded in the audit log. */
  trustHost: (name: string, fingerprint: string, replace: boolean, reason: string | null = null) =>
    invoke<ServerKey>("trust_host", { name, fingerprint, replace, reason }),
  startScan: (names: string[]) => invoke<ScanSummary>("start_scan", { names }),
  cancelScan: () => invoke<void>("cancel_scan"),
  getSettings: () => invoke<Settings>("get_settings"),
  saveSettings: (settings: Settings) => invoke<void>("save_settings", { settings }),
  patches: (bucket: string | null = null, group: string | null = null, host: string | null = null) =>
    invoke<PatchItem[]>("patches", { bucket, group, host }),
  compliance: (group: string | null = null) => invoke<Compliance>("compliance", { group }),
  getPolicy: () => invoke<Policy>("get_policy"),
  savePolicy: (policy: Policy) => invoke<void>("save_policy", { policy }),
  advisorySources: () => invoke<SourceStatus[]>("advisory_sources"),
  syncAdvisories: (location: string) => invoke<SyncReport>("sync_advisories", { location }),
  checkAlerts: () => invoke<number>("check_alerts"),
  deployPlan: (request: PlanRequest) => invoke<Plan>("deploy_plan", { request }),
  deployList: () => invoke<DeploymentStatus[]>("deploy_list"),
  deployStatus: (id: number) => invoke<DeploymentStatus>("deploy_status", { id }),
  deployAdvance: (id: number) => invoke<DeploymentStatus>("deploy_advance", { id }),
  /** Go or no-go; a go at a no-go gate needs `overrideReason` (the engine refuses it otherwise). */
  deployDecide: (id: number, go: boolean, overrideReason: string | null = null, reason: string | null = null) =>
    invoke<DeploymentStatus>("deploy_decide", { id, go, overrideReason, reason }),
  deployExclude: (id: number, host: string, reason: string) =>
    invoke<DeploymentStatus>("deploy_exclude", { id, host, reason }),
  deployDrills: () => invoke<DrillStatus[]>("deploy_drills"),
  /** A rollback drill on the group's non-prod hosts (apply, verify, roll back, verify). */
  deployDrill: (scope: string, packages: string[]) => invoke<DrillStatus>("deploy_drill", { scope, packages }),
  /** Delete a plan that never started (the engine refuses any other state); audited. */
  /** Write the deployment as an Ansible playbook, inventory and rollback playbook into `dir`; changes no host. */
  deployExportAnsible: (id: number, dir: string) => invoke<AnsibleExport>("deploy_export_ansible", { id, dir }),
  deployDelete: (id: number) => invoke<void>("deploy_delete", { id }),
  deployRollback: (id: number) => invoke<DeploymentStatus>("deploy_rollback", { id }),
  audit: (host: string | null, limit = 200) => invoke<AuditEntry[]>("audit_entries", { host, limit }),
  deploySelections: () => invoke<Selection[]>("deploy_selections"),
  saveSelection: (selection: Selection) => invoke<void>("save_selection", { selection }),
  deployUnpin: (id: number) => invoke<DeploymentStatus>("deploy_unpin", { id }),
  deployReboot: (id: number, hosts: string[]) => invoke<DeploymentStatus>("deploy_reboot", { id, hosts }),
  groupSettings: () => invoke<GroupSettings[]>("group_settings"),
  setMaintenanceWindow: (group: string, window: string | null) => invoke<void>("set_maintenance_window", { group, window }),
  setSnapshotHook: (group: string, hook: SnapshotHook | null) => invoke<void>("set_snapshot_hook", { group, hook }),
  setSmokeTests: (group: string, commands: string[]) => invoke<void>("set_smoke_tests", { group, commands }),
  setHealthChecks: (group: string, checks: HealthChecks | null) => invoke<void>("set_health_checks", { group, checks }),
  reportScopes: () => invoke<Scope[]>("report_scopes"),
  reportPreview: (scope: Scope, week: string | null) => invoke<ReportPreview>("report_preview", { scope, week }),
  /** Through the native save dialog; resolves to the path written, or null when cancelled. */
  reportExport: (scope: Scope, week: string | null, format: ReportFormat, openAfter: boolean) =>
    invoke<string | null>("report_export", { scope, week, format, openAfter }),
  reportHistory: () => invoke<HistoryEntry[]>("report_history"),
  /** The job runner (it runs in the app; the window only asks and listens). */
  jobsOverview: () => invoke<Overview>("jobs_overview"),
  jobsRun: (kind: JobKind, group: string | null = null) => invoke<number>("jobs_run", { kind, group }),
  jobsCancel: (id: number) => invoke<JobRecord>("jobs_cancel", { id }),
  automationPause: (pause: boolean) => invoke<Overview>("automation_pause", { pause }),
  automationSettings: () => invoke<AutomationSettings>("automation_settings"),
  /** `when`: "07:00" (daily) or "mon 07:30" (weekly). */
  saveSchedule: (rule: string, when: string, enabled: boolean, jitterSecs: number) =>
    invoke<AutomationSettings>("save_schedule", { rule, when, enabled, jitterSecs }),
  saveAutomationPolicy: (policy: AutomationPolicy) => invoke<AutomationSettings>("save_automation_policy", { policy }),
  /** Open a CVE's page at a tracker in the desktop's browser (the Rust side builds the URL). */
  openCve: (cve: string, tracker: "debian" | "nvd") => invoke<void>("open_cve", { cve, tracker }),
  getStartAtLogin: () => invoke<boolean>("get_start_at_login"),
  /** Writes or removes the XDG autostart entry; resolves to the new setting. */
  setStartAtLogin: (on: boolean) => invoke<boolean>("set_start_at_login", { on }),
  onJobEvent: (f: (e: JobEvent) => void): Promise<UnlistenFn> =>
    listen<JobEvent>("job-event", (ev) => f(ev.payload)),
  onAutomationNotice: (f: (n: Notice) => void): Promise<UnlistenFn> =>
    listen<Notice>("automation-notice", (ev) => f(ev.payload)),
  onReportProgress: (f: (e: ProgressEvent) => void): Promise<UnlistenFn> =>
    listen<ProgressEvent>("report-progress", (ev) => f(ev.payload)),
  /** A gate notification was clicked: open that deployment. */
  onOpenDeployment: (f: (id: number) => void): Promise<UnlistenFn> =>
    listen<number>("open-deployment", (ev) => f(ev.payload)),
  onDeployProgress: (f: (e: ProgressEvent) => void): Promise<UnlistenFn> =>
    listen<ProgressEvent>("deploy-progress", (ev) => f(ev.payload)),
  onScanProgress: (f: (e: ProgressEvent) => void): Promise<UnlistenFn> =>
    listen<ProgressEvent>("scan-progress", (ev) => f(ev.payload)),
};

/** What Settings edits of the automation (the `automation_settings` command). */
export type AutomationSettings = { schedules: Schedule[]; policies: AutomationPolicy[] };
