/** Starting a worker on one of our modules: a missing entry fails at once, not later as an event. */
import { describe, expect, it } from 'vitest';
import { startModuleWorker } from '../src-main/lib/module-worker';
import { startLedgerWorker } from '../src-main/engine/ledger-worker';
import { replayState } from '../src-main/engine/ledger-replay';

describe('startModuleWorker', () => {
  it('throws, naming the file, when the worker module is missing', () => {
    expect(() => startModuleWorker(new URL('./no-such-worker.js', import.meta.url), {})).toThrow(/no-such-worker\.js is missing/);
  });

  it('starts a real module worker that reports its failure back', () => {
    // The ledger worker on a file that does not exist: it starts, fails to open the file, and says so.
    const worker = startLedgerWorker('/nonexistent/shop.db', 1, 1, replayState(2, 2, true));
    expect(worker).not.toBeNull();
    expect(worker!.wait()).toBeNull();
  });
});
