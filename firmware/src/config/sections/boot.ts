// The `boot:` section: the directory boot files are served from, the boot
// profiles (linux, chain, local, menu), the profile nodes get by default and
// the boot loader (iPXE, or shim + GRUB for Secure Boot) they get by default.
// GRUB boots linux and local profiles only: chain and menu profiles are iPXE
// scripts, so `loader: grub` on them is refused here.
// Whether referenced profiles exist is checked in cross-checks.ts.

import { resolve } from 'node:path';
import type { Node as YamlNode } from 'yaml';
import { DEFAULTS, DEFAULT_MENU_TIMEOUT, builtinProfiles } from '../defaults.js';
import type { BootConfig, BootLoader, ConfigOverrides, MenuItemConfig, ProfileConfig, ProfileKind } from '../schema.js';
import { bootPathSpec, chainUrlSpec, directorySpec, durationSpec, enumSpec, labelSpec, lineSpec, profileNameSpec } from '../value-specs.js';
import type { DocumentReader, MapView, ValueSpec } from '../yaml-reader.js';

export const BOOT_KEYS = ['root', 'default_profile', 'profiles', 'loader'] as const;
export const LOADERS = ['ipxe', 'grub'] as const satisfies readonly BootLoader[];
export const PROFILE_KINDS = ['linux', 'chain', 'local', 'menu'] as const satisfies readonly ProfileKind[];
export const PROFILE_KEYS = {
  linux: ['kind', 'kernel', 'initrds', 'cmdline', 'loader'],
  chain: ['kind', 'url', 'loader'],
  local: ['kind', 'loader'],
  menu: ['kind', 'items', 'timeout', 'loader'],
} as const satisfies Record<ProfileKind, readonly string[]>;
const loaderSpec = enumSpec(LOADERS);
export const MENU_ITEM_KEYS = ['profile', 'label'] as const;

const MENU_ITEMS_EXPECTED = 'a list of menu items like [{profile: default, label: "Linux"}]';

/** A menu item's reference to another profile, checked once every profile name is known. */
export interface MenuRef {
  keyPath: string;
  profile: string;
  menu: string;
}

/** The section as read; root and defaultProfile are undefined when wrong (reported), profiles holds only the valid ones. */
export interface BootDraft {
  root?: string;
  defaultProfile?: string;
  defaultProfileWritten: boolean;
  loader?: BootLoader;
  profiles: Record<string, ProfileConfig>;
  /** Every profile name written, valid or not, so a reference to a broken profile is not also "undefined". */
  profileNames: string[];
  menuRefs: MenuRef[];
}

/** boot.root may be left out when --root gives it. Without boot.profiles, the built-in 'default' Linux profile. */
export function readBootSection(r: DocumentReader, top: MapView, overrides: ConfigOverrides): BootDraft {
  const boot = r.section(top, 'boot', BOOT_KEYS);
  const rootExpected = `${directorySpec.expected} holding the kernels, initrds and iPXE binaries (relative to this file's directory), or --root on the command line`;
  const draft: BootDraft = {
    root: overrides.root ? boot.get('root', directorySpec) : boot.need('root', directorySpec, rootExpected),
    defaultProfileWritten: boot.node('default_profile') !== undefined,
    defaultProfile: boot.getOr('default_profile', profileNameSpec, DEFAULTS.defaultProfile),
    loader: boot.getOr('loader', loaderSpec, DEFAULTS.loader),
    profiles: {},
    profileNames: [],
    menuRefs: [],
  };
  const profilesNode = boot.node('profiles');
  if (profilesNode === undefined) {
    draft.profiles = builtinProfiles();
    draft.profileNames = Object.keys(draft.profiles);
  } else {
    readProfiles(r, profilesNode, draft);
  }
  return draft;
}

function readProfiles(r: DocumentReader, node: YamlNode, draft: BootDraft): void {
  const profiles = r.map(node, 'boot.profiles', 'a mapping of profile names to profiles, like {default: {kind: linux, kernel: vmlinuz}}');
  for (const name of profiles?.keys() ?? []) {
    draft.profileNames.push(name);
    const keyPath = profiles!.path(name);
    const nameOk = profileNameSpec.read(r, profiles!.keyNode(name)!, keyPath) !== undefined;
    const profile = readProfile(r, profiles!.node(name), keyPath, name, draft.menuRefs);
    if (nameOk && profile) draft.profiles[name] = profile;
  }
}

/** One profile; undefined when anything in it was wrong (reported). Menu items' references are added to `menuRefs`. */
function readProfile(r: DocumentReader, node: YamlNode | undefined, keyPath: string, name: string, menuRefs: MenuRef[]): ProfileConfig | undefined {
  const before = r.problems.length;
  const view = r.requiredMap(node, keyPath, `a profile with a kind (${PROFILE_KINDS.join(', ')}), like {kind: linux, kernel: vmlinuz}`);
  if (!view) return undefined;
  const kind = view.need('kind', enumSpec(PROFILE_KINDS));
  // Which keys belong depends on the kind; without a valid kind, reporting keys would only guess.
  if (!kind) return undefined;
  view.rejectUnknown(PROFILE_KEYS[kind], ` (the keys of a ${kind} profile)`);
  const profile = readProfileOfKind(r, view, kind, name, menuRefs);
  return r.problems.length === before ? profile : undefined;
}

function readProfileOfKind(r: DocumentReader, view: MapView, kind: ProfileKind, name: string, menuRefs: MenuRef[]): ProfileConfig | undefined {
  const loader = view.get('loader', loaderSpec);
  const withLoader = loader === undefined ? {} : { loader };
  switch (kind) {
    case 'linux': {
      const kernel = view.need('kernel', bootPathSpec);
      const initrds = readList(r, view, 'initrds', bootPathSpec, 'a list of paths relative to boot.root like [initrd.img], or one path');
      const cmdline = view.getOr('cmdline', lineSpec, '');
      return kernel !== undefined && initrds !== undefined && cmdline !== undefined ? { kind, kernel, initrds, cmdline, ...withLoader } : undefined;
    }
    case 'chain': {
      refuseGrub(r, view, kind, loader);
      const url = view.need('url', chainUrlSpec);
      return url !== undefined ? { kind, url } : undefined;
    }
    case 'local':
      return { kind, ...withLoader };
    case 'menu': {
      refuseGrub(r, view, kind, loader);
      const items = readMenuItems(r, view, name, menuRefs);
      const timeout = view.getOr('timeout', durationSpec(), DEFAULT_MENU_TIMEOUT);
      return timeout !== undefined ? { kind, items, timeout } : undefined;
    }
  }
}

/** Chain and menu profiles are iPXE scripts (a chained URL, an iPXE menu): no GRUB config can stand for them. */
function refuseGrub(r: DocumentReader, view: MapView, kind: 'chain' | 'menu', loader: BootLoader | undefined): void {
  if (loader !== 'grub') return;
  const what = kind === 'chain' ? 'chains to a URL' : 'shows an iPXE menu';
  r.report(
    view.path('loader'),
    view.node('loader'),
    'grub',
    `ipxe or no loader key (a ${kind} profile ${what}, which only iPXE does; GRUB boots linux and local profiles)`,
  );
}

/** A menu's items (at least one); the valid ones, with every item's profile reference added to `menuRefs`. */
function readMenuItems(r: DocumentReader, view: MapView, menu: string, menuRefs: MenuRef[]): MenuItemConfig[] {
  const itemsNode = view.node('items');
  if (itemsNode === undefined) view.need('items', { expected: MENU_ITEMS_EXPECTED, read: () => undefined });
  const list = itemsNode === undefined ? undefined : r.list(itemsNode, view.path('items'), MENU_ITEMS_EXPECTED);
  if (list && list.length === 0) r.report(view.path('items'), itemsNode, r.render(itemsNode), `${MENU_ITEMS_EXPECTED}, with at least one item`);
  const items: MenuItemConfig[] = [];
  for (const item of list ?? []) {
    const itemView = r.requiredMap(item.node, item.keyPath, 'a menu item like {profile: default, label: "Linux"}');
    if (!itemView) continue;
    itemView.rejectUnknown(MENU_ITEM_KEYS);
    const target = itemView.need('profile', profileNameSpec);
    const label = itemView.need('label', labelSpec);
    if (target !== undefined) menuRefs.push({ keyPath: itemView.path('profile'), profile: target, menu });
    if (target !== undefined && label !== undefined) items.push({ profile: target, label });
  }
  return items;
}

/** A list of values, or one value standing for a one-item list; undefined when the list or any item is wrong (reported). */
function readList<T>(r: DocumentReader, view: MapView, key: string, spec: ValueSpec<T>, expected: string): T[] | undefined {
  const items = r.list(view.node(key), view.path(key), expected, true);
  if (items === undefined) return undefined;
  const values = items.map((item) => r.item(item.node, item.keyPath, spec));
  return values.every((v) => v !== undefined) ? values : undefined;
}

/** The normalised section of a draft read without problems: paths resolved against `base`, or the --root override. */
export function toBootConfig(boot: BootDraft, base: string, overrides: ConfigOverrides): BootConfig {
  return {
    root: overrides.root !== undefined ? resolve(overrides.root) : resolve(base, boot.root!),
    defaultProfile: boot.defaultProfile!,
    profiles: boot.profiles,
    loader: boot.loader!,
  };
}
