/**
 * Serving certificates for the API server: a self-signed cluster CA and a TLS serving certificate
 * signed by it, the pair kubeadm writes as `ca.crt` and `apiserver.crt`, so `kubectl` and
 * `@kubernetes/client-node` can verify podnet's API server the way they verify a real one.
 *
 * Only `node:crypto` is used: keys are ECDSA P-256, and the X.509 v3 certificates (RFC 5280) are
 * assembled by the small DER encoder below (ITU-T X.690 distinguished encoding rules) and signed
 * with `ecdsa-with-SHA256` (RFC 5758 §3.2).
 *
 * What goes into them follows kubeadm (`cmd/kubeadm/app/phases/certs`) and client-go's
 * `util/cert`:
 * - CA: `CN=podnet-ca`, basicConstraints `CA:TRUE, pathlen:0` (critical), keyUsage
 *   `keyCertSign, cRLSign, digitalSignature` (critical), subjectKeyIdentifier; valid ten years.
 * - Serving certificate: `CN=podnet-apiserver`, a random positive 16-byte serial, valid from an
 *   hour ago (clock skew) for a year, subjectAltName with the in-cluster names of the `kubernetes`
 *   Service, `localhost`, 127.0.0.1 and ::1 plus any extra names, extKeyUsage `serverAuth`,
 *   keyUsage `digitalSignature, keyEncipherment` (critical), authority and subject key
 *   identifiers, basicConstraints `CA:FALSE` (critical).
 */

import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { PodnetError } from './errors.js';
import { parseIP } from './ipnet.js';

/** A host name or address passed for the serving certificate is not usable in a subjectAltName. */
export class CertificateError extends PodnetError {
  constructor(message: string) {
    super('PODNET_CERTIFICATE_INVALID', message);
  }
}

// --- DER (ITU-T X.690 §8 and §10) -----------------------------------------------------------

/** Universal tag numbers used here (X.680 §8.6). */
const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Length octets: short form below 128, long form (0x80 | byte count, big-endian) above (X.690 §8.1.3). */
function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

/** The printable-string alphabet (X.680 §41.4). */
const PRINTABLE_RE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/**
 * A minimal DER encoder: each function returns one complete TLV. Exported for tests and for
 * whoever needs another certificate; the rules cited are X.690's.
 */
export const der = {
  /** SEQUENCE / SEQUENCE OF (constructed, tag 0x30). */
  sequence: (...items: Buffer[]): Buffer => tlv(TAG.SEQUENCE, Buffer.concat(items)),
  /** SET OF: DER sorts the encoded elements in ascending order (§11.6). */
  set: (...items: Buffer[]): Buffer => tlv(TAG.SET, Buffer.concat([...items].sort(Buffer.compare))),
  /** BOOLEAN: TRUE is 0xFF in DER (§11.1). */
  boolean: (value: boolean): Buffer => tlv(TAG.BOOLEAN, Buffer.from([value ? 0xff : 0x00])),
  /**
   * INTEGER in two's complement, minimal octets (§8.3.2): leading 0x00 octets dropped unless the
   * next octet has its top bit set; a 0x00 prepended to keep a positive number positive.
   */
  integer: (value: number | bigint | Buffer): Buffer => {
    let bytes: Buffer;
    if (Buffer.isBuffer(value)) {
      bytes = value;
    } else {
      let n = BigInt(value);
      if (n < 0n) throw new RangeError('der.integer: negative integers are not needed here');
      const out: number[] = [];
      do {
        out.unshift(Number(n & 0xffn));
        n >>= 8n;
      } while (n > 0n);
      bytes = Buffer.from(out);
    }
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0 && bytes[start + 1]! < 0x80) start++;
    bytes = bytes.subarray(start);
    if (bytes.length === 0) bytes = Buffer.from([0]);
    if (bytes[0]! >= 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return tlv(TAG.INTEGER, bytes);
  },
  /** OBJECT IDENTIFIER: first two arcs as 40·a+b, then base-128 with continuation bits (§8.19). */
  oid: (dotted: string): Buffer => {
    const arcs = dotted.split('.').map((a) => {
      if (!/^\d+$/.test(a)) throw new RangeError(`der.oid: bad arc in ${dotted}`);
      return BigInt(a);
    });
    if (arcs.length < 2) throw new RangeError(`der.oid: ${dotted} needs at least two arcs`);
    const out: number[] = [];
    const push = (arc: bigint): void => {
      const chunk: number[] = [Number(arc & 0x7fn)];
      for (let n = arc >> 7n; n > 0n; n >>= 7n) chunk.unshift(Number(n & 0x7fn) | 0x80);
      out.push(...chunk);
    };
    push(arcs[0]! * 40n + arcs[1]!);
    for (const arc of arcs.slice(2)) push(arc);
    return tlv(TAG.OID, Buffer.from(out));
  },
  utf8String: (text: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(text, 'utf8')),
  printableString: (text: string): Buffer => {
    if (!PRINTABLE_RE.test(text)) throw new RangeError(`der.printableString: ${JSON.stringify(text)} is not printable`);
    return tlv(TAG.PRINTABLE_STRING, Buffer.from(text, 'ascii'));
  },
  /** UTCTime `YYMMDDHHMMSSZ` (§11.8); only for years 1950-2049 (RFC 5280 §4.1.2.5.1). */
  utcTime: (date: Date): Buffer => {
    const y = date.getUTCFullYear();
    if (y < 1950 || y > 2049) throw new RangeError(`der.utcTime: year ${y} needs GeneralizedTime`);
    return tlv(TAG.UTC_TIME, Buffer.from(`${timeDigits(date).slice(2)}Z`, 'ascii'));
  },
  /** GeneralizedTime `YYYYMMDDHHMMSSZ`, no fractional seconds (§11.7, RFC 5280 §4.1.2.5.2). */
  generalizedTime: (date: Date): Buffer => tlv(TAG.GENERALIZED_TIME, Buffer.from(`${timeDigits(date)}Z`, 'ascii')),
  /** RFC 5280 §4.1.2.5 `Time`: UTCTime through 2049, GeneralizedTime from 2050. */
  time: (date: Date): Buffer => {
    const y = date.getUTCFullYear();
    return y >= 1950 && y <= 2049 ? der.utcTime(date) : der.generalizedTime(date);
  },
  /** BIT STRING: first content octet is the number of unused bits in the last octet (§8.6). */
  bitString: (bytes: Buffer, unusedBits = 0): Buffer => tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), bytes])),
  /**
   * A named-bit-list BIT STRING (e.g. KeyUsage) from the bit numbers set, bit 0 being the most
   * significant bit of the first octet; trailing zero bits are dropped (§11.2.2).
   */
  namedBits: (bits: number[]): Buffer => {
    if (bits.length === 0) return der.bitString(Buffer.alloc(0));
    const highest = Math.max(...bits);
    const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
    for (const bit of bits) bytes[bit >> 3] |= 0x80 >> (bit & 7);
    return der.bitString(bytes, 7 - (highest & 7));
  },
  octetString: (bytes: Buffer): Buffer => tlv(TAG.OCTET_STRING, bytes),
  ia5String: (text: string): Buffer => {
    if (!/^[\x00-\x7f]*$/.test(text)) throw new RangeError(`der.ia5String: ${JSON.stringify(text)} is not ASCII`);
    return tlv(TAG.IA5_STRING, Buffer.from(text, 'ascii'));
  },
  /** `[n] EXPLICIT`: a constructed context-specific tag wrapping a whole TLV (§8.14). */
  explicit: (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner),
  /** `[n] IMPLICIT` over a primitive type: the content octets under a context-specific tag. */
  implicit: (n: number, content: Buffer): Buffer => tlv(0x80 | n, content),
};

function timeDigits(date: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return (
    p(date.getUTCFullYear(), 4) +
    p(date.getUTCMonth() + 1) +
    p(date.getUTCDate()) +
    p(date.getUTCHours()) +
    p(date.getUTCMinutes()) +
    p(date.getUTCSeconds())
  );
}

/** Reads the TLV at `offset`: its tag, where its content starts and where it ends. */
function readTlv(buf: Buffer, offset: number): { tag: number; start: number; end: number } {
  const tag = buf[offset]!;
  let len = buf[offset + 1]!;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  return { tag, start, end: start + len };
}

// --- X.509 (RFC 5280 §4.1, §4.2) -------------------------------------------------------------

const OID = {
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** KeyUsage bit numbers (RFC 5280 §4.2.1.3). */
const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

/** `AlgorithmIdentifier` for ecdsa-with-SHA256: parameters absent (RFC 5758 §3.2). */
const SIGNATURE_ALGORITHM = der.sequence(der.oid(OID.ecdsaWithSHA256));

/** A `Name` with one RDN, the common name (RFC 5280 §4.1.2.4). */
function name(commonName: string): Buffer {
  return der.sequence(der.set(der.sequence(der.oid(OID.commonName), der.utf8String(commonName))));
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return der.sequence(der.oid(oid), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value. */
function keyIdentifier(spki: Buffer): Buffer {
  const outer = readTlv(spki, 0);
  const algorithm = readTlv(spki, outer.start);
  const bits = readTlv(spki, algorithm.end);
  return createHash('sha1').update(spki.subarray(bits.start + 1, bits.end)).digest();
}

interface CertificateTemplate {
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: Buffer[];
  signer: KeyObject;
}

/** Builds the TBSCertificate, signs it and returns the DER certificate (RFC 5280 §4.1). */
function certificate(t: CertificateTemplate): Buffer {
  const tbs = der.sequence(
    der.explicit(0, der.integer(2)), // v3
    der.integer(t.serial),
    SIGNATURE_ALGORITHM,
    t.issuer,
    der.sequence(der.time(t.notBefore), der.time(t.notAfter)),
    t.subject,
    t.spki,
    der.explicit(3, der.sequence(...t.extensions)),
  );
  // For EC keys node returns the DER `ECDSA-Sig-Value` (dsaEncoding defaults to 'der').
  const signature = sign('sha256', tbs, t.signer);
  return der.sequence(tbs, SIGNATURE_ALGORITHM, der.bitString(signature));
}

/** A random positive serial of 16 octets (RFC 5280 §4.1.2.2: positive, at most 20 octets). */
function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40; // top bit clear (positive), next set (16 octets, nonzero)
  return bytes;
}

/** PEM armour (RFC 7468 §2): base64 in 64-character lines. */
function pem(label: string, body: Buffer): string {
  const b64 = body.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function ecKeyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

// --- the certificates ----------------------------------------------------------------------------

/** Common name of the cluster CA. */
export const CA_COMMON_NAME = 'podnet-ca';
/** Common name of the API server's serving certificate. */
export const SERVING_COMMON_NAME = 'podnet-apiserver';

/**
 * The DNS names every serving certificate carries: `localhost` and the names of the `kubernetes`
 * Service in the `default` namespace, as kubeadm's `GetAPIServerAltNames` lists them.
 */
export const DEFAULT_SERVING_DNS_NAMES: readonly string[] = [
  'localhost',
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local',
];

/** The IP addresses every serving certificate carries. */
export const DEFAULT_SERVING_IPS: readonly string[] = ['127.0.0.1', '::1'];

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/** Options of {@link generateServingCertificates}. */
export interface ServingCertificateOptions {
  /**
   * Extra subjectAltNames. DNS names (a wildcard first label is allowed); an IP literal here is
   * put in the IP SANs, as client-go's `cert.GenerateSelfSignedCertKey` does.
   */
  hosts?: string[];
  /** Extra IP addresses (IPv4 or IPv6) for the subjectAltName. */
  ips?: string[];
  /** The issuing time in ms since the epoch (default `Date.now()`); validity is computed from it. */
  now?: number;
}

/** A CA and a serving certificate and key signed by it, all PEM. */
export interface ServingCertificates {
  /** The CA certificate: what clients put in `certificate-authority-data`. */
  caCertPem: string;
  /** The CA's private key (PKCS #8). */
  caKeyPem: string;
  /** The serving certificate. */
  certPem: string;
  /** The serving certificate's private key (PKCS #8), for `https.createServer({ key })`. */
  keyPem: string;
}

/** RFC 1123 labels, optionally a leading `*.` wildcard (RFC 6125 §6.4.3). */
const DNS_NAME_RE = /^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

/** Sorts hosts and IPs into deduplicated DNS names and IP octets, defaults first. */
function subjectAltNames(options: ServingCertificateOptions): { dns: string[]; ips: Buffer[] } {
  const dns: string[] = [];
  const ips = new Map<string, Buffer>();
  const addIP = (text: string, from: string): void => {
    const ip = parseIP(text);
    if (!ip) throw new CertificateError(`${from}: ${JSON.stringify(text)} is not an IP address`);
    // An IPv4(-mapped) address is 4 octets, IPv6 16 (RFC 5280 §4.2.1.6).
    const width = ip.family === 'IPv4' ? 4 : 16;
    const bytes = Buffer.from(ip.value.toString(16).padStart(width * 2, '0'), 'hex');
    ips.set(bytes.toString('hex'), bytes);
  };
  for (const ip of [...DEFAULT_SERVING_IPS, ...(options.ips ?? [])]) addIP(ip, 'ips');
  for (const host of [...DEFAULT_SERVING_DNS_NAMES, ...(options.hosts ?? [])]) {
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    if (parseIP(bare)) {
      addIP(bare, 'hosts');
      continue;
    }
    const lower = host.toLowerCase().replace(/\.$/, '');
    if (lower.length > 253 || !DNS_NAME_RE.test(lower)) {
      throw new CertificateError(`hosts: ${JSON.stringify(host)} is neither a DNS name (RFC 1123) nor an IP address`);
    }
    if (!dns.includes(lower)) dns.push(lower);
  }
  return { dns, ips: [...ips.values()] };
}

/**
 * Generates a fresh cluster CA and an API server serving certificate signed by it (ECDSA P-256,
 * ecdsa-with-SHA256). The serving certificate is valid from an hour before `now` for a year and
 * names `localhost`, the `kubernetes` Service's in-cluster names, 127.0.0.1, ::1 and the extra
 * `hosts` and `ips`. Throws {@link CertificateError} for a host that is neither a DNS name nor an
 * IP address.
 */
export function generateServingCertificates(options: ServingCertificateOptions = {}): ServingCertificates {
  const now = options.now ?? Date.now();
  const notBefore = new Date(Math.floor((now - HOUR_MS) / 1000) * 1000);
  const san = subjectAltNames(options);

  const ca = ecKeyPair();
  const caSpki = ca.publicKey.export({ type: 'spki', format: 'der' });
  const caKeyId = keyIdentifier(caSpki);
  const caName = name(CA_COMMON_NAME);
  const caCert = certificate({
    serial: serialNumber(),
    issuer: caName,
    subject: caName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + HOUR_MS + 10 * 365 * DAY_MS),
    spki: caSpki,
    extensions: [
      extension(OID.keyUsage, true, der.namedBits([KEY_USAGE.digitalSignature, KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign])),
      // cA TRUE, pathLenConstraint 0: this CA signs leaf certificates only.
      extension(OID.basicConstraints, true, der.sequence(der.boolean(true), der.integer(0))),
      extension(OID.subjectKeyIdentifier, false, der.octetString(caKeyId)),
    ],
    signer: ca.privateKey,
  });

  const leaf = ecKeyPair();
  const leafSpki = leaf.publicKey.export({ type: 'spki', format: 'der' });
  const generalNames = [
    ...san.dns.map((d) => der.implicit(2, Buffer.from(d, 'ascii'))), // dNSName [2] IA5String
    ...san.ips.map((ip) => der.implicit(7, ip)), // iPAddress [7] OCTET STRING
  ];
  const leafCert = certificate({
    serial: serialNumber(),
    issuer: caName,
    subject: name(SERVING_COMMON_NAME),
    notBefore,
    notAfter: new Date(notBefore.getTime() + HOUR_MS + 365 * DAY_MS),
    spki: leafSpki,
    extensions: [
      extension(OID.keyUsage, true, der.namedBits([KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment])),
      extension(OID.extKeyUsage, false, der.sequence(der.oid(OID.serverAuth))),
      // cA FALSE is the DEFAULT, so DER leaves it out: an empty SEQUENCE (X.690 §11.5).
      extension(OID.basicConstraints, true, der.sequence()),
      extension(OID.subjectKeyIdentifier, false, der.octetString(keyIdentifier(leafSpki))),
      // keyIdentifier [0] IMPLICIT KeyIdentifier (RFC 5280 §4.2.1.1).
      extension(OID.authorityKeyIdentifier, false, der.sequence(der.implicit(0, caKeyId))),
      extension(OID.subjectAltName, false, der.sequence(...generalNames)),
    ],
    signer: ca.privateKey,
  });

  return {
    caCertPem: pem('CERTIFICATE', caCert),
    caKeyPem: ca.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem: pem('CERTIFICATE', leafCert),
    keyPem: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
