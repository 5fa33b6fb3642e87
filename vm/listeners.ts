/** A set of event listeners where one listener's bug never breaks the emitter (or the machine). */
export class Listeners<E> {
  private readonly set = new Set<(event: E) => void>();

  add(listener: (event: E) => void): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  emit(event: E): void {
    for (const l of this.set) {
      try {
        l(event);
      } catch {
        // a listener's bug must not break the machine
      }
    }
  }

  clear(): void {
    this.set.clear();
  }
}
