/**
 * Thrown by every pure decoder when a packet cannot be read. Servers catch it,
 * count the packet as malformed under `reason`, and carry on.
 */
export class DecodeError extends Error {
  constructor(
    readonly layer: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${layer}: ${reason} at offset ${offset}`);
    this.name = 'DecodeError';
  }
}
