import { pubSubDetail } from '../../src/cli/doctor/checks';

describe('doctor: pubSubDetail()', () => {
  it('reports sharded pub/sub on a Redis Cluster of version 7 or later', () => {
    expect(pubSubDetail('redis_version:7.0.15\r\nredis_mode:cluster\r\n')).toMatch(/pub\/sub: sharded/);
  });

  it('reports classic pub/sub on a standalone server and on a cluster before Redis 7', () => {
    expect(pubSubDetail('redis_version:7.2.4\r\nredis_mode:standalone\r\n')).toBe(
      '; pub/sub: classic (PUBLISH/SUBSCRIBE)',
    );
    expect(pubSubDetail('redis_version:6.2.14\r\nredis_mode:cluster\r\n')).toMatch(/classic .*before Redis 7/);
  });

  it('says the mode is unknown when INFO is refused', () => {
    expect(pubSubDetail(undefined)).toMatch(/unknown/);
  });
});
