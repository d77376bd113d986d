/**
 * The summary `podnet up` prints once the cluster has converged: nodes with their addresses and
 * podCIDRs, pods with IP, node and phase, Services with type, cluster IP, ports and how many
 * endpoints back them.
 */

import type { Cluster } from '../cluster.js';
import type { EndpointSlice, Node, Pod, Service } from '../api/types.js';
import { WellKnown } from '../api/types.js';
import { formatColumns } from '../printers/printers.js';

function table(header: string[], rows: string[][]): string {
  return formatColumns([header, ...rows]);
}

/** Renders the summary of a running cluster. */
export function renderSummary(cluster: Cluster, startMs: number): string {
  const spec = cluster.spec;
  const nodes = cluster.list('nodes') as Node[];
  const pods = cluster.list('pods') as Pod[];
  const services = cluster.list('services') as Service[];
  const slices = cluster.list('endpointslices') as EndpointSlice[];
  const out: string[] = [];
  out.push(
    `podnet: cluster "${spec.name}" up in ${startMs}ms — ${nodes.length} node(s), ${spec.network.plugin}` +
      `${spec.network.backend ? `/${spec.network.backend}` : ''}, kube-proxy ${spec.kubeProxy.mode}, seed ${cluster.seed}\n`,
  );
  out.push(`pods ${spec.network.podSubnet} (/${spec.network.nodeCIDRMaskSize} per node), services ${spec.network.serviceSubnet}, DNS domain ${spec.dns.domain}\n`);
  out.push('\nNODES\n');
  out.push(
    table(
      ['NAME', 'ROLE', 'ZONE', 'INTERNAL-IP', 'POD-CIDR', 'STATUS'],
      nodes.map((n) => [
        n.metadata.name!,
        n.metadata.labels?.[WellKnown.controlPlaneRole] !== undefined ? 'control-plane' : 'worker',
        n.metadata.labels?.[WellKnown.zone] ?? '-',
        n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '-',
        n.spec.podCIDR ?? '<pending>',
        n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? 'Ready' : 'NotReady',
      ]),
    ),
  );
  out.push('\nPODS\n');
  out.push(
    pods.length
      ? table(
          ['NAMESPACE', 'NAME', 'IP', 'NODE', 'PHASE'],
          pods.map((p) => [p.metadata.namespace!, p.metadata.name!, p.status?.podIP ?? '<none>', p.spec.nodeName || '<none>', p.status?.phase ?? 'Pending']),
        )
      : '(none)\n',
  );
  out.push('\nSERVICES\n');
  out.push(
    table(
      ['NAMESPACE', 'NAME', 'TYPE', 'CLUSTER-IP', 'PORT(S)', 'ENDPOINTS'],
      services.map((s) => {
        const mine = slices.filter(
          (sl) => sl.metadata.namespace === s.metadata.namespace && sl.metadata.labels?.[WellKnown.serviceName] === s.metadata.name,
        );
        const ready = mine.flatMap((sl) => sl.endpoints ?? []).filter((e) => e.conditions?.ready !== false).length;
        const ports = (s.spec.ports ?? []).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');
        return [
          s.metadata.namespace!,
          s.metadata.name!,
          s.spec.type ?? 'ClusterIP',
          s.spec.type === 'ExternalName' ? s.spec.externalName ?? '' : s.spec.clusterIP ?? '<none>',
          ports || '<none>',
          s.spec.type === 'ExternalName' ? '-' : String(ready),
        ];
      }),
    ),
  );
  const access = cluster.hostAccess();
  if (access.length) {
    out.push('\nHOST ACCESS (curl these from this machine)\n');
    out.push(
      table(
        ['SERVICE', 'KIND', 'CLUSTER ADDRESS', 'HOST ADDRESS', 'ARRIVES AT'],
        access.map((e) => [e.service, e.kind, e.virtual, e.real, e.node]),
      ),
    );
  }
  return out.join('');
}
