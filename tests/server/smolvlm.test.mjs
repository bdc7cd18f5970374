// `edgerun serve` on the tiny SmolVLM golden model, started by this file on its own port: images
// as OpenAI image_url parts (data: URLs, and local files under --allow-local-files), the answer
// equal to `edgerun describe`'s, the prompt cache telling images apart, and bad images as 400s.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';

import { startServer } from './start_server.mjs';

const dir = path.join(process.env.EDGERUN_GOLDEN, 'vlm/tiny-smolvlm');
const model = path.join(dir, 'model');
const cat = path.join(dir, 'images/image2_cat_200x300.png');
// A 2-second FFV1 clip (20 frames, 48x32) written by tests/media/video_test_util.h.
const clip = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures/clip.mkv');
let images;  // the directory served with --allow-local-files: copies of the inputs
let coffee;
const skip = !fs.existsSync(path.join(model, 'config.json')) && 'tiny-smolvlm golden model not found';
let server, client;

before(async () => {
  if (skip) return;
  images = fs.mkdtempSync(path.join(os.tmpdir(), 'edgerun-vlm-'));
  coffee = path.join(images, 'coffee.png');
  fs.copyFileSync(path.join(dir, 'images/image1_coffee_strip_600x149.png'), coffee);
  fs.copyFileSync(clip, path.join(images, 'clip.mkv'));
  let url;
  ({ server, url } = await startServer(['-m', model, '--ctx', '2048', '-t', '2', '--allow-local-files', images]));
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(() => {
  server?.kill();
  if (images) fs.rmSync(images, { recursive: true, force: true });
});

const dataUrl = (file) => `data:image/png;base64,${fs.readFileSync(file).toString('base64')}`;
const ask = (url, question = 'What is this?', extra = {}) => client.chat.completions.create({
  model: 'smolvlm', temperature: 0, max_tokens: 8, ...extra,
  messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text: question }] }],
});

test('SmolVLM: an image as a data: URL gets the answer `edgerun describe` gives', { skip }, async () => {
  const cli = spawnSync(process.env.EDGERUN_BINARY, ['describe', '-m', model, '--image', cat, '-p', 'What is this?',
                                                     '--temp', '0', '-n', '8'], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const r = await ask(dataUrl(cat));
  assert.equal(r.choices[0].message.content, cli.stdout.replace(/\n$/, ''));
  assert.ok(r.usage.prompt_tokens > 13 * 64, `prompt_tokens ${r.usage.prompt_tokens}`);
});

test('SmolVLM: a local file under --allow-local-files, and the prompt cache per image', { skip }, async () => {
  const first = await ask(dataUrl(coffee));
  const again = await ask('coffee.png');  // a path relative to the allowed directory
  assert.equal(again.choices[0].message.content, first.choices[0].message.content);
  assert.ok(again.usage.prompt_tokens_details.cached_tokens > 5 * 64, 'the same image reuses the cache');
  const other = await ask(dataUrl(cat));
  // Another image: only the text before it can come from the cache.
  assert.ok(other.usage.prompt_tokens_details.cached_tokens < 10, `cached ${other.usage.prompt_tokens_details.cached_tokens}`);
  const text = await client.chat.completions.create({ model: 'smolvlm', max_tokens: 4, temperature: 0,
                                                      messages: [{ role: 'user', content: 'Hello' }] });
  assert.equal(text.usage.completion_tokens, 4);
});

test('SmolVLM: a local video as a video_url part gets the answer `edgerun describe --video` gives', { skip }, async () => {
  const cli = spawnSync(process.env.EDGERUN_BINARY, ['describe', '-m', model, '--video', clip, '-p', 'What happens?',
                                                     '--temp', '0', '-n', '6'], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const r = await client.chat.completions.create({ model: 'smolvlm', temperature: 0, max_tokens: 6, messages: [
    { role: 'user', content: [{ type: 'video_url', video_url: { url: 'clip.mkv' } }, { type: 'text', text: 'What happens?' }] }] });
  assert.equal(r.choices[0].message.content, cli.stdout.replace(/\n$/, ''));
  assert.ok(r.usage.prompt_tokens > 2 * 64, `prompt_tokens ${r.usage.prompt_tokens}`);
  await assert.rejects(client.chat.completions.create({ model: 'smolvlm', max_tokens: 2, messages: [
    { role: 'user', content: [{ type: 'video_url', video_url: { url: 'coffee.png' } }] }] }), (e) => e.status === 400);
});

test('SmolVLM: unusable images are 400s naming the part', { skip }, async () => {
  const expect400 = async (url, needle) => {
    await assert.rejects(ask(url), (e) => {
      assert.equal(e.status, 400, e.message);
      assert.match(e.message, needle);
      return true;
    });
  };
  await expect400('https://example.com/cat.png', /remote URLs are not fetched/);
  await expect400('/etc/passwd', /outside the allowed directory/);
  await expect400(path.join(images, 'missing.png'), /no such file/);
  await expect400('data:image/png;base64,' + Buffer.from('not a png').toString('base64'), /image 1/);
  await expect400('data:image/png;base64,@@@', /base64/);
  await assert.rejects(client.chat.completions.create({ model: 'smolvlm', max_tokens: 4, messages: [
    { role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }), (e) => e.status === 400);
  const ok = await ask(dataUrl(cat));  // the server still works
  assert.ok(ok.choices[0].message.content.length > 0);
});
