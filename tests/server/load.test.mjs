// A bounded load test: 200 requests from 8 concurrent clients, a quarter of them malformed or
// abandoned mid-stream. Every valid request must get exactly the reply it gets alone (greedy), every
// bad one its 4xx, the server must stay up, and its memory must come back to where it was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const url = process.env.EDGERUN_URL;
const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
const prompts = ['Tell me a story.', 'What is 2+2?', 'Name a colour.', 'Write a poem.', 'Who are you?',
                 'List three fruits.', 'Say hello in French.', 'Count to five.', 'What is the capital of Italy?',
                 'Describe the sea.'];
const request = (i) => ({ model: 'tiny', temperature: 0, max_tokens: 8, messages: [{ role: 'user', content: prompts[i % prompts.length] }] });
const malformed = ['{"messages": [', '{"messages": "hi"}', '{"messages": [{"role": "user", "content": "x"}], "temperature": 9}',
                   '{"messages": [{"role": "user", "content": "x"}], "n": 3}', '[]'];

async function metric(name) {
  const text = await (await fetch(url + '/metrics')).text();
  return Number(text.match(new RegExp(`^${name} (\\d+)`, 'm'))[1]);
}

async function streamText(body, abortAfter) {
  const controller = new AbortController();
  const stream = await client.chat.completions.create({ ...body, stream: true }, { signal: controller.signal });
  let text = '';
  let chunks = 0;
  try {
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (++chunks === abortAfter) controller.abort();
    }
  } catch (e) {
    if (!abortAfter) throw e;
  }
  return text;
}

async function idle() {
  for (let i = 0; i < 200 && (await metric('edgerun_slots_busy')) !== 0; ++i)
    await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(await metric('edgerun_slots_busy'), 0);
}

test('200 requests, 8 at a time, a quarter malformed or cancelled mid-stream', async () => {
  const expected = [];
  for (let i = 0; i < prompts.length; ++i)
    expected.push((await client.chat.completions.create(request(i))).choices[0].message.content);
  // Warm-up at full concurrency, so the baseline includes what serving 8 clients allocates once.
  await Promise.all(Array.from({ length: 16 }, (_, i) => streamText({ ...request(i), max_tokens: 40 })));
  await idle();
  const baseline = await metric('process_resident_memory_bytes');

  const outcomes = { ok: 0, rejected: 0, cancelled: 0 };
  let next = 0;
  const worker = async () => {
    while (next < 200) {
      const i = next++;
      if (i % 8 === 3) {  // malformed
        const r = await fetch(url + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' },
                                                               body: malformed[i % malformed.length] });
        assert.equal(r.status, 400);
        assert.equal(typeof (await r.json()).error.message, 'string');
        ++outcomes.rejected;
      } else if (i % 8 === 7) {  // the client hangs up after two chunks of a long reply
        await streamText({ ...request(i), max_tokens: 400 }, 2);
        ++outcomes.cancelled;
      } else {
        const text = i % 2 ? await streamText(request(i))
                           : (await client.chat.completions.create(request(i))).choices[0].message.content;
        assert.equal(text, expected[i % prompts.length], `request ${i} got another reply`);
        ++outcomes.ok;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.deepEqual(outcomes, { ok: 150, rejected: 25, cancelled: 25 });

  await idle();
  assert.equal((await fetch(url + '/health')).status, 200);
  const after = await metric('process_resident_memory_bytes');
  console.log(`resident memory: ${(baseline / 2 ** 20).toFixed(1)} MiB before, ${(after / 2 ** 20).toFixed(1)} MiB after`);
  // Back to the baseline: allocator slack allowed, growth with the number of requests not.
  assert.ok(after <= baseline + 4 * 1024 * 1024,
            `resident memory grew from ${(baseline / 2 ** 20).toFixed(1)} MiB to ${(after / 2 ** 20).toFixed(1)} MiB`);
});
