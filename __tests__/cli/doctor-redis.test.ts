import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { runDoctor } from '../../src/cli/commands/doctor';
import type { DoctorReport } from '../../src/cli/doctor/report';
import type { AlixSandbox } from '../../src/sandbox/server';
import { describeRedis, useRedisServer } from '../helpers/redis-server';
import { startSandboxWithEnv } from '../helpers/sandbox-env';

/** Runs the doctor with `env` and returns its report (its JSON output is discarded). */
async function doctor(env: Record<string, string>): Promise<DoctorReport> {
  const output = new Writable({ write: (_chunk, _encoding, done) => done() });
  return runDoctor({ env, output });
}

describeRedis('alix-token doctor against a real Redis (REDIS_URL)', () => {
  const redis = useRedisServer();
  let sandbox: AlixSandbox;
  let env: Record<string, string>;
  let scratch: string;
  beforeAll(async () => {
    ({ sandbox, env, scratch } = await startSandboxWithEnv());
  });
  afterAll(async () => {
    await sandbox.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('passes the round trip and the lock with ioredis against redis-server', async () => {
    const report = await doctor({ ...env, REDIS_URL: `redis://${redis.host}:${redis.port}` });

    expect(report.checks.filter((check) => check.name.startsWith('redis')).map((check) => [check.name, check.status])).toEqual([
      ['redis ping', 'ok'],
      ['redis lock', 'ok'],
    ]);
    expect(report).toMatchObject({ exitCode: 0, failed: [] });
  });

  it('fails the ping, naming host:port, when nothing listens at REDIS_URL', async () => {
    const report = await doctor({ ...env, REDIS_URL: 'redis://127.0.0.1:1' });

    expect(report).toMatchObject({ exitCode: 1 });
    expect(report.failed[0]).toMatch(/^redis/);
    expect(JSON.stringify(report)).toContain('127.0.0.1:1');
  });
});
