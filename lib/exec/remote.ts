/**
 * A client for the `pods/exec` subresource over WebSockets (remote-command protocol
 * `v5.channel.k8s.io`, falling back to `v4.channel.k8s.io`), as client-go's WebSocket executor
 * speaks it for `kubectl exec`: argv as repeated `command=` parameters, output arriving on
 * channels 1 (stdout) and 2 (stderr), stdin sent on channel 0 and closed with `[255, 0]` (v5), and
 * the end reported as a Status on channel 3. Like every podnet client it connects to loopback
 * only (lib/client/rest.ts refuses anything else).
 */

import WebSocket from 'ws';
import { PodnetError } from '../core/errors.js';
import { ApiError, RestClient } from '../client/rest.js';
import type { ClientConfig } from '../kubeconfig/kubeconfig.js';

/** Options of {@link remoteExec}. */
export interface RemoteExecOptions {
  container: string;
  argv: readonly string[];
  /** Sent on stdin, then stdin is closed. */
  stdin?: Buffer | undefined;
  tty?: boolean;
  onStdout(data: Buffer): void;
  onStderr(data: Buffer): void;
}

/** The exit code a finished remote command reported. */
export interface RemoteExecResult {
  exitCode: number;
}

/** What the server wrote on the error channel. */
interface ExecStatus {
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: { reason?: string; message?: string }[] };
}

/** Runs a command in a pod through a running podnet's API; rejects with the server's error when it cannot start. */
export function remoteExec(config: ClientConfig, namespace: string, pod: string, options: RemoteExecOptions): Promise<RemoteExecResult> {
  // The REST client validates the server URL: loopback only.
  new RestClient(config);
  const url = new URL(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/exec`, config.server);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  for (const word of options.argv) url.searchParams.append('command', word);
  url.searchParams.set('container', options.container);
  if (options.stdin) url.searchParams.set('stdin', 'true');
  url.searchParams.set('stdout', 'true');
  url.searchParams.set('stderr', String(!options.tty));
  if (options.tty) url.searchParams.set('tty', 'true');
  const ws = new WebSocket(url, ['v5.channel.k8s.io', 'v4.channel.k8s.io'], {
    headers: { 'User-Agent': 'podnet/0.1.0', ...(config.token ? { Authorization: `Bearer ${config.token}` } : {}) },
    ...(config.caPem ? { ca: config.caPem } : {}),
    ...(config.insecureSkipTLSVerify ? { rejectUnauthorized: false } : {}),
  });
  return new Promise<RemoteExecResult>((resolve, reject) => {
    let status: ExecStatus | undefined;
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
    };
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: ExecStatus | undefined;
        try {
          parsed = JSON.parse(text) as ExecStatus;
        } catch {
          parsed = undefined;
        }
        finish(() => reject(new ApiError({ code: res.statusCode ?? 0, ...(parsed ?? { message: text.trim() || `HTTP ${res.statusCode}` }) } as ApiError['status'])));
      });
    });
    ws.on('open', () => {
      if (!options.stdin) return;
      if (options.stdin.length) ws.send(Buffer.concat([Buffer.from([0]), options.stdin]));
      if (ws.protocol === 'v5.channel.k8s.io') ws.send(Buffer.from([255, 0]));
    });
    ws.on('message', (data: Buffer) => {
      if (data.length === 0) return;
      const channel = data[0]!;
      const payload = data.subarray(1);
      if (channel === 1) options.onStdout(payload);
      else if (channel === 2) options.onStderr(payload);
      else if (channel === 3 && payload.length) {
        try {
          status = JSON.parse(payload.toString('utf8')) as ExecStatus;
        } catch {
          status = { status: 'Failure', message: payload.toString('utf8') };
        }
      }
    });
    ws.on('error', (e: NodeJS.ErrnoException) => {
      finish(() =>
        reject(
          new PodnetError(
            'PODNET_CONNECTION_FAILED',
            e.code === 'ECONNREFUSED' ? `The connection to the server ${url.host} was refused - is podnet up running?` : `cannot reach ${config.server}: ${e.message}`,
          ),
        ),
      );
    });
    ws.on('close', () => {
      finish(() => {
        if (!status) return reject(new PodnetError('PODNET_EXEC_FAILED', 'the exec connection closed without a status'));
        if (status.status === 'Success') return resolve({ exitCode: 0 });
        if (status.reason === 'NonZeroExitCode') {
          const code = Number(status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message);
          return resolve({ exitCode: Number.isInteger(code) ? code : 1 });
        }
        reject(new PodnetError('PODNET_EXEC_FAILED', status.message ?? 'error executing remote command'));
      });
    });
  });
}
