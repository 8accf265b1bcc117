/**
 * The admin RPC contract's building block. A method is a name, a zod schema for its input and one for
 * its output. The renderer calls methods through a Transport (IPC in the desktop app, HTTP in browser
 * mode); the main process validates every input with the same schema before a handler sees it.
 *
 * Each domain declares its methods in its own file under shared/rpc/ and index.ts merges them, so work
 * on one domain never edits another's file.
 */
import type { z } from 'zod';

export interface MethodSpec<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  readonly input: I;
  readonly output: O;
  /** One line for people (the method list in the docs and error messages). */
  readonly summary: string;
  /** Writes something (the audit trail and the live events care); reads are safe to retry. */
  readonly writes: boolean;
}

export function method<I extends z.ZodType, O extends z.ZodType>(spec: MethodSpec<I, O>): MethodSpec<I, O> {
  return spec;
}
