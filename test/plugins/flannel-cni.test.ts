// flannel's CNI plugin as a runtime runs it: a real child process of bin/podnet-cni-flannel.js
// (built to dist/ by `npm test`'s compile step) with the CNI_* environment and the network
// configuration on stdin, answering on stdout with its exit code. Each test names the section of
// the CNI SPEC (containernetworking/cni SPEC.md, 1.1.0) it checks. Every file the plugin reads or
// writes (subnet.env, its scratch dataDir, host-local's dataDir) lives in a temp directory.
//
// The SPEC's required behaviours — VERSION, ADD twice, DEL of an unknown container, CHECK of a
// missing address, and the error JSON and codes for bad configuration and a bad environment — go
// through the executable (`cni`, `add`; independent error cases run side by side, `cniTogether`).
// Setup steps and the other cases call the code the executable runs, invokeFlannelCni, in this
// process with the same environment and stdin (`cniIn`, `addIn`): each call is still a separate
// invocation that knows only the files on disk, as a separate process would.
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { parseCIDR, parseIP } from '../../lib/core/ipnet.js';
import { FlannelNetwork } from '../../plugins/flannel/flannel.js';
import { invokeFlannelCni } from '../../plugins/flannel/cni.js';
import { CniErrorCode, type CniError } from '../../plugins/cni/spec.js';
import type { ClusterSpec } from '../../lib/api/cluster.js';

const BIN = 'bin/podnet-cni-flannel.js';
const BUILT = 'dist/plugins/flannel/main.js';
if (!existsSync(BUILT)) {
  throw new Error(`${BUILT} is missing: these tests run the built plugin; run \`npm run build\` first (\`npm test\` builds before tap runs)`);
}

type Json = Record<string, any>;

/** A node: flanneld's subnet.env and the plugin's data directories, all under a temp dir. */
function node(t: Test, subnet = '10.244.1.1/24') {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-flannel-cni-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const subnetFile = join(dir, 'run/flannel/subnet.env');
  mkdirSync(dirname(subnetFile), { recursive: true });
  writeFileSync(subnetFile, `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${subnet}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`);
  const scratchDir = join(dir, 'var/lib/cni/flannel');
  const networkDir = join(dir, 'var/lib/cni/networks/cbr0');
  /** The plugin's configuration, as kube-flannel's conflist hands it over. */
  const conf = (cniVersion = '1.0.0', extra: Json = {}): Json => ({
    cniVersion,
    name: 'cbr0',
    type: 'flannel',
    subnetFile,
    dataDir: scratchDir,
    ipam: { dataDir: join(dir, 'var/lib/cni/networks') },
    delegate: { hairpinMode: true, isDefaultGateway: true },
    ...extra,
  });
  return { dir, subnetFile, scratchDir, networkDir, conf };
}

type Env = Record<string, string | undefined>;

/** What one invocation answered: exit code, stdout (parsed when it is JSON) and stderr. */
interface Answer {
  code: number | null;
  stdout: string;
  stderr: string;
  json: Json | undefined;
}

/** Only the environment a runtime would give the plugin: the CNI_* variables and PATH. */
function runtimeEnv(command: string | undefined, env: Env): Record<string, string> {
  const all: Env = {
    PATH: process.env.PATH,
    CNI_COMMAND: command,
    CNI_CONTAINERID: 'c1',
    CNI_NETNS: '/var/run/netns/c1',
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/opt/cni/bin',
    ...env,
  };
  return Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined));
}

function input(stdin: unknown): string {
  return typeof stdin === 'string' ? stdin : JSON.stringify(stdin);
}

function answer(code: number | null, stdout: string, stderr: string): Answer {
  let json: Json | undefined;
  try {
    json = stdout ? (JSON.parse(stdout) as Json) : undefined;
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr, json };
}

/** A bound on failures, never a wait: a plugin that hangs is killed and its case fails. */
const SPAWN_TIMEOUT_MS = 30_000;

/** One invocation of the executable, with only the environment a runtime would give it. */
function cni(command: string | undefined, stdin: unknown, env: Env = {}): Answer {
  const r = spawnSync(process.execPath, [BIN], { input: input(stdin), env: runtimeEnv(command, env), encoding: 'utf8', timeout: SPAWN_TIMEOUT_MS });
  return answer(r.status, r.stdout, r.stderr);
}

/** Several invocations of the executable at once, for cases that do not depend on each other. */
function cniTogether(runs: [command: string | undefined, stdin: unknown, env?: Env][]): Promise<Answer[]> {
  return Promise.all(
    runs.map(
      ([command, stdin, env = {}]) =>
        new Promise<Answer>((resolve, reject) => {
          const child = spawn(process.execPath, [BIN], { env: runtimeEnv(command, env), stdio: ['pipe', 'pipe', 'pipe'], timeout: SPAWN_TIMEOUT_MS });
          let stdout = '';
          let stderr = '';
          child.stdout.setEncoding('utf8').on('data', (d: string) => void (stdout += d));
          child.stderr.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
          child.on('error', reject);
          child.on('close', (code) => resolve(answer(code, stdout, stderr)));
          // A plugin may answer without reading stdin (VERSION, a bad environment) and exit first.
          child.stdin.on('error', (err: NodeJS.ErrnoException) => void (err.code === 'EPIPE' || reject(err)));
          child.stdin.end(input(stdin));
        }),
    ),
  );
}

/** The same invocation in this process: the code the executable runs, with the same environment and stdin. */
function cniIn(command: string | undefined, stdin: unknown, env: Env = {}): Answer {
  const out = invokeFlannelCni({ env: runtimeEnv(command, env), stdin: input(stdin) });
  return answer(out.exitCode, out.stdout, out.stderr);
}

function addEnv(id: string, env: Env): Env {
  return { CNI_CONTAINERID: id, CNI_NETNS: `/var/run/netns/${id}`, ...env };
}

/** ADD of container `id` on eth0 (unless told otherwise), by the executable. */
function add(conf: Json, id: string, env: Env = {}): Answer {
  return cni('ADD', conf, addEnv(id, env));
}

/** The same ADD in this process. */
function addIn(conf: Json, id: string, env: Env = {}): Answer {
  return cniIn('ADD', conf, addEnv(id, env));
}

function address(r: { json?: Json }): string {
  return r.json?.ips?.[0]?.address;
}

/**
 * Where a result strays from the SPEC's result shape for its version (section "Result Types",
 * "Success"; the 0.3.x/0.4.0 result adds `version` to each `ips` entry, which 1.0.0 dropped).
 */
function shapeErrors(version: string, r: Json): string[] {
  const errs: string[] = [];
  const v1 = version.startsWith('1.');
  const only = (o: Json, keys: string[], where: string) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) errs.push(`${where}.${k} is not part of a ${version} result`);
  };
  only(r, ['cniVersion', 'interfaces', 'ips', 'routes', 'dns'], 'result');
  if (r.cniVersion !== version) errs.push(`cniVersion is ${r.cniVersion}, want ${version}`);
  const interfaces: Json[] = r.interfaces ?? [];
  if (!Array.isArray(interfaces)) errs.push('interfaces is not a list');
  interfaces.forEach((i, n) => {
    only(i, ['name', 'mac', 'sandbox'], `interfaces[${n}]`);
    if (typeof i.name !== 'string' || !i.name) errs.push(`interfaces[${n}].name missing`);
    if (i.mac !== undefined && !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(i.mac)) errs.push(`interfaces[${n}].mac ${i.mac} is not a MAC`);
    if (i.sandbox !== undefined && typeof i.sandbox !== 'string') errs.push(`interfaces[${n}].sandbox is not a string`);
  });
  if (!Array.isArray(r.ips)) errs.push('ips is not a list');
  (r.ips ?? []).forEach((ip: Json, n: number) => {
    only(ip, v1 ? ['address', 'gateway', 'interface'] : ['version', 'address', 'gateway', 'interface'], `ips[${n}]`);
    const cidr = parseCIDR(ip.address ?? '');
    if (!cidr) errs.push(`ips[${n}].address ${ip.address} is not CIDR notation`);
    if (!v1 && ip.version !== (cidr?.family === 'IPv6' ? '6' : '4')) errs.push(`ips[${n}].version ${ip.version} does not match ${ip.address}`);
    if (ip.gateway !== undefined && !parseIP(ip.gateway)) errs.push(`ips[${n}].gateway ${ip.gateway} is not an address`);
    if (ip.interface !== undefined && !(Number.isInteger(ip.interface) && ip.interface >= 0 && ip.interface < interfaces.length)) {
      errs.push(`ips[${n}].interface ${ip.interface} is not an index into interfaces`);
    }
  });
  (r.routes ?? []).forEach((route: Json, n: number) => {
    only(route, ['dst', 'gw'], `routes[${n}]`);
    if (!parseCIDR(route.dst ?? '')) errs.push(`routes[${n}].dst ${route.dst} is not CIDR notation`);
    if (route.gw !== undefined && !parseIP(route.gw)) errs.push(`routes[${n}].gw ${route.gw} is not an address`);
  });
  if (r.dns !== undefined) only(r.dns, ['nameservers', 'domain', 'search', 'options'], 'dns');
  return errs;
}

t.test('VERSION lists the versions (SPEC §2 "VERSION: probe plugin version support", §5 "Version")', async (t) => {
  const versions = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];
  const none = { CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined, CNI_PATH: undefined };
  const [r, bare] = (await cniTogether([
    ['VERSION', { cniVersion: '1.0.0' }, none],
    ['VERSION', '', none],
  ])) as [Answer, Answer];
  t.equal(r.code, 0, r.stdout);
  t.same(r.json, { cniVersion: '1.0.0', supportedVersions: versions }, 'cniVersion is the one given on input');
  t.equal(bare.code, 0);
  t.same(bare.json, { cniVersion: '1.1.0', supportedVersions: versions }, 'no input: the current version');
});

t.test('ADD gives two containers distinct addresses from the node subnet, the gateway .1 skipped (SPEC §2 "ADD", §5 "Success")', async (t) => {
  const n = node(t);
  const a = add(n.conf(), 'a');
  t.equal(a.code, 0, a.stdout);
  t.same(shapeErrors('1.0.0', a.json!), []);
  t.same(a.json!.ips, [{ interface: 2, address: '10.244.1.2/24', gateway: '10.244.1.1' }]);
  t.same(
    a.json!.interfaces.map((i: Json) => [i.name.replace(/^veth[0-9a-f]{8}$/, 'veth*'), i.sandbox]),
    [['cni0', undefined], ['veth*', undefined], ['eth0', '/var/run/netns/a']],
    'bridge, host veth, then the container interface in CNI_NETNS',
  );
  t.same(a.json!.routes, [{ dst: '10.244.0.0/16' }, { dst: '0.0.0.0/0', gw: '10.244.1.1' }], 'the cluster network, and the default route (isDefaultGateway)');
  t.same(a.json!.dns, {});

  const b = addIn(n.conf(), 'b');
  t.equal(b.code, 0, b.stdout);
  t.equal(address(b), '10.244.1.3/24', 'a separate invocation sees the first reservation');

  // host-local's disk format, shared by every invocation on the node.
  t.same(readdirSync(n.networkDir).sort(), ['10.244.1.2', '10.244.1.3', 'last_reserved_ip.0']);
  t.equal(readFileSync(join(n.networkDir, '10.244.1.2'), 'utf8'), 'a\r\neth0');
  t.equal(readFileSync(join(n.networkDir, 'last_reserved_ip.0'), 'utf8'), '10.244.1.3');
});

t.test('ADD answers in the shape of the configuration\'s version: 0.3.1, 1.0.0, 1.1.0 (SPEC §5 "Success"; 1.0.0 removed "version" from ips)', async (t) => {
  const n = node(t);
  const old = addIn(n.conf('0.3.1'), 'old');
  t.equal(old.code, 0, old.stdout);
  t.same(shapeErrors('0.3.1', old.json!), []);
  t.equal(old.json!.ips[0].version, '4');
  t.notOk('mtu' in old.json!.interfaces[2], '0.3.1 interfaces carry no mtu');

  const v1 = addIn(n.conf('1.0.0'), 'v1');
  t.same(shapeErrors('1.0.0', v1.json!), []);
  t.notOk('version' in v1.json!.ips[0]);

  const v11 = addIn(n.conf('1.1.0'), 'v11');
  t.equal(v11.code, 0, v11.stdout);
  t.equal(v11.json!.cniVersion, '1.1.0');
  t.equal(v11.json!.interfaces[2].mtu, 1450, '1.1.0 interfaces carry the MTU (FLANNEL_MTU)');
});

t.test('ADD twice for the same container and interface is refused; another interface is a new attachment (SPEC §2 "ADD")', async (t) => {
  // "If an interface of the requested name already exists in the container, the CNI plugin MUST
  // return with an error." host-local refuses the duplicate and keeps the first reservation.
  const n = node(t);
  const first = add(n.conf(), 'c1');
  t.equal(first.code, 0, first.stdout);
  const again = add(n.conf(), 'c1');
  t.equal(again.code, 1);
  t.same(again.json, { cniVersion: '1.0.0', code: 7, msg: '10.244.1.2 has been allocated to c1, duplicate allocation is not allowed' });
  t.same(readdirSync(n.networkDir).filter((f) => parseIP(f)), ['10.244.1.2'], 'no second address was taken');
  const check = cniIn('CHECK', n.conf('1.0.0', { prevResult: first.json }), { CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/c1' });
  t.equal(check.code, 0, `the first ADD still stands: ${check.stdout}`);

  // "a given container ID may be added to a specific network more than once only if each
  // addition is done with a different interface name."
  const eth1 = addIn(n.conf(), 'c1', { CNI_IFNAME: 'eth1' });
  t.equal(eth1.code, 0, eth1.stdout);
  t.equal(address(eth1), '10.244.1.3/24');
  t.equal(cniIn('DEL', n.conf(), { CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' }).code, 0);
  t.same(readdirSync(n.networkDir).filter((f) => parseIP(f)), ['10.244.1.3'], 'DEL of eth0 leaves eth1 alone');
});

t.test('DEL of an unknown container succeeds, and DEL is idempotent (SPEC §2 "DEL")', async (t) => {
  // "Plugins MUST accept multiple DEL calls for the same (CNI_CONTAINERID, CNI_IFNAME) pair, and
  // return success if the interface in question, or any modifications added, are missing."
  const n = node(t);
  const unknown = cni('DEL', n.conf(), { CNI_CONTAINERID: 'never-added', CNI_NETNS: undefined });
  t.same([unknown.code, unknown.stdout], [0, ''], 'success, no output; CNI_NETNS is optional for DEL');

  t.equal(addIn(n.conf(), 'c1').code, 0);
  t.same([cniIn('DEL', n.conf()).code, cni('DEL', n.conf()).code], [0, 0], 'DEL, then DEL again by the executable');
  t.same(readdirSync(n.networkDir).filter((f) => parseIP(f)), [], 'the address was released');
  t.same(readdirSync(n.scratchDir), [], 'and the saved delegate configuration removed');
});

t.test('DEL then ADD: the attachment can be added again, and freed addresses come round again (SPEC §2 "DEL"; host-local round-robin)', async (t) => {
  const n = node(t, '10.244.1.1/29'); // .1 gateway, .2-.6 usable, .7 broadcast
  const got = ['a', 'b', 'c', 'd', 'e'].map((id) => address(addIn(n.conf(), id)));
  t.same(got, ['10.244.1.2/29', '10.244.1.3/29', '10.244.1.4/29', '10.244.1.5/29', '10.244.1.6/29']);
  const full = addIn(n.conf(), 'f');
  t.same([full.code, full.json?.code, full.json?.msg], [1, 11, 'no IP addresses available in range set: 10.244.1.1-10.244.1.6'], 'exhausted: try again later');

  t.equal(cniIn('DEL', n.conf(), { CNI_CONTAINERID: 'c' }).code, 0);
  t.equal(address(addIn(n.conf(), 'f')), '10.244.1.4/29', 'the freed address is reused once allocation wraps');
  t.equal(cniIn('DEL', n.conf(), { CNI_CONTAINERID: 'a' }).code, 0);
  const again = addIn(n.conf(), 'a');
  t.equal(again.code, 0, `a DELeted attachment can be ADDed again: ${again.stdout}`);
  t.equal(address(again), '10.244.1.2/29');
});

t.test('CHECK detects a missing address (SPEC §2 "CHECK")', async (t) => {
  // "The plugin should return an error if ... IP reservations ... are missing"; the plugin
  // "should call CHECK on any delegated (e.g. IPAM) plugins and pass any errors on".
  const n = node(t);
  const a = addIn(n.conf(), 'c1');
  const ok = cniIn('CHECK', n.conf('1.0.0', { prevResult: a.json }));
  t.same([ok.code, ok.stdout], [0, ''], 'CHECK right after ADD succeeds with no output');

  const moved = structuredClone(a.json!);
  moved.ips[0].address = '10.244.1.99/24';
  const wrong = cni('CHECK', n.conf('1.0.0', { prevResult: moved }));
  t.same([wrong.code, wrong.json?.code], [1, 3], 'an address in prevResult the container does not hold');

  unlinkSync(join(n.networkDir, '10.244.1.2'));
  const lost = cni('CHECK', n.conf('1.0.0', { prevResult: a.json }));
  t.equal(lost.code, 1);
  t.same(lost.json, { cniVersion: '1.0.0', code: 3, msg: 'host-local: Failed to find address added by container c1' });

  const noPrev = cniIn('CHECK', n.conf());
  t.same([noPrev.json?.code, noPrev.json?.msg], [7, 'required prevResult missing'], 'the runtime must include prevResult');
  const old = cniIn('CHECK', n.conf('0.3.1', { prevResult: a.json }));
  t.same([old.json?.code, old.json?.msg], [1, 'config version does not allow CHECK'], 'CHECK came with 0.4.0');
  const unknown = cniIn('CHECK', n.conf('1.0.0', { prevResult: a.json }), { CNI_CONTAINERID: 'nobody' });
  t.equal(unknown.json?.code, 3, 'a container never ADDed is unknown');
});

t.test('bad configuration answers with the SPEC\'s error JSON and codes (SPEC §5 "Error")', async (t) => {
  const n = node(t);
  const cases: [string, unknown, number, string | RegExp][] = [
    ['not JSON', '{"cniVersion": ', 6, /^error unmarshall network config: /],
    ['no network name', { cniVersion: '1.0.0', type: 'flannel' }, 7, 'missing network name'],
    ['a bad network name', { ...n.conf(), name: 'my net' }, 7, 'invalid characters found in network name'],
    ['an unsupported cniVersion', n.conf('0.2.0'), 1, 'incompatible CNI versions'],
    ['a delegate that names itself', n.conf('1.0.0', { delegate: { name: 'x' } }), 7, "'delegate' dictionary must not have 'name' field, it'll be set by flannel"],
    ['a delegate with ipam', n.conf('1.0.0', { delegate: { ipam: {} } }), 7, "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel"],
    ['a delegate podnet does not run', n.conf('1.0.0', { delegate: { type: 'ipvlan' } }), 2, 'unsupported field "delegate.type": "ipvlan"'],
    ['another IPAM plugin', n.conf('1.0.0', { ipam: { type: 'dhcp' } }), 2, 'unsupported field "ipam.type": "dhcp"'],
    ['no subnet.env yet', n.conf('1.0.0', { subnetFile: join(n.dir, 'missing.env') }), 11, `failed to load flannel 'subnet.env' file: open ${join(n.dir, 'missing.env')}: no such file or directory`],
  ];
  const answers = new Map<string, Json>();
  const results = await cniTogether(cases.map(([, stdin]): [string, unknown, Env] => ['ADD', stdin, addEnv('c1', {})]));
  for (const [i, [name, , code, msg]] of cases.entries()) {
    const r = results[i]!;
    t.equal(r.code, 1, `${name}: exit code 1`);
    t.equal(r.json?.code, code, `${name}: code ${code}`);
    t.match(r.json?.msg, msg, `${name}: msg`);
    t.type(r.json?.cniVersion, 'string', `${name}: the error carries a cniVersion`);
    answers.set(name, r.json!);
  }
  const incompatible = answers.get('an unsupported cniVersion')!;
  t.equal(incompatible.details, 'config is "0.2.0", plugin supports ["0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]');
  t.equal(incompatible.cniVersion, '0.2.0', 'the error echoes the configuration\'s version');
  t.notOk(existsSync(n.networkDir), 'nothing was allocated');
});

t.test('bad environment answers with code 4 naming the variables (SPEC §2 "Parameters", §5 "Error")', async (t) => {
  const n = node(t);
  const table: [string, Record<string, string | undefined>, string, string?][] = [
    ['CHECK without CNI_NETNS', { CNI_COMMAND: 'CHECK', CNI_NETNS: undefined }, 'required env variables [CNI_NETNS] missing'],
    ['DEL without CNI_IFNAME', { CNI_COMMAND: 'DEL', CNI_IFNAME: undefined }, 'required env variables [CNI_IFNAME] missing'],
    ['GC without CNI_PATH', { CNI_COMMAND: 'GC', CNI_PATH: undefined }, 'required env variables [CNI_PATH] missing'],
    ['a container id with bad characters', { CNI_CONTAINERID: 'bad/id' }, 'invalid characters in containerID', 'bad/id'],
    ['an interface name over 15 characters', { CNI_IFNAME: 'eth0123456789012' }, 'interface name is too long', 'interface name should be less than 16 characters'],
    ['an interface name with a colon', { CNI_IFNAME: 'eth0:1' }, 'interface name contains / or : or whitespace characters'],
    ['an unknown command', { CNI_COMMAND: 'RESET' }, 'unknown CNI_COMMAND: RESET'],
    ['a malformed CNI_ARGS', { CNI_ARGS: 'K8S_POD_NAME' }, 'invalid CNI_ARGS pair "K8S_POD_NAME"'],
  ];
  // Every case, and the plugin run without CNI_COMMAND, side by side: none of them may touch the node.
  const [missing, about, ...results] = (await cniTogether([
    ['ADD', n.conf(), { CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined, CNI_PATH: undefined }],
    [undefined, ''],
    ...table.map(([, env]): [string, unknown, Env] => [env.CNI_COMMAND ?? 'ADD', n.conf('1.1.0'), env]),
  ])) as [Answer, Answer, ...Answer[]];
  t.same(missing.json, { cniVersion: '1.1.0', code: 4, msg: 'required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing' });
  t.equal(missing.code, 1);
  for (const [i, [name, , msg, details]] of table.entries()) {
    const r = results[i]!;
    t.equal(r.code, 1, `${name}: exit code 1`);
    t.same([r.json?.code, r.json?.msg, r.json?.details], [4, msg, details], name);
  }
  t.same(readdirSync(n.dir).sort(), ['run'], 'nothing was allocated or saved');

  // skel: without CNI_COMMAND the plugin says what it is, on stderr, and exits 0.
  t.same([about.code, about.stdout], [0, '']);
  t.match(about.stderr, /^CNI Plugin flannel .*\nCNI protocol versions supported: 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0\n$/);
});

t.test('STATUS reports readiness: ready once flanneld wrote subnet.env (SPEC §2 "STATUS", CNI 1.1.0)', async (t) => {
  const n = node(t);
  const attachment = { CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined };
  const ready = cniIn('STATUS', n.conf('1.1.0'), attachment);
  t.same([ready.code, ready.stdout], [0, ''], 'ready: exit 0, no output');
  rmSync(n.subnetFile);
  const notReady = cniIn('STATUS', n.conf('1.1.0'), attachment);
  t.equal(notReady.code, 1);
  t.equal(notReady.json?.code, 50, '50: the plugin is not available');
  t.match(notReady.json?.details, "failed to load flannel 'subnet.env' file");
  const old = cniIn('STATUS', n.conf('1.0.0'), attachment);
  t.same([old.json?.code, old.json?.msg], [1, 'config version does not allow STATUS']);
});

t.test('GC releases what cni.dev/valid-attachments does not list (SPEC §2 "GC", CNI 1.1.0)', async (t) => {
  const n = node(t);
  for (const id of ['a', 'b', 'c']) t.equal(addIn(n.conf('1.1.0'), id).code, 0);
  t.equal(addIn(n.conf('1.1.0'), 'a', { CNI_IFNAME: 'net1' }).code, 0);
  const valid = [
    { containerID: 'a', ifname: 'eth0' },
    { containerID: 'c', ifname: 'eth0' },
  ];
  const gc = cniIn('GC', n.conf('1.1.0', { 'cni.dev/valid-attachments': valid }), { CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined });
  t.same([gc.code, gc.stdout], [0, ''], 'success, no output');
  const held = readdirSync(n.networkDir)
    .filter((f) => parseIP(f))
    .map((f) => `${f} ${readFileSync(join(n.networkDir, f), 'utf8').replace('\r\n', '/')}`)
    .sort();
  t.same(held, ['10.244.1.2 a/eth0', '10.244.1.4 c/eth0'], 'b and a/net1 were released: same container, other interface, other attachment');
  t.ok(existsSync(join(n.networkDir, 'last_reserved_ip.0')), 'the bookkeeping stays');
  t.same(readdirSync(n.scratchDir).sort(), ['a-eth0', 'c-eth0'], 'and their saved delegate configurations went too');
  t.equal(address(addIn(n.conf('1.1.0'), 'd')), '10.244.1.6/24', 'allocation goes on round-robin');

  const old = cniIn('GC', n.conf('1.0.0', { 'cni.dev/valid-attachments': valid }), { CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined });
  t.same([old.json?.code, old.json?.msg], [1, 'config version does not allow GC']);
});

t.test('the standalone plugin and the in-process cluster run one implementation', async (t) => {
  // The kubelet's in-process ADD and the executable's ADD on the same node subnet give the same
  // result (the executable keyed by the node name it is told, as a node's hostname would be).
  const cluster = { network: { plugin: 'flannel', backend: 'vxlan', mtu: 1500, podSubnet: '10.244.0.0/16' } } as unknown as ClusterSpec;
  const flannel = new FlannelNetwork(cluster);
  flannel.syncNode({ metadata: { name: 'worker' }, spec: { podCIDR: '10.244.1.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '172.18.0.3' }] } } as never);
  const inv = { containerId: 'c1', netns: '/var/run/netns/c1', ifName: 'eth0', args: {}, path: [] };
  const inProcess = flannel.add('worker', inv);

  const n = node(t);
  writeFileSync(n.subnetFile, flannel.subnetEnv('worker')!);
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
  const out = invokeFlannelCni({ env, stdin: JSON.stringify(n.conf('1.1.0')) }, { hostname: 'worker' });
  t.equal(out.exitCode, 0, out.stdout);
  t.same(JSON.parse(out.stdout), inProcess);
  t.equal(flannel.subnetEnv('worker'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
  t.equal(flannel.subnetEnv('nowhere'), undefined, 'no lease, no subnet.env');
  const early = t.throws(() => flannel.add('nowhere', inv)) as CniError;
  t.equal(early.cniCode, CniErrorCode.TryAgainLater, 'ADD before the lease: try again later');
});
