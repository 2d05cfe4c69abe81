// The gpio driver: one relay per channel on a Raspberry Pi GPIO pin, driven
// through onoff (sysfs GPIO). Two wirings:
//   hold   the relay is in the node's supply: energised = on. State reads back
//          from the pin.
//   pulse  the relay is across the node's power button: on and off are a press
//          of pressMs, cycle is a long press (forces an ATX board off) and then a
//          press. A button does not say whether the node is on, so state is
//          unknown unless a sense pin (e.g. wired to the power LED) is given.
// Levels are written logically (1 = energised/pressed) with the kernel's
// active_low doing the inversion for active-low relay boards.
//
// Safe state. On start, `off` drives every relay to off (hold) or released
// (pulse); `keep` takes over a hold relay at the level it has now, glitch-free
// (direction "high"/"low" sets the output and its level in one step). On exit,
// `off` switches hold relays off; `keep` leaves them. Pins stay exported: on
// the BCM controllers unexport turns a pin back into an input, and a floating
// relay input is exactly the glitch a safe state is meant to avoid.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Gpio as OnoffGpio, BinaryValue } from 'onoff';
import type { PowerState } from '../model/power.js';
import type { GpioChannelConfig, SafeState } from '../config/schema.js';
import { asPowerError, PowerError, realSleep, type PowerDriver, type Sleep } from './driver.js';
import { bcmToSysfs, exportPin, GPIO_SYSFS_ROOT } from './gpio-sysfs.js';

export interface GpioDriverOptions {
  channels: readonly GpioChannelConfig[];
  safeState: { start: SafeState; exit: SafeState };
  sleep?: Sleep;
  /** How long to wait for an exported pin's files to become writable (udev sets their group after the export). */
  exportTimeoutMs?: number;
}

interface OpenChannel {
  config: GpioChannelConfig;
  relay?: OnoffGpio;
  sense?: OnoffGpio;
  /** Set when the channel could not be opened; every action on it fails with this. */
  failure?: PowerError;
  /** Sysfs numbers, for logs. */
  relaySysfs?: number;
  senseSysfs?: number;
}

type GpioConstructor = typeof OnoffGpio;

export class GpioDriver implements PowerDriver {
  readonly kind = 'gpio';
  private closed = false;
  private readonly exitHook = (): void => this.applyExitStateSync();

  private constructor(
    private readonly channels: Map<string, OpenChannel>,
    private readonly safeState: GpioDriverOptions['safeState'],
    private readonly sleep: Sleep,
  ) {
    // A crash or a plain process.exit() still gets the exit safe state (writes are synchronous there).
    process.on('exit', this.exitHook);
  }

  /**
   * Maps and exports every channel's pins and applies the start safe state.
   * A channel that cannot be opened does not stop the others: it is listed by
   * failures() and each action on it fails with the same error.
   */
  static async open(options: GpioDriverOptions): Promise<GpioDriver> {
    const sleep = options.sleep ?? realSleep;
    // Loaded here rather than at the top so a rackboot without GPIO channels never loads onoff's epoll addon.
    const { Gpio } = (await import('onoff')) as { Gpio: GpioConstructor };
    const channels = new Map<string, OpenChannel>();
    for (const config of options.channels) {
      const channel: OpenChannel = { config };
      channels.set(config.name, channel);
      try {
        await openChannel(Gpio, channel, options.safeState.start, sleep, options.exportTimeoutMs ?? 2000);
      } catch (error) {
        channel.failure = asPowerError(config.name, error);
      }
    }
    return new GpioDriver(channels, options.safeState, sleep);
  }

  /** Channels that could not be opened, with why. */
  failures(): PowerError[] {
    return [...this.channels.values()].flatMap((c) => (c.failure ? [c.failure] : []));
  }

  /** The kernel GPIO numbers a channel uses (after BCM mapping), for logs and the status page. */
  sysfsPins(channel: string): { relay?: number; sense?: number } {
    const c = this.channels.get(channel);
    return { ...(c?.relaySysfs !== undefined && { relay: c.relaySysfs }), ...(c?.senseSysfs !== undefined && { sense: c.senseSysfs }) };
  }

  canReadState(channel: string): boolean {
    const config = this.channels.get(channel)?.config;
    return config !== undefined && (config.mode === 'hold' || config.sensePin !== undefined);
  }

  async on(name: string): Promise<void> {
    const channel = this.usable(name);
    if (channel.config.mode === 'hold') return this.write(channel, 1);
    // A press toggles an ATX board: with a sense pin, pressing a node that is already on would switch it off.
    if (channel.sense && (await this.readSense(channel)) === 'on') return;
    await this.press(channel, channel.config.pressMs);
  }

  async off(name: string): Promise<void> {
    const channel = this.usable(name);
    if (channel.config.mode === 'hold') return this.write(channel, 0);
    if (channel.sense && (await this.readSense(channel)) === 'off') return;
    await this.press(channel, channel.config.pressMs);
  }

  async cycle(name: string): Promise<void> {
    const channel = this.usable(name);
    if (channel.config.mode === 'hold') {
      await this.write(channel, 0);
      await this.sleep(channel.config.offMs);
      await this.write(channel, 1);
      return;
    }
    // A long press forces the board off whatever its OS is doing; a short press then starts it.
    await this.press(channel, channel.config.longPressMs);
    await this.sleep(channel.config.offMs);
    await this.press(channel, channel.config.pressMs);
  }

  async state(name: string): Promise<PowerState> {
    const channel = this.usable(name);
    if (channel.config.mode === 'hold') {
      try {
        return (await channel.relay.read()) === 1 ? 'on' : 'off';
      } catch (error) {
        throw ioError(channel, 'reading', error);
      }
    }
    return channel.sense ? this.readSense(channel) : 'unknown';
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so a failed sysfs write in applyExitStateSync arrives as a rejection
  async close(): Promise<void> {
    if (this.closed) return;
    this.applyExitStateSync();
    this.closed = true;
    process.off('exit', this.exitHook);
  }

  private applyExitStateSync(): void {
    if (this.closed) return;
    for (const channel of this.channels.values()) {
      if (!channel.relay) continue;
      // A pulse relay is always released on exit: a button held down forever would force the node off.
      if (this.safeState.exit === 'off' || channel.config.mode === 'pulse') {
        try {
          channel.relay.writeSync(0);
        } catch {
          // Exiting: nothing left to report to, and the other channels still deserve their safe state.
        }
      }
    }
  }

  private usable(name: string): OpenChannel & { relay: OnoffGpio } {
    const channel = this.channels.get(name);
    if (!channel) throw new PowerError(name, 'unknown_channel', `no gpio channel named ${name}`);
    if (this.closed) throw new PowerError(name, 'closed', 'the gpio driver is closed (rackboot is stopping)');
    if (channel.failure) throw channel.failure;
    return channel as OpenChannel & { relay: OnoffGpio };
  }

  private async write(channel: OpenChannel, value: BinaryValue): Promise<void> {
    try {
      await channel.relay!.write(value);
    } catch (error) {
      throw ioError(channel, 'writing', error);
    }
  }

  private async press(channel: OpenChannel, ms: number): Promise<void> {
    await this.write(channel, 1);
    try {
      await this.sleep(ms);
    } finally {
      await this.write(channel, 0);
    }
  }

  private async readSense(channel: OpenChannel): Promise<PowerState> {
    try {
      return (await channel.sense!.read()) === 1 ? 'on' : 'off';
    } catch (error) {
      throw ioError(channel, 'reading the sense pin of', error);
    }
  }
}

function ioError(channel: OpenChannel, doing: string, error: unknown): PowerError {
  return new PowerError(channel.config.name, 'io', `${doing} GPIO${channel.config.pin} failed: ${(error as Error).message}`);
}

async function openChannel(Gpio: GpioConstructor, channel: OpenChannel, startState: SafeState, sleep: Sleep, exportTimeoutMs: number): Promise<void> {
  const { config } = channel;
  const relay = await bcmToSysfs(config.name, config.pin);
  await exportPin(config.name, config.pin, relay.sysfs, { sleep, timeoutMs: exportTimeoutMs });
  channel.relaySysfs = relay.sysfs;
  const level = startState === 'keep' && config.mode === 'hold' ? await currentRawLevel(relay.sysfs) : undefined;
  // Raw level for logical off: high on an active-low board.
  const rawOff = config.activeLow ? 1 : 0;
  const raw = level ?? rawOff;
  // "high"/"low" make the pin an output at that raw level in one write (the kernel ignores active_low here), so the relay never glitches.
  channel.relay = construct(Gpio, config, relay.sysfs, raw === 1 ? 'high' : 'low', config.activeLow);

  if (config.sensePin !== undefined) {
    const sense = await bcmToSysfs(config.name, config.sensePin);
    await exportPin(config.name, config.sensePin, sense.sysfs, { sleep, timeoutMs: exportTimeoutMs });
    channel.senseSysfs = sense.sysfs;
    channel.sense = construct(Gpio, config, sense.sysfs, 'in', config.senseActiveLow);
  }
}

function construct(Gpio: GpioConstructor, config: GpioChannelConfig, sysfs: number, direction: 'high' | 'low' | 'in', activeLow: boolean): OnoffGpio {
  try {
    return new Gpio(sysfs, direction, 'none', { activeLow, reconfigureDirection: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new PowerError(
        config.name,
        'permission_denied',
        `permission denied on /sys/class/gpio/gpio${sysfs}: add the user to the group gpio (usermod -aG gpio USER) or run rackboot as root`,
      );
    }
    throw new PowerError(config.name, 'io', `setting up GPIO (sysfs ${sysfs}) failed: ${(error as Error).message}`);
  }
}

/**
 * The raw level the line has now: the level an output drives, or for a fresh
 * export (an input) the level the relay board's pull gives it, which is what
 * the relay currently sees. Undefined when unreadable.
 */
async function currentRawLevel(sysfs: number): Promise<0 | 1 | undefined> {
  const dir = join(GPIO_SYSFS_ROOT, `gpio${sysfs}`);
  try {
    const [value, activeLow] = await Promise.all(['value', 'active_low'].map((f) => fs.readFile(join(dir, f), 'utf8')));
    return ((Number(value.trim()) === 1 ? 1 : 0) ^ (Number(activeLow.trim()) === 1 ? 1 : 0)) as 0 | 1;
  } catch {
    return undefined;
  }
}
