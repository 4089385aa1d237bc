/** A private redis-server on a free loopback port, for the shared-session scenario. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import type Redis from 'ioredis';

const SERVER_BIN = 'redis-server';

export interface RedisServer {
  url: string;
  port: number;
  /** Kills the server (nothing is saved: it runs with `--save '' --appendonly no`). */
  close(): Promise<void>;
}

/** Whether `redis-server` can be started from PATH. */
export function redisServerAvailable(): boolean {
  const probe = spawnSync(SERVER_BIN, ['--version'], { stdio: 'ignore', timeout: 5_000 });
  return probe.error === undefined && probe.status === 0;
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  return exited;
}

async function startOn(port: number): Promise<RedisServer> {
  const child = spawn(SERVER_BIN, ['--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--port', String(port)], { stdio: 'ignore' });
  let spawnError: Error | undefined;
  child.on('error', (error) => {
    spawnError = error;
  });
  const deadline = performance.now() + 5_000;
  // Bounded by time: the server answers PING within a few ms when it starts at all.
  while (performance.now() < deadline) {
    if (spawnError !== undefined || child.exitCode !== null) break;
    if (await ping(port)) return { url: `redis://127.0.0.1:${port}`, port, close: () => stop(child) };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await stop(child);
  throw new Error(`redis-server did not answer on 127.0.0.1:${port}${spawnError === undefined ? '' : `: ${spawnError.message}`}`);
}

/** Starts redis-server on a free loopback port (three ports are tried: another process may take one first). */
export async function startRedisServer(): Promise<RedisServer> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startOn(await freePort());
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

/** The server's `total_commands_processed` (INFO stats); the INFO itself is counted by the next reading. */
export async function commandsProcessed(client: Redis): Promise<number> {
  const info = await client.info('stats');
  const match = /total_commands_processed:(\d+)/.exec(info);
  if (match === null) throw new Error('INFO stats has no total_commands_processed');
  return Number(match[1]);
}
