// The app with a large fleet in its database (issue #16), measured in the real window (WebKit
// under Xvfb) through tauri-driver: time from launch to the first painted Dashboard, first paint
// of Hosts and of Dashboard when opened, filter and sort latency in the Hosts table, and the
// resident memory of the app's process and its WebKit processes (/proc). Run by bench/app.sh.
// Latencies inside the page are measured with performance.now() from the click or input to the
// animation frame after the table shows the result (that frame is painted next).
import fs from "node:fs";
import { newSession, sleep, wd } from "../tests/e2e/webdriver.mjs";

const APP = process.env.PATCHDESK_APP;
const HOSTS = Number(process.env.BENCH_HOSTS);
const REPEAT = 5;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => `median ${median(xs).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms (${xs.length} runs)`;

/** RSS in MB of the app's process, and of it plus its descendants (WebKit's web and network processes). */
function memory() {
  const procs = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map((pid) => {
    try {
      const st = fs.readFileSync(`/proc/${pid}/status`, "utf8");
      const get = (k) => (st.match(new RegExp(`^${k}:\\s+(\\S+)`, "m")) ?? [])[1];
      let exe = ""; try { exe = fs.readlinkSync(`/proc/${pid}/exe`); } catch {}
      return { pid: Number(pid), ppid: Number(get("PPid")), rss: Number(get("VmRSS") ?? 0) / 1024, name: get("Name"), exe };
    } catch { return null; }
  }).filter(Boolean);
  const app = procs.find((p) => p.exe === APP);
  if (!app) throw new Error(`no process runs ${APP}`);
  const tree = [app];
  for (let i = 0; i < tree.length; i++) tree.push(...procs.filter((p) => p.ppid === tree[i].pid));
  return { app: app.rss, tree: tree.reduce((s, p) => s + p.rss, 0), names: tree.map((p) => `${p.name} ${p.rss.toFixed(0)} MB`).join(", ") };
}

const t0 = performance.now();
const session = await newSession(APP);
const S = `/session/${session.sessionId}`;
const exec = (script, args = []) => wd("POST", `${S}/execute/sync`, { script, args });
const execAsync = (script, args = []) => wd("POST", `${S}/execute/async`, { script, args });
const out = [];
const say = (s) => { console.log(s); out.push(s); };

try {
  // Launch to a painted Dashboard with the fleet's figures (cards with numbers).
  const cardsShown = `const c = document.querySelector('#card-unreachable'); return !!c && /\\d/.test(c.innerText)`;
  let launch;
  for (;;) {
    if (await exec(cardsShown).catch(() => false)) { launch = performance.now() - t0; break; }
    if (performance.now() - t0 > 60000) throw new Error("the Dashboard did not show within 60 s");
    await sleep(20);
  }
  const inPage = await exec(`return performance.now()`);
  say(`launch to painted Dashboard: ${launch.toFixed(0)} ms (of it ${inPage.toFixed(0)} ms since the page started loading; polled every 20 ms)`);
  const m0 = memory();
  say(`memory at start: app ${m0.app.toFixed(0)} MB; with its WebKit processes ${m0.tree.toFixed(0)} MB (${m0.names})`);

  // until(CLICK/INPUT, CONDITION): ms from the action to the frame after CONDITION holds.
  const until = (action, cond) => execAsync(`
    const done = arguments[arguments.length - 1];
    const t = performance.now();
    ${action}
    const end = t + 30000;
    (function poll() {
      if (${cond}) requestAnimationFrame(() => done(performance.now() - t));
      else if (performance.now() > end) done(-1);
      else requestAnimationFrame(poll);
    })();`);
  const rows = `document.querySelectorAll('.host-row').length`;
  const count = `(document.querySelector('h1 .muted')?.innerText ?? '')`;
  const check = (what, ms) => { if (ms < 0) throw new Error(`${what}: no result within 30 s`); return ms; };

  const hostsPaint = [], dashPaint = [];
  for (let i = 0; i < REPEAT; i++) {
    hostsPaint.push(check("Hosts", await until(`document.querySelector('#nav-hosts').click();`,
      `${rows} > 0 && ${count}.endsWith('of ${HOSTS}')`)));
    dashPaint.push(check("Dashboard", await until(`document.querySelector('#nav-dashboard').click();`,
      `!!document.querySelector('#card-unreachable') && /\\d/.test(document.querySelector('#card-unreachable').innerText)`)));
  }
  say(`Hosts view (${HOSTS} hosts) from the click to painted rows: first ${hostsPaint[0].toFixed(0)} ms; ${fmt(hostsPaint)}`);
  say(`Dashboard from the click to painted cards: first ${dashPaint[0].toFixed(0)} ms; ${fmt(dashPaint)}`);

  await until(`document.querySelector('#nav-hosts').click();`, `${rows} > 0`);
  const setSearch = (q) => `const e = document.querySelector('#host-search'); e.value = ${JSON.stringify(q)}; e.dispatchEvent(new Event('input', {bubbles: true}));`;
  // Each query with the number of rows it must leave.
  const all = await exec(`return ${count}`);
  const queries = [["pd-5", null], ["pd-999", 1], ["", HOSTS]];
  for (const [q, want] of queries) {
    const xs = [];
    for (let i = 0; i < REPEAT; i++) {
      await until(setSearch("zz-none"), `${count}.startsWith('0 of')`);
      xs.push(check(`search ${q}`, await until(setSearch(q), want === null ? `!${count}.startsWith('0 of') && ${rows} > 0` : `${count}.startsWith('${want} of')`)));
    }
    const shown = await exec(`return ${count}`);
    say(`search "${q}" (${shown}): ${fmt(xs)}`);
  }
  const envXs = [];
  for (let i = 0; i < REPEAT; i++) {
    const to = (v) => `const s = document.querySelector('#env-filter'); s.value = '${v}'; s.dispatchEvent(new Event('change', {bubbles: true}));`;
    envXs.push(check("env filter", await until(to("non-prod"), `${count}.startsWith('2 of')`)));
    await until(to(""), `${count} === ${JSON.stringify(all)}`);
  }
  say(`environment filter (non-prod: 2 of ${HOSTS}): ${fmt(envXs)}`);
  for (const col of ["pending", "scanned", "name"]) {
    const xs = [];
    for (let i = 0; i < REPEAT * 2; i++) {
      const sortOf = `document.querySelector('button[data-col="${col}"]').getAttribute('aria-sort')`;
      const before = await exec(`return ${sortOf}`);
      // Svelte changes the header and the rows in one update: the frame after the header changed shows the rows.
      xs.push(check(`sort ${col}`, await until(`document.querySelector('button[data-col="${col}"]').click();`,
        `${sortOf} !== ${JSON.stringify(before)}`)));
    }
    say(`sort by ${col} (ascending/descending in turn): ${fmt(xs)}`);
  }
  // Scroll to the end of the table (virtual rows).
  const scroll = await until(`const s = document.querySelector('.scroller'); s.scrollTop = s.scrollHeight;`,
    `[...document.querySelectorAll('.host-row')].some(r => r.dataset.host === ${JSON.stringify(process.env.BENCH_LAST_HOST)})`);
  say(`scroll to the last host: ${check("scroll", scroll).toFixed(0)} ms; rows in the DOM: ${await exec(`return ${rows}`)}`);
  const m1 = memory();
  say(`memory after: app ${m1.app.toFixed(0)} MB; with its WebKit processes ${m1.tree.toFixed(0)} MB (${m1.names})`);
} finally {
  await wd("DELETE", S).catch(() => {});
  if (process.env.BENCH_OUT) fs.writeFileSync(process.env.BENCH_OUT, out.join("\n") + "\n");
}
