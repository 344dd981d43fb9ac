// Run against a local cluster (`pnpm start` or `pnpm basalt up --detach`):
//   BASALT_METAD=127.0.0.1:7100 pnpm exec tsx packages/client/examples/quickstart.ts
import { connect } from '@basalt/client';

const metad = (process.env.BASALT_METAD ?? '127.0.0.1:7100').split(',');
const client = connect({ metad });
const name = process.env.VOLUME ?? 'quickstart';

// Create a 1 GiB volume with three replicas (it is thin: nothing is stored until written).
if (!(await client.listVolumes()).some((v) => v.name === name)) {
  await client.createVolume(name, { sizeBytes: 1024 ** 3, replicationFactor: 3 });
}

// Take the writer lease: one writer per volume at a time.
const volume = await client.openVolume(name, { writer: true });
console.log(`${volume.name}: ${volume.size} bytes, ${volume.replicationFactor} replicas, writer generation ${volume.generation}`);

// Any offset and length: the SDK splits I/O at extent boundaries.
await volume.write(4093, Buffer.from('hello, basalt'), { fua: true }); // durable on every replica
const back = await volume.read(4093, 13);
console.log(`read back: ${back.toString()}`);

// Never-written ranges read as zeroes and show up as holes.
console.log('allocation:', await volume.allocation(0, volume.size));

await volume.close(); // flushes and releases the lease
client.close();
