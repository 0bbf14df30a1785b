import { describe, expect, it } from "vitest";
import { drillErrors, hostFormErrors, tagsError, labelsOf, parseWaves, soakError } from "./forms";

describe("forms checked before sending", () => {
  it("waves: '5,200,abc' is refused with what is wrong", () => {
    const r = parseWaves("5,200,abc");
    expect("error" in r && r.error).toContain('"200", "abc"');
    expect(parseWaves("5, 25,50,100")).toEqual({ waves: [5, 25, 50, 100] });
    expect("error" in parseWaves("50,25")).toBe(true);
    expect("error" in parseWaves("")).toBe(true);
  });
  it("soak hours", () => {
    expect(soakError(24)).toBeNull();
    expect(soakError("")).not.toBeNull();
    expect(soakError(1.5)).not.toBeNull();
    expect(soakError(500)).not.toBeNull();
  });
  it("a host's fields, by field", () => {
    const ok = { address: "10.0.0.5", port: 22, user: "root", key: "", env: "prod", groups: "web, office" };
    expect(hostFormErrors(ok)).toEqual({});
    const e = hostFormErrors({ address: "bad host", port: "0", user: "-x", key: "id_ed25519", env: "prod", groups: "web, no way!" });
    expect(Object.keys(e).sort()).toEqual(["address", "groups", "key", "port", "user"]);
    expect(e.groups).toContain('"way!"');
    expect(hostFormErrors({ ...ok, tags: "pci, db/primary" })).toEqual({});
    expect(hostFormErrors({ ...ok, tags: "pci, bad*tag" }).tags).toContain('"bad*tag"');
    expect(tagsError(["ok", "no!"])).toContain('"no!"');
    expect(labelsOf(" a, b;c  d ")).toEqual(["a", "b", "c", "d"]);
  });
  it("a drill needs a group and package names", () => {
    expect(Object.keys(drillErrors("", ""))).toEqual(["scope", "packages"]);
    expect(drillErrors("canary", "pd-tools")).toEqual({});
    expect(drillErrors("canary", "pd-tools; rm -rf").packages).toContain('"-rf"');
  });
});
