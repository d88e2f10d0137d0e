// UTF-8 decoding of short strings from shared memory, the common case of list items and
// queue messages: building an ASCII string directly is several times faster than a
// TextDecoder call at this size. Invalid UTF-8 throws (ERR_ENCODING_INVALID_ENCODED_DATA).
const decoder = new TextDecoder('utf-8', { fatal: true });

export function decodeUtf8(u8: Uint8Array, start: number, end: number): string {
  if (end - start <= 64) {
    let out = '';
    let k = start;
    for (; k < end; k++) {
      const c = u8[k]!;
      if (c > 0x7f) break;
      out += String.fromCharCode(c);
    }
    if (k === end) return out;
  }
  return decoder.decode(u8.subarray(start, end));
}

export const encoder = new TextEncoder();
