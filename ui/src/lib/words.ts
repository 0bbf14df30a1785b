// What a person reads: engine sentences whose next step names a CLI command get the app's next
// step instead (the engine's texts are shared with the CLI; the app renders them here, once),
// and errors of the IPC layer itself become sentences. Pure; tested in words.test.ts.

/** CLI next steps → where the same thing is done in the app. Each pattern is one engine text
 *  (words.test.ts checks every `patchdesk …` string in the engine's sources is covered). */
const APP_STEPS: [RegExp, string][] = [
  [/then run `patchdesk host trust [^`]* --replace` only if the new key is genuine/g,
    "then re-trust it on the host's page (Hosts → the host → Trust the new key) only if the new key is genuine"],
  [/then accept it with `patchdesk host trust [^`]*`/g, "then accept it in Add hosts → First contact"],
  [/then pin it with `patchdesk host trust [^`]*`/g, "then pin it in Add hosts → First contact"],
  [/Run `patchdesk host list` to see the known hosts\./g, "Hosts lists the known hosts."],
  [/Run `patchdesk host list` to see the groups\./g, "Hosts lists the groups."],
  [/`patchdesk host list` shows the hosts and their groups/g, "Hosts lists the hosts and their groups"],
  [/`patchdesk deploy list` shows them/g, "Deployments lists them"],
  [/Decide no-go \(`patchdesk deploy no-go \d+`\), or override it with a written reason \(`patchdesk deploy go [^`]*`\)/g,
    "Decide no-go, or override it with a written reason (Go… at the gate)"],
  [/`patchdesk deploy status \d+` lists its hosts/g, "the deployment's page in Deployments lists its hosts"],
  [/roll it back \(`patchdesk deploy rollback [^`]*`\)/g, "roll it back (Deployments → the deployment → Roll back)"],
  [/ \(`patchdesk deploy exclude [^`]*`\)/g, " (or leave it out: Exclude… beside the host, with a reason)"],
  [/at the next `patchdesk deploy start \d+`/g, "when the deployment is next advanced (Deployments → Advance)"],
  [/run `patchdesk deploy start \d+` again/g, "advance the deployment again (Deployments → Advance)"],
  [/`patchdesk deploy selection list` shows them/g, "the deploy wizard lists them"],
  [/Run `patchdesk jobs` to see them\./g, "Activity lists them."],
  [/\(`patchdesk automation schedule [^`]* --on` turns it on\)/g, "(turn it on in Settings → Automation)"],
  [/\(`patchdesk automation resume`\)/g, "(resume it in Activity)"],
  [/change the schedule \(`patchdesk automation schedule [^`]*`\)/g, "change the schedule in Settings → Automation"],
  [/\(`patchdesk advisories sync --from URL` adds one\)/g, "(add one in Patches → Advisory feeds)"],
  [/plan it yourself \(`patchdesk deploy plan [^`]*`\)/g, "plan it yourself (Patches → Deploy to N hosts…)"],
  [/ \(--reason "…"\); nothing was changed/g, " (write it in the reason field); nothing was changed"],
  [/, or add --wait to wait for it/g, ", or wait for it to finish"],
  [/use --format ssh-config, ansible-ini, ansible-yaml or csv/g,
    "use an ~/.ssh/config file, an Ansible inventory (INI or YAML) or a CSV file"],
];

/** An engine sentence as the app says it: CLI next steps replaced by the app's; a command that
 *  has no entry above is never shown as a command line. */
export function appText(message: string | null | undefined): string {
  let t = message ?? "";
  for (const [re, to] of APP_STEPS) t = t.replace(re, to);
  return t.replace(/`patchdesk [^`]*`/g, "the matching action in PatchDesk").replace(/ --format\b/g, " the format");
}

/** An error of the IPC layer (Tauri's own text, e.g. "invalid args `request` for command
 *  `deploy_plan`: …") as a sentence; anything else through `appText`. */
export function ipcText(raw: string): string {
  const args = /invalid args `([^`]+)` for command `([^`]+)`/.exec(raw);
  if (args) {
    return `PatchDesk could not read what this form sent (${args[1].replace(/_/g, " ")}); nothing was changed. Check the fields and try again; if it happens again, report it.`;
  }
  if (/^(command \S+ not found|.*not allowed)/i.test(raw)) {
    return "This action is not available in this window; nothing was changed. Restart PatchDesk; if it happens again, report it.";
  }
  return appText(raw);
}

const normFp = (s: string) => s.trim().replace(/^SHA256:/, "").replace(/=+$/, "");

/** The re-trust form checked before sending: the pasted fingerprint (a SHA256 fingerprint that
 *  matches what the host presents now) and a reason. Keys are the fields in error. */
export function fingerprintErrors(expected: string, offered: string | null, reason: string): { expected?: string; reason?: string } {
  const out: { expected?: string; reason?: string } = {};
  const e = expected.trim();
  if (!e) out.expected = "Paste the new fingerprint the host's owner gave you.";
  else if (!/^(SHA256:)?[A-Za-z0-9+/]{43}=?$/.test(e)) out.expected = "This is not a SHA256 fingerprint (SHA256: followed by 43 letters, digits, + or /).";
  else if (offered && normFp(e) !== normFp(offered)) out.expected = "It does not match the key the host presents now. Do not trust it: check with the host's owner that you reach the right host.";
  if (!reason.trim()) out.reason = "Say why the new key is genuine (who re-keyed the host, a ticket).";
  return out;
}
