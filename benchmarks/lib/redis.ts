/** A private redis-server on a free loopback port, for the shared-session scenario. */
import type Redis from 'ioredis';
import { freePort, redisServerAvailable, spawnRedisServer, stopRedisServer } from '../../scripts/redis-server';

export interface RedisServer {
  url: string;
  port: number;
  /** Kills the server (nothing is saved: it runs with `--save '' --appendonly no`). */
  close(): Promise<void>;
}

export { redisServerAvailable };

async function startOn(port: number): Promise<RedisServer> {
  const child = await spawnRedisServer(port);
  return { url: `redis://127.0.0.1:${port}`, port, close: () => stopRedisServer(child) };
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
