/// <reference types="vite/client" />
import { describe, expect, it } from "vitest";
import { appText, fingerprintErrors, ipcText } from "./words";

/** Every Rust source file of the engine (its texts reach the app), as text. */
const engine: Record<string, string> = import.meta.glob("../../../crates/patchdesk-engine/src/**/*.rs", { query: "?raw", import: "default", eager: true });

describe("app wording", () => {
  it("replaces the changed-key CLI step with the app's", () => {
    const m = "THE HOST KEY HAS CHANGED: expected SHA256:a, the host offered SHA256:b. Nothing was run on this host. This may be a reinstall or a man-in-the-middle: check with the host's owner, then run `patchdesk host trust pd-05 --replace` only if the new key is genuine.";
    const t = appText(m);
    expect(t).not.toContain("patchdesk");
    expect(t).toContain("Trust the new key");
    expect(t).toContain("SHA256:b");
  });

  it("no engine sentence names a CLI command or --format in the app", () => {
    // Each engine string literal with a `patchdesk …` command, with its placeholders filled.
    expect(Object.keys(engine).length).toBeGreaterThan(30);
    const texts = Object.values(engine).flatMap((file) => {
      const src = file.split("#[cfg(test)]")[0].split("\n").filter((l) => !/^\s*\/\//.test(l)).join("\n");
      return [...src.matchAll(/"((?:[^"\\\n]|\\.)*(?:`patchdesk |--format|--reason|--wait)(?:[^"\\\n]|\\.)*)"/g)].map((m) =>
        m[1].replace(/\\"/g, '"').replace(/\{[^}]*\}/g, "7"));
    });
    expect(texts.length).toBeGreaterThan(15);
    for (const t of texts) {
      const out = appText(t);
      expect(out, t).not.toMatch(/patchdesk |--format|--reason|--wait/);
      expect(out, `${t}\nhas no app wording of its own`).not.toContain("the matching action in PatchDesk");
    }
  });

  it("an IPC error never reaches a person as is", () => {
    const t = ipcText("invalid args `request` for command `deploy_plan`: missing field `waves`");
    expect(t).not.toContain("invalid args");
    expect(t).toContain("nothing was changed");
  });

  it("checks the re-trust form before sending", () => {
    const fp = "SHA256:" + "A".repeat(43);
    expect(fingerprintErrors("", fp, "")).toEqual({ expected: expect.stringContaining("Paste"), reason: expect.any(String) });
    expect(fingerprintErrors("abc", fp, "x").expected).toContain("not a SHA256");
    expect(fingerprintErrors("SHA256:" + "B".repeat(43), fp, "x").expected).toContain("does not match");
    expect(fingerprintErrors("  " + "A".repeat(43) + " ", fp, "reinstalled")).toEqual({});
  });
});
