// The web flow of an authentication policy in headless Chromium (Debian's, driven by
// playwright-core): the login page, the choice of a second step, its code page, the signed-in
// page. A screenshot of each (desktop width, and the login page at phone width too).
//
//   node authsvc_pages.mjs START_URL USERNAME PASSWORD CODE OUT_DIR
//
// Prints `{"browser_pid": N}` first (so the caller can kill the browser by PID), then one JSON
// object: each page's heading and screenshot file.
import { chromium } from 'playwright-core';

const [startUrl, username, password, code, outDir] = process.argv.slice(2);

const server = await chromium.launchServer({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  timeout: 30000,
});
console.log(JSON.stringify({ browser_pid: server.process().pid }));
const browser = await chromium.connect(server.wsEndpoint());
const pages = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  // A selector that never shows up fails with what the page said instead.
  const expect = async (selector) => {
    try {
      await page.waitForSelector(selector);
    } catch (e) {
      throw new Error(`${selector} not on ${page.url()}: ${await page.content()}`);
    }
  };
  const shot = async (name) => {
    await page.waitForLoadState('load');
    const screenshot = `${outDir}/authsvc-${name}.png`;
    await page.screenshot({ path: screenshot, fullPage: true });
    pages.push({ name, heading: (await page.locator('h1').first().textContent()).trim(), screenshot });
  };
  await page.goto(startUrl);
  await expect('input[name=password]');
  await shot('login');
  await page.fill('input[name=login]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await expect('button[value=test_code]');
  await shot('choose');
  await page.click('button[value=test_code]');
  await expect('input[name=code]');
  await shot('code');
  await page.fill('input[name=code]', code);
  await page.click('button[type=submit]');
  await expect('.icon.ok');
  await shot('done');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(startUrl);
  await expect('input[name=password]');
  const phone = `${outDir}/authsvc-login-phone.png`;
  await page.screenshot({ path: phone, fullPage: true });
  await context.close();
} finally {
  await browser.close();
  await server.close();
}
console.log(JSON.stringify({ pages }));
