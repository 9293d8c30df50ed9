// `pnpm run token …` prints a token that scripts capture with $(pnpm run token acme):
// pnpm's "> keygate@ token …" banner must not land in it. Silent for that script only;
// every other command (install included) reports as usual.
const [command, script] = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));

module.exports = {
  hooks: {
    updateConfig(config) {
      if (command === 'run' && script === 'token') return { ...config, reporter: 'silent' };
      return config;
    },
  },
};
