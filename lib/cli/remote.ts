/**
 * How the CLI's verbs find a running podnet, the way kubectl finds a cluster: `--kubeconfig`,
 * then `$KUBECONFIG`, then `~/.kube/config`; `--server`, `--token`, `--context` and
 * `--insecure-skip-tls-verify` override. One set of flags for every verb that talks to it.
 */

import type { Command } from 'commander';
import { PodnetError } from '../core/errors.js';
import { loadClientConfig, type ClientConfig } from '../kubeconfig/kubeconfig.js';
import { ApiError, type RestClient } from '../client/rest.js';
import { PODNET_API_PREFIX } from '../apiserver/server/podnet.js';

/** The flags of a verb that talks to a running podnet. */
export interface RemoteOptions {
  kubeconfig?: string;
  context?: string;
  server?: string;
  token?: string;
  insecureSkipTlsVerify?: boolean;
}

/** Adds the remote flags to a command. */
export function withRemoteOptions(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <path>', 'kubeconfig of a running podnet (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('-s, --server <url>', 'address of the API server, e.g. https://127.0.0.1:6443')
    .option('--token <token>', 'bearer token for the API server')
    .option('--insecure-skip-tls-verify', 'do not check the server certificate');
}

/** The client configuration the flags (and `env`: KUBECONFIG, HOME) select. */
export function remoteConfig(opts: RemoteOptions, env?: NodeJS.ProcessEnv): ClientConfig {
  return loadClientConfig({
    ...(env ? { env } : {}),
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    ...(opts.server ? { server: opts.server } : {}),
    ...(opts.token ? { token: opts.token } : {}),
    ...(opts.context ? { context: opts.context } : {}),
    ...(opts.insecureSkipTlsVerify ? { insecureSkipTLSVerify: true } : {}),
  });
}

/**
 * GET on podnet's control endpoint (`/apis/podnet.dev/v1alpha1` + `path`): a server without it
 * is not a running podnet; a 404 there is an object that does not exist.
 */
export async function podnetGet<T>(client: RestClient, path: string): Promise<T> {
  try {
    return await client.request<T>('GET', `${PODNET_API_PREFIX}${path}`);
  } catch (err) {
    if (err instanceof ApiError && err.message === 'the server could not find the requested resource') {
      throw new PodnetError('PODNET_API_ERROR', `${client.config.server} does not serve podnet's endpoint: is it a podnet up?`);
    }
    if (err instanceof ApiError) throw new PodnetError(err.status.code === 404 ? 'PODNET_NOT_FOUND' : 'PODNET_API_ERROR', err.message);
    throw err;
  }
}
