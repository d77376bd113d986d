/**
 * Node IPAM: a podCIDR per node, carved from the cluster CIDR at the node mask size, as
 * kube-controller-manager's range allocator (`--allocate-node-cidrs`, cidrset) does: the next
 * free block after the last one handed out, wrapping around; a Node that brings its own
 * podCIDR (a topology or snapshot) keeps it and the block is marked used.
 *
 * podnet assigns the block when the Node is created, inside the same admission chain as every
 * other write, rather than moments later as the real controller does: so a cluster CIDR with no
 * block left is a clear error on the apply that asked for the node, and changes nothing.
 */

import { IpamExhaustedError, InvalidObjectError, field } from '../core/errors.js';
import { mustParseCIDR, parseCIDR, subnet, type CIDR } from '../core/ipnet.js';
import type { ClusterSpec } from '../api/cluster.js';
import type { AdmissionContext, AdmissionPlugin, ObjectStore } from '../apiserver/store.js';
import { requireKind } from '../api/scheme.js';
import type { KubeObject } from '../api/meta.js';

const NODE = requireKind('v1', 'Node');

/** The range allocator for one family's cluster CIDR. */
class CidrSet {
  readonly cluster: CIDR;
  readonly maskSize: number;
  readonly count: bigint;
  #used = new Set<bigint>();
  #next = 0n;

  constructor(cluster: CIDR, maskSize: number) {
    this.cluster = cluster;
    this.maskSize = maskSize;
    this.count = 1n << BigInt(maskSize - cluster.prefix);
  }

  /** Index of a block in the cluster CIDR, if it is one of its blocks. */
  indexOf(cidr: CIDR): bigint | undefined {
    if (cidr.family !== this.cluster.family || cidr.prefix !== this.maskSize) return undefined;
    const offset = cidr.base - this.cluster.base;
    if (offset < 0n || offset >= this.cluster.size) return undefined;
    return offset >> BigInt(cidr.bits - this.maskSize);
  }

  occupy(cidr: CIDR): void {
    const i = this.indexOf(cidr);
    if (i !== undefined) this.#used.add(i);
  }

  release(cidr: CIDR): void {
    const i = this.indexOf(cidr);
    if (i !== undefined) this.#used.delete(i);
  }

  allocateNext(): CIDR | undefined {
    for (let n = 0n; n < this.count; n++) {
      const i = (this.#next + n) % this.count;
      if (!this.#used.has(i)) {
        this.#used.add(i);
        this.#next = (i + 1n) % this.count;
        return subnet(this.cluster, this.maskSize, i);
      }
    }
    return undefined;
  }

  reset(): void {
    this.#used.clear();
    this.#next = 0n;
  }
}

/** Creates the node IPAM admission plugin for a cluster. */
export function createNodeIpam(cluster: ClusterSpec): AdmissionPlugin {
  const sets = [new CidrSet(mustParseCIDR(cluster.network.podSubnet), cluster.network.nodeCIDRMaskSize)];
  if (cluster.network.podSubnetV6) {
    sets.push(new CidrSet(mustParseCIDR(cluster.network.podSubnetV6), cluster.network.nodeCIDRMaskSizeV6 ?? 64));
  }
  const cidrsOf = (obj: Readonly<KubeObject>): string[] => {
    const spec = obj.spec as { podCIDR?: string; podCIDRs?: string[] } | undefined;
    return spec?.podCIDRs?.length ? spec.podCIDRs : spec?.podCIDR ? [spec.podCIDR] : [];
  };

  return {
    name: 'node-ipam',
    admit(ctx: AdmissionContext) {
      if (ctx.info !== NODE || ctx.op !== 'CREATE') return;
      const node = ctx.object;
      const given = cidrsOf(node);
      node.spec ??= {};
      if (given.length) {
        const errors = given.flatMap((c, i) => (parseCIDR(c) ? [] : [field.invalid(`spec.podCIDRs[${i}]`, c, 'must be a valid CIDR')]));
        if (errors.length) throw new InvalidObjectError({ kind: 'Node', name: node.metadata.name }, errors);
        node.spec.podCIDR = given[0];
        node.spec.podCIDRs = given;
        return;
      }
      const allocated: string[] = [];
      for (const set of sets) {
        const cidr = set.allocateNext();
        if (!cidr) {
          throw new IpamExhaustedError(
            set.cluster.text,
            `/${set.maskSize} podCIDR (all ${set.count} blocks are taken; enlarge network.podSubnet or raise nodeCIDRMaskSize)`,
            { kind: 'Node', name: node.metadata.name },
          );
        }
        allocated.push(cidr.text);
      }
      node.spec.podCIDR = allocated[0];
      node.spec.podCIDRs = allocated;
    },
    committed(ctx: AdmissionContext) {
      if (ctx.info !== NODE) return;
      for (const text of cidrsOf(ctx.object)) {
        const cidr = parseCIDR(text);
        if (!cidr) continue;
        for (const set of sets) {
          if (ctx.op === 'DELETE') set.release(cidr);
          else set.occupy(cidr);
        }
      }
    },
    resync(store: ObjectStore) {
      for (const set of sets) set.reset();
      for (const node of store.select(NODE)) {
        for (const text of cidrsOf(node)) {
          const cidr = parseCIDR(text);
          if (cidr) for (const set of sets) set.occupy(cidr);
        }
      }
    },
  };
}
