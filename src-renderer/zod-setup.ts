/**
 * Imported first by main.tsx, before any schema is built: zod's JIT compiles parsers with
 * `new Function`, which the admin pages' CSP (no 'unsafe-eval') forbids, and even zod's probe for
 * it logs a CSP violation. jitless parsing is plenty fast for an admin UI.
 */
import { config } from 'zod';

config({ jitless: true });
