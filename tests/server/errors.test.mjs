// Bad requests get OpenAI error JSON with the right status; an aborted stream leaves the server
// healthy; /health and /metrics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const url = process.env.EDGERUN_URL;
const user = [{ role: 'user', content: 'hi' }];

async function post(path, body) {
  const r = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' },
                                      body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

async function expectError(path, body, status, param) {
  const r = await post(path, body);
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(typeof r.body.error.message, 'string');
  assert.equal(typeof r.body.error.type, 'string');
  assert.ok('param' in r.body.error && 'code' in r.body.error);
  if (param !== undefined) assert.equal(r.body.error.param, param);
}

test('malformed chat requests are 400 with the field named', async () => {
  const chat = '/v1/chat/completions';
  await expectError(chat, '{not json', 400);
  await expectError(chat, '[1, 2]', 400);
  await expectError(chat, {}, 400, 'messages');
  await expectError(chat, { messages: 'hi' }, 400, 'messages');
  await expectError(chat, { messages: [] }, 400, 'messages');
  await expectError(chat, { messages: [{ role: 'wizard', content: 'x' }] }, 400, 'messages[0].role');
  await expectError(chat, { messages: [{ role: 'user', content: 5 }] }, 400, 'messages[0].content');
  await expectError(chat, { messages: user, temperature: 'hot' }, 400, 'temperature');
  await expectError(chat, { messages: user, temperature: 3 }, 400, 'temperature');
  await expectError(chat, { messages: user, max_tokens: 0 }, 400, 'max_tokens');
  await expectError(chat, { messages: user, max_tokens: 'many' }, 400, 'max_tokens');
  await expectError(chat, { messages: user, stop: [1] }, 400, 'stop[0]');
  await expectError(chat, { messages: user, n: 2 }, 400, 'n');
  await expectError(chat, { messages: user, stream: 'yes' }, 400, 'stream');
  await expectError(chat, { messages: user, tools: [{ type: 'function' }] }, 400, 'tools[0].function');
  await expectError(chat, { messages: user, tool_choice: 'required' }, 400, 'tool_choice');
  await expectError(chat, { messages: user, response_format: { type: 'xml' } }, 400, 'response_format.type');
  await expectError(chat, { messages: user, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', patternProperties: {} } } } },
                    400, 'response_format.json_schema.schema');
  await expectError(chat, { messages: [{ role: 'user', content: 'word '.repeat(3000) }] }, 400);
});

test('malformed completion requests are 400', async () => {
  await expectError('/v1/completions', {}, 400, 'prompt');
  await expectError('/v1/completions', { prompt: 7 }, 400, 'prompt');
  await expectError('/v1/completions', { prompt: 'x', top_p: 2 }, 400, 'top_p');
});

test('unknown routes are 404 and wrong methods 405', async () => {
  const missing = await fetch(url + '/v1/nothing');
  assert.equal(missing.status, 404);
  assert.equal(typeof (await missing.json()).error.message, 'string');
  const wrong = await fetch(url + '/v1/chat/completions');
  assert.equal(wrong.status, 405);
  assert.equal(typeof (await wrong.json()).error.message, 'string');
});

test('a client leaving mid-stream leaves the server healthy', async () => {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const controller = new AbortController();
  const stream = await client.chat.completions.create(
    { model: 'tiny', messages: user, max_tokens: 1000, stream: true, temperature: 0 }, { signal: controller.signal });
  let chunks = 0;
  try {
    for await (const _ of stream) if (++chunks === 3) controller.abort();
  } catch {
    // the client reports the abort as an error or simply ends the stream
  }
  assert.ok(chunks >= 3);  // chunks already received may still be delivered after the abort
  // The server notices the closed connection and frees the slot long before 1000 tokens.
  let busy = '';
  for (let i = 0; i < 50 && busy !== '0'; ++i) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    busy = (await (await fetch(url + '/metrics')).text()).match(/edgerun_slots_busy (\d+)/)[1];
  }
  assert.equal(busy, '0');
  const health = await fetch(url + '/health');
  assert.equal(health.status, 200);
  const r = await client.chat.completions.create({ model: 'tiny', messages: user, max_tokens: 4, temperature: 0 });
  assert.equal(r.usage.completion_tokens, 4);
});

test('/metrics reports counters, a latency histogram and the queue depth', async () => {
  const r = await fetch(url + '/metrics');
  assert.equal(r.status, 200);
  const text = await r.text();
  assert.match(text, /edgerun_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} \d+/);
  assert.match(text, /edgerun_generated_tokens_total [1-9]\d*/);
  assert.match(text, /edgerun_prompt_tokens_total [1-9]\d*/);
  assert.match(text, /edgerun_request_duration_seconds_bucket\{le="\+Inf"\} \d+/);
  assert.match(text, /edgerun_queue_depth \d+/);
});

test('a client leaving before a non-streamed reply is complete stops its generation', async () => {
  const before = await (await fetch(url + '/metrics')).text();
  const left = Number(before.match(/edgerun_requests_total\{endpoint="\/v1\/chat\/completions",status="499"\} (\d+)/)?.[1] ?? 0);
  const controller = new AbortController();
  const pending = fetch(url + '/v1/chat/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: controller.signal,
    body: JSON.stringify({ model: 'tiny', messages: user, max_tokens: 1800, temperature: 0 }),
  }).catch(() => 'aborted');
  // Wait until the request is generating, then hang up.
  let busy = '0';
  for (let i = 0; i < 100 && busy === '0'; ++i) {
    busy = (await (await fetch(url + '/metrics')).text()).match(/edgerun_slots_busy (\d+)/)[1];
    if (busy === '0') await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.notEqual(busy, '0', 'the request never started');
  controller.abort();
  assert.equal(await pending, 'aborted');
  let text = '';
  for (let i = 0; i < 100; ++i) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    text = await (await fetch(url + '/metrics')).text();
    if (text.match(/edgerun_slots_busy (\d+)/)[1] === '0') break;
  }
  assert.match(text, /edgerun_slots_busy 0/);
  const now = Number(text.match(/edgerun_requests_total\{endpoint="\/v1\/chat\/completions",status="499"\} (\d+)/)?.[1] ?? 0);
  assert.equal(now, left + 1, 'the abandoned request is counted as 499');
});
