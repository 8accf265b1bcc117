/** What the Simulator page downloads: results as CSV, and the charts as one PNG. */
import { comparisonRow, type RunSummary } from '../../../shared/sim';

function cell(value: unknown): string {
  const text = Array.isArray(value) ? value.join(' ') : String(value);
  // Quote every field; neutralise spreadsheet formulas.
  const safe = /^[=+\-@\t\r]/.test(text) && !/^-?\d/.test(text) ? `'${text}` : text;
  return `"${safe.replace(/"/g, '""')}"`;
}

/** One row per run: the strategy comparison when there is one, else the current run. */
export function resultsCsv(summaries: readonly RunSummary[]): string {
  const header = [
    'scenario',
    'strategy',
    'mode',
    'engine',
    'buyers',
    'keys',
    'seed',
    'sold',
    'oversold',
    'oversell_rate',
    'declined',
    'errors',
    'unknown',
    'p50_ms',
    'p99_ms',
    'throughput_per_s',
    'anomalies',
    'history_sha256',
  ];
  const rows = summaries.map((s) => {
    const row = comparisonRow(s);
    return [
      s.scenario,
      s.strategy,
      s.mode,
      s.engine,
      s.buyers,
      s.keys,
      s.seed,
      s.successes,
      s.oversold,
      row.oversellRate.toFixed(4),
      s.declined,
      s.errors,
      s.unknown,
      s.latencyMs.p50,
      s.latencyMs.p99,
      s.throughputPerS,
      s.anomalies,
      s.historySha256,
    ];
  });
  return `\uFEFF${[header, ...rows].map((r) => r.map(cell).join(',')).join('\r\n')}\r\n`;
}

/** Renders the SVG charts inside `root` side by side into one PNG. */
export async function chartsPng(root: HTMLElement): Promise<Blob | null> {
  const svgs = [...root.querySelectorAll<SVGSVGElement>('svg.recharts-surface')];
  if (svgs.length === 0) return null;
  const images = await Promise.all(
    svgs.map(async (svg) => {
      const { width, height } = svg.getBoundingClientRect();
      const clone = svg.cloneNode(true) as SVGSVGElement;
      clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
      clone.setAttribute('width', String(width));
      clone.setAttribute('height', String(height));
      const url = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(new XMLSerializer().serializeToString(clone))}`;
      const img = new Image();
      img.src = url;
      await img.decode();
      return { img, width, height };
    }),
  );
  const canvas = document.createElement('canvas');
  canvas.width = images.reduce((w, i) => w + i.width, 0) + 16 * (images.length + 1);
  canvas.height = Math.max(...images.map((i) => i.height)) + 32;
  const ctx = canvas.getContext('2d');
  if (!ctx) return null;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  let x = 16;
  for (const { img, width, height } of images) {
    ctx.drawImage(img, x, 16, width, height);
    x += width + 16;
  }
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
}
