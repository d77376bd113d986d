/**
 * Printing objects the way kubectl prints them: tables, `-o yaml` (keys sorted, as
 * sigs.k8s.io/yaml writes them), `-o json`, `-o name`, and a `List` wrapper for several objects.
 */

import { stringify } from 'yaml';
import type { KubeObject } from '../api/meta.js';
import type { KindInfo } from '../api/scheme.js';
import { renderTable, serviceHostAddresses, toTable } from '../printers/printers.js';
import type { Service } from '../api/types.js';

/** Output formats `get` accepts. */
export const OUTPUT_FORMATS = ['wide', 'yaml', 'json', 'name'] as const;
/** One of {@link OUTPUT_FORMATS}, or undefined for the default table. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number] | undefined;

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

function asList(objects: KubeObject[], single: boolean): unknown {
  if (single && objects.length === 1) return objects[0];
  return { apiVersion: 'v1', items: objects, kind: 'List', metadata: { resourceVersion: '' } };
}

/** Renders objects in a format. */
export function formatObjects(
  info: KindInfo,
  objects: KubeObject[],
  format: OutputFormat,
  options: { now: number; single: boolean; allNamespaces?: boolean; showLabels?: boolean; noHeaders?: boolean },
): string {
  switch (format) {
    case 'yaml':
      return stringify(sortKeys(asList(objects, options.single)), { lineWidth: 0 });
    case 'json':
      return `${JSON.stringify(asList(objects, options.single), null, 4)}\n`;
    case 'name': {
      const prefix = info.group ? `${info.singular}.${info.group}` : info.singular;
      return objects.map((o) => `${prefix}/${o.metadata.name}\n`).join('');
    }
    default: {
      const table = toTable(info, objects, options.now);
      // podnet's column for Services: which host address:port stands for which node/LB ip:port.
      if (info.kind === 'Service' && info.group === '') {
        table.columnDefinitions.push({ name: 'Host-Addresses', type: 'string', format: '', description: 'podnet: host address:port for each node IP:nodePort and load-balancer IP:port (podnet.dev/host-addresses)', priority: 1 });
        table.rows.forEach((row, i) => row.cells.push(serviceHostAddresses(objects[i] as Service)));
      }
      return renderTable(table, {
        wide: format === 'wide',
        withNamespace: !!options.allNamespaces && info.namespaced,
        showLabels: !!options.showLabels,
        noHeaders: !!options.noHeaders,
      });
    }
  }
}
