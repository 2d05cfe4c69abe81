// Fuzz target: iPXE script generation with hostile profile text, node names, URLs and
// template placeholders (profile fields come from the configuration, node names and
// requested profiles from the inventory and the query string).
// Input: NUL-separated fields (see FIELD below); the first byte picks the profile kind
// and the platform.
// Invariant: no value breaks out of its line or token. The script has exactly the lines
// the profile's shape calls for, each starting with a command rackboot writes; every
// command line ends in one `|| goto failed`; no other `||`, `&&` or `;` token; no token
// starting with '#' after the first; no `${` except the settings rackboot itself uses;
// no control characters, no line ending in '\'.

import { buildIpxeScript, RUNTIME_MAC } from '../../../firmware/src/http/ipxe-script.js';
import type { ProfileConfig } from '../../../firmware/src/config/schema.js';
import { check, fields } from './_support.js';

export const maxLen = 2048;
export const dictionary = ['{name}', '{mac}', '{ip}', '{serial}', '{profile}', '{{', '${', '||', '&&', ';', '#', '\\', '\n', '\r', ' ', '%', '%0a', 'http://'];

const COMMANDS = new Set([
  '#!ipxe',
  '#',
  'kernel',
  'initrd',
  'boot',
  'chain',
  'menu',
  'item',
  'choose',
  'echo',
  'sleep',
  'imgfree',
  'exit',
  'sanboot',
  'iseq',
  ':failed',
  ':local_efi',
  ':local_bios',
  '',
]);
const OWN_SETTINGS = [RUNTIME_MAC, '${platform}', '${rackboot_choice}'];
const PLATFORM_SWITCH = 'iseq ${platform} efi && goto local_efi || goto local_bios';
const NOT_COMMANDS = new Set(['#!ipxe', '#', ':failed', ':local_efi', ':local_bios', '', 'menu', 'item', 'echo', 'sleep', 'imgfree', 'exit', 'iseq']);

export function fuzz(data: Buffer): void {
  if (data.length === 0) return;
  const selector = data[0];
  const [kernel, initrds, cmdline, url, items, nodeName, mac, ip, serial, profileName, requested, booted, base] = fields(data.subarray(1), 13).map((f) =>
    Buffer.from(f, 'latin1').toString('utf8'),
  );
  const kinds = ['linux', 'chain', 'local', 'menu'] as const;
  const kind = kinds[selector & 3];
  const initrdList = initrds === '' ? [] : initrds.split('\x01');
  const menuItems =
    items === ''
      ? []
      : items.split('\x01').map((item) => {
          const [profile, label] = item.split('\x02');
          return { profile: profile ?? '', label: label ?? '' };
        });
  const profile: ProfileConfig =
    kind === 'linux'
      ? { kind, kernel: kernel, initrds: initrdList, cmdline: cmdline }
      : kind === 'chain'
        ? { kind, url: url }
        : kind === 'local'
          ? { kind }
          : { kind, items: menuItems, timeout: (selector >> 2) & 0x3f };
  const profiles: Record<string, ProfileConfig> = { default: profile, compute: { kind: 'local' } };
  if (menuItems[0]) profiles[menuItems[0].profile] = { kind: 'local' };
  const platform = ([undefined, 'efi', 'pcbios', undefined] as const)[(selector >> 6) & 3];
  const { script } = buildIpxeScript(profile, {
    profiles,
    node: { name: nodeName, mac: mac, ip: ip },
    serverBase: selector & 0x20 && base !== '' ? base : 'http://10.0.0.1',
    ...(serial !== '' ? { bootServerSerial: serial } : {}),
    ...(platform ? { platform } : {}),
    ...(profileName !== '' ? { profileName } : {}),
    ...(requested !== '' ? { requestedProfile: requested } : {}),
    ...(booted !== '' ? { bootedUrl: booted } : {}),
  });
  const validItems = menuItems.filter((item) => Object.hasOwn(profiles, item.profile)).length;
  const bodyLines =
    kind === 'linux' ? 2 + initrdList.length : kind === 'chain' ? 1 : kind === 'local' ? (platform ? 1 : 5) : validItems === 0 ? 1 : 3 + validItems;
  checkScript(script, 2 + bodyLines + 6);
}

function checkScript(script: string, expectedLines: number): void {
  check(script.endsWith('\n'), 'script does not end with a newline');
  const lines = script.slice(0, -1).split('\n');
  check(lines.length === expectedLines, `script has ${lines.length} lines, the profile's shape calls for ${expectedLines}`);
  check(!/[\x00-\x09\x0b-\x1f\x7f]/.test(script), 'script contains a control character other than newline');
  let stripped = script;
  for (const own of OWN_SETTINGS) stripped = stripped.split(own).join('');
  check(!stripped.includes('${'), 'a value brought a ${ setting expansion into the script');
  for (const line of lines) {
    check(!line.endsWith('\\'), `line continues onto the next: ${line}`);
    const tokens = line.split(' ');
    const command = line.startsWith('# ') ? '#' : tokens[0];
    check(COMMANDS.has(command), `line starts with ${JSON.stringify(command)}, not a command rackboot writes: ${line}`);
    if (command === '#' || command === '#!ipxe') continue;
    if (command === 'iseq') {
      check(line === PLATFORM_SWITCH, `unexpected iseq line: ${line}`);
      continue;
    }
    const isCommand = !NOT_COMMANDS.has(command);
    const body = isCommand ? line.slice(0, line.length - ' || goto failed'.length) : line;
    if (isCommand) check(line.endsWith(' || goto failed'), `command line without its failure branch: ${line}`);
    const bodyTokens = body.split(' ');
    for (const [i, token] of bodyTokens.entries()) {
      check(!['||', '&&', ';'].includes(token), `separator token ${token} in: ${line}`);
      check(i === 0 || !token.startsWith('#'), `token starting a comment in: ${line}`);
    }
  }
}
