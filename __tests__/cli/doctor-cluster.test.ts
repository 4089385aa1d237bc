import { randomUUID } from 'node:crypto';
import { runDoctor, type DoctorReport } from '../../src/cli/commands/doctor';
import { nodeCommand } from '../../scripts/redis-cluster';
import { documentedAcl } from '../helpers/documented-acl';
import { describeRedisCluster, useRedisCluster } from '../helpers/redis-cluster';
import { useSandboxWithEnv } from '../helpers/sandbox-env';
import { collectingStream } from '../helpers/streams';

const KEY_ROWS = ['redis lock', 'redis breaker', 'redis publish'];

describeRedisCluster('alix-token doctor against a real Redis Cluster (3 masters)', () => {
  const cluster = useRedisCluster({ masters: 3 });
  const alix = useSandboxWithEnv();

  /** The doctor's Redis rows with REDIS_URL at each master in turn: each run's keys live on other masters too. */
  async function redisRowsAtEveryMaster(credentials = ''): Promise<DoctorReport['checks'][]> {
    const runs: DoctorReport['checks'][] = [];
    for (const node of cluster.nodes) {
      const env = { ...alix.env, REDIS_URL: `redis://${credentials}127.0.0.1:${node.port}` };
      const report = await runDoctor({ env, output: collectingStream().stream });
      runs.push(report.checks.filter((check) => check.name.startsWith('redis')));
    }
    return runs;
  }

  /** Creates `user` with `rules` on every node (a cluster does not share its ACL between nodes). */
  async function setUser(user: string, rules: string[]): Promise<void> {
    for (const node of cluster.nodes) await nodeCommand(node.port, 'ACL', 'SETUSER', user, ...rules);
  }

  it('checks every key on the master that serves it, and says it is a cluster', async () => {
    for (const checks of await redisRowsAtEveryMaster()) {
      expect(checks.map((check) => [check.name, check.status])).toEqual([
        ['redis ping', 'ok'],
        ['redis lock', 'ok'],
        ['redis breaker', 'ok'],
        ['redis publish', 'ok'],
      ]);
      expect(checks[0]?.detail).toMatch(/Redis Cluster/);
      expect(checks[3]?.detail).toMatch(/^SPUBLISH on /);
    }
  });

  it('passes at every master for a user with the ACL docs/scaling.md gives, as written there', async () => {
    const user = `alix-test-${randomUUID()}`;
    await setUser(
      user,
      documentedAcl()
        .slice(3)
        .map((rule) => rule.replace('>CHANGE-ME', '>secret')),
    );

    for (const checks of await redisRowsAtEveryMaster(`${user}:secret@`)) {
      expect(checks.map((check) => [check.name, check.status])).toEqual([
        ['redis ping', 'ok'],
        ['redis lock', 'ok'],
        ['redis breaker', 'ok'],
        ['redis publish', 'ok'],
      ]);
    }
  });

  it('reports a key served by another master as that, never as an ACL problem, when INFO is refused', async () => {
    const user = `alix-test-${randomUUID()}`;
    await setUser(user, ['on', '>secret', '~*', '&*', '+@all', '-info']);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const runs = await redisRowsAtEveryMaster(`${user}:secret@`);
    warn.mockRestore();

    const keyRows = runs.flat().filter((check) => KEY_ROWS.includes(check.name) && check.status !== 'ok');
    // 9 keys, each on one of 3 masters: some are on another master than the one REDIS_URL names.
    expect(keyRows.length).toBeGreaterThan(0);
    for (const check of keyRows) {
      expect(check).toMatchObject({ status: 'warn', detail: expect.stringMatching(/MOVED \d+ .*allow \+info/) });
      expect(check.detail).not.toMatch(/needs SET|allow EVAL|allow \+(s?publish)/);
    }
  });
});
