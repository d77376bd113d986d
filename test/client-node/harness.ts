/**
 * Boots a podnet cluster from a topology file with its API server on a free loopback port (HTTPS,
 * with the generated CA), writes a kubeconfig for it, and hands out @kubernetes/client-node API
 * clients loaded from that kubeconfig, so the tests drive the real library as an application would.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, KubeConfig } from '@kubernetes/client-node';
import { Cluster } from '../../lib/cluster.js';
import { ApiServer, type ApiServerAddress } from '../../lib/apiserver/server/server.js';
import { buildKubeconfig, writeKubeconfig } from '../../lib/kubeconfig/kubeconfig.js';

/** A running cluster, its API server, and clients for it. */
export interface ClientHarness {
  cluster: Cluster;
  address: ApiServerAddress;
  /** The kubeconfig file the clients were loaded from. */
  kubeconfig: string;
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  discovery: DiscoveryV1Api;
}

/**
 * Starts `topologies/quickstart.yaml` and an API server on port 0; the teardown closes the server
 * (ending every watch), stops the cluster and removes the kubeconfig.
 */
export async function bootClients(t: { teardown(fn: () => unknown): void }, topology = 'topologies/quickstart.yaml'): Promise<ClientHarness> {
  const cluster = await Cluster.fromFiles([topology]);
  const server = new ApiServer(cluster.store, { port: 0 });
  const dir = mkdtempSync(path.join(tmpdir(), 'podnet-client-node-'));
  t.teardown(async () => {
    await server.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const address = await server.listen();
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeKubeconfig(kubeconfig, buildKubeconfig({ name: 'podnet', server: address.url, caPem: address.caPem! }));
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    cluster,
    address,
    kubeconfig,
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
  };
}

/**
 * Resolves with `promise`, or rejects once `ms` have passed without it: a bound on a failure, not
 * a wait — the tests resolve their promises from watch and informer callbacks.
 */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The Status an ApiException carries (client-node 1.x hands the body over as text). */
export function statusOf(err: unknown): { code: number; status: Record<string, any> } {
  const e = err as { code?: unknown; body?: unknown };
  if (typeof e?.code !== 'number') throw err;
  const status = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
  return { code: e.code, status };
}
