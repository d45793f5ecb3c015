// Setting up an authenticator app on the account page, in headless Chromium (Debian's, driven by
// playwright-core): log in, open "Two-factor authentication", start the set-up, read the key the
// page shows and compute the app's code from it (RFC 6238, SHA-1, 6 digits, 30 s), type a wrong
// code first, then the right one, and keep the recovery codes. A screenshot of every page.
//
//   node two_factor.mjs ACCOUNT_URL USERNAME PASSWORD OUT_DIR
//
// Prints `{"browser_pid": N}` first, then one JSON object: per page its heading, text and file,
// and what the QR code measured.
import { createHmac } from 'node:crypto';
import { chromium } from 'playwright-core';

const [accountUrl, username, password, outDir] = process.argv.slice(2);

function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

function totp(secret, unix = Date.now() / 1000) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unix / 30)));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1000000;
  return value.toString().padStart(6, '0');
}

const server = await chromium.launchServer({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  timeout: 30000,
});
console.log(JSON.stringify({ browser_pid: server.process().pid }));
const browser = await chromium.connect(server.wsEndpoint());
const result = { pages: {} };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  const shot = async (name) => {
    await page.waitForLoadState('load');
    const file = `${outDir}/${name}.png`;
    await page.screenshot({ path: file, fullPage: true });
    result.pages[name] = {
      url: page.url(),
      heading: (await page.locator('h1').first().textContent()).trim(),
      text: (await page.locator('main').innerText()).trim(),
      file,
    };
  };
  await page.goto(accountUrl);
  await page.fill('#username', username);
  await page.click('button[type=submit]');
  await page.waitForSelector('#password');
  await page.fill('#password', password);
  await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/account')), page.click('button[type=submit]')]);
  await page.click('text=Manage two-factor authentication');
  await page.waitForSelector('text=Set up an authenticator app');
  await shot('mfa-overview');
  await page.click('button:has-text("Set up an authenticator app")');
  await page.waitForSelector('.qr svg');
  const box = await page.locator('.qr svg').boundingBox();
  result.qr = { width: box.width, height: box.height, paths: await page.locator('.qr svg path, .qr svg rect').count() };
  await shot('mfa-setup');
  const secret = (await page.locator('#secret').textContent()).trim();
  await page.fill('#code', '1234567');
  await page.click('button:has-text("Verify and turn on")');
  await page.waitForSelector('.error');
  await shot('mfa-setup-wrong-code');
  await page.fill('#code', totp(secret));
  await page.click('button:has-text("Verify and turn on")');
  await page.waitForSelector('#recovery-codes');
  result.recovery_codes = await page.locator('#recovery-codes code').allTextContents();
  await shot('mfa-recovery-codes');
  await page.click('text=I have saved my recovery codes');
  await page.waitForSelector('text=Remove authenticator app');
  await shot('mfa-enabled');
  await context.close();
} finally {
  await browser.close();
  await server.close();
}
console.log(JSON.stringify(result));
