/**
 * Seeded randomness. Every random choice podnet makes (generated names, uids, allocation order,
 * load-balancing picks) draws from an {@link Rng}, so that a run with the same `--seed` is
 * reproducible bit for bit. Without a seed the generator is seeded from the system's entropy.
 */

import { randomBytes } from 'node:crypto';

/** A source of random numbers. */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** The seed this generator started from. */
  readonly seed: number;
}

/** sfc32-free, small and fast: mulberry32 (public domain), 32 bits of state. */
export class SeededRng implements Rng {
  readonly seed: number;
  #state: number;
  constructor(seed?: number) {
    this.seed = seed === undefined ? randomBytes(4).readUInt32LE(0) : seed >>> 0;
    this.#state = this.seed;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** The alphabet apiserver's generateName suffixes use (k8s.io/apimachinery/pkg/util/rand: no vowels, no confusable digits). */
const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

/** A random string of `n` characters, as utilrand.String makes for generateName. */
export function randomSuffix(rng: Rng, n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHANUMS[rng.int(ALPHANUMS.length)];
  return s;
}

/** A version-4-shaped UUID drawn from the RNG (so uids are reproducible under a seed). */
export function randomUid(rng: Rng): string {
  const hex: string[] = [];
  for (let i = 0; i < 16; i++) hex.push(rng.int(256).toString(16).padStart(2, '0'));
  hex[6] = ((parseInt(hex[6]!, 16) & 0x0f) | 0x40).toString(16);
  hex[8] = ((parseInt(hex[8]!, 16) & 0x3f) | 0x80).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
