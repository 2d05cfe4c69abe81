// Reads an iPXE script the way a booting node needs it: which kernel and
// initrds to fetch, or which script to chain to next. Follows iPXE's tokenising
// (src/core/exec.c): whitespace-split tokens, no quoting, "||", "&&" and ";"
// separate commands, '#' starts a comment. Only the commands that move bytes
// matter here; the rest (echo, set, menus) are skipped.

export interface ScriptPlan {
  kernel?: string;
  initrds: string[];
  /** `chain URL` / `chain --autofree URL`: the next script to run instead. */
  chain?: string;
  /** The script ends with `boot` (or kernel + initrds, which iPXE boots when the script ends). */
  boots: boolean;
}

export interface ScriptVariables {
  mac: string;
  ip: string;
  platform: 'pcbios' | 'efi';
}

export function readIpxeScript(text: string, baseUrl: string, vars: ScriptVariables): ScriptPlan {
  if (!text.startsWith('#!ipxe')) throw new Error('not an iPXE script (no #!ipxe line)');
  const plan: ScriptPlan = { initrds: [], boots: false };
  const lines = text.replace(/\\\r?\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith(':')) break; // first label: the straight path of the script has ended (goto targets follow)
    const tokens = line.split(/[ \t]+/).filter(Boolean);
    const end = tokens.findIndex((t) => t === '||' || t === '&&' || t === ';' || t.startsWith('#'));
    const command = (end < 0 ? tokens : tokens.slice(0, end)).map((t) => expand(t, vars));
    const [verb, ...args] = command;
    if (!verb) continue;
    const operand = firstOperand(args);
    if ((verb === 'kernel' || verb === 'imgexec' || verb === 'chain') && operand) {
      const url = new URL(operand, baseUrl).toString();
      if (verb === 'chain' && /\.ipxe(\?|$)|boot\.ipxe/.test(url)) {
        plan.chain = url;
        return plan;
      }
      plan.kernel = url;
      if (verb !== 'kernel') plan.boots = true;
    } else if ((verb === 'initrd' || verb === 'imgfetch' || verb === 'module') && operand) {
      plan.initrds.push(new URL(operand, baseUrl).toString());
    } else if (verb === 'boot') {
      plan.boots = true;
      break;
    } else if (verb === 'goto' || verb === 'exit' || verb === 'shell' || verb === 'sanboot') {
      break;
    }
  }
  if (plan.kernel && !plan.boots) plan.boots = true;
  return plan;
}

/** imgfetch/kernel/chain options that take a value (src/hci/commands/image_cmd.c). */
const OPTIONS_WITH_VALUE = new Set(['-n', '--name', '-t', '--timeout']);

/** The first argument that is neither an option nor an option's value (`initrd --name x URL` -> URL). */
function firstOperand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('-')) return arg;
    if (OPTIONS_WITH_VALUE.has(arg)) i++;
  }
  return undefined;
}

/** iPXE settings a node knows at script time; unknown ones expand to nothing, as in iPXE. */
function expand(token: string, vars: ScriptVariables): string {
  return token.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    const key = name.replace(/^net[0-9X]\//, '').replace(/:.*$/, '');
    if (key === 'mac') return vars.mac;
    if (key === 'ip') return vars.ip;
    if (key === 'platform') return vars.platform;
    if (key === 'buildarch') return 'x86_64';
    return '';
  });
}
