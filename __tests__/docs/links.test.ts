/** scripts/check-links.mjs: relative links, #anchors (GitHub slugs) and references outside the package. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const script = path.join(root, 'scripts/check-links.mjs');

/** Runs the checker on a package made of `files`; its exit code and output. */
function check(files: Record<string, string>): { code: number; output: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'alix-links-'));
  try {
    mkdirSync(path.join(dir, 'docs'));
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
    try {
      const output = execFileSync(process.execPath, [script, dir], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      return { code: 0, output };
    } catch (error) {
      const failed = error as { status: number; stderr: string };
      return { code: failed.status, output: failed.stderr };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const GUIDE = '# Guide\n\n## Per-user tokens\n\n## `getAccessToken()` & friends\n\n## Setup\n\n## Setup\n';

describe('check-links', () => {
  it('passes on README.md and docs/ of this package', () => {
    expect(execFileSync(process.execPath, [script], { encoding: 'utf8' })).toMatch(
      /every relative link and anchor resolves/,
    );
  });

  it('accepts existing pages, GitHub-style anchors (repeats numbered), explicit ids and external links', () => {
    const result = check({
      'README.md':
        '<a id="top"></a>\n[a](docs/guide.md#per-user-tokens) [b](docs/guide.md#getaccesstoken--friends) [c](#top)',
      'docs/guide.md': `${GUIDE}\n[d](https://x.test/#y) [e](guide.md#setup-1) [f](../README.md#top)\n`,
    });
    expect(result).toEqual({ code: 0, output: expect.stringContaining('2 pages') });
  });

  it('reports a missing page, a missing anchor and a link outside the package, with file and line', () => {
    const result = check({
      'README.md': 'intro\n[a](docs/missing.md) [b](docs/guide.md#nope)\n[c](../SPEC.md)\n',
      'docs/guide.md': GUIDE,
    });
    expect(result.code).toBe(1);
    expect(result.output).toContain('README.md:2: docs/missing.md: docs/missing.md does not exist');
    expect(result.output).toContain('README.md:2: docs/guide.md#nope: docs/guide.md has no heading or id for #nope');
    expect(result.output).toContain('README.md:3: ../SPEC.md points outside the package');
  });

  it('reports citations of documents the package does not ship, but not inside code', () => {
    const result = check({
      'README.md': 'See SPEC §7 and issue #14.\n\n```ts\n// SPEC §7\n```\n',
      'docs/guide.md': GUIDE,
    });
    expect(result.output.match(/README\.md:1: cites/g)).toHaveLength(3);
    expect(result.output).not.toContain('README.md:4');
  });
});
