/**
 * The check an optional subpath runs before it loads its peer. Under CommonJS (where modules
 * run in import order) a missing install then fails with the fix in the message. Under ESM,
 * Node resolves every import before running any code, and its own `ERR_MODULE_NOT_FOUND`
 * ("Cannot find package '…'") names the package; the ESM build rewrites `require` into a
 * shim that always throws, so the probe runs only where `__filename` exists.
 */

/** How to name a missing peer. */
export interface OptionalPeer {
  /** The package, e.g. `msw`. */
  packageName: string;
  /** The subpath that needs it, e.g. `alix-token-manager/testing/msw`. */
  entry: string;
  /** The command that installs it. */
  install: string;
  /** Words after the package name, e.g. ` (2.x)`. */
  versionHint?: string;
  /** A last remark, e.g. what works without it. */
  note?: string;
}

/**
 * @throws Error naming the package and the install command when it cannot be loaded (CommonJS).
 */
export function assertOptionalPeer(peer: OptionalPeer): void {
  if (typeof __filename !== 'string' || typeof require !== 'function') return;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a probe, CommonJS only; the static imports do the real loading
    require(peer.packageName);
  } catch (error) {
    throw new Error(
      `${peer.entry} needs the optional peer dependency ${peer.packageName}${peer.versionHint ?? ''}, which could not be loaded: ` +
        `install it beside alix-token-manager (${peer.install})${peer.note ?? ''}`,
      { cause: error },
    );
  }
}
