/**
 * `podnet rules NODE [--format iptables-save|nft|ipvs] [--counters] [-f FILE...]`: a node's rule
 * tables as the node's own tools print them — `iptables-save` (with `--counters`, `iptables-save
 * -c`: `[packets:bytes]` on chains and rules, where packets count the new flows that hit them and
 * bytes stay 0; lib/dataplane/netfilter.ts), `nft list ruleset` for the nftables mode, and
 * `ipvsadm -Ln` (`--stats` with counters) for the ipvs mode. Without --format, the format of the
 * node's kube-proxy mode.
 *
 * With -f, one-shot: the topology is brought up, settled, printed and stopped. Without, the
 * running podnet found as `podnet get` finds it answers through its control endpoint
 * (`GET /apis/podnet.dev/v1alpha1/nodes/NAME/rules`; lib/apiserver/server/podnet.ts).
 */

import { Option, type Command } from 'commander';
import { Cluster } from '../cluster.js';
import { loadTopologyFiles } from '../topology/load.js';
import { RestClient } from '../client/rest.js';
import { RULE_FORMATS, type RuleFormat, type RulesOptions } from '../apiserver/server/podnet.js';
import { podnetGet, remoteConfig, withRemoteOptions, type RemoteOptions } from './remote.js';

interface RulesCommandOptions extends RemoteOptions {
  format?: RuleFormat;
  counters?: boolean;
  filename?: string[];
  seed?: number;
}

/** Adds `rules` to the program; `out` prints, `env` is where $KUBECONFIG and $HOME are read. */
export function registerRulesCommand(program: Command, out: (s: string) => void, env: NodeJS.ProcessEnv | undefined, parseSeed: (v: string) => number): void {
  const cmd = program
    .command('rules')
    .description("print a node's rule tables (iptables-save, nft list ruleset or ipvsadm -Ln; default: the kube-proxy mode's) with counters on request")
    .argument('<node>', 'node name')
    .addOption(new Option('--format <format>', 'output format').choices([...RULE_FORMATS]))
    .option('--counters', 'include packet and byte counters (iptables-save -c); packets count new flows, bytes stay 0')
    .option('-f, --filename <file>', 'topology/manifest file to run one-shot (repeatable); without it, ask a running podnet', (v: string, prev: string[] = []) => [...prev, v])
    .option('--seed <n>', 'seed for allocation order and generated names (with -f)', parseSeed);
  withRemoteOptions(cmd).action(async (node: string, opts: RulesCommandOptions) => {
      const options: RulesOptions = { ...(opts.format ? { format: opts.format } : {}), ...(opts.counters ? { counters: true } : {}) };
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
  const client = new RestClient(remoteConfig(opts, env));
  const query = new URLSearchParams({ ...(options.format ? { format: options.format } : {}), counters: String(!!options.counters) });
  return (await podnetGet<{ text: string }>(client, `/nodes/${encodeURIComponent(node)}/rules?${query}`)).text;
}
