// A one-shot next-boot profile (re-image, rescue) lasts until that boot has
// really begun: the node fetched its profile's last boot file completely, or
// its OS called back. Clearing it as soon as the script was served meant a
// kernel download cut half-way sent iPXE's retry into the normal profile; never
// clearing it would re-image the node at every boot after. Profiles with no
// files of their own (local disk, chain) end at the script, so theirs is cleared
// there.
//
// Only the holder of the boot's token (boot-policy/boot-token.ts) can end it:
// a script served without a token (a `?mac=` that is not the requester's own)
// starts nothing, a download counts only when its URL carried the current
// token, and the booted callback is checked for the token before it gets here.

import type { BootObservation } from '../model/boot.js';
import type { Mac } from '../net/addr.js';
import type { Logger } from '../util/log.js';

export interface OneShotStore {
  /** Clears the node's one-shot profile if it is still `profile` (the operator may have set another since). */
  clearNextBoot(mac: Mac, profile: string): Promise<void>;
}

export interface OneShotBootsOptions {
  store: OneShotStore;
  /** True when the profile downloads a kernel (and initrds) after its script. */
  hasBootFiles(profile: string): boolean;
  log: Logger;
  /** Nodes whose one-shot boot is under way, at most; the oldest is cleared beyond it. */
  maxInFlight?: number;
}

export class OneShotBoots {
  /** mac -> the one-shot profile whose script was served and whose boot has not begun yet. */
  private readonly inFlight = new Map<Mac, string>();

  constructor(private readonly opts: OneShotBootsOptions) {}

  /**
   * A script was served from `profile`; `oneShot` says it was the node's next-boot
   * profile, `token` the boot token it carries (none: it was not for the node itself).
   */
  served(mac: Mac, profile: string, oneShot: boolean, token: string | undefined): void {
    if (!oneShot || token === undefined) return;
    if (!this.opts.hasBootFiles(profile)) return this.clear(mac, profile);
    this.inFlight.delete(mac);
    this.inFlight.set(mac, profile);
    const limit = this.opts.maxInFlight ?? 4096;
    if (this.inFlight.size > limit) {
      const [oldest, oldProfile] = this.inFlight.entries().next().value as [Mac, string];
      this.clear(oldest, oldProfile);
    }
  }

  /** Downloads count only with `withToken`; an `os_booted` must come from a checked callback or the tracker. */
  observe(obs: BootObservation): void {
    const profile = this.inFlight.get(obs.mac);
    if (profile === undefined) return;
    const lastFileFetched = obs.kind === 'http_download' && obs.final && obs.complete && obs.status === 200 && obs.withToken === true;
    if (lastFileFetched || obs.kind === 'os_booted') this.clear(obs.mac, profile);
  }

  /** The one-shot profiles still waiting for their boot to begin (for status and tests). */
  pending(): ReadonlyMap<Mac, string> {
    return this.inFlight;
  }

  private clear(mac: Mac, profile: string): void {
    this.inFlight.delete(mac);
    this.opts.store
      .clearNextBoot(mac, profile)
      .catch((error: unknown) => this.opts.log.error('could not clear the next-boot profile', { mac, profile, error: error as Error }));
  }
}
