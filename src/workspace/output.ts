/**
 * A command's output, bounded: the first `head` and the last `tail` bytes are kept, everything
 * between is counted and dropped, and the text says where it was cut. Memory stays bounded
 * however much the command prints.
 */
export class CappedOutput {
  #head: Buffer[] = [];
  #headBytes = 0;
  #tail: Buffer[] = [];
  #tailBytes = 0;
  #total = 0;

  constructor(
    readonly headBytes: number,
    readonly tailBytes: number,
  ) {}

  get totalBytes(): number {
    return this.#total;
  }

  get truncated(): boolean {
    return this.#total > this.headBytes + this.tailBytes;
  }

  write(chunk: Buffer): void {
    this.#total += chunk.length;
    let rest = chunk;
    if (this.#headBytes < this.headBytes) {
      const take = rest.subarray(0, this.headBytes - this.#headBytes);
      this.#head.push(Buffer.from(take));
      this.#headBytes += take.length;
      rest = rest.subarray(take.length);
    }
    if (rest.length === 0) return;
    this.#tail.push(Buffer.from(rest));
    this.#tailBytes += rest.length;
    // Drop whole chunks from the front while the rest still covers the tail.
    while (this.#tail.length > 1 && this.#tailBytes - this.#tail[0]!.length >= this.tailBytes) {
      this.#tailBytes -= this.#tail.shift()!.length;
    }
  }

  /** The kept text; a cut says how many bytes were left out. */
  text(): string {
    const head = Buffer.concat(this.#head).toString("utf8");
    const tailAll = Buffer.concat(this.#tail);
    const tail = tailAll.subarray(Math.max(0, tailAll.length - this.tailBytes));
    const cut = this.#total - this.#headBytes - tail.length;
    if (cut <= 0) return head + tail.toString("utf8");
    return `${head}\n\n[output cut: ${cut} of ${this.#total} bytes left out between the first ${this.#headBytes} and the last ${tail.length}]\n\n${tail.toString("utf8")}`;
  }
}
