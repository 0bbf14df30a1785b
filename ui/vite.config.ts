import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// Built into ui/dist and embedded in the Tauri binary; no dev server, no remote content.
export default defineConfig({
  plugins: [svelte({ compilerOptions: { css: "external" } })],
  clearScreen: false,
  build: { target: "safari15", outDir: "dist", emptyOutDir: true, sourcemap: false },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
