// /v1/chat/completions and /v1/completions through the official OpenAI client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const url = process.env.EDGERUN_URL;
const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
const greedy = { model: 'tiny', temperature: 0, seed: 1 };
const hello = [{ role: 'user', content: 'Hello, who are you?' }];

async function collectStream(request) {
  const stream = await client.chat.completions.create({ ...request, stream: true });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    text += choice.delta.content ?? '';
    finish = choice.finish_reason ?? finish;
  }
  return { text, finish };
}

test('non-streaming chat returns an assistant message and usage', async () => {
  const r = await client.chat.completions.create({ ...greedy, messages: hello, max_tokens: 12 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 12);
  assert.ok(r.usage.prompt_tokens > 0);
});

test('streamed chunks concatenate to the non-streamed text', async () => {
  const request = { ...greedy, messages: hello, max_tokens: 16 };
  const whole = await client.chat.completions.create(request);
  const streamed = await collectStream(request);
  assert.equal(streamed.text, whole.choices[0].message.content);
  assert.equal(streamed.finish, whole.choices[0].finish_reason);
});

test('max_tokens and max_completion_tokens limit the reply', async () => {
  const a = await client.chat.completions.create({ ...greedy, messages: hello, max_tokens: 3 });
  assert.equal(a.usage.completion_tokens, 3);
  const b = await client.chat.completions.create({ ...greedy, messages: hello, max_completion_tokens: 5 });
  assert.equal(b.usage.completion_tokens, 5);
  assert.equal(b.choices[0].finish_reason, 'length');
});

test('a stop sequence cuts the reply before it', async () => {
  const full = await client.chat.completions.create({ ...greedy, messages: hello, max_tokens: 16 });
  const text = full.choices[0].message.content;
  const stop = text.trim().slice(3, 6);  // a piece from inside the reply
  const cut = await client.chat.completions.create({ ...greedy, messages: hello, max_tokens: 16, stop: [stop] });
  assert.equal(cut.choices[0].message.content, text.slice(0, text.indexOf(stop)));
  assert.equal(cut.choices[0].finish_reason, 'stop');
  const streamed = await collectStream({ ...greedy, messages: hello, max_tokens: 16, stop });
  assert.equal(streamed.text, cut.choices[0].message.content);
});

test('concurrent requests give the same results as sequential ones', async () => {
  const prompts = ['Tell me a story.', 'What is 2+2?', 'Name a colour.', 'Write a poem.'];
  const request = (content) => ({ ...greedy, messages: [{ role: 'user', content }], max_tokens: 12 });
  const sequential = [];
  for (const p of prompts) sequential.push((await client.chat.completions.create(request(p))).choices[0].message.content);
  const concurrent = await Promise.all(prompts.map(async (p, i) =>
    i % 2 ? (await collectStream(request(p))).text
          : (await client.chat.completions.create(request(p))).choices[0].message.content));
  assert.deepEqual(concurrent, sequential);
});

test('/v1/models lists the served model', async () => {
  const models = await client.models.list();
  assert.equal(models.data.length, 1);
  assert.equal(models.data[0].object, 'model');
});

test('/v1/completions continues a prompt, streaming or not', async () => {
  const request = { model: 'tiny', prompt: 'Once upon a time', max_tokens: 10, temperature: 0 };
  const whole = await client.completions.create(request);
  assert.equal(whole.object, 'text_completion');
  assert.equal(whole.usage.completion_tokens, 10);
  const stream = await client.completions.create({ ...request, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, whole.choices[0].text);
});

test('json_schema output parses and follows the schema', async () => {
  const schema = {
    type: 'object',
    properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer', minimum: 0, maximum: 120 } },
    required: ['name', 'age'],
    additionalProperties: false,
  };
  const r = await client.chat.completions.create({
    ...greedy, messages: [{ role: 'user', content: 'Describe a person as JSON.' }], max_tokens: 200,
    response_format: { type: 'json_schema', json_schema: { name: 'person', schema } },
  });
  assert.equal(r.choices[0].finish_reason, 'stop');
  const value = JSON.parse(r.choices[0].message.content);
  assert.deepEqual(Object.keys(value).sort(), ['age', 'name']);
  assert.equal(typeof value.name, 'string');
  assert.ok(value.name.length <= 12);
  assert.ok(Number.isInteger(value.age) && value.age >= 0 && value.age <= 120);
});

test('json_object output is a JSON object (as far as max_tokens lets it go)', async () => {
  const r = await client.chat.completions.create({
    ...greedy, messages: hello, max_tokens: 40, response_format: { type: 'json_object' },
  });
  const text = r.choices[0].message.content;
  assert.equal(text.trim()[0], '{');
  if (r.choices[0].finish_reason === 'stop') assert.equal(typeof JSON.parse(text), 'object');
});

test('a forced tool call comes back as tool_calls and the result can be sent back', async () => {
  const tools = [{
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 16 } }, required: ['city'] },
    },
  }];
  const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
  const r = await client.chat.completions.create({
    ...greedy, messages, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 100,
  });
  const choice = r.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.tool_calls.length, 1);
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.equal(typeof JSON.parse(call.function.arguments).city, 'string');
  // Round trip: the call and its result go back into the conversation.
  const followUp = await client.chat.completions.create({
    ...greedy, tools, max_tokens: 8,
    messages: [...messages, choice.message, { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' }],
  });
  assert.equal(typeof followUp.choices[0].message.content, 'string');
});

const weatherTool = [{
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 16 } }, required: ['city'] },
  },
}];

test('with tools offered, a plain answer still streams as it is generated', async () => {
  const request = { ...greedy, messages: hello, tools: weatherTool, max_tokens: 24 };
  const whole = await client.chat.completions.create(request);
  assert.equal(whole.choices[0].message.tool_calls, undefined);
  const stream = await client.chat.completions.create({ ...request, stream: true });
  const pieces = [];
  let finish = null;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (choice?.delta?.content) pieces.push(choice.delta.content);
    finish = choice?.finish_reason ?? finish;
  }
  assert.equal(pieces.join(''), whole.choices[0].message.content);
  assert.ok(pieces.length > 3, `content came in ${pieces.length} piece(s), not as it was generated`);
  assert.equal(finish, whole.choices[0].finish_reason);
});

test('a forced tool call streams as a tool_calls delta', async () => {
  const request = {
    ...greedy, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: weatherTool,
    tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 100,
  };
  const whole = await client.chat.completions.create(request);
  const stream = await client.chat.completions.create({ ...request, stream: true });
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    for (const c of choice?.delta?.tool_calls ?? []) calls.push(c);
    finish = choice?.finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].index, 0);
  assert.equal(calls[0].function.name, 'get_weather');
  assert.equal(calls[0].function.arguments, whole.choices[0].message.tool_calls[0].function.arguments);
});
