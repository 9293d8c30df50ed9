// What the server tells its operator when something is configured in a way that will hurt:
// each message says what happens and what to do.
export const warnings = {
  untrustedForwarder: (peer: string) =>
    `forwarding headers (X-Forwarded-For, X-Real-IP) from ${peer}, which is not in KEYGATE_TRUSTED_PROXIES, are ignored: ` +
    `every client behind it counts as ${peer}, so one client's wrong guesses lock out all of them, and IP rules see ${peer}. ` +
    `If ${peer} is your gateway, add it to KEYGATE_TRUSTED_PROXIES (said once per address)`,

  retiredRequirementHeader: (header: string) =>
    `/v1/auth refused a request carrying ${header}: requirements and cost are read from the auth URL only ` +
    '(e.g. /v1/auth?access=FULL_ACCESS&scopes=orders:write&cost=1), as a client could send any header. ' +
    'If your gateway sets this header, move it to the auth URL (said once per header)',

  developmentSignature: (dataDir: string) =>
    `development mode: tokens are signed with the secret in ${dataDir}; ` +
    `get one for this server with KEYGATE_DATA_DIR=${dataDir} pnpm run token <merchant>`,

  developmentMode:
    'development mode: tokens are signed with a random secret kept in the data directory; get one with `pnpm run token <merchant>`',
};
