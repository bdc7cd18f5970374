// `edgerun serve` on Ministral 3 (the tiny golden decoder, Tekken tokenizer and the family's
// chat template), started by this file on its own port: chat, streaming and tool calls.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

import { startServer } from './start_server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const source = path.join(process.env.EDGERUN_GOLDEN, 'llm/tiny-ministral3/model');
const skip = !fs.existsSync(path.join(source, 'config.json')) && 'tiny-ministral3 golden model not found';
let server, client, dir;

before(async () => {
  if (skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgerun-ministral-'));
  for (const f of ['config.json', 'generation_config.json', 'model.safetensors', 'tekken.json', 'tokenizer.json'])
    fs.symlinkSync(path.join(source, f), path.join(dir, f));
  fs.copyFileSync(path.join(here, '../text/chat_templates/ministral-3-14b-reasoning/template.jinja'),
                  path.join(dir, 'chat_template.jinja'));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>' }));
  let url;
  ({ server, url } = await startServer(['-m', dir, '--ctx', '1024', '-t', '2']));
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(() => {
  server?.kill();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const greedy = { model: 'ministral', temperature: 0, seed: 1 };
const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Weather in Paris?' }];
const tools = [{ type: 'function', function: { name: 'get_weather',
  parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'] } } }];

test('Ministral: chat replies, streamed and not, agree', { skip }, async () => {
  const whole = await client.chat.completions.create({ ...greedy, messages, max_tokens: 10 });
  assert.equal(whole.choices[0].message.role, 'assistant');
  assert.equal(whole.usage.completion_tokens, 10);
  const stream = await client.chat.completions.create({ ...greedy, messages, max_tokens: 10, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(text, whole.choices[0].message.content);
});

test('Ministral: a forced tool call and its result going back through the template', { skip }, async () => {
  const r = await client.chat.completions.create({
    ...greedy, messages, tools, tool_choice: 'required', max_tokens: 60 });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  const call = r.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  assert.equal(typeof JSON.parse(call.function.arguments).city, 'string');
  const next = await client.chat.completions.create({
    ...greedy, tools, max_tokens: 6,
    messages: [...messages, r.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' }],
  });
  assert.equal(typeof next.choices[0].message.content, 'string');
});
