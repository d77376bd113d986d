/**
 * The built-in image registry: which implementation a container's `image` runs.
 *
 * Matching reads the image as a container runtime does (see reference.ts): any registry or
 * mirror, any tag or digest. `registry.k8s.io/e2e-test-images/agnhost:2.53`,
 * `k8s.gcr.io/e2e-test-images/agnhost:2.39` and `gcr.io/kubernetes-e2e-test-images/agnhost:2.8`
 * are all agnhost; `nginx`, `nginx:1.27-alpine` and `docker.io/library/nginx@sha256:…` are all
 * nginx. The first entry that matches wins.
 *
 * An image podnet does not know still runs ({@link resolveImage}): its sandbox gets an IP and
 * can be connected to, but nothing listens in it. {@link requireImage} is the strict lookup, and
 * rejects an unknown image with the list of known ones.
 */

import { agnhost } from './agnhost.js';
import { alpine, busybox, curl, netshoot, noListenerImage, pause, ubuntu } from './clients.js';
import { echoBasic, ingressEchoserver } from './echo-basic.js';
import { UnknownImageError } from './errors.js';
import { httpd, nginx, nginxUnprivileged } from './static-web.js';
import type { BuiltinImage } from './types.js';
import { whoami } from './whoami.js';

/** One registered image: the implementation, the names it is known by, and how it binds to a name. */
interface RegistryEntry {
  image: BuiltinImage;
  /** Canonical names, for listings and error messages. */
  references: readonly string[];
  /** The implementation for one image name (e.g. nginx announcing the tag's version). */
  forImage?: (image: string) => BuiltinImage;
}

const ENTRIES: readonly RegistryEntry[] = [
  { image: agnhost, references: ['registry.k8s.io/e2e-test-images/agnhost'] },
  { image: echoBasic, references: ['gcr.io/k8s-staging-gateway-api/echo-basic'] },
  { image: ingressEchoserver, references: ['gcr.io/k8s-staging-ingressconformance/echoserver'] },
  { image: whoami, references: ['traefik/whoami'] },
  { image: nginxUnprivileged, references: ['nginxinc/nginx-unprivileged'], forImage: nginxUnprivileged.forImage },
  { image: nginx, references: ['nginx', 'registry.k8s.io/e2e-test-images/nginx'], forImage: nginx.forImage },
  { image: httpd, references: ['httpd', 'registry.k8s.io/e2e-test-images/httpd'], forImage: httpd.forImage },
  { image: busybox, references: ['busybox', 'registry.k8s.io/e2e-test-images/busybox'] },
  { image: curl, references: ['curlimages/curl'] },
  { image: alpine, references: ['alpine'] },
  { image: ubuntu, references: ['ubuntu', 'debian'] },
  { image: netshoot, references: ['nicolaka/netshoot'] },
  { image: pause, references: ['registry.k8s.io/pause'] },
];

/** The built-in image for an image name, or undefined when podnet has none. */
export function lookupImage(image: string): BuiltinImage | undefined {
  const entry = ENTRIES.find((e) => e.image.matches(image));
  if (!entry) return undefined;
  return entry.forImage ? entry.forImage(image) : entry.image;
}

/** The image names podnet has built-ins for (canonical spellings; tags and mirrors match too). */
export function knownImages(): string[] {
  return ENTRIES.flatMap((e) => e.references);
}

/** The built-in image for an image name; an unknown image runs with no listener. */
export function resolveImage(image: string): BuiltinImage {
  return lookupImage(image) ?? noListenerImage(image);
}

/** The built-in image for an image name; throws {@link UnknownImageError} listing the known ones. */
export function requireImage(image: string): BuiltinImage {
  const found = lookupImage(image);
  if (!found) throw new UnknownImageError(image, knownImages());
  return found;
}
