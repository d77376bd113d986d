/**
 * The columns `kubectl get` shows for each kind, as the apiserver's table convertor produces them
 * (k8s.io/kubernetes/pkg/printers/internalversion/printers.go, and the CRDs'
 * additionalPrinterColumns for Gateway API kinds). The result is a meta.k8s.io/v1 Table, so the
 * same code serves `podnet get` and the API server's Table responses; {@link renderTable}
 * prints it the way kubectl does.
 */

import type { KubeObject } from '../api/meta.js';
import type { KindInfo } from '../api/scheme.js';
import type { Deployment, EndpointSlice, Node, Pod, Service } from '../api/types.js';
import { WellKnown } from '../api/types.js';

/** A column of a meta.k8s.io/v1 Table. Priority 1 columns show only with `-o wide`. */
export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format: string;
  description: string;
  priority: number;
}

/** A meta.k8s.io/v1 Table. */
export interface Table {
  apiVersion: 'meta.k8s.io/v1';
  kind: 'Table';
  metadata: { resourceVersion?: string };
  columnDefinitions: TableColumn[];
  rows: { cells: (string | number)[]; object: unknown }[];
}

type Cell = string | number;
interface Printer {
  columns: [name: string, priority: number, type?: TableColumn['type']][];
  row(obj: KubeObject, now: number): Cell[];
}

/** kubectl's duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const years = Math.floor(hours / 24 / 365);
    const days = Math.floor(hours / 24) % 365;
    return days === 0 ? `${years}y` : `${years}y${days}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

function age(obj: KubeObject, now: number): string {
  const created = obj.metadata.creationTimestamp;
  return created ? humanDuration(now - Date.parse(created)) : '<unknown>';
}

function selectorString(sel: Record<string, string> | undefined): string {
  if (!sel || !Object.keys(sel).length) return '<none>';
  return Object.entries(sel)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function labelSelectorString(ls: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | undefined): string {
  if (!ls) return '<none>';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(ls.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) parts.push(`${k}=${v}`);
  for (const e of ls.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.length ? parts.join(',') : '<none>';
}

function containersAndImages(template: { spec?: { containers?: { name: string; image?: string }[] } } | undefined): [string, string] {
  const cs = template?.spec?.containers ?? [];
  return [cs.map((c) => c.name).join(','), cs.map((c) => c.image ?? '').join(',')];
}

type PrintedContainerStatus = {
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string }; running?: unknown; terminated?: { reason?: string; signal?: number; exitCode?: number } };
  lastState?: { terminated?: { finishedAt?: string } };
};

/**
 * The STATUS, READY and RESTARTS cells of a pod as kubectl's printPod computes them
 * (pkg/printers/internalversion/printers.go): init progress (`Init:0/1`, `Init:Error`,
 * `Init:CrashLoopBackOff`), the last container's waiting or terminated reason, `NotReady` /
 * `Running` for a Completed container next to running ones, `Terminating`, and restarts with
 * the time since the last one (`2 (15s ago)`).
 */
function podCells(pod: Pod, now: number): { reason: string; ready: number; restarts: string } {
  let reason: string = pod.status?.reason ?? pod.status?.phase ?? 'Pending';
  let restarts = 0;
  let ready = 0;
  let lastRestart = 0;
  const noteRestart = (cs: PrintedContainerStatus): void => {
    restarts += cs.restartCount ?? 0;
    const finished = cs.lastState?.terminated?.finishedAt;
    if (finished) lastRestart = Math.max(lastRestart, Date.parse(finished));
  };
  const initStatuses = (pod.status?.initContainerStatuses ?? []) as PrintedContainerStatus[];
  const initCount = pod.spec.initContainers?.length ?? 0;
  let initializing = false;
  for (const [i, cs] of initStatuses.entries()) {
    noteRestart(cs);
    const term = cs.state?.terminated;
    if (term && term.exitCode === 0) continue;
    if (term) reason = term.reason ? `Init:${term.reason}` : term.signal ? `Init:Signal:${term.signal}` : `Init:ExitCode:${term.exitCode}`;
    else if (cs.state?.waiting?.reason && cs.state.waiting.reason !== 'PodInitializing') reason = `Init:${cs.state.waiting.reason}`;
    else reason = `Init:${i}/${initCount}`;
    initializing = true;
    break;
  }
  const initialized = pod.status?.conditions?.some((c) => c.type === 'Initialized' && c.status === 'True');
  if (!initializing || initialized) {
    restarts = 0;
    lastRestart = 0;
    let hasRunning = false;
    const statuses = (pod.status?.containerStatuses ?? []) as PrintedContainerStatus[];
    for (const cs of [...statuses].reverse()) {
      noteRestart(cs);
      const term = cs.state?.terminated;
      if (cs.state?.waiting?.reason) reason = cs.state.waiting.reason;
      else if (term?.reason) reason = term.reason;
      else if (term) reason = term.signal ? `Signal:${term.signal}` : `ExitCode:${term.exitCode}`;
      else if (cs.ready && cs.state?.running) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed' && hasRunning) reason = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? 'Running' : 'NotReady';
  }
  const terminal = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
  if (pod.metadata.deletionTimestamp && pod.status?.reason === 'NodeLost') reason = 'Unknown';
  else if (pod.metadata.deletionTimestamp && !terminal) reason = 'Terminating';
  const restartsCell = restarts !== 0 && lastRestart ? `${restarts} (${humanDuration(now - lastRestart)} ago)` : String(restarts);
  return { reason, ready, restarts: restartsCell };
}

function servicePorts(svc: Service): string {
  const ports = svc.spec.ports ?? [];
  if (!ports.length) return '<none>';
  return ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');
}

function serviceExternalIP(svc: Service): string {
  const type = svc.spec.type ?? 'ClusterIP';
  const external = svc.spec.externalIPs ?? [];
  if (type === 'ExternalName') return svc.spec.externalName ?? '<none>';
  if (type === 'LoadBalancer') {
    const ingress = (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname ?? '').filter(Boolean);
    const all = [...ingress, ...external];
    return all.length ? all.join(',') : '<pending>';
  }
  return external.length ? external.join(',') : '<none>';
}

/**
 * podnet's own column (`podnet get svc -o wide`; the API server's Table stays kubectl's): which host `address:port` stands for which node `IP:nodePort` or load-balancer
 * `IP:port` (the Service's `podnet.dev/host-addresses`), as `virtual=real` pairs.
 */
export function serviceHostAddresses(svc: Service): string {
  const raw = svc.metadata.annotations?.[WellKnown.hostAddresses];
  if (!raw) return '<none>';
  try {
    const map = JSON.parse(raw) as Record<string, string>;
    const pairs = Object.entries(map).map(([virtual, real]) => `${virtual.replace(/\/TCP$/, '')}=${real}`);
    return pairs.length ? pairs.join(',') : '<none>';
  } catch {
    return '<invalid>';
  }
}

function nodeStatus(node: Node): string {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const parts = [ready?.status === 'True' ? 'Ready' : ready?.status === 'False' ? 'NotReady' : 'Unknown'];
  if (node.spec?.unschedulable) parts.push('SchedulingDisabled');
  return parts.join(',');
}

function nodeRoles(node: Node): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(node.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  return roles.size ? [...roles].sort().join(',') : '<none>';
}

function nodeAddress(node: Node, type: string): string {
  return node.status?.addresses?.find((a) => a.type === type)?.address ?? '<none>';
}

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

const PRINTERS: Record<string, Printer> = {
  Pod: {
    columns: [
      ['Name', 0],
      ['Ready', 0],
      ['Status', 0],
      ['Restarts', 0],
      ['Age', 0],
      ['IP', 1],
      ['Node', 1],
      ['Nominated Node', 1],
      ['Readiness Gates', 1],
    ],
    row(obj, now) {
      const pod = obj as Pod;
      const cells = podCells(pod, now);
      const gates = (pod.spec.readinessGates as { conditionType: string }[] | undefined) ?? [];
      const gatesCell = gates.length
        ? `${gates.filter((g) => pod.status?.conditions?.some((c) => c.type === g.conditionType && c.status === 'True')).length}/${gates.length}`
        : '<none>';
      return [
        pod.metadata.name!,
        `${cells.ready}/${pod.spec.containers.length}`,
        cells.reason,
        cells.restarts,
        age(pod, now),
        pod.status?.podIP ?? '<none>',
        pod.spec.nodeName || '<none>',
        (pod.status?.nominatedNodeName as string | undefined) ?? '<none>',
        gatesCell,
      ];
    },
  },
  Service: {
    columns: [
      ['Name', 0],
      ['Type', 0],
      ['Cluster-IP', 0],
      ['External-IP', 0],
      ['Port(s)', 0],
      ['Age', 0],
      ['Selector', 1],
    ],
    row(obj, now) {
      const svc = obj as Service;
      return [
        svc.metadata.name!,
        svc.spec.type ?? 'ClusterIP',
        svc.spec.type === 'ExternalName' ? '<none>' : svc.spec.clusterIP || '<none>',
        serviceExternalIP(svc),
        servicePorts(svc),
        age(svc, now),
        selectorString(svc.spec.selector),
      ];
    },
  },
  EndpointSlice: {
    columns: [
      ['Name', 0],
      ['AddressType', 0],
      ['Ports', 0],
      ['Endpoints', 0],
      ['Age', 0],
    ],
    row(obj, now) {
      const slice = obj as EndpointSlice;
      const ports = (slice.ports ?? []).map((p) => (p.port === undefined ? '<unset>' : String(p.port)));
      const addresses = (slice.endpoints ?? []).flatMap((e) => e.addresses);
      let endpoints = '<unset>';
      if (addresses.length) {
        endpoints = addresses.slice(0, 3).join(',');
        if (addresses.length > 3) endpoints += ` + ${addresses.length - 3} more...`;
      }
      return [slice.metadata.name!, slice.addressType, ports.length ? ports.join(',') : '<unset>', endpoints, age(slice, now)];
    },
  },
  Node: {
    columns: [
      ['Name', 0],
      ['Status', 0],
      ['Roles', 0],
      ['Age', 0],
      ['Version', 0],
      ['Internal-IP', 1],
      ['External-IP', 1],
      ['OS-Image', 1],
      ['Kernel-Version', 1],
      ['Container-Runtime', 1],
    ],
    row(obj, now) {
      const node = obj as Node;
      const info = node.status?.nodeInfo ?? {};
      return [
        node.metadata.name!,
        nodeStatus(node),
        nodeRoles(node),
        age(node, now),
        info.kubeletVersion ?? '',
        nodeAddress(node, 'InternalIP'),
        nodeAddress(node, 'ExternalIP'),
        info.osImage ?? '<unknown>',
        info.kernelVersion ?? '<unknown>',
        info.containerRuntimeVersion ?? '<unknown>',
      ];
    },
  },
  Namespace: {
    columns: [
      ['Name', 0],
      ['Status', 0],
      ['Age', 0],
    ],
    row: (obj, now) => [obj.metadata.name!, obj.status?.phase ?? 'Active', age(obj, now)],
  },
  Deployment: {
    columns: [
      ['Name', 0],
      ['Ready', 0],
      ['Up-to-date', 0],
      ['Available', 0],
      ['Age', 0],
      ['Containers', 1],
      ['Images', 1],
      ['Selector', 1],
    ],
    row(obj, now) {
      const d = obj as Deployment;
      const s = d.status ?? {};
      const [containers, images] = containersAndImages(d.spec.template);
      return [
        d.metadata.name!,
        `${num(s.readyReplicas)}/${d.spec.replicas ?? 1}`,
        num(s.updatedReplicas),
        num(s.availableReplicas),
        age(d, now),
        containers,
        images,
        labelSelectorString(d.spec.selector),
      ];
    },
  },
  ReplicaSet: {
    columns: [
      ['Name', 0],
      ['Desired', 0],
      ['Current', 0],
      ['Ready', 0],
      ['Age', 0],
      ['Containers', 1],
      ['Images', 1],
      ['Selector', 1],
    ],
    row(obj, now) {
      const s = obj.status ?? {};
      const [containers, images] = containersAndImages(obj.spec?.template);
      return [obj.metadata.name!, obj.spec?.replicas ?? 1, num(s.replicas), num(s.readyReplicas), age(obj, now), containers, images, labelSelectorString(obj.spec?.selector)];
    },
  },
  StatefulSet: {
    columns: [
      ['Name', 0],
      ['Ready', 0],
      ['Age', 0],
      ['Containers', 1],
      ['Images', 1],
    ],
    row(obj, now) {
      const [containers, images] = containersAndImages(obj.spec?.template);
      return [obj.metadata.name!, `${num(obj.status?.readyReplicas)}/${obj.spec?.replicas ?? 1}`, age(obj, now), containers, images];
    },
  },
  DaemonSet: {
    columns: [
      ['Name', 0],
      ['Desired', 0],
      ['Current', 0],
      ['Ready', 0],
      ['Up-to-date', 0],
      ['Available', 0],
      ['Node Selector', 0],
      ['Age', 0],
      ['Containers', 1],
      ['Images', 1],
      ['Selector', 1],
    ],
    row(obj, now) {
      const s = obj.status ?? {};
      const [containers, images] = containersAndImages(obj.spec?.template);
      return [
        obj.metadata.name!,
        num(s.desiredNumberScheduled),
        num(s.currentNumberScheduled),
        num(s.numberReady),
        num(s.updatedNumberScheduled),
        num(s.numberAvailable),
        selectorString(obj.spec?.template?.spec?.nodeSelector),
        age(obj, now),
        containers,
        images,
        labelSelectorString(obj.spec?.selector),
      ];
    },
  },
  NetworkPolicy: {
    columns: [
      ['Name', 0],
      ['Pod-Selector', 0],
      ['Age', 0],
    ],
    row: (obj, now) => [obj.metadata.name!, labelSelectorString(obj.spec?.podSelector).replace('<none>', '<none>'), age(obj, now)],
  },
  Ingress: {
    columns: [
      ['Name', 0],
      ['Class', 0],
      ['Hosts', 0],
      ['Address', 0],
      ['Ports', 0],
      ['Age', 0],
    ],
    row(obj, now) {
      const rules = (obj.spec?.rules ?? []) as { host?: string }[];
      const hosts = rules.map((r) => r.host).filter(Boolean) as string[];
      let hostCell = hosts.length ? hosts.slice(0, 4).join(',') : '*';
      if (hosts.length > 4) hostCell += ` + ${hosts.length - 4} more...`;
      const addresses = ((obj.status?.loadBalancer?.ingress ?? []) as { ip?: string; hostname?: string }[]).map((i) => i.ip ?? i.hostname);
      const ports = obj.spec?.tls?.length ? '80, 443' : '80';
      return [obj.metadata.name!, obj.spec?.ingressClassName ?? '<none>', hostCell, addresses.join(','), ports, age(obj, now)];
    },
  },
  IngressClass: {
    columns: [
      ['Name', 0],
      ['Controller', 0],
      ['Parameters', 0],
      ['Age', 0],
    ],
    row(obj, now) {
      const p = obj.spec?.parameters;
      const params = p ? `${p.kind}/${p.name}` : '<none>';
      return [obj.metadata.name!, obj.spec?.controller ?? '', params, age(obj, now)];
    },
  },
  Event: {
    columns: [
      ['Last Seen', 0],
      ['Type', 0],
      ['Reason', 0],
      ['Object', 0],
      ['Message', 0],
    ],
    row(obj, now) {
      const last = obj.lastTimestamp ?? obj.eventTime ?? obj.metadata.creationTimestamp;
      const inv = obj.involvedObject ?? {};
      let seen = last ? humanDuration(now - Date.parse(last)) : '<unknown>';
      if ((obj.count ?? 1) > 1 && obj.firstTimestamp) seen += ` (x${obj.count} over ${humanDuration(now - Date.parse(obj.firstTimestamp))})`;
      return [seen, obj.type ?? '', obj.reason ?? '', `${String(inv.kind ?? '').toLowerCase()}/${inv.name ?? ''}`, String(obj.message ?? '').trim()];
    },
  },
  ConfigMap: {
    columns: [
      ['Name', 0],
      ['Data', 0],
      ['Age', 0],
    ],
    row: (obj, now) => [obj.metadata.name!, Object.keys(obj.data ?? {}).length + Object.keys(obj.binaryData ?? {}).length, age(obj, now)],
  },
  Secret: {
    columns: [
      ['Name', 0],
      ['Type', 0],
      ['Data', 0],
      ['Age', 0],
    ],
    row: (obj, now) => [obj.metadata.name!, obj.type ?? 'Opaque', Object.keys(obj.data ?? {}).length, age(obj, now)],
  },
  GatewayClass: {
    columns: [
      ['Name', 0],
      ['Controller', 0],
      ['Accepted', 0],
      ['Age', 0],
      ['Description', 1],
    ],
    row: (obj, now) => [obj.metadata.name!, obj.spec?.controllerName ?? '', conditionStatus(obj, 'Accepted'), age(obj, now), obj.spec?.description ?? ''],
  },
  Gateway: {
    columns: [
      ['Name', 0],
      ['Class', 0],
      ['Address', 0],
      ['Programmed', 0],
      ['Age', 0],
    ],
    row(obj, now) {
      const address = ((obj.status?.addresses ?? []) as { value: string }[]).map((a) => a.value)[0] ?? '';
      return [obj.metadata.name!, obj.spec?.gatewayClassName ?? '', address, conditionStatus(obj, 'Programmed'), age(obj, now)];
    },
  },
  HTTPRoute: {
    columns: [
      ['Name', 0],
      ['Hostnames', 0],
      ['Age', 0],
    ],
    row: (obj, now) => [obj.metadata.name!, JSON.stringify(obj.spec?.hostnames ?? []).replace(/^\[\]$/, ''), age(obj, now)],
  },
};

function conditionStatus(obj: KubeObject, type: string): string {
  return ((obj.status?.conditions ?? []) as { type: string; status: string }[]).find((c) => c.type === type)?.status ?? 'Unknown';
}

const DEFAULT_PRINTER: Printer = {
  columns: [
    ['Name', 0],
    ['Age', 0],
  ],
  row: (obj, now) => [obj.metadata.name!, age(obj, now)],
};

function printerFor(info: KindInfo): Printer {
  // Calico's NetworkPolicy shares the name with networking.k8s.io's; CRDs get NAME AGE.
  if (info.group === 'projectcalico.org' || info.group === 'gateway.networking.k8s.io' && info.kind === 'ReferenceGrant') return DEFAULT_PRINTER;
  return PRINTERS[info.kind] ?? DEFAULT_PRINTER;
}

/** Builds the Table kubectl would be sent for these objects. */
export function toTable(info: KindInfo, objects: KubeObject[], now: number, options: { includeObject?: 'None' | 'Object' | 'Metadata' } = {}): Table {
  const printer = printerFor(info);
  const include = options.includeObject ?? 'Metadata';
  return {
    apiVersion: 'meta.k8s.io/v1',
    kind: 'Table',
    metadata: {},
    columnDefinitions: printer.columns.map(([name, priority, type]) => ({
      name,
      type: type ?? (name === 'Desired' || name === 'Current' ? 'integer' : 'string'),
      format: name === 'Name' ? 'name' : '',
      description: '',
      priority,
    })),
    rows: objects.map((obj) => ({
      cells: printer.row(obj, now),
      object:
        include === 'None'
          ? null
          : include === 'Object'
            ? obj
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata },
    })),
  };
}

/** Options for rendering a table as text. */
export interface RenderOptions {
  wide?: boolean;
  /** Adds a NAMESPACE column first (`-A`). */
  withNamespace?: boolean;
  showLabels?: boolean;
  noHeaders?: boolean;
}

/**
 * Renders a Table as kubectl does: upper-case headers, columns padded to the widest cell plus
 * three spaces (tabwriter), the last column unpadded.
 */
export function renderTable(table: Table, options: RenderOptions = {}): string {
  const cols = table.columnDefinitions.map((c, i) => ({ c, i })).filter(({ c }) => options.wide || c.priority === 0);
  const header = cols.map(({ c }) => c.name.toUpperCase());
  const rows = table.rows.map((r) => {
    const meta = (r.object as { metadata?: { namespace?: string; labels?: Record<string, string> } } | null)?.metadata;
    const cells = cols.map(({ i }) => String(r.cells[i]));
    if (options.withNamespace) cells.unshift(meta?.namespace ?? '');
    if (options.showLabels) cells.push(selectorString(meta?.labels).replace('<none>', '<none>'));
    return cells;
  });
  if (options.withNamespace) header.unshift('NAMESPACE');
  if (options.showLabels) header.push('LABELS');
  return formatColumns(options.noHeaders ? rows : [header, ...rows]);
}

/** Lines of cells in columns as kubectl's tabwriter writes them: widest cell plus three spaces. */
export function formatColumns(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}
