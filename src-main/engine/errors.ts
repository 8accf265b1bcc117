/** The error type is lib/errors.ts's (below every layer); re-exported where engine.ts, writer.ts and http/ import it. */
export { EngineError, isEngineError } from '../lib/errors';
