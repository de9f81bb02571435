// Logs in to the admin pages in headless Chromium, saves screenshots, and asserts on the
// rendered DOM: the halted node's error is visible, a hostile user_sid is text, not markup, and
// the halted node's webhook, given up after the receiver refused it, is delivered by Retry now.
import { chromium } from 'playwright-core';

const [base, token, shots] = process.argv.slice(2);
const fail = (message) => { console.error(`smoke_browser: FAILED: ${message}`); process.exit(1); };

/** Reloads the page until the selector matches (the webhook worker runs on its own timer), or fails. */
async function awaitRow(page, url, selector, what) {
  for (let i = 0; i < 150; i++) {
    await page.goto(url);
    if (await page.locator(selector).count() > 0) return page.locator(selector).first();
    await page.waitForTimeout(200);
  }
  fail(`the deliveries page never showed ${what}`);
}

/** The halted node's event: given up while the receiver was down, then retried and delivered. */
async function checkDeliveries(page) {
  const url = `${base}/admin/ui/deliveries`;
  const failed = await awaitRow(page, url, '#deliveries tr.failed', 'a failed delivery');
  const cells = await failed.locator('td').allInnerTexts();
  if (cells[1] !== 'node.halted' || !['1', '2'].includes(cells[4])
      || !cells[6].includes('answered HTTP 500: smoke receiver fails')) {
    fail(`the failed delivery's row says: ${cells.join(' | ')}`);
  }
  await page.screenshot({ path: `${shots}/deliveries-failed.png`, fullPage: true });
  await Promise.all([page.waitForURL(/\/admin\/ui\/deliveries\?message=/),
    failed.locator('button', { hasText: 'Retry now' }).click()]);
  const notice = await page.textContent('#notice');
  if (notice !== `Event ${cells[0]} is due now.`) fail(`the retry's notice says "${notice}"`);
  const delivered = await awaitRow(page, url, '#deliveries tr.delivered', 'the delivered event');
  if ((await delivered.locator('td').first().innerText()) !== cells[0]) fail('another event was delivered');
  await page.screenshot({ path: `${shots}/deliveries.png`, fullPage: true });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  page.on('dialog', (d) => fail(`a script ran and opened a dialog: ${d.message()}`));
  const violations = [];
  page.on('console', (m) => { if (/Content Security Policy/.test(m.text())) violations.push(m.text()); });

  await page.goto(`${base}/admin/ui/`);
  if (!page.url().endsWith('/admin/ui/login')) fail(`not sent to the login page: ${page.url()}`);
  await page.fill('#token', token);
  await Promise.all([page.waitForURL(`${base}/admin/ui/`), page.click('button[type=submit]')]);
  const wallets = await page.textContent('#wallets');
  if (wallets.trim() !== '2') fail(`the overview shows ${wallets} wallets, not 2`);
  const health = await page.textContent('#health');
  if (!health.includes('1 of 2 nodes halted')) fail(`the overview's aggregator health says "${health}"`);
  if (await page.locator('svg.chart rect').count() < 1) fail('the usage chart has no bars');
  await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });

  await page.goto(`${base}/admin/ui/aggregator`);
  const halted = page.locator('#nodes tr.halted');
  if (await halted.count() !== 1) fail('the aggregator page does not show exactly one halted node');
  const error = await halted.locator('td.error').innerText();
  if (!error.includes('nodes/B/usage_2026-11-21-10.toml:5: cost_cents must be >= 0, got -5')) {
    fail(`the halted node's error is not visible: "${error}"`);
  }
  if (!(await halted.locator('button', { hasText: 'Resume' }).isVisible())) fail('no Resume button');
  await page.screenshot({ path: `${shots}/aggregator.png`, fullPage: true });

  await page.goto(`${base}/admin/ui/users`);
  const users = await page.locator('#users tbody td:first-child').allInnerTexts();
  if (!users.includes('<script>alert(1)</script>')) fail(`the hostile user_sid is not shown as text: ${users}`);
  if (await page.locator('script').count() !== 0) fail('the page holds a script element');
  await page.screenshot({ path: `${shots}/users.png`, fullPage: true });
  await checkDeliveries(page);
  if (violations.length) fail(`CSP violations: ${violations.join('; ')}`);
  console.log('smoke_browser: DOM checks passed');
} finally {
  await browser.close();
}
