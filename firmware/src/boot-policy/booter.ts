// Boot policy for the DHCP stage: which file (TFTP) or URL (HTTP) each kind of
// client is told to load. Plain PXE firmware gets a small iPXE binary over
// TFTP; iPXE and UEFI HTTP Boot get HTTP URLs, so everything large moves over TCP.
// A UEFI x64 PXE node whose loader is GRUB (loader.ts) gets shim over TFTP instead.
// arm64 UEFI nodes always get rackboot's own arm64 GRUB network image (there is
// no arm64 iPXE in Debian): over TFTP after PXE, as a URL after HTTP Boot.
// The DHCP server asks a `Booter` and knows nothing of loaders or URLs.

import type { Ipv4, Mac } from '../net/addr.js';
import type { ClientClass, ClientKind } from '../model/boot.js';
import type { BootLoader } from '../config/schema.js';
import { GRUB_ARM64_FILE, grubCanBoot, SHIM_FILE } from './loader.js';

/** The boot decision the DHCP server is given: what this client, on this NIC, is told to load. */
export interface Booter {
  /** The answer's boot file and PXE options; undefined means the answer carries no boot file (a plain DHCP client). */
  answer(client: ClientClass, mac: Mac): BootAnswer | undefined;
}

/**
 * The appliance's booter: PXE firmware chainloads iPXE, iPXE and HTTP Boot clients
 * fetch from rackboot's HTTP server; nodes whose loader is GRUB get shim when they
 * are UEFI x64 PXE clients, and iPXE otherwise (`onGrubUnavailable` is told).
 */
export function ipxeBooter(ctx: BootPolicyContext, loaders?: LoaderChoice): Booter {
  return {
    answer: (client, mac) => {
      if (
        loaders &&
        client.kind !== 'plain' &&
        client.kind !== 'ipxe' &&
        client.kind !== 'rpi-boot' &&
        client.kind !== 'uefi-arm64-pxe' &&
        client.kind !== 'uefi-arm64-http' &&
        loaders.loaderOf(mac) === 'grub'
      ) {
        if (grubCanBoot(client.kind)) return { bootFile: SHIM_FILE, nextServer: ctx.serverAddress, vendorClass: 'PXEClient', pxeVendorOptions: 'boot-file' };
        loaders.onGrubUnavailable?.(mac, client.kind);
      }
      return bootAnswerFor(client, ctx);
    },
  };
}

export interface LoaderChoice {
  loaderOf(mac: Mac): BootLoader;
  /** A node whose loader is GRUB asked as a client the signed x64 chain cannot boot (BIOS, x64 HTTP Boot, ia32): it gets iPXE. */
  onGrubUnavailable?(mac: Mac, kind: ClientKind): void;
}

export interface BootAnswer {
  /** Boot file name (TFTP path) or URL, written to the `file` field and option 67. */
  bootFile: string;
  /** Next server (siaddr / option 66): the TFTP server for a TFTP path. */
  nextServer?: Ipv4;
  /** Option 60 echoed to the client: PXE firmware only trusts offers that say "PXEClient". */
  vendorClass?: 'PXEClient' | 'HTTPClient';
  /**
   * Option 43 (PXE vendor options): 'boot-file' tells a PXE ROM to use the boot
   * file in this offer, with no boot server discovery; 'raspberry-pi' is the boot
   * menu the Raspberry Pi bootloader looks for before it will boot from the network.
   */
  pxeVendorOptions: false | 'boot-file' | 'raspberry-pi';
}

export interface BootPolicyContext {
  serverAddress: Ipv4;
  httpPort: number;
}

/**
 * One row per firmware family. `file` is relative to the boot root (TFTP);
 * `http` means the answer is a URL on rackboot's HTTP server.
 */
const BOOT_TABLE: Record<Exclude<ClientKind, 'plain' | 'rpi-boot'>, { file: string; http: boolean }> = {
  // Legacy BIOS PXE ROMs: the UNDI iPXE keeps using the ROM's NIC driver.
  'bios-pxe': { file: 'undionly.kpxe', http: false },
  // UEFI PXE: snponly.efi uses the firmware's own network stack (SNP), which every UEFI NIC has.
  'uefi-x64-pxe': { file: 'snponly.efi', http: false },
  'uefi-ia32-pxe': { file: 'i386/snponly.efi', http: false },
  // arm64 UEFI: GRUB (rackboot's arm64-efi network image, loader.ts), whatever the node's loader.
  'uefi-arm64-pxe': { file: GRUB_ARM64_FILE, http: false },
  // UEFI HTTP Boot (option 60 "HTTPClient") wants a URL and the same vendor class back.
  'uefi-x64-http': { file: 'snponly.efi', http: true },
  'uefi-arm64-http': { file: GRUB_ARM64_FILE, http: true },
  // iPXE (chainloaded or native) fetches its per-node script over HTTP.
  ipxe: { file: 'boot.ipxe', http: true },
};

export function bootAnswerFor(client: ClientClass, ctx: BootPolicyContext): BootAnswer | undefined {
  if (client.kind === 'plain') return undefined;
  if (client.kind === 'rpi-boot') {
    // Raspberry Pi bootloader (boot ROM of a Pi 3, EEPROM of a Pi 4/5): it boots only from an
    // answer whose option 43 carries the "Raspberry Pi Boot" menu item, then reads its firmware
    // (start4.elf, config.txt, the kernel...) over TFTP from next-server: first under its serial
    // number's directory (TFTP_PREFIX, its default), else from the root. It takes no boot file.
    return { bootFile: '', nextServer: ctx.serverAddress, vendorClass: 'PXEClient', pxeVendorOptions: 'raspberry-pi' };
  }
  const row = BOOT_TABLE[client.kind];
  const base = httpBaseUrl(ctx.serverAddress, ctx.httpPort);
  if (client.kind === 'ipxe') {
    // iPXE expands ${...} in the filename it is given; netX is the device it booted from,
    // so the script request names the node even where rackboot leased no address (proxy mode).
    return { bootFile: `${base}/${row.file}?mac=\${netX/mac}`, pxeVendorOptions: false };
  }
  if (row.http) {
    return { bootFile: `${base}/${row.file}`, vendorClass: 'HTTPClient', pxeVendorOptions: false };
  }
  return { bootFile: row.file, nextServer: ctx.serverAddress, vendorClass: 'PXEClient', pxeVendorOptions: 'boot-file' };
}

/** `http://10.0.0.1`, or `http://10.0.0.1:8080` off the default port: what DHCP answers and iPXE scripts point at. */
export function httpBaseUrl(serverAddress: Ipv4, port: number): string {
  return port === 80 ? `http://${serverAddress}` : `http://${serverAddress}:${port}`;
}
