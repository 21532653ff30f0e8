// Drives Wharf's web UI in headless Chromium (Debian's /usr/bin/chromium; no browser is downloaded):
// catalog, filter, repository, tag, theme toggle, delete a tag through the confirmation. Saves
// screenshots into the directory given and prints what it saw as one JSON line for
// tests/ui_browser.rs to check.
//
// Usage: node ui_flow.mjs UI_URL SCREENSHOT_DIR
import { open, texts } from "./chromium.mjs";

const { base, context, shot, close } = await open("ui_flow.mjs");

try {
  const page = context.pages()[0] ?? (await context.newPage());
  const seen = { errors: [] };
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  // The pages' Content-Security-Policy must not block anything they use.
  page.on("console", (m) => {
    if (m.type() === "error" && m.text().includes("Content Security Policy")) seen.errors.push(m.text());
  });

  await page.goto(`${base}/`);
  seen.catalog = await texts(page, "table.repos tbody a");
  await shot(page, "catalog.png");

  await page.fill("input[name=q]", "alp");
  await page.click("form.filter button[type=submit]");
  await page.waitForURL(/q=alp/);
  seen.filtered = await texts(page, "table.repos tbody a");

  await page.click("table.repos a[href='/r/alpine']");
  await page.waitForURL(/\/r\/alpine$/);
  seen.tags = await texts(page, "table.tags tbody td:nth-child(2) a");
  seen.selectAllVisible = await page.locator("[data-select-all]").isVisible();
  await shot(page, "repository.png");

  await page.click("a[href='/r/alpine/-/tags/3.19']");
  await page.waitForURL(/\/tags\/3\.19$/);
  seen.pull = (await page.locator(".pull code").textContent()).trim();
  seen.copyVisible = await page.locator("[data-copy]").isVisible();
  seen.history = await texts(page, "table.history tbody code");
  await shot(page, "tag.png");

  const toggle = page.locator("[data-theme-toggle]");
  await toggle.click();
  await toggle.click();
  seen.theme = await page.evaluate(() => document.documentElement.dataset.theme);
  seen.background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await shot(page, "tag-dark.png");
  await toggle.click();

  await page.goto(`${base}/r/multi/-/tags/1.0`);
  seen.platforms = await texts(page, "select[name=platform] option");
  await page.selectOption("select[name=platform]", { index: 1 });
  await page.click("form.platforms button[type=submit]");
  await page.waitForURL(/platform=/);
  seen.selectedPlatform = (await page.locator("ul.platform-links strong").textContent()).trim();
  await shot(page, "tag-multiarch.png");

  await page.goto(`${base}/r/alpine`);
  await page.check("input[name=tag][value=latest]");
  await page.click("button:has-text('Delete selected')");
  await page.waitForURL(/\/-\/delete$/);
  seen.siblings = await texts(page, ".sibling");
  await shot(page, "delete-confirm.png");
  await page.click("button:has-text('Delete 1 tag')");
  seen.result = (await page.locator("h1").textContent()).trim();
  await page.click("text=Continue");
  await page.waitForURL(/\/r\/alpine$/);
  seen.tagsAfter = await texts(page, "table.tags tbody td:nth-child(2) a");

  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto(`${base}/r/alpine/-/tags/3.19`);
  await shot(page, "tag-mobile.png");

  console.log(JSON.stringify(seen));
} finally {
  await close();
}
