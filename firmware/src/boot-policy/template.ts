// Per-node placeholders in profile text (kernel command lines, chain URLs):
// `console=ttyS0 hostname={name} ip={ip}` becomes the node's own line.
//
// Rules, chosen to be unsurprising in a kernel command line:
// - `{identifier}` (a letter or "_", then letters, digits, "_") is replaced by
//   fields[identifier] when the field exists.
// - An unknown `{identifier}` is left verbatim and listed in `unknown`, so a typo
//   like `{hostname}` shows up in the log instead of silently vanishing or
//   failing every boot. Text in braces that is not an identifier (`{a b}`, `{}`,
//   `{net0/mac}`) is not a placeholder and is left alone without a report.
// - `{{` is a literal `{`: `{{mac}` renders as `{mac}`. `}` is never special.
// - Replacement is a single pass over the template: a field value containing
//   `{ip}` is inserted as is, never expanded again.
// Pure string work, no eval; callers sanitise the result for its destination
// (http/ipxe-script.ts, boot-policy/grub-config.ts).

export interface RenderedTemplate {
  text: string;
  /** Placeholder names found in the template but not in `fields`, once each, in order of appearance. */
  unknown: string[];
}

const TOKEN = /\{\{|\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function renderTemplate(text: string, fields: Readonly<Record<string, string>>): RenderedTemplate {
  const unknown: string[] = [];
  const rendered = text.replace(TOKEN, (match: string, name: string | undefined) => {
    if (name === undefined) return '{';
    // Own properties only: `{constructor}` or `{__proto__}` must not reach Object.prototype.
    if (Object.hasOwn(fields, name)) return fields[name];
    if (!unknown.includes(name)) unknown.push(name);
    return match;
  });
  return { text: rendered, unknown };
}

/** The placeholder names a template uses (escaped `{{...}` excluded), for checking a configuration up front. */
export function templatePlaceholders(text: string): string[] {
  const names: string[] = [];
  for (const match of text.matchAll(TOKEN)) {
    const name = match[1];
    if (name !== undefined && !names.includes(name)) names.push(name);
  }
  return names;
}

/**
 * The fields every boot program's profile text may use: {mac} {ip} {name} {server}
 * {server_url} {profile}, and {serial} when the boot server has one. `base` is
 * rackboot's HTTP base URL (`http://10.0.0.1`).
 */
export function nodeTemplateFields(
  node: { mac: string; ip: string; name: string },
  base: string,
  profileName?: string,
  bootServerSerial?: string,
): Record<string, string> {
  const fields: Record<string, string> = {
    mac: node.mac,
    ip: node.ip,
    name: node.name,
    server: serverHost(base),
    server_url: base,
    profile: profileName ?? '',
  };
  if (bootServerSerial !== undefined) fields.serial = bootServerSerial;
  return fields;
}

function serverHost(base: string): string {
  try {
    return new URL(base).hostname;
  } catch {
    return '';
  }
}
