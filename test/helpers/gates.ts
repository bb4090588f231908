/** Promises a test opens by name: a durable function awaits `wait(key)` until the test calls `open(key)`. */
export class Gates {
  private readonly gates = new Map<string, { promise: Promise<unknown>; open: (value: unknown) => void }>();

  private gate(key: string) {
    let gate = this.gates.get(key);
    if (!gate) {
      let open!: (value: unknown) => void;
      const promise = new Promise<unknown>((resolve) => (open = resolve));
      this.gates.set(key, (gate = { promise, open }));
    }
    return gate;
  }

  wait(key: string): Promise<unknown> {
    return this.gate(key).promise;
  }

  open(key: string, value: unknown = key): void {
    this.gate(key).open(value);
  }

  /** Opens every gate (cleanup, so no function stays parked). */
  openAll(): void {
    for (const gate of this.gates.values()) gate.open(null);
  }
}
