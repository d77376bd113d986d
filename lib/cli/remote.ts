/**
 * How the CLI's verbs find a running podnet, the way kubectl finds a cluster: `--kubeconfig`,
 * then `$KUBECONFIG`, then `~/.kube/config`; `--server`, `--token`, `--context` and
 * `--insecure-skip-tls-verify` override. One set of flags for every verb that talks to it.
 */

import type { Command } from 'commander';
import { loadClientConfig, type ClientConfig } from '../kubeconfig/kubeconfig.js';

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
