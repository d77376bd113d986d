import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  buildKubeconfig,
  formatKubeconfig,
  loadClientConfig,
  parseKubeconfig,
  readKubeconfig,
  writeKubeconfig,
  type ClientConfig,
  type LoadClientConfigOptions,
} from '../../lib/kubeconfig/kubeconfig.js';

// kubeconfig files and kubectl's loading rules. The merging and precedence cases follow the
// Kubernetes documentation page "Organizing Cluster Access Using kubeconfig Files"
// (https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/),
// sections "Merging kubeconfig files" and "File references"; the file layout is client-go's
// clientcmd v1 Config. Every test works in its own temp dir with an injected env and home.

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const CA2 = '-----BEGIN CERTIFICATE-----\nMIIBother\n-----END CERTIFICATE-----\n';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** A temp dir holding `files` (relative paths → content), removed after the test. */
function fixture(t: Test, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'podnet-kubeconfig-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/** A kubeconfig in YAML, built from short specs. */
function kubeconfig(spec: {
  current?: string;
  clusters?: Record<string, Record<string, unknown>>;
  contexts?: Record<string, Record<string, unknown>>;
  users?: Record<string, Record<string, unknown>>;
}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: Object.entries(spec.clusters ?? {}).map(([name, cluster]) => ({ name, cluster })),
    contexts: Object.entries(spec.contexts ?? {}).map(([name, context]) => ({ name, context })),
    users: Object.entries(spec.users ?? {}).map(([name, user]) => ({ name, user })),
    ...(spec.current !== undefined ? { 'current-context': spec.current } : {}),
  });
}

function onPath(tool: string, ...args: string[]): boolean {
  return spawnSync(tool, args, { stdio: 'ignore' }).error === undefined;
}

t.test('buildKubeconfig names cluster, user and context alike', async (t) => {
  t.same(buildKubeconfig({ name: 'podnet-dev', server: 'https://127.0.0.1:6443', caPem: CA, token: 's3cret', namespace: 'team-a' }), {
    apiVersion: 'v1',
    clusters: [{ cluster: { 'certificate-authority-data': b64(CA), server: 'https://127.0.0.1:6443' }, name: 'podnet-dev' }],
    contexts: [{ context: { cluster: 'podnet-dev', namespace: 'team-a', user: 'podnet-dev' }, name: 'podnet-dev' }],
    'current-context': 'podnet-dev',
    kind: 'Config',
    preferences: {},
    users: [{ name: 'podnet-dev', user: { token: 's3cret' } }],
  });
  const bare = buildKubeconfig({ name: 'x', server: 'http://127.0.0.1:8080', insecureSkipTLSVerify: true });
  t.same(bare.users, [{ name: 'x', user: {} }], 'no token: an empty user');
  t.same(bare.clusters[0]!.cluster, { 'insecure-skip-tls-verify': true, server: 'http://127.0.0.1:8080' });
  t.throws(() => buildKubeconfig({ name: 'x', server: 'https://127.0.0.1', caPem: CA, insecureSkipTLSVerify: true }), {
    code: 'PODNET_KUBECONFIG_INVALID',
  });
  t.throws(() => buildKubeconfig({ name: 'x', server: 'not a url' }), { code: 'PODNET_KUBECONFIG_INVALID' });
  t.throws(() => buildKubeconfig({ name: '', server: 'https://127.0.0.1' }), { code: 'PODNET_KUBECONFIG_INVALID' });
});

t.test('formatKubeconfig lays the file out as kubectl config view --raw does', async (t) => {
  const text = formatKubeconfig(buildKubeconfig({ name: 'dev', server: 'https://127.0.0.1:6443', token: 'abc' }), 'Written by podnet up\nsecond line');
  t.equal(
    text,
    [
      '# Written by podnet up',
      '# second line',
      'apiVersion: v1',
      'clusters:',
      '  - cluster:',
      '      server: https://127.0.0.1:6443',
      '    name: dev',
      'contexts:',
      '  - context:',
      '      cluster: dev',
      '      user: dev',
      '    name: dev',
      'current-context: dev',
      'kind: Config',
      'preferences: {}',
      'users:',
      '  - name: dev',
      '    user:',
      '      token: abc',
      '',
    ].join('\n'),
  );
  // YAML 1.1 (client-go's sigs.k8s.io/yaml) reads y, on, 0755 as bool and int: they must be quoted.
  for (const name of ['y', 'on', 'no', '0755', '1e3', '2024-01-01', 'null']) {
    const round = parseKubeconfig(formatKubeconfig(buildKubeconfig({ name, server: 'https://127.0.0.1', token: name })), 'mem');
    t.equal(round['current-context'], name, `${name} survives a round trip`);
    t.equal(round.users[0]!.user.token, name);
  }
  const long = buildKubeconfig({ name: 'dev', server: 'https://127.0.0.1', caPem: CA.repeat(40) });
  t.match(formatKubeconfig(long), `      certificate-authority-data: ${b64(CA.repeat(40))}\n`, 'base64 is never folded');
});

t.test('writeKubeconfig', async (t) => {
  const config = buildKubeconfig({ name: 'dev', server: 'https://127.0.0.1:6443', caPem: CA, token: 'abc' });

  t.test('writes 0600 YAML, creating parent directories', async (t) => {
    const dir = fixture(t);
    const file = path.join(dir, 'a', 'b', 'kubeconfig');
    writeKubeconfig(file, config, { home: dir });
    t.equal(statSync(file).mode & 0o777, 0o600);
    t.same(readKubeconfig(file), config);
  });

  t.test('refuses to overwrite an existing file unless told to', async (t) => {
    const dir = fixture(t, { kubeconfig: 'precious' });
    const file = path.join(dir, 'kubeconfig');
    t.throws(() => writeKubeconfig(file, config, { home: dir }), { code: 'PODNET_KUBECONFIG_EXISTS', message: /refusing to overwrite the existing kubeconfig/ });
    t.equal(readFileSync(file, 'utf8'), 'precious', 'left untouched');
    writeKubeconfig(file, config, { home: dir, overwrite: true });
    t.same(readKubeconfig(file), config);
    t.equal(statSync(file).mode & 0o777, 0o600, 'an overwritten file is 0600 too');
  });

  t.test('refuses ~/.kube/config, even when it does not exist yet, and through a symlink', async (t) => {
    const home = fixture(t);
    const target = path.join(home, '.kube', 'config');
    t.throws(() => writeKubeconfig(target, config, { home }), {
      code: 'PODNET_KUBECONFIG_EXISTS',
      message: /kubectl's default kubeconfig \(~\/\.kube\/config\).*--kubeconfig or KUBECONFIG/,
    });
    mkdirSync(path.join(home, '.kube'));
    symlinkSync(path.join(home, '.kube'), path.join(home, 'kube-link'));
    t.throws(() => writeKubeconfig(path.join(home, 'kube-link', 'config'), config, { home }), { code: 'PODNET_KUBECONFIG_EXISTS' });
    writeKubeconfig(target, config, { home, overwrite: true });
    t.same(readKubeconfig(target), config, 'overwrite allows it');
  });
});

t.test('loadClientConfig follows the loading and merging rules', async (t) => {
  // Files shared by the cases, written into each case's temp dir (relative paths are the point).
  const files: Record<string, string> = {
    'home/.kube/config': kubeconfig({
      current: 'home',
      clusters: { home: { server: 'https://127.0.0.1:1001' } },
      contexts: { home: { cluster: 'home', user: 'home' } },
      users: { home: { token: 'home-token' } },
    }),
    // "The first file to set a particular value or map key wins": a.yaml sets current-context
    // and the `shared` cluster; b.yaml's `shared` (with a CA) is discarded whole.
    'a/a.yaml': kubeconfig({
      current: 'a',
      clusters: { shared: { server: 'https://127.0.0.1:2001' } },
      contexts: { a: { cluster: 'shared', user: 'a', namespace: 'team-a' } },
      users: { a: { token: 'a-token' } },
    }),
    'b/b.yaml': kubeconfig({
      current: 'b',
      clusters: {
        shared: { server: 'https://127.0.0.1:3001', 'certificate-authority': 'ca.pem' },
        b: { server: 'https://127.0.0.1:3002', 'certificate-authority': 'ca.pem' },
      },
      contexts: { a: { cluster: 'b', user: 'b' }, b: { cluster: 'b', user: 'b' } },
      users: { b: { tokenFile: 'token.txt', token: 'inline-b' } },
    }),
    'b/ca.pem': CA,
    'b/token.txt': 'file-token\n',
    'tls/kc.yaml': kubeconfig({
      current: 'data',
      clusters: {
        data: { server: 'https://127.0.0.1:4001', 'certificate-authority-data': b64(CA2), 'certificate-authority': 'ca.pem' },
        insecure: { server: 'https://127.0.0.1:4002', 'insecure-skip-tls-verify': true },
        both: { server: 'https://127.0.0.1:4003', 'insecure-skip-tls-verify': true, 'certificate-authority': 'ca.pem' },
        noca: { server: 'https://127.0.0.1:4004', 'certificate-authority': 'missing.pem' },
        noserver: { 'certificate-authority': 'ca.pem' },
        bare: { server: '127.0.0.1:4005' },
        barewithca: { server: '127.0.0.1:4006', 'certificate-authority': 'ca.pem' },
        baddata: { server: 'https://127.0.0.1:4007', 'certificate-authority-data': 'not base64!' },
      },
      contexts: {
        data: { cluster: 'data', user: 'tokenfile' },
        insecure: { cluster: 'insecure', user: 'nobody' },
        both: { cluster: 'both', user: 'inline' },
        noca: { cluster: 'noca', user: 'inline' },
        noserver: { cluster: 'noserver', user: 'inline' },
        bare: { cluster: 'bare', user: 'inline' },
        barewithca: { cluster: 'barewithca', user: 'inline' },
        baddata: { cluster: 'baddata', user: 'inline' },
        gone: { cluster: 'gone', user: 'inline' },
        nocluster: { user: 'inline' },
        lostfile: { cluster: 'data', user: 'lostfile' },
        lostfileonly: { cluster: 'data', user: 'lostfileonly' },
      },
      users: {
        tokenfile: { tokenFile: 'secrets/token' },
        inline: { token: 'inline-token' },
        lostfile: { tokenFile: 'nope', token: 'fallback' },
        lostfileonly: { tokenFile: 'nope' },
      },
    }),
    'tls/ca.pem': CA,
    'tls/secrets/token': '  spaced-token \n',
    'nocurrent.yaml': kubeconfig({ clusters: { c: { server: 'https://127.0.0.1:5001' } }, contexts: { c1: { cluster: 'c' }, c2: { cluster: 'c' } } }),
    'dangling.yaml': kubeconfig({ current: 'ghost', contexts: { real: { cluster: 'c' } } }),
    'empty.yaml': '',
    'bad.yaml': 'apiVersion: v1\nclusters: [\n',
    'typed.yaml': 'apiVersion: v1\nkind: Config\ncontexts:\n- name: y\n  context: {cluster: c}\n',
    'pod.yaml': 'apiVersion: v1\nkind: Pod\n',
    'dup.yaml': kubeconfig({ clusters: {} }).replace('"clusters":[]', '"clusters":[{"name":"c","cluster":{}},{"name":"c","cluster":{}}]'),
    'tabs.yaml': 'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: [1, 2]\n',
  };

  type Expect = Partial<ClientConfig> | { code: string; message?: RegExp };
  interface Case {
    name: string;
    /** Options; `$` in paths and env values stands for the case's temp dir. */
    options?: LoadClientConfigOptions;
    env?: Record<string, string>;
    /** Home directory, relative to the temp dir (default `home`). */
    home?: string;
    expect: Expect;
  }
  const cases: Case[] = [
    // "Determine the kubeconfig file(s)": --kubeconfig, else $KUBECONFIG, else ~/.kube/config.
    { name: '~/.kube/config when nothing else is given', expect: { server: 'https://127.0.0.1:1001', token: 'home-token', context: 'home', namespace: 'default', insecureSkipTLSVerify: false, files: ['$/home/.kube/config'] } },
    { name: '--kubeconfig wins over KUBECONFIG and home', options: { kubeconfig: '$/a/a.yaml' }, env: { KUBECONFIG: '$/b/b.yaml' }, expect: { server: 'https://127.0.0.1:2001', token: 'a-token', files: ['$/a/a.yaml'] } },
    { name: 'KUBECONFIG wins over home', env: { KUBECONFIG: '$/b/b.yaml' }, expect: { server: 'https://127.0.0.1:3002', context: 'b', files: ['$/b/b.yaml'] } },
    { name: 'an empty KUBECONFIG is unset', env: { KUBECONFIG: '' }, expect: { context: 'home' } },
    // "Merging kubeconfig files": first to set current-context wins; a map entry comes whole from
    // the first file that has it (a's `shared` cluster, without b's certificate-authority).
    { name: 'KUBECONFIG merge: first current-context and first map entry win', env: { KUBECONFIG: '$/a/a.yaml:$/b/b.yaml' }, expect: { context: 'a', server: 'https://127.0.0.1:2001', namespace: 'team-a', token: 'a-token', files: ['$/a/a.yaml', '$/b/b.yaml'] } },
    { name: 'KUBECONFIG merge, reversed', env: { KUBECONFIG: '$/b/b.yaml:$/a/a.yaml' }, expect: { context: 'b', server: 'https://127.0.0.1:3002', caPem: CA, token: 'file-token' } },
    { name: 'KUBECONFIG merge: the later file contributes entries the earlier lacks', options: { context: 'b' }, env: { KUBECONFIG: '$/a/a.yaml:$/b/b.yaml' }, expect: { context: 'b', server: 'https://127.0.0.1:3002' } },
    { name: 'KUBECONFIG: empty entries, missing files and duplicates are skipped', env: { KUBECONFIG: '::$/missing.yaml:$/a/a.yaml:$/a/a.yaml:' }, expect: { context: 'a', files: ['$/a/a.yaml'] } },
    // "File references": relative to the file that holds them, also after merging.
    { name: 'certificate-authority and tokenFile resolve against their own file', env: { KUBECONFIG: '$/a/a.yaml:$/b/b.yaml' }, options: { context: 'b' }, expect: { caPem: CA, token: 'file-token' } },
    { name: 'certificate-authority-data wins over certificate-authority; tokenFile is trimmed', options: { kubeconfig: '$/tls/kc.yaml' }, expect: { caPem: CA2, token: 'spaced-token', insecureSkipTLSVerify: false } },
    { name: 'insecure-skip-tls-verify from the file', options: { kubeconfig: '$/tls/kc.yaml', context: 'insecure' }, expect: { insecureSkipTLSVerify: true, caPem: undefined, token: undefined } },
    { name: 'a context whose user is not defined is anonymous, as in kubectl', options: { kubeconfig: '$/tls/kc.yaml', context: 'insecure' }, expect: { token: undefined } },
    { name: 'an unreadable tokenFile falls back to token', options: { kubeconfig: '$/tls/kc.yaml', context: 'lostfile' }, expect: { token: 'fallback' } },
    { name: 'a bare host:port gets http without TLS settings', options: { kubeconfig: '$/tls/kc.yaml', context: 'bare' }, expect: { server: 'http://127.0.0.1:4005' } },
    { name: 'a bare host:port gets https with a CA', options: { kubeconfig: '$/tls/kc.yaml', context: 'barewithca' }, expect: { server: 'https://127.0.0.1:4006', caPem: CA } },
    // "Determine the actual cluster information": command-line flags first.
    { name: '--server overrides the cluster server and keeps its CA', options: { kubeconfig: '$/tls/kc.yaml', server: 'https://localhost:9999' }, expect: { server: 'https://localhost:9999', caPem: CA2, context: 'data' } },
    { name: '--server alone, no kubeconfig anywhere', home: 'nowhere', options: { server: 'https://127.0.0.1:6443', token: 't' }, expect: { server: 'https://127.0.0.1:6443', token: 't', namespace: 'default', insecureSkipTLSVerify: false, files: [], context: undefined, caPem: undefined } },
    { name: '--server with a config that has no current-context', options: { kubeconfig: '$/nocurrent.yaml', server: 'https://127.0.0.1:7' }, expect: { server: 'https://127.0.0.1:7', context: undefined } },
    { name: '--insecure-skip-tls-verify clears the cluster CA', options: { kubeconfig: '$/tls/kc.yaml', insecureSkipTLSVerify: true }, expect: { insecureSkipTLSVerify: true, caPem: undefined } },
    { name: '--insecure-skip-tls-verify also skips an unreadable CA file', options: { kubeconfig: '$/tls/kc.yaml', context: 'noca', insecureSkipTLSVerify: true }, expect: { insecureSkipTLSVerify: true } },
    { name: '--token wins over token and tokenFile', options: { kubeconfig: '$/tls/kc.yaml', token: 'flag' }, expect: { token: 'flag' } },
    { name: '--namespace wins over the context namespace', options: { kubeconfig: '$/a/a.yaml', namespace: 'other' }, expect: { namespace: 'other' } },
    { name: '--context picks another context', options: { kubeconfig: '$/tls/kc.yaml', context: 'both', insecureSkipTLSVerify: true }, expect: { context: 'both', token: 'inline-token' } },

    // Errors name the file and the problem.
    { name: 'nothing to load', home: 'nowhere', expect: { code: 'PODNET_NO_CLUSTER', message: /no kubeconfig found \(KUBECONFIG is unset and \$\/nowhere\/\.kube\/config does not exist\).*--kubeconfig <file>.*KUBECONFIG=<file>.*--server <url>/ } },
    { name: 'KUBECONFIG lists only missing files', env: { KUBECONFIG: '$/x.yaml:$/y.yaml' }, expect: { code: 'PODNET_NO_CLUSTER', message: /no kubeconfig found \(none of the files in KUBECONFIG=\$\/x\.yaml:\$\/y\.yaml exists\)/ } },
    { name: 'an empty kubeconfig', options: { kubeconfig: '$/empty.yaml' }, expect: { code: 'PODNET_NO_CLUSTER', message: /the kubeconfig \$\/empty\.yaml defines no clusters or contexts/ } },
    { name: '--kubeconfig must exist', options: { kubeconfig: '$/missing.yaml' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /cannot read kubeconfig \$\/missing\.yaml: no such file/ } },
    { name: 'a directory is not a kubeconfig', options: { kubeconfig: '$/a' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /cannot read kubeconfig \$\/a: is a directory/ } },
    { name: 'bad YAML names file and line', options: { kubeconfig: '$/bad.yaml' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /^\$\/bad\.yaml:3:1: not valid YAML/ } },
    { name: 'bad YAML in a KUBECONFIG entry is not skipped', env: { KUBECONFIG: '$/a/a.yaml:$/bad.yaml' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /\$\/bad\.yaml/ } },
    { name: 'YAML 1.1: an unquoted y is a boolean, as kubectl reads it', options: { kubeconfig: '$/typed.yaml' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /^\$\/typed\.yaml:4: contexts\[0\]\.name: expected a string, got boolean true \(quote it/ } },
    { name: 'a wrongly typed field names its path', options: { kubeconfig: '$/tabs.yaml' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /^\$\/tabs\.yaml:6: clusters\[0\]\.cluster\.server: expected a string, got a list/ } },
    { name: 'another kind', options: { kubeconfig: '$/pod.yaml' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /not a kubeconfig: no kind "Pod"/ } },
    { name: 'duplicate names in one list', options: { kubeconfig: '$/dup.yaml' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /clusters\[1\]\.name: duplicate name "c" in clusters/ } },
    { name: 'an unknown --context', options: { kubeconfig: '$/a/a.yaml', context: 'prod' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /\$\/a\/a\.yaml: context "prod" \(from --context\) not found; known contexts: "a"/ } },
    { name: 'a current-context that does not exist', options: { kubeconfig: '$/dangling.yaml' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /current-context "ghost" \(set in \$\/dangling\.yaml\) not found; known contexts: "real"/ } },
    { name: 'no current-context and no --context', options: { kubeconfig: '$/nocurrent.yaml' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /current-context is not set; pass --context <name> \(known contexts: "c1", "c2"\)/ } },
    { name: 'the context names a missing cluster', options: { kubeconfig: '$/tls/kc.yaml', context: 'gone' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /^\$\/tls\/kc\.yaml: cluster "gone" \(of context "gone"\) not found; known clusters: "data"/ } },
    { name: 'the context names no cluster', options: { kubeconfig: '$/tls/kc.yaml', context: 'nocluster' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /context "nocluster" names no cluster/ } },
    { name: 'the cluster has no server', options: { kubeconfig: '$/tls/kc.yaml', context: 'noserver' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /cluster "noserver" has no server/ } },
    { name: 'an unreadable certificate-authority', options: { kubeconfig: '$/tls/kc.yaml', context: 'noca' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /unable to read certificate-authority \$\/tls\/missing\.pem for cluster "noca"/ } },
    { name: 'bad certificate-authority-data', options: { kubeconfig: '$/tls/kc.yaml', context: 'baddata' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /certificate-authority-data is not a base64-encoded PEM/ } },
    { name: 'a CA together with insecure-skip-tls-verify', options: { kubeconfig: '$/tls/kc.yaml', context: 'both' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /specifying a root certificates file with the insecure flag is not allowed/ } },
    { name: 'an unreadable tokenFile without a token', options: { kubeconfig: '$/tls/kc.yaml', context: 'lostfileonly' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /user "lostfileonly": cannot read tokenFile \$\/tls\/nope/ } },
    { name: 'an invalid --server', options: { kubeconfig: '$/a/a.yaml', server: 'https://' }, expect: { code: 'PODNET_KUBECONFIG_INVALID', message: /the server "https:\/\/" is not a valid http\(s\) URL/ } },
  ];

  for (const c of cases) {
    t.test(c.name, async (t) => {
      const dir = fixture(t, files);
      const sub = (s: string): string => s.replaceAll('$', dir);
      const options: LoadClientConfigOptions = {};
      for (const [k, v] of Object.entries(c.options ?? {})) (options as Record<string, unknown>)[k] = typeof v === 'string' ? sub(v) : v;
      options.env = Object.fromEntries(Object.entries(c.env ?? {}).map(([k, v]) => [k, sub(v)]));
      options.home = path.join(dir, c.home ?? 'home');
      const unsub = (s: string): string => s.replaceAll(dir, '$');
      if ('code' in c.expect) {
        const want = c.expect;
        let caught: unknown;
        try {
          loadClientConfig(options);
        } catch (err) {
          caught = err;
        }
        const err = caught as { code?: string; message?: string } | undefined;
        t.equal(err?.code, want.code, err?.message ?? 'no error thrown');
        if (want.message) t.match(unsub(err?.message ?? ''), want.message);
        return;
      }
      const got = loadClientConfig(options);
      const shown = { ...got, files: got.files.map(unsub) };
      for (const [k, v] of Object.entries(c.expect)) {
        t.same(shown[k as keyof ClientConfig], Array.isArray(v) ? v.map((f: string) => f) : v, k);
      }
    });
  }
});

t.test('loadClientConfig reads process.env when no env is injected', async (t) => {
  const dir = fixture(t, { kc: JSON.stringify(buildKubeconfig({ name: 'p', server: 'https://127.0.0.1:1' })) });
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = path.join(dir, 'kc');
  t.teardown(() => {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  });
  t.equal(loadClientConfig().context, 'p');
});

t.test('kubectl reads what writeKubeconfig wrote, and agrees with the loader', async (t) => {
  if (!onPath('kubectl', 'version', '--client')) {
    t.comment('!!! kubectl not on PATH: SKIPPING the check that kubectl reads podnet kubeconfigs');
    return;
  }
  const dir = fixture(t);
  // Only the temp dir: kubectl must not see the user's own ~/.kube/config.
  const kubectl = (args: string[], env: Record<string, string> = {}): string =>
    execFileSync('kubectl', args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });

  // Names YAML 1.1 would misread ("on", "y") must come back as the same strings. One
  // `config view --raw -o json` per file: the whole of what kubectl read, secrets included.
  for (const name of ['podnet-dev', 'on', 'y']) {
    const file = path.join(dir, `${name}.kubeconfig`);
    writeKubeconfig(file, buildKubeconfig({ name, server: 'https://127.0.0.1:6443', caPem: CA, token: 'abc', namespace: 'team-a' }), {
      home: dir,
      header: 'Written by podnet up',
    });
    const seen = JSON.parse(kubectl(['config', 'view', '--raw', '--kubeconfig', file, '-o', 'json']));
    t.equal(seen.clusters[0].cluster.server, 'https://127.0.0.1:6443');
    t.equal(seen['current-context'], name);
    t.equal(seen.clusters[0].cluster['certificate-authority-data'], b64(CA));
    t.equal(seen.users[0].user.token, 'abc');
    t.equal(seen.contexts[0].context.namespace, 'team-a');
  }

  // Differential: kubectl's own merge of a KUBECONFIG list picks the same server and namespace.
  const a = path.join(dir, 'a.yaml');
  const b = path.join(dir, 'b.yaml');
  writeFileSync(a, kubeconfig({ current: 'a', clusters: { shared: { server: 'https://127.0.0.1:2001' } }, contexts: { a: { cluster: 'shared', user: 'a', namespace: 'ns-a' } }, users: { a: {} } }));
  writeFileSync(b, kubeconfig({ current: 'b', clusters: { shared: { server: 'https://127.0.0.1:3001' }, b: { server: 'https://127.0.0.1:3002' } }, contexts: { b: { cluster: 'b', user: 'b', namespace: 'ns-b' } }, users: { b: {} } }));
  for (const [list, context] of [
    [`${a}:${b}`, undefined],
    [`${b}:${a}`, undefined],
    [`${a}:${b}`, 'b'],
    [`${path.join(dir, 'missing.yaml')}:${b}`, undefined],
  ] as const) {
    const minified = JSON.parse(kubectl(['config', 'view', '--minify', ...(context ? ['--context', context] : []), '-o', 'json'], { KUBECONFIG: list }));
    const want = {
      server: minified.clusters[0].cluster.server ?? '',
      namespace: minified.contexts[0].context.namespace ?? '',
    };
    const got = loadClientConfig({ env: { KUBECONFIG: list }, home: dir, ...(context ? { context } : {}) });
    t.same({ server: got.server, namespace: got.namespace }, want, `KUBECONFIG=${list.replaceAll(dir, '$')} --context=${context ?? ''}`);
  }
});
