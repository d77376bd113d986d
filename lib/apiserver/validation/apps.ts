/**
 * Validation of apps/v1 workloads — Deployment, ReplicaSet, StatefulSet, DaemonSet — as
 * k8s.io/kubernetes/pkg/apis/apps/validation and the apps registry strategies do it: selector
 * required, non-empty and matching the template's labels, replicas and rollout parameters, the
 * pod template validated with the Pod rules at `spec.template.spec...`, and the selector
 * immutable on update.
 *
 * StatefulSet templates are validated as pod specs too (upstream checks only their labels and
 * annotations); a StatefulSet's `serviceName`, when set, must be a DNS-1123 label so the pods'
 * DNS names exist.
 */

import { field, type FieldError } from '../../core/errors.js';
import type { KubeObject, LabelSelector } from '../../api/meta.js';
import { selectorFromLabelSelector } from '../../apimachinery/labels.js';
import { validateMeta, validatePodTemplateSpec } from './core.js';
import {
  child,
  invalidEach,
  isDNS1123Label,
  isObject,
  isValidPercent,
  jsonEqual,
  nameIsDNSLabel,
  nameIsDNSSubdomain,
  obj,
  str,
  validateImmutableField,
  validateLabelSelector,
  validateNonnegativeField,
} from './names.js';

/** The detail of a template whose labels the selector does not select. */
export const SELECTOR_MISMATCH = '`selector` does not match template `labels`';

function validatePositiveIntOrPercent(v: unknown, path: string): FieldError[] {
  if (typeof v === 'string') return invalidEach(path, v, isValidPercent(v));
  if (typeof v === 'number') return validateNonnegativeField(v, path);
  if (v === undefined || v === null) return [];
  return [field.invalid(path, v, "must be an integer or percentage (e.g '5%%')")];
}

function intOrPercentValue(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^[0-9]+%$/.test(v)) return Number(v.slice(0, -1));
  if (typeof v === 'string' && /^-?[0-9]+$/.test(v)) return Number(v);
  return 0;
}

function notMoreThan100Percent(v: unknown, path: string): FieldError[] {
  if (typeof v === 'string' && /^[0-9]+%$/.test(v) && Number(v.slice(0, -1)) > 100) {
    return [field.invalid(path, v, 'must not be greater than 100%')];
  }
  return [];
}

/** Selector required, valid and non-empty; then the template must carry labels it selects. */
function validateSelectorAndTemplate(spec: Record<string, unknown>, kindWord: string, errs: FieldError[]): void {
  const selector = spec.selector;
  let selectable = false;
  if (selector === undefined || selector === null) errs.push(field.required('spec.selector'));
  else {
    const selErrs = validateLabelSelector(selector, 'spec.selector');
    errs.push(...selErrs);
    const s = obj(selector);
    if (Object.keys(obj(s.matchLabels)).length + (Array.isArray(s.matchExpressions) ? s.matchExpressions.length : 0) === 0) {
      errs.push(field.invalid('spec.selector', selector, `empty selector is invalid for ${kindWord}`));
    } else if (selErrs.length === 0) {
      selectable = true;
    }
  }
  const template = spec.template;
  if (!isObject(template)) {
    errs.push(field.required('spec.template'));
    return;
  }
  const labels = obj(obj(template.metadata).labels) as Record<string, string>;
  if (selectable) {
    let matches = true;
    try {
      matches = selectorFromLabelSelector(selector as LabelSelector).matches(labels);
    } catch {
      errs.push(field.invalid('spec.selector', selector, 'invalid label selector'));
    }
    if (!matches) errs.push(field.invalid('spec.template.metadata.labels', labels, SELECTOR_MISMATCH));
  }
  errs.push(...validatePodTemplateSpec(template, 'spec.template'));
  const podSpec = obj(template.spec);
  if (podSpec.restartPolicy && podSpec.restartPolicy !== 'Always') {
    errs.push(field.notSupported('spec.template.spec.restartPolicy', podSpec.restartPolicy, ['Always']));
  }
}

function forbidActiveDeadline(spec: Record<string, unknown>, kind: string, errs: FieldError[]): void {
  const ads = obj(obj(spec.template).spec).activeDeadlineSeconds;
  if (ads !== undefined && ads !== null) {
    errs.push(field.forbidden('spec.template.spec.activeDeadlineSeconds', `activeDeadlineSeconds in ${kind} is not Supported`));
  }
}

function validateSelectorUpdate(spec: Record<string, unknown>, old: KubeObject | undefined): FieldError[] {
  if (!old) return [];
  return validateImmutableField(spec.selector, obj(old.spec).selector, 'spec.selector');
}

function validateDeployment(d: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(d, old, true, nameIsDNSSubdomain);
  const spec = obj(d.spec);
  errs.push(...validateNonnegativeField(spec.replicas, 'spec.replicas'));
  validateSelectorAndTemplate(spec, 'deployment', errs);
  forbidActiveDeadline(spec, 'ReplicaSet', errs);
  const strategy = obj(spec.strategy);
  switch (strategy.type) {
    case 'Recreate':
      if (strategy.rollingUpdate !== undefined && strategy.rollingUpdate !== null) {
        errs.push(field.forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
      }
      break;
    case 'RollingUpdate': {
      if (!isObject(strategy.rollingUpdate)) {
        errs.push(field.required('spec.strategy.rollingUpdate', 'this should be defaulted and never be nil'));
        break;
      }
      const ru = strategy.rollingUpdate;
      const p = 'spec.strategy.rollingUpdate';
      errs.push(...validatePositiveIntOrPercent(ru.maxUnavailable, child(p, 'maxUnavailable')));
      errs.push(...validatePositiveIntOrPercent(ru.maxSurge, child(p, 'maxSurge')));
      if (intOrPercentValue(ru.maxUnavailable) === 0 && intOrPercentValue(ru.maxSurge) === 0) {
        errs.push(field.invalid(child(p, 'maxUnavailable'), ru.maxUnavailable ?? 0, 'may not be 0 when `maxSurge` is 0'));
      }
      errs.push(...notMoreThan100Percent(ru.maxUnavailable, child(p, 'maxUnavailable')));
      break;
    }
    default:
      errs.push(field.notSupported('spec.strategy', spec.strategy ?? {}, ['Recreate', 'RollingUpdate']));
  }
  errs.push(...validateNonnegativeField(spec.minReadySeconds, 'spec.minReadySeconds'));
  errs.push(...validateNonnegativeField(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  const pds = spec.progressDeadlineSeconds;
  if (pds !== undefined && pds !== null) {
    const nonneg = validateNonnegativeField(pds, 'spec.progressDeadlineSeconds');
    errs.push(...nonneg);
    if (nonneg.length === 0 && (pds as number) <= ((spec.minReadySeconds as number | undefined) ?? 0)) {
      errs.push(field.invalid('spec.progressDeadlineSeconds', pds, 'must be greater than minReadySeconds'));
    }
  }
  errs.push(...validateSelectorUpdate(spec, old));
  return errs;
}

function validateReplicaSet(rs: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(rs, old, true, nameIsDNSSubdomain);
  const spec = obj(rs.spec);
  errs.push(...validateNonnegativeField(spec.replicas, 'spec.replicas'));
  errs.push(...validateNonnegativeField(spec.minReadySeconds, 'spec.minReadySeconds'));
  // Upstream's ReplicaSet check reuses the Deployment wording.
  validateSelectorAndTemplate(spec, 'deployment', errs);
  forbidActiveDeadline(spec, 'ReplicaSet', errs);
  errs.push(...validateSelectorUpdate(spec, old));
  return errs;
}

const STATEFULSET_UPDATABLE = ['replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds'];

function validateStatefulSet(sts: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(sts, old, true, nameIsDNSLabel);
  const spec = obj(sts.spec);
  const pmp = spec.podManagementPolicy;
  if (!pmp) errs.push(field.required('spec.podManagementPolicy'));
  else if (pmp !== 'OrderedReady' && pmp !== 'Parallel') {
    errs.push(field.invalid('spec.podManagementPolicy', pmp, "must be 'OrderedReady' or 'Parallel'"));
  }
  const strategy = obj(spec.updateStrategy);
  switch (strategy.type ?? '') {
    case '':
      errs.push(field.required('spec.updateStrategy'));
      break;
    case 'OnDelete':
      if (strategy.rollingUpdate !== undefined && strategy.rollingUpdate !== null) {
        errs.push(field.invalid('spec.updateStrategy.rollingUpdate', strategy.rollingUpdate, "only allowed for updateStrategy 'RollingUpdate'"));
      }
      break;
    case 'RollingUpdate': {
      const ru = obj(strategy.rollingUpdate);
      const p = 'spec.updateStrategy.rollingUpdate';
      errs.push(...validateNonnegativeField(ru.partition, child(p, 'partition')));
      if (ru.maxUnavailable !== undefined && ru.maxUnavailable !== null) {
        errs.push(...validatePositiveIntOrPercent(ru.maxUnavailable, child(p, 'maxUnavailable')));
        if (intOrPercentValue(ru.maxUnavailable) === 0) errs.push(field.invalid(child(p, 'maxUnavailable'), ru.maxUnavailable, 'cannot be 0'));
        errs.push(...notMoreThan100Percent(ru.maxUnavailable, child(p, 'maxUnavailable')));
      }
      break;
    }
    default:
      errs.push(field.invalid('spec.updateStrategy', spec.updateStrategy, "must be 'RollingUpdate' or 'OnDelete'"));
  }
  const retention = spec.persistentVolumeClaimRetentionPolicy;
  if (isObject(retention)) {
    for (const key of ['whenDeleted', 'whenScaled']) {
      if (retention[key] !== 'Retain' && retention[key] !== 'Delete') {
        errs.push(field.notSupported(`spec.persistentVolumeClaimRetentionPolicy.${key}`, retention[key] ?? '', ['Retain', 'Delete']));
      }
    }
  }
  errs.push(...validateNonnegativeField(spec.replicas, 'spec.replicas'));
  errs.push(...validateNonnegativeField(spec.minReadySeconds, 'spec.minReadySeconds'));
  if (isObject(spec.ordinals)) errs.push(...validateNonnegativeField(spec.ordinals.start, 'spec.ordinals.start'));
  if (str(spec.serviceName)) errs.push(...invalidEach('spec.serviceName', spec.serviceName, isDNS1123Label(str(spec.serviceName))));
  validateSelectorAndTemplate(spec, 'statefulset', errs);
  forbidActiveDeadline(spec, 'StatefulSet', errs);
  if (old) {
    const prev = obj(old.spec);
    const strip = (s: Record<string, unknown>) => Object.fromEntries(Object.entries(s).filter(([k]) => !STATEFULSET_UPDATABLE.includes(k)));
    if (!jsonEqual(strip(spec), strip(prev))) {
      errs.push(
        field.forbidden(
          'spec',
          "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ),
      );
    }
  }
  return errs;
}

function validateDaemonSet(ds: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(ds, old, true, nameIsDNSSubdomain);
  const spec = obj(ds.spec);
  validateSelectorAndTemplate(spec, 'daemonset', errs);
  forbidActiveDeadline(spec, 'DaemonSet', errs);
  errs.push(...validateNonnegativeField(spec.minReadySeconds, 'spec.minReadySeconds'));
  const strategy = obj(spec.updateStrategy);
  switch (strategy.type) {
    case 'OnDelete':
      break;
    case 'RollingUpdate': {
      if (!isObject(strategy.rollingUpdate)) {
        errs.push(field.required('spec.updateStrategy.rollingUpdate'));
        break;
      }
      const ru = strategy.rollingUpdate;
      const p = 'spec.updateStrategy.rollingUpdate';
      errs.push(...validatePositiveIntOrPercent(ru.maxUnavailable, child(p, 'maxUnavailable')));
      errs.push(...validatePositiveIntOrPercent(ru.maxSurge, child(p, 'maxSurge')));
      errs.push(...notMoreThan100Percent(ru.maxUnavailable, child(p, 'maxUnavailable')));
      errs.push(...notMoreThan100Percent(ru.maxSurge, child(p, 'maxSurge')));
      const hasUnavailable = intOrPercentValue(ru.maxUnavailable) !== 0;
      const hasSurge = intOrPercentValue(ru.maxSurge) !== 0;
      if (hasUnavailable && hasSurge) errs.push(field.invalid(child(p, 'maxSurge'), ru.maxSurge, 'may not be set when maxUnavailable is non-zero'));
      if (!hasUnavailable && !hasSurge) errs.push(field.required(child(p, 'maxUnavailable'), 'cannot be 0 when maxSurge is 0'));
      break;
    }
    default:
      errs.push(field.notSupported('spec.updateStrategy', spec.updateStrategy ?? {}, ['RollingUpdate', 'OnDelete']));
  }
  errs.push(...validateNonnegativeField(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  errs.push(...validateSelectorUpdate(spec, old));
  return errs;
}

/** Validates an apps/v1 object; undefined for kinds this group does not define. */
export function validateApps(o: KubeObject, old?: KubeObject): FieldError[] | undefined {
  switch (o.kind) {
    case 'Deployment':
      return validateDeployment(o, old);
    case 'ReplicaSet':
      return validateReplicaSet(o, old);
    case 'StatefulSet':
      return validateStatefulSet(o, old);
    case 'DaemonSet':
      return validateDaemonSet(o, old);
    default:
      return undefined;
  }
}
