import t from 'tap';
import {
  everything,
  newRequirement,
  nothing,
  parseSelector,
  selectorFromLabelSelector,
  selectorFromSet,
} from '../../lib/apimachinery/labels.js';
import { isQualifiedName, isValidLabelValue } from '../../lib/apimachinery/validation.js';
import type { LabelSelector } from '../../lib/api/meta.js';

// The examples of the "Labels and Selectors" concept page
// (kubernetes.io/docs/concepts/overview/working-with-objects/labels/), sections
// "Equality-based requirement" and "Set-based requirement", plus the grammar example of
// labels.Parse's doc comment (`x in (foo,,baz),y,z notin ()`). Each parses, and prints in
// apimachinery's canonical form: requirements sorted by key, set values sorted.
const canonical: Array<[input: string, printed: string]> = [
  ['environment = production', 'environment=production'],
  ['tier != frontend', 'tier!=frontend'],
  ['environment=production,tier!=frontend', 'environment=production,tier!=frontend'],
  ['environment in (production, qa)', 'environment in (production,qa)'],
  ['tier notin (frontend, backend)', 'tier notin (backend,frontend)'],
  ['partition', 'partition'],
  ['!partition', '!partition'],
  ['partition,environment notin (qa)', 'environment notin (qa),partition'],
  ['partition in (customerA, customerB),environment!=qa', 'environment!=qa,partition in (customerA,customerB)'],
  ['x in (foo,,baz),y,z notin ()', 'x in (,baz,foo),y,z notin ()'],
  ['a==b', 'a==b'],
  ['a=', 'a='],
  ['replicas>1,replicas<10', 'replicas>1,replicas<10'],
  ['  a  =  b ,\tc ', 'a=b,c'],
  ['x in (in, notin)', 'x in (in,notin)'],
  ['example.com/tier=db', 'example.com/tier=db'],
  ['', ''],
];

t.test('parses the documented selectors into their canonical string', async (t) => {
  for (const [input, printed] of canonical) {
    t.equal(parseSelector(input).toString(), printed, JSON.stringify(input));
  }
});

t.test('the empty string selects everything', async (t) => {
  const s = parseSelector('');
  t.ok(s.empty());
  t.ok(s.matches({}));
  t.ok(s.matches(undefined));
  t.ok(everything().empty());
});

// Matching, per the same page: "environment in (production, qa)" selects resources labelled
// production or qa; "tier notin (frontend, backend)" also selects resources without a tier label;
// "partition" selects those with the key whatever its value; "!partition" those without it.
const matching: Array<[selector: string, labels: Record<string, string>, matches: boolean]> = [
  ['environment = production', { environment: 'production' }, true],
  ['environment = production', { environment: 'qa' }, false],
  ['environment = production', {}, false],
  ['tier != frontend', { tier: 'backend' }, true],
  ['tier != frontend', { tier: 'frontend' }, false],
  ['tier != frontend', {}, true],
  ['environment in (production, qa)', { environment: 'qa' }, true],
  ['environment in (production, qa)', { environment: 'dev' }, false],
  ['environment in (production, qa)', {}, false],
  ['tier notin (frontend, backend)', { tier: 'cache' }, true],
  ['tier notin (frontend, backend)', { tier: 'backend' }, false],
  ['tier notin (frontend, backend)', {}, true],
  ['partition', { partition: '' }, true],
  ['partition', { environment: 'qa' }, false],
  ['!partition', { environment: 'qa' }, true],
  ['!partition', { partition: 'customerA' }, false],
  ['environment=production,tier!=frontend', { environment: 'production', tier: 'backend' }, true],
  ['environment=production,tier!=frontend', { environment: 'production', tier: 'frontend' }, false],
  ['partition,environment notin (qa)', { partition: 'a', environment: 'prod' }, true],
  ['partition,environment notin (qa)', { environment: 'prod' }, false],
  ['replicas>1', { replicas: '2' }, true],
  ['replicas>1', { replicas: '1' }, false],
  ['replicas>1', { replicas: 'two' }, false],
  ['replicas<1', { replicas: '-3' }, true],
  ['a=', { a: '' }, true],
];

t.test('matches label sets as the concept page describes', async (t) => {
  for (const [selector, labels, matches] of matching) {
    t.equal(parseSelector(selector).matches(labels), matches, `${selector} on ${JSON.stringify(labels)}`);
  }
});

// The API server's wording, as kubectl prints it (e.g. `kubectl get pods -l "app:monolith"`
// answers `Error from server (BadRequest): ... unable to parse requirement: <nil>: Invalid value:
// "app:monolith": name part must consist of ...`).
const nameFmt = "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'";
const parseErrors: Array<[input: string, message: string]> = [
  [
    'app:monolith',
    'unable to parse requirement: <nil>: Invalid value: "app:monolith": name part must consist of alphanumeric characters, ' +
      "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', " +
      `${nameFmt})`,
  ],
  [
    'app.kubernetes_io/name=vault',
    'unable to parse requirement: <nil>: Invalid value: "app.kubernetes_io/name": prefix part a lowercase RFC 1123 subdomain ' +
      "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character " +
      "(e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
  ],
  ['a b', "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"],
  ['a=b c', "found 'c', expected: ',' or 'end of string'"],
  ['a=b,', "found '', expected: identifier after ','"],
  [',a', "found ',', expected: !, identifier, or 'end of string'"],
  ['a in (b', "unable to parse requirement: found '', expected: ',' or ')'"],
  ['a in b', "unable to parse requirement: found 'b' expected: '('"],
  ['!a=b', "found '=', expected: ',' or 'end of string'"],
  [
    'a=b@c',
    'unable to parse requirement: values[0][a]: Invalid value: "b@c": a valid label must be an empty string or consist of ' +
      "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or " +
      "'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
  ],
  ['a>b', `unable to parse requirement: values[0]: Invalid value: "b": for 'Gt', 'Lt' operators, the value must be an integer`],
];

t.test('rejects bad selectors with the API server message', async (t) => {
  for (const [input, message] of parseErrors) {
    t.throws(() => parseSelector(input), { code: 'PODNET_BAD_REQUEST', message }, JSON.stringify(input));
  }
});

t.test('validates keys and values with apimachinery rules', async (t) => {
  t.same(isQualifiedName('app.kubernetes.io/name'), []);
  t.same(isQualifiedName('a'.repeat(63)), []);
  t.match(isQualifiedName('a'.repeat(64)), ['name part must be no more than 63 characters']);
  t.match(isQualifiedName('/a'), ['prefix part must be non-empty']);
  t.match(isQualifiedName('a/b/c'), [/^a qualified name must consist of/]);
  t.match(isQualifiedName(`${'a'.repeat(254)}/b`), ['prefix part must be no more than 253 characters']);
  t.same(isValidLabelValue(''), []);
  t.same(isValidLabelValue('v1.2_3-x'), []);
  t.match(isValidLabelValue('-x'), [/^a valid label must be an empty string/]);
  t.match(isValidLabelValue('a'.repeat(64)), ['must be no more than 63 characters']);
});

// The LabelSelector example of the same page ("Resources that support set-based requirements"):
// matchLabels {component: redis}, tier In (cache), environment NotIn (dev).
const docSelector: LabelSelector = {
  matchLabels: { component: 'redis' },
  matchExpressions: [
    { key: 'tier', operator: 'In', values: ['cache'] },
    { key: 'environment', operator: 'NotIn', values: ['dev'] },
  ],
};

t.test('converts a LabelSelector as metav1.LabelSelectorAsSelector does', async (t) => {
  const s = selectorFromLabelSelector(docSelector);
  t.equal(s.toString(), 'component=redis,environment notin (dev),tier in (cache)');
  t.same(
    s.requirements.map((r) => r.key),
    ['component', 'environment', 'tier'],
  );
  const cases: Array<[Record<string, string>, boolean]> = [
    [{ component: 'redis', tier: 'cache' }, true],
    [{ component: 'redis', tier: 'cache', environment: 'prod' }, true],
    [{ component: 'redis', tier: 'cache', environment: 'dev' }, false],
    [{ component: 'redis' }, false],
    [{ tier: 'cache' }, false],
  ];
  for (const [labels, matches] of cases) t.equal(s.matches(labels), matches, JSON.stringify(labels));
  t.equal(selectorFromLabelSelector({ matchExpressions: [{ key: 'partition', operator: 'Exists' }] }).toString(), 'partition');
  t.equal(selectorFromLabelSelector({ matchExpressions: [{ key: 'partition', operator: 'DoesNotExist' }] }).toString(), '!partition');
});

t.test('a nil LabelSelector selects nothing, an empty one everything', async (t) => {
  for (const nil of [undefined, null]) {
    const s = selectorFromLabelSelector(nil);
    t.notOk(s.matches({}));
    t.notOk(s.matches({ a: 'b' }));
    t.notOk(s.empty());
    t.equal(s.toString(), '');
  }
  t.notOk(nothing().matches({}));
  for (const empty of [{}, { matchLabels: {} }, { matchExpressions: [] }]) {
    const s = selectorFromLabelSelector(empty);
    t.ok(s.empty());
    t.ok(s.matches({ anything: 'x' }));
  }
});

t.test('rejects bad LabelSelectors as LabelSelectorAsSelector does', async (t) => {
  const bad: Array<[LabelSelector, string | RegExp]> = [
    [
      { matchExpressions: [{ key: 'tier', operator: 'In', values: [] }] },
      "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty",
    ],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn' }] }, "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"],
    [
      { matchExpressions: [{ key: 'tier', operator: 'Exists', values: ['x'] }] },
      'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist',
    ],
    [{ matchExpressions: [{ key: 'tier', operator: 'Equals' as 'In', values: ['x'] }] }, '"Equals" is not a valid label selector operator'],
    [{ matchLabels: { 'bad key': 'x' } }, /^key: Invalid value: "bad key": name part must consist of/],
  ];
  for (const [ls, message] of bad) {
    t.throws(() => selectorFromLabelSelector(ls), { code: 'PODNET_BAD_REQUEST', message }, JSON.stringify(ls));
  }
});

t.test('selectorFromSet requires every label, like labels.SelectorFromSet', async (t) => {
  const s = selectorFromSet({ tier: 'frontend', app: 'guestbook' });
  t.equal(s.toString(), 'app=guestbook,tier=frontend');
  t.ok(s.matches({ app: 'guestbook', tier: 'frontend', extra: 'x' }));
  t.notOk(s.matches({ app: 'guestbook' }));
  t.ok(selectorFromSet({}).empty());
  t.equal(s.requiresExactMatch('app'), 'guestbook');
  t.equal(s.requiresExactMatch('nope'), undefined);
});

t.test('selectors are immutable; add returns a new one', async (t) => {
  const s = parseSelector('b=1');
  const s2 = s.add(newRequirement('a', 'exists'));
  t.equal(s.toString(), 'b=1');
  t.equal(s2.toString(), 'a,b=1');
  t.throws(() => (s.requirements as unknown[]).push({}));
  t.throws(() => newRequirement('a', 'in', []), { message: /values set can't be empty/ });
});
