import t from 'tap';
import { HostLocalIpam, rangeForSubnet } from '../../plugins/ipam/host-local.js';
import { CniError, CniErrorCode, type NetConf } from '../../plugins/cni/spec.js';

// containernetworking/plugins ipam/host-local README: "ranges", "rangeStart", "rangeEnd",
// "gateway"; allocation is round-robin after the last reserved address; the gateway is skipped.
const conf = (ranges: NetConf['ipam'] extends infer I ? (I extends { ranges?: infer R } ? R : never) : never): NetConf => ({
  cniVersion: '1.0.0',
  name: 'cbr0',
  type: 'bridge',
  ipam: { type: 'host-local', ranges },
});

const inv = (containerId: string, args: Record<string, string> = {}) => ({ containerId, ifName: 'eth0', args });

t.test('host-local: first address after the gateway, then round-robin', async (t) => {
  const ipam = new HostLocalIpam();
  const c = conf([[rangeForSubnet('10.244.1.0/24')]]);
  t.same(ipam.add(inv('a'), c).ips, [{ address: '10.244.1.2/24', gateway: '10.244.1.1' }]);
  t.equal(ipam.add(inv('b'), c).ips[0]!.address, '10.244.1.3/24');
  ipam.del(inv('a'), c);
  // Round-robin: .2 was freed, but allocation continues after the last reserved (.3).
  t.equal(ipam.add(inv('c'), c).ips[0]!.address, '10.244.1.4/24');
});

t.test('host-local: README example range with rangeStart/rangeEnd', async (t) => {
  const ipam = new HostLocalIpam();
  const c = conf([[{ subnet: '10.10.0.0/16', rangeStart: '10.10.1.20', rangeEnd: '10.10.3.50', gateway: '10.10.0.254' }]]);
  t.same(ipam.add(inv('a'), c).ips, [{ address: '10.10.1.20/16', gateway: '10.10.0.254' }]);
});

t.test('host-local: a full range is exhausted with the upstream message', async (t) => {
  const ipam = new HostLocalIpam();
  const c = conf([[rangeForSubnet('10.244.1.0/29')]]); // .1 gateway, .2-.6 usable, .7 broadcast
  for (const id of ['a', 'b', 'c', 'd', 'e']) ipam.add(inv(id), c);
  const err = t.throws(() => ipam.add(inv('f'), c)) as CniError;
  t.equal(err.cniCode, CniErrorCode.TryAgainLater);
  t.match(err.message, 'no IP addresses available in range set: 10.244.1.1-10.244.1.6');
});

t.test('host-local: IP= in CNI_ARGS asks for a static address', async (t) => {
  const ipam = new HostLocalIpam();
  const c = conf([[rangeForSubnet('10.244.1.0/24')]]);
  t.equal(ipam.add(inv('a', { IP: '10.244.1.77' }), c).ips[0]!.address, '10.244.1.77/24');
  const err = t.throws(() => ipam.add(inv('b', { IP: '10.244.1.77' }), c)) as CniError;
  t.match(err.message, 'requested IP address 10.244.1.77 is not available');
  const outside = t.throws(() => ipam.add(inv('c', { IP: '10.9.9.9' }), c)) as CniError;
  t.match(outside.message, 'not in any configured range');
  // A failed request reserves nothing.
  t.equal(ipam.reservations('cbr0').size, 1);
});

t.test('host-local: a second ADD for the same container is refused; DEL of unknown succeeds', async (t) => {
  const ipam = new HostLocalIpam();
  const c = conf([[rangeForSubnet('10.244.1.0/24')]]);
  ipam.add(inv('a'), c);
  const err = t.throws(() => ipam.add(inv('a'), c)) as CniError;
  t.match(err.message, 'duplicate allocation is not allowed');
  t.doesNotThrow(() => ipam.del(inv('never-added'), c));
});

t.test('host-local: dual-stack range sets give one address per family', async (t) => {
  const ipam = new HostLocalIpam();
  const c = conf([[rangeForSubnet('10.244.1.0/24')], [rangeForSubnet('fd00:10:244:1::/64')]]);
  t.same(
    ipam.add(inv('a'), c).ips.map((i) => i.address),
    ['10.244.1.2/24', 'fd00:10:244:1::2/64'],
  );
});
