import t from 'tap';
import { SeededRng } from '../../../lib/core/rng.js';
import {
  AllocationBitmap,
  AllocatorError,
  ClusterIPAllocator,
  LoadBalancerPool,
  NodePortAllocator,
  clusterIPStaticBand,
  nodePortStaticBand,
  parsePortRange,
} from '../../../lib/apiserver/allocators/index.js';
import {
  canonicalIP,
  compareIPs,
  contains,
  formatIP,
  ipBytes,
  nthAddress,
  parseCIDR,
  parseCIDRSloppy,
  parseIP,
  parseIPRange,
  parseIPSloppy,
  addresses,
  subnet,
} from '../../../lib/core/ipnet.js';

t.test('ipnet: parses and prints addresses as Go does', async (t) => {
  const table: Array<[string, string | undefined, 'IPv4' | 'IPv6' | undefined]> = [
    ['10.96.0.1', '10.96.0.1', 'IPv4'],
    ['010.96.0.1', undefined, undefined], // no leading zeros (Go 1.17+)
    ['10.96.0', undefined, undefined],
    ['fd00:10:96::1', 'fd00:10:96::1', 'IPv6'],
    ['FD00:0010:0096:0000:0000:0000:0000:0001', 'fd00:10:96::1', 'IPv6'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', 'IPv6'], // first longest zero run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1', 'IPv6'], // a single zero group stays
    ['::', '::', 'IPv6'],
    ['::ffff:10.0.0.1', '10.0.0.1', 'IPv4'], // IPv4-mapped reads as IPv4
    ['fe80::1%eth0', undefined, undefined],
    ['not-an-ip', undefined, undefined],
  ];
  for (const [input, printed, family] of table) {
    t.equal(canonicalIP(input), printed, input);
    t.equal(parseIP(input)?.family, family, `${input} family`);
  }
});

t.test('ipnet: CIDRs, ranges, nth address, contains, compare', async (t) => {
  const cidr = parseCIDR('10.96.0.1/12')!;
  t.equal(cidr.text, '10.96.0.0/12', 'host bits cleared');
  t.equal(cidr.size, 1n << 20n);
  t.equal(formatIP(nthAddress(cidr, 1)), '10.96.0.1');
  t.equal(formatIP(nthAddress(cidr, 10)), '10.96.0.10');
  t.equal(formatIP(nthAddress(cidr, -1)), '10.111.255.255');
  t.throws(() => nthAddress(cidr, cidr.size));
  t.ok(contains(cidr, '10.100.1.1'));
  t.notOk(contains(cidr, '10.0.0.5'));
  t.notOk(contains(cidr, 'fd00::1'));
  t.equal(parseCIDR('fd00:10:96::/112')!.text, 'fd00:10:96::/112');
  t.equal(parseCIDR('10.0.0.0/33'), undefined);
  t.equal(parseCIDR('10.0.0.0'), undefined);
  const range = parseIPRange('172.18.255.200-172.18.255.250')!;
  t.equal(range.size, 51n);
  t.equal(parseIPRange('172.18.255.250-172.18.255.200'), undefined, 'reversed');
  t.equal(parseIPRange('10.0.0.1-fd00::1'), undefined, 'mixed families');
  t.same([...addresses(parseCIDR('10.0.0.0/30')!)].map(formatIP), ['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3']);
  t.equal(subnet(parseCIDR('10.244.0.0/16')!, 24, 3).text, '10.244.3.0/24');
  t.same(['10.0.0.10', 'fd00::1', '10.0.0.9', '9.0.0.1'].sort(compareIPs), ['9.0.0.1', '10.0.0.9', '10.0.0.10', 'fd00::1']);
});

// k8s.io/utils/net ParseIPSloppy / ParseCIDRSloppy, which API validation reads addresses with:
// leading zeros in IPv4 octets are decimal, and an IPv4-mapped /96-or-longer network is IPv4.
t.test('ipnet: sloppy parsing, as API validation reads addresses', async (t) => {
  t.equal(formatIP(parseIPSloppy('010.096.000.001')!), '10.96.0.1');
  t.equal(formatIP(parseIPSloppy('::ffff:010.0.0.1')!), '10.0.0.1');
  t.equal(parseIPSloppy('0010.0.0.1'), undefined, 'at most three digits an octet');
  t.equal(parseIPSloppy('1.2.3'), undefined);
  t.same(ipBytes(parseIPSloppy('fe80::1')!), [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  t.same(ipBytes(parseIPSloppy('10.96.0.1')!), [10, 96, 0, 1]);
  t.equal(parseCIDRSloppy('010.0.0.1/08')!.text, '10.0.0.0/8', 'leading zeros in the prefix length too');
  t.equal(parseCIDR('10.0.0.0/08'), undefined, 'but not for parseCIDR');
  t.match(parseCIDRSloppy('::ffff:10.1.2.3/120'), { family: 'IPv4', text: '10.1.2.0/24' });
  t.match(parseCIDRSloppy('::ffff:10.1.2.3/64'), { family: 'IPv6', prefix: 64 });
  t.equal(parseCIDRSloppy('10.0.0.0/33'), undefined);
  t.equal(parseCIDRSloppy('fd00::/129'), undefined);
});

t.test('bitmap: word scans, bands and reserved items', async (t) => {
  const b = new AllocationBitmap(100, { staticBand: 20, reserved: [0] });
  t.equal(b.nextFree(0), 1, 'reserved items are skipped by scans');
  for (let i = 20; i < 100; i++) t.ok(b.allocate(i));
  t.equal(b.nextFree(20), -1);
  const rng = new SeededRng(7);
  const got = b.allocateNext(rng)!;
  t.ok(got >= 1 && got < 20, 'the lower band is used once the upper band is full');
  t.notOk(b.allocate(got), 'taken');
  t.ok(b.release(got));
  t.notOk(b.release(got), 'already free');
  t.ok(b.allocate(0), 'a reserved item can be taken explicitly');
  t.equal(b.used, 81);
  const seen: number[] = [];
  b.forEach((i) => seen.push(i));
  t.equal(seen.length, 81);
  t.equal(seen[0], 0);
  // Word boundaries.
  const w = new AllocationBitmap(70);
  for (let i = 0; i < 64; i++) w.allocate(i);
  t.equal(w.nextFree(0), 64);
  t.equal(w.nextFree(65, 66), 65);
  t.equal(w.nextFree(64, 64), -1);
});

// KEP-3070 / ipallocator's calculateRangeOffset: min(max(16, size/16), 256), 0 up to 16 addresses.
t.test('ClusterIP static band sizes', async (t) => {
  const table: Array<[string, number]> = [
    ['10.96.0.0/28', 0],
    ['10.96.0.0/27', 16],
    ['10.96.0.0/24', 16],
    ['10.96.0.0/23', 32],
    ['10.96.0.0/22', 64],
    ['10.96.0.0/21', 128],
    ['10.96.0.0/20', 256],
    ['10.96.0.0/12', 256],
    ['fd00:10:96::/120', 16],
    ['fd00:10:96::/112', 256],
  ];
  for (const [cidr, band] of table) {
    t.equal(new ClusterIPAllocator(cidr).staticBand, band, cidr);
    t.equal(clusterIPStaticBand(parseCIDR(cidr)!.size), band);
  }
});

t.test('ClusterIP allocator: dynamic band, explicit IPs, exhaustion, release and reuse', async (t) => {
  const a = new ClusterIPAllocator('10.96.0.0/24');
  t.equal(a.size, 254, 'network and broadcast are not usable');
  const rng = new SeededRng(1);
  // The static band is .1-.16: dynamic allocation stays above it while it can.
  const dynamic = Array.from({ length: 50 }, () => a.allocateNext(rng));
  t.ok(
    dynamic.every((ip) => Number(ip.split('.')[3]) > 16 && Number(ip.split('.')[3]) < 255),
    'all in the dynamic band',
  );
  a.allocate('10.96.0.5');
  t.ok(a.has('10.96.0.5'));
  t.throws(() => a.allocate('10.96.0.5'), { message: 'provided IP is already allocated', reason: 'Allocated' });
  t.throws(() => a.allocate('10.96.0.0'), {
    message: 'the provided IP (10.96.0.0) is not in the valid range. The range of valid IPs is 10.96.0.0/24',
  });
  t.throws(() => a.allocate('10.96.0.255'), { message: /^the provided IP \(10\.96\.0\.255\) is not in the valid range/ }, 'broadcast');
  t.throws(() => a.allocate('10.0.0.5'), {
    message: 'the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/24',
  });
  t.ok(a.release('10.96.0.5'));
  a.allocate('10.96.0.5');

  // Exhaustion: .1 and .10 are never handed out dynamically.
  const small = new ClusterIPAllocator('10.96.0.0/28');
  const got = new Set<string>();
  for (let i = 0; i < 12; i++) got.add(small.allocateNext(rng));
  t.equal(got.size, 12);
  t.notOk(got.has('10.96.0.1'));
  t.notOk(got.has('10.96.0.10'));
  const err = t.throws(() => small.allocateNext(rng)) as AllocatorError;
  t.equal(err.message, 'range is full');
  t.equal(err.code, 'PODNET_IPAM_EXHAUSTED');
  small.allocate('10.96.0.1');
  small.allocate('10.96.0.10');
  small.release('10.96.0.7');
  t.equal(small.allocateNext(rng), '10.96.0.7', 'a released address is reused');
  t.equal(small.indexed(1), '10.96.0.1');
  t.equal(small.indexed(10), '10.96.0.10');
});

t.test('IPv6 ranges are capped at 65536 addresses, as upstream', async (t) => {
  const a = new ClusterIPAllocator('fd00:10:96::/64');
  t.equal(a.size, 65535);
  t.ok(a.contains('fd00:10:96::ffff'));
  t.notOk(a.contains('fd00:10:96::1:0'));
  const ip = a.allocateNext(new SeededRng(3));
  t.match(ip, /^fd00:10:96::[0-9a-f]+$/);
});

// KEP-3668 / portallocator's calculateRangeOffset: min(max(16, size/32), 128).
t.test('NodePort ranges and static bands', async (t) => {
  t.same(parsePortRange('30000-32767'), { base: 30000, size: 2768 });
  t.same(parsePortRange('30000+767'), { base: 30000, size: 768 });
  t.same(parsePortRange('30080'), { base: 30080, size: 1 });
  t.equal(parsePortRange('32767-30000'), undefined);
  t.equal(parsePortRange('70000-70001'), undefined);
  const table: Array<[number, number]> = [
    [10, 0],
    [16, 0],
    [100, 16],
    [2768, 86],
    [10000, 128],
  ];
  for (const [size, band] of table) t.equal(nodePortStaticBand(size), band, `size ${size}`);

  const p = new NodePortAllocator('30000-32767');
  t.equal(p.staticBand, 86);
  const rng = new SeededRng(5);
  const ports = Array.from({ length: 100 }, () => p.allocateNext(rng));
  t.ok(ports.every((n) => n >= 30086), 'upper band first');
  t.throws(() => p.allocate(80), { message: 'provided port is not in the valid range. The range of valid ports is 30000-32767' });
  p.allocate(30080);
  t.throws(() => p.allocate(30080), { message: 'provided port is already allocated' });
  const tiny = new NodePortAllocator('30000-30001');
  tiny.allocateNext(rng);
  tiny.allocateNext(rng);
  t.throws(() => tiny.allocateNext(rng), { message: 'range is full' });
});

t.test('load-balancer pool: CIDRs and ranges, lowest first, explicit requests', async (t) => {
  const pool = new LoadBalancerPool(['172.18.255.200-172.18.255.202', '192.168.10.0/31', 'fd00:ff::/127']);
  t.equal(pool.size, 7);
  t.same(pool.families, ['IPv4', 'IPv6']);
  t.equal(pool.allocateNext('IPv4'), '172.18.255.200');
  pool.allocate('192.168.10.1');
  t.throws(() => pool.allocate('192.168.10.1'), { message: '["192.168.10.1"] is already in use' });
  t.throws(() => pool.allocate('10.0.0.1'), { message: '["10.0.0.1"] is not allowed in config' });
  t.equal(pool.allocateNext('IPv4'), '172.18.255.201');
  t.equal(pool.allocateNext('IPv4'), '172.18.255.202');
  t.equal(pool.allocateNext('IPv4'), '192.168.10.0', 'the next entry once one is used up');
  t.equal(pool.allocateNext('IPv4'), undefined, 'exhausted');
  t.equal(pool.allocateNext('IPv6'), 'fd00:ff::');
  t.ok(pool.release('172.18.255.201'));
  t.equal(pool.allocateNext('IPv4'), '172.18.255.201');
  t.throws(() => new LoadBalancerPool(['nonsense']), { code: 'PODNET_TOPOLOGY_INVALID' });
});
