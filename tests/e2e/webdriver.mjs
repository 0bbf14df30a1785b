// The W3C WebDriver requests the e2e (tests/e2e/e2e.mjs) and the app benchmark (bench/app.mjs)
// send to tauri-driver: plain fetch, no client library. WD_URL is set by their run scripts.
const WD = process.env.WD_URL ?? "http://127.0.0.1:4444";

/** One WebDriver request; its `value`, or an error naming the request. */
export async function wd(method, p, body) {
  const r = await fetch(WD + p, { method, headers: { "content-type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${p}: ${JSON.stringify(j.value).slice(0, 400)}`);
  return j.value;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
