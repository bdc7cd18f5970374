// Starts `edgerun serve ARGS --port 0` for a test file that needs its own model, and resolves
// once the server prints the address it listens on.
import { spawn } from 'node:child_process';

export async function startServer(args) {
  const server = spawn(process.env.EDGERUN_BINARY, ['serve', ...args, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise((resolve, reject) => {
    let log = '';
    server.stderr.on('data', (d) => {
      log += d;
      const m = log.match(/on (http:\/\/[^ ]+) /);
      if (m) resolve(m[1]);
    });
    server.on('exit', () => reject(new Error(`the server exited: ${log}`)));
  });
  return { server, url };
}
