import t from 'tap';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CertificateError, der, generateServingCertificates } from '../../lib/core/certs.js';

// The API server's CA and serving certificate, checked by real parsers and real TLS clients:
// node's X509Certificate, node's TLS stack, OpenSSL and (when installed) kubectl's Go crypto/x509.
// Field rules cite RFC 5280 (X.509 profile) and ITU-T X.690 (DER).

const NOW = Date.UTC(2030, 0, 15, 12, 0, 0);

/** True if the tool runs; the arguments must not touch the network (`kubectl version --client`). */
function onPath(tool: string, ...args: string[]): boolean {
  return spawnSync(tool, args, { stdio: 'ignore' }).error === undefined;
}

t.test('DER encodings match X.690 examples', async (t) => {
  const hex = (b: Buffer): string => b.toString('hex');
  const cases: Array<[string, Buffer, string]> = [
    // §8.3: minimal two's complement; a leading 0x00 keeps a high-bit value positive.
    ['INTEGER 0', der.integer(0), '020100'],
    ['INTEGER 127', der.integer(127), '02017f'],
    ['INTEGER 128', der.integer(128), '02020080'],
    ['INTEGER 256', der.integer(256), '02020100'],
    ['INTEGER from octets with redundant zeros', der.integer(Buffer.from([0, 0, 0x7f])), '02017f'],
    ['INTEGER from octets with the top bit set', der.integer(Buffer.from([0xff, 1])), '020300ff01'],
    // §8.19: 40*1+2 = 42, then 840 = 0x86 0x48 in base 128.
    ['OID 1.2.840.10045.4.3.2', der.oid('1.2.840.10045.4.3.2'), '06082a8648ce3d040302'],
    ['OID 2.5.29.17', der.oid('2.5.29.17'), '0603551d11'],
    // §11.1: DER TRUE is 0xFF.
    ['BOOLEAN TRUE', der.boolean(true), '0101ff'],
    // §11.2.2 + RFC 5280 §4.2.1.3: keyUsage digitalSignature|keyEncipherment → 05 a0.
    ['KeyUsage bits 0,2', der.namedBits([0, 2]), '030205a0'],
    ['KeyUsage bits 0,5,6', der.namedBits([0, 5, 6]), '03020186'],
    ['KeyUsage bit 8 (decipherOnly)', der.namedBits([8]), '0303070080'],
    // §11.8: UTCTime YYMMDDHHMMSSZ; §11.7 GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
    ['UTCTime', der.time(new Date(Date.UTC(2030, 0, 2, 3, 4, 5))), '170d3330303130323033303430355a'],
    ['GeneralizedTime', der.time(new Date(Date.UTC(2050, 0, 1))), '180f32303530303130313030303030305a'],
    ['PrintableString', der.printableString('US'), '13025553'],
    ['empty SEQUENCE', der.sequence(), '3000'],
    // §11.6: SET OF elements sorted by encoding.
    ['SET OF sorted', der.set(der.integer(2), der.integer(1)), '3106020101020102'],
    ['[0] EXPLICIT INTEGER 2', der.explicit(0, der.integer(2)), 'a003020102'],
  ];
  for (const [name, got, want] of cases) t.equal(hex(got), want, name);
  // §8.1.3.5: long-form length for 200 content octets.
  t.equal(hex(der.octetString(Buffer.alloc(200)).subarray(0, 3)), '0481c8', 'long-form length');
  t.equal(hex(der.octetString(Buffer.alloc(300)).subarray(0, 4)), '0482012c', 'two-octet long-form length');
  t.throws(() => der.printableString('é'), RangeError);
});

t.test('the CA and serving certificate parse as RFC 5280 says they should', async (t) => {
  const pems = generateServingCertificates({ now: NOW, hosts: ['podnet.example', '10.1.2.3'], ips: ['fd00::10'] });
  const ca = new X509Certificate(pems.caCertPem);
  const cert = new X509Certificate(pems.certPem);

  t.equal(ca.subject, 'CN=podnet-ca');
  t.equal(ca.issuer, 'CN=podnet-ca', 'the CA is self-issued');
  t.equal(ca.ca, true, 'basicConstraints cA TRUE');
  t.ok(ca.verify(ca.publicKey), 'the CA is self-signed');
  t.ok(ca.checkIssued(ca));
  t.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');

  t.equal(cert.subject, 'CN=podnet-apiserver');
  t.equal(cert.issuer, 'CN=podnet-ca');
  t.equal(cert.ca, false);
  t.ok(cert.verify(ca.publicKey), 'signed by the CA key');
  t.ok(cert.checkIssued(ca), 'issuer matches the CA subject and key identifiers');
  t.notOk(cert.verify(cert.publicKey), 'not self-signed');
  t.same(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extKeyUsage serverAuth');
  t.equal(
    cert.subjectAltName,
    [
      'DNS:localhost',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local',
      'DNS:podnet.example',
      'IP Address:127.0.0.1',
      'IP Address:0:0:0:0:0:0:0:1',
      'IP Address:FD00:0:0:0:0:0:0:10',
      'IP Address:10.1.2.3',
    ].join(', '),
  );
  for (const name of ['localhost', 'kubernetes.default.svc', 'podnet.example']) t.equal(cert.checkHost(name), name);
  t.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  t.equal(cert.checkIP('::1'), '::1');
  t.equal(cert.checkIP('10.1.2.3'), '10.1.2.3');
  t.equal(cert.checkHost('evil.example'), undefined);

  // RFC 5280 §4.1.2.5: validity now-1h .. +1 year; serial positive, 16 octets (§4.1.2.2).
  t.equal(new Date(cert.validFrom).getTime(), NOW - 3600_000);
  t.equal(new Date(cert.validTo).getTime(), NOW + 365 * 86400_000);
  t.match(cert.serialNumber, /^[0-7][0-9A-F]{31}$/);
  t.not(cert.serialNumber, ca.serialNumber);

  t.ok(cert.checkPrivateKey(createPrivateKey(pems.keyPem)), 'keyPem is the serving key');
  t.ok(ca.checkPrivateKey(createPrivateKey(pems.caKeyPem)), 'caKeyPem is the CA key');
});

t.test('each call makes a new CA', async (t) => {
  const a = generateServingCertificates();
  const b = generateServingCertificates();
  t.not(a.caCertPem, b.caCertPem);
  t.notOk(new X509Certificate(a.certPem).verify(new X509Certificate(b.caCertPem).publicKey));
});

t.test('hosts that are neither DNS names nor IPs are refused', async (t) => {
  for (const bad of ['not a host', 'exa_mple.com', 'xn--é.com', '-leading.example']) {
    t.throws(() => generateServingCertificates({ hosts: [bad] }), { code: 'PODNET_CERTIFICATE_INVALID' }, bad);
  }
  t.throws(() => generateServingCertificates({ ips: ['300.1.1.1'] }), CertificateError);
  t.doesNotThrow(() => generateServingCertificates({ hosts: ['*.podnet.example', '[::2]', 'Localhost'] }));
});

t.test('a TLS client that trusts only the CA accepts the serving certificate', async (t) => {
  const pems = generateServingCertificates({ ips: ['127.0.0.1'] });
  const server = https.createServer({ key: pems.keyPem, cert: pems.certPem }, (_req, res) => {
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;

  const get = (options: https.RequestOptions): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, ...options }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
    });

  t.equal(await get({ ca: pems.caCertPem }), 'ok', 'by IP (127.0.0.1 SAN)');
  t.equal(await get({ ca: pems.caCertPem, servername: 'kubernetes.default.svc' }), 'ok', 'by service name (SNI)');
  await t.rejects(get({ ca: pems.caCertPem, servername: 'evil.example' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  const other = generateServingCertificates();
  await t.rejects(get({ ca: other.caCertPem }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'a different CA is not trusted');

  if (!onPath('kubectl', 'version', '--client')) {
    t.comment('!!! kubectl not on PATH: SKIPPING the Go crypto/x509 check of the serving certificate');
    return;
  }
  // kubectl is Go: crypto/x509 is stricter than OpenSSL about DER and extensions.
  const dir = mkdtempSync(path.join(tmpdir(), 'podnet-certs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'ca.pem'), pems.caCertPem);
  // Asynchronously, so this process's event loop keeps serving kubectl's request.
  const out = await new Promise<string>((resolve, reject) => {
    // A token, or kubectl prompts for a username; /dev/null, so no user kubeconfig is read.
    const child = execFile(
      'kubectl',
      [
        'get',
        '--raw',
        '/healthz',
        `--server=https://127.0.0.1:${port}`,
        `--certificate-authority=${path.join(dir, 'ca.pem')}`,
        '--token=podnet-test',
        '--kubeconfig=/dev/null',
      ],
      { timeout: 20_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
    );
    child.stdin?.end();
  });
  t.equal(out.trim(), 'ok', 'kubectl verified the serving certificate against the CA');
});

t.test('OpenSSL verifies the chain and reads every extension', async (t) => {
  if (!onPath('openssl', 'version')) {
    t.comment('!!! openssl not on PATH: SKIPPING `openssl verify` and `openssl x509 -text`');
    return;
  }
  const pems = generateServingCertificates({ now: NOW, hosts: ['podnet.example'] });
  const dir = mkdtempSync(path.join(tmpdir(), 'podnet-certs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = path.join(dir, 'ca.pem');
  const cert = path.join(dir, 'cert.pem');
  writeFileSync(ca, pems.caCertPem);
  writeFileSync(cert, pems.certPem);

  // -attime: NOW is in 2030; check the chain at a time inside its validity.
  const attime = String(Math.floor(NOW / 1000));
  const verify = execFileSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-attime', attime, '-CAfile', ca, cert], {
    encoding: 'utf8',
  });
  t.equal(verify.trim(), `${cert}: OK`);

  const leafText = execFileSync('openssl', ['x509', '-noout', '-text', '-in', cert], { encoding: 'utf8' });
  t.match(leafText, /Version: 3 \(0x2\)/);
  t.match(leafText, /Signature Algorithm: ecdsa-with-SHA256/);
  t.match(leafText, /ASN1 OID: prime256v1/);
  t.match(leafText, /Not Before: Jan 15 11:00:00 2030 GMT/);
  t.match(leafText, /Not After : Jan 15 12:00:00 2031 GMT/);
  t.match(leafText, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
  t.match(leafText, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication/);
  t.match(leafText, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
  t.match(leafText, /X509v3 Authority Key Identifier:/);
  t.match(leafText, /DNS:kubernetes\.default\.svc\.cluster\.local/);
  t.match(leafText, /IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);

  const caText = execFileSync('openssl', ['x509', '-noout', '-text', '-in', ca], { encoding: 'utf8' });
  t.match(caText, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
  t.match(caText, /X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
  t.match(caText, /X509v3 Subject Key Identifier:/);

  // The leaf's authorityKeyIdentifier is the CA's subjectKeyIdentifier (RFC 5280 §4.2.1.1).
  const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(caText)?.[1];
  const aki = /Authority Key Identifier:\s+(?:keyid:)?([0-9A-F:]+)/.exec(leafText)?.[1];
  t.ok(ski);
  t.equal(aki, ski);

  // Strict DER: asn1parse -strictpem fails on malformed encodings.
  t.doesNotThrow(() => execFileSync('openssl', ['asn1parse', '-in', cert, '-strictpem'], { stdio: 'ignore' }));
});
