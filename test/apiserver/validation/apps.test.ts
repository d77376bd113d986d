import t from 'tap';
import type { KubeObject } from '../../../lib/api/meta.js';
import { errorsOf, merge } from './helpers.js';

/** "Deployments" concept page, "Creating a Deployment" (controllers/nginx-deployment.yaml). */
const nginxDeployment: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'nginx-deployment', labels: { app: 'nginx' } },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'nginx' } },
    template: {
      metadata: { labels: { app: 'nginx' } },
      spec: { containers: [{ name: 'nginx', image: 'nginx:1.14.2', ports: [{ containerPort: 80 }] }] },
    },
  },
};

/** "ReplicaSet" concept page, "Example" (controllers/frontend.yaml). */
const frontend: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: { name: 'frontend', labels: { app: 'guestbook', tier: 'frontend' } },
  spec: {
    replicas: 3,
    selector: { matchLabels: { tier: 'frontend' } },
    template: {
      metadata: { labels: { tier: 'frontend' } },
      spec: { containers: [{ name: 'php-redis', image: 'us-docker.pkg.dev/google-samples/containers/gke/gb-frontend:v5' }] },
    },
  },
};

/** "StatefulSets" concept page, "Components" (the `web` StatefulSet). */
const web: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'web' },
  spec: {
    selector: { matchLabels: { app: 'nginx' } },
    serviceName: 'nginx',
    replicas: 3,
    minReadySeconds: 10,
    template: {
      metadata: { labels: { app: 'nginx' } },
      spec: {
        terminationGracePeriodSeconds: 10,
        containers: [
          {
            name: 'nginx',
            image: 'registry.k8s.io/nginx-slim:0.24',
            ports: [{ containerPort: 80, name: 'web' }],
            volumeMounts: [{ name: 'www', mountPath: '/usr/share/nginx/html' }],
          },
        ],
      },
    },
    volumeClaimTemplates: [
      { metadata: { name: 'www' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'my-storage-class', resources: { requests: { storage: '1Gi' } } } },
    ],
  },
};

/** "DaemonSet" concept page, "Create a DaemonSet" (controllers/daemonset.yaml). */
const fluentd: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: 'fluentd-elasticsearch', namespace: 'kube-system', labels: { 'k8s-app': 'fluentd-logging' } },
  spec: {
    selector: { matchLabels: { name: 'fluentd-elasticsearch' } },
    template: {
      metadata: { labels: { name: 'fluentd-elasticsearch' } },
      spec: {
        tolerations: [
          { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
          { key: 'node-role.kubernetes.io/master', operator: 'Exists', effect: 'NoSchedule' },
        ],
        containers: [
          {
            name: 'fluentd-elasticsearch',
            image: 'quay.io/fluentd_elasticsearch/fluentd:v2.5.2',
            resources: { limits: { memory: '200Mi' }, requests: { cpu: '100m', memory: '200Mi' } },
            volumeMounts: [{ name: 'varlog', mountPath: '/var/log' }],
          },
        ],
        terminationGracePeriodSeconds: 30,
        volumes: [{ name: 'varlog', hostPath: { path: '/var/log' } }],
      },
    },
  },
};

t.test('upstream workload examples are valid', async (t) => {
  t.same(errorsOf(nginxDeployment), [], 'Deployments: nginx-deployment');
  t.same(errorsOf(frontend), [], 'ReplicaSet: frontend');
  t.same(errorsOf(web), [], 'StatefulSets: web');
  t.same(errorsOf(fluentd), [], 'DaemonSet: fluentd-elasticsearch');
  t.same(errorsOf(merge(nginxDeployment, { spec: { strategy: { type: 'Recreate' } } })), [], 'Recreate strategy');
  t.same(errorsOf(merge(nginxDeployment, { spec: { selector: { matchLabels: undefined, matchExpressions: [{ key: 'app', operator: 'In', values: ['nginx', 'web'] }] } } })), [], 'set-based selector');
});

// pkg/apis/apps/validation: ValidateDeploymentSpec, ValidateReplicaSetSpec,
// ValidateStatefulSetSpec, ValidateDaemonSetSpec and the rolling-update checks.
t.test('workload errors', async (t) => {
  const table: [string, KubeObject, string[]][] = [
    [
      'template labels do not match the selector',
      merge(nginxDeployment, { spec: { template: { metadata: { labels: { app: 'web' } } } } }),
      ['spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`'],
    ],
    ['selector required', merge(nginxDeployment, { spec: { selector: undefined } }), ['spec.selector: Required value']],
    ['empty selector', merge(nginxDeployment, { spec: { selector: { matchLabels: undefined } } }), ['spec.selector: Invalid value: {}: empty selector is invalid for deployment']],
    ['negative replicas', merge(nginxDeployment, { spec: { replicas: -1 } }), ['spec.replicas: Invalid value: -1: must be greater than or equal to 0']],
    [
      'maxSurge and maxUnavailable both zero',
      merge(nginxDeployment, { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: '0%' } } } }),
      ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0'],
    ],
    [
      'maxSurge not an int or percent',
      merge(nginxDeployment, { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 'many', maxUnavailable: 1 } } } }),
      [
        "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"many\": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
      ],
    ],
    [
      'maxUnavailable over 100%',
      merge(nginxDeployment, { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '150%' } } } }),
      ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "150%": must not be greater than 100%'],
    ],
    [
      'strategy type',
      merge(nginxDeployment, { spec: { strategy: { type: 'BlueGreen' } } }),
      ['spec.strategy: Unsupported value: {"type":"BlueGreen"}: supported values: "Recreate", "RollingUpdate"'],
    ],
    [
      'template restartPolicy must be Always',
      merge(nginxDeployment, { spec: { template: { spec: { restartPolicy: 'Never' } } } }),
      ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'],
    ],
    [
      'template pod spec validated at spec.template.spec',
      merge(nginxDeployment, { spec: { template: { spec: { containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }, { containerPort: 0, hostPort: 70000 }] }] } } } }),
      [
        'spec.template.spec.containers[0].ports[1].containerPort: Required value',
        'spec.template.spec.containers[0].ports[1].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
      ],
    ],
    [
      'progressDeadlineSeconds vs minReadySeconds',
      merge(nginxDeployment, { spec: { minReadySeconds: 600, progressDeadlineSeconds: 600 } }),
      ['spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds'],
    ],
    [
      'ReplicaSet selector mismatch',
      merge(frontend, { spec: { template: { metadata: { labels: { tier: 'backend' } } } } }),
      ['spec.template.metadata.labels: Invalid value: {"tier":"backend"}: `selector` does not match template `labels`'],
    ],
    ['StatefulSet empty selector', merge(web, { spec: { selector: { matchLabels: undefined } } }), ['spec.selector: Invalid value: {}: empty selector is invalid for statefulset']],
    [
      'StatefulSet serviceName',
      merge(web, { spec: { serviceName: 'nginx.svc' } }),
      ['spec.serviceName: Invalid value: "nginx.svc": must not contain dots'],
    ],
    [
      'StatefulSet podManagementPolicy',
      merge(web, { spec: { podManagementPolicy: 'Random' } }),
      ["spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'"],
    ],
    [
      'StatefulSet name is a DNS label',
      merge(web, { metadata: { name: 'web.v1' } }),
      ['metadata.name: Invalid value: "web.v1": must not contain dots'],
    ],
    [
      'DaemonSet selector mismatch',
      merge(fluentd, { spec: { template: { metadata: { labels: { name: 'fluentd' } } } } }),
      ['spec.template.metadata.labels: Invalid value: {"name":"fluentd"}: `selector` does not match template `labels`'],
    ],
    [
      'DaemonSet maxSurge with maxUnavailable',
      merge(fluentd, { spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 1 } } } }),
      ['spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero'],
    ],
    [
      'DaemonSet both zero',
      merge(fluentd, { spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 0 } } } }),
      ['spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0'],
    ],
  ];
  for (const [name, o, want] of table) t.same(errorsOf(o), want, name);
});

// apps/v1 registry strategies: the selector is immutable; a StatefulSet spec may only change
// replicas, ordinals, template, updateStrategy, persistentVolumeClaimRetentionPolicy and
// minReadySeconds.
t.test('workload updates', async (t) => {
  t.same(errorsOf(merge(nginxDeployment, { spec: { replicas: 5 } }), nginxDeployment), [], 'scaling');
  t.same(
    errorsOf(merge(nginxDeployment, { spec: { selector: { matchLabels: { app: 'nginx', tier: 'web' } }, template: { metadata: { labels: { app: 'nginx', tier: 'web' } } } } }), nginxDeployment),
    ['spec.selector: Invalid value: {"matchLabels":{"app":"nginx","tier":"web"}}: field is immutable'],
  );
  t.same(errorsOf(merge(fluentd, { spec: { selector: { matchLabels: { name: 'x' } }, template: { metadata: { labels: { name: 'x' } } } } }), fluentd), [
    'spec.selector: Invalid value: {"matchLabels":{"name":"x"}}: field is immutable',
  ]);
  t.same(errorsOf(merge(web, { spec: { replicas: 5, template: { spec: { containers: [{ name: 'nginx', image: 'nginx:1.25' }] } } } }), web), [], 'StatefulSet scale and template change');
  t.same(errorsOf(merge(web, { spec: { serviceName: 'other' } }), web), [
    "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
  ]);
});
