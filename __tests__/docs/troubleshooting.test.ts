/**
 * docs/troubleshooting.md lists every error code: those of `ErrorCodes` in src/errors.ts and
 * any other `ERR_ALIX_*` code the sources define, each with an exported class and its fix.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import * as errors from '../../src/errors';
import { ErrorCodes, TokenManagerError } from '../../src/errors';
import * as api from '../../src/index';

const root = path.resolve(__dirname, '../..');
const page = readFileSync(path.join(root, 'docs/troubleshooting.md'), 'utf8');

/** The table rows that start with a code: `| \`ERR_ALIX_…\` | \`Class\` | what happened | what to do |`. */
const rows = [...page.matchAll(/^\| `(ERR_ALIX_[A-Z_]+)` \| `(\w+)` \|([^|]+)\|([^|]+)\|$/gm)].map((match) => ({
  code: match[1] ?? '',
  className: match[2] ?? '',
  happened: match[3]?.trim() ?? '',
  fix: match[4]?.trim() ?? '',
}));

/** Every `'ERR_ALIX_…'` string literal in src/ (a code defined outside ErrorCodes counts too). */
function codesInSources(): string[] {
  const files = readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' }).filter((file) =>
    file.endsWith('.ts'),
  );
  const codes = files.flatMap((file) => [
    ...readFileSync(path.join(root, 'src', file), 'utf8').matchAll(/['"](ERR_ALIX_[A-Z_]+)['"]/g),
  ]);
  return [...new Set(codes.map((match) => match[1] ?? ''))];
}

describe('docs/troubleshooting.md', () => {
  it('lists every code of ErrorCodes', () => {
    const listed = rows.map((row) => row.code);
    expect(Object.values(ErrorCodes).filter((code) => !listed.includes(code))).toEqual([]);
  });

  it('lists every other ERR_ALIX_* code the sources define, and no code they do not', () => {
    const defined = codesInSources();
    expect(defined.filter((code) => !rows.some((row) => row.code === code))).toEqual([]);
    expect(rows.map((row) => row.code).filter((code) => !defined.includes(code))).toEqual([]);
  });

  it('lists each code once', () => {
    const codes = rows.map((row) => row.code);
    expect(codes).toEqual([...new Set(codes)]);
  });

  it('names, for each code, an error class of the library', () => {
    const classes = { ...errors, ...api } as Record<string, unknown>;
    for (const { code, className } of rows) {
      const exported = classes[className] as { prototype?: unknown } | undefined;
      expect([code, exported?.prototype instanceof TokenManagerError]).toEqual([code, true]);
    }
  });

  it('says what happened and what to do for each', () => {
    for (const { code, happened, fix } of rows) {
      expect([code, happened.length > 10, fix.length > 10]).toEqual([code, true, true]);
    }
  });
});
