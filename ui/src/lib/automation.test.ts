import { describe, expect, it } from "vitest";
import { mergeRows, parseWaves, wavesError, whenError, whenText } from "./automation";

describe("automation fields", () => {
  it("shows a schedule's time as the field accepts it", () => {
    expect(whenText({ every: "daily", at: "07:00:00" })).toBe("07:00");
    expect(whenText({ every: "weekly", day: "Mon", at: "07:30:00" })).toBe("mon 07:30");
    expect(whenError(whenText({ every: "weekly", day: "Sun", at: "23:59:00" }))).toBeNull();
  });
  it("accepts daily and weekly times and refuses the rest before sending", () => {
    for (const ok of ["07:00", "daily 07:00", "mon 07:30", "weekly SUN 23:59", " 00:00 "]) expect(whenError(ok)).toBeNull();
    for (const bad of ["7:00", "24:00", "07:60", "noon", "mon", "funday 07:00", "07:00; rm -rf /", ""]) expect(whenError(bad)).not.toBeNull();
  });
  it("accepts rising waves ending at 100 and refuses the rest", () => {
    expect(wavesError("5,25,50,100")).toBeNull();
    expect(wavesError("100")).toBeNull();
    expect(parseWaves("5, 25,100")).toEqual([5, 25, 100]);
    for (const bad of ["5,200,abc", "5,25,50", "25,5,100", "0,100", "5,,100", "", "5.5,100", "50,50,100"]) expect(wavesError(bad)).not.toBeNull();
  });
  it("after one row is saved, the others keep their unsaved edits", () => {
    type Row = { group: string; auto: boolean };
    const shown: Row[] = [{ group: "db", auto: true }, { group: "web", auto: false }, { group: "gone", auto: false }];
    // The engine's answer to saving "db": db as stored, web still as stored (auto on), "gone"
    // removed, "new" added.
    const fresh: Row[] = [{ group: "db", auto: false }, { group: "new", auto: true }, { group: "web", auto: true }];
    const rows = mergeRows(shown, fresh, (r) => r.group, "db");
    expect(rows).toEqual([{ group: "db", auto: false }, { group: "new", auto: true }, { group: "web", auto: false }]);
    expect(rows[2]).toBe(shown[1]); // the very row on screen, its fields as they are
  });
});
