import { connect } from '@basalt/client';
import { randomBytes } from 'node:crypto';
const c = connect({ metad: ['127.0.0.1:17100','127.0.0.1:17101','127.0.0.1:17102'] });
await c.createVolume('v2', { sizeBytes: 256 * 1024 * 1024, replicationFactor: 3, extentSizeBytes: 16*1024*1024 }).catch((e) => console.log('create', e.message));
const v = await c.openVolume('v2', { writer: true });
const d = randomBytes(1024 * 1024);
for (const [name, sz, align] of [['1M aligned', 1<<20, 1<<20], ['1M unaligned', 1<<20, 1], ['4K aligned', 4096, 4096], ['3000 unaligned', 3000, 1]]) {
  let t = Date.now(); let n = 0;
  for (let i = 0; i < 20; i++) { const off = Math.floor(Math.random() * (250*1024*1024 / align)) * align; const t0=Date.now(); await v.write(off, d.subarray(0, sz)); n++; if (i<3) console.log('  one', Date.now()-t0); }
  console.log(name, 'QD1 ms/op', (Date.now() - t) / n);
}
await v.close();
c.close();
