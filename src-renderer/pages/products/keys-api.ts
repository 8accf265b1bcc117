/**
 * The products page's view of the `keys.*` methods (shared/rpc/keys.ts): paging the key table,
 * revealing one code (audited), previewing and running an import. Kept in one file so the components
 * speak in the page's terms and the wire shapes are mapped in one place.
 */
import type { ImportReport, KeyRow as WireKeyRow, KeyStatus as WireKeyStatus } from '../../../shared/rpc/keys';
import type { Transport } from '../../transport/types';

export { MAX_IMPORT_BYTES } from '../../../shared/rpc/keys';

export type KeyStatus = WireKeyStatus;
export const KEY_STATUSES: readonly KeyStatus[] = ['available', 'reserved', 'sold', 'burned'];
export type KeyRow = WireKeyRow;

export interface KeyPage {
  readonly rows: readonly KeyRow[];
  readonly total: number;
}

export async function fetchKeyPage(
  transport: Transport,
  query: { productId: string; status: KeyStatus | null; offset: number; limit: number },
): Promise<KeyPage> {
  const { total, rows } = await transport.call('keys.list', {
    productId: query.productId,
    offset: query.offset,
    limit: query.limit,
    ...(query.status ? { status: query.status } : {}),
  });
  return { total, rows };
}

/** The plaintext of one code; the main process writes an audit entry for every call. */
export async function revealKey(transport: Transport, keyId: number, purpose: 'reveal' | 'copy'): Promise<string> {
  return (await transport.call('keys.reveal', { keyId, purpose })).code;
}

export type ImportEncodingChoice = 'utf-8' | 'gbk';

/** What the import dialog sends: pasted text, or a file's bytes (base64) with its name. */
export type ImportSource =
  { readonly kind: 'text'; readonly text: string } | { readonly kind: 'bytes'; readonly base64: string; readonly name: string };

export interface ImportOptions {
  readonly productId: string;
  readonly source: ImportSource;
  readonly encoding: ImportEncodingChoice | null;
  /** 1-based CSV column, or null to find it by header. */
  readonly column: number | null;
}

/** A preview or an import's outcome, as the dialog shows it. */
export type ImportOutcome = ImportReport;

function input(options: ImportOptions) {
  return {
    productId: options.productId,
    source: { ...options.source },
    ...(options.encoding ? { encoding: options.encoding } : {}),
    ...(options.column !== null ? { column: options.column } : {}),
  };
}

export function previewImport(transport: Transport, options: ImportOptions): Promise<ImportOutcome> {
  return transport.call('keys.preview', input(options));
}

export function runImport(transport: Transport, options: ImportOptions): Promise<ImportOutcome> {
  return transport.call('keys.import', input(options));
}
