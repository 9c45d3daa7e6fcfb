// The layers of src/, lowest first: a folder may import from its own layer and those below it,
// never from one above. `npm run lint` runs this (npm run layers), type imports included, so an
// upward arrow fails even where it closes no circle between files.
const LAYERS = [
  ['base', 'files', 'log'],
  ['config'],
  ['evidence'],
  ['grpc', 'peers'],
  ['probes', 'sources', 'clients'],
  ['inventory', 'demo'],
  ['collect'],
  ['migration'],
  ['view'],
  ['cycle'],
  ['metrics', 'report', 'rules', 'pages'],
  ['http'],
];

const folders = (layers) => `^src/(${layers.flat().join('|')})/`;

module.exports = {
  forbidden: [
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `layer-${layer.join('-')}`,
      comment: `${layer.join(', ')} ${layer.length > 1 ? 'are' : 'is'} below ${LAYERS.slice(i + 1)
        .flat()
        .join(', ')}: no import upwards`,
      severity: 'error',
      from: { path: folders([layer]) },
      to: { path: folders(LAYERS.slice(i + 1)) },
    })),
    {
      name: 'entry-points-on-top',
      comment: 'cli.ts, exporter.ts and main.ts sit above every folder: nothing in a folder imports them',
      severity: 'error',
      from: { path: '^src/[^/]+/' },
      to: { path: '^src/[^/]+\\.ts$' },
    },
    {
      name: 'no-loose-utilities',
      comment: 'src/ holds the entry points and folders, one per feature; a shared helper goes in src/base/',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/(?!(cli|exporter|main)\\.ts$)[^/]+\\.ts$' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'every-folder-in-a-layer',
      comment: 'a new folder of src/ must be given its layer here',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/[^/]+/', pathNot: folders(LAYERS) },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
