// Per-node iPXE scripts, generated from a boot profile.
//
// What the other end does (iPXE source, src/core/exec.c and src/image/script.c;
// unchanged from Debian 12's 1.0.0+git-20190125 to today): a script is split
// into lines at '\n' (a trailing '\r' is dropped, a trailing '\' joins the next
// line); a line starting with ':' is a label; each line is split into tokens at
// whitespace, with NO quoting or escaping of any kind; the tokens "||", "&&"
// and ";" separate commands and a token starting with '#' starts a comment;
// after splitting, every `${name}` inside a token is replaced by a setting's
// value (repeatedly, so `$` + `{x}` assembled by one expansion is expanded
// again). Commands parse leading "-x"/"--x" tokens as options.
//
// Because there is no quoting, a value from the inventory or the configuration
// cannot be escaped into a script, only made harmless. The sanitisers below do
// that and are the only way values enter a script:
//   ipxeText  free text spread over tokens (kernel command line, labels, echo)
//   ipxeWord  exactly one token (menu item names)
//   ipxeUrl   one URL token: everything outside RFC 3986's URI characters is
//             percent-encoded, which also removes '{', '}' and so `${`
// Every generated command ends in `|| goto failed`; the `:failed` section says
// what went wrong, waits and fetches this node's script again, forever: a
// cluster node left at an iPXE shell needs a person with a keyboard.

import type { ProfileConfig } from '../config/schema.js';
import { nodeTemplateFields, renderTemplate } from '../boot-policy/template.js';

export interface IpxeNode {
  name: string;
  mac: string;
  ip: string;
}

export interface IpxeScriptContext {
  profiles: Record<string, ProfileConfig>;
  node: IpxeNode;
  /** `http://10.0.0.1` or `http://10.0.0.1:8080`; boot files and scripts are under it. */
  serverBase: string;
  /** The boot server's serial number, offered to templates as `{serial}`. */
  bootServerSerial?: string;
  /** When known (e.g. from `?platform=${platform}`); otherwise scripts decide at run time where it matters. */
  platform?: 'efi' | 'pcbios';
  /** Name of the profile being rendered: shown in comments and messages, `{profile}` in templates. */
  profileName?: string;
  /** A profile the client asked for (`?profile=`, a menu choice): the retry loop asks for it again. */
  requestedProfile?: string;
  /**
   * The node's boot token (boot-policy/boot-token.ts): appended as `?token=` to the
   * kernel and initrd URLs, the menu's chain and the retry loop, so the node's own
   * downloads and requests are known as this boot's. Hex only, so inert.
   */
  token?: string;
  /**
   * Where the booted OS reports that it is up (http/booted-url.ts, with the token). Linux profiles carry it as the last
   * kernel argument, `rackboot.booted=URL`, for an init script to fetch
   * (`wget -q -O- "$url"`); the kernel ignores a parameter with a dot that names no module.
   */
  bootedUrl?: string;
}

export interface IpxeScript {
  script: string;
  /** `{placeholders}` in the profile that have no value, left verbatim (see template.ts). */
  unknownPlaceholders: string[];
  /** Other things worth a log line (menu items naming missing profiles...). */
  warnings: string[];
}

/**
 * The MAC of the interface iPXE is booting from, expanded by iPXE itself.
 * `netX` is iPXE's alias for the most recently opened device (src/net/netdev_settings.c),
 * which during autoboot is the NIC that got the DHCP answer; `net0` would name
 * the first NIC even when a node boots from its second one.
 */
export const RUNTIME_MAC = '${netX/mac}';

/** The settings variable `choose` stores a menu choice in. */
const MENU_CHOICE = 'rackboot_choice';

export function ipxeScriptFor(profile: ProfileConfig, ctx: IpxeScriptContext): string {
  return buildIpxeScript(profile, ctx).script;
}

export function buildIpxeScript(profile: ProfileConfig, ctx: IpxeScriptContext): IpxeScript {
  const base = trimBase(ctx.serverBase);
  const unknownPlaceholders: string[] = [];
  const warnings: string[] = [];
  const fields = templateFields(ctx, base);
  const render = (template: string, encode: (value: string) => string = (value) => value): string => {
    const encoded = Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, encode(value)]));
    const { text, unknown } = renderTemplate(template, encoded);
    for (const name of unknown) if (!unknownPlaceholders.includes(name)) unknownPlaceholders.push(name);
    return text;
  };

  const lines = ['#!ipxe', `# rackboot: ${ipxeText(`profile ${ctx.profileName ?? profile.kind}, ${describeNode(ctx.node)}`)}`];
  switch (profile.kind) {
    case 'linux': {
      // `initrd --name` (imgfetch's --name option, present in iPXE since 2010 and in
      // Debian 12's build) fixes each initrd's image name, so the `initrd=NAME`
      // arguments match whatever the path looks like. The EFI stub loads initrds
      // by those names from iPXE's virtual file system; on BIOS they are harmless.
      const names = uniqueImageNames(profile.initrds);
      const cmdline = ipxeText(render(profile.cmdline)).trim();
      const kernelArgs = [
        ...names.map((name) => `initrd=${name}`),
        ...(cmdline === '' ? [] : [cmdline]),
        ...(ctx.bootedUrl === undefined ? [] : [`rackboot.booted=${ipxeUrl(ctx.bootedUrl)}`]),
      ];
      const withToken = tokenQuery(ctx, '?');
      lines.push(`kernel ${fileUrl(base, profile.kernel)}${withToken}${kernelArgs.map((arg) => ` ${arg}`).join('')} || goto failed`);
      profile.initrds.forEach((path, index) => {
        lines.push(`initrd --name ${names[index]} ${fileUrl(base, path)}${withToken} || goto failed`);
      });
      lines.push('boot || goto failed');
      break;
    }
    case 'chain': {
      // Not --replace: if whatever is chained returns, this script's retry loop is still here.
      const url = isAbsoluteUrl(profile.url) ? profile.url : `${base}/${profile.url.replace(/^\/+/, '')}`;
      lines.push(`chain ${ipxeUrl(render(url, encodeURIComponent))} || goto failed`);
      break;
    }
    case 'local':
      lines.push(...localBoot(ctx.platform));
      break;
    case 'menu': {
      const items = profile.items.filter((item) => {
        if (Object.hasOwn(ctx.profiles, item.profile)) return true;
        warnings.push(`menu item "${item.label}" names profile "${item.profile}", which is not defined; item left out`);
        return false;
      });
      if (items.length === 0) {
        lines.push(`echo rackboot: ${ipxeText(`the boot menu for ${describeNode(ctx.node)} has no bootable items`)}`);
        break;
      }
      const first = ipxeWord(items[0].profile);
      lines.push(`menu rackboot: ${ipxeText(`boot menu for ${describeNode(ctx.node)}`)}`);
      for (const item of items) lines.push(`item ${ipxeWord(item.profile)} ${ipxeText(item.label)}`);
      // choose --timeout takes milliseconds (src/hci/commands/menu_cmd.c); the configuration says seconds.
      const timeoutMs = Math.max(0, Math.round(profile.timeout * 1000));
      lines.push(`choose --timeout ${timeoutMs} --default ${first} ${MENU_CHOICE} || goto failed`);
      // --replace: the chosen profile's script takes this one's place (and has its own retry loop).
      lines.push(`chain --replace --autofree ${ipxeUrl(base)}/boot.ipxe?profile=\${${MENU_CHOICE}}&mac=${RUNTIME_MAC}${tokenQuery(ctx, '&')} || goto failed`);
      break;
    }
  }
  lines.push('', ...failureLoop(ctx, base));
  return { script: lines.join('\n') + '\n', unknownPlaceholders, warnings };
}

/**
 * Boot from the local disk.
 * - BIOS: `sanboot --no-describe --drive 0x80` boots the first hard disk's MBR
 *   through INT 13 without describing a SAN disk (no iBFT/aBFT tables).
 * - EFI: `exit` ends iPXE with success; the firmware's boot manager goes on to
 *   the next entry in its boot order, which is the local disk when the network
 *   comes first. (sanboot of a local disk is not possible from EFI iPXE.)
 * - Unknown platform: decided at run time from iPXE's `${platform}` setting.
 */
function localBoot(platform: IpxeScriptContext['platform']): string[] {
  const bios = 'sanboot --no-describe --drive 0x80 || goto failed';
  if (platform === 'efi') return ['exit'];
  if (platform === 'pcbios') return [bios];
  return ['iseq ${platform} efi && goto local_efi || goto local_bios', ':local_efi', 'exit', ':local_bios', bios];
}

/**
 * The `:failed` section. Falling into it (a chained image returned, `boot`
 * came back) is a failure too. Nodes wait 5-15 s, fixed per MAC, so a rack that
 * failed together does not retry in lockstep; `imgfree` drops the images of the
 * failed attempt (a running script is unregistered while it runs, so this one
 * survives — src/image/script.c), and `chain --replace` re-runs this node's
 * script without nesting one script inside another on every round.
 */
function failureLoop(ctx: IpxeScriptContext, base: string): string[] {
  const delay = retryDelaySeconds(ctx.node.mac);
  const profile = ctx.requestedProfile ?? ctx.profileName;
  // encodeURIComponent leaves only URI characters, so the query needs no further sanitising.
  const asked = ctx.requestedProfile !== undefined ? `profile=${encodeURIComponent(ctx.requestedProfile)}&` : '';
  const what = `could not boot ${describeNode(ctx.node)}${profile !== undefined ? ` with profile ${profile}` : ''}, retrying in ${delay} seconds`;
  return [
    ':failed',
    `echo rackboot: ${ipxeText(what)}`,
    `sleep ${delay}`,
    'imgfree',
    `chain --replace --autofree ${ipxeUrl(base)}/boot.ipxe?${asked}mac=${RUNTIME_MAC}${tokenQuery(ctx, '&')} || goto failed`,
  ];
}

/** `?token=T` or `&token=T` when the script has a token; anything but hex is dropped, so nothing else can enter a URL this way. */
function tokenQuery(ctx: IpxeScriptContext, separator: '?' | '&'): string {
  return ctx.token !== undefined && /^[0-9a-f]+$/.test(ctx.token) ? `${separator}token=${ctx.token}` : '';
}

export function retryDelaySeconds(mac: string): number {
  const bytes = mac.match(/[0-9a-f]{2}/gi) ?? [];
  if (bytes.length === 0) return 10;
  const sum = bytes.reduce((total, hex) => total + parseInt(hex, 16), 0);
  return 5 + (sum % 11);
}

function describeNode(node: IpxeNode): string {
  const details = [node.mac, node.ip].filter((value) => value !== '').join(', ');
  const who = node.name !== '' ? `node ${node.name}` : 'unknown node';
  return details === '' ? who : `${who} (${details})`;
}

function templateFields(ctx: IpxeScriptContext, base: string): Record<string, string> {
  return nodeTemplateFields(ctx.node, base, ctx.profileName, ctx.bootServerSerial);
}

function trimBase(serverBase: string): string {
  return serverBase.replace(/\/+$/, '');
}

/** The host part of the server base (`10.0.0.1` of `http://10.0.0.1:8080`), for `nfsroot={server}:/...`. */
function isAbsoluteUrl(text: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text);
}

/** A boot-root path as a URL under the server base, each segment percent-encoded (the server decodes once). */
export function fileUrl(base: string, path: string): string {
  const segments = path.split('/').filter((segment) => segment !== '' && segment !== '.');
  return `${ipxeUrl(trimBase(base))}/${segments.map((segment) => encodeURIComponent(segment)).join('/')}`;
}

/**
 * iPXE image names for initrd paths: the basename restricted to characters that
 * are safe as one token and as an EFI file name, made unique by a suffix when
 * two paths share a basename (a/initrd.img, b/initrd.img -> initrd.img, initrd.img-2).
 */
export function uniqueImageNames(paths: readonly string[]): string[] {
  const used = new Set<string>();
  return paths.map((path) => {
    const base =
      path
        .split('/')
        .filter((segment) => segment !== '')
        .pop() ?? '';
    let name = base.replace(/[^A-Za-z0-9._+-]/g, '_').replace(/^[-.]/, '_');
    if (name === '') name = 'initrd';
    let candidate = name;
    for (let n = 2; used.has(candidate); n++) candidate = `${name}-${n}`;
    used.add(candidate);
    return candidate;
  });
}

// ---------------------------------------------------------------------------
// Sanitisers

/** C0 and C1 controls (every iPXE whitespace but ' ' is among them) and the Unicode line separators. */
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Free text that may span several tokens, made inert:
 * - control characters (newline, CR, tab, ...) become '_': no new lines, no
 *   token boundaries other than plain spaces;
 * - a '$' before '{' becomes '_': no setting expansion (iPXE has no way to
 *   write a literal `${`);
 * - a token that is exactly "||", "&&" or ";" becomes underscores, and a token
 *   starting with '#' has that '#' replaced: no command separators, no comment
 *   swallowing the `|| goto failed` after it;
 * - a trailing '\' becomes '_': no continuation onto the next line.
 * Ordinary text, including kernel arguments like `console=ttyS0,115200n8`,
 * passes unchanged.
 */
export function ipxeText(value: string): string {
  let text = value.replace(CONTROL_CHARS, '_').replace(/\$(?=\{)/g, '_');
  text = text
    .split(' ')
    .map((token) => {
      if (token === '||' || token === '&&' || token === ';') return '_'.repeat(token.length);
      return token.startsWith('#') ? `_${token.slice(1)}` : token;
    })
    .join(' ');
  return text.endsWith('\\') ? `${text.slice(0, -1)}_` : text;
}

/** Exactly one token: ipxeText, spaces become '_', and no leading '-' that a command would parse as an option. */
export function ipxeWord(value: string): string {
  const word = ipxeText(value).replace(/ /g, '_').replace(/^-/, '_');
  return word === '' ? '_' : word;
}

/** RFC 3986 2.2/2.3: unreserved and reserved characters, which stay as they are. */
const URI_CHAR = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=]$/;

/**
 * One URL token. Characters outside RFC 3986's URI set (controls, space, '"',
 * '<', '>', '\', '^', '`', '{', '|', '}', non-ASCII) are percent-encoded as
 * UTF-8, and a '%' not starting a valid escape becomes %25. So the result is
 * one token, has no `${`, and means the same URL. A first character that would
 * make the token special to iPXE ('#' comment, '-' option, ';' or '&') is
 * encoded too; real URLs start with a scheme, so this only bites garbage.
 */
export function ipxeUrl(url: string): string {
  let out = '';
  const chars = [...url];
  chars.forEach((char, index) => {
    if (char === '%' && /^[0-9A-Fa-f]{2}$/.test(chars.slice(index + 1, index + 3).join(''))) out += char;
    else if (URI_CHAR.test(char) && !(index === 0 && /[#\-;&]/.test(char))) out += char;
    else out += percentEncode(char);
  });
  return out;
}

function percentEncode(char: string): string {
  return [...Buffer.from(char, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}
