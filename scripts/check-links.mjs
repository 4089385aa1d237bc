#!/usr/bin/env node
// Checks README.md and docs/*.md stand alone: every relative link points at a file inside the
// package that exists, every #anchor at a heading (GitHub's slugs) or an explicit id of the
// page it names, and no text cites a document the package does not ship (the specification,
// its sections, the project's issues). External links (https:, mailto:) are not fetched.
// Usage: node scripts/check-links.mjs [root]   (exit 1 with one line per problem)
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Words that cite a document outside the package. */
const OUTSIDE_REFERENCES = [
  { pattern: /\bSPEC\b/, what: 'the specification (SPEC)' },
  { pattern: /§\s*\d/, what: 'a section (§) of a document the package does not ship' },
  // Not another project's ("axios issues #4246"), which its own tracker explains.
  { pattern: /(?<!\baxios )\bissues? #\d+/i, what: "one of the project's issues" },
];

/** README.md and docs/*.md under `root`, relative to it. */
export function documents(root) {
  const docsDir = path.join(root, 'docs');
  const docs = existsSync(docsDir)
    ? readdirSync(docsDir)
        .filter((name) => name.endsWith('.md'))
        .sort()
    : [];
  return ['README.md', ...docs.map((name) => `docs/${name}`)].filter((file) => existsSync(path.join(root, file)));
}

/**
 * The lines of a Markdown text outside fenced code blocks: `[{ line, raw, text }]` (line
 * numbers from 1), `text` with inline code spans blanked.
 */
function proseLines(markdown) {
  const lines = [];
  let fence;
  markdown.split('\n').forEach((text, index) => {
    const opening = /^\s{0,3}(`{3,}|~{3,})/.exec(text);
    if (fence === undefined && opening) {
      fence = opening[1];
      return;
    }
    if (fence !== undefined) {
      if (text.trim().startsWith(fence)) fence = undefined;
      return;
    }
    lines.push({ line: index + 1, raw: text, text: text.replace(/(`+)[^`]*?\1/g, (span) => ' '.repeat(span.length)) });
  });
  return lines;
}

/** GitHub's anchor for a heading's text: lower case, markup and punctuation dropped, spaces to hyphens. */
export function githubSlug(heading) {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML tags
    .replace(/`/g, '')
    .replace(/(\*\*|__|\*|~~)(?=\S)([\s\S]*?\S)\1/g, '$2') // emphasis around words
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** Every anchor a page defines: its headings' slugs (repeats numbered -1, -2 …) and explicit ids. */
export function anchorsOf(markdown) {
  const anchors = new Set();
  const seen = new Map();
  for (const { raw, text } of proseLines(markdown)) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(raw);
    if (heading) {
      const slug = githubSlug(heading[1]);
      const count = seen.get(slug) ?? 0;
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
      seen.set(slug, count + 1);
    }
    for (const match of text.matchAll(/<a\s+(?:[^>]*\s)?(?:id|name)="([^"]+)"/g)) anchors.add(match[1]);
  }
  return anchors;
}

/** The link targets of a page's prose: inline links, images and reference definitions. */
function linksOf(markdown) {
  const links = [];
  for (const { line, text } of proseLines(markdown)) {
    for (const match of text.matchAll(/!?\[(?:[^\]]|\][^(])*?\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      links.push({ line, target: match[1] });
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/.exec(text);
    if (definition) links.push({ line, target: definition[1] });
  }
  return links;
}

/** The problems of the pages under `root`, one line each (`file:line: what`). */
export function checkLinks(root) {
  const problems = [];
  const anchorCache = new Map();
  const anchors = (file) => {
    if (!anchorCache.has(file)) anchorCache.set(file, anchorsOf(readFileSync(file, 'utf8')));
    return anchorCache.get(file);
  };
  for (const document of documents(root)) {
    const file = path.join(root, document);
    const markdown = readFileSync(file, 'utf8');
    for (const { line, target } of linksOf(markdown)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …: not fetched
      const where = `${document}:${line}`;
      const [pathPart, anchor] = target.split('#', 2);
      const cleanPath = decodeURI(pathPart.split('?')[0]);
      const resolved = cleanPath === '' ? file : path.resolve(path.dirname(file), cleanPath);
      const relative = path.relative(root, resolved);
      if (relative.startsWith('..') || path.isAbsolute(relative)) {
        problems.push(`${where}: ${target} points outside the package; link to a page in docs/ or an https: URL`);
        continue;
      }
      if (!existsSync(resolved)) {
        problems.push(`${where}: ${target}: ${relative} does not exist`);
        continue;
      }
      if (anchor === undefined || anchor === '') continue;
      if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) {
        problems.push(`${where}: ${target}: #${anchor} on a file that is not a Markdown page`);
      } else if (!anchors(resolved).has(decodeURIComponent(anchor))) {
        problems.push(`${where}: ${target}: ${relative} has no heading or id for #${anchor}`);
      }
    }
    for (const { line, text } of proseLines(markdown)) {
      for (const { pattern, what } of OUTSIDE_REFERENCES) {
        if (pattern.test(text)) problems.push(`${document}:${line}: cites ${what}; the docs must stand alone`);
      }
    }
  }
  return problems;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
  const problems = checkLinks(root);
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(`check-links: ${problems.length} problem(s) in README.md and docs/`);
    process.exit(1);
  }
  console.log(`check-links: ${documents(root).length} pages, every relative link and anchor resolves`);
}
