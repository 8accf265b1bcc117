// Module hook for the Electron main-process smoke test: `electron` resolves to the stub next to this
// file instead of the real package (whose index.js would try to download a binary).
export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'electron') return { url: new URL('./electron.js', import.meta.url).href, shortCircuit: true };
  return nextResolve(specifier, context);
}
