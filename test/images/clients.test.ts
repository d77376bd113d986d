// Client-only images: nothing listens; the command decides only whether the container runs on
// or exits, as it would on a node (busybox's default `sh` without a terminal exits at once).
import t from 'tap';
import { parseSleep } from '../../lib/images/clients.js';
import { lookupImage, resolveImage } from '../../lib/images/registry.js';
import { FakeNetwork } from './fake-context.js';

async function run(t: { teardown(fn: () => unknown): void }, image: string, args: string[]) {
  const network = new FakeNetwork();
  const ctx = network.pod({ name: 'client', ip: '10.244.1.60', args });
  const container = await resolveImage(image).start(ctx);
  t.teardown(async () => {
    await container.stop();
    await network.close();
  });
  // One turn of the event loop: whatever exits at once has exited by now.
  await new Promise((resolve) => setImmediate(resolve));
  return { ctx, container };
}

t.test('busybox sleep operands (busybox coreutils/sleep.c: suffixes s, m, h, d; fractions; sums)', async (t) => {
  t.equal(parseSleep(['3600']), 3_600_000);
  t.equal(parseSleep(['1.5']), 1500);
  t.equal(parseSleep(['1m', '30s']), 90_000);
  t.equal(parseSleep(['2h']), 7_200_000);
  t.equal(parseSleep(['1d']), 86_400_000);
  t.equal(parseSleep(['infinity']), Infinity);
  t.equal(parseSleep(['soon']), undefined);
  t.equal(parseSleep([]), undefined);
});

t.test('client images listen on nothing and run their command\'s lifecycle', async (t) => {
  const table: Array<[string, string[], number[]]> = [
    ['busybox:1.36', [], [0]],
    ['busybox:1.36', ['sleep', '3600'], []],
    ['busybox:1.36', ['sleep', 'infinity'], []],
    ['busybox:1.36', ['sh', '-c', 'while true; do wget -qO- http://web; sleep 1; done'], []],
    ['alpine', ['false'], [1]],
    ['alpine:3.20', ['/bin/sh', '-c', 'exec true'], [0]],
    ['curlimages/curl', [], [2]],
    ['curlimages/curl', ['-s', 'http://web'], []],
    ['registry.k8s.io/pause:3.10', [], []],
    ['registry.k8s.io/pause:3.10', ['/pause'], []],
    ['nicolaka/netshoot', ['sleep', 'infinity'], []],
    ['postgres:16', [], []],
  ];
  for (const [image, args, exits] of table) {
    const { ctx } = await run(t, image, args);
    t.same(ctx.exits, exits, `${image} ${JSON.stringify(args)}`);
    t.equal(ctx.tcpPorts.size + ctx.udpPorts.size, 0, `${image}: no listener`);
  }
});

t.test('sleep N exits 0 when the time is up; a bad operand exits 1', async (t) => {
  const done = await run(t, 'busybox', ['sleep', '0.001']);
  t.equal(await done.ctx.exited(), 0);
  const bad = await run(t, 'busybox', ['sleep', 'soon']);
  t.same(bad.ctx.exits, [1]);
  t.same(bad.ctx.logs, ["sleep: invalid number 'soon'"]);
});

t.test('stopping a sleeping client is not an exit of its own', async (t) => {
  const { ctx, container } = await run(t, 'busybox', ['sleep', '3600']);
  await container.stop();
  t.same(ctx.exits, []);
});

t.test('an image podnet does not know starts with no listener and says so', async (t) => {
  t.equal(lookupImage('example.com/team/app:1.2.3'), undefined);
  const { ctx } = await run(t, 'example.com/team/app:1.2.3', ['--serve']);
  t.same(ctx.exits, []);
  t.same(ctx.logs, ['podnet: no built-in image for "example.com/team/app:1.2.3"; the container runs with no listener']);
});
