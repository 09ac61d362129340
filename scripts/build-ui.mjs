#!/usr/bin/env node
// Builds the web UI (ui/src, TypeScript + Preact + uPlot) into static assets under dist/ui, which
// Warren serves from the management port. Runs as part of `npm run build`; prints the shipped sizes.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const out = 'dist/ui';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: 'ui/src/main.tsx' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: out,
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync('ui/index.html', join(out, 'index.html'));
copyFileSync('ui/favicon.svg', join(out, 'favicon.svg'));
const sizes = readdirSync(out).map((f) => {
  const data = readFileSync(join(out, f));
  return `${f} ${(data.length / 1024).toFixed(1)} KiB (gzip ${(gzipSync(data).length / 1024).toFixed(1)} KiB)`;
});
if (process.env.UI_BUILD_QUIET === undefined) console.log(`ui: ${sizes.join(', ')}`);
