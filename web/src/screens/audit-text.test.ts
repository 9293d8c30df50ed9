// The audit trail read as sentences: each action's summary, as the server records it, becomes
// what a merchant would say, with no internal id and no JSON left in it.
import type { AuditAction } from '@keygate/sdk/documents';
import { describe, expect, it } from 'vitest';
import { describeEvent, duration } from './audit-text.ts';

const say = (action: AuditAction, summary: unknown) => {
  const { title, details } = describeEvent(action, summary);
  return [title, ...details].join(' | ');
};

describe('the audit trail in sentences', () => {
  it('says what an edit changed, from what to what', () => {
    expect(
      say('editKey', {
        name: 'Staging checkout',
        access: 'FULL_ACCESS',
        websiteUrl: null,
        before: { name: 'Staging', access: 'READ_ONLY', websiteUrl: 'https://staging.example.com' },
      }),
    ).toBe(
      "Key edited | Renamed 'Staging' to 'Staging checkout' | Website removed (was https://staging.example.com) | Access: read only → full access",
    );
    expect(say('editKey', { credits: { remaining: 1000, refillAmount: 1000, refillInterval: 'MONTHLY' } })).toBe(
      'Key edited | Credits set to 1,000, refilled to 1,000 monthly',
    );
    expect(say('editKey', { rateLimits: [{ name: 'burst', limit: 100, windowSeconds: 10 }], metadata: null })).toBe(
      'Key edited | Rate limits: 100 per 10 seconds | Metadata cleared',
    );
    expect(say('updateApplication', { name: 'Shop 2', before: { name: 'Shop' } })).toBe(
      "Application updated | Renamed 'Shop' to 'Shop 2'",
    );
  });

  it('says what a role grants and how a key’s roles changed, without role ids', () => {
    expect(say('createRole', { name: 'Support', scopes: ['orders.read', 'refunds.*'] })).toBe(
      'Role created | Grants orders.read, refunds.*',
    );
    expect(say('updateRole', { scopes: ['orders.*'], before: { scopes: ['orders.read'] } })).toBe(
      'Role changed | Scopes: orders.read → orders.*',
    );
    expect(say('deleteRole', { name: 'Support', scopes: ['orders.read'] })).toBe("Role deleted | It was 'Support'");
    const roleId = 'Um9sZTowMTkzYjJmYy0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDE=';
    const edited = say('editKey', { roles: [roleId, roleId], before: { roles: [roleId] } });
    expect(edited).toBe('Key edited | Roles set (2 roles, was 1)');
    expect(say('editKey', { roles: [], before: { roles: [roleId] } })).toBe('Key edited | Every role taken off');
    expect(say('createKey', { access: 'READ_ONLY', roles: [roleId] })).toBe('Key created | Read only | With 1 role');
  });

  it('names enabling and disabling as what they are', () => {
    expect(say('setKeyEnabled', { enabled: false })).toBe('Key disabled | It is refused until it is enabled again.');
    expect(say('setKeyEnabled', { enabled: true })).toBe('Key enabled');
    expect(say('setApplicationEnabled', { enabled: false })).toMatch(/^Application disabled/);
  });

  it('sums up IP rules, rolls, new keys and leaks', () => {
    expect(
      say('setIpRules', {
        rules: [
          { cidr: '10.0.0.0/8', action: 'ALLOW' },
          { cidr: '192.0.2.1/32', action: 'ALLOW' },
          { cidr: '198.51.100.0/24', action: 'DENY' },
        ],
        defaultAction: 'DENY',
      }),
    ).toBe(
      'IP rules set | 2 allow rules, 1 deny rule, default deny (allow 10.0.0.0/8, allow 192.0.2.1/32, deny 198.51.100.0/24)',
    );
    expect(say('setIpRules', { rules: [], defaultAction: 'ALLOW' })).toBe(
      'IP rules set | No rules; every address allowed',
    );
    expect(say('rollKey', { gracePeriodSeconds: 86_400, newKeyId: 'QXBpS2V5OjAxOTM=', prefix: 'kg_live_Ab3x' })).toBe(
      'Key rolled | Replaced by the new key kg_live_Ab3x… | The old secret kept working for 24 hours more.',
    );
    expect(
      say('createKey', {
        applicationId: 'QXBwbGljYXRpb246MDE5Mw==',
        prefix: 'kg_test_Zz9q',
        name: 'Sandbox',
        access: 'FULL_ACCESS',
        environment: 'TEST',
        scopes: ['orders:write'],
      }),
    ).toBe('Key created | Full access, test mode | Scopes: orders:write');
    expect(say('reportLeakedKey', { url: 'https://github.com/x/y', source: 'github', action: 'revoked' })).toBe(
      'Key reported as leaked | Found at https://github.com/x/y (reported by github). | Keygate revoked it.',
    );
  });

  it('leaves no id and no JSON in any sentence', () => {
    const summaries: [AuditAction, unknown][] = [
      [
        'createKey',
        { applicationId: 'QXBwbGljYXRpb246MDE5Mw==', prefix: 'kg_live_Ab3x', name: 'k', metadata: { a: 1 } },
      ],
      ['rollKey', { gracePeriodSeconds: 0, newKeyId: 'QXBpS2V5OjAxOTM=', prefix: 'kg_live_Ab3x' }],
      ['createWebhookEndpoint', { url: 'https://hooks.example.com', events: ['KEY_ROLLED', 'KEY_DISABLED'] }],
      ['updateWebhookEndpoint', { enabled: false, before: { enabled: true } }],
      ['deleteWebhookEndpoint', { url: 'https://hooks.example.com' }],
      ['revokeKey', {}],
    ];
    for (const [action, summary] of summaries) {
      const text = say(action, summary);
      expect(text, action).not.toMatch(/[{}[\]]|QXB|"/);
    }
    expect(say('createWebhookEndpoint', { url: 'https://h.example', events: ['KEY_ROLLED'] })).toContain('key.rolled');
  });

  it('says durations the way people do', () => {
    expect([10, 60, 3600, 86_400, 604_800, 90].map(duration)).toEqual([
      '10 seconds',
      '1 minute',
      '1 hour',
      '24 hours',
      '7 days',
      '90 seconds',
    ]);
  });
});
