import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '@basalt/stdx';
import { ConnectionPool } from './connection-pool.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A loopback TCP server that accepts connections and says nothing (the pool only connects). */
async function listener(): Promise<string> {
  const sockets: net.Socket[] = [];
  const srv = net.createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return `127.0.0.1:${(srv.address() as net.AddressInfo).port}`;
}

describe('connection pool', () => {
  it('offers an open connection without a promise (ready) only while it is open', async () => {
    const address = await listener();
    const pool = new ConnectionPool(1000);
    cleanups.push(() => pool.close());
    expect(pool.ready(address)).toBeUndefined();
    const opening = pool.get(address);
    expect(pool.ready(address)).toBeUndefined(); // still connecting
    const conn = await opening;
    expect(pool.ready(address)).toBe(conn);
    expect(await pool.get(address)).toBe(conn);
    conn.close();
    expect(pool.ready(address)).toBeUndefined();
    const next = await pool.get(address);
    expect(next).not.toBe(conn);
    expect(pool.ready(address)).toBe(next);
  });

  it('offers nothing once closed', async () => {
    const address = await listener();
    const pool = new ConnectionPool(1000);
    await pool.get(address);
    pool.close();
    expect(pool.ready(address)).toBeUndefined();
    await expect(pool.get(address)).rejects.toMatchObject({ code: ErrorCode.Closed });
  });
});
