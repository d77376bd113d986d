// The Go behaviours the images inherit: spf13/pflag (flag.go parseArgs / parseLongArg /
// parseSingleShortArg), the standard library's flag package, time.ParseDuration,
// strconv.ParseInt(s, 0, 64), net.SplitHostPort, textproto.CanonicalMIMEHeaderKey, encoding/json
// HTML escaping, http.DetectContentType.
import t from 'tap';
import {
  canonicalHeaderKey,
  goCleanPath,
  goMarshal,
  goParseDuration,
  goParseIntBase0,
  goSniff,
  GoFlagError,
  parseGoFlags,
  parsePflags,
  splitHostPort,
  type FlagSpec,
} from '../../lib/images/golang.js';

const SPECS: Record<string, FlagSpec> = {
  'http-port': { kind: 'int', default: 8080 },
  tcp: { kind: 'bool', default: false },
  timeout: { kind: 'duration', default: 0 },
  name: { kind: 'string', default: '' },
  v: { kind: 'int', default: 0, shorthand: 'v' },
};

t.test('pflag: the ways a flag can be written', async (t) => {
  const p = parsePflags(['a', '--http-port', '9000', '--tcp', 'b', '--timeout=1m30s', '--name=x=y', '-v=4', '--', '--tcp'], SPECS);
  t.same(p.values, { 'http-port': 9000, tcp: true, timeout: 90_000, name: 'x=y', v: 4 });
  t.same(p.positional, ['a', 'b', '--tcp']);
  t.same([...p.set].sort(), ['http-port', 'name', 'tcp', 'timeout', 'v']);
  t.same(parsePflags(['-v', '2', '--tcp=false'], SPECS).values['v'], 2);
  t.same(parsePflags(['--http_port=1'], SPECS, { normalize: true }).values['http-port'], 1, 'WordSepNormalizeFunc');
  t.ok(parsePflags(['-h'], SPECS).help);
});

t.test('pflag: error messages', async (t) => {
  const table: Array<[string[], string]> = [
    [['--nope'], 'unknown flag: --nope'],
    [['-x'], "unknown shorthand flag: 'x' in -x"],
    [['--http-port'], 'flag needs an argument: --http-port'],
    [['--http-port=0x1G'], 'invalid argument "0x1G" for "--http-port" flag: strconv.ParseInt: parsing "0x1G": invalid syntax'],
    [['--tcp=maybe'], 'invalid argument "maybe" for "--tcp" flag: strconv.ParseBool: parsing "maybe": invalid syntax'],
    [['--timeout=5'], 'invalid argument "5" for "--timeout" flag: time: missing unit in duration "5"'],
    [['-v=x'], 'invalid argument "x" for "-v, --v" flag: strconv.ParseInt: parsing "x": invalid syntax'],
    [['---tcp'], 'bad flag syntax: ---tcp'],
  ];
  for (const [args, message] of table) t.throws(() => parsePflags(args, SPECS), new GoFlagError(message), args.join(' '));
});

t.test('flag (standard library): stops at the first argument, single or double dash', async (t) => {
  const specs: Record<string, FlagSpec> = { port: { kind: 'string', default: '80' }, verbose: { kind: 'bool', default: false } };
  const p = parseGoFlags(['-port', '2001', '--verbose', 'rest', '-port=1'], specs);
  t.same(p.values, { port: '2001', verbose: true });
  t.same(p.positional, ['rest', '-port=1']);
  t.throws(() => parseGoFlags(['-nope'], specs), new GoFlagError('flag provided but not defined: -nope'));
  t.throws(() => parseGoFlags(['-port'], specs), new GoFlagError('flag needs an argument: -port'));
});

t.test('time.ParseDuration', async (t) => {
  t.equal(goParseDuration('1s'), 1000);
  t.equal(goParseDuration('1.5h'), 5_400_000);
  t.equal(goParseDuration('300ms'), 300);
  t.equal(goParseDuration('1h2m3.5s'), 3_723_500);
  t.equal(goParseDuration('-2m'), -120_000);
  t.equal(goParseDuration('0'), 0);
  t.equal(goParseDuration('10µs'), 0.01);
  t.throws(() => goParseDuration(''), new Error('time: invalid duration ""'));
  t.throws(() => goParseDuration('1x'), new Error('time: unknown unit "x" in duration "1x"'));
  t.throws(() => goParseDuration('.s'), new Error('time: invalid duration ".s"'));
});

t.test('strconv.ParseInt(s, 0, 64)', async (t) => {
  t.equal(goParseIntBase0('8080'), 8080);
  t.equal(goParseIntBase0('0x1F90'), 8080);
  t.equal(goParseIntBase0('017'), 15);
  t.equal(goParseIntBase0('0b101'), 5);
  t.equal(goParseIntBase0('-1'), -1);
  t.equal(goParseIntBase0('1_000'), 1000);
  t.throws(() => goParseIntBase0('08'));
  t.throws(() => goParseIntBase0(''));
});

t.test('net.SplitHostPort', async (t) => {
  t.same(splitHostPort('10.0.0.1:80'), { host: '10.0.0.1', port: '80' });
  t.same(splitHostPort('[fd00::1]:53'), { host: 'fd00::1', port: '53' });
  t.same(splitHostPort('web.default.svc:http'), { host: 'web.default.svc', port: 'http' });
  t.throws(() => splitHostPort('10.0.0.1'), new Error('address 10.0.0.1: missing port in address'));
  t.throws(() => splitHostPort('fd00::1:53'), new Error('address fd00::1:53: too many colons in address'));
});

t.test('textproto.CanonicalMIMEHeaderKey, json escaping, content sniffing, clean paths', async (t) => {
  t.equal(canonicalHeaderKey('x-forwarded-for'), 'X-Forwarded-For');
  t.equal(canonicalHeaderKey('CONTENT-type'), 'Content-Type');
  t.equal(canonicalHeaderKey('bad key'), 'bad key');
  t.equal(goMarshal({ a: '<&>\u2028' }), '{"a":"\\u003c\\u0026\\u003e\\u2028"}');
  t.equal(goMarshal({ a: [1] }, ' '), '{\n "a": [\n  1\n ]\n}');
  t.equal(goSniff(Buffer.from('hello')), 'text/plain; charset=utf-8');
  t.equal(goSniff(Buffer.from('  <html><body>')), 'text/html; charset=utf-8');
  t.equal(goSniff(Buffer.from('{"a":1}')), 'text/plain; charset=utf-8');
  t.equal(goSniff(Buffer.from([0, 1, 2])), 'application/octet-stream');
  t.equal(goCleanPath('//a/./b/../c/'), '/a/c/');
  t.equal(goCleanPath('/a//b'), '/a/b');
  t.equal(goCleanPath('/'), '/');
});
