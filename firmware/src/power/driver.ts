// The power driver interface: what rackboot needs from anything that can switch
// a node's power (a relay on a GPIO pin, a command such as ipmitool, a QEMU
// process in the lab). Drivers report failures as PowerError values carrying
// the channel and words an operator can act on.

import type { PowerState } from '../model/power.js';

export type PowerAction = 'on' | 'off' | 'cycle' | 'state';

export interface PowerDriver {
  /** Short name for logs and events: 'gpio', 'command', 'qemu'. */
  readonly kind: string;
  /** True when state() can tell on from off for `channel` (a pulse-wired relay without a sense pin cannot). */
  canReadState(channel: string): boolean;
  on(channel: string): Promise<void>;
  off(channel: string): Promise<void>;
  /** Off, then on (each driver knows how long "off" has to last for its hardware). */
  cycle(channel: string): Promise<void>;
  /** 'unknown' when the driver cannot read the state back. */
  state(channel: string): Promise<PowerState>;
  /** Applies the driver's exit behaviour (safe state, stop or leave processes) and releases resources. */
  close(): Promise<void>;
}

export type PowerErrorCode =
  | 'unknown_channel'
  | 'sysfs_missing'
  | 'no_gpio_chip'
  | 'pin_out_of_range'
  | 'pin_busy'
  | 'permission_denied'
  | 'io'
  | 'timeout'
  | 'command_failed'
  | 'bad_output'
  | 'spawn_failed'
  | 'closed';

/** A failed power action, with the channel and a sentence that says what to check. */
export class PowerError extends Error {
  constructor(
    readonly channel: string,
    readonly code: PowerErrorCode,
    message: string,
  ) {
    super(`power channel ${channel}: ${message}`);
    this.name = 'PowerError';
  }
}

export function isPowerError(error: unknown): error is PowerError {
  return error instanceof PowerError;
}

/** Turns any thrown value into a PowerError for `channel`, keeping PowerErrors as they are. */
export function asPowerError(channel: string, error: unknown, code: PowerErrorCode = 'io'): PowerError {
  if (error instanceof PowerError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PowerError(channel, code, message);
}

/** Waits; injected into drivers so tests control (or observe) every pause. */
export type Sleep = (ms: number) => Promise<void>;
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
