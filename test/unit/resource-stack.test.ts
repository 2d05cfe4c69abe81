// The app's one unwind path: what was opened closes last first, a step that
// fails is logged and does not keep the later ones from running, and the
// result says whether all were clean.
import { describe, expect, it } from 'vitest';
import { ResourceStack } from '../../firmware/src/app/resource-stack.js';

function recordingLog() {
  const errors: { msg: string; fields?: Record<string, unknown> }[] = [];
  return { errors, error: (msg: string, fields?: Record<string, unknown>) => errors.push({ msg, fields }) };
}

describe('ResourceStack', () => {
  it('closes in the reverse of the order pushed, waiting for each step', async () => {
    const stack = new ResourceStack();
    const closed: string[] = [];
    stack.push('lock', () => void closed.push('lock'));
    stack.push('store', async () => {
      await new Promise((r) => setTimeout(r, 10));
      closed.push('store');
    });
    stack.push('server', () => {
      closed.push('server');
      return Promise.resolve();
    });
    const log = recordingLog();
    expect(await stack.closeAll(log)).toBe(true);
    expect(closed).toEqual(['server', 'store', 'lock']);
    expect(log.errors).toEqual([]);
  });

  it('runs every step when some fail, logs each failure by name and reports it', async () => {
    const stack = new ResourceStack();
    const closed: string[] = [];
    stack.push('lock', () => void closed.push('lock'));
    stack.push('store', () => Promise.reject(new Error('disk gone')));
    stack.push('link', () => {
      throw new Error('already closed');
    });
    stack.push('server', () => void closed.push('server'));
    const log = recordingLog();
    expect(await stack.closeAll(log)).toBe(false);
    expect(closed).toEqual(['server', 'lock']);
    expect(log.errors.map((e) => e.msg)).toEqual(['stopping link failed', 'stopping store failed']);
    expect((log.errors[1].fields?.error as Error).message).toBe('disk gone');
  });

  it('is empty afterwards: a second closeAll closes nothing again', async () => {
    const stack = new ResourceStack();
    let closes = 0;
    stack.push('server', () => void closes++);
    const log = recordingLog();
    expect(await stack.closeAll(log)).toBe(true);
    expect(await stack.closeAll(log)).toBe(true);
    expect(closes).toBe(1);
  });

  it('reports clean for an empty stack', async () => {
    expect(await new ResourceStack().closeAll(recordingLog())).toBe(true);
  });
});
