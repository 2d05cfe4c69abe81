// Who is asking? PXE firmware, iPXE, UEFI HTTP Boot or a plain DHCP client
// (the node's own OS). Everything rackboot decides about a boot starts here.

import type { ClientClass, ClientKind } from '../model/boot.js';
import { Opt, type DhcpMessage } from './message.js';
import { vendorClass as vendorClassOption } from './options.js';

/**
 * RFC 4578 / IANA "Processor Architecture Types". Only the ones rackboot boots
 * are mapped; anything else with PXEClient is treated by its vendor class.
 */
const ARCH_KIND: Record<number, ClientKind> = {
  0: 'bios-pxe', // x86 BIOS
  6: 'uefi-ia32-pxe', // EFI IA32
  7: 'uefi-x64-pxe', // EFI x86-64 (RFC 4578 erratum: 7 is BC, used by every x64 firmware)
  9: 'uefi-x64-pxe', // EFI x86-64 (what the RFC text said; some firmware sends it)
  11: 'uefi-arm64-pxe', // EFI ARM64
  16: 'uefi-x64-http', // x64 UEFI HTTP Boot
  19: 'uefi-arm64-http', // arm64 UEFI HTTP Boot
};

/**
 * MAC prefixes (OUIs) of Raspberry Pi boards. The Pi's boot ROM / EEPROM
 * bootloader sends the same option 60 as a BIOS PXE ROM
 * ("PXEClient:Arch:00000:UNDI:002001") and no option 93 a BIOS ROM would not,
 * so only its MAC tells the two apart.
 */
const RASPBERRY_PI_OUIS = new Set([
  'b8:27:eb', // Raspberry Pi Foundation: Pi 1, 2, 3
  'dc:a6:32', // Raspberry Pi Trading: Pi 4
  'e4:5f:01', // Raspberry Pi Trading: Pi 4, CM4
  '28:cd:c1', // Raspberry Pi Trading
  'd8:3a:dd', // Raspberry Pi Trading: Pi 4, Pi 5
  '2c:cf:67', // Raspberry Pi Trading: Pi 5
]);

export function isRaspberryPiMac(mac: string): boolean {
  return RASPBERRY_PI_OUIS.has(mac.slice(0, 8).toLowerCase());
}

export function classifyClient(msg: DhcpMessage): ClientClass {
  const vendorClass = vendorClassOption(msg.options);
  const arch = firstArch(msg);
  const userClass = msg.options.get(Opt.UserClass);
  // iPXE sends option 175 and user class "iPXE" (as a bare string, not the RFC 3004 list).
  const isIpxe = msg.options.has(Opt.Ipxe) || (userClass !== undefined && userClass.includes(Buffer.from('iPXE')));
  if (isIpxe) return { kind: 'ipxe', arch, vendorClass, isIpxe, ipxeArch: arch };

  const pxe = vendorClass?.startsWith('PXEClient') ?? false;
  const http = vendorClass?.startsWith('HTTPClient') ?? false;
  if (pxe || http) {
    const archFromVendor = arch ?? parseVendorArch(vendorClass!);
    if (pxe && archFromVendor === 0 && msg.hlen === 6 && isRaspberryPiMac(macOf(msg))) return { kind: 'rpi-boot', arch: 0, vendorClass, isIpxe };
    const kind = archFromVendor !== undefined ? ARCH_KIND[archFromVendor] : undefined;
    if (kind) return { kind, arch: archFromVendor, vendorClass, isIpxe };
    // PXEClient without a known arch: the oldest ROMs are BIOS ones.
    if (pxe) return { kind: 'bios-pxe', arch: archFromVendor, vendorClass, isIpxe };
    return { kind: 'uefi-x64-http', arch: archFromVendor, vendorClass, isIpxe };
  }
  return { kind: 'plain', arch, vendorClass, isIpxe };
}

export function isNetworkBootClient(kind: ClientKind): boolean {
  return kind !== 'plain';
}

export function isHttpBootClient(kind: ClientKind): boolean {
  return kind === 'uefi-x64-http' || kind === 'uefi-arm64-http';
}

function macOf(msg: DhcpMessage): string {
  return [...msg.chaddr.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function firstArch(msg: DhcpMessage): number | undefined {
  const raw = msg.options.get(Opt.ClientArch);
  return raw && raw.length >= 2 ? raw.readUInt16BE(0) : undefined;
}

/** "PXEClient:Arch:00007:UNDI:003016" -> 7 */
function parseVendorArch(vendorClass: string): number | undefined {
  const match = /:Arch:(\d{5})/.exec(vendorClass);
  return match ? Number(match[1]) : undefined;
}
