import { describe, expect, it } from 'vitest';
import type { ProfileConfig } from '../../firmware/src/config/schema.js';
import {
  buildIpxeScript,
  fileUrl,
  ipxeScriptFor,
  ipxeText,
  ipxeUrl,
  ipxeWord,
  retryDelaySeconds,
  uniqueImageNames,
  type IpxeScriptContext,
} from '../../firmware/src/http/ipxe-script.js';
import { bootedCallbackUrl } from '../../firmware/src/http/booted-url.js';

const profiles: Record<string, ProfileConfig> = {
  compute: {
    kind: 'linux',
    kernel: 'images/vmlinuz',
    initrds: ['images/initrd.img', 'images/microcode.img'],
    cmdline: 'console=ttyS0,115200 root=/dev/nfs nfsroot={server}:/export/{name} BOOTIF={mac}',
  },
  rescue: { kind: 'chain', url: 'http://10.0.0.1:8080/rescue.ipxe' },
  disk: { kind: 'local' },
  choose: {
    kind: 'menu',
    items: [
      { profile: 'compute', label: 'Linux (compute)' },
      { profile: 'disk', label: 'Local disk' },
    ],
    timeout: 15,
  },
};

const node = { name: 'node01', mac: '52:54:00:00:00:01', ip: '10.0.0.11' };
const ctx = (profileName: string, extra: Partial<IpxeScriptContext> = {}): IpxeScriptContext => ({
  profiles,
  node,
  serverBase: 'http://10.0.0.1:8080',
  profileName,
  ...extra,
});

// retryDelaySeconds('52:54:00:00:00:01') = 5 + ((0x52 + 0x54 + 1) % 11) = 7
const FAILED = `
:failed
echo rackboot: could not boot node node01 (52:54:00:00:00:01, 10.0.0.11) with profile PROFILE, retrying in 7 seconds
sleep 7
imgfree
chain --replace --autofree http://10.0.0.1:8080/boot.ipxe?mac=\${netX/mac} || goto failed
`;
const failed = (profile: string) => FAILED.replace('PROFILE', profile);

describe('ipxeScriptFor', () => {
  it('linux: kernel with initrd= names and the rendered command line, named initrds, boot', () => {
    expect(ipxeScriptFor(profiles.compute, ctx('compute'))).toBe(
      `#!ipxe
# rackboot: profile compute, node node01 (52:54:00:00:00:01, 10.0.0.11)
kernel http://10.0.0.1:8080/images/vmlinuz initrd=initrd.img initrd=microcode.img console=ttyS0,115200 root=/dev/nfs nfsroot=10.0.0.1:/export/node01 BOOTIF=52:54:00:00:00:01 || goto failed
initrd --name initrd.img http://10.0.0.1:8080/images/initrd.img || goto failed
initrd --name microcode.img http://10.0.0.1:8080/images/microcode.img || goto failed
boot || goto failed
` + failed('compute'),
    );
  });

  it('linux: no initrds and an empty command line', () => {
    const bare: ProfileConfig = { kind: 'linux', kernel: 'vmlinuz', initrds: [], cmdline: '' };
    expect(ipxeScriptFor(bare, ctx('bare', { serverBase: 'http://10.0.0.1/' }))).toBe(
      `#!ipxe
# rackboot: profile bare, node node01 (52:54:00:00:00:01, 10.0.0.11)
kernel http://10.0.0.1/vmlinuz || goto failed
boot || goto failed

:failed
echo rackboot: could not boot node node01 (52:54:00:00:00:01, 10.0.0.11) with profile bare, retrying in 7 seconds
sleep 7
imgfree
chain --replace --autofree http://10.0.0.1/boot.ipxe?mac=\${netX/mac} || goto failed
`,
    );
  });

  it('linux: the booted-callback URL is the last kernel argument, one safe token', () => {
    const bare: ProfileConfig = { kind: 'linux', kernel: 'vmlinuz', initrds: ['initrd.img'], cmdline: 'quiet' };
    const script = ipxeScriptFor(bare, ctx('bare', { bootedUrl: 'http://10.0.0.1/api/v1/booted?mac=52:54:00:00:00:01 ${x}' }));
    expect(script).toContain(
      'kernel http://10.0.0.1:8080/vmlinuz initrd=initrd.img quiet rackboot.booted=http://10.0.0.1/api/v1/booted?mac=52:54:00:00:00:01%20$%7Bx%7D || goto failed\n',
    );
  });

  it('carries the boot token on the kernel, initrd, menu and retry URLs and in the booted callback built by booted-url.ts', () => {
    const token = '0123456789abcdef0123456789abcdef';
    const bootedUrl = bootedCallbackUrl('http://10.0.0.1/', '52:54:00:00:00:01', token);
    expect(bootedUrl).toBe(`http://10.0.0.1/api/v1/booted?mac=52:54:00:00:00:01&token=${token}`);
    const script = ipxeScriptFor(profiles.compute, ctx('compute', { token, bootedUrl }));
    expect(script).toContain(`kernel http://10.0.0.1:8080/images/vmlinuz?token=${token} initrd=initrd.img initrd=microcode.img `);
    expect(script).toContain(` rackboot.booted=http://10.0.0.1/api/v1/booted?mac=52:54:00:00:00:01&token=${token} || goto failed\n`);
    expect(script).toContain(`initrd --name initrd.img http://10.0.0.1:8080/images/initrd.img?token=${token} || goto failed\n`);
    expect(script).toContain(`initrd --name microcode.img http://10.0.0.1:8080/images/microcode.img?token=${token} || goto failed\n`);
    expect(script).toContain(`/boot.ipxe?mac=\${netX/mac}&token=${token} || goto failed\n`);
    const menu = ipxeScriptFor(profiles.choose, ctx('choose', { token }));
    expect(menu).toContain(`/boot.ipxe?profile=\${rackboot_choice}&mac=\${netX/mac}&token=${token} || goto failed\n`);
    // Without a token (a script for a claim, not for the node itself) no URL has one; a non-hex token never enters.
    expect(ipxeScriptFor(profiles.compute, ctx('compute'))).not.toContain('token=');
    expect(ipxeScriptFor(profiles.compute, ctx('compute', { token: 'x y${a}' }))).not.toContain('token=');
  });

  it('chain: absolute URL as is, relative URL under the server', () => {
    expect(ipxeScriptFor(profiles.rescue, ctx('rescue'))).toBe(
      `#!ipxe
# rackboot: profile rescue, node node01 (52:54:00:00:00:01, 10.0.0.11)
chain http://10.0.0.1:8080/rescue.ipxe || goto failed
` + failed('rescue'),
    );
    const relative = ipxeScriptFor({ kind: 'chain', url: '/tools/{name}.ipxe' }, ctx('tools'));
    expect(relative).toContain('\nchain http://10.0.0.1:8080/tools/node01.ipxe || goto failed\n');
  });

  it('local: sanboot on BIOS, exit on EFI, decided by ${platform} when unknown', () => {
    const header = '#!ipxe\n# rackboot: profile disk, node node01 (52:54:00:00:00:01, 10.0.0.11)\n';
    expect(ipxeScriptFor(profiles.disk, ctx('disk', { platform: 'pcbios' }))).toBe(
      header + 'sanboot --no-describe --drive 0x80 || goto failed\n' + failed('disk'),
    );
    expect(ipxeScriptFor(profiles.disk, ctx('disk', { platform: 'efi' }))).toBe(header + 'exit\n' + failed('disk'));
    expect(ipxeScriptFor(profiles.disk, ctx('disk'))).toBe(
      header +
        `iseq \${platform} efi && goto local_efi || goto local_bios
:local_efi
exit
:local_bios
sanboot --no-describe --drive 0x80 || goto failed
` +
        failed('disk'),
    );
  });

  it('menu: items, choose with a timeout in ms defaulting to the first, chain to the chosen profile', () => {
    expect(ipxeScriptFor(profiles.choose, ctx('choose'))).toBe(
      `#!ipxe
# rackboot: profile choose, node node01 (52:54:00:00:00:01, 10.0.0.11)
menu rackboot: boot menu for node node01 (52:54:00:00:00:01, 10.0.0.11)
item compute Linux (compute)
item disk Local disk
choose --timeout 15000 --default compute rackboot_choice || goto failed
chain --replace --autofree http://10.0.0.1:8080/boot.ipxe?profile=\${rackboot_choice}&mac=\${netX/mac} || goto failed
` + failed('choose'),
    );
  });

  it('menu: items naming undefined profiles are left out with a warning', () => {
    const menu: ProfileConfig = {
      kind: 'menu',
      items: [
        { profile: 'gone', label: 'Gone' },
        { profile: 'disk', label: 'Disk' },
      ],
      timeout: 2,
    };
    const built = buildIpxeScript(menu, ctx('m'));
    expect(built.script).toContain('\nitem disk Disk\nchoose --timeout 2000 --default disk rackboot_choice || goto failed\n');
    expect(built.script).not.toContain('gone');
    expect(built.warnings).toEqual(['menu item "Gone" names profile "gone", which is not defined; item left out']);
    const empty = buildIpxeScript({ kind: 'menu', items: [{ profile: 'gone', label: 'Gone' }], timeout: 2 }, ctx('m'));
    expect(empty.script).toContain('\necho rackboot: the boot menu for node node01 (52:54:00:00:00:01, 10.0.0.11) has no bootable items\n\n:failed\n');
  });

  it('retries the profile that was asked for, and describes unknown nodes', () => {
    const script = ipxeScriptFor(profiles.compute, ctx('compute', { requestedProfile: 'compute', node: { name: '', mac: '', ip: '10.0.0.99' } }));
    expect(script).toContain('# rackboot: profile compute, unknown node (10.0.0.99)\n');
    expect(script).toContain('echo rackboot: could not boot unknown node (10.0.0.99) with profile compute, retrying in 10 seconds\nsleep 10\n');
    expect(script).toContain('chain --replace --autofree http://10.0.0.1:8080/boot.ipxe?profile=compute&mac=${netX/mac} || goto failed\n');
  });

  it('reports unknown placeholders and fills {serial} and {profile}', () => {
    const linux: ProfileConfig = { kind: 'linux', kernel: 'vmlinuz', initrds: [], cmdline: 'a={serial} b={profile} c={rack} d={{mac}' };
    const built = buildIpxeScript(linux, ctx('p1', { bootServerSerial: '1000abcd' }));
    expect(built.script).toContain('kernel http://10.0.0.1:8080/vmlinuz a=1000abcd b=p1 c={rack} d={mac} || goto failed\n');
    expect(built.unknownPlaceholders).toEqual(['rack']);
    expect(buildIpxeScript(linux, ctx('p1')).unknownPlaceholders).toEqual(['serial', 'rack']);
  });

  it('keeps initrd names unique and safe', () => {
    expect(uniqueImageNames(['a/initrd.img', 'b/initrd.img', 'c/initrd.img', 'x/my initrd$.gz', '-rf', ''])).toEqual([
      'initrd.img',
      'initrd.img-2',
      'initrd.img-3',
      'my_initrd_.gz',
      '_rf',
      'initrd',
    ]);
  });

  it('percent-encodes file paths segment by segment', () => {
    expect(fileUrl('http://10.0.0.1', 'images/my kernel/${x};#1')).toBe('http://10.0.0.1/images/my%20kernel/%24%7Bx%7D%3B%231');
    expect(fileUrl('http://10.0.0.1/', './a//b')).toBe('http://10.0.0.1/a/b');
  });

  it('spreads retries over 5-15 s by MAC', () => {
    const delays = new Set(Array.from({ length: 64 }, (_, i) => retryDelaySeconds(`52:54:00:00:00:${i.toString(16).padStart(2, '0')}`)));
    expect(Math.min(...delays)).toBe(5);
    expect(Math.max(...delays)).toBe(15);
    expect(retryDelaySeconds('')).toBe(10);
  });
});

describe('sanitisers', () => {
  it('ipxeText neutralises newlines, expansions, separators, comments and continuations', () => {
    expect(ipxeText('a\nshell')).toBe('a_shell');
    expect(ipxeText('a\r\nshell')).toBe('a__shell');
    expect(ipxeText('tab\there')).toBe('tab_here');
    expect(ipxeText('${x}')).toBe('_{x}');
    expect(ipxeText('$${x} ${${y}}')).toBe('$_{x} _{_{y}}');
    expect(ipxeText('a ; shell')).toBe('a _ shell');
    expect(ipxeText('a || shell && x')).toBe('a __ shell __ x');
    expect(ipxeText('#comment and #more')).toBe('_comment and _more');
    expect(ipxeText('ends with\\')).toBe('ends with_');
    expect(ipxeText('line\u2028sep\u0085nel')).toBe('line_sep_nel');
    // Ordinary kernel arguments and text pass unchanged.
    expect(ipxeText('console=ttyS0,115200n8 ip=::10.0.0.1:255.255.255.0:n:eth0:off a;b a|b $HOME {x} c#d')).toBe(
      'console=ttyS0,115200n8 ip=::10.0.0.1:255.255.255.0:n:eth0:off a;b a|b $HOME {x} c#d',
    );
  });

  it('ipxeWord makes exactly one token that is not an option', () => {
    expect(ipxeWord('a b\nc')).toBe('a_b_c');
    expect(ipxeWord('--name')).toBe('_-name');
    expect(ipxeWord(';')).toBe('_');
    expect(ipxeWord('')).toBe('_');
  });

  it('ipxeUrl percent-encodes what is not a URI character', () => {
    expect(ipxeUrl('http://10.0.0.1:8080/boot.ipxe?a=1&b=2;c#frag')).toBe('http://10.0.0.1:8080/boot.ipxe?a=1&b=2;c#frag');
    expect(ipxeUrl('http://h/a b\n${x}|\\"<>^`')).toBe('http://h/a%20b%0A$%7Bx%7D%7C%5C%22%3C%3E%5E%60');
    expect(ipxeUrl('http://h/%41%zz%')).toBe('http://h/%41%25zz%25');
    expect(ipxeUrl('http://h/é')).toBe('http://h/%C3%A9');
    expect(ipxeUrl('#x')).toBe('%23x');
    expect(ipxeUrl('--x')).toBe('%2D-x');
    expect(ipxeUrl(';')).toBe('%3B');
  });
});

// ---------------------------------------------------------------------------
// A model of iPXE's script reader (src/image/script.c, src/core/exec.c) to check
// that hostile values cannot change a script's structure.

interface ParsedLine {
  label?: string;
  /** Commands on the line, each a token list, with the terminator that follows it. */
  commands: { tokens: string[]; then?: string }[];
}

function parseIpxe(script: string): ParsedLine[] {
  const out: ParsedLine[] = [];
  let pending = '';
  for (const raw of script.split('\n')) {
    let line = pending + (raw.endsWith('\r') ? raw.slice(0, -1) : raw);
    if (line.endsWith('\\')) {
      pending = line.slice(0, -1);
      continue;
    }
    pending = '';
    line = line.replace(/^[ \t\v\f]+/, '');
    const parsed: ParsedLine = { commands: [] };
    if (line.startsWith(':')) {
      const match = /^:(\S*)\s*(.*)$/.exec(line)!;
      parsed.label = match[1];
      line = match[2]!;
    }
    const tokens = line.split(/[ \t\v\f\r]+/).filter((t) => t !== '');
    let current: string[] = [];
    for (const token of tokens) {
      if (token.startsWith('#')) break;
      if (token === '||' || token === '&&' || token === ';') {
        parsed.commands.push({ tokens: current, then: token });
        current = [];
      } else current.push(token);
    }
    if (current.length > 0) parsed.commands.push({ tokens: current });
    out.push(parsed);
  }
  return out;
}

/** Options of the commands rackboot writes that take an argument. */
const TAKES_ARGUMENT = new Set(['--name', '--timeout', '--default', '--drive']);

/** iPXE's getopt (src/core/getopt.c) reads options up to the first token not starting with '-'. */
function leadingOptions(tokens: string[]): string[] {
  const options: string[] = [];
  for (let i = 1; i < tokens.length && tokens[i].startsWith('-'); i++) {
    options.push(tokens[i]);
    if (TAKES_ARGUMENT.has(tokens[i])) i++;
  }
  return options;
}

/** Line by line: labels, command names, options and terminators; argument text may differ. */
function shape(script: string): unknown {
  return parseIpxe(script).map((line) => ({
    label: line.label,
    commands: line.commands.map((c) => ({ command: c.tokens[0], options: leadingOptions(c.tokens), then: c.then })),
  }));
}

/** `${...}` expansions in a script: only the ones rackboot writes on purpose. */
function expansions(script: string): string[] {
  return [...new Set(script.match(/\$\{[^}]*\}/g) ?? [])].sort();
}

const HOSTILE = [
  'a\nshell',
  'a\r\nshell',
  '${x}',
  '${net0/ip}',
  ';',
  'x ; shell',
  'x || shell',
  'x && shell',
  '#comment',
  'trailing\\',
  '--name evil',
  ':label',
  'a\u2028b',
  'a\tb\vc\fd',
  '$${x}',
];

describe('hostile values cannot inject iPXE commands', () => {
  const kinds = ['compute', 'rescue', 'disk', 'choose'] as const;

  for (const hostile of HOSTILE) {
    it(`node name ${JSON.stringify(hostile)}`, () => {
      for (const kind of kinds) {
        const benign = ipxeScriptFor(profiles[kind], ctx(kind));
        const evil = ipxeScriptFor(profiles[kind], ctx(kind, { node: { name: hostile, mac: hostile, ip: hostile }, requestedProfile: hostile }));
        expect(shape(evil), `${kind}\n${evil}`).toEqual(shape(benign));
        expect(expansions(evil)).toEqual(expansions(benign));
        expect(evil.split('\n').length).toBe(benign.split('\n').length);
      }
    });

    it(`configuration values ${JSON.stringify(hostile)}`, () => {
      const linux: ProfileConfig = {
        kind: 'linux',
        kernel: `images/${hostile}`,
        initrds: [hostile, `a/${hostile}`],
        cmdline: `quiet ${hostile} {name} ${hostile}`,
      };
      const chain: ProfileConfig = { kind: 'chain', url: `http://10.0.0.1/${hostile}?{name}` };
      const menu: ProfileConfig = { kind: 'menu', items: [{ profile: hostile, label: hostile }], timeout: 1 };
      const hostileProfiles = { ...profiles, [hostile]: profiles.disk };
      const hostileCtx = ctx(hostile, { profiles: hostileProfiles, node: { ...node, name: hostile }, serverBase: `http://10.0.0.1/${hostile}` });
      const cases: [ProfileConfig, ProfileConfig][] = [
        [linux, { kind: 'linux', kernel: 'images/k', initrds: ['i', 'a/i'], cmdline: 'quiet x n x' }],
        [chain, { kind: 'chain', url: 'http://10.0.0.1/x' }],
        [menu, { kind: 'menu', items: [{ profile: 'disk', label: 'x' }], timeout: 1 }],
      ];
      for (const [evilProfile, benignProfile] of cases) {
        const evil = ipxeScriptFor(evilProfile, hostileCtx);
        const benign = ipxeScriptFor(benignProfile, ctx('x'));
        expect(shape(evil), evil).toEqual(shape(benign));
        expect(expansions(evil)).toEqual(expansions(benign));
      }
    });
  }

  it('keeps the hostile text visible, just inert', () => {
    const script = ipxeScriptFor(profiles.compute, ctx('compute', { node: { ...node, name: 'a\nshell ${x} ; #c' } }));
    expect(script).toContain('echo rackboot: could not boot node a_shell _{x} _ _c (52:54:00:00:00:01, 10.0.0.11) with profile compute');
    expect(script).toContain('nfsroot=10.0.0.1:/export/a_shell _{x} _ _c BOOTIF=');
  });
});
