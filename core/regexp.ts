/** A RegExp source that matches `text` literally (for user-given text such as console lines). */
export function escapeRegExp(text: string): string {
  // Only syntax characters: escaping anything else (e.g. `-`) is an error under the `u` flag.
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
