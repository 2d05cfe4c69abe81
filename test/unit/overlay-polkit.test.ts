// The image's polkit rule, run as polkitd runs it (a script calling polkit.addRule),
// against the actions the console's reboot/shutdown cause and a few it must not allow.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';

const RULES = join(resolve(import.meta.dirname, '../..'), 'rootfs-overlay/usr/share/polkit-1/rules.d/50-rackboot.rules');

type Rule = (action: { id: string }, subject: { user: string }) => string;

function loadRules(): Rule[] {
  const rules: Rule[] = [];
  const polkit = { Result: { YES: 'yes', NO: 'no', NOT_HANDLED: null }, addRule: (rule: Rule) => rules.push(rule) };
  runInNewContext(readFileSync(RULES, 'utf8'), { polkit });
  return rules;
}

describe('polkit rule for the console', () => {
  const [rule] = loadRules();

  it('lets the rackboot user reboot and power off the appliance', () => {
    for (const id of ['org.freedesktop.login1.reboot', 'org.freedesktop.login1.power-off', 'org.freedesktop.login1.reboot-multiple-sessions']) {
      expect(rule({ id }, { user: 'rackboot' })).toBe('yes');
    }
  });

  it('allows nothing else, and nothing to anyone else', () => {
    expect(rule({ id: 'org.freedesktop.systemd1.manage-units' }, { user: 'rackboot' })).toBeNull();
    expect(rule({ id: 'org.freedesktop.login1.reboot-ignore-inhibit' }, { user: 'rackboot' })).toBeNull();
    expect(rule({ id: 'org.freedesktop.login1.reboot' }, { user: 'nobody' })).toBeNull();
  });
});
