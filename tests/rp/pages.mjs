// A person's first run, in headless Chromium (Debian's, driven by playwright-core): open the
// account page URL that `gatehouse serve` printed, log in through the realm's login pages, look
// at the account page, log out. At each page a screenshot, at phone and desktop widths.
//
//   node pages.mjs ACCOUNT_URL USERNAME PASSWORD OUT_DIR
//
// Prints one JSON object: per width, what each page said (title, heading, text) and the
// screenshot files. The browser's PID is printed first (`{"browser_pid": N}` on its own line) so
// that the caller can kill it by PID if this script hangs.
import { chromium } from 'playwright-core';

const [accountUrl, username, password, outDir] = process.argv.slice(2);
const WIDTHS = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'desktop', width: 1280, height: 800 },
];

async function logIn(page) {
  await page.goto(accountUrl);
  await page.fill('#username', username);
  await page.click('button[type=submit]');
  await page.waitForSelector('#password');
  await page.fill('#password', password);
  await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/account')), page.click('button[type=submit]')]);
}

// Two browsers logged in; "log out everywhere" in the second ends the first one's session too.
async function logOutEverywhere(first) {
  await logIn(first);
  const secondContext = await browser.newContext();
  const second = await secondContext.newPage();
  await logIn(second);
  const sessions = await second.locator('tbody tr').count();
  await second.click('text=Log out everywhere');
  await second.waitForSelector('.icon.ok');
  const ended = (await second.locator('main').innerText()).trim();
  await first.goto(accountUrl);
  await first.waitForSelector('#username');
  await secondContext.close();
  return { sessions_before: sessions, ended_text: ended, first_after_url: first.url() };
}

// launchServer, not launch: its process (and PID) is ours to report.
const server = await chromium.launchServer({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  timeout: 30000,
});
console.log(JSON.stringify({ browser_pid: server.process().pid }));
const browser = await chromium.connect(server.wsEndpoint());
const result = { widths: {} };
try {
  for (const w of WIDTHS) {
    const context = await browser.newContext({ viewport: { width: w.width, height: w.height }, deviceScaleFactor: 1 });
    context.setDefaultTimeout(15000);
    const page = await context.newPage();
    const seen = {};
    const shot = async (name) => {
      await page.waitForLoadState('load');
      const file = `${outDir}/${name}-${w.name}.png`;
      await page.screenshot({ path: file, fullPage: true });
      seen[name] = {
        url: page.url(),
        title: await page.title(),
        heading: (await page.locator('h1').first().textContent()).trim(),
        text: (await page.locator('main').innerText()).trim(),
        file,
      };
    };
    // The printed URL, as a person would open it: the account page sends the browser to the
    // realm's login page.
    await page.goto(accountUrl);
    await shot('login');
    await page.fill('#username', username);
    await page.click('button[type=submit]');
    await page.waitForSelector('#password');
    await page.fill('#password', 'not the password');
    await page.click('button[type=submit]');
    await page.waitForSelector('.error');
    await shot('login-failed');
    await page.fill('#password', password);
    await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/account')), page.click('button[type=submit]')]);
    await shot('account');
    // An error page: a login page whose transaction does not exist.
    const errorPage = await context.newPage();
    await errorPage.goto(new URL('login?tx=expired', accountUrl.replace(/account$/, '')).href);
    const file = `${outDir}/error-${w.name}.png`;
    await errorPage.screenshot({ path: file, fullPage: true });
    seen.error = {
      url: errorPage.url(),
      title: await errorPage.title(),
      heading: (await errorPage.locator('h1').first().textContent()).trim(),
      text: (await errorPage.locator('main').innerText()).trim(),
      file,
    };
    await errorPage.close();
    await page.click('text=Log out of this browser');
    await page.waitForSelector('input[name=confirm]', { state: 'attached' });
    await shot('logout');
    await page.click('button[type=submit]');
    await page.waitForSelector('.icon.ok');
    await shot('logged-out');
    // Signed out: the account page asks for a login again.
    await page.goto(accountUrl);
    await page.waitForSelector('#username');
    seen.after_logout = { url: page.url() };
    if (w.name === 'desktop') seen.everywhere = await logOutEverywhere(page);
    result.widths[w.name] = seen;
    await context.close();
  }
} finally {
  await browser.close();
  await server.close();
}
console.log(JSON.stringify(result));
