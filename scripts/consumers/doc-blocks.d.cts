/** Types of doc-blocks.cjs (see there). */
export declare const CODE_LANGUAGES: readonly string[];
export type SnippetCheck = 'run' | 'typecheck' | 'typecheck-nestjs' | 'jest' | 'jest-config';
export declare const CHECKS: readonly SnippetCheck[];
export interface CodeBlock {
  /** `README.md#1`, `docs/fetch.md#2`: the document and the block's number in it. */
  id: string;
  document: string;
  language: string;
  /** The line of the opening fence. */
  line: number;
  code: string;
}
export declare function documents(root: string): string[];
export declare function codeBlocksOf(root: string, document: string): CodeBlock[];
export declare function codeBlocks(root: string): CodeBlock[];
export declare function snippetChecks(): Record<string, SnippetCheck>;
export declare function listProblems(root: string): string[];
