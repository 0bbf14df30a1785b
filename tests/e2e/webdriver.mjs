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

/**
 * A session on the app at `application`. tauri-driver listens before the WebKitWebDriver it
 * starts does, and a request it cannot forward is answered by closing the connection (no HTTP
 * reply): CI met exactly that on a loaded machine. So a request that got no reply is tried again
 * for up to `waitMs`; an HTTP error (the app did not start) is not, it is the answer.
 */
export async function newSession(application, waitMs = 60_000) {
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      return await wd("POST", "/session", { capabilities: { alwaysMatch: { "tauri:options": { application } } } });
    } catch (e) {
      const noReply = e instanceof TypeError; // fetch's "fetch failed": refused or closed unanswered
      if (!noReply || Date.now() > until) throw e;
      console.log(`webdriver: no reply to a new session yet (${e.cause?.code ?? e.message}); trying again`);
      await sleep(500);
    }
  }
}
