import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkSignal } from '../server/engine/workSignal.js';

test('a freed slot wakes the claim loop only while work may still be waiting', async () => {
  let wakes = 0;
  const work = new WorkSignal(() => wakes++);
  work.slotFreed();
  assert.equal(wakes, 1, 'before any claim, work may be waiting');
  await work.claim(10, async () => [1, 2]);
  work.slotFreed();
  assert.equal(wakes, 1, 'a claim that came back short emptied the queues');
  work.announced();
  assert.equal(wakes, 2, 'an announcement always wakes it');
  work.slotFreed();
  assert.equal(wakes, 3, 'and work may be waiting again');
  await work.claim(2, async () => [1, 2]);
  work.slotFreed();
  assert.equal(wakes, 4, 'a claim that filled its limit may have left work behind');
});

test('an announcement during a claim keeps work waiting; a slot freed during it wakes nothing', async () => {
  let wakes = 0;
  const work = new WorkSignal(() => wakes++);
  let finish!: (rows: number[]) => void;
  const claiming = work.claim(10, () => new Promise<number[]>((resolve) => (finish = resolve)));
  work.slotFreed();
  assert.equal(wakes, 0, 'the claim in flight is followed by another if it fills its limit');
  work.announced();
  finish([]);
  await claiming;
  work.slotFreed();
  assert.equal(wakes, 2, 'what was announced meanwhile may not be in the claim');
});
