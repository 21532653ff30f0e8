// What every browser flow of tests/ui_browser.rs shares: its arguments (UI_URL SCREENSHOT_DIR),
// headless Chromium (Debian's /usr/bin/chromium; no browser is downloaded) on a throwaway profile,
// and small helpers for screenshots and texts.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

// Reads the flow's arguments and opens Chromium; exits with a usage line when they are missing.
export async function open(script) {
  const [base, shots] = process.argv.slice(2);
  if (!base || !shots) {
    console.error(`usage: node ${script} UI_URL SCREENSHOT_DIR`);
    process.exit(2);
  }
  const profile = mkdtempSync(path.join(tmpdir(), "wharf-ui-browser-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 860 },
    colorScheme: "light",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    base,
    context,
    shot: (page, name) => page.screenshot({ path: path.join(shots, name), fullPage: true }),
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// The trimmed texts of every element `selector` finds.
export const texts = (page, selector) =>
  page.locator(selector).evaluateAll((els) => els.map((e) => e.textContent.trim()));
