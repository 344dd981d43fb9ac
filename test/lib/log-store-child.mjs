// Child process of meta-log-crash.test.ts: appends entries to a LevelLogStore in synced batches
// and prints the last index of each batch once save() resolved ("acked <index>"), until killed.
import { LevelLogStore } from '@basalt/meta';

const [dir, startArg] = process.argv.slice(2);
const store = new LevelLogStore(dir);
const log = await store.load();
let next = (log.entries.at(-1)?.index ?? log.snapshot.meta.index) + 1;
const term = Number(startArg);
for (;;) {
  const batch = Array.from({ length: 10 }, (_, i) => ({ term, index: next + i, type: 'Normal', data: new TextEncoder().encode(`e${next + i}`) }));
  await store.save({ entries: batch, hardState: { term, vote: '', commit: next + 9 } }, true);
  next += 10;
  process.stdout.write(`acked ${next - 1}\n`);
  if ((next - 1) % 200 === 0) {
    // A local snapshot in pieces, as metad writes one: a kill between the pieces and the record leaves the previous snapshot.
    const sink = store.beginSnapshot();
    await sink.append([new Uint8Array(8).fill(1), new Uint8Array(8).fill(2)]);
    await sink.commit({ index: next - 101, term, conf: { voters: ['a'], learners: [] } }, new Uint8Array(4), next - 150);
  }
}
