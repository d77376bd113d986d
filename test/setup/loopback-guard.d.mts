/** Types of the suite-wide loopback guard (loopback-guard.mjs). */

/** True for an address a socket may use: 127.0.0.0/8, ::1 (any spelling), ::ffff:127.x.y.z, or `localhost`. */
export function isLoopbackAddress(address: unknown): boolean;

/** One refused socket call. */
export interface LoopbackViolation {
  operation: string;
  address: string;
  detail: string;
  stack: string;
}

/** The refused attempts so far in this process (copies). */
export function violations(): LoopbackViolation[];
