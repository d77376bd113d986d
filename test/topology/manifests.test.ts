import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifests, readManifestFile } from '../../lib/topology/manifests.js';
import { ManifestError } from '../../lib/core/errors.js';

// Manifests as `kubectl apply -f` reads them: YAML streams of documents separated by `---`
// (YAML 1.2 section 9.2 "Streams"), JSON, and `kind: List` / `<Kind>List` objects whose items are
// applied one by one. Errors name the file and line, in kubectl's words.

const located = (text: string) => parseManifests(text, 'app.yaml').map((o) => `${o.object.kind}/${o.object.metadata.name}@${o.source.line}`);

t.test('multi-document YAML: every document in order, with the line it starts on; empty documents are skipped', async (t) => {
  const text = [
    '# leading comment', //                       1
    '---', //                                     2
    'apiVersion: v1', //                          3
    'kind: Namespace', //                         4
    'metadata: {name: team}', //                  5
    '---', //                                     6
    '---', //                                     7  (empty document)
    '# only a comment', //                        8
    '---', //                                     9
    'apiVersion: apps/v1', //                     10
    'kind: Deployment', //                        11
    'metadata:', //                               12
    '  name: web', //                             13
    '  namespace: team', //                       14
    '--- # a comment after the marker', //        15
    'apiVersion: v1', //                          16
    'kind: Service', //                           17
    'metadata: {name: web, namespace: team}', //  18
    '---', //                                     19  (trailing marker)
    '',
  ].join('\n');
  t.same(located(text), ['Namespace/team@3', 'Deployment/web@10', 'Service/web@16']);
  const [ns] = parseManifests(text, 'app.yaml');
  t.same(ns!.source, { file: 'app.yaml', line: 3 });
  t.same(ns!.object, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });

  t.same(parseManifests('', 'empty.yaml'), [], 'an empty file is no objects');
  t.same(parseManifests('---\n---\n', 'empty.yaml'), []);
  t.same(parseManifests('apiVersion: v1\nkind: ConfigMap\n', 'x.yaml')[0]!.object.metadata, {}, 'metadata defaults to an empty object');
});

t.test('JSON input, single object or List', async (t) => {
  const json = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } }, null, 2);
  const [pod] = parseManifests(json, 'pod.json');
  t.equal(pod!.object.kind, 'Pod');
  t.same(pod!.object.spec.containers, [{ name: 'c', image: 'x' }]);
  t.equal(pod!.source.line, 1);
  t.same(
    located(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a' } }] })),
    ['Pod/a@1'],
  );
  t.throws(() => parseManifests('{\n  "apiVersion": "v1",\n  "kind": "Pod",\n  "metadata": {"name": [}\n}\n', 'bad.json'), {
    code: 'PODNET_MANIFEST_INVALID',
    source: { file: 'bad.json', line: 4 },
  });
});

t.test('kubectl "List" and <Kind>List objects are expanded into their items', async (t) => {
  const list = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: web}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web}
`;
  t.same(located(list), ['Service/web@1', 'Deployment/web@1'], 'items keep the line of their List');
  t.same(located('apiVersion: v1\nkind: List\nitems: []\n'), [], 'an empty List');
  t.same(located('apiVersion: v1\nkind: List\nmetadata: {resourceVersion: ""}\n'), [], 'a List without items');

  // `kubectl get pods -o yaml` prints a v1 List; a typed PodList may leave kind/apiVersion of its items implied.
  const podList = `apiVersion: v1
kind: PodList
items:
- metadata: {name: a}
- apiVersion: v1
  kind: Pod
  metadata: {name: b}
`;
  const pods = parseManifests(podList, 'pods.yaml');
  t.same(pods.map((p) => [p.object.apiVersion, p.object.kind, p.object.metadata.name]), [
    ['v1', 'Pod', 'a'],
    ['v1', 'Pod', 'b'],
  ]);
  t.same(
    located('apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items:\n  - {apiVersion: v1, kind: Pod, metadata: {name: nested}}\n'),
    ['Pod/nested@1'],
    'nested Lists',
  );
  t.throws(() => parseManifests('apiVersion: v1\nkind: List\nitems:\n- 42\n', 'l.yaml'), { message: 'l.yaml:1: error validating data: items[0] is not an object' });
  t.throws(() => parseManifests('apiVersion: v1\nkind: List\nitems:\n- {metadata: {name: x}}\n', 'l.yaml'), { message: 'kind not set' }, 'items of a v1 List need their own kind');
});

t.test('bad YAML is a ManifestError naming the file and the line, as kubectl prints it', async (t) => {
  const cases: Array<[text: string, line: number, why: RegExp]> = [
    // an unclosed flow sequence on line 7, in the second document
    ['apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: [}\n', 7, /Flow sequence/],
    // a tab used for indentation
    ['apiVersion: v1\nkind: Pod\nmetadata:\n\tname: a\n', 4, /Tabs are not allowed/],
    // a duplicate key (Kubernetes' YAML decoding is strict about duplicate fields too)
    ['apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    app: x\n    app: y\n', 7, /Map keys must be unique/],
    ['apiVersion: v1\nkind: Pod\nkind: Service\n', 3, /Map keys must be unique/],
  ];
  for (const [text, line, why] of cases) {
    const err = t.throws(() => parseManifests(text, 'web.yaml')) as ManifestError;
    t.ok(err instanceof ManifestError, 'a ManifestError');
    t.equal(err.code, 'PODNET_MANIFEST_INVALID');
    t.same(err.source, { file: 'web.yaml', line });
    t.match(err.message, `web.yaml:${line}: error converting YAML to JSON: yaml: line ${line}: `);
    t.match(err.message, why);
  }
});

t.test('a document that is not an object, or lacks kind or apiVersion, is refused', async (t) => {
  t.throws(() => parseManifests('- a\n- b\n', 'x.yaml'), { code: 'PODNET_MANIFEST_INVALID', message: 'x.yaml:1: error unmarshaling JSON: expected an object, got a list' });
  t.throws(() => parseManifests('just text\n', 'x.yaml'), { message: 'expected an object, got string' });
  t.throws(() => parseManifests('apiVersion: v1\nkind: Pod\n---\n\napiVersion: v1\nmetadata: {name: a}\n', 'x.yaml'), {
    code: 'PODNET_MANIFEST_INVALID',
    message: 'x.yaml:5: error validating data: kind not set',
    source: { file: 'x.yaml', line: 5 },
  });
  t.throws(() => parseManifests('kind: Pod\nmetadata: {name: a}\n', 'x.yaml'), { message: 'x.yaml:1: error validating data: apiVersion not set' });
  t.throws(() => parseManifests('apiVersion: v1\nkind: ""\n', 'x.yaml'), { message: 'kind not set' });
  t.throws(() => parseManifests('apiVersion: v1\nkind: Pod\nmetadata: [a]\n', 'x.yaml'), { message: 'metadata must be an object' });
});

t.test('readManifestFile reads a file and names it in errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-manifests-'));
  const file = join(dir, 'web.yaml');
  writeFileSync(file, 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n');
  t.same(readManifestFile(file).map((o) => [o.object.kind, o.source.file, o.source.line]), [
    ['Service', file, 1],
    ['Pod', file, 5],
  ]);
  t.throws(() => readManifestFile(join(dir, 'missing.yaml')), { code: 'PODNET_MANIFEST_INVALID', message: /missing\.yaml: cannot read file: ENOENT/ });
});
