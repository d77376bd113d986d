import { field, type FieldError } from '../lib/core/errors.js';
import * as oldN from './old-names.js';
import * as N from '../lib/apiserver/validation/names.js';
const { obj, arr, child, validateLabelName, invalidEach, isValidLabelValue, str } = oldN;
function oldNode(raw: unknown, path: string): FieldError[] {
  const rq = obj(raw);
  const errs: FieldError[] = [];
  const n = arr(rq.values).length;
  switch (rq.operator) {
    case 'In':
    case 'NotIn':
      if (n === 0) errs.push(field.required(child(path, 'values'), "must be specified when `operator` is 'In' or 'NotIn'"));
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (n > 0) errs.push(field.forbidden(child(path, 'values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
      break;
    case 'Gt':
    case 'Lt':
      if (n !== 1) errs.push(field.required(child(path, 'values'), "must be specified single value when `operator` is 'Lt' or 'Gt'"));
      break;
    default:
      errs.push(field.invalid(child(path, 'operator'), rq.operator ?? '', 'not a valid selector operator'));
  }
  errs.push(...validateLabelName(rq.key ?? '', child(path, 'key')));
  arr(rq.values).forEach((v, i) => errs.push(...invalidEach(`${child(path, 'values')}[${i}]`, v, isValidLabelValue(str(v)))));
  return errs;
}
const ops = ['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt', 'in', '', undefined, null, false, 0, {}];
const keys = ['a', '', 'a/b/c', '-x', undefined, 3];
const vals = [undefined, null, [], ['1'], ['1', '2'], ['-bad'], 'x', [3], {}];
let d = 0, n = 0;
for (const operator of ops) for (const key of keys) for (const values of vals) for (const raw of [{ operator, key, values }, null, 'str']) {
  n++;
  const a = JSON.stringify(oldNode(raw, 'p')), b = JSON.stringify(N.validateLabelSelectorRequirement(raw, 'p', { gtLt: true }));
  const c = JSON.stringify(oldN.validateLabelSelectorRequirement(raw, 'p')), e = JSON.stringify(N.validateLabelSelectorRequirement(raw, 'p'));
  if (a !== b) { d++; console.log('node', JSON.stringify(raw), a, b); }
  if (c !== e) { d++; console.log('label', JSON.stringify(raw), c, e); }
}
console.log(n, 'diffs', d);
