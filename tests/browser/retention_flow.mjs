// Drives the disk-space pages of Wharf's web UI in headless Chromium (Debian's /usr/bin/chromium):
// the disk view, the retention preview, applying it through its confirmation, the tag gone from the
// repository page, the trash, a restore and the tag back. Saves screenshots into the directory given
// and prints what it saw as one JSON line for tests/ui_browser.rs to check.
//
// Usage: node retention_flow.mjs UI_URL SCREENSHOT_DIR
import { open, texts } from "./chromium.mjs";

const { base, context, shot, close } = await open("retention_flow.mjs");
const repoTags = (page) => texts(page, "table.tags tbody td:nth-child(2) a");

try {
  const page = context.pages()[0] ?? (await context.newPage());
  const seen = { errors: [] };
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error" && m.text().includes("Content Security Policy")) seen.errors.push(m.text());
  });

  await page.goto(`${base}/`);
  await page.click("nav.tools a:has-text('Disk')");
  await page.waitForURL(/\/disk$/);
  seen.disk = await texts(page, "table.disk tbody td:first-child a");
  seen.diskUnique = await texts(page, "table.disk tbody td.unique");
  await shot(page, "disk.png");

  await page.click("nav.tools a:has-text('Retention')");
  await page.waitForURL(/\/retention$/);
  seen.doomed = await texts(page, "table.doomed tbody td:first-child a");
  seen.frees = await texts(page, "section.retention-repo .frees");
  await shot(page, "retention-preview.png");
  await page.click("button:has-text('into the trash')");
  await page.waitForSelector("section.message");
  seen.applied = (await page.locator("h1").textContent()).trim();
  seen.appliedItems = await texts(page, "section.message li code");

  await page.goto(`${base}/r/alpine`);
  seen.tagsAfterApply = await repoTags(page);
  seen.pushed = await texts(page, "table.tags tbody td.pushed");

  await page.click("nav.tools a:has-text('Trash')");
  await page.waitForURL(/\/trash$/);
  seen.trash = await texts(page, "table.trash tbody td:first-child");
  await shot(page, "trash.png");
  await page.click("button[aria-label='Restore alpine:3.18']");
  await page.waitForSelector("section.message");
  seen.restored = (await page.locator("h1").textContent()).trim();
  await page.click("text=Continue");
  await page.waitForURL(/\/r\/alpine$/);
  seen.tagsAfterRestore = await repoTags(page);

  console.log(JSON.stringify(seen));
} finally {
  await close();
}
