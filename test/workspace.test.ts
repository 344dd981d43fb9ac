import { assert } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
describe('workspace', () => { it('resolves packages from tests', () => { expect(() => assert(false, 'x')).toThrow('x'); }); });
