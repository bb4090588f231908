import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from './helpers/conditions.js';
import { TimerWheel, type WheelMember } from '../server/support/timerWheel.js';

/** A member that records when its deadline fired, relative to `start`. */
function member(start: number, fired: Array<[string, number]>, name: string, onDeadline?: () => void): WheelMember {
  return {
    wheelSlot: 0,
    onDeadline() {
      fired.push([name, Date.now() - start]);
      onDeadline?.();
    },
  };
}

describe('TimerWheel', () => {
  it('fires each deadline once, never early, in order of their slots; a later schedule replaces the earlier one', async () => {
    const wheel = new TimerWheel(5);
    const start = Date.now();
    const fired: Array<[string, number]> = [];
    const late = member(start, fired, 'late');
    const early = member(start, fired, 'early');
    const moved = member(start, fired, 'moved');
    wheel.schedule(late, 60);
    wheel.schedule(early, 20);
    wheel.schedule(moved, 10);
    wheel.schedule(moved, 40); // replaces its 10 ms deadline
    await waitFor(() => fired.length === 3, { message: 'every deadline' });
    assert.deepEqual(fired.map(([name]) => name), ['early', 'moved', 'late']);
    const at = new Map(fired);
    assert.ok(at.get('early')! >= 20 && at.get('moved')! >= 40 && at.get('late')! >= 60, JSON.stringify(fired));
  });

  it('lets a member reschedule itself from its own deadline, and forgets a cancelled one', async () => {
    const wheel = new TimerWheel(5);
    const start = Date.now();
    const fired: Array<[string, number]> = [];
    let rounds = 0;
    const again: WheelMember = member(start, fired, 'again', () => {
      if (++rounds < 3) wheel.schedule(again, 0);
    });
    const cancelled = member(start, fired, 'cancelled');
    wheel.schedule(again, 5);
    wheel.schedule(cancelled, 15);
    wheel.cancel(cancelled);
    await waitFor(() => rounds === 3, { message: 'three rounds' });
    await sleep(Math.max(0, start + 30 - Date.now())); // well past the cancelled deadline
    assert.deepEqual(fired.map(([name]) => name), ['again', 'again', 'again']);
    assert.equal(cancelled.wheelSlot, 0);
  });

  it('keeps firing the others when one member throws', async () => {
    const wheel = new TimerWheel(5);
    const fired: string[] = [];
    wheel.schedule({ wheelSlot: 0, onDeadline: () => { throw new Error('a faulty member'); } }, 5);
    wheel.schedule({ wheelSlot: 0, onDeadline: () => void fired.push('other') }, 5);
    await waitFor(() => fired.length === 1, { message: 'the other member' });
    assert.deepEqual(fired, ['other']);
  });
});
