// host-local's disk store (containernetworking/plugins ipam/host-local backend/disk): one file per
// reserved address under <dataDir>/<network>/ holding "<containerID>\r\n<ifname>",
// last_reserved_ip.<range set> and a lock, so separate invocations share one network's state.
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DirectoryStore, directoryStores, HostLocalIpam, rangeForSubnet } from '../../plugins/ipam/host-local.js';
import { CniErrorCode, type CniError, type NetConf } from '../../plugins/cni/spec.js';

function dataDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-host-local-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const conf = (dir: string, ...subnets: string[]): NetConf => ({
  cniVersion: '1.1.0',
  name: 'cbr0',
  type: 'bridge',
  ipam: { type: 'host-local', dataDir: dir, ranges: subnets.map((s) => [rangeForSubnet(s)]) },
});

const inv = (containerId: string, ifName = 'eth0') => ({ containerId, ifName, args: {} });

/** A fresh IPAM per call: a separate invocation of the plugin, sharing nothing but the disk. */
const invocation = () => new HostLocalIpam({ store: directoryStores() });

t.test('separate invocations share reservations and the round-robin position through the disk', async (t) => {
  const dir = dataDir(t);
  const c = conf(dir, '10.244.1.0/24', 'fd00:10:244:1::/64');
  t.same(invocation().add(inv('a'), c).ips.map((i) => i.address), ['10.244.1.2/24', 'fd00:10:244:1::2/64']);
  t.same(invocation().add(inv('b'), c).ips.map((i) => i.address), ['10.244.1.3/24', 'fd00:10:244:1::3/64']);
  invocation().del(inv('a'), c);
  t.equal(invocation().add(inv('c'), c).ips[0]!.address, '10.244.1.4/24', 'round-robin continues after the last reserved, across invocations');

  const net = join(dir, 'cbr0');
  t.same(readdirSync(net).sort(), ['10.244.1.3', '10.244.1.4', 'fd00:10:244:1::3', 'fd00:10:244:1::4', 'last_reserved_ip.0', 'last_reserved_ip.1']);
  t.equal(readFileSync(join(net, '10.244.1.3'), 'utf8'), 'b\r\neth0');
  t.equal(readFileSync(join(net, 'last_reserved_ip.1'), 'utf8'), 'fd00:10:244:1::4');
  t.notOk(existsSync(join(net, 'lock')), 'the lock is released after each command');
  t.same([...invocation().reservations('cbr0', dir)].sort(), [
    ['10.244.1.3', 'b\neth0'],
    ['10.244.1.4', 'c\neth0'],
    ['fd00:10:244:1::3', 'b\neth0'],
    ['fd00:10:244:1::4', 'c\neth0'],
  ]);
});

t.test('a second ADD for the same attachment is refused from another invocation too', async (t) => {
  const dir = dataDir(t);
  const c = conf(dir, '10.244.1.0/24');
  invocation().add(inv('a'), c);
  const err = t.throws(() => invocation().add(inv('a'), c)) as CniError;
  t.match(err.message, '10.244.1.2 has been allocated to a, duplicate allocation is not allowed');
  t.equal(invocation().add(inv('a', 'net1'), c).ips[0]!.address, '10.244.1.3/24', 'another interface is another attachment');
});

t.test('reservations written before host-local recorded the interface still count', async (t) => {
  // Upstream's pre-0.7 files hold the container id alone; they match that container on any interface.
  const dir = dataDir(t);
  const c = conf(dir, '10.244.1.0/29');
  invocation().status(c);
  writeFileSync(join(dir, 'cbr0', '10.244.1.2'), 'legacy');
  t.equal(invocation().add(inv('a'), c).ips[0]!.address, '10.244.1.3/29', 'the legacy address is taken');
  t.doesNotThrow(() => invocation().check(inv('legacy'), c, ['10.244.1.2']));
  t.same(invocation().gc(c, [{ containerID: 'legacy', ifname: 'eth0' }, { containerID: 'a', ifname: 'eth0' }]), [], 'GC keeps it while its container is valid');
  invocation().del(inv('legacy'), c);
  t.notOk(existsSync(join(dir, 'cbr0', '10.244.1.2')), 'DEL by container id releases it');
});

t.test('GC releases unlisted attachments and leaves the bookkeeping alone', async (t) => {
  const dir = dataDir(t);
  const c = conf(dir, '10.244.1.0/24');
  for (const id of ['a', 'b']) invocation().add(inv(id), c);
  t.same(invocation().gc(c, [{ containerID: 'a', ifname: 'eth0' }]), ['10.244.1.3']);
  t.same(readdirSync(join(dir, 'cbr0')).sort(), ['10.244.1.2', 'last_reserved_ip.0']);
  const missing = t.throws(() => invocation().check(inv('b'), c, ['10.244.1.3'])) as CniError;
  t.equal(missing.cniCode, CniErrorCode.UnknownContainer);
});

t.test('the lock: another live holder means try again later; a dead holder\'s lock is broken', async (t) => {
  const dir = dataDir(t);
  const c = conf(dir, '10.244.1.0/24');
  invocation().status(c);
  const lock = join(dir, 'cbr0', 'lock');
  writeFileSync(lock, '4242');
  const busy = new HostLocalIpam({ store: directoryStores({ lockTimeoutMs: 30, isAlive: () => true }) });
  const err = t.throws(() => busy.add(inv('a'), c)) as CniError;
  t.equal(err.cniCode, CniErrorCode.TryAgainLater);
  t.match(err.msg, `host-local: timed out waiting for the lock on ${join(dir, 'cbr0')}`);
  t.equal(readdirSync(join(dir, 'cbr0')).length, 1, 'nothing reserved while locked out');

  const recovered = new HostLocalIpam({ store: directoryStores({ lockTimeoutMs: 30, isAlive: () => false }) });
  t.equal(recovered.add(inv('a'), c).ips[0]!.address, '10.244.1.2/24');
  t.notOk(existsSync(lock));
});

t.test('the store is a directory per network under dataDir', async (t) => {
  const dir = dataDir(t);
  const store = new DirectoryStore(dir, 'other');
  t.equal(store.dir, join(dir, 'other'));
  t.ok(store.reserve({ containerId: 'x', ifName: 'eth0' }, '10.0.0.5', 0));
  t.notOk(store.reserve({ containerId: 'y', ifName: 'eth0' }, '10.0.0.5', 0), 'held by another attachment');
  t.ok(store.reserve({ containerId: 'x', ifName: 'eth0' }, '10.0.0.5', 0), 'the same attachment may reserve it again');
  t.same(store.entries(), [['10.0.0.5', { containerId: 'x', ifName: 'eth0' }]]);
  t.equal(store.lastReserved(0), '10.0.0.5');
});
