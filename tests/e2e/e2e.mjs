// End-to-end test of the real PatchDesk window (WebKit under Xvfb) through tauri-driver and
// WebKitWebDriver, against the real test fleet. Plain W3C WebDriver over HTTP: no client library.
// Run by tests/e2e/run.sh, which sets up Xvfb, a D-Bus session with a notification daemon,
// tauri-driver, the fleet and a throw-away database.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { screenshotRoot } from "./screen.mjs";
import { newSession, sleep, wd } from "./webdriver.mjs";

const APP = process.env.PATCHDESK_APP;
const FLEET = JSON.parse(fs.readFileSync(process.env.PATCHDESK_FLEET, "utf8"));
const ART = process.env.ARTIFACTS ?? "tests/artifacts";
const NOTIFY_LOG = process.env.NOTIFY_LOG;
fs.mkdirSync(ART, { recursive: true });

let passed = 0;
let failed = 0;
function check(name, ok, detail = "") {
  if (ok) { passed++; console.log(`ok   ${name}`); }
  else { failed++; console.log(`FAIL ${name} ${detail}`); }
}


const session = await newSession(APP);
const S = `/session/${session.sessionId}`;
const ELEM = "element-6066-11e4-a52e-4f735466cecf";
const find = async (css) => (await wd("POST", `${S}/element`, { using: "css selector", value: css }))[ELEM];
const findAll = async (css) => (await wd("POST", `${S}/elements`, { using: "css selector", value: css })).map((e) => e[ELEM]);
const click = async (css) => wd("POST", `${S}/element/${await find(css)}/click`, {});
const type = async (css, text) => {
  const id = await find(css);
  await wd("POST", `${S}/element/${id}/clear`, {});
  if (text) await wd("POST", `${S}/element/${id}/value`, { text });
};
const text = async (css) => wd("GET", `${S}/element/${await find(css)}/text`);
const exec = (script, args = []) => wd("POST", `${S}/execute/sync`, { script, args });
async function waitFor(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { const v = await fn(); if (v) return v; } catch (e) { last = e; }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? ": " + last.message : ""}`);
}
async function shot(name) {
  await sleep(300);
  const b64 = await wd("GET", `${S}/screenshot`);
  fs.writeFileSync(path.join(ART, `${name}.png`), Buffer.from(b64, "base64"));
}
// E2E_ONLY=regex (to iterate on a few steps): only the steps whose name matches run, plus the
// ones every later step builds on (the fleet imported, its keys trusted, scanned).
const ONLY = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY, "i") : null;
const BASE = ["import the fleet from CSV", "accept a host key after seeing its fingerprint", "settings: trust the fleet's known_hosts", "scan all hosts with live progress"];
async function step(name, f) {
  if (ONLY && !BASE.includes(name) && !ONLY.test(name)) { console.log(`skip ${name}`); return; }
  try { await f(); } catch (e) {
    check(name, false, e.message);
    await shot("FAILED-" + name.replace(/[^a-z0-9]+/gi, "-")).catch(() => {});
  }
}
/** Call one of the app's commands the way the UI does (the IPC bridge every Tauri page has; the
 *  capability decides what it may call). Resolves to {ok} or {err}. */
const invoke = (cmd, args = {}) =>
  exec(`return window.__TAURI_INTERNALS__.invoke(arguments[0], arguments[1]).then((ok) => ({ ok }), (err) => ({ err }))`, [cmd, args]);

/** A native (GTK) dialog: a window of its own, outside the webview. Wait for it, photograph the
 *  whole screen, then answer it with a real key press (X test events through xdotool): Return
 *  presses its first button (Allow / Override), Escape cancels. */
// The Deploy view opens on the last deployment it showed; "All deployments" leads back to a new plan.
async function openDeployWizard() {
  await click("#nav-deploy");
  await exec(`[...document.querySelectorAll('#run-view button')].find(b => b.textContent === 'All deployments')?.click()`);
  await waitFor("select step", () => find("#deploy-scope"));
}

async function nativeDialog(title, key, shotName) {
  const id = await waitFor(`native dialog "${title}"`, () => {
    try { return execFileSync("xdotool", ["search", "--name", title], { encoding: "utf8" }).trim().split("\n")[0]; } catch { return ""; }
  }, 15000);
  await sleep(700); // drawn
  if (shotName) screenshotRoot(path.join(ART, `${shotName}.png`));
  execFileSync("xdotool", ["windowfocus", "--sync", id]);
  execFileSync("xdotool", ["key", "--clearmodifiers", key]);
  await waitFor("the dialog to close", () => {
    try { execFileSync("xdotool", ["search", "--name", title]); return false; } catch { return true; }
  }, 10000);
}

/** The Hosts table's header: each column header sits over its column (≤ 1 px; the select-all box
 *  over the rows' boxes) and no header's text is cut (measured in its own font). */
async function checkHostsHeader(where) {
  const cols = await exec(`const vis = (e) => e.offsetParent !== null;
    const box = (e) => { const r = e.getBoundingClientRect(); return [Math.round(r.left * 10) / 10, Math.round(r.width * 10) / 10]; };
    const heads = [...document.querySelectorAll('.table.hosts .row.head [role=columnheader]')].filter(vis);
    const row = document.querySelector('.sel-row');
    const cells = [...row.querySelectorAll('.host-row .cell')].filter(vis).map(box);
    const mid = (e) => { const r = e.getBoundingClientRect(); return Math.round((r.left + r.width / 2) * 10) / 10; };
    const ctx = document.createElement('canvas').getContext('2d');
    const cut = heads.filter((c) => {
      const cs = getComputedStyle(c);
      ctx.font = cs.fontWeight + ' ' + cs.fontSize + ' ' + cs.fontFamily;
      return ctx.measureText(c.innerText.trim()).width > c.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) + 1;
    }).map((c) => c.innerText.trim());
    return { heads: heads.map(box), cells, cut, boxes: [mid(document.querySelector('#select-all')), mid(row.querySelector('.host-select'))] };`);
  check(`${where}: no column header is cut`, cols.cut.length === 0, cols.cut.join(","));
  const off = cols.heads.map((hd, i) => Math.max(Math.abs(hd[0] - (cols.cells[i]?.[0] ?? 1e9)), Math.abs(hd[1] - (cols.cells[i]?.[1] ?? 1e9))));
  check(`${where}: each header is over its column (≤ 1 px)`,
    cols.heads.length >= 6 && cols.heads.length === cols.cells.length && off.every((d) => d <= 1) && Math.abs(cols.boxes[0] - cols.boxes[1]) <= 1,
    JSON.stringify({ off, boxes: cols.boxes }));
}

/** A native (GTK) file chooser: wait for its window, photograph the screen, then type the path into
 *  its location field (Ctrl+L) and press Return, as a person would (X test events through xdotool).
 *  False when no chooser appeared. Visible windows only: GTK keeps a closed chooser's window
 *  around unmapped. */
async function nativeFilePick(title, file, shotName, { replace = false } = {}) {
  let id = "";
  try {
    id = await waitFor(`file chooser "${title}"`, () => {
      try { return execFileSync("xdotool", ["search", "--onlyvisible", "--name", title], { encoding: "utf8" }).trim().split("\n")[0]; } catch { return ""; }
    }, 15000);
  } catch { return false; }
  await sleep(800); // drawn
  if (shotName) screenshotRoot(path.join(ART, `${shotName}.png`));
  execFileSync("xdotool", ["windowfocus", "--sync", id]);
  execFileSync("xdotool", ["key", "--clearmodifiers", "ctrl+l"]);
  await sleep(400);
  // A save dialog's name field comes filled in (the suggested name): replace it.
  if (replace) { execFileSync("xdotool", ["key", "--clearmodifiers", "ctrl+a"]); await sleep(200); }
  // Typed as a person types it: the path, without a trailing "/" (GTK would complete into the
  // folder's only subfolder), Delete to drop the completion GTK offers selected, then Return.
  // The app opens every chooser in a folder, so a folder chooser answers (on "Recent" it cannot).
  execFileSync("xdotool", ["type", "--delay", "15", file]);
  await sleep(600);
  execFileSync("xdotool", ["key", "--clearmodifiers", "Delete"]);
  await sleep(300);
  execFileSync("xdotool", ["key", "--clearmodifiers", "Return"]);
  const closed = () => { try { execFileSync("xdotool", ["search", "--onlyvisible", "--name", title]); return false; } catch { return true; } };
  try { await waitFor("the file chooser to close", closed, 10000); } catch {
    // Never leave a chooser open over the window (it would hold the later steps): cancel it.
    execFileSync("xdotool", ["windowfocus", "--sync", id]);
    execFileSync("xdotool", ["key", "--clearmodifiers", "Escape"]);
    return false;
  }
  return true;
}

/** A field's value once the app has filled it in (a picked path arrives asynchronously). */
const fieldValue = async (css, want) => {
  try { return await waitFor(`${css} = ${want}`, async () => ((await exec(`return document.querySelector(arguments[0]).value`, [css])) === want ? want : ""), 10000); }
  catch { return exec(`return document.querySelector(arguments[0]).value`, [css]); }
};

/** The same view in the dark theme too (NAME-dark.png): set as Settings sets it, then put back. */
async function shotDark(name) {
  const was = await exec(`const d = document.documentElement; const w = d.getAttribute('data-theme'); d.setAttribute('data-theme', 'dark'); return w`);
  await sleep(250);
  await shot(`${name}-dark`);
  await exec(`const d = document.documentElement; if (arguments[0] === null) d.removeAttribute('data-theme'); else d.setAttribute('data-theme', arguments[0]);`, [was]);
}

/** Set an input's value the way typing does (Svelte listens to `input`). */
const setValue = (css, value) =>
  exec(`const e = document.querySelector(arguments[0]); e.value = arguments[1]; e.dispatchEvent(new Event('input', {bubbles: true}));`, [css, value]);

try {
  await step("dashboard starts empty", async () => {
    const t = await waitFor("dashboard", () => text("main"));
    check("dashboard starts empty", t.includes("No hosts yet"), t);
    await shot("01-dashboard-empty");
  });

  await step("the window's attack surface: no global API, only its own commands", async () => {
    const globals = await exec(`return [typeof window.__TAURI__, typeof window.__TAURI_INTERNALS__]`);
    check("withGlobalTauri is off (the UI imports @tauri-apps/api)", globals[0] === "undefined", globals.join(","));
    const dialog = await invoke("plugin:dialog|message", { message: "from the page" });
    check("the page cannot open dialogs itself (only Rust does, to confirm)", String(dialog.err ?? "").includes("not allowed"), JSON.stringify(dialog));
    const win = await invoke("plugin:window|title", { label: "main" });
    check("nor call core plugins it was not given", String(win.err ?? "").includes("not allowed"), JSON.stringify(win));
    // PATCHDESK_TEST_PANIC_ONCE=get_policy (set by run.sh): the first call panics inside the
    // command; the window gets an error reply and keeps working.
    const first = await invoke("get_policy");
    check("a panic inside a command is an error reply, not a dead app",
      first.err?.code === "internal" && first.err.message.includes("internal error in get_policy"), JSON.stringify(first));
    const again = await invoke("get_policy");
    check("the next call works", again.ok?.critical_days === 7, JSON.stringify(again));
    check("the window is alive", (await text("main")).includes("No hosts yet"));
  });

  await step("import the fleet from CSV", async () => {
    await click("#nav-add");
    // The native file chooser, answered with the keyboard; the chosen file is previewed at once.
    const csv = path.join(FLEET.dir, "hosts.csv");
    await click("#import-pick");
    const picked = await nativeFilePick("Import hosts from a file", csv, "02a-native-file-chooser");
    check("the native file chooser picks the CSV", picked && (await exec(`return document.querySelector('#import-path').value`)) === csv);
    if (!picked) { await type("#import-path", csv); await click("#import-preview"); } // the typed-path fallback
    await waitFor("preview", async () => (await text("main")).includes("pd-06"));
    await click("#import-go");
    const msg = await waitFor("import message", () => text("#add-message"));
    check("import the fleet from CSV", msg.includes(`Imported ${FLEET.hosts.length} hosts`), msg);
  });

  await step("accept a host key after seeing its fingerprint", async () => {
    const host = "pd-05";
    const hostRoot = FLEET.hosts.find((h) => h.name === host).root;
    const real = execFileSync("ssh-keygen", ["-lf", path.join(hostRoot, "etc/ssh/ssh_host_ed25519_key.pub")], { encoding: "utf8" }).split(" ")[1];
    await exec(`const s = document.querySelector('#key-host'); s.value = arguments[0]; s.dispatchEvent(new Event('change', {bubbles: true}));`, [host]);
    await click("#key-fetch");
    const fp = await waitFor("fingerprint", () => text("#key-fingerprint"));
    check("the fingerprint shown is the host's real key", fp.trim() === real, `${fp} vs ${real}`);
    await shot("02-add-hosts-fingerprint");
    await click("#key-accept");
    const msg = await waitFor("trusted", async () => {
      const t = await text("#add-message");
      return t.includes("Trusted") ? t : "";
    });
    check("accept a host key after seeing its fingerprint", msg.includes(`Trusted ${host}`), msg);
  });

  await step("settings: trust the fleet's known_hosts", async () => {
    await click("#nav-settings");
    await waitFor("settings", () => find("#set-known-hosts"));
    await setValue("#set-known-hosts", "");
    await click("#known-hosts-pick");
    const picked = await nativeFilePick("Add a known_hosts file", FLEET.known_hosts);
    const field = await fieldValue("#set-known-hosts", FLEET.known_hosts);
    check("the native file chooser adds the known_hosts file", picked && field === FLEET.known_hosts, JSON.stringify(field));
    if (!picked) await type("#set-known-hosts", FLEET.known_hosts); // the typed-path fallback
    await click("#settings-save");
    await waitFor("saved", async () => (await text("main")).includes("Settings saved"));
    const db = await text("#db-path");
    check("settings show the database and save", db === process.env.PATCHDESK_DB, db);
    await shot("03-settings");
  });

  await step("settings: a group's maintenance window and snapshot hook", async () => {
    const cli = (...args) => execFileSync(process.env.PATCHDESK_CLI, ["--db", process.env.PATCHDESK_DB, ...args], { encoding: "utf8" });
    const pick = () => exec(`[...document.querySelectorAll('#groups-table button')].find(b => b.textContent === 'db').click()`);
    await waitFor("groups", async () => (await text("#groups-table")).includes("db"));
    await pick();
    await setValue("#group-window", "someday 25:00");
    await click("#group-save");
    const err = await waitFor("window refused", () => text("#settings-error"));
    check("a malformed window is refused with a clear sentence", err.includes("maintenance window") && err.includes("someday"), err);
    await setValue("#group-window", "sat 22:00-06:00");
    await setValue("#group-snapshot", "true snapshot");
    await setValue("#group-restore", "true restore");
    await exec(`const s = document.querySelector('#group-hook-on'); s.value = 'local'; s.dispatchEvent(new Event('change', {bubbles: true}));`);
    // A local hook runs on this computer: a native dialog asks first. Cancel: nothing changes.
    await click("#group-save");
    await nativeDialog("run commands on this computer", "Escape", "03b-native-dialog-local-hook");
    const refused = await waitFor("not confirmed", () => text("#settings-error"));
    check("cancelling the native dialog changes nothing", refused.includes("not confirmed; nothing was changed") && !/db/.test(cli("deploy", "window")), refused);
    await click("#group-save");
    await nativeDialog("run commands on this computer", "Return");
    await waitFor("group saved", async () => (await text("main")).includes("Group db saved"));
    const row = await exec(`return [...document.querySelectorAll('#groups-table tbody tr')].map(r => r.innerText).find(t => t.startsWith('db'))`);
    check("the group shows its window and hook", row.includes("sat 22:00-06:00") && row.includes("true snapshot / true restore (on local)"), row);
    check("the engine has them (read back by the CLI)", /db\s+sat 22:00-06:00/.test(cli("deploy", "window")), cli("deploy", "window"));
    await shot("03c-settings-groups");
    // Empty fields remove both, so the deployment below runs at any time.
    await setValue("#group-window", "");
    await setValue("#group-snapshot", "");
    await setValue("#group-restore", "");
    await click("#group-save");
    await waitFor("cleared", async () => {
      const r = await exec(`return [...document.querySelectorAll('#groups-table tbody tr')].map(r => r.innerText).find(t => t.startsWith('db'))`);
      return r.includes("any time") && r.includes("none");
    });
    check("clearing removes the window", !cli("deploy", "window").includes("db"));
    // The office group's smoke test: the wizard below starts from it.
    await exec(`[...document.querySelectorAll('#groups-table button')].find(b => b.textContent === 'office').click()`);
    await waitFor("office form", async () => (await text("#group-form h3")) === "office");
    await setValue("#group-smoke", "pd-hello-smoke");
    await click("#group-save");
    await waitFor("office saved", async () => (await text("main")).includes("Group office saved"));
    check("the group's smoke test is stored", cli("deploy", "smoke", "--group", "office").includes("office: pd-hello-smoke"));
  });

  await step("scan all hosts with live progress", async () => {
    await click("#nav-scan");
    await click("#scan-start");
    const summary = await waitFor("scan summary", () => text("#scan-summary"), 60000);
    const running = FLEET.hosts.filter((h) => h.running).length;
    check("scan all hosts with live progress", summary.startsWith(`${running} ok, ${FLEET.hosts.length - running} failed`), summary);
    const rows = await findAll("#scan-table tbody tr");
    check("one progress row per host", rows.length === FLEET.hosts.length, String(rows.length));
    const t = await text("#scan-table");
    check("the unreachable host's error says what to do", t.includes("Check the host is up"), t);
    await shot("04-scan");
  });

  await step("desktop notification", async () => {
    const log = await waitFor("notification", () => {
      const l = fs.readFileSync(NOTIFY_LOG, "utf8");
      return l.includes("Scan finished") ? l : "";
    }, 10000);
    const line = log.split("\n").find((l) => l.includes("Scan finished"));
    check("a 'Scan finished' notification reached the notification daemon", /PatchDesk/.test(line) && /failed: pd-06/.test(line), line);
  });

  await step("hosts table: search and filters", async () => {
    await click("#nav-hosts");
    await waitFor("rows", async () => (await findAll(".host-row")).length === FLEET.hosts.length);
    await shot("05-hosts");
    await exec(`const s = document.querySelector('#env-filter'); s.value = 'non-prod'; s.dispatchEvent(new Event('change', {bubbles: true}));`);
    const names = await waitFor("filtered", async () => {
      const rows = await exec(`return [...document.querySelectorAll('.host-row')].map(r => r.dataset.host)`);
      return rows.length === 2 ? rows : null;
    });
    check("filter by environment", names.join(",") === "pd-01,pd-02", names.join(","));
    await exec(`const s = document.querySelector('#env-filter'); s.value = ''; s.dispatchEvent(new Event('change', {bubbles: true}));`);
    await type("#host-search", "pd-03");
    const one = await waitFor("search", async () => {
      const rows = await exec(`return [...document.querySelectorAll('.host-row')].map(r => r.dataset.host)`);
      return rows.length === 1 ? rows : null;
    });
    check("search the table", one[0] === "pd-03", one.join(","));
    await shot("06-hosts-filtered");
    await setValue("#host-search", "");
  });

  await step("host detail: packages of pd-01", async () => {
    await waitFor("row", () => find('.host-row[data-host="pd-01"]'));
    await click('.host-row[data-host="pd-01"]');
    await waitFor("detail", async () => (await text("#host-title")).startsWith("pd-01"));
    const pending = await text("#pending-table");
    check("pending updates with origin suite", pending.includes("pd-hello") && pending.includes("bookworm-security"), pending);
    await shot("07-host-pending");
    await click("#tab-packages");
    await type("#package-filter", "pd-");
    const pk = await waitFor("packages", async () => {
      const rows = await exec(`return [...document.querySelectorAll('#package-table tbody tr')].map(r => r.innerText)`);
      return rows.length === 6 ? rows : null;
    });
    check("installed packages with instant filter", pk.some((r) => r.includes("pd-hello") && r.includes("1.0-1")), pk.join(" | "));
    await shot("08-host-packages");
  });

  await step("unreachable host shows its error", async () => {
    await click("#nav-hosts");
    await click('.host-row[data-host="pd-06"]');
    const err = await waitFor("error", () => text("#host-error"));
    check("unreachable host shows its error and next step", err.includes("cannot connect") && err.includes("Check the host is up"), err);
    await shot("09-host-unreachable");
  });

  await step("dashboard after the scan", async () => {
    await click("#nav-dashboard");
    const u = await waitFor("cards", () => text("#card-unreachable"));
    check("dashboard counts the unreachable host", u.startsWith("1"), u);
    const r = await text("#card-reboot");
    check("dashboard counts hosts needing a reboot", r.startsWith(String(FLEET.hosts.filter((h) => h.reboot_required && h.running).length)), r);
    const drills = await text("#card-drills");
    check("the dashboard warns about groups without a rollback drill in 90 days", drills.includes("no rollback drill in 90 days") && drills.includes("canary"), drills);
    const needs = await waitFor("needs you now", async () => {
      const k = await exec(`return [...document.querySelectorAll('#needs .need')].map(e => e.dataset.key)`);
      return k.includes("unreachable-pd-06") ? k : null;
    });
    check("needs you now lists the unreachable host", needs.includes("unreachable-pd-06"), needs.join(","));
    const fully = await text("#card-fully-patched");
    const patched = FLEET.hosts.filter((h) => h.running && h.name === "pd-04").length;
    check("hosts fully patched: the unreachable host is unknown, never patched",
      fully.includes(`${patched} of ${FLEET.hosts.length}`) && fully.includes("1 unknown") && !fully.startsWith("100"), fully);
    await shot("10-dashboard");
    await click('#needs .need[data-key="unreachable-pd-06"] .need-open');
    const title = await waitFor("host opened from needs you now", () => text("#host-title"));
    check("a needs-you-now entry links to where it is resolved", title.startsWith("pd-06"), title);
  });

  await step("patches: sync advisory feeds, four buckets, countdowns", async () => {
    await click("#nav-patches");
    for (const f of ["osv-debian.json", "debian-tracker.json", "nvd.json"]) {
      await setValue("#feed-location", path.join(process.cwd(), "tests/fixtures/advisories", f));
      await click("#feed-sync");
      await waitFor(`sync ${f}`, async () => (await text("#sync-message")).includes(f));
    }
    const rows = await waitFor("update rows", async () => {
      const r = await exec(`return [...document.querySelectorAll('#updates .update-row')].map(e => [e.dataset.package, e.dataset.version, e.dataset.bucket, e.querySelector('.hosts-toggle').innerText.trim(), e.querySelector('.countdown').innerText.trim(), e.className])`);
      return r.length ? r : null;
    });
    check("one row per update, the critical first", rows[0][0] === "pd-hello" && rows[0][1] === "1.1-1" && rows[0][2] === "critical", JSON.stringify(rows));
    check("one row per update, not per host", rows.filter((r) => r[0] === "pd-hello").length === 1 && rows[0][3].startsWith("4"), JSON.stringify(rows[0]));
    check("the countdown comes from the injected clock", rows[0][4] === "2d 21h", rows[0][4]);
    const kernel = rows.find((r) => r[0] === "pd-kernel");
    check("an overdue update is marked", kernel && kernel[5].includes("overdue") && kernel[4].startsWith("overdue"), JSON.stringify(kernel));
    const high = rows.filter((r) => r[2] === "high").map((r) => r[0]);
    check("high holds the source-mapped library", high.length > 0 && high.every((p) => p === "pd-libfoo1"), high.join(","));
    const cve = await exec(`const a = document.querySelector('#updates .update-row[data-package="pd-hello"] a.cve-link'); return a ? [a.dataset.cve, a.getAttribute('href')] : null`);
    check("CVE ids link to the trackers", cve && cve[0] === "CVE-2026-1001" && cve[1] === "https://security-tracker.debian.org/tracker/CVE-2026-1001", JSON.stringify(cve));
    await click('#updates .update-row[data-package="pd-hello"] a.cve-link');
    const opened = await waitFor("link opened", () => { try { return fs.readFileSync(process.env.PATCHDESK_OPEN_LOG, "utf8"); } catch { return ""; } }, 5000).catch((e) => e.message);
    check("a CVE link opens the tracker in the browser, not in the app's window", opened.includes("security-tracker.debian.org/tracker/CVE-2026-1001") && (await text("#nav-patches")) === "Patches", opened);
    await click('#updates .update-row[data-package="pd-hello"] .hosts-toggle');
    const hostsRow = await waitFor("affected hosts", () => text('#updates .update-hosts[data-package="pd-hello"]'));
    check("the affected hosts expand", ["pd-01", "pd-02", "pd-03", "pd-05"].every((h) => hostsRow.includes(h)), hostsRow);
    await setValue("#patch-search", "CVE-2026-1001");
    const found = await waitFor("search", async () => {
      const r = await exec(`return [...document.querySelectorAll('#updates .update-row')].map(e => e.dataset.package)`);
      return r.length === 1 ? r : null;
    });
    check("search by CVE", found[0] === "pd-hello", found.join(","));
    await setValue("#patch-search", "");
    const feeds = await exec(`return [...document.querySelectorAll('#feed-table tbody tr')].map(r => r.innerText)`);
    check("feed status as a table: source, advisories, age", feeds.length === 3 && feeds.some((f) => f.includes("osv-debian.json")), feeds.join(" | "));
    await shot("11-patches");
    await click('#updates .update-row[data-package="pd-hello"] .update-open');
    const d = await waitFor("detail", () => text("#patch-detail"));
    check("a patch's detail shows CVE, vector, score, vendor severity, rule and hosts",
      d.includes("CVE-2026-1001") && d.includes("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") && d.includes("9.8") &&
      d.includes("due 7 days after disclosure") && d.includes("Affected hosts (4)"), d);
    await shot("12-patch-detail");
    const deployLabel = await text('#updates .update-row[data-package="pd-hello"] .deploy-update');
    check("'Deploy to N hosts…' counts the affected hosts", deployLabel === "Deploy to 4 hosts…", deployLabel);
    await click('#updates .update-row[data-package="pd-hello"] .deploy-update');
    const pre = await waitFor("wizard pre-filled", async () => {
      const v = await exec(`const s = document.querySelector('#deploy-scope'); const c = document.querySelector('#deploy-packages input[value="pd-hello"]'); return s && c ? [s.value, c.checked] : null`);
      return v && v[1] ? v : null;
    });
    check("'Deploy to N hosts…' opens the wizard with the scope and the update chosen", pre[0] === "web" && pre[1] === true, JSON.stringify(pre));
    const onlyThese = await text("#deploy-hosts");
    check("...on exactly the N hosts the update is pending on", onlyThese.includes("these 4 hosts of web:"), onlyThese);
    const log = await waitFor("alert notification", () => {
      const l = fs.readFileSync(NOTIFY_LOG, "utf8");
      return l.includes("Open Patches in PatchDesk") ? l : "";
    }, 10000);
    const line = log.split("\n").find((l) => l.includes("Open Patches in PatchDesk"));
    check("new critical patches / missed deadlines are announced on the desktop", /deadline|critical/.test(line), line);
    await click("#nav-dashboard");
    const c = await waitFor("compliance card", () => text("#card-compliance"));
    check("the dashboard shows compliance", /\d+%/.test(c), c);
    check("the figure is named for what it is", c.includes("patches inside their deadline"), c);
    const b = await text("#card-buckets");
    check("the dashboard counts patches per bucket", b.startsWith("4 · "), b);
    const needs = await waitFor("critical and overdue in needs you now", async () => {
      const k = await exec(`return [...document.querySelectorAll('#needs .need')].map(e => e.dataset.key)`);
      return k.some((x) => x.startsWith("critical-pd-hello")) && k.some((x) => x.startsWith("overdue-")) ? k : null;
    });
    check("needs you now: overdue before critical, critical by time left", needs.findIndex((x) => x.startsWith("overdue-")) < needs.findIndex((x) => x.startsWith("critical-")), needs.join(","));
    const crit = await text('#needs .need[data-kind="critical"]');
    check("a critical update says its time left and its hosts", crit.includes("2d 21h left") && crit.includes("4 host(s)"), crit);
    await shot("13-dashboard-compliance");
  });

  await step("a held update: pending, counted, marked held, with why", async () => {
    const fleetExec = (host, ...cmd) => execFileSync("bash", ["tests/fleet/fleet.sh", "exec", host, "--", ...cmd], { encoding: "utf8" }).trim();
    fleetExec("pd-05", "apt-mark", "hold", "pd-daemon");
    try {
      await click("#nav-hosts");
      await waitFor("pd-05 row", () => find('button.host-row[data-host="pd-05"]'));
      await click('button.host-row[data-host="pd-05"]');
      await waitFor("host detail", async () => (await text("#host-title")).startsWith("pd-05"));
      await click("#host-scan");
      const row = await waitFor("held row", async () => {
        const r = await exec(`const e = document.querySelector('#pending-table tr[data-package="pd-daemon"]'); return e && e.classList.contains('held-row') ? e.innerText : ''`);
        return r;
      }, 30000);
      check("the host's held update is pending, marked held", row.includes("1.1-1") && row.includes("held"), row);
      const why = await text("#host-held-why");
      check("the host detail says why it is not installed", why.includes("apt-mark hold"), why);
      const crit = await text('#pending-table tr[data-package="pd-hello"]');
      check("host detail: pending updates with their bucket and CVEs", crit.includes("critical") && crit.includes("CVE-2026-1001"), crit);
      await shot("12b-host-held-update");
      await click("#patch-host");
      const pre = await waitFor("wizard pre-filled for the host", async () => {
        const v = await exec(`const s = document.querySelector('#deploy-scope'); const c = [...document.querySelectorAll('#deploy-packages input:checked')].map(e => e.value); return s ? [s.value, c] : null`);
        return v && v[1].length ? v : null;
      });
      check("'Patch this host' opens the wizard on the host with its updates", pre[0] === "pd-05" && pre[1].includes("pd-hello") && pre[1].includes("pd-daemon"), JSON.stringify(pre));
      await exec(`const s = document.querySelector('#deploy-scope'); s.value = ''; s.dispatchEvent(new Event('change', {bubbles: true}));`);
      await click("#nav-patches");
      const daemon = await waitFor("held in patches", () => text('#updates .update-row[data-package="pd-daemon"]'));
      check("Patches counts the update held on one host", daemon.includes("held on 1"), daemon);
      const h1 = await text("h1");
      check("Patches says how many are held", h1.includes("1 held"), h1);
    } finally {
      fleetExec("pd-05", "apt-mark", "unhold", "pd-daemon");
    }
    await click("#nav-hosts");
    await click('button.host-row[data-host="pd-05"]');
    await waitFor("host detail", async () => (await text("#host-title")).startsWith("pd-05"));
    await click("#host-scan");
    await waitFor("released", async () => (await exec(`return document.querySelectorAll('#pending-table tr.held-row').length`)) === 0 && (await exec(`return !!document.querySelector('#pending-table tr[data-package="pd-daemon"]')`)), 30000);
  });

  await step("deployment wizard: plan, rollback review, gates, summary, rollback", async () => {
    const fleetExec = (host, ...cmd) => execFileSync("bash", ["tests/fleet/fleet.sh", "exec", host, "--", ...cmd], { encoding: "utf8" }).trim();
    await click("#nav-deploy");
    await exec(`const s = document.querySelector('#deploy-scope'); s.value = 'office'; s.dispatchEvent(new Event('change', {bubbles: true}));`);
    await waitFor("packages", () => find('#deploy-packages input[value="pd-hello"]'));
    // Still chosen from Patches' "Deploy to N hosts…".
    if (!(await exec(`return document.querySelector('#deploy-packages input[value="pd-hello"]').checked`))) await click('#deploy-packages input[value="pd-hello"]');
    await setValue("#deploy-soak", "0");
    const prefilled = await waitFor("smoke prefilled", () => exec(`return document.querySelector('#deploy-smoke').value`));
    check("the wizard starts from the scope group's smoke tests", prefilled === "pd-hello-smoke", prefilled);
    await shot("13b-deploy-select");
    await click("#deploy-plan");
    const planText = await waitFor("plan", () => text("#plan-view"), 30000);
    check("the plan shows canary and production rings", planText.includes("Canary (non-prod)") && planText.includes("pd-01, pd-02") && planText.includes("5% of production"), planText);
    const rb = await exec(`return [...document.querySelectorAll('#rollback-table tbody tr')].map(r => r.innerText)`);
    check("every host's rollback path is recorded and checked before anything runs", rb.length === 4 && rb.every((r) => r.includes("downgrade to pd-hello=")), rb.join(" | "));
    check("a soak outside 24-48 h is warned about", planText.includes("outside the recommended 24"), planText);
    check("the plan says which smoke tests will decide", (await text("#plan-smoke")).includes("pd-hello-smoke"));
    await shot("14-deploy-plan");
    await click("#deploy-start");
    const live = await waitFor("live per-host progress", async () => {
      const t = await text("#deploy-live").catch(() => "");
      return t.includes("pd-01") ? t : "";
    }, 20000).catch((e) => e.message);
    check("the run shows live per-host progress", /pd-0[12]/.test(live) && /(baseline|applying|verified)/.test(live), live);
    await waitFor("canary gate", async () => (await text("#deploy-waiting")).includes("canary gate"), 60000);
    await shot("15-deploy-canary-gate");
    const gateLog = await waitFor("gate notification", () => {
      const l = fs.readFileSync(NOTIFY_LOG, "utf8");
      return l.includes("canary gate") ? l : "";
    }, 10000);
    check("the gate is announced on the desktop", /canary gate: 2\/2 healthy, go\?/.test(gateLog), gateLog.split("\n").filter((l) => l.includes("gate")).join(" | "));
    // Clicking the notification brings the wizard back on this deployment from anywhere.
    const notifies = fs.readFileSync(NOTIFY_LOG, "utf8").split("\n").filter((l) => / Notify /.test(l));
    const gateLine = notifies.find((l) => l.includes("canary gate")) ?? "";
    check("the gate notification offers an Open action", gateLine.includes('"default"') && gateLine.includes("Open"), gateLine);
    const nid = notifies.indexOf(gateLine) + 1; // the daemon numbers notifications from 1
    await click("#nav-hosts");
    await waitFor("hosts view", () => find("#host-search"));
    execFileSync("/usr/bin/python3", ["-c",
      "import dbus, sys; o = dbus.SessionBus().get_object('org.freedesktop.Notifications', '/org/freedesktop/Notifications');" +
      " o.EmitSignal('org.freedesktop.Notifications', 'ActionInvoked', 'us', [dbus.UInt32(int(sys.argv[1])), 'default'], dbus_interface='org.freedesktop.DBus.Mock')",
      String(nid)]);
    const reopened = await waitFor("wizard opened from the notification", async () => {
      const t = await text("#deploy-waiting").catch(() => "");
      return t.includes("canary gate") ? await text("#run-view h2") : "";
    }, 10000).catch((e) => e.message);
    check("clicking the gate notification opens the wizard on that deployment", reopened.includes("office pd-hello"), reopened);
    await shot("15b-deploy-opened-from-notification");
    // Go at the canary gate from the Dashboard's "Needs you now": the same confirmation.
    await click("#nav-dashboard");
    await waitFor("gate in needs you now", () => find('#needs .need[data-kind="gate"] .need-go'));
    const gateNeed = await text('#needs .need[data-kind="gate"]');
    check("needs you now: the gate waiting for go/no-go, with Go inline", gateNeed.includes("canary gate waits for go/no-go") && gateNeed.includes("healthy"), gateNeed);
    await shot("15c-dashboard-gate-waiting");
    await click('#needs .need[data-kind="gate"] .need-go');
    const fromDash = await waitFor("go confirmation from the dashboard", () => text("#decision-confirm"));
    check("Go from the dashboard opens the wizard's confirmation listing the next stage", fromDash.includes("the next stage patches these hosts") && /pd-0[35]: pd-hello/.test(fromDash), fromDash);
    await click("#decision-confirm-go");
    await waitFor("5% gate", async () => (await text("#deploy-waiting").catch(() => "")).includes("5% gate"), 60000);
    for (const wave of ["100%"]) {
      await click(".gate-go");
      await waitFor("go confirmation", () => find("#decision-confirm-go"));
      await click("#decision-confirm-go");
      await waitFor(`${wave} gate`, async () => (await text("#deploy-waiting").catch(() => "")).includes(`${wave} gate`) || (await text("#deploy-state")) === "finished", 60000);
    }
    await click(".gate-go");
    const lastGo = await waitFor("go confirmation", () => text("#decision-confirm"));
    check("a go at the last gate says nothing more is patched", lastGo.includes("no further stage"), lastGo);
    await click("#decision-confirm-go");
    const state = await waitFor("finished", async () => ((await text("#deploy-state")) === "finished" ? "finished" : ""), 60000);
    check("the deployment goes through every gate to the end", state === "finished", state);
    check("the planned version is really installed on the last wave", fleetExec("pd-05", "dpkg-query", "-W", "-f=${Version}", "pd-hello") === "1.1-1");
    const summary = await text("#deploy-summary");
    check("a summary closes the wizard", summary.includes("3 of 3 stages passed"), summary);
    await shot("16-deploy-summary");
    await click("#deploy-rollback");
    const rbConfirm = await waitFor("rollback confirmation", () => text("#decision-confirm"));
    check("the rollback asks first, listing every host and version it restores",
      ["pd-01", "pd-02", "pd-03", "pd-05"].every((h) => rbConfirm.includes(`${h}: pd-hello 1.1-1 → `)) && rbConfirm.includes("pd-03: pd-hello 1.1-1 → 1.0-2"), rbConfirm);
    await shot("16b-deploy-rollback-confirmation");
    await click("#decision-confirm-go");
    await waitFor("rolled back", async () => ((await text("#deploy-state")) === "rolled-back" ? "yes" : ""), 60000);
    check("rollback restores the exact previous versions", fleetExec("pd-05", "dpkg-query", "-W", "-f=${Version}", "pd-hello") === "1.0-1" && fleetExec("pd-03", "dpkg-query", "-W", "-f=${Version}", "pd-hello") === "1.0-2");
    await shot("17-deploy-rolled-back");
    // Every change is in the host's audit log, before and after, with the exact command.
    await click("#nav-hosts");
    await waitFor("host row", () => find("#host-search"));
    await waitFor("pd-05 row", () => find('button.host-row[data-host="pd-05"]'));
    await click('button.host-row[data-host="pd-05"]');
    await waitFor("host detail", () => find("#tab-audit"));
    await click("#tab-audit");
    const audit = await waitFor("audit rows", async () => {
      const rows = await exec(`return [...document.querySelectorAll('#audit-table tbody tr')].map(r => r.innerText)`);
      return rows.length ? rows : null;
    });
    check("the host's audit log shows apply and rollback, before and after, with the command",
      ["apply", "rollback"].every((a) => audit.some((r) => r.includes(a) && r.includes("before")) && audit.some((r) => r.includes(a) && r.includes("after") && r.includes("apt-get install"))),
      audit.join(" | "));
    await shot("18-host-audit-log");
  });

  await step("deployment wizard: the whole transaction, a no-go override, an exclusion", async () => {
    const fleetSh = (...args) => execFileSync("bash", ["tests/fleet/fleet.sh", ...args], { encoding: "utf8" }).trim();
    const fleetExec = (host, ...cmd) => fleetSh("exec", host, "--", ...cmd);
    const cli = (...args) => execFileSync(process.env.PATCHDESK_CLI, ["--db", process.env.PATCHDESK_DB, ...args], { encoding: "utf8" });
    const version = (host, pkg) => fleetExec(host, "dpkg-query", "-W", "-f=${Version}", pkg);
    const published = [["pd-libfoo1", "1:3.1-1"], ["pd-libbar1", "1.0-1"], ["pd-daemon", "1.2-1", "--depends", "pd-libfoo1 (>= 1:3.1-1), pd-libbar1"]];
    const hosts = ["pd-01", "pd-02"];
    const repair = () => { try { fleetExec("pd-02", "sh", "-c", "dpkg --configure -a; apt-get install -y -qq --allow-downgrades pd-tools=2.0-1"); } catch { /* checked below */ } };
    try {
      for (const p of published) fleetSh("publish", ...p);
      for (const h of hosts) fleetExec(h, "apt-get", "update", "-qq");
      cli("scan", ...hosts);
      await openDeployWizard();
      await exec(`const s = document.querySelector('#deploy-scope'); s.value = 'canary'; s.dispatchEvent(new Event('change', {bubbles: true}));`);
      await waitFor("pd-daemon offered", () => find('#deploy-packages input[value="pd-daemon"]'));
      await exec(`document.querySelectorAll('#deploy-packages input:checked').forEach((i) => i.click())`);
      await click('#deploy-packages input[value="pd-daemon"]');
      await setValue("#deploy-smoke", "test -e /etc/pd-missing.conf");
      await setValue("#deploy-soak", "0");
      await click("#deploy-plan");
      await waitFor("transaction", () => find("#transaction-table tbody tr"), 30000);
      const rows = await exec(`return [...document.querySelectorAll('#transaction-table tbody tr')].map(r => r.dataset.host + ' ' + r.dataset.kind + ' ' + r.innerText.replace(/\\s+/g, ' ').trim())`);
      const want = ["pd-daemon 1.0-1 → 1.2-1 named downgrade to 1.0-1", "pd-libbar1 (new) → 1.0-1 new, pulled in by apt purge (installed by the upgrade)", "pd-libfoo1 1:3.0-1 → 1:3.1-1 pulled in by apt downgrade to 1:3.0-1"];
      check("the plan review shows each host's whole transaction with its rollback",
        rows.length === 6 && hosts.every((h) => want.every((w) => rows.some((r) => r.startsWith(h) && r.includes(w)))), rows.join(" | "));
      const rb = await exec(`return [...document.querySelectorAll('#rollback-table tbody tr')].map(r => r.innerText)`);
      check("the rollback path covers every package of the transaction", rb.length === 2 && rb.every((r) => r.includes("downgrade to pd-daemon=1.0-1 pd-libfoo1=1:3.0-1") && r.includes("purge pd-libbar1")), rb.join(" | "));
      await shot("19-deploy-whole-transaction");
      // As if PatchDesk had been killed while applying pd-02, whose dpkg was then left broken.
      const id = Number((await text("#deploy-start")).replace(/\D+/g, ""));
      execFileSync("/usr/bin/python3", ["-c", `import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); i = int(sys.argv[2])
db.execute("UPDATE deployments SET state = 'running' WHERE id = ?", (i,))
db.execute("UPDATE deployment_hosts SET state = 'applying' WHERE deployment_id = ? AND host_id = (SELECT id FROM hosts WHERE name = 'pd-02')", (i,))
db.execute("INSERT INTO audit_log (at, actor, host, action, phase, command) VALUES ('2026-11-24T12:00:00Z', 'patchdesk', 'pd-02', 'apply', 'before', 'apt-get install (interrupted)')")
db.commit()`, process.env.PATCHDESK_DB, String(id)]);
      fleetExec("pd-02", "dpkg", "--unpack", "/srv/patchdesk-repo/pool/bookworm/pd-tools_2.1-1_all.deb");
      await click("#deploy-start");
      await waitFor("no-go gate", () => find(".gate-override"), 60000);
      const card = await text('.gate-card[data-stage="canary"]');
      check("the no-go gate offers no plain Go, and says why", (await findAll(".gate-go")).length === 0 && card.includes("the engine says no-go") && card.includes("dpkg --audit reports"), card);
      await click(".gate-override");
      await waitFor("override form", () => find("#override-reason"));
      const disabled = await exec(`return document.querySelector('#override-confirm').disabled`);
      check("overriding a no-go needs a written reason", disabled === true, String(disabled));
      await setValue("#override-reason", "pd-02 is rebuilt; the smoke check is obsolete");
      await shot("20-deploy-override-no-go");
      await click("#override-confirm");
      await nativeDialog("go over the engine's no-go", "Return", "20c-native-dialog-no-go-override");
      const waiting = await waitFor("blocked by pd-02", async () => {
        const t = await text("#deploy-waiting").catch(() => "");
        return t.includes("pd-02 to be repaired or excluded") ? t : "";
      }, 60000);
      check("a host in attention keeps the deployment from finishing", (await text("#deploy-state")) === "running" && waiting.includes("Exclude… beside the host") && !waiting.includes("patchdesk"), waiting);
      await shot("20b-deploy-blocked-by-attention");
      await click('li[data-host="pd-02"] .host-exclude');
      await waitFor("exclude form", () => find("#exclude-reason"));
      await setValue("#exclude-reason", "rebuilt from scratch next week");
      await click("#exclude-confirm");
      await waitFor("finished", async () => ((await text("#deploy-state")) === "finished" ? "yes" : ""), 30000);
      const summary = await text("#deploy-summary");
      check("the summary shows the override and the exclusion with their reasons",
        summary.includes("canary gate: go over the engine's no-go by user — pd-02 is rebuilt; the smoke check is obsolete") && summary.includes("pd-02 excluded — rebuilt from scratch next week"), summary);
      await shot("21-deploy-override-exclusion-summary");
      const audit = JSON.parse(cli("audit", "--json", "--limit", "200"));
      check("both are in the audit log", audit.some((a) => a.action === "gate-go-override" && a.detail.includes("smoke check is obsolete")) && audit.some((a) => a.action === "deployment-exclude" && a.host === "pd-02" && a.detail.includes("rebuilt from scratch")), "");
      check("the whole transaction was applied on pd-01", version("pd-01", "pd-daemon") === "1.2-1" && version("pd-01", "pd-libfoo1") === "1:3.1-1" && version("pd-01", "pd-libbar1") === "1.0-1");
      repair();
      await click("#deploy-rollback");
      await waitFor("rollback confirmation", () => find("#decision-confirm-go"));
      await click("#decision-confirm-go");
      await waitFor("rolled back", async () => ((await text("#deploy-state")) === "rolled-back" ? "yes" : ""), 60000);
      const gone = fleetExec("pd-01", "sh", "-c", "dpkg-query -W -f='${db:Status-Abbrev}' pd-libbar1 2>/dev/null || true");
      check("rollback restores the whole transaction on pd-01", version("pd-01", "pd-daemon") === "1.0-1" && version("pd-01", "pd-libfoo1") === "1:3.0-1" && !gone.startsWith("ii"), gone);
      await shot("22-deploy-transaction-rolled-back");
    } finally {
      repair();
      for (const p of published) { try { fleetSh("unpublish", p[0], p[1]); } catch { /* already gone */ } }
      for (const h of hosts) { try { fleetExec(h, "apt-get", "update", "-qq"); } catch { /* reported by the checks */ } }
      // The inventory forgets the unpublished versions too.
      try { cli("scan", ...hosts); } catch { /* reported by the next steps */ }
    }
  });

  await step("gate checklist: health checks with their baselines, plan review, confirmed rollback", async () => {
    const cli = (...args) => execFileSync(process.env.PATCHDESK_CLI, ["--db", process.env.PATCHDESK_DB, ...args], { encoding: "utf8" });
    const version = (host, pkg) => execFileSync("bash", ["tests/fleet/fleet.sh", "exec", host, "--", "dpkg-query", "-W", "-f=${Version}", pkg], { encoding: "utf8" }).trim();
    // Checks that work on every fleet host: error lines in dpkg's log (a package left in config-files
    // state: never by an upgrade, which writes half-installed lines itself), sshd's process.
    cli("deploy", "checks", "--group", "canary", "--log-file", "/var/log/dpkg.log", "--log-pattern", "status config-files", "--log-window", "1", "--process", "sshd", "--reboot", "ask");
    try {
      await openDeployWizard();
      await exec(`const s = document.querySelector('#deploy-scope'); s.value = 'canary'; s.dispatchEvent(new Event('change', {bubbles: true}));`);
      await waitFor("packages", () => find('#deploy-packages input[value="pd-agent"]'));
      // The wizard keeps the last selection: only pd-agent this time.
      await exec(`document.querySelectorAll('#deploy-packages input:checked').forEach((i) => i.click())`);
      await click('#deploy-packages input[value="pd-agent"]');
      await setValue("#deploy-soak", "0");
      await setValue("#deploy-smoke", "");
      await click("#deploy-plan");
      const review = await waitFor("plan review", () => text("#plan-review"), 30000);
      check("the plan review says which checks the canary gate rests on", review.includes("error rate") && review.includes("service up") && !review.includes("only reachability"), review);
      check("the plan review names the host that will need a reboot", (await text("#plan-reboots")).includes("pd-02"), await text("#plan-reboots").catch(() => ""));
      await shot("22b-deploy-plan-review");
      await click("#deploy-start");
      await waitFor("canary gate", async () => (await text("#deploy-waiting").catch(() => "")).includes("canary gate"), 60000);
      const card = await text('.gate-card[data-stage="canary"]');
      check("the waiting gate stands out", card.includes("waiting for your decision") && (await findAll(".gate-card.waiting")).length === 1, card);
      const lines = await exec(`return [...document.querySelectorAll('.checklist[data-host="pd-01"] li')].map(l => l.dataset.kind + ':' + l.dataset.status + ':' + l.innerText)`);
      check("pd-01's checklist: reachable, version, error rate and service with their baselines",
        ["reachable:passed", "version:passed", "error_rate:passed", "service:passed"].every((k) => lines.some((l) => l.startsWith(k))) &&
        lines.some((l) => l.startsWith("error_rate:") && l.includes("(baseline 0 lines in 1 s")) && lines.some((l) => l.startsWith("service:") && l.includes("process sshd: up (baseline process sshd: up)")),
        lines.join(" | "));
      await shot("22c-deploy-gate-checklist");
      // pd-02 still needs a reboot, and the group's policy asks at the gate.
      const reboot = await exec(`return document.querySelector('.checklist[data-host="pd-02"] li[data-kind="reboot"]')?.dataset.status`);
      check("the gate waits for pd-02's reboot (asked at the gate)", reboot === "inconclusive" && (await text(".gate-reboot")) === "Reboot 1 host…", String(reboot));
      await click(".gate-reboot");
      const askReboot = await waitFor("reboot confirmation", () => text("#decision-confirm"));
      check("the reboot confirmation names the host", askReboot.includes("pd-02: reboot, wait for it, measure again") && !askReboot.includes("pd-01:"), askReboot);
      await shot("22c2-deploy-gate-reboot-confirmation");
      await exec(`[...document.querySelectorAll('#decision-confirm button')].find(b => b.textContent === 'Cancel').click()`);
      await click("#deploy-rollback");
      const confirm = await waitFor("rollback confirmation", () => text("#decision-confirm"));
      check("the rollback confirmation lists the hosts and versions it restores", confirm.includes("pd-01: pd-agent 2.0-1 → 2.0~rc1-1") && confirm.includes("pd-02: pd-agent 2.0-1 → 2.0~rc1-1"), confirm);
      await shot("22d-deploy-rollback-confirmation");
      await click("#decision-confirm-go");
      await waitFor("rolled back", async () => ((await text("#deploy-state")) === "rolled-back" ? "yes" : ""), 60000);
      check("rolled back on the hosts", version("pd-01", "pd-agent") === "2.0~rc1-1" && version("pd-02", "pd-agent") === "2.0~rc1-1");
    } finally {
      cli("deploy", "checks", "--group", "canary", "--clear");
    }
  });

  await step("reports: preview with the PDF's chart, export PDF and CSV through the native dialogs, history, the reports folder picked", async () => {
    const cli = (...args) => execFileSync(process.env.PATCHDESK_CLI, ["--db", process.env.PATCHDESK_DB, ...args], { encoding: "utf8", env: { ...process.env } });
    await click("#nav-reports");
    const pctText = await waitFor("report preview", () => text("#report-percent"));
    const comp = JSON.parse(cli("compliance", "--json"));
    check("the preview shows compliance --json's figure", pctText === `${comp.percent.toFixed(1)} %`, `${pctText} vs ${comp.percent}`);
    check("the preview's overdue count is compliance's", (await text("#report-overdue")) === String(comp.overdue));
    const chart = await exec(`const i = document.querySelector('#report-chart'); return i && i.complete ? i.naturalWidth : 0`);
    check("the trend chart (the PDF's shapes as SVG) renders under the CSP", chart > 0, String(chart));
    const unreachable = await text("#report-not-scanned");
    check("hosts not scanned list the unreachable host", unreachable.includes("pd-06") && unreachable.includes("unreachable"), unreachable);
    await shot("19-reports");
    // A group scope.
    await exec(`const s = document.querySelector('#report-scope'); s.value = 'group:web'; s.dispatchEvent(new Event('change', {bubbles: true}));`);
    const web = JSON.parse(cli("compliance", "--group", "web", "--json"));
    await waitFor("web preview", async () => (await text("#report-period")).includes("group web"));
    const webPct = await waitFor("web percent", () => text("#report-percent"));
    check("the scope picker: group web", webPct === `${web.percent.toFixed(1)} %`, `${webPct} vs ${web.percent}`);
    // Export through the native save dialog, answered with the keyboard like the file pickers.
    // Next to the database on purpose: the choosers below list its folder. They run in a child
    // process, so reading the database's files there cannot drop the app's SQLite locks (in the
    // app's process it did, and a CLI run deleted the WAL under the app: the CLI read-backs of the
    // steps after this one failed). Those read-backs are this regression test.
    const exportsDir = fs.mkdtempSync(path.join(path.dirname(process.env.PATCHDESK_DB), "exports-"));
    const pdf = path.join(exportsDir, "group-web-2026-W48.pdf");
    await click("#export-pdf");
    const pdfPicked = await nativeFilePick("Save the report", pdf, "19a-native-save-dialog", { replace: true });
    check("the native save dialog takes the PDF's path", pdfPicked);
    const saved = await waitFor("pdf saved", () => text("#report-message"), 30000);
    check("export PDF writes the file", saved.includes(pdf) && fs.existsSync(pdf), saved);
    const pdfText = execFileSync("pdftotext", ["-layout", pdf, "-"], { encoding: "utf8" });
    check("the exported PDF says the same figure", pdfText.includes(`${web.percent.toFixed(1)} %`) && pdfText.includes("group web · 2026-W48"), pdfText.slice(0, 300));
    // CSV: a folder, chosen in the native folder picker.
    const csvDir = path.join(exportsDir, "group-web-2026-W48");
    fs.mkdirSync(csvDir);
    await click("#export-csv");
    const csvPicked = await nativeFilePick("Choose the folder for the CSV tables", csvDir, undefined);
    check("the native folder picker takes the CSV folder", csvPicked);
    await waitFor("csv saved", async () => (await text("#report-message")).includes("group-web-2026-W48") && (await text("#report-message")) !== saved, 30000);
    check("export CSV writes one file per table", fs.existsSync(path.join(csvDir, "overdue.csv")) && fs.existsSync(path.join(csvDir, "summary.csv")), fs.readdirSync(csvDir).join(","));
    const hist = await waitFor("history", () => text("#report-history"));
    check("the history lists both exports", hist.includes("pdf") && hist.includes("csv") && hist.includes("Group web"), hist);
    await shot("20-reports-exported");
    // The weekly reports folder, chosen in Settings with the native folder picker, is stored.
    const weekly = path.join(exportsDir, "weekly");
    fs.mkdirSync(weekly);
    await click("#nav-settings");
    await waitFor("settings", () => find("#reports-dir-pick"));
    await click("#reports-dir-pick");
    const dirPicked = await nativeFilePick("Choose the weekly reports folder", weekly, undefined);
    const field = await fieldValue("#set-reports-dir", weekly);
    check("the native folder picker fills the weekly reports folder", dirPicked && field === weekly, JSON.stringify(field));
    await click("#settings-save");
    await waitFor("saved", async () => (await text("main")).includes("Settings saved"));
    check("the engine stores the chosen folder", (await invoke("get_settings")).ok?.reports_dir === weekly);
    // Back to none: later steps run without weekly reports on disk.
    await setValue("#set-reports-dir", "");
    await click("#settings-save");
    await waitFor("saved", async () => (await invoke("get_settings")).ok?.reports_dir === null);
  });

  await step("overriding a guard needs a native confirmation", async () => {
    await openDeployWizard();
    await exec(`const s = document.querySelector('#deploy-scope'); s.value = 'office'; s.dispatchEvent(new Event('change', {bubbles: true}));`);
    await waitFor("packages", () => find('#deploy-packages input[value="pd-hello"]'));
    await exec(`document.querySelectorAll('#deploy-packages input:checked').forEach((i) => i.click())`);
    await click('#deploy-packages input[value="pd-hello"]');
    await setValue("#deploy-waves", "100");
    await setValue("#deploy-name", "all at once");
    await click("#deploy-plan");
    await waitFor("blocked plan", async () => (await text("#plan-view")).includes("single-stage"), 30000);
    const blocked = await exec(`return [...document.querySelectorAll('.blocking strong')].map((e) => e.textContent)`);
    check("the plan is blocked by the single-stage guard only", blocked.join(",") === "single-stage", blocked.join(","));
    await setValue('.blocking input.override', "an emergency fix, checked by hand");
    await click("#deploy-replan");
    await nativeDialog("override deployment guards", "Escape", "23-native-dialog-guard-override");
    const refused = await waitFor("not confirmed", () => text("#deploy-error"));
    check("a guard override the person did not confirm plans nothing", refused.includes("not confirmed; nothing was changed"), refused);
    await click("#deploy-replan");
    await nativeDialog("override deployment guards", "Return");
    const started = await waitFor("stored plan", () => text("#deploy-start"), 30000);
    check("confirmed in the native dialog, the plan is stored with the override", /Start deployment #\d+/.test(started), started);
    await shot("24-deploy-plan-overridden");
  });

  await step("activity: the app's job runner runs a job asked for in the window, and lists it", async () => {
    await click("#nav-activity");
    await waitFor("activity view", () => find("#jobs-history"));
    await click("#jobs-scan-now");
    const row = await waitFor("the scan job", async () => {
      const rows = await exec(`return [...document.querySelectorAll('#jobs-history tr.job-scan')].map(r => r.innerText)`);
      return rows.find((r) => r.includes("succeeded")) ?? "";
    }, 90000);
    check("the Activity view shows the job the runner ran: kind, scope, who, state, result", /scan/.test(row) && /\buser\b/.test(row) && /host\(s\) scanned/.test(row), row);
    check("a job's error keeps its next step", /pd-06/.test(row) && /scan again|reachable/.test(row), row);
    const upcoming = await text("#jobs-upcoming");
    check("what is due next is listed", upcoming.includes("daily 07:00") && upcoming.includes("feed-sync") && upcoming.includes("weekly mon 07:30"), upcoming);
    await click("#automation-pause");
    const paused = await waitFor("paused", async () => (await text("#jobs-upcoming")).includes("automation is paused") ? await text("#automation-paused") : "");
    check("pausing automation says why scheduled jobs will not run", paused.includes("paused"), paused);
    await shot("20-activity-paused");
    await click("#automation-resume");
    await waitFor("resumed", () => find("#automation-on"));
    await shot("20b-activity");
    // Start at login (opt-in): an XDG autostart entry that starts the app hidden in the tray.
    await click("#nav-settings");
    await waitFor("settings", () => find("#set-start-at-login"));
    const entry = path.join(process.env.XDG_CONFIG_HOME, "autostart", "patchdesk.desktop");
    check("start at login is off by default", !fs.existsSync(entry) && (await exec(`return document.querySelector('#set-start-at-login').checked`)) === false);
    await click("#set-start-at-login");
    const desktop = await waitFor("the autostart entry", () => fs.existsSync(entry) ? fs.readFileSync(entry, "utf8") : "");
    check("turning it on writes the autostart entry for this program, started hidden", desktop.includes(`Exec="${APP}" --hidden`), desktop);
    await click("#set-start-at-login");
    await waitFor("the entry removed", () => !fs.existsSync(entry));
    check("turning it off removes the entry", !fs.existsSync(entry));
  });

  await step("settings: automation schedules and per-group policies, checked in place before saving", async () => {
    const cli = (...args) => execFileSync(process.env.PATCHDESK_CLI, ["--db", process.env.PATCHDESK_DB, ...args], { encoding: "utf8" });
    const show = () => JSON.parse(cli("automation", "show", "--json"));
    await click("#nav-settings");
    await waitFor("the automation editor", () => find('#automation-policies tr[data-group="web"] .pol-waves'));
    check("every group is listed, auto-canary off by default",
      (await exec(`return document.querySelector('#automation-policies tr[data-group="web"] .pol-auto').checked`)) === false
      && !show().policies.some((p) => p.group === "web"));
    // A wrong field: its error appears next to it and nothing is sent.
    await setValue('#automation-policies tr[data-group="web"] .pol-waves', "5,200,abc");
    await exec(`document.querySelector('#automation-policies tr[data-group="web"] .pol-auto').click()`);
    await click('#automation-policies tr[data-group="web"] .pol-save');
    const err = await waitFor("the field's error", () => text('#automation-policies tr[data-group="web"] .field-error'));
    check("invalid waves are refused in place, before sending", /rising percentages ending at 100/.test(err), err);
    check("nothing was stored", !show().policies.some((p) => p.group === "web"));
    await shot("21-settings-automation-invalid");
    await setValue('#automation-policies tr[data-group="web"] .pol-waves', "10,50,100");
    await setValue('#automation-policies tr[data-group="web"] .pol-soak', "36");
    await click('#automation-policies tr[data-group="web"] .pol-save');
    await waitFor("saved", async () => (await text("main")).includes("Automation for web saved"));
    const web = show().policies.find((p) => p.group === "web");
    check("the policy is stored in the engine (read back by the CLI)",
      web && web.auto_canary === true && web.soak_hours === 36 && JSON.stringify(web.waves) === "[10,50,100]", JSON.stringify(web));
    // A schedule: a bad time refused in place, a good one stored.
    await setValue('#schedules-table tr[data-rule="feed-sync"] .sched-when', "25:00");
    await click('#schedules-table tr[data-rule="feed-sync"] .sched-save');
    const serr = await waitFor("the schedule's error", () => text('#schedules-table tr[data-rule="feed-sync"] .field-error'));
    check("a time that does not exist is refused in place", /time/.test(serr), serr);
    await setValue('#schedules-table tr[data-rule="feed-sync"] .sched-when', "tue 06:15");
    await click('#schedules-table tr[data-rule="feed-sync"] .sched-save');
    await waitFor("schedule saved", async () => (await text("main")).includes("Schedule feed-sync saved"));
    const fs1 = show().schedules.find((u) => u.schedule.rule === "feed-sync");
    check("the schedule is stored (read back by the CLI)", fs1 && fs1.when === "weekly tue 06:15", JSON.stringify(fs1));
    await shot("21b-settings-automation");
    // Back to how the rest of the run expects it. Web's auto-canary is unticked first and saved
    // last: saving the schedule in between reloads the editor, and must not undo that edit.
    const webAuto = `document.querySelector('#automation-policies tr[data-group="web"] .pol-auto')`;
    await exec(`${webAuto}.click()`);
    await setValue('#schedules-table tr[data-rule="feed-sync"] .sched-when', "06:30");
    await click('#schedules-table tr[data-rule="feed-sync"] .sched-save');
    await waitFor("schedule saved again", async () => show().schedules.find((u) => u.schedule.rule === "feed-sync")?.when === "daily 06:30"
      && (await text("main")).includes("Schedule feed-sync saved"));
    check("an unsaved edit in another row survives saving a schedule",
      (await exec(`return ${webAuto}.checked`)) === false && show().policies.find((p) => p.group === "web")?.auto_canary === true);
    await click('#automation-policies tr[data-group="web"] .pol-save');
    await waitFor("policy off again", () => show().policies.find((p) => p.group === "web")?.auto_canary === false);
  });

  await step("a mixed fleet: rpm hosts scanned beside the Debian ones, their family and advisory ids shown", async () => {
    const fleetSh = (...args) => execFileSync("bash", ["tests/fleet/fleet.sh", ...args], { encoding: "utf8" }).trim();
    const cli = (...args) => execFileSync(process.env.PATCHDESK_CLI, ["--db", process.env.PATCHDESK_DB, ...args], { encoding: "utf8" });
    // The rpm hosts join the running fleet (the known_hosts file the app trusts gains their keys).
    fleetSh("up", "6", "--rpm", "2");
    const mixed = JSON.parse(fs.readFileSync(process.env.PATCHDESK_FLEET, "utf8"));
    const rpmHosts = mixed.hosts.filter((h) => /^pd-r\d+$/.test(h.name) && h.running);
    check("the fleet has running rpm hosts", rpmHosts.length === 2, JSON.stringify(rpmHosts.map((h) => h.name)));
    try {
      for (const h of rpmHosts) {
        cli("host", "add", h.name, h.address, "--port", String(h.port), "--user", h.user,
          "--key", path.join(mixed.dir, "keys/id_ed25519"), "--env", h.environment, "--group", "rpm-family");
      }
      await click("#nav-scan");
      await click("#scan-start");
      const summary = await waitFor("scan summary", () => text("#scan-summary"), 90000);
      const phases = await exec(`return Object.fromEntries([...document.querySelectorAll('#scan-table tbody tr')].map((r) => [r.cells[0].innerText.trim(), r.cells[1].innerText.trim() + ' ' + r.cells[2].innerText.trim()]))`);
      check("one scan run reaches Debian and rpm hosts", ["pd-01", "pd-r1", "pd-r2"].every((h) => (phases[h] ?? "").startsWith("done")), `${summary} | ${JSON.stringify(phases).slice(0, 600)}`);
      await click("#nav-hosts");
      const fam = await waitFor("rpm family in the hosts table", async () => {
        const f = await exec(`return [...document.querySelectorAll('.host-row')].map((r) => [r.dataset.host, r.querySelector('.family')?.dataset.family ?? ''])`);
        return f.some(([h, x]) => h === "pd-r1" && x === "rpm") ? f : null;
      });
      check("the hosts table shows each host's family", fam.some(([h, x]) => h === "pd-01" && x === "deb") && fam.some(([h, x]) => h === "pd-r2" && x === "rpm"), JSON.stringify(fam));
      // Ground truth: the advisories the rpm hosts' own repositories publish (dnf updateinfo).
      const truth = fleetSh("exec", "pd-r1", "--", "dnf", "-q", "updateinfo", "list", "--security").split("\n").map((l) => l.split(/\s+/)[0]).filter(Boolean);
      check("pd-r1's repositories publish security advisories", truth.length > 0, String(truth));
      await click("#nav-patches");
      await type("#patch-search", truth[0]);
      const row = await waitFor("the update row carrying the advisory", async () => {
        const r = await exec(`return [...document.querySelectorAll('#updates .update-row')].map((x) => ({ pkg: x.dataset.package, adv: [...x.querySelectorAll('.adv-id')].map((a) => a.textContent) }))`);
        return r.length ? r : null;
      });
      check("the Patches view names the vendor advisory beside the CVEs", row.length >= 1 && row.every((r) => r.adv.includes(truth[0])), JSON.stringify(row));
      await shot("23-mixed-fleet-patches");
      await type("#patch-search", "");
    } finally {
      for (const h of rpmHosts) { try { cli("host", "remove", h.name); } catch { /* not added */ } }
      fleetSh("up", "6");
    }
  });

  await step("deployments: an invalid field is refused in place, an abandoned plan exported as Ansible then deleted, a rollback drill run", async () => {
    const cli = (...args) => execFileSync(process.env.PATCHDESK_CLI, ["--db", process.env.PATCHDESK_DB, ...args], { encoding: "utf8" });
    const fleetExec = (host, ...cmd) => execFileSync("bash", ["tests/fleet/fleet.sh", "exec", host, "--", ...cmd], { encoding: "utf8" }).trim();
    await click("#nav-deploy");
    // Waves checked before sending: the error next to the field, nothing planned.
    await exec(`const s = document.querySelector('#deploy-scope'); s.value = 'office'; s.dispatchEvent(new Event('change', {bubbles: true}));`);
    await waitFor("packages", () => find("#deploy-packages input"));
    await exec(`document.querySelector('#deploy-packages input').click()`);
    const before = JSON.parse(cli("deploy", "list", "--json")).length;
    await setValue("#deploy-waves", "5,200,abc");
    await click("#deploy-plan");
    const werr = await waitFor("waves error", () => text("#deploy-waves-error"));
    check("waves '5,200,abc' are refused next to the field", werr.includes('"200", "abc"'), werr);
    check("nothing reached the engine", JSON.parse(cli("deploy", "list", "--json")).length === before && !(await text("main")).includes("invalid args"));
    await shot("22-deploy-field-error");
    await setValue("#deploy-waves", "5,25,50,100");
    await exec(`const s = document.querySelector('#deploy-scope'); s.value = ''; s.dispatchEvent(new Event('change', {bubbles: true}));`);
    // An abandoned plan: deleted from the list, audited; the engine has it no more.
    const planned = JSON.parse(cli("deploy", "plan", "--name", "abandoned plan", "--scope", "canary", "--package", "pd-tools", "--json"));
    const id = planned.deployment_id;
    await click("#nav-dashboard");
    await click("#nav-deploy");
    await waitFor("the plan listed", () => find(`#deploy-list tr[data-id="${id}"] .delete-plan`));
    // Before it goes: exported as an Ansible playbook from its page, into a folder chosen in the
    // native (GTK) folder picker driven with the keyboard; the files are on disk and name the
    // planned hosts and versions.
    const status = JSON.parse(cli("deploy", "status", String(id), "--json"));
    const plannedHosts = status.stages.flatMap((s) => s.hosts).filter((h) => !h.excluded);
    const ansDir = fs.mkdtempSync(path.join(process.env.E2E_OUT, "ansible-export-"));
    await click(`#deploy-list tr[data-id="${id}"] button.link`);
    await waitFor("its page", () => find("#deploy-export-ansible"));
    await click("#deploy-export-ansible");
    const pickedDir = await nativeFilePick("Export as Ansible playbook", ansDir, "22a-native-folder-chooser-ansible");
    check("the native folder picker chooses the export folder", pickedDir);
    const exported = await waitFor("export shown", () => text("#ansible-exported"), 20000);
    check("the page shows the files written and the folder", exported.includes(ansDir) && exported.includes("playbook.yml") && exported.includes("rollback.yml") && exported.includes(`Exported ${plannedHosts.length} host`), exported);
    await shot("22b-deploy-ansible-exported");
    await shotDark("22b-deploy-ansible-exported");
    const read = (f) => fs.readFileSync(path.join(ansDir, f), "utf8");
    const files = ["playbook.yml", "rollback.yml", "inventory.ini"];
    check("playbook, rollback playbook and inventory are on disk", files.every((f) => fs.existsSync(path.join(ansDir, f))), fs.readdirSync(ansDir).join(","));
    // Every file written: the playbook, the inventory and the scripts (one folder per host).
    const scripts = fs.readdirSync(path.join(ansDir, "scripts"), { recursive: true }).map((f) => path.join("scripts", String(f)))
      .filter((f) => fs.statSync(path.join(ansDir, f)).isFile());
    const all = ["playbook.yml", "inventory.ini", ...scripts].map(read).join("\n");
    const named = plannedHosts.every((h) => read("inventory.ini").includes(h.host) && all.includes(h.host)
      && h.changes.filter((c) => c.to_version).every((c) => all.includes(c.package) && all.includes(c.to_version)));
    check("the export names every planned host and its planned versions", plannedHosts.length > 0 && named, JSON.stringify(plannedHosts.map((h) => [h.host, h.changes.map((c) => `${c.package}=${c.to_version}`)])));
    await click("#nav-dashboard");
    await click("#nav-deploy");
    await waitFor("the plan listed", () => find(`#deploy-list tr[data-id="${id}"] .delete-plan`));
    await click(`#deploy-list tr[data-id="${id}"] .delete-plan`);
    await click(`#deploy-list tr[data-id="${id}"] .delete-yes`);
    await waitFor("the plan gone", async () => (await findAll(`#deploy-list tr[data-id="${id}"]`)).length === 0);
    let gone = "";
    try { cli("deploy", "status", String(id)); } catch (e) { gone = String(e.stderr ?? e.message); }
    check("an abandoned plan is deleted (the engine has it no more)", gone.includes(`no deployment ${id}`), gone);
    const audit = (await invoke("audit_entries", { host: null, limit: 20 })).ok ?? [];
    check("the deletion is audited", audit.some((a) => a.action === "deploy-delete" && a.detail.includes("abandoned plan")), JSON.stringify(audit.slice(0, 3)));
    const rows = await exec(`return [...document.querySelectorAll('#deploy-list tr')].filter(r => r.querySelector('.delete-plan')).length === [...document.querySelectorAll('#deploy-list tr')].filter(r => r.innerText.includes('planned')).length`);
    check("only planned deployments offer Delete", rows === true);
    // A rollback drill from the app: fields checked first, then apply → verify → roll back → verify.
    await click("#drill-run");
    const de = await waitFor("drill errors", async () => [await text("#drill-scope-error"), await text("#drill-packages-error")]);
    check("a drill without group or package is refused in place", de[0].includes("group") && de[1].includes("package"), de.join(" | "));
    const was = fleetExec("pd-01", "dpkg-query", "-W", "-f=${Version}", "pd-tools");
    await exec(`const s = document.querySelector('#drill-scope'); s.value = 'canary'; s.dispatchEvent(new Event('change', {bubbles: true}));`);
    await setValue("#drill-packages", "pd-tools");
    await click("#drill-run");
    const res = await waitFor("drill result", () => text("#drill-result"), 240000);
    check("a rollback drill runs from the app and rolls back cleanly", res.includes("rolled back and verified"), res);
    check("the drill left the host as it was", fleetExec("pd-01", "dpkg-query", "-W", "-f=${Version}", "pd-tools") === was, was);
    const dt = await waitFor("drill table", () => text("#drill-table"));
    check("the drill is recorded for the group", dt.includes("canary") && dt.includes("rolled back cleanly"), dt);
    await shot("23-deploy-drill");
  });

  await step("edit a host: errors next to the fields (tags too), then saved and audited", async () => {
    const host = "pd-04";
    const labels = (t) => t.split(/[\s,;]+/).filter(Boolean);
    // Adding one: the same checks, next to the fields, before anything is sent.
    await click("#nav-add");
    await setValue("#add-name", "bad name");
    await setValue("#add-address", "x y");
    await exec(`document.querySelector('#add-name').form.querySelector('button[type=submit]').click()`);
    const addErr = await waitFor("add errors", async () => [await text("#add-name-error"), await text("#add-address-error")]);
    check("adding a host with a bad name and address is refused next to the fields", addErr[0].includes("short name") && addErr[1].includes("host name or IP"), addErr.join(" | "));
    check("nothing was added", !((await invoke("list_hosts")).ok ?? []).some((h) => h.name === "bad name"));
    await click("#nav-hosts");
    await waitFor("row", () => find(`.host-row[data-host="${host}"]`));
    await click(`.host-row[data-host="${host}"]`);
    await waitFor("detail", async () => (await text("#host-title")).startsWith(host));
    await click("#host-edit");
    await waitFor("form", () => find("#edit-host"));
    const groups = await exec(`return document.querySelector('#edit-groups').value`);
    await setValue("#edit-port", "0");
    await setValue("#edit-groups", groups + ", no way!");
    const tags = await exec(`return document.querySelector('#edit-tags').value`);
    await setValue("#edit-tags", [tags, "bad*tag"].filter(Boolean).join(", "));
    await click("#edit-save");
    const errs = await waitFor("field errors", async () => [await text("#edit-port-error"), await text("#edit-groups-error"), await text("#edit-tags-error")]);
    check("invalid fields are refused next to them", errs[0].includes("1 to 65535") && errs[1].includes('"way!"') && errs[2].includes('"bad*tag"'), errs.join(" | "));
    await shot("24-host-edit-errors");
    await shotDark("24-host-edit-errors");
    await setValue("#edit-port", "22");
    await setValue("#edit-groups", groups + ", edited");
    await setValue("#edit-tags", [tags, "edited-tag"].filter(Boolean).join(", "));
    await click("#edit-save");
    const done = await waitFor("saved", () => text("#edit-done"));
    check("the host is saved", done.includes(`Saved ${host}`), done);
    const d = (await invoke("host_detail", { name: host })).ok;
    check("the engine has the new groups", d?.host.groups.includes("edited") && d.host.port === 22, JSON.stringify(d?.host.groups));
    check("the engine has the new tag, the others kept", d?.host.tags.includes("edited-tag") && labels(tags).every((t) => d.host.tags.includes(t)), JSON.stringify(d?.host.tags));
    const audit = (await invoke("audit_entries", { host, limit: 5 })).ok ?? [];
    check("the edit is audited with what changed", audit.some((a) => a.action === "edit-host" && a.detail.includes("edited") && a.detail.includes("tags")), JSON.stringify(audit.slice(0, 2)));
    // Tags removed in the form are removed.
    await click("#host-edit");
    await waitFor("form", () => find("#edit-tags"));
    await setValue("#edit-tags", tags);
    await click("#edit-save");
    await waitFor("saved again", () => text("#edit-done"));
    const d2 = (await invoke("host_detail", { name: host })).ok;
    check("a tag cleared in the form is gone", !d2?.host.tags.includes("edited-tag"), JSON.stringify(d2?.host.tags));
  });

  await step("re-trust a changed host key from the app", async () => {
    const host = "pd-05";
    const hostRoot = FLEET.hosts.find((h) => h.name === host).root;
    const fp = () => execFileSync("ssh-keygen", ["-lf", path.join(hostRoot, "etc/ssh/ssh_host_ed25519_key.pub")], { encoding: "utf8" }).split(" ")[1];
    const old = fp();
    execFileSync("bash", ["tests/fleet/fleet.sh", "rekey", host], { encoding: "utf8" });
    const fresh = fp();
    check("the fleet host really got a new key", fresh !== old && fresh.startsWith("SHA256:"), `${old} ${fresh}`);
    await click("#nav-hosts");
    await waitFor("row", () => find(`.host-row[data-host="${host}"]`));
    await click(`.host-row[data-host="${host}"]`);
    await waitFor("detail", async () => (await text("#host-title")).startsWith(host));
    await click("#host-scan");
    const err = await waitFor("changed key refused", async () => { const t = await text("#host-error"); return t.includes("CHANGED") ? t : ""; }, 60000);
    check("the scan is refused and says so, in the app's words", err.includes(fresh) && err.includes("Trust the new key") && !/patchdesk |--replace/.test(err), err);
    await click("#nav-dashboard");
    await waitFor("needs you now: changed key", () => find(`#needs .need[data-key="host-key-${host}"]`));
    await shot("20-needs-host-key");
    await click(`#needs .need[data-key="host-key-${host}"] .need-open`);
    const shown = await waitFor("both fingerprints", async () => {
      const n = await text("#rekey-new");
      return n.startsWith("SHA256:") ? [await text("#rekey-old"), n] : null;
    });
    check("the host shows the old and the new fingerprint", shown[0] === old && shown[1] === fresh, JSON.stringify(shown));
    // The old one pasted, no reason: refused in place, nothing sent.
    await setValue("#rekey-expected", old);
    await click("#rekey-trust");
    const e1 = await waitFor("field errors", () => text("#rekey-expected-error"));
    const e2 = await text("#rekey-reason-error");
    check("a fingerprint that does not match is refused next to its field", e1.includes("does not match"), e1);
    check("a missing reason is refused next to its field", e2.includes("why"), e2);
    await shot("21-host-rekey-errors");
    check("nothing was trusted", (await invoke("host_detail", { name: host })).ok?.host.host_key_fingerprint === old);
    await setValue("#rekey-expected", fresh);
    await setValue("#rekey-reason", "re-keyed by the e2e (fleet.sh rekey)");
    await click("#rekey-trust");
    const done = await waitFor("trusted", () => text("#rekey-done"));
    check("the new key is trusted", done.includes(fresh), done);
    const audit = (await invoke("audit_entries", { host, limit: 5 })).ok ?? [];
    const rec = audit.find((a) => a.action === "trust-host-key");
    check("the audit log has the old and new fingerprint and the reason",
      !!rec && rec.detail.includes(old) && rec.detail.includes(fresh) && rec.detail.includes("reason: re-keyed by the e2e"), JSON.stringify(rec));
    await click("#host-scan");
    const ok = await waitFor("a scan works again", async () => {
      const h = ((await invoke("list_hosts")).ok ?? []).find((x) => x.name === host);
      return h?.last_scan?.ok && Date.parse(h.last_scan.finished_at) > Date.parse(rec?.at ?? 0) - 1 ? h : null;
    }, 60000);
    check("a scan works with the new key", !!ok);
    await click("#nav-dashboard");
    await waitFor("dashboard", () => find("#needs"));
    const keys = await exec(`return [...document.querySelectorAll('#needs .need')].map(e => e.dataset.key)`);
    check("the changed key leaves Needs you now", !keys.includes(`host-key-${host}`), keys.join(","));
  });

  await step("re-key panel: a key trusted from known_hosts (not pinned) shows its fingerprint and file", async () => {
    // kh-02: a second name for pd-02's address, added in the app and never scanned, so PatchDesk
    // pinned nothing for it: only the known_hosts file of Settings vouches for its key.
    const src = FLEET.hosts.find((h) => h.name === "pd-02");
    const d2 = (await invoke("host_detail", { name: "pd-02" })).ok.host;
    const fp = () => execFileSync("ssh-keygen", ["-lf", path.join(src.root, "etc/ssh/ssh_host_ed25519_key.pub")], { encoding: "utf8" }).split(" ")[1];
    const old = fp();
    const khLine = fs.readFileSync(FLEET.known_hosts, "utf8").split("\n").findIndex((l) => l.startsWith(`${d2.address} ssh-ed25519 `)) + 1;
    await click("#nav-add");
    await setValue("#add-name", "kh-02");
    await setValue("#add-address", d2.address);
    await setValue("#add-key", d2.auth.path);
    await setValue("#add-groups", "kh");
    await exec(`document.querySelector('#add-name').form.requestSubmit()`);
    await waitFor("added", async () => (await text("#add-message")).includes("Added kh-02"));
    check("kh-02 has no pinned key", (await invoke("host_detail", { name: "kh-02" })).ok?.host.host_key_fingerprint === null);
    execFileSync("bash", ["tests/fleet/fleet.sh", "rekey", "pd-02"], { encoding: "utf8" });
    try {
      const fresh = fp();
      await click("#nav-hosts");
      await waitFor("row", () => find('.host-row[data-host="kh-02"]'));
      await click('.host-row[data-host="kh-02"]');
      await waitFor("detail", async () => (await text("#host-title")).startsWith("kh-02"));
      await click("#host-scan");
      await waitFor("changed key refused", async () => (await text("#host-error")).includes("CHANGED"), 60000);
      const shown = await waitFor("both fingerprints", async () => {
        const n = await text("#rekey-new");
        return n.startsWith("SHA256:") ? [await text("#rekey-old"), n, await text("#rekey-old-source")] : null;
      });
      check("the old key is the known_hosts one, not 'none pinned'", shown[0] === old && shown[1] === fresh, JSON.stringify(shown));
      check("and says where it came from (file and line)", khLine > 0 && shown[2].includes(FLEET.known_hosts) && shown[2].includes(`line ${khLine}`) && shown[2].includes("not pinned"), `${shown[2]} (line ${khLine})`);
      await shot("21b-host-rekey-known-hosts");
      await setValue("#rekey-expected", fresh);
      await setValue("#rekey-reason", "kh-02 re-keyed by the e2e");
      await click("#rekey-trust");
      await waitFor("trusted", () => text("#rekey-done"));
      const rec = ((await invoke("audit_entries", { host: "kh-02", limit: 5 })).ok ?? []).find((a) => a.action === "trust-host-key");
      check("the audit names the known_hosts key that was replaced", !!rec && rec.detail.includes(old) && rec.detail.includes(FLEET.known_hosts) && rec.detail.includes(fresh), JSON.stringify(rec));
    } finally {
      // pd-02 gets its own key back (the later steps scan it); kh-02 goes.
      execFileSync("bash", ["tests/fleet/fleet.sh", "rekey", "pd-02", "--restore"], { encoding: "utf8" });
      await invoke("remove_host", { name: "kh-02" });
    }
    check("pd-02 has its old key again", fp() === old);
  });

  await step("hosts: select rows, then add them to a group, deploy to exactly them and scan them", async () => {
    await click("#nav-hosts");
    await waitFor("rows", () => find('.host-select[data-host="pd-03"]'));
    await click('.host-select[data-host="pd-03"]');
    await click('.host-select[data-host="pd-04"]');
    const bar = await waitFor("bulk bar", () => text("#bulk"));
    check("two hosts selected", bar.includes("2 selected"), bar);
    await setValue("#bulk-group", "no way!");
    await click("#bulk-add");
    const e = await waitFor("group error", () => text("#bulk-error"));
    check("an invalid group is refused next to the field", e.includes("group"), e);
    await setValue("#bulk-group", "bulk-e2e");
    await click("#bulk-add");
    await waitFor("added", () => text("#bulk-done"));
    const hosts = (await invoke("list_hosts")).ok ?? [];
    const inGroup = hosts.filter((h) => h.groups.includes("bulk-e2e")).map((h) => h.name).sort();
    check("the selected hosts, and only they, are in the group", inGroup.join(",") === "pd-03,pd-04", inGroup.join(","));
    await shot("25-hosts-bulk");
    // Deploy to selection: the wizard on exactly these hosts (no group needed), planned for real.
    // Two of the hosts an update is pending on (a non-prod one for the canary, a prod one), while
    // it is pending on more: the others must stay out of the plan.
    const items = (await invoke("patches", { bucket: null, group: null, host: null })).ok ?? [];
    const envOf = Object.fromEntries(((await invoke("list_hosts")).ok ?? []).map((h) => [h.name, h.environment]));
    const on = (pkg) => [...new Set(items.filter((p) => p.package === pkg).map((p) => p.host))].sort();
    const pkg = [...new Set(items.map((p) => p.package))].sort().find((k) => on(k).length >= 3
      && on(k).some((h) => envOf[h] === "non-prod") && on(k).some((h) => envOf[h] === "prod"));
    const pickHosts = pkg ? [on(pkg).find((h) => envOf[h] === "non-prod"), on(pkg).find((h) => envOf[h] === "prod")].sort() : [];
    check("an update pending on 3+ hosts, prod and non-prod, to deploy to two of them", pickHosts.length === 2, JSON.stringify(items.map((p) => [p.package, p.host])));
    const before = ((await invoke("deploy_list")).ok ?? []).map((d) => d.id);
    await click("#bulk-clear");
    for (const h of pickHosts) await click(`.host-select[data-host="${h}"]`);
    await click("#bulk-deploy");
    const only = await waitFor("wizard on the selection", () => text("#deploy-hosts"));
    const scopeShown = await exec(`const s = document.querySelector('#deploy-scope'); return [s.value, s.selectedOptions[0].textContent]`);
    check("'Deploy to selection…' opens the wizard on exactly the selected hosts", only.includes(`these 2 hosts: ${pickHosts.join(", ")}`) && scopeShown[0] === "" && scopeShown[1] === "The 2 selected hosts", `${only} ${scopeShown}`);
    await shot("25a-deploy-to-selection-select");
    await waitFor("their updates", () => find(`#deploy-packages input[value="${pkg}"]`));
    await click(`#deploy-packages input[value="${pkg}"]`);
    await click("#deploy-plan");
    const staged = await waitFor("the plan", async () => {
      const t = await exec(`return [...document.querySelectorAll('#rollback-table tbody tr td:first-child')].map(e => e.textContent)`);
      return t.length ? t.sort() : null;
    }, 60000);
    check(`the plan stages only the selected hosts (${pkg} is pending on ${on(pkg).join(", ")})`, staged.join(",") === pickHosts.join(","), staged.join(","));
    await shot("25b-deploy-to-selection");
    const made = ((await invoke("deploy_list")).ok ?? []).filter((d) => !before.includes(d.id));
    check("the deployment's scope is the selection", made.length === 1 && made[0].scope === `2 hosts: ${pickHosts.join(", ")}`, JSON.stringify(made.map((d) => d.scope)));
    for (const d of made) await invoke("deploy_delete", { id: d.id });
    await click("#nav-hosts");
    await waitFor("rows", () => find('.host-select[data-host="pd-03"]'));
    await click('.host-select[data-host="pd-03"]');
    await click("#bulk-scan");
    const summary = await waitFor("scan summary", () => text("#scan-summary"), 60000);
    check("scanning the selection scans just it", summary.startsWith("1 ok, 0 failed"), summary);
  });

  await step("hosts: tags on the selection, filter by tag, save the filter, pick it again, delete it", async () => {
    const cli = (...args) => execFileSync(process.env.PATCHDESK_CLI, ["--db", process.env.PATCHDESK_DB, ...args], { encoding: "utf8" });
    const shown = () => exec(`return [...document.querySelectorAll('.host-row')].map(r => r.dataset.host)`);
    const choose = (css, v) => exec(`const s = document.querySelector(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change', {bubbles: true}));`, [css, v]);
    await click("#nav-hosts");
    await waitFor("rows", () => find('.host-select[data-host="pd-01"]'));
    await click('.host-select[data-host="pd-01"]');
    await click('.host-select[data-host="pd-03"]');
    await setValue("#bulk-tag", "no way!");
    await click("#bulk-tag-add");
    const e = await waitFor("tag error", () => text("#bulk-error"));
    check("an invalid tag is refused next to the field", e.includes("tag"), e);
    await setValue("#bulk-tag", "pci-e2e");
    await click("#bulk-tag-add");
    const done = await waitFor("tagged", () => text("#bulk-done"));
    check("the selection is tagged", done.includes("Tagged 2 host(s) pci-e2e"), done);
    const tagged = ((await invoke("list_hosts")).ok ?? []).filter((h) => h.tags.includes("pci-e2e")).map((h) => h.name).sort();
    check("the engine has the tag on the selected hosts only", tagged.join(",") === "pd-01,pd-03", tagged.join(","));
    const audit = (await invoke("audit_entries", { host: "pd-03", limit: 5 })).ok ?? [];
    check("the tag change is audited", audit.some((a) => a.action === "edit-host" && a.detail.includes("pci-e2e")), JSON.stringify(audit.slice(0, 1)));
    await click("#bulk-clear");
    await choose("#tag-filter", "pci-e2e");
    await setValue("#host-search", "pd-0");
    const rows = await waitFor("filtered", async () => { const r = await shown(); return r.length === 2 ? r : null; });
    check("filtering by tag shows just the tagged hosts", rows.join(",") === "pd-01,pd-03", rows.join(","));
    const chips = await exec(`return [...document.querySelectorAll('.host-row[data-host="pd-01"] .tag')].map(t => t.textContent)`);
    check("the row shows its tags", chips.includes("pci-e2e"), chips.join(","));
    // The window's size as the app opens (1280×800): the headers stay readable beside the tags.
    await checkHostsHeader("hosts at the app's own size, filtered by tag");
    // Save it under a name: the engine stores it, and the CLI applies the same rule.
    await click("#filter-save");
    check("a filter without a name is refused in place", (await waitFor("name error", () => text("#filter-error"))).includes("Name the filter"));
    await setValue("#filter-name", "pci hosts");
    await click("#filter-save");
    await waitFor("saved", async () => (await text("#filter-done")).includes("pci hosts"));
    const stored = ((await invoke("host_filters")).ok ?? []).find((f) => f.name === "pci hosts");
    check("the filter is stored in the database", stored?.filter.tag === "pci-e2e" && stored.filter.query === "pd-0", JSON.stringify(stored));
    const viaCli = JSON.parse(cli("host", "list", "--filter", "pci hosts", "--json")).map((h) => h.name);
    check("the CLI lists the same hosts for the saved filter", viaCli.join(",") === "pd-01,pd-03", viaCli.join(","));
    await shot("26-hosts-tags-saved-filter");
    // Cleared, then picked again.
    await choose("#tag-filter", "");
    await setValue("#host-search", "");
    await waitFor("all rows", async () => (await shown()).length > 2);
    await choose("#saved-filter", "pci hosts");
    const again = await waitFor("picked", async () => { const r = await shown(); return r.length === 2 ? r : null; });
    const fields = await exec(`return [document.querySelector('#tag-filter').value, document.querySelector('#host-search').value]`);
    check("picking the saved filter applies it again", again.join(",") === "pd-01,pd-03" && fields.join("|") === "pci-e2e|pd-0", `${again} ${fields}`);
    // A tag removed from one host: the filter follows.
    await click('.host-select[data-host="pd-03"]');
    await setValue("#bulk-tag", "pci-e2e");
    await click("#bulk-tag-remove");
    await waitFor("untagged", async () => (await text("#bulk-done")).includes("Removed the tag pci-e2e from 1"));
    const left = await waitFor("one row", async () => { const r = await shown(); return r.length === 1 ? r : null; });
    check("removing a tag takes the host out of the tag filter", left.join(",") === "pd-01", left.join(","));
    await click("#bulk-clear");
    await click("#filter-delete");
    await waitFor("deleted", async () => (await text("#filter-done")).includes("Deleted"));
    const opts = await exec(`return [...document.querySelectorAll('#saved-filter option')].map(o => o.value)`);
    check("the deleted filter is gone from the list and the database",
      !opts.includes("pci hosts") && !((await invoke("host_filters")).ok ?? []).length, opts.join(","));
    await choose("#tag-filter", "");
    await setValue("#host-search", "");
    await waitFor("all rows", async () => (await shown()).length > 2);
    await click('.host-select[data-host="pd-01"]');
    await setValue("#bulk-tag", "pci-e2e");
    await click("#bulk-tag-remove");
    await waitFor("untagged", async () => (await text("#bulk-done")).includes("Removed the tag pci-e2e from 1"));
    await click("#bulk-clear");
    check("no host keeps the e2e tag", !((await invoke("list_hosts")).ok ?? []).some((h) => h.tags.includes("pci-e2e")));
  });

  await step("layout: every view at 1440×900 and 1024×700, light and dark; Esc goes back, arrow keys, focus rings", async () => {
    const key = (k) => wd("POST", `${S}/actions`, { actions: [{ type: "key", id: "kb", actions: [{ type: "keyDown", value: k }, { type: "keyUp", value: k }] }] });
    const theme = async (t) => {
      await click("#nav-settings");
      await waitFor("theme picker", () => find("#set-theme"));
      await exec(`const s = document.querySelector('#set-theme'); s.value = arguments[0]; s.dispatchEvent(new Event('change', {bubbles: true}));`, [t]);
      return exec(`return getComputedStyle(document.documentElement).backgroundColor`);
    };
    const views = ["dashboard", "hosts", "patches", "deploy", "reports", "activity", "add", "scan", "settings"];
    const bg = {};
    for (const [w, h] of [[1440, 900], [1024, 700]]) {
      await wd("POST", `${S}/window/rect`, { width: w, height: h });
      await sleep(600);
      const inner = await exec(`return [innerWidth, innerHeight]`);
      check(`the window is ${w}×${h}`, Math.abs(inner[0] - w) < 40 && Math.abs(inner[1] - h) < 80, inner.join("×"));
      for (const t of ["light", "dark"]) {
        bg[t] = await theme(t);
        for (const v of views) {
          await click(`#nav-${v}`);
          await sleep(350);
          const over = await exec(`const m = document.querySelector('main'); return [m.scrollWidth, m.clientWidth]`);
          check(`${v} at ${w}×${h} (${t}): nothing cut off sideways`, over[0] <= over[1] + 1, over.join(" > "));
          await shot(`L-${w}x${h}-${t}-${v}`);
          if (v === "hosts") {
            await checkHostsHeader(`hosts at ${w}×${h} (${t})`);
          }
        }
        await click("#nav-hosts");
        await waitFor("row", () => find('.host-row[data-host="pd-01"]'));
        await click('.host-row[data-host="pd-01"]');
        await waitFor("detail", async () => (await text("#host-title")).startsWith("pd-01"));
        const over = await exec(`const m = document.querySelector('main'); return [m.scrollWidth, m.clientWidth]`);
        check(`host detail at ${w}×${h} (${t}): nothing cut off sideways`, over[0] <= over[1] + 1, over.join(" > "));
        await shot(`L-${w}x${h}-${t}-host`);
      }
      if (w === 1024) {
        await click("#nav-hosts");
        await waitFor("rows", () => find(".host-row"));
        const heads = await exec(`return [...document.querySelectorAll('.table.hosts .row.head .cell')].filter(c => c.offsetParent).map(c => [c.innerText.trim(), c.scrollWidth <= c.clientWidth + 1])`);
        check("1024 px: the hosts table's headers are readable (none cut)", heads.length >= 5 && heads.every((x) => x[1]), JSON.stringify(heads));
        check("1024 px: low-priority columns are hidden", !heads.some((x) => x[0].startsWith("Kernel")), JSON.stringify(heads.map((x) => x[0])));
        const nav = await exec(`const r = document.querySelector('nav').getBoundingClientRect(); return [r.width, r.height]`);
        check("1024 px: the sidebar collapses into a bar", nav[1] < 80, nav.join("×"));
      }
    }
    check("dark mode really changes the colours", bg.light !== bg.dark, JSON.stringify(bg));
    // Arrow keys move between host rows; the focused row has a visible ring; Esc goes back.
    await click("#nav-hosts");
    await waitFor("rows", () => find('.host-row[data-host="pd-01"]'));
    // The window has the keyboard (a native dialog earlier may have taken it), as a person's would.
    for (const wid of execFileSync("bash", ["-c", "xdotool search --onlyvisible --name '^PatchDesk$' || true"], { encoding: "utf8" }).trim().split("\n").filter(Boolean)) {
      try { execFileSync("xdotool", ["windowfocus", "--sync", wid], { timeout: 3000 }); } catch { /* not focusable */ }
    }
    await exec(`document.querySelector('.host-row').focus()`);
    await key("\uE015");
    const focused = await exec(`const a = document.activeElement; return [a.dataset.host, getComputedStyle(a).outlineStyle, [...document.querySelectorAll('.host-row')].map(r => r.dataset.host)]`);
    check("↓ moves to the next host row", focused[0] === focused[2][1], JSON.stringify(focused));
    check("the focused row shows a focus ring", focused[1] !== "none", focused[1]);
    await shot("L-1024x700-dark-focus");
    await key("\uE007");
    await waitFor("detail by Enter", async () => (await text("#host-title")).startsWith(focused[0]));
    await key("\uE00C");
    await waitFor("back to hosts", () => find("#host-search"));
    check("Esc goes back from a host to the hosts", true);
    await theme("system");
  });

  await step("strings from hosts are text, and the CSP forbids eval", async () => {
    const scripts = await exec(`return document.querySelectorAll('main script, main iframe, main object').length`);
    check("no script elements inside the views", scripts === 0, String(scripts));
    const evalBlocked = await exec(`try { window.eval('1+1'); return false; } catch (e) { return true; }`);
    check("the content security policy blocks eval", evalBlocked === true, String(evalBlocked));
  });
  // Last: the window goes away and does not come back in this session.
  await step("close the window: PatchDesk stays in the tray and finishes a soak-and-gate by itself", async () => {
    const cli = (...args) => execFileSync(process.env.PATCHDESK_CLI, args, { encoding: "utf8", env: process.env });
    const fleetExec = (host, ...cmd) => execFileSync("bash", ["tests/fleet/fleet.sh", "exec", host, "--", ...cmd], { encoding: "utf8" }).trim();
    const plan = JSON.parse(cli("deploy", "plan", "--name", "tray soak", "--scope", "canary", "--package", "pd-tools", "--soak-hours", "24", "--auto", "--json"));
    const id = plan.deployment_id;
    // Started from the window (the app's write connection: never at the same time as its runner).
    const started = await invoke("deploy_advance", { id });
    check("the canary is applied and soaks", started.ok?.stages?.[0]?.state === "soaking", JSON.stringify(started).slice(0, 300));
    // Close the window as a window manager would (WM_DELETE_WINDOW to every PatchDesk window).
    const wids = execFileSync("xdotool", ["search", "--name", "^PatchDesk$"], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
    execFileSync("/usr/bin/python3", ["-c",
      "import sys; from Xlib import display, X, protocol\n" +
      "d = display.Display(); p = d.intern_atom('WM_PROTOCOLS'); dw = d.intern_atom('WM_DELETE_WINDOW')\n" +
      "for wid in sys.argv[1:]:\n" +
      "    w = d.create_resource_object('window', int(wid))\n" +
      "    w.send_event(protocol.event.ClientMessage(window=w, client_type=p, data=(32, [dw, X.CurrentTime, 0, 0, 0])), event_mask=X.NoEventMask)\n" +
      "d.flush()", ...wids]);
    await sleep(1500);
    const visible = execFileSync("bash", ["-c", "xdotool search --onlyvisible --name '^PatchDesk$' || true"], { encoding: "utf8" }).trim();
    check("closing the window hides it", visible === "", visible);
    // A day later (the injected clock moves), nobody touches anything.
    fs.writeFileSync(process.env.PATCHDESK_CLOCK_FILE, "2026-11-25T13:00:00Z\n");
    const st = await waitFor("the deployment finished by the app's runner", () => {
      const s = JSON.parse(cli("deploy", "status", String(id), "--json"));
      return s.state === "finished" ? s : null;
    }, 90000);
    check("the gate after the soak passed by itself", st.stages[0].decision === "go" && st.stages[0].decided_by === "auto", JSON.stringify(st.stages[0]).slice(0, 300));
    const jobs = JSON.parse(cli("jobs", "--json", "--limit", "1000"));
    const adv = jobs.history.find((j) => j.kind === "deployment-advance" && j.scope?.deployment === id && j.state === "succeeded");
    check("the app's runner did it (a deployment-advance job run by the app)", !!adv && /^app \d+$/.test(adv.runner ?? ""), JSON.stringify(adv));
    const pid = Number((adv?.runner ?? "app 0").split(" ")[1]);
    let alive = false;
    try { process.kill(pid, 0); alive = true; } catch { alive = false; }
    check("the app is still running, in the tray", alive, String(pid));
    check("the canary really carries the new version", fleetExec("pd-01", "dpkg-query", "-W", "-f=${Version}", "pd-tools") === "2.1-1");
    const log = fs.readFileSync(NOTIFY_LOG, "utf8");
    check("the gate passed by itself is announced", log.includes("tray soak: canary gate passed by itself"), log.split("\n").filter((l) => l.includes("tray")).join(" | "));
    const rb = JSON.parse(cli("deploy", "rollback", String(id), "--json"));
    check("rolled back afterwards", rb.state === "rolled-back", rb.state);
  });
} finally {
  await wd("DELETE", S).catch(() => {});
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
