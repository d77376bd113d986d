/**
 * `podnet node stop|start NAME`: powers an emulated node off or on in a running podnet, found the
 * way `podnet get` finds it (--kubeconfig, $KUBECONFIG, ~/.kube/config, or --server/--token),
 * through podnet's control endpoint on the API server (lib/apiserver/server/podnet.ts).
 *
 * Prints `node/NAME stopped` (or `node/NAME already stopped`), as kubectl reports `cordon`.
 * A node the cluster does not have fails with `error: nodes "NAME" not found` and exit code 1.
 */

import type { Command } from 'commander';
import { PodnetError } from '../core/errors.js';
import { ApiError, RestClient } from '../client/rest.js';
import { PODNET_API_PREFIX } from '../apiserver/server/podnet.js';
import { remoteConfig, withRemoteOptions, type RemoteOptions } from './remote.js';


interface NodePowerAnswer {
  metadata: { name: string };
  status: { state: 'running' | 'stopped'; changed: boolean };
}

/** Adds `node stop` and `node start` to the program; `out` prints their result. */
export function registerNodeCommand(program: Command, out: (s: string) => void): void {
  const node = program.command('node').description('power emulated nodes off and on in a running podnet');
  for (const action of ['stop', 'start'] as const) {
    const cmd = node
      .command(action)
      .description(
        action === 'stop'
          ? 'power a node off: its pods stop answering, it goes NotReady after the grace period, and its pods are evicted after the eviction timeout'
          : 'power a node on again: its kubelet runs the pods still bound to it and it goes Ready',
      )
      .argument('<name>', 'node name');
    withRemoteOptions(cmd).action(async (name: string, opts: RemoteOptions) => {
      const answer = await power(opts, name, action);
      const done = answer.status.state === 'stopped' ? 'stopped' : action === 'start' ? 'started' : 'running';
      out(answer.status.changed ? `node/${answer.metadata.name} ${done}\n` : `node/${answer.metadata.name} already ${answer.status.state}\n`);
    });
  }
}


async function power(opts: RemoteOptions, name: string, action: 'stop' | 'start'): Promise<NodePowerAnswer> {
  const config = remoteConfig(opts);
  const client = new RestClient(config);
  try {
    return await client.request<NodePowerAnswer>('POST', `${PODNET_API_PREFIX}/nodes/${encodeURIComponent(name)}/${action}`);
  } catch (err) {
    if (err instanceof ApiError && err.status.code === 404) {
      // The path itself is unknown: an API server that is not podnet's.
      if (err.message === 'the server could not find the requested resource') {
        throw new PodnetError('PODNET_API_ERROR', `${config.server} does not serve podnet's node control: is it a podnet up?`);
      }
      // kubectl exits 1 for an object that does not exist; so does this verb.
      throw new PodnetError('PODNET_NODE_NOT_FOUND', err.message);
    }
    throw err;
  }
}
