import * as names from './old-names.js';
import * as ipnet from '../lib/core/ipnet.js';
const toBytes = (ip: ipnet.IPAddress) => { const n = ip.family === 'IPv4' ? 4 : 16; const out: number[] = []; for (let i = n - 1; i >= 0; i--) out.push(Number((ip.value >> BigInt(i * 8)) & 0xffn)); return out; };
const atoms = ['', '0', '1', '00', '01', '001', '0001', '00001', 'ffff', 'FFFF', 'fFfF', 'abcd', 'g', '255', '256', '010', '1.2.3.4', '01.2.3.4', '1.2.3', '%eth0', ' ', '::', ':', '.', '1.2.3.04', '-1', '+1', '1e1', '0x1'];
const seen = new Set<string>();
const cands: string[] = [];
function add(s: string) { if (!seen.has(s)) { seen.add(s); cands.push(s); } }
// v4
const oct = ['0', '1', '00', '01', '001', '0001', '255', '256', '010', '099', '', 'a', ' 1', '1 ', '+1', '-0', '٣'];
for (const a of oct) for (const b of ['0', '01', '255']) { add(`${a}.${b}.3.4`); add(`1.2.3.${a}`); add(`${a}.${a}.${a}.${a}`); }
add('1.2.3.4.5'); add('1.2.3'); add('1..2.3'); add('.1.2.3'); add('1.2.3.4.');
// v6 shapes
const groups = ['0', '1', 'ffff', 'FFFF', '00000', '12345', 'g', '', '0db8', '1.2.3.4', '01.2.3.4', '1.2.3'];
const rnd = (n: number) => Math.floor(Math.random() * n);
let seed = 1; Math.random = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
for (let i = 0; i < 200000; i++) {
  const n = 1 + rnd(10);
  const parts: string[] = [];
  for (let j = 0; j < n; j++) parts.push(groups[rnd(groups.length)]!);
  let s = parts.join(':');
  if (rnd(3) === 0) { const k = rnd(s.length + 1); s = s.slice(0, k) + '::' + s.slice(k); }
  if (rnd(10) === 0) s = s + '%z';
  if (rnd(10) === 0) s = '[' + s + ']';
  add(s);
}
for (const s of ['::', '::1', '::ffff:1.2.3.4', '::ffff:01.2.3.4', '::1.2.3.4', '1::', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '::ffff:0:1.2.3.4', '0:0:0:0:0:ffff:1.2.3.4', '64:ff9b::1.2.3.4', '1:2:3:4:5::1.2.3.4', ':::', '1:::2', 'fe80::1%eth0', '2001:db8::', ' ::1', '::1 ']) add(s);
let diffs = 0;
function sloppy(text: string): string {
  const colon = text.lastIndexOf(':');
  const tail = text.slice(colon + 1);
  if (!tail.includes('.')) return text;
  return text.slice(0, colon + 1) + tail.split('.').map((o) => (/^[0-9]+$/.test(o) ? o.replace(/^0+(?=[0-9])/, '') : o)).join('.');
}
const strip = (s: string) => s.replace(/(^|[.:])0+(?=\d)/g, '$1');
for (const s of cands) {
  const a = names.parseIP(s);
  const b = ipnet.parseIP(sloppy(s));
  const ja = a ? `${a.family}:${a.bytes.join(',')}` : 'undef';
  const jb = b ? `${b.family === 'IPv4' ? 4 : 6}:${toBytes(b).join(',')}` : 'undef';
  if (ja !== jb) { diffs++; if (diffs < 60) console.log(JSON.stringify(s), ja, jb); }
}
console.log('candidates', cands.length, 'diffs', diffs);
