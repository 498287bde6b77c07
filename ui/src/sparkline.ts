/** The small latency graph beside each player: the last minute of playout delays. */

/** Samples kept per player: one a second, a minute's worth. */
export const SPARK_SAMPLES = 60;

/** Keeps the last `SPARK_SAMPLES` values per player. */
export class History {
  private values = new Map<string, number[]>();

  push(id: string, value: number): number[] {
    const list = this.values.get(id) ?? [];
    list.push(value);
    if (list.length > SPARK_SAMPLES) list.splice(0, list.length - SPARK_SAMPLES);
    this.values.set(id, list);
    return list;
  }

  forget(id: string): void {
    this.values.delete(id);
  }
}

/**
 * SVG polyline points for `values` in a `width` × `height` box: the newest value at the right
 * edge, one step per sample, the scale from 0 to the larger of the maximum and `floor` (so a
 * steady 3 ms doesn't look like a storm).
 */
export function sparklinePoints(values: readonly number[], width: number, height: number, floor = 30): string {
  if (values.length === 0) return "";
  const top = Math.max(floor, ...values);
  const step = width / (SPARK_SAMPLES - 1);
  const x0 = width - step * (values.length - 1);
  return values
    .map((v, i) => {
      const x = x0 + step * i;
      const y = height - (Math.max(0, v) / top) * height;
      return `${Math.round(x * 10) / 10},${Math.round(y * 10) / 10}`;
    })
    .join(" ");
}
