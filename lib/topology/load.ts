/**
 * Describe, before realize: reads topology files into plain data — one cluster description and
 * the Kubernetes objects that go into it, each object remembering its file and line.
 */

import { TopologyError, field } from '../core/errors.js';
import { CLUSTER_DEFAULTS, type ClusterSpec } from '../api/cluster.js';
import { WellKnown } from '../api/types.js';
import { defaultClusterSpec, isTopologyDocument, parseClusterDocument } from './cluster.js';
import { parseManifests, readManifestFile, type SourcedObject } from './manifests.js';

/** A topology: the cluster and the objects to create in it. */
export interface Topology {
  cluster: ClusterSpec;
  objects: SourcedObject[];
  /** Whether a Cluster (or kind config) document was found, rather than the default used. */
  explicitCluster: boolean;
}

/** Reads topology files. At most one Cluster document may appear across them. */
export function loadTopologyFiles(files: string[]): Topology {
  return splitTopology(files.flatMap((file) => readManifestFile(file)));
}

/** Parses topology text (for tests and the library API). */
export function parseTopology(text: string, file = '<input>'): Topology {
  return splitTopology(parseManifests(text, file));
}

/** Separates the topology document from ordinary objects and parses it. */
export function splitTopology(all: SourcedObject[]): Topology {
  const clusterDocs = all.filter((o) => isTopologyDocument(o.object));
  const objects = all.filter((o) => !isTopologyDocument(o.object));
  if (clusterDocs.length > 1) {
    const second = clusterDocs[1]!;
    throw new TopologyError(
      [field.forbidden('kind', `only one Cluster document is allowed; the first is at ${clusterDocs[0]!.source.file}:${clusterDocs[0]!.source.line}`)],
      second.source,
    );
  }
  const doc = clusterDocs[0];
  const cluster = doc ? parseClusterDocument(doc.object, doc.source) : defaultClusterSpec();
  adoptSnapshotNodes(cluster, objects);
  return { cluster, objects, explicitCluster: !!doc };
}

/**
 * Node objects among the manifests (a snapshot) describe the cluster's nodes as they really
 * are: their InternalIP and podCIDR win over the topology's defaults, and a Node the topology
 * does not name joins the cluster as a node of its own (with its role from the node-role label).
 */
export function adoptSnapshotNodes(cluster: ClusterSpec, objects: SourcedObject[]): void {
  for (const { object } of objects) {
    if (object.kind !== 'Node' || object.apiVersion !== 'v1' || !object.metadata?.name) continue;
    const address = (object.status?.addresses as { type: string; address: string }[] | undefined)?.find((a) => a.type === 'InternalIP')?.address;
    const podCIDR = object.spec?.podCIDR as string | undefined;
    const labels = object.metadata.labels ?? {};
    let node = cluster.nodes.find((n) => n.name === object.metadata.name);
    if (!node) {
      node = {
        name: object.metadata.name,
        role: labels[WellKnown.controlPlaneRole] !== undefined ? 'control-plane' : 'worker',
        labels: {},
        address: address ?? freeNodeAddress(cluster),
        taints: [],
      };
      if (labels[WellKnown.zone]) node.zone = labels[WellKnown.zone];
      cluster.nodes.push(node);
    }
    if (address) node.address = address;
    if (podCIDR) node.podCIDR = podCIDR;
  }
}

/** The first default node address (172.18.0.2, .3, ...) no node uses yet. */
function freeNodeAddress(cluster: ClusterSpec): string {
  const used = new Set(cluster.nodes.map((n) => n.address));
  for (let i = 2; i < 255; i++) {
    const candidate = `${CLUSTER_DEFAULTS.nodeAddressBase}${i}`;
    if (!used.has(candidate)) return candidate;
  }
  throw new TopologyError([field.invalid('nodes', cluster.nodes.length, 'no free default node address left in 172.18.0.0/24')]);
}
