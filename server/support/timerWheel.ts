/** What a timer wheel schedules: an object that knows its own slot (0: none). */
export interface WheelMember {
  wheelSlot: number;
  onDeadline(): void;
}

/**
 * The deadlines of many objects on one Node timer: each due time is rounded up to a slot of
 * `slotMs`, each slot is one Set, and one timer waits for the earliest slot. A process watching
 * ten thousand rows holds ten thousand Set entries here instead of ten thousand Timeouts (about
 * 190 bytes each with their arguments). Deadlines fire up to `slotMs` late, never early. The
 * timer does not keep the process alive.
 */
export class TimerWheel<T extends WheelMember> {
  private readonly slots = new Map<number, Set<T>>();
  private timer: NodeJS.Timeout | undefined;
  private armedSlot = Infinity;

  constructor(private readonly slotMs: number) {}

  /** Calls `member.onDeadline()` in `ms` (replacing its previous deadline). */
  schedule(member: T, ms: number): void {
    const slot = Math.ceil((Date.now() + Math.max(0, ms)) / this.slotMs);
    if (member.wheelSlot === slot) return;
    this.cancel(member);
    let members = this.slots.get(slot);
    if (!members) this.slots.set(slot, (members = new Set()));
    members.add(member);
    member.wheelSlot = slot;
    if (slot < this.armedSlot) this.arm(slot);
  }

  cancel(member: T): void {
    const slot = member.wheelSlot;
    if (slot === 0) return;
    member.wheelSlot = 0;
    const members = this.slots.get(slot);
    if (!members) return;
    members.delete(member);
    if (members.size === 0) this.slots.delete(slot);
  }

  private arm(slot: number): void {
    clearTimeout(this.timer);
    this.armedSlot = slot;
    this.timer = setTimeout(fireWheel, Math.max(0, slot * this.slotMs - Date.now()), this).unref();
  }

  fire(): void {
    this.timer = undefined;
    this.armedSlot = Infinity;
    const now = Date.now();
    const due: Array<Set<T>> = [];
    for (const [slot, members] of this.slots) {
      if (slot * this.slotMs > now) continue;
      this.slots.delete(slot);
      due.push(members);
    }
    // Members rescheduled by their own deadline land in later slots: collected first, so none fires twice.
    for (const members of due) {
      for (const member of members) {
        member.wheelSlot = 0;
        try {
          member.onDeadline();
        } catch {
          // One member's failure must not cost the others their deadline.
        }
      }
    }
    let next = Infinity;
    for (const slot of this.slots.keys()) if (slot < next) next = slot;
    if (next < this.armedSlot) this.arm(next);
  }
}

function fireWheel(wheel: TimerWheel<any>): void {
  wheel.fire();
}
