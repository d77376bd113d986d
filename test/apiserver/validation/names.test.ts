import t from 'tap';
import { formatFieldError } from '../../../lib/core/errors.js';
import { contains, formatIP, parseCIDRSloppy, parseIPSloppy } from '../../../lib/core/ipnet.js';
import {
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isLabelKey,
  isValidCIDR,
  isValidIP,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
  isWildcardDNS1123Subdomain,
  validateLabels,
  validateLabelSelector,
  validateNonSpecialIP,
  validateObjectMeta,
  nameIsDNSSubdomain,
  nameIsDNSLabel,
} from '../../../lib/apiserver/validation/names.js';

const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

// "Object Names and IDs" concept page, sections "DNS Subdomain Names", "RFC 1123 Label Names" and
// "RFC 1035 Label Names": the rules and their limits (253 / 63 characters).
t.test('Object Names and IDs: DNS subdomain, RFC 1123 label, RFC 1035 label', async (t) => {
  const table: [string, boolean, boolean, boolean][] = [
    // name, subdomain ok, 1123 label ok, 1035 label ok
    ['my-name', true, true, true],
    ['123-abc', true, true, false],
    ['example.com', true, false, false],
    ['a', true, true, true],
    ['0', true, true, false],
    ['My-Name', false, false, false],
    ['-leading', false, false, false],
    ['trailing-', false, false, false],
    ['under_score', false, false, false],
    ['a..b', false, false, false],
    ['a'.repeat(63), true, true, true],
    ['a'.repeat(64), true, false, false],
    [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`, true, false, false],
    ['a'.repeat(254), false, false, false],
  ];
  for (const [name, sub, label, l1035] of table) {
    t.equal(isDNS1123Subdomain(name).length === 0, sub, `subdomain ${name.slice(0, 20)}`);
    t.equal(isDNS1123Label(name).length === 0, label, `label ${name.slice(0, 20)}`);
    t.equal(isDNS1035Label(name).length === 0, l1035, `1035 label ${name.slice(0, 20)}`);
  }
  t.same(isDNS1123Label('My_Name'), [LABEL_MSG]);
  t.same(isDNS1123Label('example.com'), ['must not contain dots']);
  t.same(isDNS1123Label('a'.repeat(64)), ['must be no more than 63 characters']);
  t.same(isDNS1123Subdomain('Example.com'), [SUBDOMAIN_MSG]);
  t.same(isWildcardDNS1123Subdomain('*.foo.com'), []);
  t.equal(isWildcardDNS1123Subdomain('foo.*.com').length, 1);
});

// "Labels and Selectors" concept page, section "Syntax and character set": keys are an optional
// DNS-subdomain prefix and a name of at most 63 characters; values at most 63 characters or empty.
t.test('Labels and Selectors: label keys and values', async (t) => {
  const keys: [string, boolean][] = [
    ['app', true],
    ['app.kubernetes.io/name', true],
    ['kubernetes.io/metadata.name', true],
    ['MyName', true],
    ['my.name', true],
    ['a/b/c', false],
    ['/name', false],
    ['Example.com/name', false],
    ['example.com/', false],
    ['-app', false],
    ['a'.repeat(64), false],
  ];
  for (const [key, ok] of keys) t.equal(isLabelKey(key).length === 0, ok, `key ${key}`);
  t.same(isLabelKey('/name'), ['prefix part must be non-empty']);
  t.same(isLabelKey('-app'), [
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
  ]);
  const values: [string, boolean][] = [
    ['', true],
    ['MyValue', true],
    ['my_value', true],
    ['12345', true],
    ['v1.2-beta', true],
    ['-bad', false],
    ['has space', false],
    ['a'.repeat(64), false],
  ];
  for (const [value, ok] of values) t.equal(isValidLabelValue(value).length === 0, ok, `value ${value}`);
  t.same(
    validateLabels({ app: 'web', 'bad key!': 'x', tier: 'has space' }, 'metadata.labels').map(formatFieldError),
    [
      'metadata.labels: Invalid value: "bad key!": name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character (e.g. \'MyName\',  or \'my.name\',  or \'123-abc\', regex used for validation is \'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\')',
      'metadata.labels: Invalid value: "has space": a valid label must be an empty string or consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character (e.g. \'MyValue\',  or \'my_value\',  or \'12345\', regex used for validation is \'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\')',
    ],
  );
});

// "Labels and Selectors", section "Resources that support set-based requirements": the
// matchExpressions operators and their value rules (apimachinery ValidateLabelSelectorRequirement).
t.test('Labels and Selectors: label selector requirements', async (t) => {
  t.same(validateLabelSelector({ matchLabels: { component: 'redis' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['cache'] }, { key: 'environment', operator: 'NotIn', values: ['dev'] }] }, 'spec.selector'), []);
  t.same(
    validateLabelSelector({ matchExpressions: [{ key: 'tier', operator: 'In' }, { key: 'env', operator: 'Exists', values: ['x'] }, { key: 'x', operator: 'Near', values: ['y'] }] }, 'spec.selector').map(formatFieldError),
    [
      "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
      "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
      'spec.selector.matchExpressions[2].operator: Invalid value: "Near": not a valid selector operator',
    ],
  );
});

// "Service" concept page, "Defining a Service" / "Multi-port Services": port numbers and IANA
// service names (IsValidPortNum, IsValidPortName: RFC 6335 IANA_SVC_NAME).
t.test('ports: numbers 1-65535 and IANA service names', async (t) => {
  for (const [port, ok] of [[1, true], [80, true], [65535, true], [0, false], [65536, false], [-1, false]] as const) {
    t.equal(isValidPortNum(port).length === 0, ok, `port ${port}`);
  }
  t.same(isValidPortNum(70000), ['must be between 1 and 65535, inclusive']);
  for (const [name, ok] of [['http', true], ['http-web-svc', true], ['h2c', true], ['dns-tcp', true], ['123', false], ['HTTP', false], ['a--b', false], ['-http', false], ['http-', false], ['a-very-long-port-name', false]] as const) {
    t.equal(isValidPortName(name).length === 0, ok, `port name ${name}`);
  }
  t.same(isValidPortName('123'), ['must contain at least one letter (a-z)']);
  t.same(isValidPortName('a-very-long-port-name'), ['must be no more than 15 characters']);
  t.same(isValidPortName('web--svc'), ['must not contain consecutive hyphens']);
});

// k8s.io/apimachinery/pkg/util/validation/ip.go (IsValidIP, IsValidCIDR) and
// core validation's ValidateNonSpecialIP, with Go's net.ParseIP (sloppy) parsing.
t.test('IP addresses and CIDRs', async (t) => {
  for (const [ip, ok] of [['10.9.8.7', true], ['2001:db8::ffff', true], ['::1', true], ['::ffff:1.2.3.4', true], ['010.001.002.003', true], ['1.2.3', false], ['256.1.1.1', false], ['fe80::1%eth0', false], ['1::2::3', false], ['', false], ['foo', false]] as const) {
    t.equal(isValidIP('spec.clusterIP', ip).length === 0, ok, `ip ${ip}`);
  }
  t.equal(
    formatFieldError(isValidIP('spec.externalIPs[0]', '1.2.3')[0]!),
    'spec.externalIPs[0]: Invalid value: "1.2.3": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
  );
  t.equal(parseIPSloppy('::ffff:1.2.3.4')?.family, 'IPv4', 'IPv4-mapped IPv6 is IPv4, as Go To4() says');
  t.equal(formatIP(parseIPSloppy('2001:0db8:0000:0000:0000:0000:0000:0001')!), '2001:db8::1');
  for (const [cidr, ok] of [['10.0.0.0/8', true], ['10.0.0.1/24', true], ['2001:db8::/64', true], ['10.0.0.0/33', false], ['10.0.0.0', false], ['10.0.0.0/-1', false]] as const) {
    t.equal(isValidCIDR('spec.podCIDR', cidr).length === 0, ok, `cidr ${cidr}`);
  }
  t.equal(
    formatFieldError(isValidCIDR('spec.podCIDR', '10.0.0.0/33')[0]!),
    'spec.podCIDR: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
  );
  const net = parseCIDRSloppy('172.17.0.0/16')!;
  t.ok(contains(net, parseIPSloppy('172.17.1.1')!));
  t.notOk(contains(net, parseIPSloppy('172.18.0.1')!));
  t.same(validateNonSpecialIP('127.0.0.1', 'endpoints[0].addresses[0]').map(formatFieldError), [
    'endpoints[0].addresses[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
  ]);
  t.same(validateNonSpecialIP('169.254.169.254', 'x').length, 1);
  t.same(validateNonSpecialIP('0.0.0.0', 'x').map((e) => e.detail), ['may not be unspecified (0.0.0.0)']);
});

// "Object Names and IDs" again, applied to ObjectMeta (apimachinery ValidateObjectMeta): name or
// generateName, namespace, labels, annotations (256 KiB in total), owner references.
t.test('ObjectMeta', async (t) => {
  t.same(validateObjectMeta({ name: 'web', namespace: 'default', labels: { app: 'web' } }, true, nameIsDNSSubdomain), []);
  t.same(validateObjectMeta({ namespace: 'default' }, true, nameIsDNSSubdomain).map(formatFieldError), ['metadata.name: Required value: name or generateName is required']);
  t.same(validateObjectMeta({ name: 'web' }, true, nameIsDNSSubdomain).map(formatFieldError), ['metadata.namespace: Required value']);
  t.same(validateObjectMeta({ name: 'web', namespace: 'x' }, false, nameIsDNSLabel).map(formatFieldError), ['metadata.namespace: Forbidden: not allowed on this type']);
  t.same(validateObjectMeta({ name: 'web-abcde', generateName: 'web-', namespace: 'default' }, true, nameIsDNSLabel), [], 'generateName may end with a dash');
  t.same(validateObjectMeta({ name: 'Web', namespace: 'Default' }, true, nameIsDNSSubdomain).map((e) => e.field), ['metadata.name', 'metadata.namespace']);
  const big = { big: 'x'.repeat(256 * 1024) };
  t.same(validateObjectMeta({ name: 'a', namespace: 'default', annotations: big }, true, nameIsDNSSubdomain).map(formatFieldError), [
    'metadata.annotations: Too long: must have at most 262144 bytes',
  ]);
  const refs = [
    { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a', uid: '1', controller: true },
    { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'b', uid: '2', controller: true },
    { apiVersion: '', kind: '', name: '', uid: '' },
  ];
  t.same(validateObjectMeta({ name: 'a', namespace: 'default', ownerReferences: refs as never }, true, nameIsDNSSubdomain).map((e) => `${e.field}: ${e.detail}`), [
    'metadata.ownerReferences: Only one reference can have Controller set to true. Found "true" in references for ReplicaSet/a and ReplicaSet/b',
    'metadata.ownerReferences.apiVersion: version must not be empty',
    'metadata.ownerReferences.kind: must not be empty',
    'metadata.ownerReferences.name: must not be empty',
    'metadata.ownerReferences.uid: must not be empty',
  ]);
});
