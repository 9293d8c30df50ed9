// The IP rule input and action, shared by setIpRules and createKey (which may limit a key by IP
// from its first request, as a policy requiring IP rules for full-access keys needs).

import { cidrRule } from '@keygate/services/validation';
import { z } from 'zod';
import { builder } from '../builder.ts';

export const MAX_IP_RULES = 100;

export const IpAction = builder.enumType('IpAction', { values: ['ALLOW', 'DENY'] as const });

export const IpRuleInput = builder.inputType('IpRuleInput', {
  fields: (t) => ({
    cidr: t.string({ required: true, validate: cidrRule, description: 'IPv4 or IPv6 address or CIDR range' }),
    action: t.field({ type: IpAction, required: true }),
  }),
});

export const ipRulesRule = z.array(z.any()).max(MAX_IP_RULES, `at most ${MAX_IP_RULES} rules`);
