// Entry of the store writer thread (plain JS: a worker's first module is loaded before any TypeScript hook).
// Under the test loader (tests/loader) .ts loads in workers as it is; under tsx (npm start, the Dockerfile's
// node --import tsx) it does not, since tsx's --import hooks do not reach worker threads (privatenumber/tsx#354):
// then tsx is registered here and the module imported again (under another URL: the failed import is cached).
try {
  await import('./writer-thread.ts');
} catch (err) {
  if (err?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
  const { register } = await import('tsx/esm/api');
  register();
  await import('./writer-thread.ts?tsx');
}
