import t from 'tap';
import { ObjectStore } from '../../lib/apiserver/store.js';
import { createNodeIpam } from '../../lib/controllers/nodeipam.js';
import { defaultClusterSpec } from '../../lib/topology/cluster.js';
import { IpamExhaustedError } from '../../lib/core/errors.js';
import { SeededRng } from '../../lib/core/rng.js';
import { requireKind } from '../../lib/api/scheme.js';

const NODE = requireKind('v1', 'Node');
const node = (name: string, podCIDR?: string) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name },
  spec: podCIDR ? { podCIDR } : {},
});

function setup(podSubnet = '10.244.0.0/16', mask = 24) {
  const spec = defaultClusterSpec();
  spec.network.podSubnet = podSubnet;
  spec.network.nodeCIDRMaskSize = mask;
  return new ObjectStore({ rng: new SeededRng(1) }).use(createNodeIpam(spec));
}

// kube-controller-manager --allocate-node-cidrs with the range allocator: kind's cluster gives
// its nodes 10.244.0.0/24, 10.244.1.0/24, 10.244.2.0/24 in order of registration.
t.test('node IPAM hands out /24 blocks in order, as on a kind cluster', async (t) => {
  const store = setup();
  t.equal(store.create(node('kind-control-plane')).spec.podCIDR, '10.244.0.0/24');
  t.equal(store.create(node('kind-worker')).spec.podCIDR, '10.244.1.0/24');
  t.same(store.create(node('kind-worker2')).spec.podCIDRs, ['10.244.2.0/24']);
});

t.test('a node that brings its podCIDR keeps it and the block is skipped', async (t) => {
  const store = setup();
  t.equal(store.create(node('a', '10.244.0.0/24')).spec.podCIDR, '10.244.0.0/24');
  t.equal(store.create(node('b')).spec.podCIDR, '10.244.1.0/24');
});

t.test('an exhausted cluster CIDR is a clear error and creates nothing', async (t) => {
  const store = setup('10.244.0.0/23', 24);
  store.create(node('a'));
  store.create(node('b'));
  const before = store.resourceVersion;
  const err = t.throws(() => store.create(node('c'))) as IpamExhaustedError;
  t.equal(err.code, 'PODNET_IPAM_EXHAUSTED');
  t.equal(err.cidr, '10.244.0.0/23');
  t.match(err.message, /Node c: no \/24 podCIDR .* left in 10\.244\.0\.0\/23/);
  t.equal(store.resourceVersion, before);
  t.equal(store.get(NODE, undefined, 'c'), undefined);
});

t.test('a deleted node frees its block; a rolled-back transaction frees what it took', async (t) => {
  const store = setup('10.244.0.0/23', 24);
  store.create(node('a'));
  store.delete(NODE, undefined, 'a');
  store.create(node('b'));
  t.throws(() =>
    store.transaction(() => {
      store.create(node('c'));
      store.create(node('d')); // exhausted
    }),
  );
  t.equal(store.create(node('e')).spec.podCIDR !== undefined, true, 'the block c took is free again');
});
