// The URL a booted OS calls to say it is up, with the MAC and the boot's token
// (boot-policy/boot-token.ts): `rackboot.booted=URL` on every kernel command
// line rackboot hands out (iPXE scripts, GRUB configurations) is built here and
// nowhere else. The API checks the token before it confirms the boot.

/** The callback's path; the API serves it (http/api/routes.ts). */
export const BOOTED_PATH = '/api/v1/booted';

/**
 * `http://10.0.0.1/api/v1/booted?mac=52:54:00:12:34:56&token=<32 hex>`. Callers pass a
 * normalised MAC (hex and colons) and a token from BootTokens (hex), so the URL is
 * one inert word in an iPXE script, a GRUB config and a kernel command line.
 */
export function bootedCallbackUrl(serverBase: string, mac: string, token: string, path: string = BOOTED_PATH): string {
  return `${serverBase.replace(/\/+$/, '')}${path}?mac=${mac}&token=${token}`;
}
