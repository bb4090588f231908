/**
 * A set that keeps its first member in a field and takes a Set only for a second: most watched
 * rows and channels have exactly one consumer, and a process may hold ten thousand of them, where
 * an empty-ish Set and its hash table cost about 170 bytes each.
 */
export class SmallSet<T extends object> {
  private first: T | undefined;
  private others: Set<T> | undefined;

  get size(): number {
    return (this.first === undefined ? 0 : 1) + (this.others?.size ?? 0);
  }

  add(member: T): void {
    if (this.first === member || this.others?.has(member)) return;
    if (this.first === undefined) this.first = member;
    else (this.others ??= new Set()).add(member);
  }

  /** Whether `member` was there. */
  delete(member: T): boolean {
    if (this.first === member) {
      this.first = undefined;
      return true;
    }
    return this.others?.delete(member) ?? false;
  }

  /** The members, as a copy: callbacks run over it may add or delete members. */
  values(): T[] {
    const all = this.first === undefined ? [] : [this.first];
    if (this.others) for (const member of this.others) all.push(member);
    return all;
  }
}
