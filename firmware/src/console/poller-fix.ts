// A fix for @serialport/bindings-cpp 13's Poller on Linux and macOS. Its native
// poll() restarts the fd's uv_poll with only the event just asked for
// (poller.cpp: `uv_poll_start(handle, events, ...)` with the new flag, not the
// union it keeps in `this->events`). So when a write is waiting for "writable"
// (the far end reads slowly and the tty buffer is full) and the read loop then
// asks for "readable", the write's wait is dropped: output stops until input
// arrives, and for good if the far end's port is stuck the same way. Seen here as
// a console that went mute after a burst of noise. The fix asks the native poller
// for every event that still has someone waiting, each time.

import type { SerialPortStream } from '@serialport/stream';

const EVENT_FLAGS = { readable: 0b001, writable: 0b010, disconnect: 0b100 } as const;

interface PollerLike {
  poll(flags: number): void;
  listenerCount(event: string): number;
}

/** Patches the open port's poller; a port without one (another platform, a mock) is left alone. */
export function pollForEveryWaiter(stream: SerialPortStream): void {
  const poller = (stream.port as { poller?: PollerLike } | undefined)?.poller;
  if (!poller || typeof poller.poll !== 'function' || typeof poller.listenerCount !== 'function') return;
  const nativePoll = poller.poll.bind(poller);
  poller.poll = (flags: number): void => {
    let wanted = flags;
    for (const [event, flag] of Object.entries(EVENT_FLAGS)) if (poller.listenerCount(event) > 0) wanted |= flag;
    nativePoll(wanted);
  };
}
