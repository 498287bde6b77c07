import { defineConfig } from "vitest/config";

// The desktop app embeds `dist/` (src-tauri/tauri.conf.json → build.frontendDist).
export default defineConfig({
  clearScreen: false,
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "safari15",
    sourcemap: false,
  },
  test: {
    environment: "node",
  },
});
