/**
 * The layering of DESIGN.md ("Layout, and the architecture it shows"), checked by `npm run lint`.
 * Type-only imports count (tsPreCompilationDeps), and so do dynamic `import()`s.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'No import cycle anywhere in src/ and drivers/, through type-only and dynamic imports too.',
      severity: 'error',
      from: { path: '^(src|drivers)/' },
      to: { circular: true },
    },
    {
      name: 'contract-is-the-floor',
      comment: 'src/driver/contract.ts imports only src/errors.ts and node: modules: no Express, no implementation.',
      severity: 'error',
      from: { path: '^src/driver/contract\\.ts$' },
      to: { pathNot: '^src/errors\\.ts$', dependencyTypesNot: ['core'] },
    },
    {
      name: 'contract-node-imports-are-types',
      comment: 'What src/driver/contract.ts takes from node: is types only (import type).',
      severity: 'error',
      from: { path: '^src/driver/contract\\.ts$' },
      to: { dependencyTypes: ['core'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'only-the-composition-root-names-drivers',
      comment: 'Of src/, only src/drivers.ts imports anything under drivers/.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/drivers\\.ts$' },
      to: { path: '^drivers/' },
    },
    {
      name: 'drivers-stay-apart',
      comment: 'A driver never imports another driver; a driver that is a folder (drivers/local/) may import its own.',
      severity: 'error',
      from: { path: '^drivers/([^/.]+)' },
      to: { path: '^drivers/', pathNot: '^drivers/$1(/|\\.ts$)' },
    },
    {
      name: 'drivers-use-the-kit',
      comment:
        'drivers/ imports from src/ only the kit (src/driver/) and plain helpers (env, errors, records, metadata, discovery): ' +
        'never the app, main, http/, core/ or anything else of the service.',
      severity: 'error',
      from: { path: '^drivers/' },
      to: { path: '^src/', pathNot: '^src/(driver/|(env|errors|records|metadata|discovery)\\.ts$)' },
    },
    {
      name: 'service-never-imports-tests',
      comment: 'src/ and drivers/ never import test/, bench/ or scripts/.',
      severity: 'error',
      from: { path: '^(src|drivers)/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'no-unresolvable',
      comment: 'Every import resolves to a file or an installed package.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6', 'cjs'],
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
