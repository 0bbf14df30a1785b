// The colour theme: the system's (prefers-color-scheme), or light / dark as chosen in Settings.
// Kept in this window's local storage (a display preference, not fleet data).
export type Theme = "system" | "light" | "dark";

export function savedTheme(): Theme {
  const t = localStorage.getItem("patchdesk-theme");
  return t === "light" || t === "dark" ? t : "system";
}

export function applyTheme(t: Theme) {
  if (t === "system") {
    delete document.documentElement.dataset.theme;
    localStorage.removeItem("patchdesk-theme");
  } else {
    document.documentElement.dataset.theme = t;
    localStorage.setItem("patchdesk-theme", t);
  }
}
