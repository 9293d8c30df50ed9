// What GraphiQL opens with: the first steps, from a token to a verified key,
// runnable top to bottom. Lines stay short: GraphiQL's editor shares the
// window with the results, and a long line is cut off, not wrapped.
/** The walkthrough, for a server reachable at `url` (its curl line names it). */
export const graphiqlWalkthrough = (url: string) => `# Welcome to Keygate: API keys for your merchants.
#
# 1. Get a token for a merchant (any id) in a shell:
#      pnpm run token my-merchant
# 2. Open "Headers" below and add:
#      { "Authorization": "Bearer <the token>" }
# 3. Run CreateApplication. Put its id into CreateKey
#    and run that. Copy the secret now: it is shown
#    only this once.
# 4. Put the secret into VerifyKey and run it: valid,
#    with the key's identity. Gateways ask /v1/auth:
#      curl -H "X-Api-Key: <secret>" \\
#        ${url}/v1/auth
# 5. RevokeKey, then VerifyKey again: REVOKED, on
#    every instance at once.
# 6. Applications: all of it, and each key's last use.

mutation CreateApplication {
  createApplication(input: { name: "Web store" }) {
    __typename
    ... on ApplicationPayload {
      application { id name }
    }
    ... on Error { code message }
  }
}

mutation CreateKey {
  createKey(
    input: {
      applicationId: "<application id>"
      name: "Checkout backend"
      access: FULL_ACCESS
    }
  ) {
    __typename
    ... on CreateKeyPayload {
      secret
      key { id prefix status }
    }
    ... on Error { code message }
  }
}

mutation VerifyKey {
  verifyKey(input: { key: "<secret>" }) {
    __typename
    ... on KeyVerification {
      valid
      code
      keyId
      environment
      access
      scopes
    }
    ... on ValidationError {
      issues { path message }
    }
  }
}

mutation RevokeKey {
  revokeKey(input: { id: "<key id>" }) {
    __typename
    ... on ApiKeyPayload {
      key { prefix status revokedAt }
    }
    ... on Error { code message }
  }
}

query Applications {
  applications(first: 10) {
    totalCount
    edges {
      node {
        id
        name
        enabled
        keys(first: 5) {
          totalCount
          edges {
            node { prefix name status lastUsedAt }
          }
        }
      }
    }
  }
}
`;
