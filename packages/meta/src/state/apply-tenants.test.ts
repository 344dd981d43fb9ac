import { ErrorCode, GiB, limits, MiB, Prng } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import { createVolumeCommand, type Command } from './commands.js';
import { MetaState } from './meta-state.js';
import { must, refuse } from './test-fixtures.js';

const vol = (name: string, sizeBytes: number, tenant?: string): Command => createVolumeCommand({ name, sizeBytes, extentSizeBytes: 64 * MiB, nowMs: 5, ...(tenant !== undefined && { tenant }) });

describe('tenants', () => {
  it('puts volumes created without a tenant in the always-present default tenant', () => {
    const state = MetaState.empty();
    expect(must(state, vol('a', GiB))).toMatchObject({ name: 'a', tenant: 'default' });
    expect(createVolumeCommand({ name: 'a', sizeBytes: GiB, nowMs: 1, tenant: 'default' })).not.toHaveProperty('tenant');
    expect(state.listTenants()).toEqual([{ name: 'default', maxBytes: 0, maxVolumes: 0, volumes: 1, sizeBytes: GiB, createdAtMs: 0 }]);
    refuse(state, { type: 'createTenant', name: 'default', maxBytes: 0, maxVolumes: 0, nowMs: 1 }, ErrorCode.TenantExists);
    refuse(state, { type: 'deleteTenant', name: 'default' }, ErrorCode.InvalidArgument);
  });

  it('creates, lists and removes a tenant, refusing a duplicate, a bad name, and removal while it owns a volume', () => {
    const state = MetaState.empty();
    expect(must(state, { type: 'createTenant', name: 'team-a', maxBytes: 2 * GiB, maxVolumes: 3, nowMs: 9 })).toEqual({ name: 'team-a', maxBytes: 2 * GiB, maxVolumes: 3, volumes: 0, sizeBytes: 0, createdAtMs: 9 });
    refuse(state, { type: 'createTenant', name: 'team-a', maxBytes: 0, maxVolumes: 0, nowMs: 9 }, ErrorCode.TenantExists);
    refuse(state, { type: 'createTenant', name: 'Team A', maxBytes: 0, maxVolumes: 0, nowMs: 9 }, ErrorCode.InvalidArgument);
    refuse(state, { type: 'createTenant', name: 'x', maxBytes: 0, maxVolumes: limits.volumesMax + 1, nowMs: 9 }, ErrorCode.InvalidArgument);
    refuse(state, vol('v', GiB, 'nobody'), ErrorCode.TenantNotFound);
    must(state, vol('v', GiB, 'team-a'));
    expect(state.listTenants().map((t) => [t.name, t.volumes, t.sizeBytes])).toEqual([['default', 0, 0], ['team-a', 1, GiB]]);
    expect(state.listVolumes('team-a').map((v) => v.name)).toEqual(['v']);
    expect(state.listVolumes('default')).toEqual([]);
    expect(refuse(state, { type: 'deleteTenant', name: 'team-a' }, ErrorCode.TenantNotEmpty)).toMatchObject({ volumes: 1 });
    must(state, { type: 'deleteVolume', name: 'v', force: false });
    must(state, { type: 'deleteTenant', name: 'team-a' });
    refuse(state, { type: 'deleteTenant', name: 'team-a' }, ErrorCode.TenantNotFound);
    state.checkInvariants();
  });

  it('refuses a create past the volume-count quota and a create or growth past the byte quota', () => {
    const state = MetaState.empty();
    must(state, { type: 'createTenant', name: 't', maxBytes: 2 * GiB, maxVolumes: 2, nowMs: 1 });
    must(state, vol('a', GiB, 't'));
    expect(refuse(state, vol('big', 2 * GiB, 't'), ErrorCode.QuotaExceeded)).toMatchObject({ quota: 'bytes', used: GiB, max: 2 * GiB });
    must(state, vol('b', 512 * MiB, 't'));
    expect(refuse(state, vol('c', 64 * MiB, 't'), ErrorCode.QuotaExceeded)).toMatchObject({ quota: 'volumes', used: 2, max: 2 });
    expect(refuse(state, { type: 'resizeVolume', name: 'b', sizeBytes: GiB + 64 * MiB }, ErrorCode.QuotaExceeded)).toMatchObject({ quota: 'bytes' });
    must(state, { type: 'resizeVolume', name: 'b', sizeBytes: GiB });
    must(state, { type: 'resizeVolume', name: 'b', sizeBytes: 128 * MiB, force: true });
    expect(state.getTenant('t')).toMatchObject({ ok: true, value: { volumes: 2, sizeBytes: GiB + 128 * MiB } });
    must(state, vol('free', 64 * GiB));
    state.checkInvariants();
  });

  it('changes quotas: a lowered quota refuses later creates and growth and touches no volume', () => {
    const state = MetaState.empty();
    must(state, { type: 'createTenant', name: 't', maxBytes: 0, maxVolumes: 0, nowMs: 1 });
    must(state, vol('a', GiB, 't'));
    must(state, vol('b', GiB, 't'));
    expect(must(state, { type: 'setTenantQuota', name: 't', maxBytes: GiB, maxVolumes: 1 })).toMatchObject({ maxBytes: GiB, maxVolumes: 1, volumes: 2, sizeBytes: 2 * GiB });
    refuse(state, vol('c', 64 * MiB, 't'), ErrorCode.QuotaExceeded);
    refuse(state, { type: 'resizeVolume', name: 'a', sizeBytes: GiB + 64 * MiB }, ErrorCode.QuotaExceeded);
    must(state, { type: 'resizeVolume', name: 'a', sizeBytes: 64 * MiB, force: true });
    must(state, { type: 'deleteVolume', name: 'b', force: false });
    must(state, { type: 'setTenantQuota', name: 't', maxBytes: 0, maxVolumes: 0 });
    must(state, vol('c', 64 * GiB, 't'));
    refuse(state, { type: 'setTenantQuota', name: 'default', maxBytes: GiB, maxVolumes: 1 }, ErrorCode.InvalidArgument);
    refuse(state, { type: 'setTenantQuota', name: 'nobody', maxBytes: GiB, maxVolumes: 1 }, ErrorCode.TenantNotFound);
    state.checkInvariants();
  });

  it('refuses a tenant-bound resize or delete of another tenant volume at apply', () => {
    const state = MetaState.empty();
    must(state, { type: 'createTenant', name: 'a', maxBytes: 0, maxVolumes: 0, nowMs: 1 });
    must(state, vol('theirs', GiB));
    refuse(state, { type: 'deleteVolume', name: 'theirs', force: true, requireTenant: 'a' }, ErrorCode.PermissionDenied);
    refuse(state, { type: 'resizeVolume', name: 'theirs', sizeBytes: 2 * GiB, requireTenant: 'a' }, ErrorCode.PermissionDenied);
    must(state, { type: 'resizeVolume', name: 'theirs', sizeBytes: 2 * GiB, requireTenant: 'default' });
  });

  it('keeps a state without tenants byte for byte as before, and carries tenants through a snapshot', () => {
    const state = MetaState.empty();
    must(state, vol('plain', GiB));
    const before = new TextDecoder().decode(state.encodeSnapshot());
    expect(before).not.toContain('tenant');
    expect(before).toContain(`"volumes":[[1,"plain",${GiB},${64 * MiB},3,0,null,5,[],[]]]}`);
    must(state, { type: 'createTenant', name: 'a', maxBytes: 5 * GiB, maxVolumes: 4, nowMs: 2 });
    must(state, vol('owned', GiB, 'a'));
    const copy = MetaState.decodeSnapshot(state.encodeSnapshot());
    copy.checkInvariants();
    expect(copy.hash()).toBe(state.hash());
    expect(copy.listTenants()).toEqual(state.listTenants());
    expect(copy.getVolume('owned')).toMatchObject({ ok: true, value: { tenant: 'a' } });
    refuse(copy, vol('over', 4 * GiB + 64 * MiB, 'a'), ErrorCode.QuotaExceeded);
  });

  it('holds its invariants over random tenant and volume commands, and no create or growth passes a quota', () => {
    const seed = Number(process.env.SEED ?? 7);
    const rng = new Prng(seed);
    const state = MetaState.empty();
    const tenants = ['default', 'ta', 'tb'];
    for (let step = 0; step < 600; step++) {
      const name = rng.pick(['v1', 'v2', 'v3', 'v4', 'v5']);
      const tenant = rng.pick(tenants);
      const cmds: Command[] = [
        { type: 'createTenant', name: tenant, maxBytes: rng.int(0, 4) * 256 * MiB, maxVolumes: rng.int(0, 3), nowMs: step },
        { type: 'deleteTenant', name: tenant },
        { type: 'setTenantQuota', name: tenant, maxBytes: rng.int(0, 4) * 256 * MiB, maxVolumes: rng.int(0, 3) },
        vol(name, rng.int(1, 8) * 64 * MiB, tenant),
        { type: 'resizeVolume', name, sizeBytes: rng.int(1, 8) * 64 * MiB, force: true, ...(rng.chance(0.5) && { requireTenant: tenant }) },
        { type: 'deleteVolume', name, force: true, ...(rng.chance(0.5) && { requireTenant: tenant }) },
      ];
      const cmd = rng.pick(cmds);
      const current = state.getVolume(name);
      const sizeBefore = current.ok ? current.value.sizeBytes : 0;
      const result = state.apply(cmd);
      state.checkInvariants();
      const after = state.getVolume(name);
      const grew = result.ok && after.ok && (cmd.type === 'createVolume' || (cmd.type === 'resizeVolume' && after.value.sizeBytes > sizeBefore));
      if (grew) {
        const owner = state.getTenant(after.value.tenant);
        const t = owner.ok ? owner.value : undefined;
        if (t !== undefined && t.maxBytes > 0) expect(t.sizeBytes, `SEED=${seed} step ${step}`).toBeLessThanOrEqual(t.maxBytes);
        if (t !== undefined && t.maxVolumes > 0 && cmd.type === 'createVolume') expect(t.volumes, `SEED=${seed} step ${step}`).toBeLessThanOrEqual(t.maxVolumes);
      }
    }
    expect(MetaState.decodeSnapshot(state.encodeSnapshot()).hash()).toBe(state.hash());
  });
});
