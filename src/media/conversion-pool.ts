// Bounded hold-music conversions: at most `size` run at once (each one worker thread holding the decoded audio, README
// "Hold music"), at most `queueLimit` wait for a turn, and any further upload is turned away at once (the API's 503).
// What a conversion does is transcode.ts's; who is turned away and how is library.ts's and the routes'.

/**
 * A counting semaphore with a bounded FIFO queue. Own code rather than p-limit: the admission decision needs the exact
 * numbers at the moment of the call, and p-limit moves a new task from pending to active only a microtask later.
 */
export class ConversionPool {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    /** Conversions running at once (media.conversions). */
    readonly size: number,
    /** Conversions waiting beyond the running ones (media.conversionQueue). */
    readonly queueLimit: number,
    /** Called after every change, with the counts (the metric). */
    private readonly onChange?: (running: number, queued: number) => void,
  ) {}

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `convert` now or after the ones before it; undefined (nothing runs) when every slot and queue place is taken. */
  run<T>(convert: () => Promise<T>): Promise<T> | undefined {
    if (this.active >= this.size && this.waiting.length >= this.queueLimit) return undefined;
    return this.take(convert);
  }

  private async take<T>(convert: () => Promise<T>): Promise<T> {
    if (this.active < this.size) this.active++;
    else {
      // release() hands its slot straight to the head of the queue (active stays counted).
      const turn = new Promise<void>((resolve) => this.waiting.push(resolve));
      this.changed();
      await turn;
    }
    this.changed();
    try {
      return await convert();
    } finally {
      this.release();
    }
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.active--;
    this.changed();
  }

  private changed(): void {
    this.onChange?.(this.active, this.waiting.length);
  }
}
