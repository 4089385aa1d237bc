import { printToken } from '../../src/cli/commands/token';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import { readAlixEnvConfig } from '../../src/standalone/env-config';
import { useSandboxWithEnv } from '../helpers/sandbox-env';
import { collectingStream } from '../helpers/streams';

describe('alix-token token with a rejected ALIX_REFRESH_TOKEN', () => {
  const alix = useSandboxWithEnv();

  it('prints the token after signing in, and warns on stderr that the refresh token was rejected', async () => {
    alix.sandbox.resetCounters();
    const stdout = collectingStream();
    const stderr = collectingStream();
    const code = await printToken(
      {},
      { env: { ...alix.env, ALIX_REFRESH_TOKEN: 'stale-refresh-token' }, stdout: stdout.stream, stderr: stderr.stream },
    );
    expect(code).toBe(0);
    expect(stdout.text().trim()).toMatch(/^[A-Za-z0-9\-._~+/]+=*$/);
    expect(alix.sandbox.counters()).toMatchObject({ refresh: 1, authenticate: 1 });
    expect(stderr.text()).toMatch(/warning: ALIX_REFRESH_TOKEN was rejected/);
    expect(stderr.text()).not.toContain('stale-refresh-token');
  });

  it('refreshes with an accepted refresh token and says nothing on stderr', async () => {
    const { refreshToken } = await new AlixAuthProvider(readAlixEnvConfig(alix.env).provider).authenticate();
    alix.sandbox.resetCounters();
    const stderr = collectingStream();
    const code = await printToken(
      {},
      {
        env: { ...alix.env, ALIX_REFRESH_TOKEN: refreshToken as string },
        stdout: collectingStream().stream,
        stderr: stderr.stream,
      },
    );
    expect(code).toBe(0);
    expect(alix.sandbox.counters()).toMatchObject({ refresh: 1, authenticate: 0 });
    expect(stderr.text()).toBe('');
  });

  it('says on a TTY that it refreshes the session with ALIX_REFRESH_TOKEN', async () => {
    const { refreshToken } = await new AlixAuthProvider(readAlixEnvConfig(alix.env).provider).authenticate();
    const stderr = collectingStream({ isTTY: true });
    const env = { ...alix.env, ALIX_REFRESH_TOKEN: refreshToken as string };
    await expect(printToken({}, { env, stdout: collectingStream().stream, stderr: stderr.stream })).resolves.toBe(0);
    expect(stderr.text()).toBe(`refreshing the session at 127.0.0.1:${alix.sandbox.port}…\r\x1b[2K`);
  });

  it('says nothing on stderr when no refresh token was given', async () => {
    const stderr = collectingStream();
    await expect(
      printToken({}, { env: alix.env, stdout: collectingStream().stream, stderr: stderr.stream }),
    ).resolves.toBe(0);
    expect(stderr.text()).toBe('');
  });
});
