/**
 * Statement bytes to text: a .zip (Alipay ships its bills zipped) is opened with fflate and the detail
 * file picked out of it; the text is UTF-8 when it decodes as UTF-8 (BOM or not), else GB18030 (a
 * superset of GBK, which Alipay and older WeChat exports use). A binary file is refused.
 */
import { unzipSync } from 'fflate';
import iconv from 'iconv-lite';
import { EngineError } from '../../lib/errors';

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const MAX_BYTES = 200 * 1024 * 1024;

function isZip(bytes: Uint8Array): boolean {
  return ZIP_MAGIC.every((b, i) => bytes[i] === b);
}

/** Picks the statement inside a zip: a detail CSV rather than a summary (汇总) one. */
function fromZip(bytes: Uint8Array): { bytes: Uint8Array; name: string } {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, { filter: (f) => /\.(csv|txt)$/i.test(f.name) && f.originalSize <= MAX_BYTES });
  } catch (error) {
    throw new EngineError('validation_failed', `the zip file cannot be opened (${(error as Error).message})`);
  }
  const names = Object.keys(files).filter((n) => !n.startsWith('__MACOSX/'));
  const pick = names.find((n) => !/汇总|summary/i.test(n)) ?? names[0];
  if (pick === undefined) throw new EngineError('validation_failed', 'the zip file holds no .csv or .txt statement');
  return { bytes: files[pick]!, name: pick };
}

export interface DecodedStatement {
  readonly text: string;
  readonly encoding: 'utf-8' | 'gb18030';
  /** The file inside a zip the text came from. */
  readonly entry: string | null;
}

export function decodeStatement(input: Uint8Array): DecodedStatement {
  if (input.byteLength === 0) throw new EngineError('validation_failed', 'the statement file is empty');
  if (input.byteLength > MAX_BYTES) throw new EngineError('validation_failed', 'the statement file is larger than 200 MB');
  let bytes = input;
  let entry: string | null = null;
  if (isZip(bytes)) ({ bytes, name: entry } = fromZip(bytes));
  const probe = bytes.subarray(0, 8192);
  if (probe.includes(0)) throw new EngineError('validation_failed', 'the statement file is binary, not a CSV');
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    return { text, encoding: 'utf-8', entry };
  } catch {
    return {
      text: iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'gb18030'),
      encoding: 'gb18030',
      entry,
    };
  }
}
