/**
 * Which programs each image has, and which implementation each is — following what the real
 * images ship (their Dockerfiles / package lists), so a command that would fail on a cluster
 * fails here too:
 *
 * | image                          | curl | wget    | nc      | nslookup | dig | agnhost | sh, hostname, cat, echo, true, false | libc  |
 * |--------------------------------|------|---------|---------|----------|-----|---------|--------------------------------------|-------|
 * | busybox                        |  -   | busybox | busybox | busybox  |  -  |    -    | busybox                              | glibc |
 * | curlimages/curl (Alpine)       |  ✓   | busybox | busybox | busybox  |  -  |    -    | busybox                              | musl  |
 * | alpine                         |  -   | busybox | busybox | busybox  |  -  |    -    | busybox                              | musl  |
 * | nicolaka/netshoot (Alpine)     |  ✓   | busybox | openbsd | BIND     |  ✓  |    -    | busybox (+ bash)                     | musl  |
 * | agnhost (Alpine + bind-tools, curl, netcat-openbsd) | ✓ | busybox | openbsd | BIND | ✓ | ✓ | busybox (+ bash)               | musl  |
 * | ubuntu, debian                 |  -   |    -    |    -    |    -     |  -  |    -    | dash (+ bash), coreutils             | glibc |
 * | nginx, httpd (Debian; `-alpine` tags: busybox) | - | - | - | -      |  -  |    -    | dash / busybox                       | glibc / musl |
 * | pause, echo-basic, whoami (scratch / distroless) | - | - | - | -   |  -  |    -    | nothing                              |   -   |
 *
 * agnhost's image is `alpine:3.21` plus `bind-tools curl netcat-openbsd iproute2 iperf bash`
 * (test/images/agnhost/Dockerfile and BASEIMAGE); netshoot is Alpine with the same tools. An
 * image podnet has no built-in for has no programs podnet knows of.
 */

import { lookupImage } from '../images/registry.js';
import { parseImageReference } from '../images/reference.js';
import type { ResolverFlavor, Toolbox } from './types.js';

const CORE_BUSYBOX: [string, string][] = [
  ['sh', 'busybox-ash'],
  ['ash', 'busybox-ash'],
  ['hostname', 'busybox'],
  ['cat', 'busybox'],
  ['echo', 'busybox'],
  ['true', 'busybox'],
  ['false', 'busybox'],
  ['sleep', 'busybox'],
  ['env', 'busybox'],
  ['wget', 'busybox'],
  ['nc', 'busybox'],
  ['nslookup', 'busybox'],
];

const CORE_DEBIAN: [string, string][] = [
  ['sh', 'dash'],
  ['dash', 'dash'],
  ['bash', 'bash'],
  ['hostname', 'coreutils'],
  ['cat', 'coreutils'],
  ['echo', 'coreutils'],
  ['true', 'coreutils'],
  ['false', 'coreutils'],
  ['sleep', 'coreutils'],
  ['env', 'coreutils'],
];

const NETWORK_TOOLS: [string, string][] = [
  ['curl', 'curl'],
  ['dig', 'bind'],
  ['nslookup', 'bind'],
  ['nc', 'openbsd'],
  ['bash', 'bash'],
];

function box(image: string, resolver: ResolverFlavor, ...sets: [string, string][][]): Toolbox {
  const programs = new Map<string, string>();
  for (const set of sets) for (const [k, v] of set) programs.set(k, v);
  return { image, programs, resolver };
}

/** The toolbox of an image name. */
export function toolboxFor(image: string): Toolbox {
  const builtin = lookupImage(image);
  const tag = parseImageReference(image).tag ?? '';
  switch (builtin?.name) {
    case 'busybox':
      return box('busybox', /musl/.test(tag) ? 'musl' : 'glibc', CORE_BUSYBOX);
    case 'curl':
      return box('curl', 'musl', CORE_BUSYBOX, [['curl', 'curl']]);
    case 'alpine':
      return box('alpine', 'musl', CORE_BUSYBOX);
    case 'netshoot':
      return box('netshoot', 'musl', CORE_BUSYBOX, NETWORK_TOOLS);
    case 'agnhost':
      return box('agnhost', 'musl', CORE_BUSYBOX, NETWORK_TOOLS, [['agnhost', 'agnhost'], ['agnhost-2', 'agnhost']]);
    case 'ubuntu':
      return box('ubuntu', 'glibc', CORE_DEBIAN);
    case 'nginx':
    case 'nginx-unprivileged':
    case 'httpd':
      return /alpine/.test(tag)
        ? box(builtin.name, 'musl', CORE_BUSYBOX.filter(([k]) => !['wget', 'nc', 'nslookup'].includes(k) || builtin.name !== 'httpd'))
        : box(builtin.name, 'glibc', CORE_DEBIAN);
    default:
      return box(builtin?.name ?? 'unknown', 'glibc');
  }
}
