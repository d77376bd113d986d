/**
 * Observability. The core never prints: it publishes on these `diagnostics_channel` channels and
 * the CLI, logs, traces and metrics subscribe (as undici's lib/core/diagnostics.js does).
 */

import diagnosticsChannel from 'node:diagnostics_channel';

/** Channel names, one per kind of event. */
export const CHANNELS = {
  /** A store write: `{ type: 'ADDED'|'MODIFIED'|'DELETED', object }`. */
  storeWrite: 'podnet:store:write',
  /** A controller reconciled something or failed to: `{ controller, key, error? }`. */
  controllerSync: 'podnet:controller:sync',
  /** A Kubernetes Event was recorded: `{ event }`. */
  event: 'podnet:event',
} as const;

/** The channels, ready to publish on. */
export const channels = {
  storeWrite: diagnosticsChannel.channel(CHANNELS.storeWrite),
  controllerSync: diagnosticsChannel.channel(CHANNELS.controllerSync),
  event: diagnosticsChannel.channel(CHANNELS.event),
};
