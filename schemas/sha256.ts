/**
 * SHA-256 (FIPS 180-4) in plain JavaScript for the workflow sandbox, which has no `node:crypto`,
 * written for the one job that dominated a transition's pure cost: hashing a state document that
 * mostly repeats the previous one. The compression function works on 32-bit locals with no
 * allocation, and a hash can resume from the midstate after any whole 64-byte block of the input
 * it hashed before (`ResumableSha256`), so an unchanged document prefix is not hashed again.
 * tests/statechart/sha256.test.ts checks it against `node:crypto` on random inputs and prefixes.
 */

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/** The message schedule, reused by every block (the sandbox runs one workflow task at a time). */
const W = new Int32Array(64);

/**
 * Runs the compression function over the 64-byte blocks of `bytes[from, to)`, starting from the 8
 * words at `h[at]`. The midstate after each block goes `stride` words further on (0: in place; 8:
 * one midstate per block, which is what lets a later hash resume after any of them).
 */
function compress(
  h: Int32Array,
  at: number,
  stride: number,
  bytes: Uint8Array,
  from: number,
  to: number,
): void {
  let h0 = h[at]!,
    h1 = h[at + 1]!,
    h2 = h[at + 2]!,
    h3 = h[at + 3]!,
    h4 = h[at + 4]!,
    h5 = h[at + 5]!,
    h6 = h[at + 6]!,
    h7 = h[at + 7]!;
  for (let off = from; off < to; off += 64) {
    for (let i = 0; i < 16; i++) {
      const j = off + i * 4;
      W[i] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!;
    }
    for (let i = 16; i < 64; i++) {
      const x = W[i - 15]!;
      const y = W[i - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
    }
    let a = h0,
      b = h1,
      c = h2,
      d = h3,
      e = h4,
      f = h5,
      g = h6,
      hh = h7;
    // Ch and Maj in their forms with fewest operations: g ^ (e & (f ^ g)) is (e & f) ^ (~e & g),
    // and (a & b) | (c & (a | b)) is (a & b) ^ (a & c) ^ (b & c).
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (hh + S1 + (g ^ (e & (f ^ g))) + K[i]! + W[i]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) | (c & (a | b)))) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + hh) | 0;
    at += stride;
    h[at] = h0;
    h[at + 1] = h1;
    h[at + 2] = h2;
    h[at + 3] = h3;
    h[at + 4] = h4;
    h[at + 5] = h5;
    h[at + 6] = h6;
    h[at + 7] = h7;
  }
}

const tail = new Uint8Array(128);
const last = new Int32Array(8);
/** Two hex digits per byte value: a digest is then 32 concatenations instead of 64. */
const BYTE_HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Finishes the hash of `bytes[0, length)` whose whole blocks are done, with the midstate after them
 * at `h[at]`: pads the rest and returns lowercase hex. `h` is left as it was.
 */
function finish(h: Int32Array, at: number, bytes: Uint8Array, length: number): string {
  const done = length - (length % 64);
  const rest = length - done;
  // Copied byte by byte: a subarray view per hash costs more than the copy of at most 63 bytes.
  for (let i = 0; i < rest; i++) tail[i] = bytes[done + i]!;
  tail[rest] = 0x80;
  const blocks = rest + 9 > 64 ? 128 : 64;
  tail.fill(0, rest + 1, blocks - 8);
  const bits = length * 8;
  // Message length in bits, big-endian, in the last 8 bytes; lengths here stay far below 2^53.
  const high = Math.floor(bits / 0x100000000);
  tail[blocks - 8] = high >>> 24;
  tail[blocks - 7] = high >>> 16;
  tail[blocks - 6] = high >>> 8;
  tail[blocks - 5] = high;
  tail[blocks - 4] = bits >>> 24;
  tail[blocks - 3] = bits >>> 16;
  tail[blocks - 2] = bits >>> 8;
  tail[blocks - 1] = bits;
  for (let i = 0; i < 8; i++) last[i] = h[at + i]!;
  compress(last, 0, 0, tail, 0, blocks);
  let hex = '';
  for (let i = 0; i < 8; i++) {
    const word = last[i]!;
    hex +=
      BYTE_HEX[word >>> 24]! +
      BYTE_HEX[(word >>> 16) & 255]! +
      BYTE_HEX[(word >>> 8) & 255]! +
      BYTE_HEX[word & 255]!;
  }
  return hex;
}

/** Lowercase hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  const h = Int32Array.from(IV);
  compress(h, 0, 0, bytes, 0, bytes.length - (bytes.length % 64));
  return finish(h, 0, bytes, bytes.length);
}

/**
 * SHA-256 of successive inputs that share a prefix with the previous one (successive state
 * documents of one mission). It keeps the midstate after every whole block of the previous input;
 * the caller says how many leading bytes are unchanged, and the hash resumes after the last whole
 * block among them. Knowing the unchanged length from the document's structure, rather than by
 * comparing bytes, is what lets the caller rewrite one buffer in place.
 */
export class ResumableSha256 {
  /** `#states[8k .. 8k+8)` is the midstate after the first k blocks of the previous input. */
  #states = Int32Array.from(IV);
  /** Whole blocks of the previous input, i.e. how many midstates past the IV are held. */
  #blocks = 0;

  /**
   * Lowercase hex SHA-256 of `bytes[0, length)`, when its first `unchanged` bytes are those of the
   * previous input (0 for an unrelated input).
   */
  digestHex(bytes: Uint8Array, length: number, unchanged: number): string {
    const whole = length >> 6;
    const resume = Math.min(unchanged >> 6, this.#blocks, whole);
    if (this.#states.length < (whole + 1) * 8) {
      const grown = new Int32Array(Math.max((whole + 1) * 8, this.#states.length * 2));
      grown.set(this.#states.subarray(0, (resume + 1) * 8));
      this.#states = grown;
    }
    compress(this.#states, resume * 8, 8, bytes, resume * 64, whole * 64);
    this.#blocks = whole;
    return finish(this.#states, whole * 8, bytes, length);
  }
}
