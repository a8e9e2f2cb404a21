#!/usr/bin/env node
/**
 * Builds a JavaScript exorun plugin into a WebAssembly component.
 *
 *   node sdk/js/build.mjs --wit <wit-dir> --world automation \
 *     --entry <plugin-entry.js> --out <component.wasm>
 *
 * `exorun build` runs this for plugin folders with a package.json. Two steps:
 *
 * 1. esbuild bundles the entry, everything it imports and the SDK
 *    (`@exorun/sdk` always resolves to this folder's src/index.js, so a
 *    plugin needs no npm install) into one ES module. The WIT imports
 *    (`exorun:automation/...`) stay external: the engine provides them.
 *    The entry's `run` export is wrapped with the SDK's `automation()`, so
 *    a thrown error fails the run with its message instead of trapping.
 * 2. componentize-js snapshots the SpiderMonkey engine with that module
 *    loaded. Engine features the sandbox does not grant are turned off:
 *    `http`/`fetch-event` (wasi:http, which the host refuses) and `stdio`
 *    (which drags in wasi:filesystem; the SDK sends console output to the
 *    run log instead). Clocks and randomness stay on, so `Date`,
 *    `setTimeout` and `crypto.getRandomValues` behave normally.
 *
 * On success it prints one line; on failure the reason goes to stderr and
 * the exit code is 1.
 */

import { mkdtemp, rm, writeFile, mkdir, stat } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The SDK source every plugin is bundled with. */
const SDK_ENTRY = fileURLToPath(new URL('./src/index.js', import.meta.url));

/** Engine features the sandbox does not provide (see the header). */
const DISABLED_FEATURES = ['http', 'fetch-event', 'stdio'];

const USAGE =
  'usage: node build.mjs --wit <wit-dir> --world <world> --entry <plugin-entry.js> --out <component.wasm>';

/** A failure whose message is already what the user should read. */
class BuildFailure extends Error {}

function options() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        wit: { type: 'string' },
        world: { type: 'string' },
        entry: { type: 'string' },
        out: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new BuildFailure(`${e.message}\n${USAGE}`);
  }
  for (const name of ['wit', 'world', 'entry', 'out']) {
    if (!values[name]) throw new BuildFailure(`--${name} is required\n${USAGE}`);
  }
  return {
    wit: resolve(values.wit),
    world: values.world,
    entry: resolve(values.entry),
    out: resolve(values.out),
  };
}

/** @param {string} path @param {'file'|'directory'} kind @param {string} what */
async function mustExist(path, kind, what) {
  const info = await stat(path).catch(() => null);
  if (!info || (kind === 'file' ? !info.isFile() : !info.isDirectory())) {
    throw new BuildFailure(`${what} ${path} is not a ${kind}`);
  }
}

/**
 * Resolution rules of a plugin bundle: the SDK from this folder, the WIT
 * interfaces left to the engine, and Node's built-in modules refused with
 * the reason (they would not exist in the sandbox anyway).
 * @type {import('esbuild').Plugin}
 */
const sandboxResolution = {
  name: 'exorun',
  setup(build) {
    build.onResolve({ filter: /^@exorun\/sdk$/ }, () => ({ path: SDK_ENTRY }));
    build.onResolve({ filter: /^exorun:automation\// }, (args) => ({
      path: args.path,
      external: true,
    }));
    const builtins = new Set(builtinModules);
    build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (!args.path.startsWith('node:') && !builtins.has(name)) return undefined;
      return {
        errors: [
          {
            text: `"${args.path}" is a Node.js module; an exorun plugin runs in a sandbox without files, network or processes, and reaches the tenant only through @exorun/sdk`,
          },
        ],
      };
    });
  },
};

/**
 * Bundles the entry with the SDK into one ES module and returns its text.
 * @param {string} entry
 */
async function bundle(entry) {
  const esbuild = await import('esbuild');
  // The virtual entry: the plugin's `run`, adapted to the WIT export.
  // Importing `run` by name makes a missing export a bundling error with
  // the file's name, rather than a failure inside the engine snapshot.
  const contents = [
    `import { run as pluginRun } from ${JSON.stringify(entry)};`,
    `import { automation } from '@exorun/sdk';`,
    `export const run = automation(pluginRun);`,
  ].join('\n');
  try {
    const result = await esbuild.build({
      stdin: { contents, resolveDir: dirname(entry), sourcefile: 'exorun-entry.js', loader: 'js' },
      // Messages name files relative to the plugin's folder.
      absWorkingDir: dirname(entry),
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      conditions: ['import', 'default'],
      target: 'es2022',
      // The SDK's error classes report their own names; keep them even where
      // bundling would rename a binding.
      keepNames: true,
      legalComments: 'none',
      charset: 'utf8',
      logLevel: 'silent',
      plugins: [sandboxResolution],
    });
    return result.outputFiles[0].text;
  } catch (e) {
    if (!Array.isArray(e.errors)) throw e;
    const text = esbuild
      .formatMessagesSync(e.errors, { kind: 'error', color: false, terminalWidth: 100 })
      .join('')
      .trimEnd();
    const hint = e.errors.some((m) => /No matching export .* for import "run"/.test(m.text))
      ? `\n${entry} must export its automation as \`export function run() { ... }\` (or async)`
      : '';
    throw new BuildFailure(`bundling ${entry} failed:\n${text}${hint}`);
  }
}

async function main() {
  const started = performance.now();
  const opts = options();
  await mustExist(opts.wit, 'directory', 'the WIT folder');
  await mustExist(opts.entry, 'file', 'the entry module');

  const source = await bundle(opts.entry);
  const scratch = await mkdtemp(join(tmpdir(), 'exorun-js-'));
  try {
    // Stack traces name this file, so name it after the plugin's folder.
    const sourceName = `${basename(dirname(opts.entry))}.js`;
    const sourcePath = join(scratch, sourceName);
    await writeFile(sourcePath, source);

    const { componentize } = await import('@bytecodealliance/componentize-js');
    // componentize-js strips the working directory from the module's path
    // when the module lies under it; from inside the scratch folder, stack
    // traces name just the bundle file, not a random temporary folder.
    process.chdir(scratch);
    let component;
    try {
      ({ component } = await componentize({
        sourcePath,
        sourceName,
        witPath: opts.wit,
        worldName: opts.world,
        disableFeatures: DISABLED_FEATURES,
      }));
    } catch (e) {
      throw new BuildFailure(`componentizing ${opts.entry} failed:\n${e.message ?? e}`);
    }

    await mkdir(dirname(opts.out), { recursive: true });
    await writeFile(opts.out, component);
    const mib = (component.length / (1 << 20)).toFixed(1);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`built ${opts.out} (${mib} MiB) in ${seconds} s`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof BuildFailure ? e.message : (e?.stack ?? e)}\n`);
  process.exitCode = 1;
});
