// Many requests in flight, flush, trim, and typed errors.
//   BASALT_METAD=127.0.0.1:7100 pnpm exec tsx packages/client/examples/concurrent-io.ts
import { randomBytes } from 'node:crypto';
import { connect, ErrorCode, isBasaltError } from '@basalt/client';

const metad = (process.env.BASALT_METAD ?? '127.0.0.1:7100').split(',');
const client = connect({
  metad,
  // Failovers the SDK handled on its own: a replica dropped, a bad checksum served elsewhere.
  onEvent: (e) => console.log('event:', e),
});
const name = process.env.VOLUME ?? 'concurrent';
if (!(await client.listVolumes()).some((v) => v.name === name)) {
  await client.createVolume(name, { sizeBytes: 256 * 1024 ** 2, extentSizeBytes: 16 * 1024 ** 2 });
}
const volume = await client.openVolume(name, { writer: true });

// 64 writes of 1 MiB at once: each goes to its extent's primary, which replicates it.
const block = 1024 ** 2;
const data = Array.from({ length: 64 }, () => randomBytes(block));
const started = Date.now();
await Promise.all(data.map((d, i) => volume.write(i * block, d)));
await volume.flush(); // every acknowledged write is now on stable storage on every replica
console.log(`wrote 64 MiB in ${Date.now() - started} ms`);

const reads = await Promise.all(data.map((_, i) => volume.read(i * block, block)));
console.log(`read back equal: ${reads.every((r, i) => r.equals(data[i]!))}`);

// Trim gives space back; the range then reads as zeroes.
await volume.trim(0, block);
console.log(`after trim, first byte: ${(await volume.read(0, 1))[0]}`);

// Errors are BasaltErrors with stable codes. A second client cannot take the writer lease
// unless it forces a takeover (which fences this one).
const other = connect({ metad });
try {
  await other.openVolume(name, { writer: true }).then((second) => second.close());
} catch (err) {
  if (isBasaltError(err, ErrorCode.LeaseConflict)) console.log(`second writer refused: ${err.code}`);
  else throw err;
} finally {
  other.close();
}
try {
  await volume.read(volume.size - 1, 2);
} catch (err) {
  if (isBasaltError(err, ErrorCode.OutOfRange)) console.log(`read past the end refused: ${err.code}`);
  else throw err;
}

await volume.close();
client.close();
