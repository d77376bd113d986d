/**
 * Image references, normalized the way Docker and containerd read them
 * (github.com/distribution/reference `ParseNormalizedNamed`), so that `nginx`,
 * `docker.io/library/nginx:1.27` and `docker.io/library/nginx@sha256:…` are one repository and a
 * built-in image can match on the repository path alone, whatever registry, tag or digest is
 * written.
 *
 * - The first path component is a registry when it contains `.` or `:` or is `localhost`;
 *   otherwise the registry is `docker.io` (and `index.docker.io` is `docker.io`).
 * - On Docker Hub a single-component name is an official image: `nginx` is `library/nginx`.
 * - A tag follows the last `:` after the last `/`; a digest follows `@`.
 */

/** A parsed image reference. */
export interface ImageReference {
  /** `docker.io`, `registry.k8s.io`, `gcr.io`, `localhost:5000`, ... (lower case). */
  registry: string;
  /** The repository path inside the registry, e.g. `library/nginx`, `e2e-test-images/agnhost` (lower case). */
  repository: string;
  /** The tag, e.g. `2.53` or `1.27-alpine`; absent when none was written (Docker then uses `latest`). */
  tag?: string;
  /** The digest, e.g. `sha256:…`. */
  digest?: string;
}

const DOCKER_HUB = 'docker.io';

/** Parses an image reference as a container runtime would, without validating every character. */
export function parseImageReference(image: string): ImageReference {
  let rest = image.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf('/');
  let registry = DOCKER_HUB;
  let repository = rest;
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first.toLowerCase();
      repository = rest.slice(slash + 1);
    }
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  repository = repository.toLowerCase();
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  const ref: ImageReference = { registry, repository };
  if (tag !== undefined && tag !== '') ref.tag = tag;
  if (digest !== undefined && digest !== '') ref.digest = digest;
  return ref;
}

/** The repository's last path component: `agnhost` for `registry.k8s.io/e2e-test-images/agnhost:2.53`. */
export function imageBaseName(ref: ImageReference): string {
  return ref.repository.slice(ref.repository.lastIndexOf('/') + 1);
}

/**
 * Whether the repository is `path` or ends with `/path`, so that a mirror
 * (`mirror.gcr.io/library/nginx`, `myregistry:5000/e2e-test-images/agnhost`) matches too.
 */
export function repositoryEndsWith(ref: ImageReference, path: string): boolean {
  return ref.repository === path || ref.repository.endsWith(`/${path}`);
}

/**
 * The version a tag names, when it starts with one: `1.27.3-alpine` → `1.27.3`,
 * `2.4.38-4` → `2.4.38`; `latest`, `1.27-alpine` (no patch) and no tag → undefined.
 */
export function tagVersion(ref: ImageReference): string | undefined {
  return /^v?(\d+\.\d+\.\d+)(?:$|[-+_.])/.exec(ref.tag ?? '')?.[1];
}
