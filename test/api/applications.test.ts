import type { CreateApplicationInput } from '@keygate/sdk/documents';
import { describe, expect, test } from '../support/fixtures.ts';
import {
  APPLICATION,
  APPLICATIONS,
  CREATE_APPLICATION,
  createApplication,
  SET_APPLICATION_ENABLED,
  UPDATE_APPLICATION,
} from '../support/operations.ts';
import { failed, member, ok } from '../support/results.ts';

describe('createApplication', () => {
  test('creates an enabled application and returns it', async ({ h }) => {
    const acme = await h.as('acme');
    const { createApplication: result } = await acme.gql(CREATE_APPLICATION, {
      input: { name: '  Production web store ', description: 'Primary e-commerce backend' },
    });
    expect(result.__typename).toBe('ApplicationPayload');
    expect(ok(result).application).toMatchObject({
      name: 'Production web store',
      description: 'Primary e-commerce backend',
      enabled: true,
      keyLimit: 100,
    });
    const { application } = await acme.gql(APPLICATION, { id: ok(result).application.id });
    expect(application).toEqual(ok(result).application);
  });

  test('rejects a name already used by the merchant, ignoring case and surrounding spaces', async ({ h }) => {
    const acme = await h.as('acme');
    await createApplication(acme, 'Staging');
    const { createApplication: result } = await acme.gql(CREATE_APPLICATION, { input: { name: ' STAGING' } });
    expect(result).toMatchObject({ __typename: 'NameConflictError', code: 'NAME_CONFLICT', name: 'STAGING' });
  });

  test('lets two merchants use the same name', async ({ h }) => {
    await createApplication(await h.as('acme'), 'Staging');
    await expect(createApplication(await h.as('globex'), 'Staging')).resolves.toMatchObject({ name: 'Staging' });
  });

  test.for<[CreateApplicationInput, string[], string]>([
    [{ name: '' }, ['input', 'name'], 'must not be empty'],
    [{ name: '   ' }, ['input', 'name'], 'must not be empty'],
    [{ name: 'x'.repeat(101) }, ['input', 'name'], 'at most 100'],
    [{ name: 'line\nbreak' }, ['input', 'name'], 'control characters'],
    [{ name: 'ok', description: 'd'.repeat(501) }, ['input', 'description'], 'at most 500'],
  ])('rejects invalid input %j with the field path', async ([input, path, message], { h }) => {
    const acme = await h.as('acme');
    const { createApplication: result } = await acme.gql(CREATE_APPLICATION, { input });
    expect(result.__typename).toBe('ValidationError');
    expect(failed(result).code).toBe('VALIDATION_FAILED');
    expect(member(result, 'ValidationError').issues).toEqual([{ path, message: expect.stringContaining(message) }]);
    expect(await h.db.prisma.application.count()).toBe(0);
  });

  test('accepts exactly 100 and 500 characters', async ({ h }) => {
    const acme = await h.as('acme');
    const { createApplication: result } = await acme.gql(CREATE_APPLICATION, {
      input: { name: 'n'.repeat(100), description: 'd'.repeat(500) },
    });
    expect(result.__typename).toBe('ApplicationPayload');
  });

  test('lets exactly one of two concurrent creations with the same name succeed', async ({ h }) => {
    const acme = await h.as('acme');
    const results = await Promise.all(
      ['Checkout', 'checkout'].map((name) => acme.gql(CREATE_APPLICATION, { input: { name } })),
    );
    const kinds = results.map((r) => r.createApplication.__typename).sort();
    expect(kinds).toEqual(['ApplicationPayload', 'NameConflictError']);
    expect(await h.db.prisma.application.count()).toBe(1);
  });
});

describe('updateApplication', () => {
  test('renames and changes or clears the description', async ({ h }) => {
    const acme = await h.as('acme');
    const app = await createApplication(acme, 'Old name', 'old');
    const renamed = await acme.gql(UPDATE_APPLICATION, { input: { id: app.id, name: 'New name' } });
    expect(ok(renamed.updateApplication).application).toMatchObject({ name: 'New name', description: 'old' });
    const cleared = await acme.gql(UPDATE_APPLICATION, { input: { id: app.id, description: null } });
    expect(ok(cleared.updateApplication).application).toMatchObject({ name: 'New name', description: null });
  });

  test('allows changing only the case of its own name, but not taking another one', async ({ h }) => {
    const acme = await h.as('acme');
    const app = await createApplication(acme, 'web');
    await createApplication(acme, 'Mobile');
    const recased = await acme.gql(UPDATE_APPLICATION, { input: { id: app.id, name: 'Web' } });
    expect(ok(recased.updateApplication).application.name).toBe('Web');
    const taken = await acme.gql(UPDATE_APPLICATION, { input: { id: app.id, name: 'mobile' } });
    expect(taken.updateApplication).toMatchObject({ __typename: 'NameConflictError', name: 'mobile' });
  });

  test('reports validation errors, null names and unknown ids', async ({ h }) => {
    const acme = await h.as('acme');
    const app = await createApplication(acme, 'web');
    const invalid = await acme.gql(UPDATE_APPLICATION, { input: { id: app.id, name: 'x'.repeat(101) } });
    expect(member(invalid.updateApplication, 'ValidationError').issues[0]!.path).toEqual(['input', 'name']);
    const nullName = await acme.gql(UPDATE_APPLICATION, { input: { id: app.id, name: null } });
    expect(nullName.updateApplication).toMatchObject({
      __typename: 'ValidationError',
      issues: [{ path: ['input', 'name'] }],
    });
    const missing = await acme.gql(UPDATE_APPLICATION, { input: { id: 'nope', name: 'x' } });
    expect(missing.updateApplication).toMatchObject({
      __typename: 'NotFoundError',
      resource: 'Application',
      id: 'nope',
    });
  });
});

describe('setApplicationEnabled', () => {
  test('disables and re-enables', async ({ h }) => {
    const acme = await h.as('acme');
    const app = await createApplication(acme, 'web');
    const off = await acme.gql(SET_APPLICATION_ENABLED, { input: { id: app.id, enabled: false } });
    expect(ok(off.setApplicationEnabled).application.enabled).toBe(false);
    const on = await acme.gql(SET_APPLICATION_ENABLED, { input: { id: app.id, enabled: true } });
    expect(ok(on.setApplicationEnabled).application.enabled).toBe(true);
  });
});

describe('applications', () => {
  test('filters by name search and enabled flag, counting the filtered total', async ({ h }) => {
    const acme = await h.as('acme');
    const web = await createApplication(acme, 'Web store');
    await createApplication(acme, 'Mobile app');
    await createApplication(acme, 'Web staging');
    await acme.gql(SET_APPLICATION_ENABLED, { input: { id: web.id, enabled: false } });

    const search = await acme.gql(APPLICATIONS, { first: 10, search: 'WEB' });
    expect(search.applications.totalCount).toBe(2);
    expect(search.applications.edges.map((e: any) => e.node.name)).toEqual(['Web staging', 'Web store']);

    const enabled = await acme.gql(APPLICATIONS, { first: 10, enabled: true });
    expect(enabled.applications.edges.map((e: any) => e.node.name)).toEqual(['Web staging', 'Mobile app']);
    for (const pattern of ['%', '_', '\\']) {
      const literal = await acme.gql(APPLICATIONS, { first: 10, search: pattern });
      expect(literal.applications.totalCount, pattern).toBe(0);
    }
    await createApplication(acme, '100%_done\\');
    const special = await acme.gql(APPLICATIONS, { first: 10, search: '% _DONE\\'.replace(' ', '') });
    expect(special.applications.edges.map((e: any) => e.node.name)).toEqual(['100% _done\\'.replace(' ', '')]);
  });

  test('application(id) returns null for an id that does not exist or is malformed', async ({ h }) => {
    const acme = await h.as('acme');
    for (const id of ['QXBwbGljYXRpb246MDE5MDAwMDAtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAw', 'garbage', '']) {
      const result = await acme.request(APPLICATION, { id });
      expect(result.errors).toBeUndefined();
      expect(result.data.application).toBeNull();
    }
  });
});
