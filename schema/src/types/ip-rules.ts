// A key's IP rules: ordered { cidr, action } entries plus a default action.

import { KeyRevokedError, NotFoundError, PolicyViolationError, ValidationError } from '@keygate/services/errors';
import { setIpRules } from '@keygate/services/ip-rules';
import { builder } from '../builder.ts';
import { ApiKey, ApiKeyPayload } from './api-key.ts';
import { IpAction, IpRuleInput, ipRulesRule } from './ip-rule-input.ts';

export { IpAction, MAX_IP_RULES } from './ip-rule-input.ts';

builder.prismaObject('IpRule', {
  fields: (t) => ({
    cidr: t.exposeString('cidr', {
      description: 'Canonical range, e.g. 10.0.0.0/8 or 2001:db8::/32 (single addresses as /32 or /128)',
    }),
    action: t.expose('action', { type: IpAction }),
  }),
});

builder.prismaObjectField(ApiKey, 'ipRules', (t) =>
  t.relation('ipRules', {
    description: 'Checked in order; the first rule whose range contains the client address decides',
    query: { orderBy: { position: 'asc' } },
  }),
);
builder.prismaObjectField(ApiKey, 'ipDefaultAction', (t) =>
  t.expose('ipDefaultAction', { type: IpAction, description: 'Applies when no rule matches (ALLOW: allow all)' }),
);

const SetIpRulesInput = builder.inputType('SetIpRulesInput', {
  fields: (t) => ({
    keyId: t.id({ required: true }),
    rules: t.field({
      type: [IpRuleInput],
      required: true,
      validate: ipRulesRule,
      description: 'The whole new list, in order; [] removes every rule',
    }),
    defaultAction: t.field({ type: IpAction, defaultValue: 'ALLOW' }),
  }),
});

builder.mutationField('setIpRules', (t) =>
  t.withAuth({ merchant: true }).field({
    type: ApiKeyPayload,
    description: "Replaces the key's IP rules and default action in one step",
    args: { input: t.arg({ type: SetIpRulesInput, required: true }) },
    errors: { types: [ValidationError, NotFoundError, KeyRevokedError, PolicyViolationError] },
    resolve: async (_root, { input }, ctx) => ({
      key: await setIpRules(ctx, { ...input, defaultAction: input.defaultAction ?? 'ALLOW' }),
    }),
  }),
);
