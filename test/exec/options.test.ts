// Option parsing the way each real tool does it (POSIX getopt for busybox applets and OpenBSD nc,
// getopt_long for busybox wget, curl's own parser), and the minimal `sh -c` word splitting.
import t from 'tap';
import { OptionError, parseOptions, shellWords, type OptionSpec } from '../../lib/exec/options.js';

const NC: OptionSpec[] = [
  { key: 'z', short: 'z' },
  { key: 'v', short: 'v' },
  { key: 'w', short: 'w', arg: true },
];

t.test('getopt: combined flags, attached and separate arguments, -- and the first operand end options', async (t) => {
  const p = parseOptions(['-zvw1', 'host', '80'], NC);
  t.same([...p.values], [['z', ['']], ['v', ['']], ['w', ['1']]]);
  t.same(p.operands, ['host', '80']);
  t.same(parseOptions(['-w', '2', '--', '-z', '80'], NC).operands, ['-z', '80']);
  t.same(parseOptions(['host', '-z'], NC).operands, ['host', '-z'], 'POSIX: options end at the first operand');
  t.throws(() => parseOptions(['-x'], NC), new OptionError('unknown', '-x'));
  t.throws(() => parseOptions(['-w'], NC), new OptionError('missing-argument', '-w'));
});

t.test('getopt_long: --opt=value, --opt value, unambiguous prefixes, permuted operands', async (t) => {
  const specs: OptionSpec[] = [
    { key: 'header', long: ['header'], arg: true },
    { key: 'quiet', short: 'q', long: ['quiet'] },
    { key: 'output-document', short: 'O', long: ['output-document'], arg: true },
  ];
  const style = { permute: true, longEquals: true, longPrefixes: true };
  const p = parseOptions(['http://a/', '--header=X-A: 1', '--head', 'X-B: 2', '-qO-'], specs, style);
  t.same(p.values.get('header'), ['X-A: 1', 'X-B: 2']);
  t.same(p.values.get('output-document'), ['-']);
  t.same(p.operands, ['http://a/']);
});

t.test("curl's parser: options and URLs intermix, no --opt=value", async (t) => {
  const specs: OptionSpec[] = [
    { key: 'silent', short: 's', long: ['silent'] },
    { key: 'output', short: 'o', long: ['output'], arg: true },
    { key: 'max-time', short: 'm', long: ['max-time'], arg: true },
  ];
  const p = parseOptions(['-so/dev/null', 'http://a/', '--max-time', '3', 'http://b/'], specs, { permute: true });
  t.same(p.values.get('output'), ['/dev/null']);
  t.same(p.values.get('max-time'), ['3']);
  t.same(p.operands, ['http://a/', 'http://b/']);
  t.throws(() => parseOptions(['--max-time=3'], specs, { permute: true }), new OptionError('unknown', '--max-time=3'));
});

t.test('sh word splitting: quotes and escapes', async (t) => {
  t.same(shellWords(`curl -H 'A: b c' "x\\"y" z\\ w`), ['curl', '-H', 'A: b c', 'x"y', 'z w']);
  t.equal(shellWords(`echo 'open`), undefined);
});
