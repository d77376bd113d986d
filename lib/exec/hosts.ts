/**
 * The pod's /etc/hosts, as the kubelet writes it (pkg/kubelet/kubelet_pods.go,
 * `managedHostsFileContent` and `hostsEntriesFromHostAliases`): a header, the localhost lines,
 * one line per pod IP naming the pod's hostname (and first its FQDN when the pod has a
 * subdomain), then a section with the pod's `hostAliases`, one line per entry. A hostNetwork pod
 * gets the node's file instead (podnet's nodes have the localhost lines only).
 *
 * And the lookup a libc does in it before asking DNS (`files` before `dns` in nsswitch.conf;
 * musl always reads it first): the first line naming the host, case-insensitively.
 */

import { isIP } from 'node:net';

/** The kubelet's header line. */
const MANAGED_HEADER = '# Kubernetes-managed hosts file.\n';

const LOCALHOST_LINES =
  '127.0.0.1\tlocalhost\n' + '::1\tlocalhost ip6-localhost ip6-loopback\n' + 'fe00::0\tip6-localnet\n' + 'fe00::0\tip6-mcastprefix\n' + 'fe00::1\tip6-allnodes\n' + 'fe00::2\tip6-allrouters\n';

/** What the kubelet builds the file from. */
export interface HostsFileInput {
  /** The pod's IPs. */
  podIPs: readonly string[];
  hostname: string;
  /** `<subdomain>.<namespace>.svc.<cluster domain>` when the pod has a subdomain. */
  hostDomain?: string | undefined;
  hostAliases?: readonly { ip?: string; hostnames?: readonly string[] }[] | undefined;
  /** A hostNetwork pod sees the node's file. */
  hostNetwork?: boolean | undefined;
}

/** The pod's /etc/hosts. */
export function etcHosts(input: HostsFileInput): string {
  if (input.hostNetwork) return `${LOCALHOST_LINES}`;
  let text = MANAGED_HEADER + LOCALHOST_LINES;
  for (const ip of input.podIPs) {
    text += input.hostDomain ? `${ip}\t${input.hostname}.${input.hostDomain}\t${input.hostname}\n` : `${ip}\t${input.hostname}\n`;
  }
  const aliases = input.hostAliases ?? [];
  if (aliases.length > 0) {
    text += '\n# Entries added by HostAliases.\n';
    for (const a of aliases) text += `${a.ip ?? ''}\t${(a.hostnames ?? []).join('\t')}\n`;
  }
  return text;
}

/** One parsed line of a hosts file. */
export interface HostsEntry {
  address: string;
  names: string[];
}

/** Parses a hosts file (comments after `#`, fields separated by blanks; bad addresses skipped). */
export function parseHosts(text: string): HostsEntry[] {
  const entries: HostsEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [address, ...names] = line.split(/\s+/);
    if (!address || !isIP(address) || names.length === 0) continue;
    entries.push({ address, names });
  }
  return entries;
}

/**
 * The addresses a hosts file gives a name, in file order (IPv4 first when `family` is 4, only
 * IPv6 when 6). A trailing dot is ignored, and names compare case-insensitively, as glibc's and
 * musl's `files` lookups do.
 */
export function lookupHosts(text: string, name: string, family: 4 | 6 | 0 = 0): string[] {
  const want = name.replace(/\.$/, '').toLowerCase();
  const found: string[] = [];
  for (const e of parseHosts(text)) {
    if (!e.names.some((n) => n.toLowerCase() === want)) continue;
    const f = isIP(e.address);
    if (family !== 0 && f !== family) continue;
    if (!found.includes(e.address)) found.push(e.address);
  }
  return found;
}
