import { describe, expect, it, vi } from 'vitest';
import { systemdNotifier, watchdogInterval } from '../../firmware/src/util/systemd-notify.js';
import { silentLogger } from '../../firmware/src/util/log.js';

describe('systemd notifier', () => {
  it('pings at half of WATCHDOG_USEC, only for its own pid', () => {
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 7)).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 7)).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '8' }, 7)).toBeUndefined();
    expect(watchdogInterval({}, 7)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: 'soon' }, 7)).toBeUndefined();
  });

  it('does nothing outside systemd', () => {
    const send = vi.fn();
    const notifier = systemdNotifier({ env: {}, send, log: silentLogger });
    notifier.ready('up');
    notifier.stopping();
    expect(send).not.toHaveBeenCalled();
  });

  it('keeps serving when the socket is gone, and warns once', () => {
    vi.useFakeTimers();
    try {
      const warn = vi.fn();
      const send = vi.fn(() => {
        throw new Error('ECONNREFUSED');
      });
      const notifier = systemdNotifier({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '1000000' }, pid: 1, send, log: { ...silentLogger, warn } });
      notifier.ready('up');
      vi.advanceTimersByTime(2_000);
      expect(send.mock.calls.length).toBe(5);
      expect(warn).toHaveBeenCalledTimes(1);
      notifier.close();
      vi.advanceTimersByTime(2_000);
      expect(send.mock.calls.length).toBe(5);
    } finally {
      vi.useRealTimers();
    }
  });
});
