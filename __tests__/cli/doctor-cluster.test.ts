import crypto, { randomUUID } from 'node:crypto';
import { runDoctor, type DoctorReport } from '../../src/cli/commands/doctor';
import { DOCTOR_BREAKER_KEY_PREFIX, DOCTOR_LOCK_KEY_PREFIX } from '../../src/cli/doctor/checks';
import { nodeCommand } from '../../scripts/redis-cluster';
import { documentedAcl } from '../helpers/documented-acl';
import { describeRedisCluster, useRedisCluster, type ClusterNode } from '../helpers/redis-cluster';
import { useSandboxWithEnv } from '../helpers/sandbox-env';
import { collectingStream } from '../helpers/streams';

const KEY_ROWS = ['redis lock', 'redis breaker', 'redis publish'];

describeRedisCluster('alix-token doctor against a real Redis Cluster (3 masters)', () => {
  // Nothing here fails over: a long node timeout keeps a node starved on a loaded machine from being marked failed.
  const cluster = useRedisCluster({ masters: 3, nodeTimeoutMs: 15_000 });
  const alix = useSandboxWithEnv();

  /** The doctor's Redis rows with REDIS_URL at each master in turn (`before` runs first): keys on other masters too. */
  async function redisRowsAtEveryMaster(
    credentials = '',
    before: (node: ClusterNode) => void = () => undefined,
  ): Promise<DoctorReport['checks'][]> {
    const runs: DoctorReport['checks'][] = [];
    for (const node of cluster.nodes) {
      before(node);
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

  /** A UUID that puts the doctor's lock and breaker keys on masters other than `node` (random keys may not). */
  async function uuidServedElsewhere(node: ClusterNode): Promise<ReturnType<typeof randomUUID>> {
    const client = await cluster.connect();
    for (;;) {
      const uuid = randomUUID();
      const keys = [`${DOCTOR_LOCK_KEY_PREFIX}${uuid}}`, `{${DOCTOR_BREAKER_KEY_PREFIX}:doctor-${uuid}}`];
      const slots = await Promise.all(keys.map((key) => client.cluster('KEYSLOT', key)));
      if (slots.every((slot) => client.slots[slot]?.[0] !== `127.0.0.1:${node.port}`)) return uuid;
    }
  }

  it('reports a key served by another master as that, never as an ACL problem, when INFO is refused', async () => {
    const user = `alix-test-${randomUUID()}`;
    await setUser(user, ['on', '>secret', '~*', '&*', '+@all', '-info']);
    const uuids = new Map<ClusterNode, ReturnType<typeof randomUUID>>();
    for (const node of cluster.nodes) uuids.set(node, await uuidServedElsewhere(node));
    const uuid = jest.spyOn(crypto, 'randomUUID');
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const runs = await redisRowsAtEveryMaster(`${user}:secret@`, (node) => uuid.mockReturnValue(uuids.get(node)!));
    warn.mockRestore();
    uuid.mockRestore();

    const keyRows = runs.flat().filter((check) => KEY_ROWS.includes(check.name) && check.status !== 'ok');
    // Every run's lock and breaker keys are on another master than the one REDIS_URL names.
    for (const checks of runs) {
      const moved = checks.filter((check) => check.name === 'redis lock' || check.name === 'redis breaker');
      expect(moved.map((check) => check.status)).toEqual(['warn', 'warn']);
    }
    for (const check of keyRows) {
      expect(check).toMatchObject({ status: 'warn', detail: expect.stringMatching(/MOVED \d+ .*allow \+info/) });
      expect(check.detail).not.toMatch(/needs SET|allow EVAL|allow \+(s?publish)/);
    }
  });
});
