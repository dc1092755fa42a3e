/**
 * A binary min-heap of wake-ups `(at, id)`, ordered by time then id so that equal times pop in a
 * stable order on every replay. Entries are never removed from the middle: the owner records the
 * wake-up it currently wants per id and skips popped entries that no longer match (lazy deletion),
 * which keeps every operation O(log n).
 */
export interface WakeUp {
  at: number;
  id: string;
}

function before(a: WakeUp, b: WakeUp): boolean {
  return a.at < b.at || (a.at === b.at && a.id < b.id);
}

export class WakeHeap {
  private readonly items: WakeUp[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): WakeUp | undefined {
    return this.items[0];
  }

  push(item: WakeUp): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): WakeUp | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < items.length && before(items[left]!, items[smallest]!)) smallest = left;
        if (right < items.length && before(items[right]!, items[smallest]!)) smallest = right;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest]!, items[i]!];
        i = smallest;
      }
    }
    return top;
  }
}
