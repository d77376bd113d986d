import t from 'tap';
import type { KubeObject } from '../../../lib/api/meta.js';
import { errorsOf, merge } from './helpers.js';

const GW = 'gateway.networking.k8s.io/v1';

/** Gateway API "Getting started" / "HTTP routing" guide: the example GatewayClass and Gateway. */
const exampleClass: KubeObject = { apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'example-class' }, spec: { controllerName: 'example.com/gateway-controller' } };
const exampleGateway: KubeObject = {
  apiVersion: GW,
  kind: 'Gateway',
  metadata: { name: 'example-gateway' },
  spec: { gatewayClassName: 'example-gateway-class', listeners: [{ name: 'http', protocol: 'HTTP', port: 80 }] },
};

/** "HTTP routing" guide: foo-route (path prefix) and bar-route (header match, two rules). */
const fooRoute: KubeObject = {
  apiVersion: GW,
  kind: 'HTTPRoute',
  metadata: { name: 'foo-route' },
  spec: {
    parentRefs: [{ name: 'example-gateway' }],
    hostnames: ['foo.example.com'],
    rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/login' } }], backendRefs: [{ name: 'foo-svc', port: 8080 }] }],
  },
};
const barRoute: KubeObject = {
  apiVersion: GW,
  kind: 'HTTPRoute',
  metadata: { name: 'bar-route' },
  spec: {
    parentRefs: [{ name: 'example-gateway' }],
    hostnames: ['bar.example.com'],
    rules: [
      { matches: [{ headers: [{ type: 'Exact', name: 'env', value: 'canary' }] }], backendRefs: [{ name: 'bar-svc-canary', port: 8080 }] },
      { backendRefs: [{ name: 'bar-svc', port: 8080 }] },
    ],
  },
};

// The Gateway API guides' examples: GatewayClass and Gateway ("Getting started"), foo-route and
// bar-route ("HTTP routing"), the HTTPS redirect ("HTTP redirects and rewrites"), the canary
// split ("HTTP traffic splitting"), an HTTPS listener with a certificate ("TLS"), a ReferenceGrant
// ("ReferenceGrant" API reference) and the header modifier ("HTTP header modifiers").
t.test('upstream Gateway API examples are valid', async (t) => {
  t.same(errorsOf(exampleClass), [], 'GatewayClass example-class');
  t.same(errorsOf(exampleGateway), [], 'Gateway example-gateway');
  t.same(errorsOf(fooRoute), [], 'HTTPRoute foo-route');
  t.same(errorsOf(barRoute), [], 'HTTPRoute bar-route');
  t.same(
    errorsOf({
      apiVersion: GW,
      kind: 'HTTPRoute',
      metadata: { name: 'http-filter-redirect' },
      spec: {
        parentRefs: [{ name: 'redirect-gateway', sectionName: 'http' }],
        hostnames: ['redirect.example'],
        rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', statusCode: 301 } }] }],
      },
    }),
    [],
    'http-filter-redirect',
  );
  t.same(
    errorsOf(merge(fooRoute, { spec: { rules: [{ backendRefs: [{ name: 'foo-v1', port: 8080, weight: 90 }, { name: 'foo-v2', port: 8080, weight: 10 }] }] } })),
    [],
    'traffic splitting',
  );
  t.same(
    errorsOf(
      merge(exampleGateway, {
        spec: { listeners: [{ name: 'https', protocol: 'HTTPS', port: 443, hostname: '*.example.com', tls: { mode: 'Terminate', certificateRefs: [{ kind: 'Secret', name: 'foo-example-com-cert' }] } }] },
      }),
    ),
    [],
    'HTTPS listener',
  );
  t.same(
    errorsOf({
      apiVersion: 'gateway.networking.k8s.io/v1beta1',
      kind: 'ReferenceGrant',
      metadata: { name: 'allow-prod-traffic', namespace: 'foo' },
      spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'bar' }], to: [{ group: '', kind: 'Service' }] },
    }),
    [],
    'ReferenceGrant allow-prod-traffic',
  );
  t.same(
    errorsOf(
      merge(fooRoute, {
        spec: {
          rules: [
            {
              filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'my-header-name', value: 'my-header-value' }], remove: ['x-legacy'] } }],
              backendRefs: [{ name: 'foo-svc', port: 8080 }],
            },
          ],
        },
      }),
    ),
    [],
    'RequestHeaderModifier',
  );
});

// The CRDs' OpenAPI schema (patterns, enums, bounds, list sizes) and CEL rules, as
// sigs.k8s.io/gateway-api apis/v1 declares them, with kube-openapi's and CEL's wording.
t.test('Gateway API errors', async (t) => {
  const listener = (l: Record<string, unknown>) => merge(exampleGateway, { spec: { listeners: [{ name: 'http', protocol: 'HTTP', port: 80, ...l }] } });
  const rule0 = (r: Record<string, unknown>) => merge(fooRoute, { spec: { rules: [r] } });
  const table: [string, KubeObject, string[]][] = [
    ['GatewayClass controllerName required', merge(exampleClass, { spec: { controllerName: undefined } }), ['spec.controllerName: Required value']],
    [
      'GatewayClass controllerName not domain-prefixed',
      merge(exampleClass, { spec: { controllerName: 'gateway-controller' } }),
      [
        "spec.controllerName: Invalid value: \"gateway-controller\": spec.controllerName in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\/[A-Za-z0-9\\/\\-._~%!$&'()*+,;=:]+$'",
      ],
    ],
    ['gatewayClassName required', merge(exampleGateway, { spec: { gatewayClassName: undefined } }), ['spec.gatewayClassName: Required value']],
    ['no listeners', merge(exampleGateway, { spec: { listeners: [] } }), ['spec.listeners: Invalid value: 0: spec.listeners in body should have at least 1 items']],
    [
      'too many listeners',
      merge(exampleGateway, { spec: { listeners: Array.from({ length: 65 }, (_, i) => ({ name: `l${i}`, protocol: 'HTTP', port: 8000 + i })) } }),
      ['spec.listeners: Too many: 65: must have at most 64 items'],
    ],
    ['listener port', listener({ port: 70000 }), ['spec.listeners[0].port: Invalid value: 70000: spec.listeners[0].port in body should be less than or equal to 65535']],
    ['listener protocol', listener({ protocol: 'GRPC' }), ['spec.listeners[0].protocol: Unsupported value: "GRPC": supported values: "HTTP", "HTTPS", "TLS", "TCP", "UDP"']],
    ['HTTPS needs tls', listener({ protocol: 'HTTPS', port: 443 }), ['spec.listeners[0].tls: Forbidden: must be set for protocol HTTPS']],
    ['HTTP must not have tls', listener({ tls: { certificateRefs: [{ name: 'cert' }] } }), ["spec.listeners: Invalid value: \"array\": tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"]],
    [
      'listener hostname',
      listener({ hostname: 'Foo.Example.com' }),
      [
        "spec.listeners[0].hostname: Invalid value: \"Foo.Example.com\": spec.listeners[0].hostname in body should match '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'",
      ],
    ],
    [
      'duplicate listener names',
      merge(exampleGateway, { spec: { listeners: [{ name: 'http', protocol: 'HTTP', port: 80 }, { name: 'http', protocol: 'HTTP', port: 8080 }] } }),
      ['spec.listeners: Invalid value: "array": Listener name must be unique within the Gateway'],
    ],
    ['allowedRoutes from', listener({ allowedRoutes: { namespaces: { from: 'Everywhere' } } }), ['spec.listeners[0].allowedRoutes.namespaces.from: Unsupported value: "Everywhere": supported values: "All", "Selector", "Same"']],
    [
      'hostnames pattern',
      merge(fooRoute, { spec: { hostnames: ['foo.*.com'] } }),
      ["spec.hostnames[0]: Invalid value: \"foo.*.com\": spec.hostnames[0] in body should match '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'"],
    ],
    ['too many hostnames', merge(fooRoute, { spec: { hostnames: Array.from({ length: 17 }, (_, i) => `h${i}.example.com`) } }), ['spec.hostnames: Too many: 17: must have at most 16 items']],
    ['too many parentRefs', merge(fooRoute, { spec: { parentRefs: Array.from({ length: 33 }, (_, i) => ({ name: `gw${i}` })) } }), ['spec.parentRefs: Too many: 33: must have at most 32 items']],
    ['too many rules', merge(fooRoute, { spec: { rules: Array.from({ length: 17 }, () => ({ backendRefs: [{ name: 's', port: 80 }] })) } }), ['spec.rules: Too many: 17: must have at most 16 items']],
    [
      'path type',
      rule0({ matches: [{ path: { type: 'Prefix', value: '/login' } }] }),
      [
        'spec.rules[0].matches[0].path.type: Unsupported value: "Prefix": supported values: "Exact", "PathPrefix", "RegularExpression"',
        "spec.rules[0].matches[0].path: Invalid value: \"object\": type must be one of ['Exact', 'PathPrefix', 'RegularExpression']",
      ],
    ],
    [
      'path must start with /',
      rule0({ matches: [{ path: { type: 'PathPrefix', value: 'login' } }] }),
      [
        "spec.rules[0].matches[0].path: Invalid value: \"object\": value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
      ],
    ],
    ['path with //', rule0({ matches: [{ path: { type: 'Exact', value: '/a//b' } }] }), ["spec.rules[0].matches[0].path: Invalid value: \"object\": must not contain '//' when type one of ['Exact', 'PathPrefix']"]],
    ['regular expression path', rule0({ matches: [{ path: { type: 'RegularExpression', value: '^/v[0-9]+/.*' } }] }), []],
    [
      'header name',
      rule0({ matches: [{ headers: [{ name: 'my header', value: 'x' }] }] }),
      ["spec.rules[0].matches[0].headers[0].name: Invalid value: \"my header\": spec.rules[0].matches[0].headers[0].name in body should match '^[A-Za-z0-9!#$%&'*+\\-.^_\\x60|~]+$'"],
    ],
    [
      'method',
      rule0({ matches: [{ method: 'FETCH' }] }),
      ['spec.rules[0].matches[0].method: Unsupported value: "FETCH": supported values: "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"'],
    ],
    [
      'filter type',
      rule0({ filters: [{ type: 'Rewrite' }] }),
      ['spec.rules[0].filters[0].type: Unsupported value: "Rewrite": supported values: "RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror", "RequestRedirect", "URLRewrite", "ExtensionRef"'],
    ],
    [
      'filter without its field',
      rule0({ filters: [{ type: 'URLRewrite' }] }),
      ['spec.rules[0].filters[0]: Invalid value: "object": filter.urlRewrite must be specified for URLRewrite filter.type'],
    ],
    [
      'filter field for another type',
      rule0({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'a', value: 'b' }] }, urlRewrite: { hostname: 'x.example' } }] }),
      ['spec.rules[0].filters[0]: Invalid value: "object": filter.urlRewrite must be nil if the filter.type is not URLRewrite'],
    ],
    [
      'RequestRedirect and URLRewrite together',
      rule0({ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }, { type: 'URLRewrite', urlRewrite: { hostname: 'x.example' } }] }),
      ['spec.rules[0].filters: Invalid value: "array": May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both'],
    ],
    [
      'RequestRedirect with backendRefs',
      rule0({ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }], backendRefs: [{ name: 'foo-svc', port: 8080 }] }),
      ['spec.rules[0]: Invalid value: "object": RequestRedirect filter must not be used together with backendRefs'],
    ],
    [
      'redirect statusCode',
      rule0({ filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 307 } }] }),
      ['spec.rules[0].filters[0].requestRedirect.statusCode: Unsupported value: 307: supported values: "301", "302"'],
    ],
    [
      'ReplacePrefixMatch needs one PathPrefix match',
      rule0({
        matches: [{ path: { type: 'Exact', value: '/a' } }],
        filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/b' } } }],
        backendRefs: [{ name: 'foo-svc', port: 8080 }],
      }),
      ['spec.rules[0]: Invalid value: "object": When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified'],
    ],
    [
      'RequestMirror needs a backendRef',
      rule0({ filters: [{ type: 'RequestMirror', requestMirror: {} }], backendRefs: [{ name: 'foo-svc', port: 8080 }] }),
      ['spec.rules[0].filters[0].requestMirror.backendRef: Required value'],
    ],
    ['backendRef port required for a Service', rule0({ backendRefs: [{ name: 'foo-svc' }] }), ['spec.rules[0].backendRefs[0]: Invalid value: "object": Must have port for Service reference']],
    [
      'backendRef weight',
      rule0({ backendRefs: [{ name: 'foo-svc', port: 8080, weight: 1000001 }] }),
      ['spec.rules[0].backendRefs[0].weight: Invalid value: 1000001: spec.rules[0].backendRefs[0].weight in body should be less than or equal to 1000000'],
    ],
    [
      'ReferenceGrant from and to required',
      { apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'rg' }, spec: {} },
      ['spec.from: Required value', 'spec.to: Required value'],
    ],
    [
      'ReferenceGrant from needs a namespace',
      { apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'rg' }, spec: { from: [{ group: GW.split('/')[0], kind: 'HTTPRoute' }], to: [{ group: '', kind: 'Service' }] } },
      ['spec.from[0].namespace: Required value'],
    ],
  ];
  for (const [name, o, want] of table) t.same(errorsOf(o), want, name);
});

t.test('GatewayClass controllerName is immutable', async (t) => {
  t.same(errorsOf(merge(exampleClass, { spec: { controllerName: 'example.com/other' } }), exampleClass), ['spec.controllerName: Invalid value: "string": Value is immutable']);
});
