/**
 * Which container of a pod an exec goes to, with the API server's and kubectl's rules and words:
 *
 * - the API server (pkg/registry/core/pod/strategy.go, `validateContainer`): a named container
 *   must be one of the pod's (`container foo is not valid for pod web`); without a name, a pod
 *   with one container means that one, and a pod with several is a BadRequest (`a container name
 *   must be specified for pod web, choose one of: [a b]`); a pod not bound to a node cannot be
 *   exec'd into (`pod web does not have a host assigned`);
 * - kubectl (`kubectl exec`, staging/src/k8s.io/kubectl/pkg/cmd/util/podcmd): without `-c` it
 *   picks the `kubectl.kubernetes.io/default-container` annotation's container, else the first,
 *   and says `Defaulted container "a" out of: a, b` on stderr when there were several; a pod
 *   that has completed is refused (`cannot exec into a container in a completed pod; current
 *   phase is Succeeded`).
 */

import type { Pod } from '../api/types.js';
import { ExecStartError } from './types.js';

/** The annotation naming a pod's default container for kubectl. */
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** The container an exec goes to, and kubectl's note when it chose one. */
export interface ExecTarget {
  container: string;
  /** kubectl's `Defaulted container ...` line, when it picked among several. */
  notice?: string;
}

/** Chooses the container as kubectl (`mode: 'kubectl'`) or the API server (`mode: 'apiserver'`) does. */
export function selectContainer(pod: Pod, requested: string | undefined, mode: 'kubectl' | 'apiserver'): ExecTarget {
  const name = pod.metadata.name ?? '';
  const containers = pod.spec.containers.map((c) => c.name);
  const others = [...((pod.spec.initContainers as { name: string }[] | undefined) ?? []), ...((pod.spec.ephemeralContainers as { name: string }[] | undefined) ?? [])].map((c) => c.name);
  if (mode === 'kubectl') {
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      throw new ExecStartError('PODNET_BAD_REQUEST', `cannot exec into a container in a completed pod; current phase is ${phase}`, 400, 'BadRequest');
    }
  }
  if (!pod.spec.nodeName) throw new ExecStartError('PODNET_BAD_REQUEST', `pod ${name} does not have a host assigned`, 400, 'BadRequest');
  if (requested) {
    if (!containers.includes(requested) && !others.includes(requested)) {
      throw new ExecStartError('PODNET_BAD_REQUEST', `container ${requested} is not valid for pod ${name}`, 400, 'BadRequest');
    }
    return { container: requested };
  }
  if (containers.length === 0) throw new ExecStartError('PODNET_BAD_REQUEST', `a container name must be specified for pod ${name}`, 400, 'BadRequest');
  if (containers.length === 1) return { container: containers[0]! };
  if (mode === 'apiserver') {
    const init = others.length ? ` or one of the init containers: [${others.join(' ')}]` : '';
    throw new ExecStartError('PODNET_BAD_REQUEST', `a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]${init}`, 400, 'BadRequest');
  }
  const annotated = pod.metadata.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (annotated && containers.includes(annotated)) return { container: annotated };
  return { container: containers[0]!, notice: `Defaulted container ${JSON.stringify(containers[0])} out of: ${containers.join(', ')}` };
}
