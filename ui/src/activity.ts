/** The activity panel's figures: events per second each way and the last events. */

export interface ActivityLine {
  atMs: number;
  direction: "in" | "out";
  text: string;
}

export class Activity {
  private times: { in: number[]; out: number[] } = { in: [], out: [] };
  readonly last: ActivityLine[] = [];

  constructor(private readonly keep = 50) {}

  record(direction: "in" | "out", text: string, atMs: number): void {
    this.times[direction].push(atMs);
    this.last.unshift({ atMs, direction, text });
    if (this.last.length > this.keep) this.last.length = this.keep;
  }

  /** Events in the second before `nowMs`. */
  perSecond(direction: "in" | "out", nowMs: number): number {
    const times = this.times[direction];
    while (times.length > 0 && (times[0] ?? 0) <= nowMs - 1000) times.shift();
    return times.length;
  }
}
