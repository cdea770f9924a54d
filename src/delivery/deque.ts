/**
 * A FIFO with O(1) push and shift (Array#shift is O(n) on large queues).
 * @module
 */

/** First in, first out; iterable from the head. */
export class Deque<T> implements Iterable<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  /** Items held. */
  get length(): number {
    return this.#items.length - this.#head;
  }
  /** Adds at the tail. */
  push(item: T): void {
    this.#items.push(item);
  }
  /** The head, or `undefined` when empty. */
  peek(): T | undefined {
    return this.#items[this.#head];
  }
  /** The item `index` places behind the head. */
  at(index: number): T | undefined {
    return index >= 0 && index < this.length ? this.#items[this.#head + index] : undefined;
  }
  /** Removes and returns the head. */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
  *[Symbol.iterator](): Iterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i] as T;
  }
}
