import { describe, expect, it } from "vitest";
import type { HostSummary } from "./bindings/HostSummary";
import type { ScanRecord } from "./bindings/ScanRecord";
import { ago, cveLinks, familyText, keySourceText, tagsOf, toSavedFilter, fromSavedFilter, deployScopeFor, dpkgStatusText, whenText, filterHosts, filterUpdates, filterPackages, fleetStats, groupUpdates, hostState, needsYou, percentText, sortHosts, unreadableHosts, visibleWindow } from "./view";

const now = new Date("2026-11-24T12:00:00Z");

function scan(over: Partial<ScanRecord> = {}): ScanRecord {
  return {
    id: 1, started_at: "2026-11-24T11:00:00Z", finished_at: "2026-11-24T11:00:01Z", duration_ms: 100, ok: true,
    error_code: null, error_message: null, packages_transferred: true, bytes_received: 10, os_id: "debian",
    os_version: "12", os_codename: "bookworm", os_pretty: "Debian GNU/Linux 12 (bookworm)", family: "deb", kernel: "6.1.0",
    arch: "x86_64", hostname: "h", uptime_secs: 10, booted_at: null, reboot_required: false, reboot_packages: [],
    last_update_at: "2026-11-20T10:00:00Z", privilege: "root", warnings: [], ...over,
  };
}

function host(name: string, over: Partial<HostSummary> = {}): HostSummary {
  const s = scan();
  return {
    id: 1, name, address: "127.0.0.1", port: 22, user: "root", auth: { kind: "agent" }, environment: "prod",
    groups: ["web"], tags: [], notes: "", proxy_jump: null, host_key: null, host_key_fingerprint: null,
    host_key_source: null, last_scan: s, last_ok_scan: s, package_count: 100, pending_count: 0, security_count: 0,
    ...over,
  };
}

describe("host state and fleet stats", () => {
  it("classifies hosts", () => {
    expect(hostState(host("a"), now)).toBe("ok");
    expect(hostState(host("b", { last_scan: null, last_ok_scan: null }), now)).toBe("never");
    expect(hostState(host("c", { last_scan: scan({ ok: false, error_code: "unreachable" }) }), now)).toBe("unreachable");
    expect(hostState(host("e", { last_scan: scan({ ok: false, error_code: "host_key_changed" }) }), now)).toBe("error");
    expect(hostState(host("d", { last_scan: scan({ finished_at: "2026-11-20T00:00:00Z" }) }), now)).toBe("stale");
  });
  it("counts the fleet", () => {
    const s = fleetStats([
      host("a", { pending_count: 3, security_count: 1 }),
      host("b", { last_ok_scan: scan({ reboot_required: true }), pending_count: 2 }),
      host("c", { last_scan: scan({ ok: false, error_code: "timeout", finished_at: "2026-11-24T11:30:00Z" }) }),
    ], now);
    expect(s).toMatchObject({ total: 3, ok: 2, unreachable: 1, reboot: 1, pending: 5, security: 1, hostsWithPending: 2 });
    expect(s.lastScan).toBe("2026-11-24T11:30:00Z");
  });
});

describe("filtering and sorting", () => {
  const hosts = [
    host("web-01", { groups: ["web", "office"], tags: ["pci"], pending_count: 5 }),
    host("db-01", { groups: ["db"], environment: "non-prod", pending_count: 1 }),
    host("web-02", { groups: ["web"], pending_count: 9 }),
  ];
  it("filters by text, group and environment", () => {
    expect(filterHosts(hosts, { query: "WEB", group: "", env: "" }).map((h) => h.name)).toEqual(["web-01", "web-02"]);
    expect(filterHosts(hosts, { query: "", group: "office", env: "" }).map((h) => h.name)).toEqual(["web-01"]);
    expect(filterHosts(hosts, { query: "", group: "", env: "non-prod" }).map((h) => h.name)).toEqual(["db-01"]);
  });
  it("filters by tag, and the search finds tags", () => {
    expect(filterHosts(hosts, { query: "", group: "", env: "", tag: "pci" }).map((h) => h.name)).toEqual(["web-01"]);
    expect(filterHosts(hosts, { query: "PC", group: "", env: "" }).map((h) => h.name)).toEqual(["web-01"]);
    expect(tagsOf(hosts)).toEqual(["pci"]);
  });
  it("a saved filter round-trips through the engine's shape", () => {
    const f = { query: " web ", group: "", env: "prod", tag: "pci" };
    expect(toSavedFilter(f)).toEqual({ query: "web", group: null, environment: "prod", tag: "pci" });
    expect(fromSavedFilter(toSavedFilter(f))).toEqual({ query: "web", group: "", env: "prod", tag: "pci" });
  });
  it("sorts by pending, both ways, ties by name", () => {
    expect(sortHosts(hosts, "pending", false).map((h) => h.name)).toEqual(["web-02", "web-01", "db-01"]);
    expect(sortHosts(hosts, "name", true).map((h) => h.name)).toEqual(["db-01", "web-01", "web-02"]);
  });
});

describe("virtual rows", () => {
  it("renders only the visible window of 1,000 rows", () => {
    const w = visibleWindow(3200, 640, 32, 1000, 5);
    expect(w.start).toBe(95);
    expect(w.end).toBe(125);
    expect(w.offset).toBe(95 * 32);
    expect(w.total).toBe(32000);
    expect(visibleWindow(0, 640, 32, 3).end).toBe(3);
  });
});

describe("formatting", () => {
  it("says how long ago", () => {
    expect(ago(null, now)).toBe("never");
    expect(ago("2026-11-24T11:59:30Z", now)).toBe("30s ago");
    expect(ago("2026-11-24T09:00:00Z", now)).toBe("3 h ago");
    expect(ago("2026-11-21T12:00:00Z", now)).toBe("3 d ago");
  });
  it("filters packages", () => {
    const p = [{ name: "pd-hello", version: "1.0-1", arch: "all", source: "pd-hello", source_version: "1.0-1", status: "ii" },
      { name: "libc6", version: "2.36", arch: "amd64", source: "glibc", source_version: "2.36", status: "ii" }];
    expect(filterPackages(p, "glibc").map((x) => x.name)).toEqual(["libc6"]);
    expect(filterPackages(p, "").length).toBe(2);
  });
});

import { byBucket, changeLine, changeWhy, countdown, reasonText, secondsLeftNow, secondsUntil } from "./view";

describe("gate reasons", () => {
  it("read as the CLI prints them, the verdict typed", () => {
    expect(reasonText({ verdict: "no-go", host: "web-2", message: "smoke test `x` failed (exit 1)" })).toBe("NO-GO web-2: smoke test `x` failed (exit 1)");
    expect(reasonText({ verdict: "go", host: "web-1", message: "now needs a reboot" })).toBe("web-1: now needs a reboot");
  });
});

describe("countdowns", () => {
  it("formats time left and overdue", () => {
    expect(countdown(2 * 86400 + 21 * 3600 + 59)).toBe("2d 21h");
    expect(countdown(5 * 3600 + 3 * 60)).toBe("5h 03m");
    expect(countdown(59)).toBe("0m 59s");
    expect(countdown(-(27 * 3600))).toBe("overdue 1d 3h");
    expect(countdown(null)).toBe("no deadline");
  });
  it("ticks from the engine's figure", () => {
    const fetched = new Date("2026-11-24T12:00:00Z");
    expect(secondsLeftNow(100, fetched, new Date("2026-11-24T12:00:30Z"))).toBe(70);
    expect(secondsLeftNow(10, fetched, new Date("2026-11-24T12:00:30Z"))).toBe(-20);
    expect(secondsLeftNow(null, fetched, fetched)).toBe(null);
  });
  it("counts down to an instant and never below zero", () => {
    const now = new Date("2026-11-25T13:00:00Z");
    expect(secondsUntil("2026-11-25T14:00:00Z", now)).toBe(3600);
    expect(secondsUntil("2026-11-25T12:00:00Z", now)).toBe(0);
    expect(countdown(secondsUntil("2026-11-25T12:00:00Z", now))).toBe("0m 00s");
    expect(secondsUntil(null, now)).toBe(null);
    expect(secondsUntil("not a date", now)).toBe(null);
  });
  it("describes a transaction's packages", () => {
    expect(changeLine({ package: "pd-libbar1", from_version: null, to_version: "1.0-1" })).toBe("pd-libbar1 (new) → 1.0-1");
    expect(changeLine({ package: "pd-agent", from_version: "2.0-1", to_version: null })).toBe("pd-agent 2.0-1 → (removed)");
    expect(changeWhy({ requested: true, kind: "upgrade" })).toBe("named");
    expect(changeWhy({ requested: false, kind: "upgrade" })).toBe("pulled in by apt");
    expect(changeWhy({ requested: false, kind: "install" })).toBe("new, pulled in by apt");
    expect(changeWhy({ requested: false, kind: "remove" })).toBe("REMOVED by apt");
  });
  it("groups by bucket in order", () => {
    const g = byBucket([{ bucket: "low", n: 1 }, { bucket: "critical", n: 2 }, { bucket: "critical", n: 3 }]);
    expect(g.critical.map((x) => x.n)).toEqual([2, 3]);
    expect(g.high).toEqual([]);
    expect(g.low.length).toBe(1);
  });
});

import { isoWeek, recentWeeks, scopeKey, scopeLabel, svgDataUrl, hoursText } from "./view";

describe("reports", () => {
  it("computes ISO weeks like the engine", () => {
    expect(isoWeek(new Date("2026-11-24T12:00:00Z"))).toBe("2026-W48");
    expect(isoWeek(new Date("2026-11-29T23:59:59Z"))).toBe("2026-W48");
    expect(isoWeek(new Date("2026-11-30T00:00:00Z"))).toBe("2026-W49");
    expect(isoWeek(new Date("2026-12-31T12:00:00Z"))).toBe("2026-W53");
    expect(isoWeek(new Date("2027-01-04T00:00:00Z"))).toBe("2027-W01");
    expect(recentWeeks(new Date("2026-11-24T12:00:00Z"), 3)).toEqual(["2026-W48", "2026-W47", "2026-W46"]);
  });
  it("names scopes and encodes the chart", () => {
    expect(scopeKey({ kind: "group", name: "web" })).toBe("group:web");
    expect(scopeLabel({ kind: "environment", name: "prod" })).toBe("Environment prod");
    expect(svgDataUrl("<svg a='1'>&</svg>")).toBe("data:image/svg+xml;charset=utf-8,%3Csvg%20a%3D'1'%3E%26%3C%2Fsvg%3E");
    expect(hoursText(null)).toBe("none yet");
    expect(hoursText(123)).toBe("5.1 days");
  });
});

describe("hosts PatchDesk cannot read (issue #9 item 21)", () => {
  const rocky = "Rocky Linux 9.3: neither dpkg nor rpm on this host; PatchDesk reads Debian/Ubuntu (dpkg) and RHEL-family (rpm) hosts";
  it("a host without dpkg is never counted as scanned or patched", () => {
    const failed = scan({ ok: false, error_code: "unsupported", error_message: rocky });
    const h = host("rocky", { last_scan: failed, last_ok_scan: null, package_count: 0 });
    expect(hostState(h, now)).toBe("error");
    const s = fleetStats([host("a"), h], now);
    expect([s.ok, s.error, s.pending, s.hostsWithPending]).toEqual([1, 1, 0, 0]);
  });
  it("the Dashboard lists the unreadable ones, not the never-scanned", () => {
    const comp = {
      scope: "fleet", with_deadline: 0, compliant: 0, percent: null, overdue: 0, open_critical: 0, open_high: 0,
      open_moderate: 0, open_low: 0, nearest_deadline: null, time_to_patch: [], unknown_patches: 0, unknown_security: 0,
      hosts_total: 3, hosts_fully_patched: 0, hosts_unknown: 3, hosts_percent: 0,
      not_assessed: [
        { host: "rocky", kind: "unreadable" as const, reason: rocky },
        { host: "new", kind: "never_scanned" as const, reason: "never scanned" },
        { host: "down", kind: "never_read" as const, reason: "never scanned successfully (cannot connect)" },
      ],
    };
    expect(unreadableHosts(comp).map((n) => n.host)).toEqual(["rocky"]);
    expect(unreadableHosts(null)).toEqual([]);
  });
});

import { checkMark, checkValue, goLines, restsOn, rollbackLines } from "./view";

describe("gate checklist and confirmations", () => {
  it("marks each check and shows the value beside its baseline", () => {
    expect(["passed", "failed", "inconclusive", "not_configured"].map(checkMark).join("")).toBe("✓✗?–");
    expect(checkValue({ value: "HTTP 500×5, p50 2 ms", baseline: "HTTP 200×5, p50 3 ms", status: "failed", detail: "HTTP 500 (expected 2xx)" }))
      .toBe("HTTP 500×5, p50 2 ms (baseline HTTP 200×5, p50 3 ms)");
    expect(checkValue({ value: null, baseline: null, status: "not_configured", detail: null })).toBe("not configured");
    expect(checkValue({ value: null, baseline: null, status: "not_configured", detail: "not available on this host (no systemd)" }))
      .toBe("not available on this host (no systemd)");
  });
  it("lists the hosts and versions a rollback or a go affects", () => {
    const c = { package: "pd-web", from_version: "1.0-1", to_version: "1.1-1" };
    const hosts = [
      { host: "pd-01", state: "applied", excluded: null, changes: [c] },
      { host: "pd-02", state: "pending", excluded: null, changes: [c] },
      { host: "pd-03", state: "failed", excluded: "gone", changes: [c] },
    ];
    expect(rollbackLines(hosts)).toEqual(["pd-01: pd-web 1.1-1 → 1.0-1"]);
    expect(goLines(hosts)).toEqual(["pd-01: pd-web 1.0-1 → 1.1-1", "pd-02: pd-web 1.0-1 → 1.1-1"]);
  });
  it("says which checks a go rests on", () => {
    const h = { checks: [{ kind: "reachable", status: "passed" }, { kind: "smoke", status: "not_configured" }, { kind: "http", status: "passed" }] };
    expect(restsOn([h, h])).toEqual(["reachable", "HTTP probe"]);
  });
});

describe("updates and what needs you now", () => {
  const patch = (host: string, pkg: string, over: Record<string, unknown> = {}) => ({
    host, package: pkg, candidate_version: "1.1-1", bucket: "critical", seconds_left: 3600, overdue: false, security: true,
    cves: [{ cve: "CVE-2026-1001" }], max_cvss: 9.8, ...over,
  });
  it("groups per-host patches into one row per update, most urgent first", () => {
    const rows = groupUpdates([
      patch("a", "pd-hello", { seconds_left: 7200 }),
      patch("b", "pd-hello", { seconds_left: 3600, held: true }),
      patch("a", "pd-tools", { bucket: "low", seconds_left: null, security: false, cves: [], max_cvss: null }),
      patch("a", "pd-kernel", { bucket: "moderate", seconds_left: -10, overdue: true, cves: [{ cve: "CVE-2026-2" }] }),
      patch("c", "pd-kernel", { bucket: "high", seconds_left: 99, cves: [{ cve: "CVE-2026-2" }, { cve: "CVE-2026-3" }] }),
    ]);
    expect(rows.map((r) => r.package)).toEqual(["pd-hello", "pd-kernel", "pd-tools"]);
    expect(rows[0].hosts.map((h) => h.host)).toEqual(["a", "b"]);
    expect(rows[0].seconds_left).toBe(3600);
    expect(rows[0].held).toBe(1);
    expect(filterUpdates(rows, { query: "", bucket: "", securityOnly: false, overdueOnly: false, heldOnly: true }).map((r) => r.package)).toEqual(["pd-hello"]);
    expect(rows[1]).toMatchObject({ bucket: "high", overdue: 1, seconds_left: -10, cves: ["CVE-2026-2", "CVE-2026-3"] });
    expect(rows[2].seconds_left).toBeNull();
  });
  it("names each vendor advisory once beside the CVEs, and finds the update by it", () => {
    const rows = groupUpdates([
      patch("r1", "pd-libfoo-libs", { cves: [{ cve: "CVE-2026-7", advisory_id: "RLSA-2026:0102" }, { cve: "CVE-2026-8", advisory_id: "RLSA-2026:0102" }] }),
      patch("r2", "pd-libfoo-libs", { cves: [{ cve: "CVE-2026-9", advisory_id: "RLSA-2026:0103" }, { cve: "CVE-2026-10", advisory_id: "CVE-2026-10" }] }),
    ]);
    expect(rows[0].advisories).toEqual(["RLSA-2026:0102", "RLSA-2026:0103"]);
    const f = { query: "rlsa-2026:0103", bucket: "", securityOnly: false, overdueOnly: false, heldOnly: false };
    expect(filterUpdates(rows, f)).toHaveLength(1);
    expect(filterUpdates(rows, { ...f, query: "ALSA-2026" })).toHaveLength(0);
  });
  it("links only well-formed CVE ids", () => {
    expect(cveLinks("CVE-2026-1001")?.nvd).toBe("https://nvd.nist.gov/vuln/detail/CVE-2026-1001");
    expect(cveLinks("CVE-2026-1001\"><script>")).toBeNull();
  });
  it("ranks gates, overdue, critical, host keys, unreachable, never scanned, old feeds", () => {
    const dep = (id: number, state: string, stageState: string, verdict: string | null) => ({
      id, name: "office pd-hello", state, current_stage: 0,
      stages: [{ idx: 0, name: "canary", state: stageState, verdict, hosts: [{}, {}] }],
    });
    const needs = needsYou({
      deployments: [dep(1, "running", "gate", "go"), dep(2, "running", "soaking", null), dep(3, "finished", "gate", "go")],
      patches: [patch("a", "pd-hello"), patch("a", "pd-kernel", { bucket: "moderate", overdue: true, seconds_left: -5 })],
      hosts: [
        host("ok"),
        host("keyed", { last_scan: scan({ ok: false, error_code: "host_key_changed" }) }),
        host("down", { last_scan: scan({ ok: false, error_code: "unreachable" }), security_count: 2 }),
        host("new", { last_scan: null, last_ok_scan: null }),
      ],
      sources: [
        { location: "fresh", format: "osv", age_secs: 3600, last_error: null },
        { location: "old", format: "nvd", age_secs: 3 * 86400, last_error: null },
        { location: "broken", format: "debian", age_secs: 60, last_error: "HTTP 500" },
      ],
    }, now);
    expect(needs.map((n) => n.key)).toEqual([
      "gate-1", "overdue-pd-kernel 1.1-1", "critical-pd-hello 1.1-1", "host-key-keyed", "unreachable-down", "never-scanned", "feed-old", "feed-broken",
    ]);
    expect(needs[0]).toMatchObject({ target: { view: "deploy", deployment: 1 }, verdict: "go" });
    expect(needs[2].title).toContain("1h 00m left");
    expect(needs[4].detail).toContain("2 security update(s)");
    expect(needs[7].detail).toContain("HTTP 500");
    expect(needsYou({ deployments: [], patches: [], hosts: [host("ok")], sources: [] }, now)).toEqual([]);
  });
});

describe("percentages", () => {
  it("never rounds up to 100", () => {
    expect(percentText(99.96)).toBe("99.9%");
    expect(percentText(100)).toBe("100%");
    expect(percentText(50)).toBe("50%");
    expect(percentText(33.333)).toBe("33.3%");
    expect(percentText(null)).toBe("–");
  });
});

describe("deploying an update from Patches", () => {
  const hs = [
    { name: "pd-01", groups: ["canary", "web", "office"] },
    { name: "pd-02", groups: ["canary", "db", "office"] },
    { name: "pd-03", groups: ["web", "office"] },
    { name: "pd-04", groups: ["db", "office"] },
    { name: "pd-05", groups: [] },
  ];
  it("deploys to exactly the affected hosts: the one host, the smallest group holding all, or the hosts themselves", () => {
    expect(deployScopeFor(["pd-03"], hs)).toEqual({ scope: "pd-03", hosts: [] });
    expect(deployScopeFor(["pd-01", "pd-02"], hs)).toEqual({ scope: "canary", hosts: ["pd-01", "pd-02"] });
    expect(deployScopeFor(["pd-01", "pd-03", "pd-01"], hs)).toEqual({ scope: "web", hosts: ["pd-01", "pd-03"] });
    expect(deployScopeFor(["pd-01", "pd-04"], hs)).toEqual({ scope: "office", hosts: ["pd-01", "pd-04"] });
    // No group holds pd-05: the hosts are the scope.
    expect(deployScopeFor(["pd-01", "pd-05"], hs)).toEqual({ scope: "", hosts: ["pd-01", "pd-05"] });
    // A host no longer in the inventory is left out.
    expect(deployScopeFor(["pd-09", "pd-01"], hs)).toEqual({ scope: "pd-01", hosts: [] });
    expect(deployScopeFor(["pd-09"], hs)).toBeNull();
    expect(deployScopeFor([], hs)).toBeNull();
  });
  it("filters update rows by text, bucket, security and overdue", () => {
    const p = (host: string, pkg: string, over: Record<string, unknown> = {}) => ({
      host, package: pkg, candidate_version: "1.1-1", bucket: "critical", seconds_left: 10, overdue: false, security: true,
      cves: [{ cve: "CVE-2026-1001" }], max_cvss: null, ...over,
    });
    const rows = groupUpdates([p("a", "pd-hello"), p("b", "pd-tools", { bucket: "low", security: false, cves: [] }), p("c", "pd-kernel", { overdue: true, cves: [] })]);
    const f = { query: "", bucket: "", securityOnly: false, overdueOnly: false };
    expect(filterUpdates(rows, { ...f, query: "cve-2026-1001" }).map((r) => r.package)).toEqual(["pd-hello"]);
    expect(filterUpdates(rows, { ...f, query: "b" }).map((r) => r.package)).toEqual(["pd-tools"]);
    expect(filterUpdates(rows, { ...f, bucket: "low" }).map((r) => r.package)).toEqual(["pd-tools"]);
    expect(filterUpdates(rows, { ...f, securityOnly: true }).length).toBe(2);
    expect(filterUpdates(rows, { ...f, overdueOnly: true }).map((r) => r.package)).toEqual(["pd-kernel"]);
  });
});

describe("familyText", () => {
  it("names the package manager of each family, and says when there is none", () => {
    expect(familyText("deb")).toBe("dpkg / apt (Debian family)");
    expect(familyText("rpm")).toBe("rpm / dnf (RHEL family)");
    expect(familyText(null)).toBe("not managed (no dpkg or rpm family)");
    expect(familyText(undefined)).toBe("–");
  });
});

describe("host detail words", () => {
  it("says dpkg statuses in words", () => {
    expect(dpkgStatusText("ii")).toBe("installed");
    expect(dpkgStatusText("hi ")).toBe("installed, held");
    expect(dpkgStatusText("rc")).toBe("removed, config files left");
    expect(dpkgStatusText("iU")).toBe("unpacked, not configured");
    expect(dpkgStatusText("iiR")).toBe("installed, needs reinstall");
    expect(dpkgStatusText("<b>")).toBe("<b>");
  });
  it("shows absolute and relative time", () => {
    expect(whenText("2026-11-24T11:00:00Z", now)).toContain("1 h ago");
    expect(whenText(null, now)).toBe("never");
  });
});

describe("keySourceText", () => {
  it("says where the key trusted until now came from", () => {
    expect(keySourceText({ fingerprint: "SHA256:a", source: { kind: "known_hosts", file: "/etc/kh", line: 3 } }))
      .toBe("not pinned: trusted from /etc/kh line 3 (known_hosts files in Settings)");
    expect(keySourceText({ fingerprint: "SHA256:a", source: { kind: "pinned_from_known_hosts", file: "/etc/kh" } })).toContain("first scan, from /etc/kh");
    expect(keySourceText({ fingerprint: "SHA256:a", source: { kind: "accepted" } })).toContain("accepted its fingerprint");
    expect(keySourceText(null)).toContain("none recorded");
  });
});
