import t from 'tap';
import { knownImages, lookupImage, requireImage, resolveImage } from '../../lib/images/registry.js';
import { parseImageReference } from '../../lib/images/reference.js';
import { UnknownImageError } from '../../lib/images/errors.js';

// distribution/reference normalize.go: ParseNormalizedNamed (docker.io default, library/ for
// official images, a first component with '.' or ':' or "localhost" is a registry).
t.test('image references normalize as container runtimes read them', async (t) => {
  const table: Array<[string, ReturnType<typeof parseImageReference>]> = [
    ['nginx', { registry: 'docker.io', repository: 'library/nginx' }],
    ['nginx:1.27-alpine', { registry: 'docker.io', repository: 'library/nginx', tag: '1.27-alpine' }],
    ['docker.io/library/nginx@sha256:abcd', { registry: 'docker.io', repository: 'library/nginx', digest: 'sha256:abcd' }],
    ['index.docker.io/traefik/whoami:v1.10', { registry: 'docker.io', repository: 'traefik/whoami', tag: 'v1.10' }],
    ['localhost:5000/agnhost:2.53', { registry: 'localhost:5000', repository: 'agnhost', tag: '2.53' }],
    ['registry.k8s.io/e2e-test-images/agnhost:2.53@sha256:ff', { registry: 'registry.k8s.io', repository: 'e2e-test-images/agnhost', tag: '2.53', digest: 'sha256:ff' }],
  ];
  for (const [image, want] of table) t.same(parseImageReference(image), want, image);
});

t.test('common real image names map onto the built-in images', async (t) => {
  const table: Array<[string, string]> = [
    ['registry.k8s.io/e2e-test-images/agnhost:2.53', 'agnhost'],
    ['k8s.gcr.io/e2e-test-images/agnhost:2.39', 'agnhost'],
    ['gcr.io/kubernetes-e2e-test-images/agnhost:2.8', 'agnhost'],
    ['gcr.io/kubernetes-e2e-test-images/agnhost-amd64:2.2', 'agnhost'],
    ['nginx', 'nginx'],
    ['nginx:1.27-alpine', 'nginx'],
    ['docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 'nginx'],
    ['mirror.gcr.io/library/nginx:latest', 'nginx'],
    ['registry.k8s.io/e2e-test-images/nginx:1.14-4', 'nginx'],
    ['nginxinc/nginx-unprivileged:stable', 'nginx-unprivileged'],
    ['httpd:2.4', 'httpd'],
    ['traefik/whoami:v1.10', 'whoami'],
    ['containous/whoami', 'whoami'],
    ['gcr.io/k8s-staging-gateway-api/echo-basic:v20240412-v1.0.0-394-g40c666fd', 'echo-basic'],
    ['registry.k8s.io/gateway-api/echo-basic:v1.3.0', 'echo-basic'],
    ['gcr.io/k8s-staging-ingressconformance/echoserver:v20220815-e21d1a4', 'ingress-echoserver'],
    ['busybox:1.36', 'busybox'],
    ['registry.k8s.io/e2e-test-images/busybox:1.36.1-1', 'busybox'],
    ['curlimages/curl', 'curl'],
    ['curlimages/curl:8.8.0', 'curl'],
    ['alpine', 'alpine'],
    ['alpine:3.20', 'alpine'],
    ['registry.k8s.io/pause:3.10', 'pause'],
    ['k8s.gcr.io/pause:3.2', 'pause'],
    ['nicolaka/netshoot', 'netshoot'],
  ];
  for (const [image, name] of table) t.equal(lookupImage(image)?.name, name, image);
});

t.test('names that only look alike are not built-ins', async (t) => {
  for (const image of [
    'bitnami/nginx',
    'myorg/agnhost-helper',
    'registry.k8s.io/e2e-test-images/echoserver:2.5',
    'example.com/whoami',
    'postgres:16',
    'redis',
  ]) {
    t.equal(lookupImage(image), undefined, image);
  }
});

t.test('an unknown image runs with no listener; the strict lookup names the known ones', async (t) => {
  t.equal(resolveImage('postgres:16').name, 'unknown');
  const err = t.throws(() => requireImage('postgres:16')) as UnknownImageError;
  t.equal(err.code, 'PODNET_UNKNOWN_IMAGE');
  t.ok(err.known.includes('registry.k8s.io/e2e-test-images/agnhost'));
  t.match(err.message, /no built-in image for "postgres:16"; known images: registry\.k8s\.io\/e2e-test-images\/agnhost, /);
  t.same(knownImages(), err.known);
});
