// Awaiting the next value that matches, for test actors that collect what arrives (log lines, replies, output lines).

/** Waiters for values still to come: `feed` hands each new value to them, `next` waits for one that matches. */
export class NextMatch<T> {
  private readonly waiters = new Set<(value: T) => boolean>();

  /** Hands a new value to every waiter; those it matches are done. */
  feed(value: T): void {
    for (const w of [...this.waiters]) if (w(value)) this.waiters.delete(w);
  }

  /** The next value fed that matches; fails after timeoutMs (a safety net: what is awaited comes in milliseconds). */
  next(match: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = (value: T): boolean => {
        if (!match(value)) return false;
        clearTimeout(t);
        resolve(value);
        return true;
      };
      this.waiters.add(check);
    });
  }
}
