// The automation editor's field checks, run before anything is sent (the engine checks again).
import type { When } from "./bindings/When";

/** "07:00" for a daily rule, "mon 07:30" for a weekly one (what the field shows and accepts). */
export function whenText(w: When): string {
  const at = w.at.slice(0, 5);
  return w.every === "daily" ? at : `${w.day.toLowerCase()} ${at}`;
}

const WHEN = /^(?:(?:daily|weekly)\s+)?(?:(mon|tue|wed|thu|fri|sat|sun)\s+)?([01]\d|2[0-3]):[0-5]\d$/i;

/** Why a "when" field is wrong, or null. */
export function whenError(s: string): string | null {
  return WHEN.test(s.trim()) ? null : 'write a time ("07:00", daily) or a day and a time ("mon 07:30", weekly)';
}

export function parseWaves(s: string): number[] {
  return s.split(",").map((x) => Number(x.trim()));
}

/** Why a waves field is wrong, or null: rising whole percentages ending at 100. */
export function wavesError(s: string): string | null {
  const parts = s.split(",").map((x) => x.trim());
  const w = parts.map(Number);
  const ok =
    parts.length > 0 &&
    parts.every((p) => /^\d+$/.test(p)) &&
    w.every((x) => x >= 1 && x <= 100) &&
    w.every((x, i) => i === 0 || x > w[i - 1]) &&
    w[w.length - 1] === 100;
  return ok ? null : "waves are rising percentages ending at 100, e.g. 5,25,50,100";
}

/**
 * The editor's rows after one row was saved: the engine's `fresh` rows, except that every other
 * row already on screen keeps what is in its fields (an edit not saved yet survives the reload
 * that follows saving another row; a new or removed row follows the engine).
 */
export function mergeRows<T>(current: T[], fresh: T[], key: (r: T) => string, saved: string): T[] {
  const shown = new Map(current.map((r) => [key(r), r]));
  return fresh.map((r) => (key(r) === saved ? r : (shown.get(key(r)) ?? r)));
}
