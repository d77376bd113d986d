/**
 * Canonical JSON: object keys sorted and strings escaped as Go's encoding/json writes them, so
 * semantically equal values render identically — for comparing objects whatever their key order,
 * for hashing pod templates, and for the text kubectl and the apiserver store in annotations.
 * Like JSON.stringify, members whose value is undefined are left out.
 */

function goJsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Renders a JSON-shaped value canonically. */
export function canonicalJson(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') return goJsonString(value);
  if (typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${goJsonString(k)}:${canonicalJson(v)}`).join(',')}}`;
}
