import t from 'tap';
import type { KubeObject } from '../../../lib/api/meta.js';
import { errorsOf, merge } from './helpers.js';

/** "EndpointSlices" concept page, "EndpointSlice API" (the example-abc slice). */
const exampleAbc: KubeObject = {
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'example-abc', labels: { 'kubernetes.io/service-name': 'example' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
  endpoints: [{ addresses: ['10.1.2.3'], conditions: { ready: true }, hostname: 'pod-1', nodeName: 'node-1', zone: 'us-west2-a' }],
};

t.test('EndpointSlices: example-abc is valid', async (t) => {
  t.same(errorsOf(exampleAbc), []);
  t.same(errorsOf(merge(exampleAbc, { addressType: 'IPv6', endpoints: [{ addresses: ['2001:db8::1234'] }] })), [], 'IPv6');
  t.same(errorsOf(merge(exampleAbc, { addressType: 'FQDN', endpoints: [{ addresses: ['db.example.com'] }] })), [], 'FQDN');
  t.same(errorsOf(merge(exampleAbc, { ports: [{ port: 53 }], endpoints: [] })), [], 'defaulted port protocol and name, no endpoints');
});

// pkg/apis/discovery/validation: validateAddressType, validateEndpoints, validatePorts,
// ValidateEndpointSliceUpdate.
t.test('EndpointSlice errors', async (t) => {
  const table: [string, KubeObject, string[]][] = [
    ['addressType required', merge(exampleAbc, { addressType: undefined }), ['addressType: Required value']],
    ['addressType value', merge(exampleAbc, { addressType: 'IP' }), ['addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"']],
    ['address of the wrong family', merge(exampleAbc, { endpoints: [{ addresses: ['2001:db8::1'] }] }), ['endpoints[0].addresses[0]: Invalid value: "2001:db8::1": must be a valid IPv4 address']],
    ['no addresses', merge(exampleAbc, { endpoints: [{ addresses: [] }] }), ['endpoints[0].addresses: Required value: must contain at least 1 address']],
    ['loopback address', merge(exampleAbc, { endpoints: [{ addresses: ['127.0.0.1'] }] }), ['endpoints[0].addresses[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)']],
    ['hostname', merge(exampleAbc, { endpoints: [{ addresses: ['10.1.2.3'], hostname: 'pod.1' }] }), ['endpoints[0].hostname: Invalid value: "pod.1": must not contain dots']],
    ['too many endpoints', merge(exampleAbc, { endpoints: Array.from({ length: 1001 }, () => ({ addresses: ['10.1.2.3'] })) }), ['endpoints: Too many: 1001: must have at most 1000 items']],
    ['too many ports', merge(exampleAbc, { ports: Array.from({ length: 101 }, (_, i) => ({ name: `p${i}`, port: 1000 + i })) }), ['ports: Too many: 101: must have at most 100 items']],
    ['duplicate port names', merge(exampleAbc, { ports: [{ name: 'http', port: 80 }, { name: 'http', port: 81 }] }), ['ports[1].name: Duplicate value: "http"']],
    ['port protocol', merge(exampleAbc, { ports: [{ name: 'http', port: 80, protocol: 'HTTP' }] }), ['ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"']],
    ['FQDN', merge(exampleAbc, { addressType: 'FQDN', endpoints: [{ addresses: ['localhost'] }] }), ['endpoints[0].addresses[0]: Invalid value: "localhost": should be a domain with at least two segments separated by dots']],
  ];
  for (const [name, o, want] of table) t.same(errorsOf(o), want, name);
  t.same(errorsOf(merge(exampleAbc, { addressType: 'IPv6', endpoints: [] }), exampleAbc), ['addressType: Invalid value: "IPv6": field is immutable']);
});
