import { randomUUID } from 'node:crypto';
import { runDoctor, type DoctorReport } from '../../src/cli/commands/doctor';
import { describeRedis, useRedisServer } from '../helpers/redis-server';
import { useSandboxWithEnv } from '../helpers/sandbox-env';
import { collectingStream } from '../helpers/streams';

/** Runs the doctor with `env` and returns its report (its JSON output is discarded). */
function doctor(env: Record<string, string>): Promise<DoctorReport> {
  return runDoctor({ env, output: collectingStream().stream });
}

describeRedis('alix-token doctor against a real Redis (REDIS_URL)', () => {
  const redis = useRedisServer();
  const alix = useSandboxWithEnv();

  it('passes the round trip and the lock with ioredis against redis-server', async () => {
    const report = await doctor({ ...alix.env, REDIS_URL: `redis://${redis.host}:${redis.port}` });

    expect(
      report.checks.filter((check) => check.name.startsWith('redis')).map((check) => [check.name, check.status]),
    ).toEqual([
      ['redis ping', 'ok'],
      ['redis lock', 'ok'],
      ['redis breaker', 'ok'],
    ]);
    expect(report).toMatchObject({ exitCode: 0, failed: [] });
  });

  it("warns, with the ACL fix, when the Redis user may not use the breaker's keys", async () => {
    const admin = await redis.connect();
    const [user, password] = [`alix-test-${randomUUID()}`, randomUUID()];
    await admin.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~alix-token-manager:doctor:lock:*', '+@all');
    const report = await doctor({ ...alix.env, REDIS_URL: `redis://${user}:${password}@${redis.host}:${redis.port}` });

    const breaker = report.checks.find((check) => check.name === 'redis breaker');
    expect(breaker).toMatchObject({ status: 'warn', detail: expect.stringMatching(/NOPERM|no permissions/i) });
    expect(breaker?.detail).toContain('~{alix-token-manager:breaker:*');
    expect(report.checks.find((check) => check.name === 'redis lock')?.status).toBe('ok');
    await admin.call('ACL', 'DELUSER', user);
  });

  it('fails the ping, naming host:port, when nothing listens at REDIS_URL', async () => {
    const report = await doctor({ ...alix.env, REDIS_URL: 'redis://127.0.0.1:1' });

    expect(report).toMatchObject({ exitCode: 1 });
    expect(report.failed[0]).toMatch(/^redis/);
    expect(JSON.stringify(report)).toContain('127.0.0.1:1');
  });
});
