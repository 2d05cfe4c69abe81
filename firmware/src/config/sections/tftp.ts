// The `tftp:` section: the port, and how many transfers run at once and how fast.

import { DEFAULTS } from '../defaults.js';
import type { TftpConfig } from '../schema.js';
import { countSpec, portSpec, rateMbitSpec } from '../value-specs.js';
import type { DocumentReader, MapView } from '../yaml-reader.js';

export const TFTP_KEYS = ['port', 'max_transfers', 'max_transfers_per_client', 'max_rate_mbit', 'transfer_rate_mbit'] as const;

/** Undefined when a value was wrong (reported). */
export function readTftpSection(r: DocumentReader, top: MapView): TftpConfig | undefined {
  const tftp = r.section(top, 'tftp', TFTP_KEYS);
  const port = tftp.getOr('port', portSpec, DEFAULTS.tftpPort);
  const maxTransfers = tftp.getOr('max_transfers', countSpec(1, 4096, 'transfers'), DEFAULTS.tftpMaxTransfers);
  const maxTransfersPerClient = tftp.get('max_transfers_per_client', countSpec(1, 8192, 'transfers'));
  const maxRateMbit = tftp.getOr('max_rate_mbit', rateMbitSpec, DEFAULTS.tftpMaxRateMbit);
  const transferRateMbit = tftp.getOr('transfer_rate_mbit', rateMbitSpec, DEFAULTS.tftpTransferRateMbit);
  if (port === undefined || maxTransfers === undefined || maxRateMbit === undefined || transferRateMbit === undefined) return undefined;
  if (tftp.node('max_transfers_per_client') !== undefined && maxTransfersPerClient === undefined) return undefined;
  return { port, maxTransfers, ...(maxTransfersPerClient !== undefined && { maxTransfersPerClient }), maxRateMbit, transferRateMbit };
}
