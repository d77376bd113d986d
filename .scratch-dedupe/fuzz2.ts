import * as oldN from './old-names.js';
import * as oldL from './old-labels.js';
import * as N from '../lib/apiserver/validation/names.js';
import * as V from '../lib/apimachinery/validation.js';
import * as ipnet from '../lib/core/ipnet.js';
let seed = 7; const rnd = (n: number) => { seed = (seed * 16807) % 2147483647; return seed % n; };
const cands = new Set<string>();
// IP/CIDR candidates
const groups = ['0', '1', 'ffff', 'FFFF', '00000', 'g', '', '0db8', 'fe80', 'ff02', 'ff12', '1.2.3.4', '01.2.3.4', '0.0.0.0', '127.0.0.1', '169.254.1.1', '224.0.0.1', '1.2.3', '0001.2.3.4'];
for (let i = 0; i < 100000; i++) {
  const n = 1 + rnd(9); const parts: string[] = [];
  for (let j = 0; j < n; j++) parts.push(groups[rnd(groups.length)]!);
  let s = parts.join(rnd(4) === 0 ? '.' : ':');
  if (rnd(3) === 0) { const k = rnd(s.length + 1); s = s.slice(0, k) + '::' + s.slice(k); }
  if (rnd(2) === 0) s += '/' + ['0', '8', '24', '32', '33', '64', '95', '96', '100', '120', '128', '129', '024', '-1', '', '0001', 'a'][rnd(17)];
  cands.add(s);
}
for (const o1 of ['0', '10', '127', '169', '224', '255', '256', '010', '001']) for (const o2 of ['0', '254', '01', '1']) { cands.add(`${o1}.${o2}.0.1`); cands.add(`${o1}.${o2}.0.0/16`); cands.add(`::ffff:${o1}.${o2}.0.1/${rnd(129)}`); }
for (const s of ['::', '::1', '::/0', 'fe80::1', 'febf::1', 'fec0::1', 'ff02::1', 'ff12::1', 'ff0e::1', '::ffff:0.0.0.0', '::ffff:127.0.0.1', '::ffff:1.2.3.4/96', '::ffff:1.2.3.4/95', '::ffff:1.2.3.4/128', '::ffff:1.2.3.4/129']) cands.add(s);
const fam = (f: 4 | 6 | 'IPv4' | 'IPv6' | undefined) => (f === 'IPv4' ? 4 : f === 'IPv6' ? 6 : f);
let diffs = 0;
const report = (what: string, s: string, a: unknown, b: unknown) => { const ja = JSON.stringify(a), jb = JSON.stringify(b); if (ja !== jb) { diffs++; if (diffs < 100000 && !what.startsWith("NONASCII")) console.log(what, JSON.stringify(s), ja, jb); } };
for (const s of cands) {
  report('isValidIP', s, oldN.isValidIP('p', s), N.isValidIP('p', s));
  report('isValidIPv4', s, oldN.isValidIPv4Address('p', s), N.isValidIPv4Address('p', s));
  report('isValidIPv6', s, oldN.isValidIPv6Address('p', s), N.isValidIPv6Address('p', s));
  report('isValidCIDR', s, oldN.isValidCIDR('p', s), N.isValidCIDR('p', s));
  if (oldN.parseIP(s)) report('nonSpecial', s, oldN.validateNonSpecialIP(s, 'p'), N.validateNonSpecialIP(s, 'p'));
  report('family', s, oldN.ipFamilyOf(s), fam(ipnet.parseIPSloppy(s)?.family));
  const oc = oldN.parseCIDR(s), nc = ipnet.parseCIDRSloppy(s);
  report('cidr', s, oc && [oc.family, oc.prefix, oc.network.join('.')], nc && [fam(nc.family), nc.prefix, ipnet.ipBytes({ family: nc.family, value: nc.base }).join('.')]);
  const oi = oldN.parseIP(s), ni = ipnet.parseIPSloppy(s);
  if (oi && ni) report('format', s, oldN.formatIP(oi), ipnet.formatIP(ni));
}
// containment
const cl = [...cands].filter((s) => oldN.parseCIDR(s)).slice(0, 400);
for (const a of cl) for (const b of cl.slice(0, 100)) {
  const oa = oldN.parseCIDR(a)!, ob = oldN.parseCIDR(b)!;
  const na = ipnet.parseCIDRSloppy(a)!, nb = ipnet.parseCIDRSloppy(b)!;
  report('contains', a + ' ' + b, oldN.cidrContains(oa, { family: ob.family, bytes: ob.network }), ipnet.contains(na, { family: nb.family, value: nb.base }));
}
console.log('ip candidates', cands.size, 'diffs', diffs);
// name candidates
diffs = 0;
const alpha = ['a', 'Z', '0', '-', '_', '.', '/', '*', ' ', 'é', 'x'.repeat(30), 'y'.repeat(64), 'k8s.io', 'example.com'];
const names = new Set<string>(['', 'a/b/c', '/a', 'a/', 'a'.repeat(63), 'a'.repeat(64), 'a'.repeat(253), 'a'.repeat(254) + '/b', '*.foo.com', 'foo.*.com']);
for (let i = 0; i < 100000; i++) { const n = rnd(7); let s = ''; for (let j = 0; j < n; j++) s += alpha[rnd(alpha.length)]; names.add(s); }
let ascii = 0;
for (const s of names) {
  const isAscii = /^[\x00-\x7f]*$/.test(s); if (isAscii) ascii++;
  const r = (what: string, a: unknown, b: unknown) => report(isAscii ? what : `NONASCII ${what}`, s, a, b);
  r('labelKey', oldN.isQualifiedName(s), V.isLabelKey(s));
  r('qualified', oldL.isQualifiedName(s), V.isQualifiedName(s));
  r('labelValueN', oldN.isValidLabelValue(s), V.isValidLabelValue(s));
  r('labelValueL', oldL.isValidLabelValue(s), V.isValidLabelValue(s));
  r('sub', oldN.isDNS1123Subdomain(s), V.isDNS1123Subdomain(s));
  r('subL', oldL.isDNS1123Subdomain(s), V.isDNS1123Subdomain(s));
  r('label', oldN.isDNS1123Label(s), V.isDNS1123Label(s));
  r('1035', oldN.isDNS1035Label(s), V.isDNS1035Label(s));
  r('wild', oldN.isWildcardDNS1123Subdomain(s), V.isWildcardDNS1123Subdomain(s));
  r('labels', oldN.validateLabels({ [s]: s }, 'm'), N.validateLabels({ [s]: s }, 'm'));
  r('annot', oldN.validateAnnotations({ [s]: s }, 'm'), N.validateAnnotations({ [s]: s }, 'm'));
  r('final', oldN.validateFinalizers([s], 'm'), N.validateFinalizers([s], 'm'));
  r('fqdn', oldN.isFullyQualifiedDomainName('p', s), N.isFullyQualifiedDomainName('p', s));
  r('dpp', oldN.isDomainPrefixedPath('p', s), N.isDomainPrefixedPath('p', s));
  r('meta', oldN.validateObjectMeta({ name: s, generateName: s, namespace: s }, true, oldN.nameIsDNSLabel), N.validateObjectMeta({ name: s, generateName: s, namespace: s }, true, N.nameIsDNSLabel));
}
console.log('names', names.size, 'ascii', ascii, 'diffs', diffs);
