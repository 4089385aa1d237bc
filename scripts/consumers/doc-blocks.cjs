// The fenced TypeScript/JavaScript blocks of README.md and docs/*.md, and the list that says
// how each is checked (doc-snippets.json). Used by the docs test (__tests__/docs) and, in a
// consumer project that installed the packed tarball, by doc-snippets.mjs.
const fs = require('node:fs');
const path = require('node:path');

/** Fence languages the doc check covers: every block in one of these is run or type-checked. */
const CODE_LANGUAGES = ['ts', 'typescript', 'mts', 'cts', 'tsx', 'js', 'javascript', 'mjs', 'cjs', 'jsx'];

/** How a block is checked: `run` (executed against the embedded sandbox), type-checked, or run by Jest. */
const CHECKS = ['run', 'typecheck', 'typecheck-nestjs', 'jest', 'jest-config'];

/** README.md, then docs/*.md in name order, as paths relative to `root`. */
function documents(root) {
  const docs = fs
    .readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs];
}

/**
 * The code blocks of one document: `{ id: 'docs/x.md#2', document, language, line, code }`,
 * numbered from 1 in the order they appear, counting only blocks in {@link CODE_LANGUAGES}.
 */
function codeBlocksOf(root, document) {
  const text = fs.readFileSync(path.join(root, document), 'utf8');
  const blocks = [];
  for (const match of text.matchAll(/^```([^\n`]*)\n([\s\S]*?)^```[ \t]*$/gm)) {
    const language = match[1].trim().split(/\s+/)[0].toLowerCase();
    if (!CODE_LANGUAGES.includes(language)) continue;
    const line = text.slice(0, match.index).split('\n').length;
    blocks.push({ id: `${document}#${blocks.length + 1}`, document, language, line, code: match[2] });
  }
  return blocks;
}

/** Every code block of README.md and docs/. */
function codeBlocks(root) {
  return documents(root).flatMap((document) => codeBlocksOf(root, document));
}

/** The list: block id → check (doc-snippets.json, without its `$comment`). */
function snippetChecks() {
  const list = JSON.parse(fs.readFileSync(path.join(__dirname, 'doc-snippets.json'), 'utf8'));
  delete list.$comment;
  return list;
}

/**
 * What is wrong between the blocks and the list, one line each: a block the list leaves out,
 * an entry for a block that is gone, a check that does not exist.
 */
function listProblems(root) {
  const blocks = codeBlocks(root);
  const checks = snippetChecks();
  const problems = [];
  for (const block of blocks) {
    if (!(block.id in checks)) {
      problems.push(
        `${block.id} (line ${block.line}) is not in scripts/consumers/doc-snippets.json: ` +
          'add it as "run" or "typecheck"',
      );
    }
  }
  const ids = new Set(blocks.map((block) => block.id));
  for (const [id, check] of Object.entries(checks)) {
    if (!ids.has(id)) problems.push(`doc-snippets.json names ${id}, which is not a code block: remove or renumber it`);
    if (!CHECKS.includes(check))
      problems.push(`doc-snippets.json: ${id} has check "${check}"; use one of ${CHECKS.join(', ')}`);
  }
  return problems;
}

module.exports = { CODE_LANGUAGES, CHECKS, documents, codeBlocksOf, codeBlocks, snippetChecks, listProblems };
