// The event log's entries: every stage change, diagnosis, inventory edit and action.

import type { Mac } from '../net/addr.js';
import type { BootStage, Diagnosis } from './boot.js';

/** Every stage change, diagnosis, inventory edit and action is an event. */
export interface RackbootEvent {
  /** Increasing, unique per store; SSE uses it as the event id (Last-Event-ID resumes). */
  id: number;
  at: number;
  type: EventType;
  /** The node the event is about, when it is about one. */
  mac?: Mac;
  /** The node's name at the time (for reading a log without a lookup). */
  node?: string;
  stage?: BootStage;
  diagnosis?: Diagnosis;
  /** One line for people. */
  message: string;
  /** Who asked, for actions and edits: "admin" (web/API session), "token:<name>", "console", "sequencer", "recovery". */
  by?: string;
  /** Structured extras (evidence, old/new values...). JSON-safe. */
  detail?: Record<string, unknown>;
}

/** Every event type, in the order the UI lists them; the API, the store and the UI's live stream all use this one list. */
export const EVENT_TYPES = [
  'stage', //           a node moved to `stage`
  'diagnosis', //       a node's boot got a diagnosis (failure or booted)
  'node.created',
  'node.updated',
  'node.deleted',
  'node.discovered',
  'power', //           a power action (on/off/cycle) and its result
  'recovery', //        automatic power-cycle of a stalled node
  'auth', //            setup done, login failures, password changes, tokens
  'config', //          configuration changed
  'dhcp', //            the DHCP segment: another DHCP server answering there (rogue, or the site's in proxy mode)
  'system', //          start, stop, interface up/down
] as const;

export type EventType = (typeof EVENT_TYPES)[number];
