// rackboot (the real bundle) on a DHCP lab, set up the way most integration tests
// need it: a bridge with rackboot's namespace, a boot root with the test's files, a
// config file, and rackboot started and ready.
//
//   ({ lab, server, root } = await startRackboot({
//     address: '10.89.0.1/24',
//     files: { vmlinuz: randomBytes(1024 * 1024) },
//     yaml: ({ root }) => `interface: eth0\nmode: proxy\nboot:\n  root: ${root}\n`,
//   }));
//   ...
//   expect(await stopRackboot({ lab, server })).toBe(0);
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DhcpLab } from './dhcp-lab.js';
import type { RackbootProcess } from './rackboot-process.js';

/** The lab being set up: `dir` is its temporary directory, `root` the boot root inside it. */
export interface LabSetup {
  lab: DhcpLab;
  dir: string;
  root: string;
}

export interface StartRackbootOptions {
  /** rackboot's address on the segment (default: DhcpLab's 10.77.0.1/24). */
  address?: string;
  /** Files written under the boot root before rackboot starts: relative path -> contents (directories are created). */
  files?: Record<string, string | Uint8Array>;
  /** The config file's text; started with `--config <file>`. */
  yaml?: string | ((setup: LabSetup) => string);
  /** Arguments after `serve` (besides --config and --state-dir, which the lab adds). */
  args?: string[] | ((setup: LabSetup) => string[]);
  /** Runs after the boot root's files are written and before rackboot starts (more files, other servers on the segment). */
  prepare?: (setup: LabSetup) => Promise<void> | void;
}

export interface RackbootLab extends LabSetup {
  server: RackbootProcess;
  /** The config file, when `yaml` was given. */
  config?: string;
}

/**
 * Creates a DhcpLab, writes the boot root (`<lab dir>/root`) and the config, and
 * starts rackboot in the server namespace, resolving once it logged "rackboot
 * ready". When any step fails the lab is destroyed before the error is passed on.
 */
export async function startRackboot(options: StartRackbootOptions = {}): Promise<RackbootLab> {
  const lab = await DhcpLab.create(options.address);
  try {
    const setup: LabSetup = { lab, dir: lab.dir, root: join(lab.dir, 'root') };
    await mkdir(setup.root);
    for (const [name, contents] of Object.entries(options.files ?? {})) {
      const path = join(setup.root, name);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, contents);
    }
    await options.prepare?.(setup);
    const yaml = typeof options.yaml === 'function' ? options.yaml(setup) : options.yaml;
    const config = yaml === undefined ? undefined : await lab.writeConfig(yaml);
    const args = typeof options.args === 'function' ? options.args(setup) : (options.args ?? []);
    const server = await lab.startServer([...(config === undefined ? [] : ['--config', config]), ...args]);
    return { ...setup, server, config };
  } catch (err) {
    await lab.destroy();
    throw err;
  }
}

/**
 * Stops rackboot (SIGTERM) and destroys the lab; resolves to rackboot's exit status.
 * Either may be missing when the set-up failed part-way: what exists is cleaned up,
 * and the status is then undefined.
 */
export async function stopRackboot({ lab, server }: { lab?: DhcpLab; server?: RackbootProcess }): Promise<number | null | undefined> {
  try {
    return await server?.stop();
  } finally {
    await lab?.destroy();
  }
}
