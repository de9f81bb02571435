// Logs in to the admin pages in headless Chromium, visits every page, saves screenshots, and
// asserts on the rendered DOM: the usage charts by hour and by day, the halted node's error, a
// hostile user_sid shown as text, the wallet of u_2 (its budget 5 cents, daily cap 4 cents and
// auto top-up below $1.00 set before the run, its 5-cent record charged 4 and waived 1) with its
// spend bars, its hold released by the Release button, its settings form and its credit form (a
// grant double-clicked credits once, a top-up lifts the top-up due), the alerts and top-ups due,
// the payments, and the halted node's webhook, given up after the receiver refused it, delivered
// by Retry now.
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
  // Other events (the budget alerts, the top-up request, depleted wallets) were given up too.
  const failed = await awaitRow(page, url, '#deliveries tr.failed:has(td:text-is("node.halted"))',
    'a failed node.halted delivery');
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
  const delivered = await awaitRow(page, url, `#deliveries tr.delivered:has(td:text-is("${cells[0]}"))`,
    'the delivered event');
  if (await page.locator('#deliveries tr.delivered').count() !== 1) fail('another event was delivered');
  await page.screenshot({ path: `${shots}/deliveries.png`, fullPage: true });
}

/** The overview's two charts: 48 hours and 30 days, a slot each, the seeded usage in one, named axes. */
async function checkCharts(page) {
  // The records were written at the current hour; which slot holds them depends on the clock, not their values.
  const seeded = /: \$0\.15, 2 records \(\$0\.14 charged, \$0\.01 waived\)$/;
  for (const [id, slots, axis] of [['usage-by-hour', 48, 'hour (UTC)'], ['usage-by-day', 30, 'day (UTC)']]) {
    const chart = page.locator(`svg#${id}`);
    const titles = await chart.locator('g.bar > title').allTextContents();
    if (titles.length !== slots) fail(`the chart ${id} has ${titles.length} slots, not ${slots}`);
    if (titles.filter((t) => seeded.test(t)).length !== 1) fail(`no slot of ${id} holds the seeded usage: ${titles}`);
    if (await chart.locator('rect.charged').count() !== 1 || await chart.locator('rect.waived').count() !== 1) {
      fail(`the chart ${id} does not draw one charged and one waived bar`);
    }
    const names = await chart.locator('text.axis-name').allTextContents();
    if (names.join('|') !== `cost|${axis}`) fail(`the chart ${id} names its axes ${names}`);
    const yLabels = await chart.locator('text.y-label').allTextContents();
    if (yLabels.join('|') !== '$0.15|$0.00') fail(`the chart ${id} labels its y axis ${yLabels}`);
    if (await chart.locator('text.x-label').count() < 4) fail(`the chart ${id} labels too few slots`);
  }
}

/** Submits a form by clicking, and answers the notice of the page it is redirected to. */
async function submit(page, click) {
  const before = page.url();
  await Promise.all([page.waitForURL((url) => url.href !== before && url.search.startsWith('?message=')), click()]);
  return (await page.textContent('#notice')).trim();
}

async function walletRows(page, type) {
  return (await page.locator('#transactions tbody tr td:nth-child(2)').allInnerTexts()).filter((t) => t === type).length;
}

/** The hold smoke_browser.sh placed on u_2, listed against its balance, then released by its button. */
async function checkHold(page) {
  const row = (await page.locator('#holds tbody tr').allInnerTexts()).map((r) => r.replace(/\s+/g, ' ').trim());
  if (row.length !== 1 || !/^\d+ \$0\.03 A smoke-hold admin \S+ \S+ Release$/.test(row[0])) {
    fail(`the holds table lists ${JSON.stringify(row)}`);
  }
  const summary = (await page.textContent('#holds-summary')).replace(/\s+/g, ' ').trim();
  if (summary !== 'Balance $4.96 · held $0.03 by 1 active hold · available $4.93') fail(`the holds say "${summary}"`);
  await page.screenshot({ path: `${shots}/wallet.png`, fullPage: true });
  const notice = await submit(page, () => page.click('#holds button'));
  if (!/^Hold \d+ of \$0\.03 \(node A, key smoke-hold\) released by admin; \$4\.96 is available now\.$/.test(notice)) {
    fail(`releasing the hold says "${notice}"`);
  }
  const rows = await page.locator('#holds tbody tr').allInnerTexts();
  if (rows.join() !== 'No active holds.') fail(`after the release the holds table lists ${JSON.stringify(rows)}`);
}

/** u_2's wallet: the spend bars, its hold, the settings form, and the credit form's idempotency in a real browser. */
async function checkWallet(page) {
  await page.goto(`${base}/admin/ui/users/u_2`);
  const budget = (await page.textContent('#budget figcaption')).trim();
  if (!/^\$0\.04 of \$0\.05 budget spent in \d{4}-\d{2} \(80%\) · \$0\.01 waived by the daily cap$/.test(budget)) {
    fail(`the budget bar says "${budget}"`);
  }
  if (await page.getAttribute('#budget svg', 'class') !== 'bar warn') fail('the budget bar is not at warn');
  if (await page.getAttribute('#budget rect.value', 'width') !== '320') fail('the budget bar is not 80 % long');
  const marks = await page.locator('#budget text').allTextContents();
  if (marks.join('|') !== '50%|80%|100%') fail(`the budget bar's marks are ${marks}`);
  const cap = (await page.textContent('#cap figcaption')).trim();
  if (!/^\$0\.04 of \$0\.04 daily cap charged on \d{4}-\d{2}-\d{2} \(100%\) · \$0\.01 waived$/.test(cap)) {
    fail(`the cap bar says "${cap}"`);
  }
  if (await page.locator('svg#wallet-usage g.bar').count() !== 30) fail('the wallet chart does not have 30 days');
  await checkHold(page);

  await page.fill('#monthly_budget', '1.00');
  let notice = await submit(page, () => page.click('#save-settings'));
  if (notice !== 'Settings saved by admin: monthly budget $1.00.') fail(`saving the settings says "${notice}"`);
  if ((await page.inputValue('#monthly_budget')) !== '1.00') fail('the saved budget is not shown in the form');
  const change = (await page.locator('#changes tbody tr').first().innerText()).replace(/\s+/g, ' ');
  if (!change.endsWith('admin monthly budget $0.05 → $1.00')) fail(`the settings change is shown as "${change}"`);

  // A double click posts the form twice (or once): either way the grant is credited once. Which
  // answer the page ends on depends on the browser's timing, so the wallet is read afresh after.
  await page.fill('#amount', '18.51');
  await page.fill('#note', 'double-clicked');
  const before = page.url();
  // The second post may abort the first one's navigation (net::ERR_ABORTED): then the page ends on
  // the second's answer, which is waited for in turn.
  const moved = (url) => url.href !== before;
  await Promise.all([page.waitForURL(moved).catch(async (e) => {
    if (!String(e).includes('ERR_ABORTED')) throw e;
    await page.waitForURL(moved);
  }), page.dblclick('#credit-submit')]);
  await page.waitForLoadState('networkidle');
  await page.goto(`${base}/admin/ui/users/u_2`);
  if (await walletRows(page, 'grant') !== 1) fail('the double-clicked grant was not credited exactly once');
  if ((await page.textContent('#balance')).trim() !== '$23.47') fail('the balance after the top-up and grant is not $23.47');
  await page.screenshot({ path: `${shots}/wallet-credited.png`, fullPage: true });
}

/** The alerts u_2's charge fired: 50 and 80 % of its 5-cent budget, at a spend of 4 cents. */
async function checkAlerts(page) {
  await page.goto(`${base}/admin/ui/alerts`);
  const rows = (await page.locator('#alerts tbody tr').allInnerTexts()).map((r) => r.replace(/\s+/g, ' ').trim());
  if (rows.length !== 2 || !/ u_2 \d{4}-\d{2} 80% \$0\.04 \$0\.05$/.test(rows[0])
      || !/ u_2 \d{4}-\d{2} 50% \$0\.04 \$0\.05$/.test(rows[1])) {
    fail(`the alerts page lists ${JSON.stringify(rows)}`);
  }
  await page.screenshot({ path: `${shots}/alerts.png`, fullPage: true });
}

/** u_2 is due a top-up of $5.00 below $1.00 until its wallet page's top-up lifts it. */
async function checkTopups(page, due) {
  await page.goto(`${base}/admin/ui/topups`);
  const rows = (await page.locator('#topups tbody tr').allInnerTexts()).map((r) => r.replace(/\s+/g, ' ').trim());
  if (due) {
    if (rows.length !== 1 || !/^u_2 -\$0\.04 \$1\.00 \$5\.00 \d{4}-\d{2}-\d{2}T/.test(rows[0])) {
      fail(`the top-ups due page lists ${JSON.stringify(rows)}`);
    }
    await page.screenshot({ path: `${shots}/topups.png`, fullPage: true });
    await page.click('#topups a');
    await page.selectOption('#kind', 'topup');
    await page.fill('#amount', '5');
    await page.fill('#payment_id', 'pi_smoke_1');
    const notice = await submit(page, () => page.click('#credit-submit'));
    if (!/^Top-up pi_smoke_1 of \$5\.00 to u_2: transaction \d+, recorded at \S+ by admin\.$/.test(notice)) {
      fail(`the top-up says "${notice}"`);
    }
  } else if (rows.join() !== 'No wallet is below its auto top-up threshold.') {
    fail(`after the top-up the top-ups due page lists ${JSON.stringify(rows)}`);
  }
}

/** The top-up and the grant, as money. */
async function checkPayments(page) {
  await page.goto(`${base}/admin/ui/payments`);
  const amounts = await page.locator('#payments tbody td.num').allInnerTexts();
  if (amounts.join('|') !== '$18.51|$5.00') fail(`the payments page lists ${amounts}`);
  await page.screenshot({ path: `${shots}/payments.png`, fullPage: true });
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
  await checkCharts(page);
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
  await checkAlerts(page);
  await checkTopups(page, true);
  await checkWallet(page);
  await checkTopups(page, false);
  await checkPayments(page);
  await checkDeliveries(page);
  if (violations.length) fail(`CSP violations: ${violations.join('; ')}`);
  console.log('smoke_browser: DOM checks passed');
} finally {
  await browser.close();
}
