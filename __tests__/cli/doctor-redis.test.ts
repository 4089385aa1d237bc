import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runDoctor, type DoctorReport } from '../../src/cli/commands/doctor';
import { CLI, runNode } from '../helpers/child';
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
      ['redis publish', 'ok'],
    ]);
    expect(report).toMatchObject({ exitCode: 0, failed: [] });
  });

  it('passes every Redis check for a user with the ACL docs/scaling.md gives, as written there', async () => {
    const docs = readFileSync(path.resolve(__dirname, '../../docs/scaling.md'), 'utf8');
    const setuser = /^ACL SETUSER alix-token-manager .*$/m.exec(docs)?.[0].split(' ') ?? [];
    expect(setuser.slice(0, 3)).toEqual(['ACL', 'SETUSER', 'alix-token-manager']);
    const user = `alix-test-${randomUUID()}`;
    const admin = await redis.connect();
    await admin.call('ACL', 'SETUSER', user, ...setuser.slice(3).map((rule) => rule.replace('>CHANGE-ME', '>secret')));
    const report = await doctor({ ...alix.env, REDIS_URL: `redis://${user}:secret@${redis.host}:${redis.port}` });

    const redisRows = report.checks.filter((check) => check.name.startsWith('redis'));
    expect(redisRows.map((check) => [check.name, check.status])).toEqual([
      ['redis ping', 'ok'],
      ['redis lock', 'ok'],
      ['redis breaker', 'ok'],
      ['redis publish', 'ok'],
    ]);
    await admin.call('ACL', 'DELUSER', user);
  });

  it("warns, with the ACL fix, when the Redis user may not use the breaker's keys", async () => {
    const admin = await redis.connect();
    const [user, password] = [`alix-test-${randomUUID()}`, randomUUID()];
    await admin.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~{alix-token-manager:doctor:lock:*', '+@all');
    const report = await doctor({ ...alix.env, REDIS_URL: `redis://${user}:${password}@${redis.host}:${redis.port}` });

    const breaker = report.checks.find((check) => check.name === 'redis breaker');
    expect(breaker).toMatchObject({ status: 'warn', detail: expect.stringMatching(/NOPERM|no permissions/i) });
    expect(breaker?.detail).toContain('~{alix-token-manager:breaker:*');
    expect(report.checks.find((check) => check.name === 'redis lock')?.status).toBe('ok');
    await admin.call('ACL', 'DELUSER', user);
  });

  it('warns, naming the ACL rule to add, when the Redis user may not PUBLISH the hand-over notifications', async () => {
    const admin = await redis.connect();
    const [user, password] = [`alix-test-${randomUUID()}`, randomUUID()];
    await admin.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all', '-publish');
    const report = await doctor({ ...alix.env, REDIS_URL: `redis://${user}:${password}@${redis.host}:${redis.port}` });

    const publish = report.checks.find((check) => check.name === 'redis publish');
    expect(publish).toMatchObject({ status: 'warn', detail: expect.stringMatching(/NOPERM|no permissions/i) });
    expect(publish?.detail).toContain('+publish');
    expect(publish?.detail).not.toContain('spublish');
    expect(publish?.detail).toContain('&{alix-token-manager:*');
    // Slower hand-overs, not an outage: the run still passes.
    expect(report).toMatchObject({ exitCode: 0, failed: [] });
    await admin.call('ACL', 'DELUSER', user);
  });

  it('fails the ping, naming host:port, when nothing listens at REDIS_URL', async () => {
    const report = await doctor({ ...alix.env, REDIS_URL: 'redis://127.0.0.1:1' });

    expect(report).toMatchObject({ exitCode: 1 });
    expect(report.failed[0]).toMatch(/^redis/);
    expect(JSON.stringify(report)).toContain('127.0.0.1:1');
  });

  it('reports a refused connection in its row alone: no ioredis "Unhandled error event" on stderr (a real process)', async () => {
    const result = await runNode([CLI, 'doctor', '--json'], { ...alix.env, REDIS_URL: 'redis://127.0.0.1:1' });

    expect(result).toMatchObject({ code: 1, stderr: 'alix-token doctor: failed: redis ping\n' });
  });

  it('exits 2 (bad configuration) for a REDIS_URL that is not a URL, naming it and never its password', async () => {
    const report = await doctor({ ...alix.env, REDIS_URL: 'redis://:hunter2-password@127.0.0.1:99999/' });

    expect(report).toMatchObject({ exitCode: 2, failed: ['redis'] });
    expect(report.checks.at(-1)).toMatchObject({ errorCode: 'ERR_ALIX_CONFIGURATION' });
    expect(report.checks.at(-1)?.detail).toContain('REDIS_URL');
    expect(JSON.stringify(report)).not.toContain('hunter2');
  });

  it('exits 2 (bad configuration) for a REDIS_URL whose database is not a number, and reports it (a real process)', async () => {
    for (const db of ['/hunter2', '/%20', '?db=x']) {
      const url = `redis://${redis.host}:${redis.port}${db}`;
      const result = await runNode([CLI, 'doctor', '--json'], { ...alix.env, REDIS_URL: url });

      expect(result).toMatchObject({ code: 2, stderr: 'alix-token doctor: failed: redis\n' });
      expect(JSON.parse(result.stdout)).toMatchObject({ failed: ['redis'] });
    }
  });
});
