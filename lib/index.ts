/**
 * podnet's public API.
 *
 * ```ts
 * import { Cluster } from 'podnet';
 * const cluster = await Cluster.fromFiles(['topologies/quickstart.yaml'], { seed: 1 });
 * cluster.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } }]);
 * await cluster.settle();
 * console.log(cluster.list('pods', { labelSelector: 'app=web' }));
 * await cluster.stop();
 * ```
 */

export { Cluster, SYSTEM_NAMESPACES, type ApplyOptions, type ApplyResult, type ClusterOptions, type ClusterState } from './cluster.js';
export * from './core/errors.js';
export { CHANNELS } from './core/diagnostics.js';
export { ManualClock, systemClock, type Clock } from './core/clock.js';
export { SeededRng, type Rng } from './core/rng.js';
export type { KubeObject, ObjectMeta, LabelSelector, OwnerReference } from './api/meta.js';
export type * from './api/types.js';
export { KINDS, type KindInfo } from './api/scheme.js';
export { CLUSTER_DEFAULTS, KUBERNETES_VERSION, type ClusterSpec, type NodeSpec, type LinkSpec, type NetworkSpec } from './api/cluster.js';
export { ObjectStore, type WatchEvent, type WatchEventType, type ListOptions, type WatchOptions, type DeleteOptions, type AdmissionPlugin } from './apiserver/store.js';
export { loadTopologyFiles, parseTopology, type Topology } from './topology/load.js';
export { parseClusterDocument, CLUSTER_API_VERSION, KIND_API_VERSION } from './topology/cluster.js';
export { parseManifests, readManifestFile, type SourcedObject } from './topology/manifests.js';
export { parseSelector, selectorFromLabelSelector } from './apimachinery/labels.js';
export { toTable, renderTable, type Table } from './printers/printers.js';
