/**
 * The key vault's methods for the admin app: preview and import codes (pasted text, a browser upload as
 * base64, or a path from the desktop file dialog), page through keys with each code masked, reveal or
 * copy one code (audited), and read a key's audit trail. A whole code crosses to the renderer only
 * through `keys.reveal`.
 */
import { z } from 'zod';
import { method } from './method';

/** Largest upload through `keys.import` (the rpc route accepts bodies up to 64 MiB). */
export const MAX_IMPORT_BYTES = 48 * 1024 * 1024;

const ProductId = z.string().min(1).max(100);

/** Where the codes come from. */
export const ImportSource = z.discriminatedUnion('kind', [
  /** Pasted into the page: one code per line (or CSV when a column is chosen). */
  z.strictObject({ kind: z.literal('text'), text: z.string().max(MAX_IMPORT_BYTES) }),
  /** A file picked in the browser, its bytes as base64; the name's extension tells .txt from .csv. */
  z.strictObject({
    kind: z.literal('bytes'),
    name: z.string().min(1).max(255),
    base64: z.base64().max(Math.ceil(MAX_IMPORT_BYTES / 3) * 4),
  }),
  /** A file on this computer, chosen in the desktop app's file dialog; streamed, any size. */
  z.strictObject({ kind: z.literal('path'), path: z.string().min(1).max(4096) }),
]);
export type ImportSource = z.infer<typeof ImportSource>;

export const ImportInput = z.strictObject({
  productId: ProductId,
  source: ImportSource,
  /** The CSV column holding the codes: its header, or its number counted from 1. */
  column: z.union([z.string().trim().min(1).max(200), z.int().min(1).max(10_000)]).optional(),
  /** Overrides detection. */
  encoding: z.enum(['utf-8', 'gbk']).optional(),
});

const LineNumbers = z.array(z.int().min(1));

/** What an import did, or (preview) would do. */
export const ImportReport = z.object({
  productId: z.string(),
  /** The committed import's id; null for a preview. */
  importId: z.int().nullable(),
  dryRun: z.boolean(),
  /** The file's name, `pasted text`, ... */
  source: z.string(),
  format: z.enum(['txt', 'csv']),
  encoding: z.enum(['utf-8', 'gbk']).nullable(),
  bom: z.boolean(),
  /** The code column (1-based) and its header; null when every line is a code. */
  column: z.object({ index: z.int().min(1), name: z.string().nullable() }).nullable(),
  lines: z.int().min(0),
  /** New codes: stored, or that a commit would store. */
  accepted: z.int().min(0),
  /** Codes stored (0 for a preview). */
  imported: z.int().min(0),
  duplicatesInBatch: z.int().min(0),
  duplicatesInVault: z.int().min(0),
  blank: z.int().min(0),
  overLong: z.int().min(0),
  invalid: z.int().min(0),
  /** The first line numbers of each kind. */
  samples: z.object({
    duplicatesInBatch: LineNumbers,
    duplicatesInVault: LineNumbers,
    blank: LineNumbers,
    overLong: LineNumbers,
    invalid: LineNumbers,
  }),
  rejected: z.array(z.object({ line: z.int().min(1), reason: z.string() })),
});
export type ImportReport = z.infer<typeof ImportReport>;

export const KeyStatus = z.enum(['available', 'reserved', 'sold', 'burned']);
export type KeyStatus = z.infer<typeof KeyStatus>;

/** One key in the vault table: its code masked to the last characters, e.g. `••••••••AB12`. */
export const KeyRow = z.object({
  id: z.int(),
  productId: z.string(),
  status: KeyStatus,
  orderId: z.string().nullable(),
  masked: z.string(),
  importedAt: z.iso.datetime().nullable(),
});
export type KeyRow = z.infer<typeof KeyRow>;

export const KeyAuditRow = z.object({
  id: z.int(),
  at: z.iso.datetime(),
  actor: z.string(),
  /** `key.reveal`, `key.copy`, ... */
  action: z.string(),
  detail: z.record(z.string(), z.unknown()),
});
export type KeyAuditRow = z.infer<typeof KeyAuditRow>;

export const keysMethods = {
  'keys.preview': method({
    summary: 'what importing these codes would do: counts, duplicates, encoding and column; stores nothing',
    writes: false,
    input: ImportInput,
    output: ImportReport,
  }),
  'keys.import': method({
    summary: 'import codes into a product: every accepted code, or none',
    writes: true,
    input: ImportInput,
    output: ImportReport,
  }),
  'keys.list': method({
    summary: 'a page of keys, newest first, each code masked',
    writes: false,
    input: z.strictObject({
      productId: ProductId.optional(),
      status: KeyStatus.optional(),
      offset: z.int().min(0).default(0),
      limit: z.int().min(1).max(500).default(100),
    }),
    output: z.object({ total: z.int().min(0), rows: z.array(KeyRow) }),
  }),
  'keys.reveal': method({
    summary: 'the whole code of one key, to show or copy; writes an audit row naming the caller',
    writes: true,
    input: z.strictObject({ keyId: z.int().min(1), purpose: z.enum(['reveal', 'copy']) }),
    output: z.object({ code: z.string() }),
  }),
  'keys.audit': method({
    summary: "a key's audit trail: who revealed or copied it, and when",
    writes: false,
    input: z.strictObject({ keyId: z.int().min(1) }),
    output: z.object({ rows: z.array(KeyAuditRow) }),
  }),
} as const;
