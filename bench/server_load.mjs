// Drives an OpenAI-compatible server with C concurrent clients sending R /v1/completions requests
// (greedy, fixed max_tokens) and prints one JSON line: requests/s, aggregate generated tokens/s
// (from the servers' own usage counts) and mean latency. Plain fetch: no packages needed.
//   node bench/server_load.mjs URL CONCURRENCY REQUESTS MAX_TOKENS
const [url, concurrency, requests, maxTokens] = process.argv.slice(2);
const C = Number(concurrency), R = Number(requests), N = Number(maxTokens);
// llama-server (b0 build here) answers 500 when a reply it parses trips its output parser, which
// random-weight models' greedy text can do; these prompts give parseable 32-token replies on the
// random SmolLM3-3B used in BENCHMARKS.md.
const prompts = ['The history of the printing press begins in the fifteenth century, when',
                 'To make a good cup of coffee, first choose fresh beans and',
                 'Write a short poem about the autumn rain falling on the city streets',
                 'Explain in simple words how a computer stores numbers in memory'];
let next = 0, tokens = 0, latency = 0;
async function client() {
  while (next < R) {
    const i = next++;
    const t0 = performance.now();
    const r = await fetch(`${url}/v1/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: prompts[i % prompts.length], max_tokens: N, temperature: 0 }),
    });
    const body = await r.json();
    if (!r.ok) throw new Error(`HTTP ${r.status}: ${JSON.stringify(body)}`);
    tokens += body.usage.completion_tokens;
    latency += performance.now() - t0;
  }
}
const start = performance.now();
await Promise.all(Array.from({ length: C }, client));
const seconds = (performance.now() - start) / 1000;
console.log(JSON.stringify({ concurrency: C, requests: R, seconds, requests_per_s: R / seconds,
                             tokens_per_s: tokens / seconds, tokens, mean_latency_s: latency / R / 1000 }));
