import t from 'tap';
import { formatFieldError, field } from '../lib/core/errors.js';

t.test('field errors render as kubectl prints them', async (t) => {
  t.equal(
    formatFieldError(field.invalid('spec.ports[0].port', 70000, 'must be between 1 and 65535, inclusive')),
    'spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive',
  );
});
