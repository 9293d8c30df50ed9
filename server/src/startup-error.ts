// Why Keygate cannot start, in one line for the person starting it: bad
// configuration, a database in use, unreachable or not migratable. The entry
// points print the message alone (no stack) and exit 1 for the supervisor.
export class StartupError extends Error {
  override name = 'StartupError';
}
