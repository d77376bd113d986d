import * as O from './old-ipnet.js';
import * as N from '../lib/core/ipnet.js';
let seed = 11; const rnd = (n: number) => { seed = (seed * 16807) % 2147483647; return seed % n; };
const groups = ['0', '1', 'ffff', '00', 'g', '', '0db8', '1.2.3.4', '01.2.3.4', '10.96.0.0', '255.255.255.255'];
let d = 0, n = 0;
for (let i = 0; i < 100000; i++) {
  const k = 1 + rnd(9); const parts: string[] = [];
  for (let j = 0; j < k; j++) parts.push(groups[rnd(groups.length)]!);
  let s = parts.join(rnd(3) === 0 ? '.' : ':');
  if (rnd(3) === 0) { const x = rnd(s.length + 1); s = s.slice(0, x) + '::' + s.slice(x); }
  s += '/' + ['0', '8', '12', '24', '32', '33', '64', '96', '112', '128', '129', '024', '', 'x', '00'][rnd(15)];
  n++;
  const a = JSON.stringify(O.parseCIDR(s), (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  const b = JSON.stringify(N.parseCIDR(s), (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  if (a !== b) { d++; console.log(s, a, b); }
}
console.log(n, 'diffs', d);
