// Where things are in the repository checkout.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, with a trailing slash. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Per-process bundles of TypeScript run inside namespaces (ts-in-ns.ts), named <pid>-<n>. */
export const TS_BUNDLE_ROOT = join(REPO_ROOT, 'node_modules/.cache/rackboot-test');
