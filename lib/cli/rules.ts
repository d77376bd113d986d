/**
 * `podnet rules NODE [--format iptables-save] [--counters] [-f FILE...]`: a node's netfilter rule
 * tables as the node's own tools print them — `iptables-save` (with `--counters`, `iptables-save
 * -c`: `[packets:bytes]` on chains and rules, where packets count the new flows that hit them and
 * bytes stay 0; lib/dataplane/netfilter.ts).
 *
 * With -f, one-shot: the topology is brought up, settled, printed and stopped. Without, the
 * running podnet found as `podnet get` finds it answers through its control endpoint
 * (`GET /apis/podnet.dev/v1alpha1/nodes/NAME/rules`; lib/apiserver/server/podnet.ts).
 */

import { Option, type Command } from 'commander';
import { PodnetError } from '../core/errors.js';
import { Cluster } from '../cluster.js';
import { loadTopologyFiles } from '../topology/load.js';
import { loadClientConfig } from '../kubeconfig/kubeconfig.js';
import { ApiError, RestClient } from '../client/rest.js';
import { PODNET_API_PREFIX, RULE_FORMATS, type RuleFormat, type RulesOptions } from '../apiserver/server/podnet.js';

interface RulesCommandOptions {
  format: RuleFormat;
  counters?: boolean;
  filename?: string[];
  seed?: number;
  kubeconfig?: string;
  context?: string;
  server?: string;
  token?: string;
  insecureSkipTlsVerify?: boolean;
}

/** Adds `rules` to the program; `out` prints, `env` is where $KUBECONFIG and $HOME are read. */
export function registerRulesCommand(program: Command, out: (s: string) => void, env: NodeJS.ProcessEnv | undefined, parseSeed: (v: string) => number): void {
  program
    .command('rules')
    .description("print a node's netfilter rule tables (chains, rules, counters) as the node's tools print them")
    .argument('<node>', 'node name')
    .addOption(new Option('--format <format>', 'output format').choices([...RULE_FORMATS]).default('iptables-save'))
    .option('--counters', 'include packet and byte counters (iptables-save -c); packets count new flows, bytes stay 0')
    .option('-f, --filename <file>', 'topology/manifest file to run one-shot (repeatable); without it, ask a running podnet', (v: string, prev: string[] = []) => [...prev, v])
    .option('--seed <n>', 'seed for allocation order and generated names (with -f)', parseSeed)
    .option('--kubeconfig <path>', 'kubeconfig of a running podnet (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('-s, --server <url>', 'address of the API server, e.g. https://127.0.0.1:6443')
    .option('--token <token>', 'bearer token for the API server')
    .option('--insecure-skip-tls-verify', 'do not check the server certificate')
    .action(async (node: string, opts: RulesCommandOptions) => {
      const options: RulesOptions = { format: opts.format, ...(opts.counters ? { counters: true } : {}) };
      out(opts.filename?.length ? await oneShot(opts, node, options) : await remote(opts, env, node, options));
    });
}

async function oneShot(opts: RulesCommandOptions, node: string, options: RulesOptions): Promise<string> {
  const cluster = await Cluster.fromTopology(loadTopologyFiles(opts.filename!), opts.seed === undefined ? {} : { seed: opts.seed });
  try {
    return cluster.rules(node, options);
  } finally {
    await cluster.stop();
  }
}

async function remote(opts: RulesCommandOptions, env: NodeJS.ProcessEnv | undefined, node: string, options: RulesOptions): Promise<string> {
  const config = loadClientConfig({
    ...(env ? { env } : {}),
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    ...(opts.server ? { server: opts.server } : {}),
    ...(opts.token ? { token: opts.token } : {}),
    ...(opts.context ? { context: opts.context } : {}),
    ...(opts.insecureSkipTlsVerify ? { insecureSkipTLSVerify: true } : {}),
  });
  const client = new RestClient(config);
  const query = new URLSearchParams({ format: options.format, counters: String(!!options.counters) });
  try {
    return (await client.request<{ text: string }>('GET', `${PODNET_API_PREFIX}/nodes/${encodeURIComponent(node)}/rules?${query}`)).text;
  } catch (err) {
    if (err instanceof ApiError && err.message === 'the server could not find the requested resource') {
      throw new PodnetError('PODNET_API_ERROR', `${config.server} does not serve podnet's endpoint: is it a podnet up?`);
    }
    if (err instanceof ApiError) throw new PodnetError(err.status.code === 404 ? 'PODNET_NOT_FOUND' : 'PODNET_API_ERROR', err.message);
    throw err;
  }
}
