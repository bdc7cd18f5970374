// `edgerun serve` with a SAM model, driven through its web page in headless Chromium
// (playwright-core + Debian's chromium): load an image, click the object, and the mask appears
// over the image. Also the JSON API directly: masks as PNG and RLE, the embedding cache, errors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

import { startServer } from './start_server.mjs';

const samDir = path.join(process.env.EDGERUN_GOLDEN, 'sam/sam-vit-mini');
const imagePath = path.join(samDir, 'images/coffee_600x400.png');
const browserPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
const skip = !fs.existsSync(path.join(samDir, 'model/config.json')) ? 'SAM golden model not found' : false;
let server, url;

before(async () => {
  if (skip) return;
  ({ server, url } = await startServer(['-m', path.join(samDir, 'model'), '-t', '2']));
});

after(() => server?.kill());

async function segment(body) {
  const r = await fetch(`${url}/v1/segment`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

test('POST /v1/segment: masks as PNG and RLE, then the cached embedding, then errors', { skip }, async () => {
  const image = fs.readFileSync(imagePath).toString('base64');
  const first = await segment({ image, points: [[290, 140]], labels: [1], multimask: true });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.masks.length, 3);
  assert.equal(first.body.cached, false);
  for (const m of first.body.masks) {
    assert.deepEqual(m.rle.size, [400, 600]);
    assert.equal(m.rle.counts.reduce((a, b) => a + b, 0), 400 * 600);
    const ones = m.rle.counts.filter((_, i) => i % 2 === 1).reduce((a, b) => a + b, 0);
    assert.equal(ones, m.area);
    assert.equal(Buffer.from(m.png, 'base64').subarray(1, 4).toString(), 'PNG');
  }
  const again = await segment({ image_id: first.body.image_id, box: [170, 15, 410, 285] });
  assert.equal(again.status, 200);
  assert.equal(again.body.cached, true);
  assert.equal(again.body.timings.encode_ms, 0);
  assert.equal((await segment({ image_id: 'img-unknown', points: [[1, 1]] })).status, 404);
  assert.equal((await segment({ image: 'not base64!', points: [[1, 1]] })).status, 400);
  assert.equal((await segment({ image: Buffer.from('not an image').toString('base64'), points: [[1, 1]] })).status, 400);
  const outside = await segment({ image_id: first.body.image_id, points: [[900, 10]] });
  assert.equal(outside.status, 400);
  assert.equal(outside.body.error.param, 'points[0]');
  assert.equal((await fetch(`${url}/v1/segment`, { method: 'POST', body: '{oops' })).status, 400);
});

test('the web page: load an image, click the cup, the mask is drawn', { skip: skip || (!browserPath && 'chromium not installed') }, async () => {
  const browser = await chromium.launch({ executablePath: browserPath, headless: true, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
    await page.goto(url);
    await page.setInputFiles('#file', imagePath);
    await page.waitForFunction(() => document.body.dataset.state === 'ready');
    const before = await page.locator('#view').screenshot();
    // The canvas shows the image at its own size (600x400); click the cup at (290, 140).
    const box = await page.locator('#view').boundingBox();
    await page.mouse.click(box.x + 290 * box.width / 600, box.y + 140 * box.height / 400);
    await page.waitForFunction(() => document.body.dataset.state === 'done', null, { timeout: 60000 });
    const area = Number(await page.evaluate(() => document.body.dataset.maskArea));
    assert.ok(area > 0, 'the reply has a mask');
    // The mask is drawn: as many canvas pixels are tinted towards blue as the mask has pixels
    // (give or take the point marker), and the screenshot changed.
    const tinted = await page.evaluate(() => {
      const c = document.getElementById('view');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 2] >= 127 && d[i + 2] > d[i] + 20) ++n;
      return n;
    });
    assert.ok(Math.abs(tinted - area) < 0.05 * area + 500, `tinted ${tinted} pixels for a mask of ${area}`);
    const after = await page.locator('#view').screenshot();
    assert.notDeepEqual(after, before);
    // Kept for a person to look at (EDGERUN_ARTIFACTS, default the temp dir).
    fs.writeFileSync(path.join(process.env.EDGERUN_ARTIFACTS ?? os.tmpdir(), 'edgerun_segment_page.png'), after);
  } finally {
    await browser.close();
  }
});
