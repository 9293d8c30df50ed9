// A key's IP rules: the whole ordered list and the default action, replaced in
// one transaction with the key's guard, so concurrent calls leave one complete
// list, never a mix, and never touch a revoked key.

import { recorded } from './audit.ts';
import type { MerchantContext } from './context.ts';
import { keyEventData } from './events.ts';
import { requireChangeableKey, updateUnrevokedKey } from './keys.ts';
import { enforcePolicy } from './policies.ts';
import type { ApiKey, IpAction } from './prisma.ts';

export interface SetIpRulesInput {
  keyId: string;
  /** Already canonical (validated) CIDRs, in order. */
  rules: { cidr: string; action: IpAction }[];
  defaultAction: IpAction;
}

export async function setIpRules(ctx: MerchantContext, input: SetIpRulesInput): Promise<ApiKey> {
  const current = await requireChangeableKey(ctx, input.keyId);
  return recorded(
    ctx,
    async (tx) => {
      const key = await updateUnrevokedKey(tx, current.id, input.keyId, 'change', {
        ipDefaultAction: input.defaultAction,
      });
      await tx.ipRule.deleteMany({ where: { keyId: current.id } });
      await tx.ipRule.createMany({
        data: input.rules.map((rule, position) => ({
          keyId: current.id,
          position,
          cidr: rule.cidr,
          action: rule.action,
        })),
      });
      // Taking the rules off a full-access key breaks a policy that requires them.
      await enforcePolicy(ctx, tx, {
        keys: [{ id: current.id, path: ['input'] }],
        sent: ['rules'],
        fieldOf: { access: 'rules' },
      });
      return key;
    },
    (key) => ({
      action: 'setIpRules',
      event: { type: 'KEY_UPDATED', data: keyEventData(key) },
      target: { type: 'ApiKey', id: current.id },
      summary: {
        rules: input.rules.map((rule) => ({ cidr: rule.cidr, action: rule.action })),
        defaultAction: input.defaultAction,
      },
    }),
    () => ({ keyIds: [current.id] }),
  );
}
