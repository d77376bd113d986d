import t from 'tap';
import { isDNS1123Label, isLabelKey, isQualifiedName, isValidLabelValue } from '../../lib/apimachinery/validation.js';

// k8s.io/apimachinery/pkg/util/validation IsQualifiedName and api/validate/content IsLabelKey: the
// same rules, worded differently only when there are too many slashes.
t.test('IsQualifiedName and IsLabelKey differ only in naming the whole', async (t) => {
  for (const key of ['app', 'app.kubernetes.io/name', '/name', '-app', 'Example.com/name', 'a'.repeat(64)]) {
    t.same(isLabelKey(key), isQualifiedName(key), key);
  }
  t.match(isQualifiedName('a/b/c'), [/^a qualified name must consist of .* with an optional DNS subdomain prefix and '\/' \(e\.g\. 'example\.com\/MyName'\)$/]);
  t.match(isLabelKey('a/b/c'), [/^a valid label key must consist of .* with an optional DNS subdomain prefix and '\/' \(e\.g\. 'example\.com\/MyName'\)$/]);
});

// Go's len(string) counts bytes: a name of 32 two-byte characters is 64 long.
t.test('lengths are counted in UTF-8 bytes, as Go counts them', async (t) => {
  const wide = 'é'.repeat(32);
  t.equal(isValidLabelValue(wide)[0], 'must be no more than 63 characters');
  t.equal(isLabelKey(wide)[0], 'name part must be no more than 63 characters');
  t.equal(isDNS1123Label(wide)[0], 'must be no more than 63 characters');
  t.same(isValidLabelValue('é'.repeat(31)).length, 1, 'only the character rule at 62 bytes');
});
