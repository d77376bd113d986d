// kube-proxy's chain names (lib/kubeproxy/naming.ts) against the names upstream's own tests
// expect for the same inputs: kubernetes/kubernetes pkg/proxy/iptables/proxier_test.go
// (TestSyncProxyRulesRepeated, TestOverallIPTablesRules, TestTerminatingEndpointsTrafficPolicyLocal),
// and base32 against RFC 4648 §10's test vectors.
import t from 'tap';
import {
  base32,
  endpointString,
  portProtoHash,
  serviceExternalChainName,
  serviceFirewallChainName,
  servicePortEndpointChainName,
  servicePortName,
  servicePortPolicyClusterChain,
  servicePortPolicyLocalChainName,
} from '../../lib/kubeproxy/naming.js';

t.test('ServicePortName.String(): ns/name:port, and ns/name for an unnamed port (pkg/proxy/types.go)', async (t) => {
  t.equal(servicePortName({ namespace: 'ns1', name: 'svc1', port: 'p80' }), 'ns1/svc1:p80');
  t.equal(servicePortName({ namespace: 'ns1', name: 'svc1', port: '' }), 'ns1/svc1');
  t.equal(servicePortName({ namespace: 'ns1', name: 'svc1' }), 'ns1/svc1');
});

t.test('base32 is RFC 4648 standard base32 with padding (RFC 4648 §10 test vectors)', async (t) => {
  const vectors: [string, string][] = [
    ['', ''],
    ['f', 'MY======'],
    ['fo', 'MZXQ===='],
    ['foo', 'MZXW6==='],
    ['foob', 'MZXW6YQ='],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI======'],
  ];
  for (const [input, want] of vectors) t.equal(base32(Buffer.from(input)), want, JSON.stringify(input));
});

t.test('per-service chain names as proxier_test.go expects them', async (t) => {
  // TestSyncProxyRulesRepeated / TestOverallIPTablesRules expected iptables-save outputs.
  const svc: [string, string, string][] = [
    ['ns1/svc1:p80', 'tcp', 'KUBE-SVC-XPGD46QRK7WJZT7O'],
    ['ns2/svc2:p8080', 'tcp', 'KUBE-SVC-2VJB64SDSIJUP5T6'],
    ['ns2/svc2:p80', 'tcp', 'KUBE-SVC-GNZBNJ2PO5MGZ6GT'],
    ['ns3/svc3:p80', 'tcp', 'KUBE-SVC-X27LE4BHSL4DOUIK'],
    ['ns4/svc4:p80', 'tcp', 'KUBE-SVC-4SW47YFZTEDKD3PK'],
    ['ns5/svc5:p80', 'tcp', 'KUBE-SVC-NUKIZ6OKUXPJNT4C'],
    // TestTerminatingEndpointsTrafficPolicyLocal: an unnamed port.
    ['ns1/svc1', 'tcp', 'KUBE-SVC-AQI2S6QIMU7PVVRP'],
  ];
  for (const [name, proto, want] of svc) t.equal(servicePortPolicyClusterChain(name, proto), want, `${name} ${proto}`);
  // The same hash behind the other prefixes (TestOverallIPTablesRules: KUBE-EXT-X27LE4BHSL4DOUIK,
  // KUBE-FW-NUKIZ6OKUXPJNT4C; TestTerminatingEndpointsTrafficPolicyLocal: KUBE-SVL-AQI2S6QIMU7PVVRP).
  t.equal(serviceExternalChainName('ns3/svc3:p80', 'tcp'), 'KUBE-EXT-X27LE4BHSL4DOUIK');
  t.equal(serviceFirewallChainName('ns5/svc5:p80', 'tcp'), 'KUBE-FW-NUKIZ6OKUXPJNT4C');
  t.equal(servicePortPolicyLocalChainName('ns1/svc1', 'tcp'), 'KUBE-SVL-AQI2S6QIMU7PVVRP');
  t.equal(portProtoHash('ns1/svc1:p80', 'tcp'), 'XPGD46QRK7WJZT7O');
  t.equal(portProtoHash('ns1/svc1:p80', 'TCP'), 'XPGD46QRK7WJZT7O', 'the protocol is hashed lower-case, as kube-proxy passes it');
  t.not(portProtoHash('ns1/svc1:p80', 'udp'), portProtoHash('ns1/svc1:p80', 'tcp'), 'the protocol is part of the hash');
  for (const [name, proto] of svc) t.ok(servicePortPolicyClusterChain(name, proto).length <= 28, 'within iptables\' 28-character chain names');
});

t.test('KUBE-SEP names hash the service port name, protocol and ip:port (proxier_test.go)', async (t) => {
  const sep: [string, string, string][] = [
    ['ns1/svc1:p80', '10.180.0.1:80', 'KUBE-SEP-SXIVWICOYRO3J4NJ'],
    ['ns1/svc1:p80', '10.0.1.1:80', 'KUBE-SEP-SNQ3ZNILQDEJNDQO'],
    ['ns2/svc2:p8080', '10.0.2.1:8080', 'KUBE-SEP-UHEGFW77JX3KXTOV'],
    ['ns3/svc3:p80', '10.0.3.1:80', 'KUBE-SEP-BSWRHOQ77KEXZLNL'],
    ['ns4/svc4:p80', '10.0.4.1:80', 'KUBE-SEP-AYCN5HPXMIRJNJXU'],
    ['ns3/svc3:p80', '10.180.0.3:80', 'KUBE-SEP-OYPFS5VJICHGATKP'],
    // The same endpoint under another service port gets another chain.
    ['ns5/svc5:p80', '10.180.0.3:80', 'KUBE-SEP-I77PXRDZVX7PMWMN'],
    ['ns4/svc4:p80', '10.180.0.4:80', 'KUBE-SEP-UKSFD7AGPMPPLUHC'],
    ['ns4/svc4:p80', '10.180.0.5:80', 'KUBE-SEP-C6EBXVWJJZMIWKLZ'],
    ['ns1/svc1', '10.0.1.1:80', 'KUBE-SEP-3JOIVZTXZZRGORX4'],
    ['ns1/svc1', '10.0.1.2:80', 'KUBE-SEP-IO5XOSKPAXIFQXAJ'],
    ['ns1/svc1', '10.0.1.3:80', 'KUBE-SEP-XGJFVO3L2O5SRFNT'],
    ['ns1/svc1', '10.0.1.5:80', 'KUBE-SEP-EQCHZ7S2PJ72OHAY'],
  ];
  for (const [name, ep, want] of sep) t.equal(servicePortEndpointChainName(name, 'tcp', ep), want, `${name} ${ep}`);
});

t.test('endpoint text is ip:port, [ip]:port for IPv6 (net.JoinHostPort)', async (t) => {
  t.equal(endpointString('10.0.1.1', 80), '10.0.1.1:80');
  t.equal(endpointString('fd00::1', 80), '[fd00::1]:80');
});
