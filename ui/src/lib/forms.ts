// Forms checked before anything is sent: each function returns the errors by field (shown next
// to the field), with the same rules the engine applies (host.rs validate, the plan's waves), so
// a person never sees a refusal from the IPC layer. Pure; tested in forms.test.ts.

export type FieldErrors = Record<string, string>;

const LABEL = /^[A-Za-z0-9._:/-]{1,64}$/;

/** Groups (or tags) typed as "web, office db". */
export function labelsOf(text: string): string[] {
  return text.split(/[\s,;]+/).map((g) => g.trim()).filter(Boolean);
}

export interface HostForm { address: string; port: number | string; user: string; key: string; env: string; groups: string; tags?: string }

/** Tags as the engine takes them (the bulk bar on Hosts and a host's Edit form): empty when valid. */
export function tagsError(tags: string[]): string {
  const bad = tags.filter((t) => !LABEL.test(t));
  return bad.length ? `${bad.map((t) => `"${t}"`).join(", ")}: a tag is letters, digits, '.', '-', '_', ':' or '/'.` : "";
}

/** A host's connection fields, as host.rs `HostSpec::validate` checks them. */
export function hostFormErrors(f: HostForm): FieldErrors {
  const out: FieldErrors = {};
  const a = f.address.trim();
  if (!a) out.address = "Give the host name or IP address PatchDesk connects to.";
  else if (a.length > 253 || !/^[A-Za-z0-9.:_\[\]-]+$/.test(a)) out.address = "Not a host name or IP address (letters, digits, '.', '-', ':').";
  const p = Number(f.port);
  if (!Number.isInteger(p) || p < 1 || p > 65535) out.port = "A port is a whole number from 1 to 65535.";
  const u = f.user.trim();
  if (!u) out.user = "Give the login user (root, or a user allowed sudo -n).";
  else if (u.length > 32 || u.startsWith("-") || !/^[A-Za-z0-9_.-]+$/.test(u)) out.user = "Not a valid login name (letters, digits, '_', '-', '.').";
  const k = f.key.trim();
  if (k && !k.startsWith("/") && !k.startsWith("~/")) out.key = "Give the key file's full path (/… or ~/…), or leave it empty to use ssh-agent.";
  if (f.env !== "prod" && f.env !== "non-prod") out.env = "Choose prod or non-prod.";
  const bad = labelsOf(f.groups).filter((g) => !LABEL.test(g));
  if (bad.length) out.groups = `${bad.map((g) => `"${g}"`).join(", ")}: a group is letters, digits, '.', '-', '_', ':' or '/'.`;
  const tags = tagsError(labelsOf(f.tags ?? ""));
  if (tags) out.tags = tags;
  return out;
}

/** Production waves typed as "5,25,50,100": cumulative percentages, whole numbers from 1 to
 *  100, each larger than the one before. */
export function parseWaves(text: string): { waves: number[] } | { error: string } {
  const parts = text.split(",").map((w) => w.trim());
  if (parts.length === 1 && parts[0] === "") return { error: "Give at least one wave, e.g. 100 (all at once) or 5,25,50,100." };
  const bad = parts.filter((w) => !/^\d{1,3}$/.test(w) || Number(w) < 1 || Number(w) > 100);
  if (bad.length) return { error: `${bad.map((w) => `"${w}"`).join(", ")}: each wave is a whole percentage from 1 to 100.` };
  const waves = parts.map(Number);
  for (let i = 1; i < waves.length; i++) {
    if (waves[i] <= waves[i - 1]) return { error: `The waves are cumulative: ${waves[i]} % must be more than ${waves[i - 1]} %.` };
  }
  return { waves };
}

/** Hours of canary soak: a whole number from 0 to 168. */
export function soakError(v: number | string): string | null {
  const n = Number(v);
  return String(v).trim() !== "" && Number.isInteger(n) && n >= 0 && n <= 168 ? null : "The soak is a whole number of hours from 0 to 168.";
}

/** A rollback drill: a group and at least one package name. */
export function drillErrors(scope: string, packages: string): FieldErrors {
  const out: FieldErrors = {};
  if (!scope) out.scope = "Choose the group to rehearse on (its non-prod hosts).";
  const names = labelsOf(packages);
  if (!names.length) out.packages = "Name the package(s) to apply and roll back, e.g. one with an update pending.";
  else {
    const bad = names.filter((p) => !/^[a-z0-9][a-z0-9+.-]*$/.test(p));
    if (bad.length) out.packages = `${bad.map((p) => `"${p}"`).join(", ")}: not a package name (lower-case letters, digits, '+', '-', '.').`;
  }
  return out;
}
