// Module hooks for the SDK's unit tests: the WIT interfaces the engine
// provides at run time (`exorun:automation/...`) all resolve to one scriptable
// fake host, so the SDK's logic runs under plain Node.
const INTERFACES = new Set(['cmdlets', 'host', 'inputs']);

export async function resolve(specifier, context, next) {
  const match = /^exorun:automation\/([a-z-]+)@0\.1\.0$/.exec(specifier);
  if (match && INTERFACES.has(match[1])) {
    return { url: new URL('./fake-host.mjs', import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
